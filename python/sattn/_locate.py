"""Where sattn's two native pieces are: the compiler (sattn-compile) and the
runtime library (libsattn_runtime.so).

The package runs from a source checkout (python/sattn, PYTHONPATH=python), from
an installed copy (pip install ./python, which may carry the runtime library
inside the package), or next to an installed sattn (cmake --install build
--prefix P, with P/bin on PATH). Each lookup tries, in order, and a failure
names every place it tried and the variables that override it:

    compiler: $SATTN_COMPILE (alone, when set); BUILD/bin/sattn-compile of the
              checkout this package is in; sattn-compile on PATH
    runtime:  $SATTN_RUNTIME_LIB (alone, when set); BUILD/lib of the checkout;
              the copy inside this package; LIB next to the compiler found
              (P/bin/sattn-compile -> P/lib); the dynamic loader's own search
              (LD_LIBRARY_PATH, ld.so.cache)

BUILD is $SATTN_BUILD_DIR (relative to the checkout) or build, as for
scripts/setup.sh. Pure standard library; imports nothing else of sattn.
"""

import os
import shutil
import sys

COMPILER = "sattn-compile"
RUNTIME_LIB = "libsattn_runtime.so"

_HERE = os.path.dirname(os.path.abspath(__file__))


def source_tree():
    """The sattn checkout this package runs from (python/sattn inside it), or
    None for an installed copy."""
    root = os.path.dirname(os.path.dirname(_HERE))
    if (os.path.basename(os.path.dirname(_HERE)) == "python"
            and os.path.isfile(os.path.join(root, "include", "sattn", "runtime.h"))):
        return root
    return None


def _build_dir():
    root = source_tree()
    if root is None:
        return None
    return os.path.join(root, os.environ.get("SATTN_BUILD_DIR") or "build")


def compiler_candidates():
    """[(label, path)] in the order find_compiler tries them."""
    env = os.environ.get("SATTN_COMPILE")
    if env:  # an explicit choice: no fallback, so that it can also switch compiling off
        return [("$SATTN_COMPILE", env)]
    found = []
    build = _build_dir()
    if build:
        found.append(("the source tree's build", os.path.join(build, "bin", COMPILER)))
    on_path = shutil.which(COMPILER)
    found.append(("PATH", on_path or None))
    return found


def find_compiler():
    """Absolute path of sattn-compile, or None."""
    for _, path in compiler_candidates():
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


def compiler_not_found():
    """What find_compiler tried, and how to point it at a compiler."""
    tried = ["%s (%s)" % (path, label) if path else "%s: no %s on it" % (label, COMPILER)
             for label, path in compiler_candidates()]
    return ("sattn-compile not found; tried %s. Set SATTN_COMPILE to its path, or put the "
            "bin directory of an installed sattn on PATH (cmake --install build --prefix P: "
            "P/bin)" % "; ".join(tried))


def _library_dirs_next_to(compiler):
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(compiler)))
    dirs = [os.path.join(prefix, "lib"), os.path.join(prefix, "lib64")]
    multiarch = getattr(sys.implementation, "_multiarch", None)
    if multiarch:
        dirs.append(os.path.join(prefix, "lib", multiarch))
    return dirs


def runtime_candidates():
    """[(label, path)] in the order the runtime library is looked for; a path
    of None stands for the dynamic loader's own search."""
    env = os.environ.get("SATTN_RUNTIME_LIB")
    if env:
        return [("$SATTN_RUNTIME_LIB", env)]
    found = []
    build = _build_dir()
    if build:
        found.append(("the source tree's build", os.path.join(build, "lib", RUNTIME_LIB)))
    found.append(("inside the package", os.path.join(_HERE, RUNTIME_LIB)))
    compiler = find_compiler()
    if compiler:
        for d in _library_dirs_next_to(compiler):
            found.append(("next to %s" % compiler, os.path.join(d, RUNTIME_LIB)))
    found.append(("the dynamic loader's search path", None))
    return found


def runtime_not_found(tried):
    """The error text for a runtime library that could not be opened.
    tried: [(label, path, why)]."""
    lines = "; ".join("%s (%s): %s" % (path or RUNTIME_LIB, label, why)
                      for label, path, why in tried)
    return ("libsattn_runtime.so not found; tried %s. Set SATTN_RUNTIME_LIB to the library, "
            "put the bin directory of an installed sattn on PATH (cmake --install build "
            "--prefix P: P/bin, the library in P/lib), or build the library alone: "
            "cmake -S lib/Runtime -B /tmp/rt && cmake --build /tmp/rt" % lines)
