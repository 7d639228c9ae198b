#!/usr/bin/env python3
"""Extracts Jane Austen's six novels from the R package janeaustenr into plain-text books.

The package (Debian: r-cran-janeaustenr) stores its data as an R lazy-load database:
  data/Rdata.rdx  gzip-compressed R serialization of list(variables = list(name = c(offset, len)),
                  references, compressed)
  data/Rdata.rdb  entries at those offsets: 4-byte big-endian uncompressed length + zlib stream of an
                  R serialization (XDR) of a character vector, one element per line of the book.
The `rdata` package (PyPI) parses the serializations; we do the lazy-load framing ourselves.

Usage: extract_janeaustenr.py <janeaustenr package dir> <output dir>
Writes <output dir>/<book>.txt (UTF-8, lines joined by '\n', trailing newline), atomically.
"""
import gzip
import os
import struct
import sys
import warnings
import zlib

import rdata

# R variable name -> output file stem (publication order is not needed; names say the title).
BOOKS = {
    "sensesensibility": "sense_and_sensibility",
    "prideprejudice": "pride_and_prejudice",
    "mansfieldpark": "mansfield_park",
    "emma": "emma",
    "northangerabbey": "northanger_abbey",
    "persuasion": "persuasion",
}


def parse_r_serialization(blob: bytes, what: str):
    # rdata warns "Unknown file type: assumed RDS" for bare serializations; that is what they are.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return rdata.conversion.convert(rdata.parser.parse_data(blob))
        except Exception as e:  # noqa: BLE001 - rethrown with the entry named
            raise SystemExit(f"extract_janeaustenr: cannot parse {what}: {e}")


def read_index(rdx_path: str):
    with open(rdx_path, "rb") as f:
        raw = f.read()
    # R writes .rdx with saveRDS(compress=TRUE): a gzip file.
    index = parse_r_serialization(gzip.decompress(raw), rdx_path)
    if "variables" not in index:
        raise SystemExit(f"extract_janeaustenr: {rdx_path}: no 'variables' entry")
    return {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}


def read_entry(rdb: bytes, rdb_path: str, name: str, offset: int, length: int):
    entry = rdb[offset:offset + length]
    if len(entry) != length or length < 5:
        raise SystemExit(f"extract_janeaustenr: {rdb_path}: entry '{name}' at {offset}+{length} "
                         f"is past the end ({len(rdb)} bytes)")
    expected = struct.unpack(">I", entry[:4])[0]
    blob = zlib.decompress(entry[4:])
    if len(blob) != expected:
        raise SystemExit(f"extract_janeaustenr: {rdb_path}: entry '{name}' inflates to "
                         f"{len(blob)} bytes, header says {expected}")
    return parse_r_serialization(blob, f"{rdb_path} entry '{name}'")


def write_atomic(path: str, text: str):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    pkg_dir, out_dir = sys.argv[1], sys.argv[2]
    rdx = os.path.join(pkg_dir, "data", "Rdata.rdx")
    rdb_path = os.path.join(pkg_dir, "data", "Rdata.rdb")
    variables = read_index(rdx)
    with open(rdb_path, "rb") as f:
        rdb = f.read()
    os.makedirs(out_dir, exist_ok=True)
    for var, stem in BOOKS.items():
        if var not in variables:
            raise SystemExit(f"extract_janeaustenr: {rdx}: no variable '{var}' "
                             f"(has: {', '.join(sorted(variables))})")
        lines = read_entry(rdb, rdb_path, var, *variables[var])
        # NA lines do not occur in this package; str() keeps the script total if one ever does.
        text = "\n".join(str(x) for x in lines) + "\n"
        write_atomic(os.path.join(out_dir, stem + ".txt"), text)


if __name__ == "__main__":
    main()
