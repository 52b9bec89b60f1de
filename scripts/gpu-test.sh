#!/usr/bin/env bash
# Builds everything the GPU test runner needs ahead of time (the GPU machine has
# no MLIR): PTX + manifest for every static example and test spec, and, for
# every test shape, random runtime tables and the tile plan built from them,
# into .sattn-gpu/ (git-ignored). Then prints the command to run there.
#
# Usage: scripts/gpu-test.sh [OUT_DIR [CHIP]]   (CHIP: sm_90 by default, the
# portable kernel; sm_90a builds the Hopper kernels, e.g. into .sattn-gpu90a)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SATTN_BUILD_DIR:-build}
OUT_DIR=${1:-.sattn-gpu}
CHIP=${2:-sm_90}
cmake --build "$BUILD_DIR" --target sattn-gpu-cases
rm -rf "$OUT_DIR"
# Kernels compiled with block_max launch through sattn_launch_block_max, which
# test/Integration/GPU/block_max_test.py runs; the dynamic specs have
# estimator_test.py.
specs=$(ls examples/*.sattn test/Integration/GPU/*.sattn | grep -v -E 'dynamic|language_tour|block_max')
"$BUILD_DIR/bin/sattn-gpu-cases" "$OUT_DIR" $specs --chip "$CHIP"
echo
echo "GPU cases written to $OUT_DIR ($(du -sh "$OUT_DIR" | cut -f1)). On the GPU machine, with $OUT_DIR carried:"
echo "  cmake -S lib/Runtime -B /tmp/rt -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/rt -j && \\"
echo "  SATTN_RUNTIME_LIB=/tmp/rt/libsattn_runtime.so python3 test/Integration/GPU/run_gpu_tests.py $OUT_DIR"
