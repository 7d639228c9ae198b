#!/usr/bin/env bash
# The CPU tests under AddressSanitizer + UndefinedBehaviorSanitizer (issue 16).
#   scripts/test-sanitize.sh                   every CPU test (make test-sanitize)
#   scripts/test-sanitize.sh config models     only these CTest labels (CI runs config and models)
# The build is the fuzz targets' own (build-fuzz/, clang, scripts/fuzz.sh's flags) with the tests
# switched on, so CI compiles the instrumented library once for both. CUDA is off there: the [cuda]
# tests run under compute-sanitizer on the GPU instead (scripts/gpu-sanitize.sh).
# Any sanitizer report fails the test that triggered it (halt_on_error), and the run exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${SANITIZE_BUILD:-build-fuzz}
LABELS=("$@")
export CCACHE_BASEDIR="$PWD"
# shellcheck source=scripts/sanitizer-build.sh
. scripts/sanitizer-build.sh
configure_sanitizer_build "$BUILD" || exit 2
cmake -S . -B "$BUILD" -DBUILD_TESTING=ON >> "$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log"; exit 2; }

targets=(seer)
if [[ ${#LABELS[@]} -eq 0 ]]; then
  targets+=(seer_config_tests seer_kernels_tests seer_models_tests seer_gates_tests seer_eval_tests
            seer_reliability_tests seer_distributed_tests)
else
  for l in "${LABELS[@]}"; do targets+=("seer_${l}_tests"); done
fi
cmake --build "$BUILD" -j "$(nproc)" $(printf -- '--target %s ' "${targets[@]}") || exit 2

# Leaks are off here: libtorch's thread pools and registries are alive at exit by design.
export ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0
label_args=()
[[ ${#LABELS[@]} -gt 0 ]] && label_args=(-L "^($(IFS='|'; echo "${LABELS[*]}"))\$")
start=$(date +%s)
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" "${label_args[@]}"
status=$?
echo "test-sanitize: ctest exit ${status} in $(( $(date +%s) - start )) s (ASan + UBSan, ${BUILD})"
exit $status
