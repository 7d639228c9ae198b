#!/usr/bin/env bash
# Installs everything Seer needs, idempotently, and says nothing when all is already there:
#   1. Debian -dev packages (compilers, yaml-cpp, fmt, HDF5, Catch2, PCRE2, libpng, JSON, gloo
#      headers, ccache)
#   2. the Python venv .venv with scripts/requirements.txt (torch==2.11.0 is our libtorch)
#   3. the embedded model (scripts/fetch_model.sh), books (scripts/fetch_books.sh) and the rest of
#      the training corpus (scripts/fetch_corpus.sh: King James Bible, Moby Dick, Shakespeare)
# Usage: scripts/setup.sh        (run as root, or with sudo available)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(
  g++ make cmake ninja-build pkg-config ccache git
  libyaml-cpp-dev        # YAML configs
  libfmt-dev             # text formatting (used header-only)
  libhdf5-dev            # capture files
  catch2                 # unit tests
  libpcre2-dev           # tokenizer pre-split regexes (Unicode properties)
  libpng-dev             # PNG output
  nlohmann-json3-dev     # JSON (configs of checkpoints, results)
  libgloo-dev            # headers c10d's ProcessGroupGloo.hpp includes (seer launch on the CPU)
  clang libclang-rt-14-dev   # libFuzzer + sanitizer runtimes: `make fuzz` (scripts/fuzz.sh)
  bible-kjv              # training text: its `bible` program prints the King James Bible
                         # (fetch_corpus.sh). r-cran-janeaustenr and r-cran-tokenizers (books,
                         # Moby Dick) are downloaded and unpacked by the fetch scripts, not
                         # installed: installing them would pull in all of R
  python3 python3-venv python3-pip
)

sudo_if_needed() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Python from elsewhere (pyenv, a distribution) can stand in for Debian's python3 packages.
if command -v python3 >/dev/null && python3 -m venv --help >/dev/null 2>&1 \
   && python3 -m pip --version >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == python3 || "$p" == python3-venv || "$p" == python3-pip ]] || filtered+=("$p")
  done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The venv is rebuilt only when requirements.txt changes (its hash is stamped inside the venv).
REQ="$ROOT/scripts/requirements.txt"
STAMP="$ROOT/.venv/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
  echo "setup: creating the Python venv .venv"
  python3 -m venv "$ROOT/.venv"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "setup: installing Python packages (torch 2.11.0 and the test references; pip's cache is reused)"
  "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
  # SEER_TORCH_INDEX=https://download.pytorch.org/whl/cpu: the CPU-only build of the same torch
  # (~0.2 GB instead of ~3 GB with its CUDA libraries), for machines that never build the CUDA
  # code. PyPI's Linux wheel is the CUDA one; requirements.txt's pin then finds torch in place.
  if [[ -n "${SEER_TORCH_INDEX:-}" ]]; then
    "$ROOT/.venv/bin/python" -m pip install --quiet --index-url "$SEER_TORCH_INDEX" "torch==2.11.0"
  fi
  "$ROOT/.venv/bin/python" -m pip install --quiet -r "$REQ"
  echo "$want" > "$STAMP"
fi

"$ROOT/scripts/fetch_model.sh"
"$ROOT/scripts/fetch_books.sh"
"$ROOT/scripts/fetch_corpus.sh"
