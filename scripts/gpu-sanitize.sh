#!/usr/bin/env bash
# The [cuda] tests under compute-sanitizer on the lent GPU (issue 16): memcheck over the two test
# binaries that hold [cuda] tests (kernels, gates), racecheck and synccheck over the kernels' tests
# (shared memory and barriers live there).
# Run it after `scripts/gpu-run.sh prep` (which builds the tests into build-gpu/) on the same warm
# machine:
#   scripts/gpu-sanitize.sh [SECONDS]     (default 240: the kernels' memcheck; the other runs get
#                                          half of it each)
# Writes $OUT/sanitize/<tool>_<binary>.log and $OUT/sanitize/summary.md: per run the tests passed,
# the sanitizer's error count and the time. A run cut by the time limit says so; the tests it
# reached are still counted.
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:-240}
OUT=${OUT:-build-gpu/out}
DIR="$OUT/sanitize"
mkdir -p "$DIR"
# Without PyTorch's caching allocator every tensor is its own cudaMalloc, so memcheck sees an
# access past a tensor's end instead of landing in the pool's neighbouring block.
export PYTORCH_NO_CUDA_MEMORY_CACHING=1

summary="$DIR/summary.md"
{
  echo "| tool | binary | tests passed | sanitizer errors | seconds | exit |"
  echo "|---|---|---|---|---|---|"
} > "$summary"

run_one() {   # TOOL BINARY SECONDS
  local tool=$1 bin=$2 limit=$3 name log start rc errors passed
  name=$(basename "$bin")
  log="$DIR/${tool}_${name}.log"
  start=$(date +%s)
  # cuDNN's own SDPA kernel (the tests' peer) reports racecheck hazards of its own: not ours.
  timeout -s INT -k 10 "$limit" compute-sanitizer --tool "$tool" --error-exitcode 99 \
    --kernel-name-exclude kns=cudnn --print-limit 50 "$bin" "[cuda]" > "$log" 2>&1
  rc=$?
  errors=$(grep -m1 -o "ERROR SUMMARY: [0-9]* error" "$log" | grep -o "[0-9]*" || true)
  passed=$(grep -m1 -E "All tests passed|test cases:" "$log" || true)
  [[ $rc == 124 || $rc == 130 ]] && passed="cut at ${limit} s; ${passed}"
  echo "| $tool | $name | ${passed:-?} | ${errors:-?} | $(( $(date +%s) - start )) | $rc |" >> "$summary"
}

run_one memcheck build-gpu/tests/seer_kernels_tests "$LIMIT"
run_one memcheck build-gpu/tests/seer_gates_tests $(( LIMIT / 2 ))
run_one racecheck build-gpu/tests/seer_kernels_tests $(( LIMIT / 2 ))
run_one synccheck build-gpu/tests/seer_kernels_tests $(( LIMIT / 2 ))
cat "$summary"
