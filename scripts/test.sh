#!/usr/bin/env bash
# Runs the whole sattn test suite (lit + gtest, one entry point) and exits
# non-zero on any failure. Expects a build from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SATTN_BUILD_DIR:-build}
[ -d "$BUILD_DIR" ] || { echo "test: no $BUILD_DIR; run scripts/setup.sh first" >&2; exit 1; }
cmake --build "$BUILD_DIR"

status=0
echo "== unit tests (gtest)"
"$BUILD_DIR/bin/sattn-unittests" --gtest_brief=1 || status=1
echo "== lit tests"
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" || status=1

if [ "$status" -eq 0 ]; then echo "test: all suites passed"; else echo "test: FAILURES" >&2; fi
exit $status
