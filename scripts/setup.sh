#!/usr/bin/env bash
# One command from a bare Debian 12 machine to a built sattn and a compiled
# example spec: installs the system packages, configures and builds
# (Release, clang + lld, linked against libMLIR.so/libLLVM.so), then runs
# sattn-compile on examples/streaming.sattn. SATTN_BUILD_DIR, SATTN_ENABLE_FUZZER
# and SATTN_CMAKE_ARGS (extra cmake arguments) configure other builds, such as
# scripts/sanitize.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  clang-22 lld-22 libclang-rt-22-dev
  cmake ninja-build make g++ pkgconf python3 python3-numpy python3-venv libgtest-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

BUILD_DIR=${SATTN_BUILD_DIR:-build}
LLVM_PREFIX=/usr/lib/llvm-22
cmake -G Ninja -S . -B "$BUILD_DIR" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
  -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
  -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
  -DSATTN_ENABLE_FUZZER="${SATTN_ENABLE_FUZZER:-ON}" ${SATTN_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR"

echo
echo "setup: built $BUILD_DIR/bin/{sparse-opt,sattn-compile}; compiling examples/streaming.sattn:"
"$BUILD_DIR/bin/sattn-compile" examples/streaming.sattn
