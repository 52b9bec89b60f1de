"""The PyTorch custom op ``sattn::attention`` (imported on first use: it
needs torch).

``torch.ops.sattn.attention(kernel, q, k, v, tables) -> (o, lse)``:
`kernel` is a `Kernel.key` (the real path of its manifest) that the loaded
kernels of this process map to a Kernel; `tables` the runtime tables in
manifest order (int64 CUDA tensors). o is a new contiguous (B, H, Lq, D)
tensor of q's dtype; lse is (B, H, Lq) float32 when the kernel returns LSE
and an empty float32 tensor otherwise. The op mutates no input. Its fake
implementation gives these shapes without running anything, so
``torch.compile`` (fullgraph too) traces a model through it as one opaque op.
The real one validates every argument with libsattn_runtime (ValueError /
TypeError carrying the runtime's message), takes the tile plan from the
kernel's plan cache and launches on the current CUDA stream. Forward only:
no autograd formula is registered.
"""

from typing import List, Tuple

import torch

from . import runtime
from .kernel import kernel_for_key

__all__ = ["as_table", "attention", "check_tensor"]


def check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s must be a torch.Tensor, not %s" % (name, type(t).__name__))


_NARROW_INTEGERS = (torch.bool, torch.int8, torch.uint8, torch.int16, torch.int32)


def as_table(names, index, t):
    """A runtime table as the kernel reads it: integer and bool tensors are
    converted to int64 (shapes and devices are the runtime's to check)."""
    if not isinstance(t, torch.Tensor):
        label = "table %d (%r)" % (index, names[index]) if index < len(names) else "table %d" % index
        check_tensor(label, t)
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
            tables: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    kernel = kernel_for_key(kernel_key)
    o, lse = _outputs(kernel, q)
    lse_arg = lse if kernel.returns_lse else None
    rt = kernel.runtime
    batch, lq = q.shape[0], q.shape[2]
    lk = k.shape[2] if k.dim() == 4 else 0
    # Validate everything (the runtime's messages) before planning: a plan is
    # only built for a well-formed problem. The stand-in plan has the right
    # tile count and non-null, aligned addresses that nothing dereferences.
    stand_in = runtime.Plan(None, 8, 8, num_query_tiles=-(-lq // kernel.block_m),
                            block_m=kernel.block_m, block_n=kernel.block_n,
                            num_segments=0, num_classes=1)
    rt.validate(q, k, v, o, lse_arg, plan=stand_in, tables=tables)
    if batch == 0 or lq == 0:
        return o, lse
    plan = kernel.device_plan(q.device, batch, lq, lk, tables)
    rt.launch(q, k, v, o, lse_arg, plan=plan, tables=tables)
    return o, lse


_op = torch.library.custom_op("sattn::attention", _launch, mutates_args=())


@_op.register_fake
def _fake(kernel_key, q, k, v, tables):
    return _outputs(kernel_for_key(kernel_key), q)


attention = torch.ops.sattn.attention.default
