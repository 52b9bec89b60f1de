"""Checks the shell transcripts of a Markdown document against what the
commands print now, so that documented output cannot go stale (readme.test).

A transcript is a fenced code block whose first line starts with "$ ": each
"$ command" line is run with bash in WORK_DIR, and the lines after it (up to
the next "$ " line or the end of the block) are its expected stdout. Before
comparing, both sides are normalised: runs of spaces become one (column
widths follow the values), timings ("0.13 ms", "in 0.91 s", and table
columns whose header ends in "ms") become "<time>", and a "..." line in the
document stands for any number of lines.

Usage: check_transcripts.py DOCUMENT WORK_DIR
"""
import re
import subprocess
import sys

TIME = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b")


def transcripts(text):
    """[(command, expected lines)] of every transcript block."""
    found = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S):
        lines = block.rstrip("\n").split("\n")
        if not lines[0].startswith("$ "):
            continue
        for line in lines:
            if line.startswith("$ "):
                found.append((line[2:], []))
            else:
                found[-1][1].append(line)
    return found


def normalise(lines):
    """Lines with timing values masked and spaces collapsed; in a table
    (cells two or more spaces apart) the cells under a "... ms" header too."""
    out, timed = [], None
    for line in lines:
        cells = re.split(r"\s{2,}", line.strip())
        if any(c.endswith(" ms") for c in cells) and len(cells) > 3:
            timed = [i for i, c in enumerate(cells) if c.endswith(" ms")]
        elif timed and len(cells) > max(timed):
            cells = ["<time>" if i in timed else c for i, c in enumerate(cells)]
        elif len(cells) <= 3:
            timed = None
        out.append(TIME.sub("<time>", " ".join(" ".join(cells).split())))
    return out


def matches(expected, actual):
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def main():
    document, work = sys.argv[1], sys.argv[2]
    with open(document, encoding="utf-8") as f:
        found = transcripts(f.read())
    bad = 0
    for command, expected in found:
        run = subprocess.run(["bash", "-c", command], cwd=work, capture_output=True, text=True)
        actual = run.stdout.rstrip("\n").split("\n") if run.stdout else []
        if matches(normalise(expected), normalise(actual)) and run.returncode == 0:
            print("ok: $ %s" % command)
            continue
        bad += 1
        print("STALE: $ %s (exit status %d)" % (command, run.returncode))
        print("  documented:\n    " + "\n    ".join(expected))
        print("  printed now:\n    " + "\n    ".join(actual))
        if run.stderr:
            print("  stderr:\n    " + "\n    ".join(run.stderr.rstrip("\n").split("\n")))
    print("%d transcript command(s), %d stale" % (len(found), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
