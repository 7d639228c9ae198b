#!/usr/bin/env python3
"""Writes the King James Bible as plain text, one file per book, from the `bible` program.

The Debian package bible-kjv ships `bible` and bible-kjv-text its compressed text and
concordance (/usr/lib/bible.data). We do not decode that format: `bible` prints every verse
("gen1:1-rev22:21") in its pretty-printed form, a "<Book> <chapter>" line before each chapter and
"  <verse> <text>" per verse; -l with a large width keeps each verse on one line.

Each book becomes <output dir>/<NN>_<book>.txt (NN = canonical order, 01 Genesis .. 66 Revelation,
so file-name order is the Bible's order): chapter headings kept ("Genesis 1"), a blank line after
each heading and after each chapter, one verse per line without its number. The counts of the
whole text are checked (66 books, 1189 chapters, 31102 verses, verses numbered 1, 2, ... in every
chapter), so a changed program or data file fails here rather than writing a partial Bible.

Usage: extract_kjv.py <output dir>          (env BIBLE: the program, default `bible`)
"""
import os
import re
import subprocess
import sys

HEADING = re.compile(r"^(?P<book>(?:[1-3] )?[A-Z][A-Za-z ]*?) (?P<chapter>\d+)$")
VERSE = re.compile(r"^  (?P<verse>\d+) (?P<text>\S.*)$")
EXPECTED_BOOKS, EXPECTED_CHAPTERS, EXPECTED_VERSES = 66, 1189, 31102


def fail(message: str):
    raise SystemExit(f"extract_kjv: {message}")


def read_bible(program: str) -> str:
    try:
        out = subprocess.run([program, "-l", "100000", "gen1:1-rev22:21"], check=True,
                             capture_output=True, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"cannot run '{program}' (Debian package bible-kjv): {e}")
    return out.stdout.decode("utf-8")


def parse_books(text: str):
    """[(book, [(chapter, [verse text, ...]), ...]), ...] in the order printed."""
    books = []
    for line_no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if m := HEADING.match(line):
            book, chapter = m["book"], int(m["chapter"])
            if not books or books[-1][0] != book:
                books.append((book, []))
            chapters = books[-1][1]
            if chapter != len(chapters) + 1:
                fail(f"line {line_no}: {book} {chapter} follows chapter {len(chapters)}")
            chapters.append((chapter, []))
        elif m := VERSE.match(line):
            if not books:
                fail(f"line {line_no}: a verse before any chapter heading")
            verses = books[-1][1][-1][1]
            if int(m["verse"]) != len(verses) + 1:
                fail(f"line {line_no}: verse {m['verse']} follows verse {len(verses)}")
            verses.append(m["text"].strip())
        else:
            fail(f"line {line_no}: neither a chapter heading nor a verse: {line[:80]!r}")
    chapters = sum(len(c) for _, c in books)
    verses = sum(len(v) for _, c in books for _, v in c)
    if (len(books), chapters, verses) != (EXPECTED_BOOKS, EXPECTED_CHAPTERS, EXPECTED_VERSES):
        fail(f"{len(books)} books, {chapters} chapters, {verses} verses; expected "
             f"{EXPECTED_BOOKS}, {EXPECTED_CHAPTERS}, {EXPECTED_VERSES}")
    return books


def write_atomic(path: str, text: str):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out_dir = sys.argv[1]
    books = parse_books(read_bible(os.environ.get("BIBLE", "bible")))
    os.makedirs(out_dir, exist_ok=True)
    for number, (book, chapters) in enumerate(books, 1):
        parts = [f"{book} {chapter}\n\n" + "\n".join(verses) + "\n" for chapter, verses in chapters]
        stem = f"{number:02d}_" + book.lower().replace(" ", "_")
        write_atomic(os.path.join(out_dir, stem + ".txt"), "\n".join(parts))


if __name__ == "__main__":
    main()
