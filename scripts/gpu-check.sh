#!/usr/bin/env bash
# GPU check for the lent H100/H200 machine (see ../shared/GPU-MACHINE.md): builds the project's
# kernels and kernel tests with the recipe seen working there, runs the [cuda] tests, and with
# `bench` the kernel benchmark (seer kernels + SDPA peers from C++, FlexAttention from Python).
# Logs and JSON go to $OUT when set (the device tool brings them back), else to build-gpu/out.
#   scripts/gpu-check.sh            # build + GPU tests
#   scripts/gpu-check.sh bench      # build + GPU tests + benchmark (8k/32k/128k)
#   SEQS=8192,32768 VARIANTS=A scripts/gpu-check.sh bench   # fewer lengths / extra tile variants
#   scripts/gpu-check.sh benchonly  # benchmark without the tests
#   BENCH_ARGS="keeps=1 nopeers" FLEX=0 scripts/gpu-check.sh bench   # a quick look
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
MODE=${1:-test}
JOBS=${JOBS:-$(nproc)}
log() { echo "[gpu-check $(date -u +%H:%M:%S)] $*"; }

log "environment"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
  nvcc --version | tail -2
  dpkg -l | grep -E "pcre2|libpng|hdf5|yaml|catch" | awk '{print $2, $3}'
} 2>&1 | tee "$OUT/setup.log"

TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
# shellcheck source=scripts/gpu-common.sh
. scripts/gpu-common.sh
# (a subshell would lose the PKG_CONFIG_PATH it exports: no pipe here)
if ls /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 >/dev/null 2>&1; then pcre2_pkgconfig_standin build-gpu; fi
log "configure"
if ! cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TP" \
    -DSEER_PYTHON="$(which python3)" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90a}" -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0a}" \
    >> "$OUT/setup.log" 2>&1; then
  log "configure FAILED (tail of $OUT/setup.log):"
  tail -30 "$OUT/setup.log"
  exit 1
fi
log "build seer_kernels_tests"
if ! cmake --build build-gpu --target seer_kernels_tests -j "$JOBS" >> "$OUT/setup.log" 2>&1; then
  log "build FAILED:"
  grep -E "error|Error" "$OUT/setup.log" | head -40
  exit 1
fi
grep -E "spill" "$OUT/setup.log" | sed "s/.*function//" | sort | uniq -c | head -20

if [[ "$MODE" != "benchonly" ]]; then
  log "GPU tests [cuda]"
  # TEST_TIMEOUT / BENCH_TIMEOUT (seconds): a hung kernel (e.g. an mbarrier wait that never
  # completes) ends that step instead of the whole device call.
  timeout "${TEST_TIMEOUT:-1800}" build-gpu/tests/seer_kernels_tests "${TEST_FILTER:-[cuda]}" --durations yes \
    > "$OUT/tests_cuda.log" 2>&1 || log "tests: exit status $?"
  grep -E -B3 -A12 "FAILED|failed|threw|exception" "$OUT/tests_cuda.log" | grep -v "frame #" | head -80
  tail -4 "$OUT/tests_cuda.log"
  if [[ "${CPU_TESTS:-0}" == 1 ]]; then
    log "CPU kernel tests (~[cuda])"
    timeout 300 build-gpu/tests/seer_kernels_tests "~[cuda]" 2>&1 | tail -5 | tee "$OUT/tests_cpu.log"
  fi
fi

if [[ "$MODE" == bench* ]]; then
  log "build bench driver"
  GPU=$(python3 -c 'import torch; n=torch.cuda.get_device_name(0).lower(); print("h200" if "h200" in n else "h100" if "h100" in n else n.replace(" ","_"))')
  TINC=$(python3 -c 'import torch.utils.cpp_extension as c; print(" ".join("-isystem "+p for p in c.include_paths(device_type="cuda")))')
  TLIB=$(python3 -c 'import torch.utils.cpp_extension as c; print(c.library_paths(device_type="cuda")[0])')
  g++ -O2 -std=c++17 -DSEER_WITH_CUDA=1 -DFMT_HEADER_ONLY=1 -D_GLIBCXX_USE_CXX11_ABI=1 -I. $TINC \
    -isystem /usr/local/cuda/include bench/bench_kernels_main.cpp experiments/bench_kernels_lib.cpp \
    build-gpu/kernels/libseer_kernels.a build-gpu/kernels/libseer_kernels_cuda.a \
    -L"$TLIB" -Wl,-rpath,"$TLIB" -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 \
    -L/usr/local/cuda/lib64 -lcudart -o build-gpu/bench_kernels >> "$OUT/setup.log" 2>&1 \
    || { log "bench build FAILED"; tail -30 "$OUT/setup.log"; exit 1; }
  export SEER_GIT=${SEER_GIT:-$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)}
  log "seer + SDPA benchmark"
  timeout "${BENCH_TIMEOUT:-1800}" build-gpu/bench_kernels "build-gpu/seer_$GPU.json" "seqs=${SEQS:-8192,32768,131072}" \
    ${VARIANTS:+variants=$VARIANTS} ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
  if [[ "${FLEX:-1}" == 1 ]]; then
    log "FlexAttention benchmark"
    PYTHONUNBUFFERED=1 timeout "${FLEX_TIMEOUT:-240}" python3 bench/flex_bench.py "build-gpu/flex_$GPU.json" \
      --seqs "${SEQS:-8192,32768,131072}" 2>&1 | grep -v Warning | tee -a "$OUT/bench.log" | tail -20
  fi
  python3 - "build-gpu/seer_$GPU.json" "build-gpu/flex_$GPU.json" "$OUT/kernels_$GPU.json" <<'PY'
import json, os, sys
main = json.load(open(sys.argv[1]))
if os.path.exists(sys.argv[2]):
    main["rows"] += json.load(open(sys.argv[2]))["rows"]
json.dump(main, open(sys.argv[3], "w"), indent=1)
rows = main["rows"]
print(f'{main["gpu"]}  {main["date"]}')
print(f'{"impl":<16}{"seq":>8}{"keep":>6}{"kept":>7}{"ms":>10}{"TFLOP/s":>9}{"err":>10}')
for r in rows:
    err = "-" if r.get("max_rel_err") is None else f'{r["max_rel_err"]:.1e}'
    print(f'{r["impl"]:<16}{r["seq"]:>8}{r["keep"]:>6.2f}{r.get("kept", 1):>7.3f}{r["ms"]:>10.3f}{r["tflops"]:>9.1f}{err:>10}')
PY
fi
log "done"
