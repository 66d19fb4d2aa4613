"""Replaces one section of a Markdown file with stdin, so that the scripts
that measure different things (`make bench`, `make cold-start`) each keep
their own part of BENCHMARKS.md current without erasing the others.

    ... | python3 scripts/put_section.py NAME FILE

The section is what lies between `<!-- NAME -->` and `<!-- /NAME -->`; a
file without it gets it appended.
"""

import re
import sys


def main():
    name, path = sys.argv[1], sys.argv[2]
    body = sys.stdin.read().strip("\n")
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body}\n{end}"
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
