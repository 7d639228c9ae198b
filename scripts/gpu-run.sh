#!/usr/bin/env bash
# The whole project on the lent GPU machine (../shared/GPU-MACHINE.md), in two back-to-back device
# calls, because the embedded model (~100 MB) is larger than what one call carries:
#   scripts/gpu-run.sh stage      # here: split the model and gather what the machine lacks into .stage/
#   scripts/gpu-run.sh prep       # call 1 (carry .stage/model.gguf.part.aa .stage/sys .stage/corpus.tar.xz):
#                                 #   keep part aa and the training corpus outside the checkout,
#                                 #   build the whole project
#   scripts/gpu-run.sh main "EXPERIMENT [OVERRIDES...]" ...
#                                 # call 2, at once (carry .stage/model.gguf.part.ab .stage/model.sha256
#                                 #   .stage/sys .stage/ruler assets/books): rebuild the model file,
#                                 #   put the corpus back, run every [cuda] test, then each
#                                 #   experiment given, e.g.
#                                 #   "quickstart model.device=cuda model.dtype=bfloat16 train.device=cuda"
#                                 # (a later main call on the same warm machine may leave part ab out)
#                                 # (the carry limit, 64 MiB, holds a model part, the books and the
#                                 #   compressed corpus only in prep: hence the corpus rides with prep)
#   scripts/gpu-run.sh bench "paper_prefill" "paper_kernels"
#                                 # one call (carry .stage/sys): build, then experiments that need no
#                                 #   model file (random-weight prefill timing, kernel benchmarks)
# SEER_RUN_LIMIT=<seconds>: stop each `seer run` after that long (a device call lasts at most
# 600 s); the next `main` call on the still-warm machine resumes it (finished stages and cells are
# kept, distillation restarts from its last checkpoint).
# The device copy's .git is stale: prefix the call with SEER_GIT=<commit here> so results name the
# source commit (else they say <old commit>-dirty).
# Logs, results and figures go to $OUT (the device tool brings back at most 8 files: each
# experiment's tables and results are packed into one tar per experiment).
# What the machine lacks (seen 2026-11-26): PCRE2 and libpng development files, perhaps
# nlohmann-json; `stage` copies this machine's headers and runtime libraries into .stage/sys.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-main}
shift || true
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
STAGE_DIR=/root/stage
MODEL=SmolLM2-135M-Instruct.Q4_1.gguf
log() { echo "[gpu-run $(date -u +%H:%M:%S)] $*"; }
# shellcheck source=scripts/gpu-common.sh
. scripts/gpu-common.sh

stage_here() {
  mkdir -p .stage/sys/include .stage/sys/lib .stage/ruler
  split -b 48M "assets/models/$MODEL" .stage/model.gguf.part.
  sha256sum "assets/models/$MODEL" | awk '{print $1}' > .stage/model.sha256
  cp /usr/include/pcre2.h /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h .stage/sys/include/
  cp -r /usr/include/nlohmann .stage/sys/include/
  cp -L /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 /usr/lib/x86_64-linux-gnu/libpng16.so.16 .stage/sys/lib/
  [[ -f ../shared/data/ruler/PaulGrahamEssays.json ]] && cp ../shared/data/ruler/PaulGrahamEssays.json .stage/ruler/
  [[ -d assets/corpus ]] && tar cJf .stage/corpus.tar.xz -C assets corpus
  du -sh .stage/* assets/books
}

configure_and_build() {
  local sys="$PWD/.stage/sys" extra=()
  {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  } 2>&1 | tee "$OUT/setup.log"
  pcre2_pkgconfig_standin build-gpu "$sys"
  if [[ ! -f /usr/include/png.h ]]; then
    log "no libpng development files: using the carried header and library"
    extra+=(-DPNG_PNG_INCLUDE_DIR="$sys/include" -DPNG_LIBRARY="$sys/lib/libpng16.so.16")
  fi
  # nlohmann-json, when the machine lacks it: searched after every system include directory.
  local cxxflags="-idirafter $sys/include"
  local TP
  TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  log "configure"
  if ! cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TP" \
      -DSEER_PYTHON="$(which python3)" -DSEER_CUDA=ON -DSEER_CUDA_ARCHITECTURES=90a \
      -DTORCH_CUDA_ARCH_LIST=9.0a -DCMAKE_CXX_FLAGS="$cxxflags" \
      -DCMAKE_BUILD_RPATH="$sys/lib" "${extra[@]}" >> "$OUT/setup.log" 2>&1; then
    log "configure FAILED"; tail -30 "$OUT/setup.log"; return 1
  fi
  log "build (all targets)"
  # -k 0: a test that fails to build must not keep build/seer from being built
  # SEER_GPU_TARGETS="seer": build only what a timing run needs (default: everything)
  if ! cmake --build build-gpu -j "$(nproc)" --target ${SEER_GPU_TARGETS:-all} -- -k 0 >> "$OUT/setup.log" 2>&1; then
    log "build FAILED"; grep -E -A3 "error" "$OUT/setup.log" | head -60; return 1
  fi
  log "built"
}

run_experiment() {   # NAME [OVERRIDES...]: build/seer run, then pack its outputs
  local exp=$1; shift
  log "seer run $exp $*"
  local limit=()
  [[ -n "${SEER_RUN_LIMIT:-}" ]] && limit=(timeout -s INT -k 20 "$SEER_RUN_LIMIT")
  "${limit[@]}" build-gpu/seer run "$exp" "$@" 2>&1 | grep --line-buffered -v -E '^\s*(sweep|capture|distill|eval_[a-z]+|bench_[a-z]+):.*[0-9]+%' \
    | tee "$OUT/$exp.log" | tail -40
  local dir
  dir=$(grep -m1 -o "outputs in .*" "$OUT/$exp.log" | sed 's/outputs in //')
  [[ -n "$dir" && -d "$dir" ]] && tar czf "$OUT/$exp.tgz" -C "$(dirname "$dir")" \
    --exclude='*.h5' --exclude='checkpoints' --exclude='*.safetensors' "$(basename "$dir")"
}

run_experiments() {   # one argument per experiment: "EXPERIMENT override override ..."
  local exp words
  for exp in "$@"; do
    read -r -a words <<< "$exp"
    run_experiment "${words[@]}"
  done
}

case "$MODE" in
  stage) stage_here ;;
  prep)
    mkdir -p "$STAGE_DIR" && cp .stage/model.gguf.part.aa "$STAGE_DIR/" && log "part aa kept in $STAGE_DIR"
    if [[ -f .stage/corpus.tar.xz ]]; then
      rm -rf "$STAGE_DIR/corpus" && tar xJf .stage/corpus.tar.xz -C "$STAGE_DIR" && log "corpus kept in $STAGE_DIR"
    fi
    configure_and_build ;;
  main)
    # A later call on the same warm machine finds the model already assembled (assets/ is ignored,
    # so it stays) and need not carry part ab: room for other carried files.
    if [[ "$(sha256sum "assets/models/$MODEL" 2>/dev/null | awk '{print $1}')" != "$(cat .stage/model.sha256)" ]]; then
      [[ -f "$STAGE_DIR/model.gguf.part.aa" ]] || { log "part aa missing: the machine was given back between calls"; exit 2; }
      [[ -f .stage/model.gguf.part.ab ]] || { log "part ab not carried and no model assembled yet"; exit 2; }
      mkdir -p assets/models
      cat "$STAGE_DIR/model.gguf.part.aa" .stage/model.gguf.part.ab > "assets/models/$MODEL"
      [[ "$(sha256sum "assets/models/$MODEL" | awk '{print $1}')" == "$(cat .stage/model.sha256)" ]] \
        || { log "model checksum mismatch"; exit 2; }
    fi
    if [[ -d "$STAGE_DIR/corpus" ]]; then
      rm -rf assets/corpus && cp -r "$STAGE_DIR/corpus" assets/corpus
    else
      log "no training corpus kept by prep: experiments that read data.train will stop"
    fi
    configure_and_build || exit 1   # a no-op after prep, a rebuild when the tree changed since
    export SEER_RULER_ESSAY="$PWD/.stage/ruler/PaulGrahamEssays.json"
    if [[ "${SEER_GPU_TESTS:-1}" == 1 ]]; then   # SEER_GPU_TESTS=0: a later call on the same build
      log "[cuda] tests"
      for t in build-gpu/tests/seer_*_tests; do
        echo "== $t [cuda]"; "$t" "[cuda]" 2>&1 | tail -40
      done > "$OUT/tests.log" 2>&1
      grep -E "^==|passed|failed" "$OUT/tests.log"
    fi
    run_experiments "$@" ;;
  bench)   # always (re)build: on a machine still warm from an older tree, ninja rebuilds what changed
    configure_and_build || exit 1
    run_experiments "$@" ;;
  *) echo "usage: scripts/gpu-run.sh stage | prep | main|bench [\"EXPERIMENT [k=v ...]\" ...]" >&2; exit 2 ;;
esac
log "done"
