#!/usr/bin/env python3
"""Extracts character vectors from an R package's lazy-load data database into plain-text files.

R data packages (Debian: r-cran-janeaustenr, r-cran-tokenizers, ...) store their data sets as an
R lazy-load database:
  data/Rdata.rdx  gzip-compressed R serialization of list(variables = list(name = c(offset, len)),
                  references, compressed)
  data/Rdata.rdb  entries at those offsets: 4-byte big-endian uncompressed length + zlib stream of an
                  R serialization (XDR), here a character vector (one element per line of a book,
                  or the whole book in one element).
The `rdata` package (PyPI) parses the serializations; we do the lazy-load framing ourselves.

Usage: extract_rdata.py [--gutenberg] <package dir> <output dir> VARIABLE=STEM [VARIABLE=STEM ...]
Writes <output dir>/<STEM>.txt for each VARIABLE (UTF-8, the vector's elements joined by '\n',
trailing newline), atomically. --gutenberg: each text is a whole Project Gutenberg e-text; keep
only the book between the "*** START OF" and "*** END OF" lines (no licence, no header, no
closing "End of Project Gutenberg's ..." line), with
'\n' line ends and no byte-order mark.
"""
import gzip
import os
import struct
import sys
import warnings
import zlib

import rdata


def parse_r_serialization(blob: bytes, what: str):
    # rdata warns "Unknown file type: assumed RDS" for bare serializations; that is what they are.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return rdata.conversion.convert(rdata.parser.parse_data(blob))
        except Exception as e:  # noqa: BLE001 - rethrown with the entry named
            raise SystemExit(f"extract_rdata: cannot parse {what}: {e}")


def read_index(rdx_path: str):
    with open(rdx_path, "rb") as f:
        raw = f.read()
    # R writes .rdx with saveRDS(compress=TRUE): a gzip file.
    index = parse_r_serialization(gzip.decompress(raw), rdx_path)
    if "variables" not in index:
        raise SystemExit(f"extract_rdata: {rdx_path}: no 'variables' entry")
    return {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}


def read_entry(rdb: bytes, rdb_path: str, name: str, offset: int, length: int):
    entry = rdb[offset:offset + length]
    if len(entry) != length or length < 5:
        raise SystemExit(f"extract_rdata: {rdb_path}: entry '{name}' at {offset}+{length} "
                         f"is past the end ({len(rdb)} bytes)")
    expected = struct.unpack(">I", entry[:4])[0]
    blob = zlib.decompress(entry[4:])
    if len(blob) != expected:
        raise SystemExit(f"extract_rdata: {rdb_path}: entry '{name}' inflates to "
                         f"{len(blob)} bytes, header says {expected}")
    return parse_r_serialization(blob, f"{rdb_path} entry '{name}'")


def write_atomic(path: str, text: str):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def gutenberg_body(text: str, what: str) -> str:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("*** START OF")), None)
    end = next((i for i, l in enumerate(lines) if l.startswith("*** END OF")), None)
    if start is None or end is None or end <= start:
        raise SystemExit(f"extract_rdata: {what}: no '*** START OF' / '*** END OF' lines "
                         "(not a Project Gutenberg e-text?)")
    body = lines[start + 1:end]
    # Older e-texts repeat the end marker in prose ("End of Project Gutenberg's <title>").
    while body and (not body[-1].strip() or body[-1].startswith(("End of Project Gutenberg",
                                                                 "End of the Project Gutenberg"))):
        body.pop()
    return "\n".join(body).strip("\n") + "\n"


def parse_args(argv):
    gutenberg = "--gutenberg" in argv
    args = [a for a in argv if a != "--gutenberg"]
    if len(args) < 3 or any("=" not in a for a in args[2:]):
        raise SystemExit(__doc__)
    pairs = [tuple(a.split("=", 1)) for a in args[2:]]
    return args[0], args[1], pairs, gutenberg


def main():
    pkg_dir, out_dir, pairs, gutenberg = parse_args(sys.argv[1:])
    rdx = os.path.join(pkg_dir, "data", "Rdata.rdx")
    rdb_path = os.path.join(pkg_dir, "data", "Rdata.rdb")
    variables = read_index(rdx)
    with open(rdb_path, "rb") as f:
        rdb = f.read()
    os.makedirs(out_dir, exist_ok=True)
    for var, stem in pairs:
        if var not in variables:
            raise SystemExit(f"extract_rdata: {rdx}: no variable '{var}' "
                             f"(has: {', '.join(sorted(variables))})")
        lines = read_entry(rdb, rdb_path, var, *variables[var])
        # NA lines do not occur in these packages; str() keeps the script total if one ever does.
        text = "\n".join(str(x) for x in lines) + "\n"
        if gutenberg:
            text = gutenberg_body(text, f"{rdb_path} entry '{var}'")
        write_atomic(os.path.join(out_dir, stem + ".txt"), text)


if __name__ == "__main__":
    main()
