"""Prints what an installed sattn package is and what its lookups say: run
from outside the source tree with the venv's python (pip-install.test,
test/Install/install-prefix.test).

Usage: check_installed.py CACHE_DIR [SPEC]   (with SPEC: compile it, load the
kernel through the runtime library and print where both were found)
"""
import os
import sys

import sattn
from sattn import runtime

print("location:", os.path.dirname(sattn.__file__))
print("version:", sattn.__version__)
print("exports:", sorted(sattn.__all__))
print("torch imported:", "torch" in sys.modules)
print("carries the runtime:",
      os.path.exists(os.path.join(os.path.dirname(sattn.__file__), "libsattn_runtime.so")))

kernel = None
try:
    kernel = sattn.compile(sys.argv[2] if len(sys.argv) > 2 else "kernel k { mask = causal }",
                           cache=sys.argv[1])
    print("compiled:", kernel, "with", sattn.find_compiler())
except sattn.CompilerUnavailableError as e:
    print("compile: %s: %s" % (type(e).__name__, e))
try:
    print("runtime: %s" % runtime.runtime_library_path())
except OSError as e:
    print("runtime: %s: %s" % (type(e).__name__, e))
if kernel is not None:
    print("loaded:", kernel.runtime)
