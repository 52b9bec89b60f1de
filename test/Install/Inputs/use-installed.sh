#!/bin/sh
# What a new user does after `cmake --install build --prefix P`, from a
# directory outside the source tree with P/bin on PATH: compile an example
# spec, build a program against the runtime with find_package(sattn) and with
# pkg-config, pip install the Python package into a plain venv (offline) and
# use it with the installed compiler and runtime. install-prefix.test checks
# the output.
#   use-installed.sh PREFIX SOURCE_TREE WORK_DIR PYTHON
set -eu
P=$1 SRC=$2 WORK=$3 PY=$4
export PATH="$P/bin:$PATH"
unset PYTHONPATH SATTN_COMPILE SATTN_RUNTIME_LIB SATTN_CACHE_DIR
mkdir -p "$WORK" && cd "$WORK"

echo "== compiler: $(command -v sattn-compile)"
sattn-compile --version | head -n 1
cp -r "$P/share/sattn/examples" .
sattn-compile examples/streaming.sattn -o out/ 2>/dev/null | tail -n 1
ls out

echo "== find_package(sattn)"
cmake -S "$SRC/test/Install/Inputs/consumer" -B consumer-build -DCMAKE_PREFIX_PATH="$P" >cmake.log
cmake --build consumer-build >>cmake.log
cat consumer-build/found.txt
consumer-build/consumer out/streaming.json

echo "== pkg-config sattn"
flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs sattn)
${CC:-cc} "$SRC/test/Install/Inputs/consumer/main.c" $flags -Wl,-rpath,"$P/lib" -o pc-consumer
./pc-consumer

echo "== pip install"
"$PY" -m venv venv
cp -r "$SRC/python" pysrc && rm -rf pysrc/sattn/__pycache__
venv/bin/pip install -q --no-index ./pysrc
venv/bin/python -c "import sattn; print(sattn.__version__)"
venv/bin/python "$SRC/test/Python/check_installed.py" cache examples/streaming.sattn
