# Sourced by scripts/fuzz.sh and scripts/test-sanitize.sh: the one clang build with libFuzzer's
# coverage hooks, AddressSanitizer and UndefinedBehaviorSanitizer that both use, and the sanitizer
# options both run under.
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

configure_sanitizer_build() {   # BUILD_FOLDER: configures it once (CUDA off, fuzz targets on)
  local build=$1
  [[ -f "$build/build.ninja" ]] && return 0
  mkdir -p "$build"
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DSEER_CUDA=OFF -DBUILD_TESTING=OFF -DSEER_FUZZ=ON \
    -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" > "$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; return 2; }
}

# libtorch's own code is not instrumented; its objects crossing our frames look like ODR /
# container-overflow violations to ASan, so those two checks are off.
export ASAN_OPTIONS=detect_odr_violation=0:detect_container_overflow=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
