"""The kernels loaded in this process, by `Kernel.key` (the real path of the
manifest). The torch custom op receives that key, a string, and finds the
kernel here; `sattn.kernel` adds kernels as they are loaded. Kernels stay
loaded for the life of the process."""

import threading

_KERNELS = {}
_LOCK = threading.Lock()


def add(key, kernel):
    with _LOCK:
        _KERNELS[key] = kernel


def get(key):
    """The loaded kernel for `key`, or None."""
    return _KERNELS.get(key)


def kernel_for_key(key):
    kernel = _KERNELS.get(key)
    if kernel is None:
        raise ValueError("no sattn kernel %r is loaded in this process; load it with "
                         "sattn.load or sattn.compile before running the graph" % key)
    return kernel
