"""`Kernel`: a compiled sattn kernel callable on PyTorch CUDA tensors.

Metadata comes from the manifest alone, so a Kernel can be inspected (and
used with `sattn.reference`) on machines without torch, a GPU or
libsattn_runtime; the runtime library is opened at the first launch or plan.

A call takes one path: ``Kernel.__call__`` -> the custom op
``torch.ops.sattn.attention`` (`sattn._torch_op`, so that
``torch.compile(model, fullgraph=True)`` sees one opaque op per call) ->
``Kernel.run`` -> ``RuntimeKernel.run`` (sattn.runtime): the runtime validates
the arguments, the call gets its tile plan (below), and the runtime launches
on PyTorch's current stream.

Tile plans depend on (batch, Lq, Lk) and on the contents of the kernel's
runtime tables. `Kernel.plans` says where a call's plan is built:

- "device": on the GPU, by the plan builder compiled into the kernel
  (docs/DEVICE_PLANS.md), inside the op on the current stream, into a
  workspace allocated per call with torch.empty (PyTorch's caching allocator:
  cheap, stream-ordered, safe under CUDA graph capture). Tables are never
  copied to the host and nothing waits, so a call with tables can be
  captured in a CUDA graph and replayed with new table contents.
- "host": by the runtime's host planner (`host_plan`), uploaded and cached
  per Kernel in a small LRU keyed by (device, batch, Lq, Lk) plus, for
  kernels with tables, a BLAKE2b hash of the tables' bytes (the planner reads
  a host copy of the tables anyway; that copy synchronises with the current
  stream, so such calls cannot be captured in CUDA graphs). Host plans can
  use gathered key lists (strided and sparse-column patterns), which device
  plans do not have yet.
- "auto" (the default): "device" for kernels that have runtime tables and a
  plan builder (a "device_plan" record in the manifest), "host" otherwise: a
  kernel without tables needs one plan per shape, which the cache builds once.

Training: calls of a kernel compiled with a backward pass (``sattn.compile(spec,
backward=True)``, `Kernel.has_backward`) are differentiable. Autograd runs the
custom op ``torch.ops.sattn.attention_backward`` (`Kernel.backward`) over the
plan the forward used (found or built the same way) and the tables it read;
dQ, dK and dV come back in the inputs' dtypes. LSE carries no gradient. A
kernel without a backward pass says so when autograd reaches it.

``kernel.plan(q, k, tables)`` builds a device plan once (the custom op
``torch.ops.sattn.device_plan``, traceable too) for calls that share it,
e.g. the layers of one step: ``kernel(q, k, v, tables, plan=plan)`` launches
without planning.
"""

import collections
import hashlib
import json
import os
import sys
import threading

from . import _block_max, _dense, _estimator, _nsa, _registry, _workspace_plans, runtime
from .mask_program import MaskProgram, table_extents
from .tables import ordered as ordered_tables

__all__ = ["Kernel", "KernelPlan"]

_TORCH_DTYPES = {"bf16": "bfloat16", "f16": "float16"}
PLAN_CHOICES = ("auto", "device", "host")


class KernelPlan(collections.namedtuple("KernelPlan", "kernel workspace batch lq lk")):
    """A device plan from `Kernel.plan`: `workspace` (a uint8 CUDA tensor
    holding it) for `kernel` (a Kernel.key) and the problem (batch, lq, lk)
    it was built for. Pass it as ``plan=`` to calls of that problem; build
    a new one when the tables change. A named tuple, so that torch.compile
    traces through building and passing it."""
    __slots__ = ()


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

    ``kernel(q, k, v, tables=None, scale=None, plan=None, *, weights=None)``:
    q (B, H, Lq, D), k and v (B, KV_H, Lk, D), CUDA tensors of the kernel's
    dtype, Lq <= Lk (query row i sits at absolute position i + Lk - Lq).
    Returns o (B, H, Lq, D), and ``(o, lse)`` with lse (B, H, Lq) float32
    when the spec says ``return_lse = true``. Runs on PyTorch's current
    stream. plan: a `KernelPlan` from ``kernel.plan(q, k, tables)`` for this
    problem, to launch without planning; None plans as `plans` says.
    weights: the learned weights of a gate (SeerAttention's AttnGate,
    `estimator_weights`), read when the call estimates its table: the pair
    (wq, wk), wq (H, D, F) and wk (H, 3D, F), or one (H, 4D, F) tensor, any
    floating dtype; a kernel whose mask is a gate needs them unless the call
    passes the estimated table, and other kernels refuse them.
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
        self._workspace_plans = None
        self._mask_program = None
        self._has_builder = "device_plan" in manifest
        self._has_backward = "backward" in manifest  # sattn-compile --backward
        self._has_block_max = bool(manifest.get("block_max", False))
        # The table a compiled estimator writes (docs/ESTIMATORS.md), if any,
        # and the shape of the learned weights it reads (a gate's; None for
        # the other estimators): calls check their weights against it
        # without the runtime.
        estimator = manifest.get("estimator", {})
        self._estimated_table = estimator.get("table")
        self._weights_shape = ((manifest["heads"], 4 * manifest["head_dim"], estimator["hidden"])
                               if estimator.get("kind") == "gate" else None)
        # nsa's estimator takes a caller's compressed keys as its weights.
        self._nsa_estimator = estimator.get("kind") == "nsa"
        self.plans = "auto"
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
    has_backward = property(lambda self: self._has_backward,
                            doc="compiled with a backward pass (sattn.compile(backward=True))")
    has_block_max = property(lambda self: self._has_block_max,
                             doc="compiled with block_max = true (call kernel.block_max)")

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
    def plans(self):
        """Where calls build their tile plans: "auto" (the default), "device"
        or "host" (module docstring). Settable; a kernel is shared by every
        `sattn.load` / `sattn.compile` of its manifest in this process, so
        the setting is too."""
        return self._plan_choice

    @plans.setter
    def plans(self, choice):
        if choice not in PLAN_CHOICES:
            raise ValueError("plans must be one of %s, not %r"
                             % (", ".join(repr(c) for c in PLAN_CHOICES), choice))
        if choice == "device" and not self._has_builder:
            raise self._no_builder()
        self._plan_choice = choice
        if choice == "auto":
            choice = "device" if self._has_builder and self._table_names else "host"
        self._plan_on = choice  # what __call__ passes to the op

    def _no_builder(self):
        return ValueError(
            "kernel %r has no device plan builder (its manifest has no \"device_plan\": it "
            "was compiled by an older sattn-compile); recompile it, or plan on the host "
            "(plans=\"host\")" % self.name)

    @property
    def torch_dtype(self):
        import torch
        return getattr(torch, _TORCH_DTYPES[self.dtype])

    def __repr__(self):
        return "Kernel(%r, %s, heads=%d, kv_heads=%d, head_dim=%d%s%s%s)" % (
            self.name, self.dtype, self.heads, self.kv_heads, self.head_dim,
            ", tables=%s" % self.table_names if self.table_names else "",
            ", estimated=%r" % self._estimated_table if self._estimated_table else "",
            ", return_lse" if self.returns_lse else "")

    # -- runtime -------------------------------------------------------------
    @property
    def runtime(self):
        """The `sattn.runtime.RuntimeKernel` (libsattn_runtime), loaded once."""
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = runtime.load_kernel(self.manifest_path)
            return self._runtime

    @property
    def workspace_plans(self):
        """Device plans in torch workspaces (sattn._workspace_plans)."""
        if self._workspace_plans is None:
            self._workspace_plans = _workspace_plans.WorkspacePlans(self.runtime)
        return self._workspace_plans

    def plan_workspace_bytes(self, batch, lq, lk):
        """Bytes of the uint8 workspace a device plan of (batch, lq, lk) takes."""
        return self.workspace_plans.workspace_bytes(batch, lq, lk)

    def build_plan_workspace(self, q, k, tables):
        """What the op sattn::device_plan runs: a new uint8 workspace holding
        the device plan of q's and k's problem, built on the current stream.
        tables: in manifest order."""
        return self.workspace_plans.build_workspace(q, k, tables)

    def plan(self, q, k, tables=None):
        """Builds the device plan of the problem of q (B, H, Lq, D) and k
        (B, KV_H, Lk, D) (only their shapes and device are read) on the
        current stream and returns it as a `KernelPlan`, for
        ``kernel(q, k, v, tables, plan=plan)`` calls of the same problem and
        tables (the layers of one step, say). Works under torch.compile.
        Needs a kernel with a plan builder; tables as for a call."""
        if not self._has_builder:
            raise self._no_builder()
        if _attention_op is None:
            _bind_torch_op()
        _check_tensor("q", q)
        _check_tensor("k", k)
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        workspace = _device_plan_op(self.key, q, k, table_list)
        return KernelPlan(self.key, workspace, q.shape[0], q.shape[2], k.shape[2])

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

    def _plan_for(self, q, tables, plan, plan_on):
        """The plan_for(batch, lq, lk, stream, table_args) of a call (see
        `runtime.RuntimeKernel.run`): plan None, or a workspace that
        `build_plan_workspace` filled for this problem (launched without
        planning); otherwise the plan is built on the device
        (plan_on="device") or taken from the host plan cache (module
        docstring). The backward pass finds the forward's plan the same way."""
        if plan is not None:
            plans = self.workspace_plans

            def plan_for(batch, lq, lk, stream, table_args):
                return plans.view(batch, lq, lk, plan)
        elif plan_on == "device":
            plans = self.workspace_plans

            def plan_for(batch, lq, lk, stream, table_args):
                workspace = plans.new_workspace(batch, lq, lk, q.device)
                return plans.build(batch, lq, lk, table_args, workspace, stream)
        elif plan_on == "host":
            def plan_for(batch, lq, lk, stream, table_args):
                return self.device_plan(q.device, batch, lq, lk, tables)
        else:
            raise ValueError("plan_on must be \"device\" or \"host\", not %r" % (plan_on,))
        return plan_for

    def run(self, q, k, v, o, lse, tables, plan=None, plan_on="host"):
        """Runs the kernel into o (and lse): what the custom op does with a
        call (tables in manifest order, lse None unless the kernel returns
        it); plan and plan_on as `_plan_for` takes them."""
        self.runtime.run(q, k, v, o, lse, tables, self._plan_for(q, tables, plan, plan_on))

    def run_backward(self, q, k, v, o, lse, d_o, d_q, d_k, d_v, tables, plan=None,
                     plan_on="host", dkv_scales=None):
        """Runs the backward kernel into d_q, d_k, d_v (float32, contiguous;
        d_k and d_v int64 fixed-point sums with dkv_scales, the deterministic
        form): what the custom op sattn::attention_backward does, over the
        plan the forward call used (same plan and plan_on)."""
        self.runtime.run_backward(q, k, v, o, lse, d_o, d_q, d_k, d_v, tables,
                                  self._plan_for(q, tables, plan, plan_on),
                                  dkv_scales=dkv_scales)

    def no_backward_error(self):
        return RuntimeError(
            "kernel %r was compiled without a backward pass (sattn-compile --backward): it "
            "cannot train. Compile it with sattn.compile(spec, backward=True)" % self.name)

    def backward(self, q, k, v, o, lse, d_o, tables=None, plan=None):
        """The gradients of a forward call ``o, lse = kernel(q, k, v, tables,
        plan=plan)`` for the incoming gradient d_o of o: (dq, dk, dv), new
        float32 tensors shaped like q, k and v (dk and dv have the KV heads:
        the kernel sums each KV head's query heads); convert them to the
        inputs' dtype as needed. Pass the forward's tables and plan. Runs the
        custom op ``torch.ops.sattn.attention_backward`` on the current
        stream (works under torch.compile). Autograd does this by itself:
        ``o.backward(...)`` through a kernel call."""
        if not self._has_backward:
            raise self.no_backward_error()
        if _attention_op is None:
            _bind_torch_op()
        for name, t in (("q", q), ("k", k), ("v", v), ("o", o), ("lse", lse), ("d_o", d_o)):
            _check_tensor(name, t)
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        if plan is None:
            return _backward_op(self.key, q, k, v, o, lse, d_o.contiguous(), table_list, [],
                                self._plan_on)
        self._check_plan(plan, q, k)
        return _backward_op(self.key, q, k, v, o, lse, d_o.contiguous(), table_list,
                            [plan.workspace], "device")

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

    @property
    def estimated_table(self):
        """Name of the table the kernel's compiled estimator writes (a dynamic
        mask such as block_topk), or None."""
        return self._estimated_table

    @property
    def estimator_weights(self):
        """(H, 4 * head_dim, hidden): the shape of the learned weights the
        kernel's estimator reads (a gate's: each head's wq rows, then its wk
        rows), or None when it reads none."""
        return self._weights_shape

    def estimate(self, q, k, weights=None):
        """The kernel's compiled estimator on q and k: the estimated table
        (int64; block_topk and gate: (B, H, ceil(Lk / block), ceil(Lk /
        block)), 1 where query block I keeps key block J), computed on the
        GPU on the current stream. A call without that table estimates it
        itself; pass it as ``kernel(q, k, v, {kernel.estimated_table: t})``
        to reuse one estimate (other layers, later steps). weights: a gate's
        learned weights, as a call takes them (required for a gate, refused
        otherwise). Works under torch.compile."""
        if self._estimated_table is None:
            raise ValueError("kernel %r has no compiled estimator" % self.name)
        if _attention_op is None:
            _bind_torch_op()
        _check_tensor("q", q)
        _check_tensor("k", k)
        return _estimate_op(self.key, q, k, self._estimator_weights(q, k, weights))

    def _estimator_weights(self, q, k, weights):
        """The weights argument of the estimate op: None, a gate's weights
        as one float32 (H, 4D, F) tensor on q's device, or an nsa kernel's
        compressed keys (a caller's compression, optional) as a float32
        (B, KV, C, D) tensor. A gate without weights, and weights for any
        other kernel, are ValueErrors that say what to pass."""
        shape = self._weights_shape
        nsa_shape = _nsa.compressed_keys_shape(
            self.manifest.get("estimator"), q.shape[0], self.manifest["kv_heads"], k.shape[2],
            self.manifest["head_dim"])
        if nsa_shape is not None:
            return (None if weights is None else
                    _estimator.as_compressed_keys(self.name, weights, nsa_shape, q.device))
        if shape is None:
            if weights is not None:
                raise self._no_weights_error()
            return None
        if weights is None:
            heads, rows, hidden = shape
            raise ValueError(
                "the gate estimator of kernel %r needs its learned weights: pass weights=(wq, wk) "
                "with wq (H, D, F) = %s and wk (H, 3D, F) = %s (or one (H, 4D, F) = %s tensor), "
                "as in kernel(q, k, v, weights=(wq, wk)) or kernel.estimate(q, k, weights=(wq, "
                "wk)); or pass the estimated table %r in tables"
                % (self.name, (heads, rows // 4, hidden), (heads, 3 * rows // 4, hidden), shape,
                   self._estimated_table))
        return _estimator.as_weights(self.name, weights, shape, q.device)

    def _no_weights_error(self):
        return ValueError(
            "kernel %r takes no weights: weights= is for kernels whose mask is a gate "
            "(SeerAttention's AttnGate), whose estimator reads them" % self.name)

    def _with_estimate(self, q, k, tables, weights=None):
        """`tables` with the estimated table filled in when the call does not
        give it (None, or a dict without it), estimated with `weights` (a
        gate's)."""
        name = self._estimated_table
        if tables is None:
            tables = {}
        if isinstance(tables, dict) and name not in tables:
            tables = dict(tables)
            tables[name] = _estimate_op(self.key, q, k, self._estimator_weights(q, k, weights))
        return tables

    def block_max(self, q, k, v, tables=None):
        """A call of a kernel compiled with ``block_max = true``
        (docs/KERNEL_ABI.md, "Block maxima"): (o, block_max), or (o, lse,
        block_max) when it returns LSE. block_max is float32 (B, H, T, N),
        T = ceil(Lq / block_m) query tiles by N = ceil(Lk / block_n) KV
        tiles: the largest attention probability of each tile's kept pairs,
        0 where there is none; `sattn._block_max.normalized` makes each query
        tile's row a distribution (a block gate's training target). Runs
        eagerly on the current stream with a float32 (B, H, N, Lq) scratch
        from PyTorch's allocator; not differentiable (it is a target), not
        a torch.compile op."""
        import torch
        if not self._has_block_max:
            raise RuntimeError("kernel %r was compiled without block_max: add "
                               "'block_max = true' to its spec" % self.name)
        if _attention_op is None:
            _bind_torch_op()
        for name, t in (("q", q), ("k", k), ("v", v)):
            _check_tensor(name, t)
        if q.dim() != 4 or k.dim() != 4:
            raise ValueError("q and k must be (B, H, L, D); got shapes %s and %s"
                             % (tuple(q.shape), tuple(k.shape)))
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        o = torch.empty_like(q)
        lse = (torch.empty(q.shape[:3], dtype=torch.float32, device=q.device)
               if self._returns_lse else None)
        row_shape, block_shape = _block_max.block_max_shapes(self, q.shape[0], q.shape[2],
                                                             k.shape[2])
        row_max = torch.empty(row_shape, dtype=torch.float32, device=q.device)
        block = torch.empty(block_shape, dtype=torch.float32, device=q.device)
        self.runtime.run(q, k, v, o, lse, table_list,
                         self._plan_for(q, table_list, None, self._plan_on),
                         block_max=(row_max, block))
        return (o, lse, block) if self._returns_lse else (o, block)

    def nsa(self, q, k, v, gates, tables=None, compressed=None):
        """Native Sparse Attention's whole forward, for a kernel whose mask is
        nsa(...) (docs/ESTIMATORS.md, "nsa"): this kernel is the selected
        branch; the compressed and sliding branch kernels compiled next to it
        run on compressed K and V and on K and V; gates [B, H, Lq, 3] mix the
        three. `compressed`: a caller's compression (compressed keys, values),
        each [B, KV, C, D]; None: the blocks' means. Returns the output in q's
        dtype (sattn._nsa.forward)."""
        return _nsa.forward(self, Kernel._from_manifest, q, k, v, gates, tables, compressed)

    def __call__(self, q, k, v, tables=None, scale=None, plan=None, *, weights=None):
        # torch.compile traces this: module globals and plain attributes only.
        self.check_scale(scale)
        if self._has_block_max:
            raise RuntimeError("kernel %r was compiled with block_max: call "
                               "kernel.block_max(q, k, v, tables)" % self.name)
        if _attention_op is None:
            _bind_torch_op()
        _check_tensor("q", q)
        _check_tensor("k", k)
        _check_tensor("v", v)
        if weights is not None and self._weights_shape is None and not self._nsa_estimator:
            raise self._no_weights_error()
        if self._estimated_table is not None:
            tables = self._with_estimate(q, k, tables, weights)
        table_list = [_as_table(self._table_names, i, t)
                      for i, t in enumerate(self.table_list(tables))]
        if plan is None:
            o, lse = _attention_op(self.key, q, k, v, table_list, [], self._plan_on)
        else:
            self._check_plan(plan, q, k)
            o, lse = _attention_op(self.key, q, k, v, table_list, [plan.workspace], "device")
        return (o, lse) if self._returns_lse else o

    def _check_plan(self, plan, q, k):
        """ValueError unless `plan` is a KernelPlan of this kernel for the
        call's problem and device (q, k: checked tensors)."""
        if not isinstance(plan, KernelPlan):
            raise TypeError("plan must be a sattn.KernelPlan from kernel.plan(q, k, tables), "
                            "not %s" % type(plan).__name__)
        if plan.kernel != self.key:
            raise ValueError("the plan was built for kernel %s, not for %r (%s)"
                             % (plan.kernel, self.name, self.key))
        if q.dim() != 4 or k.dim() != 4:
            return  # the op reports the shapes
        call = (q.shape[0], q.shape[2], k.shape[2])
        if (plan.batch, plan.lq, plan.lk) != call:
            raise ValueError("the plan was built for batch %s, Lq %s, Lk %s; this call has "
                             "batch %s, Lq %s, Lk %s: build one with kernel.plan(q, k, tables)"
                             % ((plan.batch, plan.lq, plan.lk) + call))
        if plan.workspace.device != q.device:
            raise ValueError("the plan is on %s, but q is on %s"
                             % (plan.workspace.device, q.device))

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
_attention_op = _device_plan_op = _estimate_op = _backward_op = None
_check_tensor = _as_table = None


def _bind_torch_op():
    global _attention_op, _device_plan_op, _estimate_op, _backward_op, _check_tensor, _as_table
    from . import _torch_op
    _check_tensor, _as_table = _torch_op.check_tensor, _torch_op.as_table
    _device_plan_op = _torch_op.device_plan
    _estimate_op = _torch_op.estimate
    _backward_op = _torch_op.attention_backward
    _attention_op = _torch_op.attention


def _stamp(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns)
