"""`Kernel`: a compiled sattn kernel callable on PyTorch CUDA tensors.

Metadata comes from the manifest alone, so a Kernel can be inspected (and
used with `sattn.reference`) on machines without torch, a GPU or
libsattn_runtime; the runtime library is opened at the first launch or plan.

A call takes one path: ``Kernel.__call__`` -> the custom op
``torch.ops.sattn.attention`` (`sattn._torch_op`, so that
``torch.compile(model, fullgraph=True)`` sees one opaque op per call) ->
``Kernel.run`` -> ``RuntimeKernel.run`` (sattn.runtime): the runtime validates
the arguments, the plan comes from the plan cache below (built and uploaded by
the runtime on a miss), and the runtime launches.

Tile plans. A plan depends on (batch, Lq, Lk) and on the contents of the
kernel's runtime tables. Device plans are cached per Kernel in a small LRU
keyed by (device, batch, Lq, Lk) plus, for kernels with tables, a BLAKE2b
hash of the tables' bytes. Tables must be read on the host to plan anyway
(the planner reads them), so hashing the host copy costs little next to
re-planning and re-uploading; unchanged tables (the usual case across the
layers of one step) reuse the plan. The host copy synchronises with the
current stream, so calls with tables cannot be captured in CUDA graphs;
calls without tables only plan on a cache miss.
"""

import collections
import hashlib
import json
import os
import sys
import threading

from . import _dense, _registry, runtime
from .mask_program import MaskProgram, table_extents
from .tables import ordered as ordered_tables

__all__ = ["Kernel"]

_TORCH_DTYPES = {"bf16": "bfloat16", "f16": "float16"}


class _PlanCache:
    """An LRU of device plans. `build(tables_on_host)` makes one on a miss."""

    def __init__(self, capacity=32):
        self.capacity = capacity
        self._plans = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(device, batch, lq, lk, host_tables):
        digest = None
        if host_tables:
            h = hashlib.blake2b(digest_size=16)
            for t in host_tables:
                h.update(repr(tuple(t.shape)).encode())
                h.update(memoryview(t.reshape(-1)).cast("B"))
            digest = h.hexdigest()
        return (str(device), int(batch), int(lq), int(lk), digest)

    def get(self, key, build):
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                self.hits += 1
                return plan
        plan = build()
        with self._lock:
            self.misses += 1
            self._plans[key] = plan
            while len(self._plans) > self.capacity:
                self._plans.popitem(last=False)
        return plan

    def clear(self):
        with self._lock:
            self._plans.clear()


def _host_int64(t):
    """A contiguous int64 NumPy copy of a table (torch tensor on any device,
    or array-like)."""
    import numpy
    if type(t).__module__.startswith("torch"):
        t = t.detach().to("cpu").numpy()
    return numpy.ascontiguousarray(numpy.asarray(t), dtype=numpy.int64)


class Kernel:
    """A compiled kernel. Get one from `sattn.compile` or `sattn.load`.

    ``kernel(q, k, v, tables=None, scale=None)``: q (B, H, Lq, D), k and v
    (B, KV_H, Lk, D), CUDA tensors of the kernel's dtype, Lq <= Lk (query row i
    sits at absolute position i + Lk - Lq). Returns o (B, H, Lq, D), and
    ``(o, lse)`` with lse (B, H, Lq) float32 when the spec says
    ``return_lse = true``. Runs on PyTorch's current stream.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("use sattn.compile(spec) or sattn.load(path) to get a Kernel")

    @classmethod
    def _from_manifest(cls, manifest_path):
        key = os.path.realpath(manifest_path)
        if _attention_op is None and "torch" in sys.modules:  # before torch.compile traces __call__
            try:
                _bind_torch_op()
            except ImportError:
                pass  # a torch too old for the op: calls say so; references still work
        existing = _registry.get(key)
        if existing is not None and existing._stamp == _stamp(key):
            return existing
        with open(key, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("format") != "sattn.kernel-manifest/1":
            raise ValueError("%s is not a sattn kernel manifest (format %r)"
                             % (key, manifest.get("format")))
        self = object.__new__(cls)
        self.manifest_path, self.manifest, self._stamp = key, manifest, _stamp(key)
        self.key = key
        # What __call__ reads, as plain attributes (cheap for torch.compile guards).
        self._table_names = tuple(t["name"] for t in manifest["tables"])
        self._returns_lse = bool(manifest["return_lse"])
        self._runtime = None
        self._runtime_lock = threading.Lock()
        self._plans = _PlanCache()
        self._mask_program = None
        _registry.add(key, self)
        return self

    # -- manifest facts ------------------------------------------------------
    name = property(lambda self: self.manifest["name"])
    heads = property(lambda self: self.manifest["heads"])
    kv_heads = property(lambda self: self.manifest["kv_heads"])
    head_dim = property(lambda self: self.manifest["head_dim"])
    dtype = property(lambda self: self.manifest["dtype"], doc='"bf16" or "f16"')
    scale = property(lambda self: self.manifest["scale"], doc="softmax scale (compiled in)")
    returns_lse = property(lambda self: self._returns_lse)
    block_m = property(lambda self: self.manifest["block_m"])
    block_n = property(lambda self: self.manifest["block_n"])
    target = property(lambda self: self.manifest["target"])
    table_names = property(lambda self: list(self._table_names))

    @property
    def mask_program(self):
        """The compiled mask (`MaskProgram`), for references."""
        if self._mask_program is None:
            if "mask_program" not in self.manifest:
                raise ValueError("the manifest of %r carries no mask program" % self.name)
            self._mask_program = MaskProgram(self.manifest["mask_program"])
        return self._mask_program

    def table_shape(self, table, batch, lk):
        """The shape runtime table `table` (name or index) must have."""
        names = self._table_names
        index = names.index(table) if isinstance(table, str) else int(table)
        return table_extents(self.manifest["tables"][index]["dims"], self.heads, batch, lk)

    @property
    def torch_dtype(self):
        import torch
        return getattr(torch, _TORCH_DTYPES[self.dtype])

    def __repr__(self):
        return "Kernel(%r, %s, heads=%d, kv_heads=%d, head_dim=%d%s%s)" % (
            self.name, self.dtype, self.heads, self.kv_heads, self.head_dim,
            ", tables=%s" % self.table_names if self.table_names else "",
            ", return_lse" if self.returns_lse else "")

    # -- runtime -------------------------------------------------------------
    @property
    def runtime(self):
        """The `sattn.runtime.RuntimeKernel` (libsattn_runtime), loaded once."""
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = runtime.load_kernel(self.manifest_path)
            return self._runtime

    def host_plan(self, batch, lq, lk, tables=()):
        """The tile plan for one problem size (a runtime HostPlan on the host)."""
        build = getattr(self.runtime, "build_plan", None)
        if build is None:
            raise RuntimeError("sattn.runtime.RuntimeKernel has no build_plan: this runtime "
                               "binding cannot build tile plans (it needs the runtime planner)")
        return build(batch, lq, lk, tables=tables)

    def device_plan(self, device, batch, lq, lk, tables=()):
        """The `runtime.DevicePlan` for one problem on `device` (the current
        CUDA context must be that device's), from the plan cache (module
        docstring): built on the host and uploaded by the runtime on a miss."""
        host_tables = [_host_int64(t) for t in tables]
        key = _PlanCache.key(device, batch, lq, lk, host_tables)
        return self._plans.get(key, lambda: self.host_plan(batch, lq, lk, host_tables).upload())

    def run(self, q, k, v, o, lse, tables):
        """Runs the kernel into o (and lse): what the custom op does with a
        call (tables in manifest order, lse None unless the kernel returns
        it). See `runtime.RuntimeKernel.run`."""
        self.runtime.run(q, k, v, o, lse, tables, lambda batch, lq, lk: self.device_plan(
            q.device, batch, lq, lk, tables))

    def check_scale(self, scale):
        """None, or the compiled-in scale; anything else is a ValueError."""
        if scale is None:
            return
        try:
            scale = float(scale)
        except (TypeError, ValueError):
            raise TypeError("scale must be a number or None, not %s" % type(scale).__name__)
        # (not math.isclose: this runs inside torch.compile traces)
        if not abs(scale - self.scale) <= 1e-6 * abs(self.scale):
            raise ValueError(
                "kernel %r has its softmax scale fixed at compile time (%r); got scale=%r. "
                "Leave scale=None or set `scale = %r` in the spec and compile again"
                % (self.name, self.scale, scale, scale))

    def table_list(self, tables):
        """Runtime tables in manifest order, from None, a sequence or a
        {name: table} dict."""
        return ordered_tables(self.name, self._table_names, tables)

    def __call__(self, q, k, v, tables=None, scale=None):
        # torch.compile traces this: module globals and plain attributes only.
        self.check_scale(scale)
        if _attention_op is None:
            _bind_torch_op()
        _check_tensor("q", q)
        _check_tensor("k", k)
        _check_tensor("v", v)
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        o, lse = _attention_op(self.key, q, k, v, table_list)
        return (o, lse) if self._returns_lse else o

    def reference(self, q, k, v, tables=None, scale=None, chunk_elements=1 << 24):
        """Dense masked attention in fp32 for this kernel (see sattn.reference)."""
        prog = self.mask_program
        return _dense.attention(prog, self.name, _dense.table_specs(prog, self.manifest["tables"]),
                                q, k, v, tables, self.scale if scale is None else scale,
                                chunk_elements)


# The custom op and its argument helpers (sattn._torch_op). torch is optional,
# so that module is imported when torch is first used: at the first call, or
# at load time once torch is imported (before torch.compile traces __call__,
# which reads these module globals). _torch_op imports nothing of this module.
_attention_op = _check_tensor = _as_table = None


def _bind_torch_op():
    global _attention_op, _check_tensor, _as_table
    from . import _torch_op
    _check_tensor, _as_table = _torch_op.check_tensor, _torch_op.as_table
    _attention_op = _torch_op.attention


def _stamp(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)
