"""Tensor descriptors for libsattn_runtime: `TensorDesc` (a device buffer
described without torch) and the packing of torch tensors and TensorDescs
into the C API's sattn_tensor (80 bytes: data, dtype, rank, shape[4],
strides[4]). Why a module of its own: every entry point of the binding
(sattn.runtime, the backward, block maxima, workspace plans) packs its
tensors here, and sattn.runtime is at its size limit. torch is imported only
when a torch tensor is described.
"""

import ctypes
import struct

from . import tables as _tables
from ._capi import CTensor, DTYPES, tagged_error


class TensorDesc:
    """A device buffer described without torch: an address, a dtype name
    ("bf16", "f16", "f32" or "i64"), a shape and strides in elements
    (contiguous when omitted). For other frameworks and for tests."""

    def __init__(self, data_ptr, dtype, shape, strides=None):
        if dtype not in DTYPES:
            raise tagged_error(TypeError, "DTYPE", "unknown dtype %r; expected one of %s",
                       dtype, ", ".join(DTYPES))
        self.data_ptr, self.dtype, self.shape = int(data_ptr), dtype, tuple(int(s) for s in shape)
        if strides is None:
            strides, step = [], 1
            for extent in reversed(self.shape):
                strides.insert(0, step)
                step *= extent
        self.strides = tuple(int(s) for s in strides)
        if len(self.strides) != len(self.shape):
            raise tagged_error(ValueError, "SHAPE", "%d extents but %d strides",
                       len(self.shape), len(self.strides))

    def __repr__(self):
        return "TensorDesc(0x%x, %r, %r, %r)" % (
            self.data_ptr, self.dtype, self.shape, self.strides)


def _is_torch(x):
    return type(x).__module__.startswith("torch")


_torch_dtype_names = None


def _torch_dtype(t):
    """The sattn dtype name of a torch tensor, or None."""
    global _torch_dtype_names
    if _torch_dtype_names is None:
        import torch
        _torch_dtype_names = {torch.bfloat16: "bf16", torch.float16: "f16",
                              torch.float32: "f32", torch.int64: "i64"}
    return _torch_dtype_names.get(t.dtype)


def _torch_fields(name, t):
    """(address, dtype name, shape, strides) of a CUDA torch tensor."""
    dtype = _torch_dtype(t)
    if dtype is None:
        raise tagged_error(TypeError, "DTYPE", "%s has dtype %s, which sattn kernels do not take "
                   "(bf16, f16, float32 for lse, int64 for tables and plans)", name, t.dtype)
    if t.get_device() < 0:  # -1 for CPU (and meta) tensors; cheaper than t.is_cuda
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                   "%s is on %s; sattn kernels need CUDA tensors", name, t.device)
    return t.data_ptr(), dtype, t.shape, t.stride()


def _not_a_tensor(name, t):
    return tagged_error(TypeError, "INVALID_ARGUMENT",
                "%s must be a torch tensor or a sattn.runtime.TensorDesc, not %s",
                name, type(t).__name__)


def _describe(name, t):
    """A TensorDesc for a TensorDesc or a torch tensor."""
    if isinstance(t, TensorDesc):
        return t
    if not _is_torch(t):
        raise _not_a_tensor(name, t)
    desc = TensorDesc.__new__(TensorDesc)  # skips the checks: torch's values are ints
    desc.data_ptr, desc.dtype, desc.shape, desc.strides = _torch_fields(name, t)
    return desc


# sattn_tensor: data, dtype, rank, shape[4], strides[4] (80 bytes, no padding).
_TENSOR = struct.Struct("<Qii4q4q")
_PADS = [(0,) * (4 - r) for r in range(5)]


def _table_descriptors(names, tables):
    """(buffer to keep alive, (its address or None, count)): the packed
    sattn_tensor descriptors of a kernel's tables in manifest order, as the
    C calls that take tables want them."""
    if not tables:
        return None, (None, 0)
    packed = b"".join(_pack(_tables.label(names, i), t) for i, t in enumerate(tables))
    buffer = (CTensor * len(tables)).from_buffer_copy(packed)
    return buffer, (ctypes.addressof(buffer), len(tables))


def _pack(name, t):
    """The bytes of the sattn_tensor describing `t` (torch tensor or TensorDesc).
    Launches are hot: this reads each torch attribute once."""
    if isinstance(t, TensorDesc):
        ptr, dtype, shape, strides = t.data_ptr, t.dtype, t.shape, t.strides
    elif _is_torch(t):
        ptr, dtype, shape, strides = _torch_fields(name, t)
    else:
        raise _not_a_tensor(name, t)
    rank = len(shape)
    if rank > 4:
        raise tagged_error(ValueError, "SHAPE", "%s has rank %d; the runtime takes at most 4 dimensions",
                   name, rank)
    pad = _PADS[rank]
    return _TENSOR.pack(ptr, DTYPES[dtype], rank, *shape, *pad, *strides, *pad)
