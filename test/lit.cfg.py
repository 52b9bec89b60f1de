# lit configuration for the sattn test suite.
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "SATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".sattn", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sattn_obj_root, "test")

config.substitutions.append(("%sattn_src", config.sattn_src_root))
config.substitutions.append(("%examples", os.path.join(config.sattn_src_root, "examples")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
tool_dirs = [config.sattn_tools_dir, config.llvm_tools_dir]
tools = ["sparse-opt", "sattn-compile", "sattn-mask-grid", "FileCheck", "not", "count"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The libFuzzer targets exist where the build has SATTN_ENABLE_FUZZER (on in
# scripts/setup.sh, hence in CI); their short runs say REQUIRES: fuzzer.
_fuzzers = ["sattn-spec-fuzz", "sattn-plan-fuzz", "sattn-runtime-fuzz"]
if all(os.path.exists(os.path.join(config.sattn_tools_dir, f)) for f in _fuzzers):
    config.available_features.add("fuzzer")
    llvm_config.add_tool_substitutions(_fuzzers, [config.sattn_tools_dir])
config.substitutions.append(("%fuzz_src", os.path.join(config.sattn_src_root, "tools", "sattn-fuzz")))

# ptxas is optional on CPU machines; tests that need it say REQUIRES: ptxas.
ptxas = shutil.which("ptxas") or ("/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# GPU-executing tests run only where a CUDA device answers.
def _has_cuda_device():
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=20).returncode == 0
    except Exception:
        return False

if _has_cuda_device():
    config.available_features.add("cuda-device")

# Python tests need NumPy; scripts/setup.sh installs Debian's python3-numpy
# for /usr/bin/python3, which may differ from the python3 first on PATH.
def _python_with_numpy():
    import sys
    for candidate in ["/usr/bin/python3", sys.executable, shutil.which("python3")]:
        if candidate and os.path.exists(candidate):
            try:
                if subprocess.run([candidate, "-c", "import numpy"], capture_output=True,
                                  timeout=60).returncode == 0:
                    return candidate
            except Exception:
                pass
    return None

_python = _python_with_numpy()
if _python:
    config.available_features.add("python-numpy")
    config.substitutions.append(("%python", _python))
    # A plain venv with pip (python3-venv), for the packaging tests: the
    # package installs offline with its in-tree build backend.
    if subprocess.run([_python, "-c", "import ensurepip, venv"], capture_output=True,
                      timeout=60).returncode == 0:
        config.available_features.add("python-venv")
# In a sanitizer build (scripts/sanitize.sh) everything sattn builds links
# the shared ASan runtime; preloading that same library into every process
# lets uninstrumented hosts (Python loading libsattn_runtime.so, cmake, sh)
# run them too. Leaks are checked by the unit tests, not here: the hosts'
# own allocations would be reported.
if getattr(config, "sattn_sanitize", False):
    config.available_features.add("sanitizer")
    config.environment["LD_PRELOAD"] = config.sattn_asan_runtime
    config.environment["ASAN_OPTIONS"] = "detect_leaks=0"
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
config.environment["PYTHONPATH"] = os.path.join(config.sattn_src_root, "python")
