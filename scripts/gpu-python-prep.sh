#!/usr/bin/env bash
# Fills a sattn.compile cache (default .sattn-py-cache/, git-ignored) with every
# kernel that examples/torch/ (train_sparse.py's with its backward pass,
# train_gate.py's gate) and
# test/Integration/GPU/torch_op_test.py compile,
# on this machine (it has sattn-compile; the GPU machine has no MLIR), and
# prints the commands to run on the GPU machine with that directory carried.
# Both programs compile whole spec files with default options, as done here, so
# their sattn.compile calls are cache hits there. With SATTN_TARGET=sm_90a (here
# and there) the default target is sm_90a: the Hopper kernels where chosen.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SATTN_BUILD_DIR:-build}
CACHE=${1:-.sattn-py-cache}
SPECS="test/Integration/GPU/Inputs/torch_op.sattn examples/torch/attention.sattn
       examples/torch/train_gate.sattn"
cmake --build "$BUILD_DIR" --target sattn-compile
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3
SATTN_COMPILE=${SATTN_COMPILE:-$PWD/$BUILD_DIR/bin/sattn-compile} SATTN_CACHE_DIR=$PWD/$CACHE \
PYTHONPATH=$PWD/python "$PYTHON" - $SPECS <<'PY'
import sys
import sattn
for spec in sys.argv[1:]:
    for name, kernel in sorted(sattn.compile_all(spec).items()):
        print("%-50s %s" % ("%s: %s" % (spec, name), kernel.manifest_path))
# examples/torch/train_sparse.py trains through its kernel: compiled with the
# backward pass, as that script asks for it.
spec = "examples/torch/train_sparse.sattn"
kernel = sattn.compile(spec, backward=True)
print("%-50s %s" % ("%s: %s (backward)" % (spec, kernel.name), kernel.manifest_path))
PY
echo
echo "Cache $CACHE ready ($(du -sh "$CACHE" | cut -f1)). On the GPU machine, with $CACHE carried:"
echo "  cmake -S lib/Runtime -B /tmp/rt -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/rt -j && \\"
echo "  export SATTN_RUNTIME_LIB=/tmp/rt/libsattn_runtime.so SATTN_CACHE_DIR=\$PWD/$CACHE${SATTN_TARGET:+ SATTN_TARGET=$SATTN_TARGET} && \\"
echo "  python3 test/Integration/GPU/torch_op_test.py $CACHE && python3 examples/torch/run.py && \\"
echo "  python3 examples/torch/train_sparse.py && python3 examples/torch/train_gate.py"
