#!/usr/bin/env bash
# Puts the embedded long-text corpus in assets/books/: Jane Austen's six novels (public domain),
# taken from the Debian package r-cran-janeaustenr (an R data package, MIT) and converted to one
# plain-text file per book. These are the default books for perplexity and distillation
# (configs/data/embedded_books.yaml).
#
#   scripts/fetch_books.sh        # idempotent; silent when the books are already in place
#
# Needs: apt-get + dpkg (Debian/Ubuntu), and the project venv with the PyPI package `rdata`.
# Env: SEER_PYTHON (default .venv/bin/python), SEER_BOOKS_DIR (default assets/books).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SEER_BOOKS_DIR:-$ROOT/assets/books}"
CACHE="$ROOT/assets/.cache/janeaustenr"
PY="${SEER_PYTHON:-$ROOT/.venv/bin/python}"
PKG_NAME="r-cran-janeaustenr"
PKG_VERSION="1.0.0-1"   # Debian bookworm

# sha256 of the extracted books (janeaustenr 1.0.0); a different package version fails loudly here.
EXPECTED="\
105e1651fe93bed7130078578efd31e0c557d68667ba672ddc876f735b30fe09  sense_and_sensibility.txt
dfc684d4f857fa938268f9ab9c5567b64bd0691251eca959644adeabe6287a4d  pride_and_prejudice.txt
98bc90519cdf4ef663ad7de2734bb529435ef24f7abbde6bb1a50898871dafe9  mansfield_park.txt
7c67b5985c6d0de1efaeb5d342d52cb82c38083c40e2295129e30e87ee690ebe  emma.txt
51f91bbe0517db8e65cff009b097ce0a1836124c4e0532ac19e6c0cad982abed  northanger_abbey.txt
8061549557aebd2fd6e353d18d9197cb707029112bd52d4d8b174583a925848a  persuasion.txt"

books_ok() {
  [[ -f "$OUT/README.md" ]] && (cd "$OUT" && sha256sum --check --status <<<"$EXPECTED") 2>/dev/null
}

write_readme() {
  local tmp="$OUT/README.md.tmp"
  cat >"$tmp" <<'README'
# Embedded books

Jane Austen's six completed novels, one plain-text UTF-8 file per book (the PG-19 layout: a
directory of `.txt` books). Written by `scripts/fetch_books.sh`; do not edit, do not commit.

| file | novel | first published | tokens |
|---|---|---|---|
| sense_and_sensibility.txt | Sense and Sensibility | 1811 | 167840 |
| pride_and_prejudice.txt | Pride and Prejudice | 1813 | 167892 |
| mansfield_park.txt | Mansfield Park | 1814 | 216549 |
| emma.txt | Emma | 1815 | 221850 |
| northanger_abbey.txt | Northanger Abbey | 1817 | 105509 |
| persuasion.txt | Persuasion | 1817 | 115862 |

Tokens: of the embedded model's tokenizer (SmolLM2), 995502 in all (`build/seer run corpus_stats`).
configs/data/embedded_books.yaml holds Persuasion out for evaluation and Northanger Abbey for
calibration; the other four go to training.

Source: the Debian package `r-cran-janeaustenr` 1.0.0-1 (bookworm), i.e. the CRAN package
janeaustenr by Julia Silge (https://github.com/juliasilge/janeaustenr), whose texts come from
Project Gutenberg. The novels themselves are in the public domain. The R package is MIT-licensed
(Copyright 2016-2017 Julia Silge; Debian packaging 2021 Andreas Tille); we use only the texts,
decoded from its lazy-load database (data/Rdata.rdb) by `scripts/extract_rdata.py`.
Each book is the package's character vector of lines joined with newlines.
README
  mv "$tmp" "$OUT/README.md"
}

if books_ok; then
  exit 0
fi

# The package directory: installed system-wide, or unpacked from the .deb into the cache.
PKG_DIR=/usr/lib/R/site-library/janeaustenr
if [[ ! -f "$PKG_DIR/data/Rdata.rdb" ]]; then
  source "$ROOT/scripts/deb_unpack.sh"
  PKG_DIR="$(deb_unpack "$PKG_NAME" "$PKG_VERSION" "$CACHE")/usr/lib/R/site-library/janeaustenr"
fi

if [[ ! -x "$PY" ]]; then
  echo "fetch_books: python '$PY' not found (run scripts/setup.sh or set SEER_PYTHON)" >&2
  exit 1
fi
mkdir -p "$OUT"
"$PY" "$ROOT/scripts/extract_rdata.py" "$PKG_DIR" "$OUT" \
  sensesensibility=sense_and_sensibility prideprejudice=pride_and_prejudice \
  mansfieldpark=mansfield_park emma=emma northangerabbey=northanger_abbey persuasion=persuasion
if ! (cd "$OUT" && sha256sum --check --quiet <<<"$EXPECTED"); then
  echo "fetch_books: books in $OUT do not match the expected sha256 (package version changed?)" >&2
  exit 1
fi
write_readme
