#!/usr/bin/env bash
# Builds sattn with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-san/ (SATTN_SANITIZE=ON: every library, tool, test and
# libsattn_runtime instrumented; -fno-sanitize-recover, so any finding fails
# the test that hit it) and runs the unit tests and the lit suite with it.
# Too slow for CI on 2 cores (a second full build, about 15 min); run it by
# hand after changes to the planner, readers or runtime, and record the run
# in bench/RESULTS.md ("Sanitizer runs").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SATTN_SAN_BUILD_DIR:-build-san}

start=$(date +%s)
echo "== building $BUILD_DIR (ASan + UBSan)"
# setup.sh configures and builds (and compiles its example with the
# instrumented compiler, whose one-time allocations are not leak-checked).
ASAN_OPTIONS=detect_leaks=0 SATTN_BUILD_DIR="$BUILD_DIR" SATTN_ENABLE_FUZZER=OFF \
  SATTN_CMAKE_ARGS="-DSATTN_SANITIZE=ON" scripts/setup.sh
echo "   built in $(( $(date +%s) - start )) s"

# Leaks are findings too, except inside the uninstrumented LLVM/MLIR
# libraries' one-time registrations (none are suppressed today).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SATTN_BUILD_DIR="$BUILD_DIR" scripts/test.sh
echo "sanitize: ASan + UBSan build of the suites clean in $(( $(date +%s) - start )) s"
