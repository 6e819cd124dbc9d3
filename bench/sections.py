"""RESULTS.md holds one section per benchmark script; each script replaces only its own."""
import os
import re

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def update_section(name, text):
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = open(RESULTS).read() if os.path.exists(RESULTS) else "# batchd benchmarks\n"
    if begin in current:
        current = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, current, flags=re.S)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    open(RESULTS, "w").write(current)
