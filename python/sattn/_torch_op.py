"""The PyTorch custom ops ``sattn::attention`` and ``sattn::device_plan``
(imported on first use: they need torch).

``torch.ops.sattn.attention(kernel, q, k, v, tables, plan, plan_on) -> (o, lse)``:
`kernel` is a `Kernel.key` (the real path of its manifest) that the loaded
kernels of this process map to a Kernel (sattn._registry); `tables` the
runtime tables in manifest order (int64 CUDA tensors); `plan` either empty
(the op plans the call itself) or one uint8 workspace that
``sattn::device_plan`` filled for this call's (B, Lq, Lk); `plan_on` where
the op plans when `plan` is empty: "device" (the kernel's generated plan
builder, on the current stream, into a workspace the op allocates with
torch.empty: no host copy, no synchronisation, capturable in CUDA graphs)
or "host" (the runtime's host planner, cached per shape and table contents:
`Kernel.device_plan`). o is a new contiguous (B, H, Lq, D) tensor of q's
dtype; lse is (B, H, Lq) float32 when the kernel returns LSE and an empty
float32 tensor otherwise.

``torch.ops.sattn.attention_backward(kernel, q, k, v, o, lse, d_o, tables,
plan, plan_on) -> (dq, dk, dv)``: the backward kernel of a kernel compiled
with --backward over the forward call's plan (the same `plan` and
`plan_on`); dq, dk, dv are new contiguous float32 tensors shaped like q, k
and v. It is the autograd formula of ``sattn::attention``
(torch.library.register_autograd): the forward saves q, k, v, o, lse, the
tables and the plan; the gradients are converted to the inputs' dtypes;
lse is marked non-differentiable (as FlashAttention's); tables and plans get
no gradient. A kernel without a backward pass raises RuntimeError there.
While torch.use_deterministic_algorithms(True) is on, the backward runs its
deterministic form: dK and dV summed in int64 fixed point (float32 atomics
otherwise, whose order varies between runs), then converted to float32.

``torch.ops.sattn.estimate(kernel, q, k, weights=None) -> table``: runs the
kernel's compiled estimator (a dynamic mask, docs/ESTIMATORS.md) on the
current stream and returns the table it writes, for `Kernel.estimate` and
for calls that do not pass that table. `weights`: a gate's learned weights,
one float32 (H, 4D, F) CUDA tensor (`Kernel` makes it from the (wq, wk)
pair); None for the other estimators.

``torch.ops.sattn.device_plan(kernel, q, k, tables) -> workspace``: builds
the device plan of q's and k's problem (only their shapes and device are
read) on the current stream into a new uint8 tensor, for `Kernel.plan`.

No op mutates an input. Their fake implementations give the output
shapes (the workspace's size from the runtime when the sizes are concrete,
an unbacked size otherwise) without running anything, so ``torch.compile``
(fullgraph too) traces a model through them as opaque ops. The real
attention op allocates the outputs and hands the call to `Kernel.run`, which
has libsattn_runtime validate it (ValueError / TypeError carrying the
runtime's message), plan it as above and launch it on the current CUDA
stream. Forward and backward are both custom ops, so ``torch.compile``
traces a training step through them (AOTAutograd traces the autograd
formula with the fake implementations) without graph breaks or host syncs.

Needs torch >= 2.4 (torch.library.custom_op); an older torch is refused at
import with the version it has and the one it needs.
"""

from typing import List, Optional, Tuple

import torch

from . import _backward, _registry
from .tables import label

__all__ = ["as_table", "attention", "attention_backward", "check_tensor", "device_plan",
           "estimate"]

MIN_TORCH = (2, 4)


def _torch_version():
    """(torch.__version__, (major, minor) or None when it does not parse)."""
    text = str(getattr(torch, "__version__", "unknown"))
    pieces = text.split("+")[0].split(".")[:2]
    if len(pieces) < 2 or not all(p.isdigit() for p in pieces):
        return text, None
    return text, tuple(int(p) for p in pieces)


def check_torch_version():
    """ImportError unless torch has what the op needs (torch.library.custom_op,
    torch >= 2.4)."""
    text, version = _torch_version()
    if not hasattr(torch.library, "custom_op") or (version and version < MIN_TORCH):
        raise ImportError(
            "sattn kernels need torch >= %d.%d (torch.library.custom_op); this is torch %s "
            "from %s. Upgrade torch, or use sattn.reference and sattn.runtime, which do not "
            "need it" % (MIN_TORCH + (text, getattr(torch, "__file__", "?"))))


check_torch_version()


def check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s must be a torch.Tensor, not %s" % (name, type(t).__name__))


_NARROW_INTEGERS = (torch.bool, torch.int8, torch.uint8, torch.int16, torch.int32)


def as_table(names, index, t):
    """A runtime table as the kernel reads it: integer and bool tensors are
    converted to int64 (shapes and devices are the runtime's to check)."""
    if not isinstance(t, torch.Tensor):
        check_tensor(label(names, index), t)
    if t.dtype in _NARROW_INTEGERS:
        t = t.to(torch.int64)
    return t


def _outputs(kernel, q):
    if q.dim() != 4:
        raise ValueError("q has rank %d (shape %s); expected (B, H, Lq, D)"
                         % (q.dim(), tuple(q.shape)))
    o = q.new_empty(q.shape)
    lse_shape = tuple(q.shape[:3]) if kernel.returns_lse else (0,)
    return o, q.new_empty(lse_shape, dtype=torch.float32)


def _launch(kernel_key: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            tables: List[torch.Tensor], plan: List[torch.Tensor],
            plan_on: str) -> Tuple[torch.Tensor, torch.Tensor]:
    kernel = _registry.kernel_for_key(kernel_key)
    o, lse = _outputs(kernel, q)
    if len(plan) > 1:
        raise ValueError("plan takes one workspace tensor (sattn::device_plan), not %d"
                         % len(plan))
    kernel.run(q, k, v, o, lse if kernel.returns_lse else None, tables,
               plan=plan[0] if plan else None, plan_on=plan_on)
    return o, lse


_op = torch.library.custom_op("sattn::attention", _launch, mutates_args=())


@_op.register_fake
def _fake(kernel_key, q, k, v, tables, plan, plan_on):
    return _outputs(_registry.kernel_for_key(kernel_key), q)


def _device_plan(kernel_key: str, q: torch.Tensor, k: torch.Tensor,
                 tables: List[torch.Tensor]) -> torch.Tensor:
    return _registry.kernel_for_key(kernel_key).build_plan_workspace(q, k, tables)


_plan_op = torch.library.custom_op("sattn::device_plan", _device_plan, mutates_args=())


@_plan_op.register_fake
def _fake_device_plan(kernel_key, q, k, tables):
    kernel = _registry.kernel_for_key(kernel_key)
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError("q and k must be (B, heads, L, D); got shapes %s and %s"
                         % (tuple(q.shape), tuple(k.shape)))
    sizes = (q.shape[0], q.shape[2], k.shape[2])
    if all(isinstance(s, int) for s in sizes):
        n = kernel.plan_workspace_bytes(*sizes)
    else:  # symbolic sizes: the runtime cannot size the workspace now
        n = torch.library.get_ctx().new_dynamic_size()
    return q.new_empty((n,), dtype=torch.uint8)


def _estimate(kernel_key: str, q: torch.Tensor, k: torch.Tensor,
              weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    return _registry.kernel_for_key(kernel_key).runtime.estimate(q, k, weights=weights)


_estimate_op = torch.library.custom_op("sattn::estimate", _estimate, mutates_args=())


@_estimate_op.register_fake
def _fake_estimate(kernel_key, q, k, weights=None):
    kernel = _registry.kernel_for_key(kernel_key)
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError("q and k must be (B, heads, L, D); got shapes %s and %s"
                         % (tuple(q.shape), tuple(k.shape)))
    if weights is not None and weights.dim() != 3:
        raise ValueError("the gate's weights must be one (H, 4D, F) tensor; got shape %s"
                         % (tuple(weights.shape),))
    # The estimated table's declared shape ([B, H, blocks, blocks] for
    # block_topk and gate, [B, H, 2, Lk] for vertical_slash, [B, H, units,
    # Lk] for stripe, [B, KV, Lk, blocks] for nsa).
    shape = kernel.table_shape(kernel.estimated_table, q.shape[0], k.shape[2])
    return q.new_empty(shape, dtype=torch.int64)


def _gradients(q, k, v):
    """New float32 tensors shaped like q, k and v (dK and dV have the KV heads)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError("%s has rank %d (shape %s); expected 4 dimensions"
                             % (name, t.dim(), tuple(t.shape)))
    return tuple(t.new_empty(t.shape, dtype=torch.float32) for t in (q, k, v))


def _launch_backward(kernel_key: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     o: torch.Tensor, lse: torch.Tensor, d_o: torch.Tensor,
                     tables: List[torch.Tensor], plan: List[torch.Tensor],
                     plan_on: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backward kernel's float32 dQ, dK, dV. Under
    torch.use_deterministic_algorithms(True) it runs the deterministic form
    (docs/KERNEL_ABI.md, "Deterministic backward"): dK and dV are summed in
    int64 fixed point at scales picked on the device from the inputs, so
    that every run gives the same bits (dQ is deterministic in both forms)."""
    kernel = _registry.kernel_for_key(kernel_key)
    if not kernel.has_backward:
        raise kernel.no_backward_error()
    dq, dk, dv = _gradients(q, k, v)
    if len(plan) > 1:
        raise ValueError("plan takes one workspace tensor (sattn::device_plan), not %d"
                         % len(plan))
    workspace = plan[0] if plan else None
    if not torch.are_deterministic_algorithms_enabled():
        kernel.run_backward(q, k, v, o, lse, d_o, dq, dk, dv, tables, plan=workspace,
                            plan_on=plan_on)
        return dq, dk, dv
    del dk, dv  # the float32 form's buffers: this form sums into int64 ones
    scales, safe = _backward.fixed_point_scales(q, v, d_o, kernel.scale)
    sums = tuple(t.new_empty(t.shape, dtype=torch.int64) for t in (k, v))
    kernel.run_backward(q, k, v, o, lse, d_o, dq, *sums, tables, plan=workspace,
                        plan_on=plan_on, dkv_scales=scales)
    dk, dv = (_backward.from_fixed_point(sums[i], scales[i], safe[i]) for i in range(2))
    return dq, dk, dv


_backward_op = torch.library.custom_op("sattn::attention_backward", _launch_backward,
                                       mutates_args=())


@_backward_op.register_fake
def _fake_backward(kernel_key, q, k, v, o, lse, d_o, tables, plan, plan_on):
    return _gradients(q, k, v)


def _setup_context(ctx, inputs, output):
    """Saves what the backward kernel reads: the forward's tensors, its LSE,
    tables and plan (the plan workspace, if one was passed, is reused)."""
    kernel_key, q, k, v, tables, plan, plan_on = inputs
    o, lse = output
    ctx.kernel_key, ctx.plan_on, ctx.num_tables = kernel_key, plan_on, len(tables)
    ctx.save_for_backward(q, k, v, o, lse, *tables, *plan)
    ctx.mark_non_differentiable(lse)


def _attention_grad(ctx, d_o, d_lse):
    kernel = _registry.kernel_for_key(ctx.kernel_key)
    if not kernel.has_backward:
        raise kernel.no_backward_error()
    q, k, v, o, lse, *rest = ctx.saved_tensors
    tables, plan = list(rest[:ctx.num_tables]), list(rest[ctx.num_tables:])
    dq, dk, dv = attention_backward(ctx.kernel_key, q, k, v, o, lse, d_o.contiguous(), tables,
                                    plan, ctx.plan_on)
    needs = ctx.needs_input_grad
    grads = tuple(g.to(t.dtype) if needs[i + 1] else None
                  for i, (g, t) in enumerate(((dq, q), (dk, k), (dv, v))))
    # One gradient per input: none for the key, the tables, the plan, plan_on.
    return (None,) + grads + ([None] * len(tables), [None] * len(plan), None)


_op.register_autograd(_attention_grad, setup_context=_setup_context)

attention = torch.ops.sattn.attention.default
attention_backward = torch.ops.sattn.attention_backward.default
estimate = torch.ops.sattn.estimate.default
device_plan = torch.ops.sattn.device_plan.default
