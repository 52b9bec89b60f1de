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

``torch.ops.sattn.estimate(kernel, q, k) -> table``: runs the kernel's
compiled estimator (a dynamic mask, docs/ESTIMATORS.md) on the current
stream and returns the table it writes, for `Kernel.estimate` and for calls
that do not pass that table.

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
stream. Forward only: no autograd formula is registered.

Needs torch >= 2.4 (torch.library.custom_op); an older torch is refused at
import with the version it has and the one it needs.
"""

from typing import List, Tuple

import torch

from . import _registry
from .tables import label

__all__ = ["as_table", "attention", "check_tensor", "device_plan", "estimate"]

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


def _estimate(kernel_key: str, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return _registry.kernel_for_key(kernel_key).runtime.estimate(q, k)


_estimate_op = torch.library.custom_op("sattn::estimate", _estimate, mutates_args=())


@_estimate_op.register_fake
def _fake_estimate(kernel_key, q, k):
    kernel = _registry.kernel_for_key(kernel_key)
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError("q and k must be (B, heads, L, D); got shapes %s and %s"
                         % (tuple(q.shape), tuple(k.shape)))
    # The estimated table's declared shape ([B, H, blocks, blocks] for
    # block_topk, [B, H, 2, Lk] for vertical_slash, [B, H, units, Lk] for
    # stripe).
    shape = kernel.table_shape(kernel.estimated_table, q.shape[0], k.shape[2])
    return q.new_empty(shape, dtype=torch.int64)


attention = torch.ops.sattn.attention.default
estimate = torch.ops.sattn.estimate.default
device_plan = torch.ops.sattn.device_plan.default
