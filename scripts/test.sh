#!/usr/bin/env bash
# Runs the whole sattn test suite (gtest, then lit over test/) and exits
# non-zero on any failure. Expects a build from scripts/setup.sh. Takes about
# 2.5 minutes on a 2-core machine. Progress is printed per suite: gtest's
# count and time, then a line as each lit test directory finishes (counts,
# time since the start; scripts/lit_progress.py) and one every 30 s; a
# failing test's output is printed in full when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SATTN_BUILD_DIR:-build}
LIT=/usr/lib/llvm-22/bin/lit
[ -d "$BUILD_DIR" ] || { echo "test: no $BUILD_DIR; run scripts/setup.sh first" >&2; exit 1; }
cmake --build "$BUILD_DIR"

start=$(date +%s)
status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== unit tests (gtest: sattn-unittests)"
if "$BUILD_DIR/bin/sattn-unittests" --gtest_brief=1 > "$work/gtest.log" 2>&1; then
  echo "   $(grep -Eo '[0-9]+ tests? from [0-9]+ test suites? ran' "$work/gtest.log" | head -n 1), all passed in $(( $(date +%s) - start )) s"
else
  cat "$work/gtest.log"
  echo "   unit tests FAILED"
  status=1
fi

"$LIT" --show-tests "$BUILD_DIR/test" | python3 scripts/lit_progress.py --count > "$work/totals"
echo "== lit tests: $(awk '{n += $2} END {print n}' "$work/totals") in $(wc -l < "$work/totals") directories of test/"
"$LIT" -v --no-progress-bar "$BUILD_DIR/test" 2>&1 | python3 scripts/lit_progress.py "$work/totals" || status=1

total=$(( $(date +%s) - start ))
if [ "$status" -eq 0 ]; then
  echo "test: all suites passed in $((total / 60)) min $((total % 60)) s"
else
  echo "test: FAILURES ($((total / 60)) min $((total % 60)) s)" >&2
fi
exit $status
