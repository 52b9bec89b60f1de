"""A stand-in for the few torch APIs that sattn's glue touches (tensors with
shapes, strides, dtypes, devices and fake addresses; conversions and
torch.cat as new tensors of the right shape; torch.library.custom_op;
torch.ops; the current device and stream), so that the path from
Kernel.__call__ through the custom op's implementation to libsattn_runtime
(with the fake driver of FakeCuda.c) runs on machines without torch. An op's
autograd formula is only recorded (register_autograd): tests call it.
Nothing here computes anything."""
import contextlib
import types

import numpy as np


class dtype:
    def __init__(self, name, size):
        self.name, self.itemsize = name, size

    def __repr__(self):
        return "torch." + self.name


bfloat16, float16, float32 = dtype("bfloat16", 2), dtype("float16", 2), dtype("float32", 4)
int64, int32, int16, int8 = dtype("int64", 8), dtype("int32", 4), dtype("int16", 2), dtype("int8", 1)
uint8, bool = dtype("uint8", 1), dtype("bool", 1)


class device:
    def __init__(self, name):
        name = str(name)
        self.type, self.name = name.split(":")[0], name

    def __str__(self):
        return self.name

    def __eq__(self, other):
        return isinstance(other, device) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    __repr__ = __str__


_next_address = [0x100000]


class Tensor:
    def __init__(self, shape, dt, where="cuda:0"):
        self.shape, self.dtype, self.device = tuple(shape), dt, device(where)
        strides, n = [], 1
        for extent in reversed(self.shape):
            strides.insert(0, n)
            n *= extent
        self._strides = tuple(strides)
        self._address = _next_address[0]
        _next_address[0] += (n * dt.itemsize // 256 + 2) * 256

    def dim(self):
        return len(self.shape)

    def numel(self):
        n = 1
        for extent in self.shape:
            n *= extent
        return n

    def stride(self):
        return self._strides

    def data_ptr(self):
        return self._address

    def get_device(self):
        return 0 if self.device.type == "cuda" else -1

    def new_empty(self, shape, dtype=None):
        return Tensor(shape, dtype or self.dtype, self.device.name)

    def to(self, *args, **kwargs):
        """to(dtype), to(device) or to(device=..., dtype=...): a new tensor,
        or this one when nothing changes (as torch does)."""
        dt, where = kwargs.get("dtype"), kwargs.get("device")
        for a in args:
            if isinstance(a, dtype):
                dt = a
            else:
                where = a
        dt = dt or self.dtype
        where = str(where) if where is not None else self.device.name
        if dt is self.dtype and where == self.device.name:
            return self
        return Tensor(self.shape, dt, where)

    def is_floating_point(self):
        return self.dtype in (bfloat16, float16, float32)

    def clone(self):
        return Tensor(self.shape, self.dtype, self.device.name)

    def detach(self):
        return self

    def contiguous(self):
        return self

    def zero_(self):
        return self

    def __getitem__(self, index):
        """t[i]: a new tensor of the remaining dimensions (integer indices only)."""
        if not isinstance(index, int) or not self.shape or not -self.shape[0] <= index < self.shape[0]:
            raise IndexError("stand-in tensors take one in-range integer index, not %r" % (index,))
        return Tensor(self.shape[1:], self.dtype, self.device.name)

    def numpy(self):
        return np.zeros(self.shape, dtype=np.int64)


def empty(*shape, dtype=float32, device="cuda:0"):
    return Tensor(shape, dtype, device)


def cat(tensors, dim=0):
    """A new tensor: the shapes joined along `dim` (the first's dtype and device)."""
    first = tensors[0]
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return Tensor(shape, first.dtype, first.device.name)


ops = types.SimpleNamespace()


class _CustomOp:
    def __init__(self, name, fn, mutates_args):
        self.name, self.fn, self.mutates_args, self.fake = name, fn, mutates_args, None
        self.backward = self.setup_context = None
        namespace, op = name.split("::")
        if not hasattr(ops, namespace):
            setattr(ops, namespace, types.SimpleNamespace())
        setattr(getattr(ops, namespace), op, types.SimpleNamespace(default=fn))

    def register_fake(self, fn):
        self.fake = fn
        return fn

    def register_autograd(self, backward, setup_context=None):
        self.backward, self.setup_context = backward, setup_context


library = types.SimpleNamespace(registered=[])


def _custom_op(name, fn, mutates_args):
    op = _CustomOp(name, fn, mutates_args)
    library.registered.append(op)
    return op


library.custom_op = _custom_op


# torch.use_deterministic_algorithms and its two queries.
_deterministic = {"on": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    # (`bool` is the dtype here.)
    _deterministic.update(on=True if mode else False, warn_only=True if warn_only else False)


def are_deterministic_algorithms_enabled():
    return _deterministic["on"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


class _Stream:
    cuda_stream = 0x1234


cuda = types.SimpleNamespace(
    current_device=lambda: 0,
    current_stream=lambda index=None: _Stream(),
    device=lambda index: contextlib.nullcontext())
_C = types.SimpleNamespace()
