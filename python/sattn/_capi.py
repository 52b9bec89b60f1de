"""The C API of libsattn_runtime as ctypes sees it: finding and opening the
library (through sattn._locate), the declarations of the functions sattn
calls, the C structures, and turning a status into the Python exception the
package raises (ValueError, TypeError or SattnRuntimeError with the runtime's
message and a `status` attribute).

Opening checks the library's version against this package's: a runtime
built from another sattn release may disagree on the C structures, so it is
refused with a message naming both versions and the library's path.
"""

import ctypes
import os
import threading

from . import _locate
from ._version import __version__

# sattn_status, in the order of include/sattn/runtime.h.
STATUS_NAMES = [
    "SATTN_OK",
    "SATTN_ERROR_INVALID_ARGUMENT",
    "SATTN_ERROR_MANIFEST",
    "SATTN_ERROR_NO_DRIVER",
    "SATTN_ERROR_NO_DEVICE",
    "SATTN_ERROR_COMPUTE_CAPABILITY",
    "SATTN_ERROR_MODULE_LOAD",
    "SATTN_ERROR_NULL_POINTER",
    "SATTN_ERROR_DTYPE",
    "SATTN_ERROR_SHAPE",
    "SATTN_ERROR_STRIDE",
    "SATTN_ERROR_ALIGNMENT",
    "SATTN_ERROR_TABLE",
    "SATTN_ERROR_PLAN",
    "SATTN_ERROR_LAUNCH",
    "SATTN_ERROR_OUT_OF_MEMORY",
]
_VALUE_ERRORS = {
    "SATTN_ERROR_INVALID_ARGUMENT", "SATTN_ERROR_MANIFEST", "SATTN_ERROR_NULL_POINTER",
    "SATTN_ERROR_SHAPE", "SATTN_ERROR_STRIDE", "SATTN_ERROR_ALIGNMENT",
    "SATTN_ERROR_TABLE", "SATTN_ERROR_PLAN",
}
_TYPE_ERRORS = {"SATTN_ERROR_DTYPE"}

# sattn_dtype values and their names.
DTYPES = {"bf16": 0, "f16": 1, "f32": 2, "i64": 3}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class SattnRuntimeError(RuntimeError):
    """A driver-side failure: no driver or device, module load, launch."""


def error_for_status(status, message):
    """The exception for a runtime failure: ValueError, TypeError or
    SattnRuntimeError by status, carrying the runtime's message."""
    name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else "SATTN_ERROR_UNKNOWN"
    if name in _VALUE_ERRORS:
        err = ValueError(message)
    elif name in _TYPE_ERRORS:
        err = TypeError(message)
    else:
        err = SattnRuntimeError(message)
    err.status = name
    return err


def tagged_error(cls, status, message, *args):
    """An error raised by the binding itself, tagged like the runtime's
    (status without its SATTN_ERROR_ prefix; message %-formatted)."""
    err = cls(message % args if args else message)
    err.status = "SATTN_ERROR_" + status
    return err


class CTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 4),
        ("strides", ctypes.c_int64 * 4),
    ]


class CPlan(ctypes.Structure):
    _fields_ = [
        ("segments", ctypes.c_void_p),
        ("num_segments", ctypes.c_int64),
        ("offsets", ctypes.c_void_p),
        ("num_classes", ctypes.c_int64),
        ("class_index", ctypes.c_void_p),
        ("num_query_tiles", ctypes.c_int64),
        ("block_m", ctypes.c_int64),
        ("block_n", ctypes.c_int64),
    ]


# The C layouts (checked by static_asserts in test/unit/RuntimeTest.cpp).
assert ctypes.sizeof(CTensor) == 80 and CTensor.strides.offset == 48
assert ctypes.sizeof(CPlan) == 64


# ---------------------------------------------------------------------------
# Finding and opening the library
# ---------------------------------------------------------------------------

_lib = None
_lib_path = None
_lib_lock = threading.Lock()


def _declare(lib):
    c_kernel_p = ctypes.c_void_p
    t_p = ctypes.c_void_p  # sattn_tensor *, passed as addresses into one packed buffer
    sigs = {
        "sattn_kernel_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                             ctypes.POINTER(c_kernel_p)]),
        "sattn_kernel_load_file": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(c_kernel_p)]),
        "sattn_kernel_destroy": (None, [c_kernel_p]),
        "sattn_kernel_name": (ctypes.c_char_p, [c_kernel_p]),
        "sattn_kernel_heads": (ctypes.c_int64, [c_kernel_p]),
        "sattn_kernel_kv_heads": (ctypes.c_int64, [c_kernel_p]),
        "sattn_kernel_head_dim": (ctypes.c_int64, [c_kernel_p]),
        "sattn_kernel_num_tables": (ctypes.c_int32, [c_kernel_p]),
        "sattn_kernel_table_name": (ctypes.c_char_p, [c_kernel_p, ctypes.c_int32]),
        "sattn_kernel_dtype": (ctypes.c_int, [c_kernel_p]),
        "sattn_kernel_returns_lse": (ctypes.c_int32, [c_kernel_p]),
        "sattn_kernel_block_m": (ctypes.c_int64, [c_kernel_p]),
        "sattn_kernel_block_n": (ctypes.c_int64, [c_kernel_p]),
        "sattn_kernel_table_shape": (ctypes.c_int32, [c_kernel_p, ctypes.c_int32, ctypes.c_int64,
                                                      ctypes.c_int64, ctypes.c_int64 * 4]),
        "sattn_validate": (ctypes.c_int, [c_kernel_p, t_p, t_p, t_p, t_p, t_p,
                                          ctypes.POINTER(CPlan), t_p, ctypes.c_int32]),
        "sattn_launch": (ctypes.c_int, [c_kernel_p, t_p, t_p, t_p, t_p, t_p,
                                        ctypes.POINTER(CPlan), t_p, ctypes.c_int32,
                                        ctypes.c_void_p]),
        "sattn_kernel_has_block_max": (ctypes.c_int32, [c_kernel_p]),
        "sattn_validate_block_max": (ctypes.c_int, [c_kernel_p] + [t_p] * 7 +
                                     [ctypes.POINTER(CPlan), t_p, ctypes.c_int32]),
        "sattn_launch_block_max": (ctypes.c_int, [c_kernel_p] + [t_p] * 7 +
                                   [ctypes.POINTER(CPlan), t_p, ctypes.c_int32,
                                    ctypes.c_void_p]),
        "sattn_kernel_has_backward": (ctypes.c_int32, [c_kernel_p]),
        "sattn_validate_backward": (ctypes.c_int, [c_kernel_p] + [t_p] * 9 +
                                    [ctypes.POINTER(CPlan), t_p, ctypes.c_int32]),
        "sattn_launch_backward": (ctypes.c_int, [c_kernel_p] + [t_p] * 9 +
                                  [ctypes.POINTER(CPlan), t_p, ctypes.c_int32,
                                   ctypes.c_void_p]),
        "sattn_validate_backward_deterministic": (ctypes.c_int, [c_kernel_p] + [t_p] * 10 +
                                                  [ctypes.POINTER(CPlan), t_p, ctypes.c_int32]),
        "sattn_launch_backward_deterministic": (ctypes.c_int, [c_kernel_p] + [t_p] * 10 +
                                                [ctypes.POINTER(CPlan), t_p, ctypes.c_int32,
                                                 ctypes.c_void_p]),
        "sattn_plan_build": (ctypes.c_int, [c_kernel_p, ctypes.c_int64, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_void_p, ctypes.c_int32,
                                            ctypes.POINTER(ctypes.c_void_p)]),
        "sattn_host_plan_view": (None, [ctypes.c_void_p, ctypes.POINTER(CPlan)]),
        "sattn_host_plan_stats": (None, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64),
                                         ctypes.POINTER(ctypes.c_int64)]),
        "sattn_host_plan_destroy": (None, [ctypes.c_void_p]),
        "sattn_last_error": (ctypes.c_char_p, []),
        "sattn_status_string": (ctypes.c_char_p, [ctypes.c_int]),
        "sattn_plan_upload": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]),
        "sattn_device_plan_get": (ctypes.POINTER(CPlan), [ctypes.c_void_p]),
        "sattn_device_plan_workspace": (ctypes.c_int, [c_kernel_p, ctypes.c_int64,
                                                       ctypes.c_int64, ctypes.c_int64,
                                                       ctypes.POINTER(ctypes.c_size_t)]),
        "sattn_device_plan_layout": (ctypes.c_int, [c_kernel_p, ctypes.c_int64, ctypes.c_int64,
                                                    ctypes.c_int64, ctypes.POINTER(CPlan)]),
        "sattn_device_plan_build": (ctypes.c_int, [c_kernel_p, ctypes.c_int64, ctypes.c_int64,
                                                   ctypes.c_int64, ctypes.c_void_p,
                                                   ctypes.c_int32, ctypes.c_void_p,
                                                   ctypes.c_size_t, ctypes.c_void_p,
                                                   ctypes.POINTER(CPlan)]),
        "sattn_device_plan_destroy": (None, [ctypes.c_void_p]),
        "sattn_estimator_table": (ctypes.c_int, [c_kernel_p, ctypes.POINTER(ctypes.c_int32)]),
        "sattn_estimator_workspace": (ctypes.c_int, [c_kernel_p, ctypes.c_int64, ctypes.c_int64,
                                                     ctypes.POINTER(ctypes.c_size_t)]),
        "sattn_estimator_run": (ctypes.c_int, [c_kernel_p, t_p, t_p, t_p, ctypes.c_void_p,
                                               ctypes.c_size_t, ctypes.c_void_p]),
        "sattn_estimator_weights": (ctypes.c_int, [c_kernel_p, ctypes.c_int64 * 3]),
        "sattn_estimator_run_weighted": (ctypes.c_int, [c_kernel_p, t_p, t_p, t_p, t_p,
                                                        ctypes.c_void_p, ctypes.c_size_t,
                                                        ctypes.c_void_p]),
        "sattn_estimate_vertical_slash": (ctypes.c_int, [t_p, t_p, ctypes.c_double] +
                                          [ctypes.c_int64] * 5 + [ctypes.c_void_p] * 2),
        "sattn_estimate_blocks": (ctypes.c_int, [t_p, t_p, ctypes.c_double, ctypes.c_int,
                                                 ctypes.c_int64, ctypes.c_int64,
                                                 ctypes.c_double, ctypes.c_int64,
                                                 ctypes.c_void_p]),
        "sattn_estimate_gate": (ctypes.c_int, [t_p, t_p, t_p, t_p, ctypes.c_int64,
                                               ctypes.c_double, ctypes.c_double,
                                               ctypes.c_double, ctypes.c_void_p]),
        "sattn_estimate_stripe": (ctypes.c_int, [t_p, t_p, ctypes.c_double] +
                                  [ctypes.c_int64] * 3 + [ctypes.c_double, ctypes.c_void_p]),
        "sattn_estimate_nsa": (ctypes.c_int, [t_p] * 6 + [ctypes.c_double] +
                               [ctypes.c_int64] * 6 + [ctypes.c_void_p] * 2),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib



class WrongRelease(OSError):
    """A runtime library that was found but belongs to another sattn release."""


def _same_release(a, b):
    """Versions that share the C API: equal major and minor (0.x releases
    may change it)."""
    return a.split(".")[:2] == b.split(".")[:2]


def _open(path):
    """The declared library at `path` (a file, or a bare name for the
    dynamic loader); OSError when it cannot be loaded, WrongRelease when it
    belongs to another sattn release."""
    lib = ctypes.CDLL(path)
    if not hasattr(lib, "sattn_version"):
        raise WrongRelease("%s is a libsattn_runtime older than this sattn package (%s): it "
                           "has no sattn_version(); rebuild it from the same sattn source"
                           % (path, __version__))
    lib.sattn_version.restype = ctypes.c_char_p
    version = lib.sattn_version().decode()
    if not _same_release(version, __version__):
        raise WrongRelease("%s is libsattn_runtime %s, but this sattn package is %s; use a "
                           "runtime built from the same release (SATTN_RUNTIME_LIB selects one)"
                           % (path, version, __version__))
    return _declare(lib)


def runtime_library():
    """The loaded libsattn_runtime (a ctypes.CDLL), opened once; OSError
    naming every place tried (sattn._locate) when there is none."""
    global _lib, _lib_path
    with _lib_lock:
        if _lib is None:
            tried = []
            for label, path in _locate.runtime_candidates():
                if path is not None and not os.path.exists(path):
                    tried.append((label, path, "no such file"))
                    continue
                try:
                    _lib = _open(path or _locate.RUNTIME_LIB)
                except WrongRelease:
                    raise  # found, but unusable: say so rather than look further
                except OSError as e:
                    tried.append((label, path, "cannot be loaded: %s" % e if path
                                  else "not found"))
                    continue
                _lib_path = path or _locate.RUNTIME_LIB
                break
            else:
                raise OSError(_locate.runtime_not_found(tried))
        return _lib


def runtime_library_path():
    """The path the runtime library was opened from (opening it first)."""
    runtime_library()
    return _lib_path


def check(status):
    """Raises the exception for a failed status, with the runtime's message."""
    if status != 0:
        lib = runtime_library()
        raise error_for_status(status, lib.sattn_last_error().decode("utf-8", "replace"))
