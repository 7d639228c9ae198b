#!/usr/bin/env bash
# libFuzzer campaign over the parsers of outside input (tests/fuzz/): builds build-fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, writes seed corpora (tests/fuzz/make_seeds.py),
# replays the kept regression inputs (tests/fuzz/regressions/<target>/), then fuzzes each target
# for FUZZ_SECONDS and prints a table: target, executions, coverage (edges), corpus, crashes.
#   scripts/fuzz.sh                    every target, 60 s each (make fuzz)
#   FUZZ_SECONDS=600 scripts/fuzz.sh gguf safetensors
#   FUZZ_SECONDS=0 scripts/fuzz.sh     regressions only
# A crash, leak, sanitizer report, timeout (> 10 s per input) or out-of-memory (> 2 GB) stops that
# target; its input lands in build-fuzz/artifacts/<target>/ (keep it as a regression once fixed).
# The table also goes to build-fuzz/fuzz_results.md and .json. Exit status 1 when any target found
# something.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
ALL=(config safetensors gguf tokenizer_json gate_folder sample_files)
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")
export CCACHE_BASEDIR="$PWD"
# shellcheck source=scripts/sanitizer-build.sh
. scripts/sanitizer-build.sh
configure_sanitizer_build "$BUILD" || exit 2
cmake --build "$BUILD" -j "$(nproc)" $(printf -- '--target fuzz_%s ' "${TARGETS[@]}") || exit 2
.venv/bin/python tests/fuzz/make_seeds.py "$BUILD/seeds" || exit 2

export TMPDIR=${TMPDIR:-/tmp}
rows=()
json="["
status=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  corpus="$BUILD/corpus/$t"; artifacts="$BUILD/artifacts/$t/"; regressions="tests/fuzz/regressions/$t"
  mkdir -p "$corpus" "$artifacts" "$regressions"
  log="$BUILD/fuzz_$t.log"
  : > "$log"
  # 1. Every kept regression input once.
  if compgen -G "$regressions/*" > /dev/null; then
    "$bin" -runs=1 -rss_limit_mb=2048 -timeout=10 "$regressions"/* >> "$log" 2>&1 \
      || { echo "fuzz_$t: a regression input fails again (see $log)"; status=1; }
  fi
  # 2. The campaign from the seeds, the earlier corpus and the regressions.
  runs="" crashes=0 cov="" ft="" units="0"
  if [[ "$SECONDS_EACH" -gt 0 ]]; then
    "$bin" "$corpus" "$BUILD/seeds/$t" "$regressions" -max_total_time="$SECONDS_EACH" \
      -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts" >> "$log" 2>&1 || status=1
    units=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(grep -oE '(DONE|pulse|REDUCE|NEW|INITED) +cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  fi
  crashes=$(find "$artifacts" -type f | wc -l)
  [[ "$crashes" -gt 0 ]] && status=1
  rows+=("| $t | ${units:-0} | ${cov:-?} | ${ft:-?} | $(find "$corpus" -type f | wc -l) | $crashes |")
  json+="{\"target\":\"$t\",\"seconds\":$SECONDS_EACH,\"executions\":${units:-0},\"edges\":${cov:-0},\"features\":${ft:-0},\"crashes\":$crashes},"
done
json="${json%,}]"
{
  echo "| target | executions | edges covered | features | corpus | crashes |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$BUILD/fuzz_results.md"
echo "$json" > "$BUILD/fuzz_results.json"
exit $status
