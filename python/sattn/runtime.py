"""ctypes binding of libsattn_runtime: load compiled sattn kernels and launch
them on PyTorch CUDA tensors (or on raw device pointers).

The runtime library does all validation (shapes, strides, alignment, dtypes,
tables, plan) and reports each failure with a precise message; this module
converts tensors into the C descriptors and raises the runtime's message as
ValueError (shape, stride, alignment, table, plan, manifest, missing data),
TypeError (dtype) or SattnRuntimeError, a RuntimeError (driver, device,
module load, launch). RuntimeKernel.build_plan builds plans on the host with
the runtime's planner (the compiler's own), from the manifest's mask
program; HostPlan.upload copies one to the device (sattn_plan_upload).
RuntimeKernel.run is the one path of a kernel call: validate, take a device
plan, launch on the current stream (run_backward, backward: sattn._backward). For plans held in tensors (Plan), launch
also checks the buffer lengths that the C API cannot see behind pointers.

Pure Python: torch is imported only when a torch tensor is passed, so the
module imports and validates on machines without torch or a GPU. The
library is found as sattn._locate describes ($SATTN_RUNTIME_LIB first).
"""

import array
import ctypes
import json
import os

from . import _backward, _block_max, _estimator
from . import tables as _tables
from ._descriptors import _PADS, _TENSOR, TensorDesc, _describe, _is_torch, _pack, _table_descriptors
from ._capi import (CPlan, CTensor, DTYPE_NAMES, DTYPES, SattnRuntimeError, check,
                    runtime_library, runtime_library_path, tagged_error)

__all__ = ["DevicePlan", "HostPlan", "Plan", "RuntimeKernel", "SattnRuntimeError", "TensorDesc",
           "load_kernel", "load_kernel_from_memory", "runtime_library", "runtime_library_path"]

# Tensors are described and packed by sattn._descriptors.

class Plan:
    """A tile plan in the flat form of docs/KERNEL_ABI.md, in device memory.

    segments (num_segments rows of 7: the segment rows, then the key pool of
    List segments), offsets (num_classes x (num_query_tiles + 1))
    and class_index (batch x heads) are int64 CUDA tensors (or TensorDescs,
    or plain device addresses with the sizes given). num_segments and
    num_classes default to what the tensors' shapes say."""

    def __init__(self, segments, offsets, class_index, num_query_tiles, block_m, block_n,
                 num_segments=None, num_classes=None):
        self.segments, self.offsets, self.class_index = segments, offsets, class_index
        self.num_query_tiles, self.block_m, self.block_n = (
            int(num_query_tiles), int(block_m), int(block_n))
        if num_segments is None:
            num_segments = _numel(segments, "plan.segments", 7) // 7
        if num_classes is None:
            num_classes = _numel(offsets, "plan.offsets", 1) // (self.num_query_tiles + 1)
        self.num_segments, self.num_classes = int(num_segments), int(num_classes)


def _numel(buffer, name, unit):
    if isinstance(buffer, int):
        raise tagged_error(ValueError, "PLAN", "%s is a plain address; pass its size explicitly", name)
    shape = buffer.shape if isinstance(buffer, TensorDesc) else tuple(buffer.shape)
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _plan_buffer(name, buffer, want, checks):
    """The address of one plan buffer. For tensors, queues the dtype, layout
    and length checks the C API cannot make behind a pointer; they run after
    the runtime's own validation so that its messages come first."""
    if buffer is None or isinstance(buffer, int):
        return buffer
    desc = _describe(name, buffer)
    checks.append((name, desc, want))
    return desc.data_ptr or None


def _check_plan_buffers(checks):
    for name, desc, want in checks:
        if desc.dtype != "i64":
            raise tagged_error(TypeError, "DTYPE", "%s has dtype %s, expected i64 (int64)",
                       name, desc.dtype)
        n = 1
        for s in desc.shape:
            n *= s
        if n != want:
            raise tagged_error(ValueError, "PLAN", "%s has %d elements, expected %d", name, n, want)
        step = 1
        for extent, stride in zip(reversed(desc.shape), reversed(desc.strides)):
            if extent > 1 and stride != step:
                raise tagged_error(ValueError, "PLAN", "%s must be contiguous" % name)
            step *= extent


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------

class _Owned:
    """Owns one runtime object (self._handle), released by the C function
    named `_destroy` at close(), at exit of a with block, or when collected."""
    _destroy = None

    def close(self):
        if self._handle:
            getattr(self._lib, self._destroy)(self._handle)
            self._handle = ctypes.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RuntimeKernel(_Owned):
    """One loaded kernel. Use load_kernel() or load_kernel_from_memory()."""
    _destroy = "sattn_kernel_destroy"

    def __init__(self, handle):
        self._lib = runtime_library()
        self._handle = ctypes.c_void_p(handle)
        # Manifest facts never change: read them once, not per launch.
        lib = self._lib
        self._name = lib.sattn_kernel_name(self._handle).decode()
        self._heads = lib.sattn_kernel_heads(self._handle)
        self._table_names = [lib.sattn_kernel_table_name(self._handle, i).decode()
                             for i in range(lib.sattn_kernel_num_tables(self._handle))]
        # Where the manifest came from (load_kernel*: a path or its text),
        # read again only when a call needs its estimator record.
        self._manifest_source = None
        self._estimator = None
        self._block_m = lib.sattn_kernel_block_m(self._handle)
        self._block_n = lib.sattn_kernel_block_n(self._handle)

    def _estimator_record(self):
        """The manifest's estimator record ({} without one), parsed on first
        use: nsa's estimator takes a caller's compressed keys of a shape it
        gives."""
        if self._estimator is None:
            source = self._manifest_source
            if isinstance(source, str):
                with open(source, "rb") as f:
                    source = f.read()
            self._estimator = (json.loads(source).get("estimator") or {}) if source else {}
        return self._estimator

    def _h(self):
        if not self._handle:
            raise tagged_error(ValueError, "INVALID_ARGUMENT", "the kernel was closed")
        return self._handle

    @property
    def name(self):
        return self._name

    @property
    def heads(self):
        return self._heads

    @property
    def kv_heads(self):
        return self._lib.sattn_kernel_kv_heads(self._h())

    @property
    def head_dim(self):
        return self._lib.sattn_kernel_head_dim(self._h())

    @property
    def dtype(self):
        return DTYPE_NAMES[self._lib.sattn_kernel_dtype(self._h())]

    @property
    def returns_lse(self):
        return bool(self._lib.sattn_kernel_returns_lse(self._h()))

    @property
    def block_m(self):
        return self._block_m

    @property
    def block_n(self):
        return self._block_n

    @property
    def table_names(self):
        return list(self._table_names)

    def table_shape(self, table, batch, lk):
        """The shape runtime table `table` (index or name) must have."""
        index = self.table_names.index(table) if isinstance(table, str) else int(table)
        shape = (ctypes.c_int64 * 4)()
        rank = self._lib.sattn_kernel_table_shape(self._h(), index, batch, lk, shape)
        if rank < 0:
            raise tagged_error(ValueError, "TABLE", "kernel %r has no table %r", self.name, table)
        return tuple(shape[:rank])

    def __repr__(self):
        if not self._handle:
            return "RuntimeKernel(closed)"
        return "RuntimeKernel(%r, %s, heads=%d, kv_heads=%d, head_dim=%d)" % (
            self.name, self.dtype, self.heads, self.kv_heads, self.head_dim)

    def build_plan(self, batch, lq, lk, tables=()):
        """Builds the tile plan for (batch, lq, lk) on the host with the runtime's
        planner (the compiler's), from the manifest's mask program. `tables`: the
        kernel's runtime tables (a sequence in manifest order or a dict by name)
        as torch tensors on any device, NumPy arrays or nested lists; they are
        converted to CPU int64 contiguous copies. Returns a HostPlan."""
        names = self._table_names
        host = [_host_table(_tables.label(names, i), t)
                for i, t in enumerate(_tables.ordered(self._name, names, tables))]
        packed = b"".join(_TENSOR.pack(addr, DTYPES["i64"], len(shape), *shape,
                                       *_PADS[len(shape)], *strides, *_PADS[len(shape)])
                          for _, addr, shape, strides in host)
        descriptors = (CTensor * len(host)).from_buffer_copy(packed) if host else None
        handle = ctypes.c_void_p()
        check(self._lib.sattn_plan_build(
            self._h(), int(batch), int(lq), int(lk),
            ctypes.addressof(descriptors) if host else None, len(host), ctypes.byref(handle)))
        return HostPlan(self._lib, handle.value, int(batch), self._heads)

    def device_plan_workspace(self, batch, lq, lk):
        """Bytes of device workspace build_device_plan needs for (batch, lq, lk)."""
        size = ctypes.c_size_t()
        check(self._lib.sattn_device_plan_workspace(self._h(), int(batch), int(lq), int(lk),
                                                    ctypes.byref(size)))
        return size.value

    def build_device_plan(self, batch, lq, lk, tables=(), workspace=None, stream=None):
        """Builds the tile plan for (batch, lq, lk) on the GPU with the kernel's
        generated plan builder (docs/DEVICE_PLANS.md), asynchronously on `stream`
        (None: PyTorch's current stream). `tables`: the kernel's runtime tables
        as CUDA int64 tensors. `workspace`: a CUDA uint8 tensor of at least
        device_plan_workspace(...) + 256 bytes, allocated when None; pass the same
        one again to plan without allocating (as under CUDA graph capture).
        Returns a Plan whose buffers are views into the workspace."""
        import torch
        names = self._table_names
        tables = _tables.ordered(self._name, names, tables)
        need = self.device_plan_workspace(batch, lq, lk) + 256
        if workspace is None:
            device = tables[0].device if tables else torch.device("cuda")
            workspace = torch.empty(need, dtype=torch.uint8, device=device)
        elif workspace.dtype != torch.uint8 or workspace.numel() < need:
            raise tagged_error(ValueError, "INVALID_ARGUMENT",
                               "the workspace must be a uint8 tensor of at least %d bytes", need)
        base = workspace.data_ptr()
        aligned = (base + 255) // 256 * 256
        descriptors, table_args = _table_descriptors(names, tables)
        out = CPlan()
        self._on_device(list(tables) + [workspace], lambda handle: check(
            self._lib.sattn_device_plan_build(
                self._h(), int(batch), int(lq), int(lk), *table_args,
                aligned, workspace.numel() - (aligned - base), ctypes.c_void_p(handle),
                ctypes.byref(out))), stream)
        del descriptors  # alive until here: table_args holds its address

        def view(address, count, shape):
            start = address - base
            return workspace[start:start + 8 * count].view(torch.int64).view(shape)

        t = out.num_query_tiles
        return Plan(view(out.segments, 7 * out.num_segments, (out.num_segments, 7)),
                    view(out.offsets, out.num_classes * (t + 1), (out.num_classes, t + 1)),
                    view(out.class_index, int(batch) * self._heads, (int(batch), self._heads)),
                    num_query_tiles=t, block_m=out.block_m, block_n=out.block_n,
                    num_segments=out.num_segments, num_classes=out.num_classes)

    # The compiled estimator of a dynamic mask (sattn._estimator).
    estimator_table = property(_estimator.table_index, doc="index of the estimated table")
    estimator_weights = property(
        _estimator.weights_shape,
        doc="(H, 4 * head_dim, hidden) of the learned weights a gate estimator reads, or None")

    estimate = _estimator.estimate
    estimator_workspace = _estimator.workspace_bytes

    # The backward pass of kernels compiled with --backward (sattn._backward),
    # the block maxima of kernels compiled with block_max (sattn._block_max).
    has_backward = property(_backward.has_backward, doc="compiled with --backward")
    validate_backward, launch_backward = _backward.validate, _backward.launch
    backward, run_backward = _backward.backward, _backward.run
    has_block_max = property(_block_max.has_block_max, doc="compiled with block_max")
    validate_block_max, launch_block_max = _block_max.validate, _block_max.launch

    @staticmethod
    def _packed(named):
        """(buffer to keep alive, addresses) of descriptors of [(name, t)]."""
        buffer = (CTensor * len(named)).from_buffer_copy(
            b"".join(_pack(name, t) for name, t in named))
        base = ctypes.addressof(buffer)
        return buffer, [base + i * _TENSOR.size for i in range(len(named))]

    def _descriptors(self, q, k, v, o, lse, tables):
        """The sattn_tensor descriptors of a call, packed into one buffer
        (building ctypes structures field by field would cost more than the
        launch itself): (buffer, addresses of q, k, v, o, lse or None,
        (address of the tables or None, their count))."""
        packed = [_pack("q", q), _pack("k", k), _pack("v", v), _pack("o", o)]
        if lse is not None:
            packed.append(_pack("lse", lse))
        first_table = len(packed)
        packed.extend(_pack(_tables.label(self._table_names, i), t) for i, t in enumerate(tables))
        buffer = (CTensor * len(packed)).from_buffer_copy(b"".join(packed))
        base, size = ctypes.addressof(buffer), _TENSOR.size
        io = (base, base + size, base + 2 * size, base + 3 * size,
              base + 4 * size if lse is not None else None)
        return buffer, io, (base + first_table * size if tables else None, len(tables))

    def _plan_argument(self, plan, batch, checks):
        """(the sattn_plan * argument, what must stay alive) for a DevicePlan,
        a Plan or a dict of Plan's arguments. A Plan's buffer checks are
        queued on `checks`."""
        if isinstance(plan, DevicePlan):
            return plan.pointer(), [plan]
        if plan is None:
            raise tagged_error(ValueError, "PLAN", "a plan is required (sattn.runtime.Plan)")
        if isinstance(plan, dict):
            plan = Plan(**plan)
        c_plan = CPlan(
            _plan_buffer("plan.segments", plan.segments, 7 * plan.num_segments, checks),
            plan.num_segments,
            _plan_buffer("plan.offsets", plan.offsets,
                         plan.num_classes * (plan.num_query_tiles + 1), checks),
            plan.num_classes,
            _plan_buffer("plan.class_index", plan.class_index, batch * self._heads, checks),
            plan.num_query_tiles, plan.block_m, plan.block_n)
        buffers = [b for b in (plan.segments, plan.offsets, plan.class_index)
                   if b is not None and not isinstance(b, int)]
        return ctypes.byref(c_plan), [c_plan] + buffers

    def _arguments(self, q, k, v, o, lse, plan, tables):
        """C arguments for sattn_validate / sattn_launch without the stream,
        every object they point into (to keep alive), and the plan-buffer
        checks of a Plan."""
        tables = _tables.ordered(self._name, self._table_names, tables)
        buffer, io, table_args = self._descriptors(q, k, v, o, lse, tables)
        checks = []
        batch = q.shape[0] if len(q.shape) else 0
        plan_arg, plan_keep = self._plan_argument(plan, batch, checks)
        keep = [q, k, v, o, lse, buffer] + tables + plan_keep
        return io + (plan_arg,) + table_args, keep, checks

    def _check_plan(self, args, checks):
        """The binding's plan-buffer checks; when one fails, a more basic
        error the runtime finds (a wrong shape, say) is reported instead."""
        try:
            _check_plan_buffers(checks)
        except (TypeError, ValueError):
            check(self._lib.sattn_validate(self._h(), *args))
            raise

    def validate(self, q, k, v, o, lse=None, plan=None, tables=()):
        """Checks a launch without running it (no GPU needed)."""
        args, keep, checks = self._arguments(q, k, v, o, lse, plan, tables)
        check(self._lib.sattn_validate(self._h(), *args))
        _check_plan_buffers(checks)
        del keep  # alive until here: args holds raw addresses into it

    def launch(self, q, k, v, o, lse=None, plan=None, tables=(), stream=None):
        """Launches asynchronously. q: (B, H, Lq, D), k/v: (B, KV_H, Lk, D),
        o like q (written), lse (B, H, Lq) float32 when the kernel returns
        LSE, plan: a DevicePlan (HostPlan.upload) or a Plan, tables: in
        manifest order or a {name: tensor} dict. stream: None for PyTorch's
        current stream (the default stream when no torch tensor is
        involved), a torch.cuda.Stream or a raw CUstream handle."""
        # sattn_launch validates everything itself; only the binding's own
        # checks of a Plan's buffers run first.
        args, keep, checks = self._arguments(q, k, v, o, lse, plan, tables)
        self._check_plan(args, checks)
        self._on_device(keep, lambda handle: check(
            self._lib.sattn_launch(self._h(), *args, ctypes.c_void_p(handle))), stream)

    def run(self, q, k, v, o, lse, tables, plan_for, block_max=None):
        """A kernel call, the path `sattn.Kernel` takes through the torch op:
        the descriptors are packed once; the runtime validates them against
        a stand-in plan (the right tile count, addresses nothing reads) so
        that bad input fails with its message before any plan is built;
        then, in the tensors' device context, plan_for(batch, lq, lk,
        stream, table_args) returns the plan (an object whose pointer() is
        the sattn_plan *: a DevicePlan, say) and the kernel is launched on
        PyTorch's current stream. plan_for gets that stream's raw handle
        and the packed table descriptors (address or None, count), to build
        a device plan on the launch's stream. An empty problem (B or Lq = 0)
        only validates. tables: in manifest order. block_max: None, or the
        (row_max, block_max) of a kernel compiled with block_max, which then
        runs through sattn_launch_block_max (sattn._block_max)."""
        buffer, io, table_args = self._descriptors(q, k, v, o, lse, tables)
        validate, launch = self._lib.sattn_validate, self._lib.sattn_launch
        outputs, at = None, ()
        if block_max is not None:
            outputs, at = self._packed(list(zip(("row_max", "block_max"), block_max)))
            validate, launch = self._lib.sattn_validate_block_max, self._lib.sattn_launch_block_max
        lq = int(q.shape[2]) if len(q.shape) == 4 else 0
        stand_in = CPlan(None, 0, 8, 1, 8, -(-lq // self._block_m), self._block_m, self._block_n)
        check(validate(self._h(), *io, *at, ctypes.byref(stand_in), *table_args))
        batch, lk = int(q.shape[0]), int(k.shape[2])
        if batch == 0 or lq == 0:
            return

        def plan_and_launch(handle):
            plan = plan_for(batch, lq, lk, handle, table_args)
            check(launch(self._h(), *io, *at, plan.pointer(), *table_args,
                         ctypes.c_void_p(handle)))
        self._on_device([q, k, v, o, lse] + list(block_max or ()) + list(tables),
                        plan_and_launch, None)
        del buffer, outputs  # alive until here: io and at hold raw addresses into them

    @staticmethod
    def _on_device(objects, call, stream):
        """call(stream handle) in the CUDA context of the torch tensors among
        `objects` (all on one device), as PyTorch's own kernels run; without
        torch tensors, in the current context on `stream` (default 0)."""
        torch_tensors = [t for t in objects if _is_torch(t)]
        if not torch_tensors:
            return call(_stream_handle(stream))
        import torch
        index = torch_tensors[0].get_device()
        for t in torch_tensors[1:]:
            if t.get_device() != index:
                raise tagged_error(ValueError, "INVALID_ARGUMENT",
                                   "all tensors must be on one device: found %s and %s",
                                   torch_tensors[0].device, t.device)
        if stream is None:
            raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # what Triton uses
            handle = raw(index) if raw else torch.cuda.current_stream(index).cuda_stream
        else:
            handle = _stream_handle(stream)
        # Switch devices only when needed: the switch costs more than the launch.
        if index == torch.cuda.current_device():
            return call(handle)
        with torch.cuda.device(index):
            return call(handle)


def _host_table(name, t):
    """(owner, address, shape, strides) of a CPU int64 contiguous copy of `t`:
    a torch tensor on any device, a NumPy array or nested lists of ints. The
    owner keeps the memory alive."""
    if _is_torch(t):
        import torch
        c = t.detach().to(device="cpu", dtype=torch.int64).contiguous()
        return c, c.data_ptr(), tuple(c.shape), tuple(c.stride())
    if type(t).__module__ == "numpy":
        import numpy
        c = numpy.ascontiguousarray(t, dtype=numpy.int64)
        return (c, c.ctypes.data, c.shape, tuple(s // 8 for s in c.strides))
    if isinstance(t, (list, tuple)):
        shape, flat = [], []

        def walk(x, depth):
            if isinstance(x, (list, tuple)):
                if len(shape) == depth:
                    shape.append(len(x))
                elif shape[depth] != len(x):
                    raise tagged_error(ValueError, "TABLE", "%s is a ragged nested list", name)
                for y in x:
                    walk(y, depth + 1)
            else:
                if len(shape) != depth:
                    raise tagged_error(ValueError, "TABLE", "%s is a ragged nested list", name)
                flat.append(int(x))
        walk(t, 0)
        if len(shape) > 4:
            raise tagged_error(ValueError, "TABLE", "%s has rank %d; tables have at most 4", name,
                       len(shape))
        buf = array.array("q", flat)
        addr = buf.buffer_info()[0] if flat else 0
        strides, step = [], 1
        for extent in reversed(shape):
            strides.insert(0, step)
            step *= extent
        return buf, addr, tuple(shape), tuple(strides)
    raise tagged_error(TypeError, "INVALID_ARGUMENT", "%s must be a torch tensor, a NumPy array or "
               "nested lists of ints, not %s", name, type(t).__name__)


class HostPlan(_Owned):
    """A tile plan built on the host by the runtime (RuntimeKernel.build_plan).
    Its buffers are read as array('q') lists; to_torch() copies them to the
    device as the Plan that launch() takes."""
    _destroy = "sattn_host_plan_destroy"

    def __init__(self, lib, handle, batch, heads):
        self._lib, self._handle = lib, ctypes.c_void_p(handle)
        self._batch, self._heads = batch, heads
        view = CPlan()
        lib.sattn_host_plan_view(self._handle, ctypes.byref(view))
        self._view = view
        visited, dense = ctypes.c_int64(), ctypes.c_int64()
        lib.sattn_host_plan_stats(self._handle, ctypes.byref(visited), ctypes.byref(dense))
        self.visited_tiles, self.dense_tiles = visited.value, dense.value
        self.num_query_tiles = view.num_query_tiles
        self.num_classes = view.num_classes
        self.num_segments = view.num_segments
        self.block_m, self.block_n = view.block_m, view.block_n

    def __repr__(self):
        return ("HostPlan(%d segments, %d classes, %d query tiles, %dx%d tiles, "
                "%d of %d tiles visited)" % (self.num_segments, self.num_classes,
                                             self.num_query_tiles, self.block_m, self.block_n,
                                             self.visited_tiles, self.dense_tiles))

    def _handle_or_raise(self):
        if not self._handle:
            raise tagged_error(ValueError, "INVALID_ARGUMENT", "the plan was closed")
        return self._handle

    def _buffer(self, address, count):
        """The int64 buffer at `address` as a ctypes array (no copy)."""
        self._handle_or_raise()
        if count == 0:
            return (ctypes.c_int64 * 0)()
        return (ctypes.c_int64 * count).from_address(address)

    def _sizes(self):
        return (7 * self.num_segments, self.num_classes * (self.num_query_tiles + 1),
                self._batch * self._heads)

    def segments(self):
        """num_segments x 7 values, row-major: segment rows [kind, full, lo, hi,
        start, period, width], then the key pool that List segments (kind 2)
        index with lo, hi (docs/KERNEL_ABI.md)."""
        return array.array("q", self._buffer(self._view.segments, self._sizes()[0]))

    def offsets(self):
        return array.array("q", self._buffer(self._view.offsets, self._sizes()[1]))

    def class_index(self):
        return array.array("q", self._buffer(self._view.class_index, self._sizes()[2]))

    def to_torch(self, device="cuda"):
        """The Plan for launch(): int64 tensors on `device` (copies)."""
        import torch
        addresses = (self._view.segments, self._view.offsets, self._view.class_index)
        shapes = ((self.num_segments, 7), (self.num_classes, self.num_query_tiles + 1),
                  (self._batch, self._heads))
        tensors = []
        for address, count, shape in zip(addresses, self._sizes(), shapes):
            if count == 0:
                tensors.append(torch.empty(shape, dtype=torch.int64, device=device))
                continue
            host = torch.frombuffer(self._buffer(address, count), dtype=torch.int64)
            tensors.append(host.reshape(shape).to(device, copy=True))
        return Plan(*tensors, num_query_tiles=self.num_query_tiles, block_m=self.block_m,
                    block_n=self.block_n, num_segments=self.num_segments,
                    num_classes=self.num_classes)

    def upload(self):
        """The plan in device memory (sattn_plan_upload, in the current CUDA
        context), as the DevicePlan that launch() and run() take."""
        handle = ctypes.c_void_p()
        check(self._lib.sattn_plan_upload(self._handle_or_raise(), ctypes.byref(handle)))
        return DevicePlan(self._lib, handle.value)


class DevicePlan(_Owned):
    """A tile plan the runtime uploaded (HostPlan.upload); freed with close()
    or when collected."""
    _destroy = "sattn_device_plan_destroy"

    def __init__(self, lib, handle):
        self._lib, self._handle = lib, ctypes.c_void_p(handle)
        view = lib.sattn_device_plan_get(self._handle).contents
        self.num_query_tiles, self.num_classes = view.num_query_tiles, view.num_classes
        self.num_segments = view.num_segments
        self.block_m, self.block_n = view.block_m, view.block_n

    def pointer(self):
        """The `const sattn_plan *` the C launch takes."""
        if not self._handle:
            raise tagged_error(ValueError, "INVALID_ARGUMENT", "the plan was closed")
        return self._lib.sattn_device_plan_get(self._handle)

    def __repr__(self):
        return "DevicePlan(%d segments, %d classes, %d query tiles, %dx%d tiles)" % (
            self.num_segments, self.num_classes, self.num_query_tiles, self.block_m,
            self.block_n)


def _stream_handle(stream):
    if stream is None:
        return 0
    if isinstance(stream, int):
        return stream
    handle = getattr(stream, "cuda_stream", None)
    if handle is None:
        raise tagged_error(TypeError, "INVALID_ARGUMENT",
                   "stream must be None, an int CUstream or a torch.cuda.Stream")
    return int(handle)


def load_kernel(manifest_path):
    """Loads NAME.json and the NAME.cubin / NAME.ptx beside it."""
    lib = runtime_library()
    handle = ctypes.c_void_p()
    check(lib.sattn_kernel_load_file(os.fsencode(manifest_path), ctypes.byref(handle)))
    kernel = RuntimeKernel(handle.value)
    kernel._manifest_source = os.fsdecode(manifest_path)
    return kernel


def load_kernel_from_memory(manifest_json, image):
    """Loads a kernel from its manifest text and its PTX (str) or cubin (bytes)."""
    lib = runtime_library()
    if isinstance(manifest_json, str):
        manifest_json = manifest_json.encode()
    if isinstance(image, str):
        image = image.encode()
    handle = ctypes.c_void_p()
    buf = ctypes.create_string_buffer(image, len(image))
    check(lib.sattn_kernel_load(manifest_json, buf, len(image), ctypes.byref(handle)))
    kernel = RuntimeKernel(handle.value)
    kernel._manifest_source = manifest_json
    return kernel
