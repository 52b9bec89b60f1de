#!/usr/bin/env python3
"""Turns the output of one `lit -v --no-progress-bar` run over test/ into
progress people can follow (scripts/test.sh): a line when each test
directory (suite) has finished, with its counts and the time since the run
started, a line every 30 seconds with the overall count, and the full
output of every failing test as it happens. lit runs all suites in one
process, so its workers stay busy across suite boundaries.

Usage: lit --show-tests DIR | lit_progress.py --count  > totals
       lit -v --no-progress-bar DIR | lit_progress.py TOTALS
"""
import collections
import re
import sys
import time

RESULT = re.compile(r"^([A-Z]+(?:ly [A-Z]+)?): \S+ :: (\S+) \((\d+) of (\d+)\)$")


def suite_of(path):
    return path.split("/", 1)[0]


def count(lines):
    totals = collections.Counter()
    for line in lines:
        m = re.match(r"^\s+\S+ :: (\S+)$", line)
        if m:
            totals[suite_of(m.group(1))] += 1
    for suite, n in sorted(totals.items()):
        print(suite, n)


def follow(totals_file, lines):
    totals = {}
    with open(totals_file) as f:
        for line in f:
            suite, n = line.split()
            totals[suite] = int(n)
    start = last_note = time.time()
    seen = collections.defaultdict(collections.Counter)
    failing, printing = [], False
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("*" * 20 + " TEST "):
            printing = True
        if printing:
            print(line, flush=True)
            if line == "*" * 20:
                printing = False
            continue
        m = RESULT.match(line)
        if not m:
            continue
        result, path, done, total = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
        suite = suite_of(path)
        seen[suite][result.lower()] += 1
        if result in ("FAIL", "XPASS", "UNRESOLVED", "TIMEOUT"):
            failing.append(path)
        elapsed = time.time() - start
        if sum(seen[suite].values()) == totals.get(suite):
            counts = ", ".join("%d %s" % (n, r) for r, n in sorted(seen[suite].items()))
            print("   %-12s %s, done at %d:%02d" % (suite, counts, elapsed // 60, elapsed % 60),
                  flush=True)
        elif time.time() - last_note >= 30:
            print("   ... %d of %d lit tests done at %d:%02d"
                  % (done, total, elapsed // 60, elapsed % 60), flush=True)
            last_note = time.time()
    for path in failing:
        print("   FAILED: %s" % path)
    return 1 if failing else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--count"]:
        count(sys.stdin)
    else:
        sys.exit(follow(sys.argv[1], sys.stdin))
