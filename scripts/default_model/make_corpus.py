#!/usr/bin/env python3
"""Builds the default model's training text from the Debian `fortunes` packages.

Usage: make_corpus.py FORTUNES_DIR OUT_TXT

Every fortune file in FORTUNES_DIR (sorted by name; the .dat indexes, the .u8 links and the two
ASCII-art files left out) is split at its "%" lines; the fortunes are joined with the
<|endoftext|> special token so the model learns where one ends.
"""
import os
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = sys.argv[1], sys.argv[2]
    if not os.path.isdir(src):
        print(f"{src}: no such folder (apt-get install fortunes)", file=sys.stderr)
        return 1
    names = sorted(n for n in os.listdir(src)
                   if not n.endswith((".dat", ".u8")) and n not in ("art", "ascii-art"))
    docs = []
    for name in names:
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = f.read()
        for fortune in text.split("\n%\n"):
            fortune = fortune.strip("\n")
            if fortune and fortune != "%":
                docs.append(fortune + "\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write("<|endoftext|>".join(docs) + "<|endoftext|>")
    print(f"{len(names)} files, {len(docs)} fortunes, {sum(map(len, docs))} characters -> {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
