"""`Kernel`: a compiled sattn kernel callable on PyTorch CUDA tensors.

Metadata comes from the manifest alone, so a Kernel can be inspected (and
used with `sattn.reference`) on machines without torch, a GPU or
libsattn_runtime; the runtime library is opened at the first launch or plan.

Calls go through the custom op ``torch.ops.sattn.attention`` (see
`sattn._torch_op`), so ``torch.compile(model, fullgraph=True)`` sees one opaque
op per call.

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

from .mask_program import MaskProgram, table_extents

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
            _torch_ops()
        existing = _KERNELS.get(key)
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
        with _KERNELS_LOCK:
            _KERNELS[key] = self
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
                from . import runtime
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
        """A `runtime.Plan` on `device`, from the plan cache (module docstring)."""
        host_tables = [_host_int64(t) for t in tables]
        key = _PlanCache.key(device, batch, lq, lk, host_tables)
        return self._plans.get(
            key, lambda: self.host_plan(batch, lq, lk, host_tables).to_torch(device))

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
        names = self._table_names
        if tables is None:
            tables = {} if names else []
        if isinstance(tables, dict):
            unknown = [n for n in tables if n not in names]
            if unknown:
                raise ValueError("kernel %r has no table(s) %s; its tables are %s"
                                 % (self.name, ", ".join(unknown), list(names)))
            missing = [n for n in names if n not in tables]
            if missing:
                raise ValueError("kernel %r needs table(s) %s"
                                 % (self.name, ", ".join(missing)))
            return [tables[n] for n in names]
        return list(tables)

    def __call__(self, q, k, v, tables=None, scale=None):
        # torch.compile traces this: module globals and plain attributes only.
        self.check_scale(scale)
        if _attention_op is None:
            _torch_ops()
        _check_tensor("q", q)
        _check_tensor("k", k)
        _check_tensor("v", v)
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        o, lse = _attention_op(self.key, q, k, v, table_list)
        return (o, lse) if self._returns_lse else o

    def reference(self, q, k, v, tables=None):
        """Dense masked attention in fp32 for this kernel (see sattn.reference)."""
        from .reference import reference
        return reference(self, q, k, v, tables=tables)


# The kernels the custom op can run, by Kernel.key (the manifest's real path).
# Kernels stay loaded for the life of the process.
_KERNELS = {}
_KERNELS_LOCK = threading.Lock()
# From sattn._torch_op, set once torch is in use.
_attention_op = _check_tensor = _as_table = None


def kernel_for_key(key):
    kernel = _KERNELS.get(key)
    if kernel is None:
        raise ValueError("no sattn kernel %r is loaded in this process; load it with "
                         "sattn.load or sattn.compile before running the graph" % key)
    return kernel


def _torch_ops():
    global _attention_op, _check_tensor, _as_table
    from . import _torch_op
    _check_tensor, _as_table = _torch_op.check_tensor, _torch_op.as_table
    _attention_op = _torch_op.attention


def _stamp(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)
