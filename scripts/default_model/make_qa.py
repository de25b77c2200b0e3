#!/usr/bin/env python3
"""Builds a small instruction set for the LoRA walk-through from the fortunes corpus.

Usage: make_qa.py CORPUS_TXT OUT_JSONL

CORPUS_TXT is make_corpus.py's output. Every fortune that is a question and its answer
("Q: ...", then "A: ...") becomes one chat example: {"messages": [user question, assistant answer]}
with whitespace runs folded to one space.
"""
import json
import re
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        docs = f.read().split("<|endoftext|>")
    n = 0
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        for doc in docs:
            m = re.match(r"^\s*Q:\s+(.+?)\n\s*A:\s+(.+?)\s*$", doc, re.S)
            if not m:
                continue
            q, a = (" ".join(g.split()) for g in m.groups())
            out.write(json.dumps({"messages": [{"role": "user", "content": q},
                                               {"role": "assistant", "content": a}]}) + "\n")
            n += 1
    print(f"{n} question-answer pairs -> {sys.argv[2]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
