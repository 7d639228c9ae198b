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
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

if [[ ! -f "$BUILD/build.ninja" ]]; then
  mkdir -p "$BUILD"
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DSEER_CUDA=OFF -DSEER_FUZZ=ON \
    -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" > "$BUILD/configure.log" 2>&1 \
    || { cat "$BUILD/configure.log"; exit 2; }
fi
cmake -S . -B "$BUILD" -DBUILD_TESTING=ON >> "$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log"; exit 2; }

targets=(seer)
if [[ ${#LABELS[@]} -eq 0 ]]; then
  targets+=(seer_config_tests seer_kernels_tests seer_models_tests seer_gates_tests seer_eval_tests)
else
  for l in "${LABELS[@]}"; do targets+=("seer_${l}_tests"); done
fi
cmake --build "$BUILD" -j "$(nproc)" $(printf -- '--target %s ' "${targets[@]}") || exit 2

# libtorch is not instrumented: its objects crossing our frames look like ODR / container-overflow
# violations to ASan, so those two checks are off (as in scripts/fuzz.sh). Leaks are off too:
# libtorch's thread pools and registries are alive at exit by design.
export ASAN_OPTIONS=detect_odr_violation=0:detect_container_overflow=0:detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
label_args=()
[[ ${#LABELS[@]} -gt 0 ]] && label_args=(-L "^($(IFS='|'; echo "${LABELS[*]}"))\$")
start=$(date +%s)
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" "${label_args[@]}"
status=$?
echo "test-sanitize: ctest exit ${status} in $(( $(date +%s) - start )) s (ASan + UBSan, ${BUILD})"
exit $status
