"""The backward pass of a kernel compiled with ``sattn-compile --backward``
through libsattn_runtime (docs/KERNEL_ABI.md, "Backward kernel"):
`RuntimeKernel.has_backward`, `validate_backward`, `launch_backward`,
`backward` and `run_backward` are these functions.

The backward kernel reads the forward's q, k, v, o, LSE, plan and tables
plus dO, and writes dQ (B, H, Lq, D) and dK, dV (B, KV_H, Lk, D) in float32,
contiguous; the runtime zeroes them on the launch's stream first (dK and dV
are accumulated with atomics, and sum the query heads of each KV head). Why
a module of its own: sattn.runtime is the forward's binding and at its size
limit; this adds the second entry point with the same descriptors, plan
arguments and device handling (the RuntimeKernel methods it calls).
"""

import ctypes

from ._capi import CPlan, check

_GRADS = ("d_o", "d_q", "d_k", "d_v")


def has_backward(kernel):
    """Whether the kernel carries a backward pass (its manifest's "backward")."""
    return bool(kernel._lib.sattn_kernel_has_backward(kernel._h()))


def _c_args(kernel, q, k, v, o, lse, grads, plan, tables):
    """(C arguments without the stream, objects to keep alive, the plan's
    buffer checks) of a backward call: the forward's arguments with the four
    gradient descriptors after lse."""
    args, keep, checks = kernel._arguments(q, k, v, o, lse, plan, tables)
    buffer, addresses = kernel._packed(list(zip(_GRADS, grads)))
    return args[:5] + tuple(addresses) + args[5:], keep + [buffer] + list(grads), checks


def validate(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, plan=None, tables=()):
    """Checks a backward launch without running it (no GPU needed): the
    forward's checks (lse required), dO like O, the gradients f32 with the
    shapes of q, k, v and contiguous."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, (d_o, d_q, d_k, d_v), plan, tables)
    check(kernel._lib.sattn_validate_backward(kernel._h(), *args))
    kernel._check_plan(args[:5] + args[9:], checks)
    del keep  # alive until here: args holds raw addresses into it


def launch(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, plan=None, tables=(), stream=None):
    """Zeroes d_q, d_k, d_v and launches the backward kernel asynchronously
    on `stream` (None: PyTorch's current stream), with the plan and tables
    the forward was launched with (a DevicePlan or a Plan, as for launch)."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, (d_o, d_q, d_k, d_v), plan, tables)
    kernel._check_plan(args[:5] + args[9:], checks)
    kernel._on_device(keep, lambda handle: check(
        kernel._lib.sattn_launch_backward(kernel._h(), *args, ctypes.c_void_p(handle))), stream)


def backward(kernel, q, k, v, o, lse, d_o, plan=None, tables=(), stream=None):
    """The gradients of the forward call (q, k, v, plan, tables) -> (o, lse)
    for the incoming gradient d_o of o: new float32 CUDA tensors (dq, dk, dv)
    shaped like q, k and v (the caller converts them)."""
    import torch
    grads = tuple(torch.empty(*t.shape, dtype=torch.float32, device=t.device) for t in (q, k, v))
    launch(kernel, q, k, v, o, lse, d_o, *grads, plan=plan, tables=tables, stream=stream)
    return grads


def run(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, tables, plan_for):
    """A backward call on the path of the torch op (see RuntimeKernel.run,
    which this mirrors): validated against a stand-in plan first, then in
    the tensors' device context plan_for(batch, lq, lk, stream, table_args)
    gives the plan (the forward's, found or built the same way) and the
    backward is launched on PyTorch's current stream. tables: in manifest
    order; d_q, d_k, d_v torch tensors (with Lq = 0 only zeroed)."""
    buffer, io, table_args = kernel._descriptors(q, k, v, o, lse, tables)
    grads = (d_o, d_q, d_k, d_v)
    grad_buffer, grad_at = kernel._packed(list(zip(_GRADS, grads)))
    lq = int(q.shape[2]) if len(q.shape) == 4 else 0
    block_m, block_n = kernel.block_m, kernel.block_n
    stand_in = CPlan(None, 0, 8, 1, 8, -(-lq // block_m), block_m, block_n)
    check(kernel._lib.sattn_validate_backward(kernel._h(), *io, *grad_at, ctypes.byref(stand_in),
                                              *table_args))
    batch, lk = int(q.shape[0]), int(k.shape[2])
    if batch == 0:
        return
    if lq == 0:  # no query: dK and dV are zero (and dQ empty)
        for t in (d_q, d_k, d_v):
            t.zero_()
        return

    def plan_and_launch(handle):
        plan = plan_for(batch, lq, lk, handle, table_args)
        check(kernel._lib.sattn_launch_backward(kernel._h(), *io, *grad_at, plan.pointer(),
                                                *table_args, ctypes.c_void_p(handle)))
    kernel._on_device([q, k, v, o, lse, d_o, d_q, d_k, d_v] + list(tables), plan_and_launch, None)
    del buffer, grad_buffer  # alive until here: io and grad_at hold raw addresses into them
