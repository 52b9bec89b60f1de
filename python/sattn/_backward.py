"""The backward pass of a kernel compiled with ``sattn-compile --backward``
through libsattn_runtime (docs/KERNEL_ABI.md, "Backward kernel"):
`RuntimeKernel.has_backward`, `validate_backward`, `launch_backward`,
`backward` and `run_backward` are these functions.

The backward kernel reads the forward's q, k, v, o, LSE, plan and tables
plus dO, and writes dQ (B, H, Lq, D) and dK, dV (B, KV_H, Lk, D) in float32,
contiguous; the runtime zeroes them on the launch's stream first (dK and dV
are accumulated with atomics, and sum the query heads of each KV head). With
`dkv_scales` (the deterministic backward, docs/KERNEL_ABI.md) dK and dV are
int64 fixed-point sums instead, the same bits in every run:
`fixed_point_scales` picks the scales on the device and `from_fixed_point`
turns the sums back into float32. Why
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


def _entry(kernel, what, dkv_scales):
    """sattn_<what>_backward, or its deterministic form when dkv_scales is given."""
    suffix = "_deterministic" if dkv_scales is not None else ""
    return getattr(kernel._lib, "sattn_%s_backward%s" % (what, suffix))


def _gradient_descriptors(kernel, grads, dkv_scales):
    """(buffer, addresses) of dO, dQ, dK, dV and, when given, dkv_scales."""
    named = list(zip(_GRADS, grads))
    if dkv_scales is not None:
        named.append(("dkv_scales", dkv_scales))
    return kernel._packed(named)


def _c_args(kernel, q, k, v, o, lse, grads, plan, tables, dkv_scales=None):
    """(C arguments without the stream, objects to keep alive, the plan's
    buffer checks) of a backward call: the forward's arguments with the four
    gradient descriptors (and dkv_scales's) after lse."""
    args, keep, checks = kernel._arguments(q, k, v, o, lse, plan, tables)
    buffer, addresses = _gradient_descriptors(kernel, grads, dkv_scales)
    extra = [dkv_scales] if dkv_scales is not None else []
    return (args[:5] + tuple(addresses) + args[5:], keep + [buffer] + list(grads) + extra,
            checks)


def _forward_args(args, dkv_scales):
    """The forward's arguments (for sattn_validate) within a backward call's."""
    return args[:5] + args[10 if dkv_scales is not None else 9:]


def validate(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, plan=None, tables=(),
             dkv_scales=None):
    """Checks a backward launch without running it (no GPU needed): the
    forward's checks (lse required), dO like O, the gradients f32 (dK and dV
    int64 with dkv_scales) with the shapes of q, k, v and contiguous."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, (d_o, d_q, d_k, d_v), plan, tables,
                                 dkv_scales)
    check(_entry(kernel, "validate", dkv_scales)(kernel._h(), *args))
    kernel._check_plan(_forward_args(args, dkv_scales), checks)
    del keep  # alive until here: args holds raw addresses into it


def launch(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, plan=None, tables=(), stream=None,
           dkv_scales=None):
    """Zeroes d_q, d_k, d_v and launches the backward kernel asynchronously
    on `stream` (None: PyTorch's current stream), with the plan and tables
    the forward was launched with (a DevicePlan or a Plan, as for launch).
    dkv_scales: None, or the deterministic form's scales (a float32 CUDA
    tensor of 2; d_k and d_v int64)."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, (d_o, d_q, d_k, d_v), plan, tables,
                                 dkv_scales)
    kernel._check_plan(_forward_args(args, dkv_scales), checks)
    entry = _entry(kernel, "launch", dkv_scales)
    kernel._on_device(keep, lambda handle: check(
        entry(kernel._h(), *args, ctypes.c_void_p(handle))), stream)


def fixed_point_scales(q, v, d_o, softmax_scale):
    """The deterministic backward's scales for these inputs, computed on the
    device without synchronising: (scales, safe), float32 {s_k, s_v} and
    bool {dK, dV}. Each s is the largest power of two (within 2^-126 ..
    2^126) that keeps the bound of docs/KERNEL_ABI.md ("Deterministic
    backward") times s at most 2^61, with rows = Lq * (H / KV_H):
    |dV| <= rows * max|dO|; |dK| <= 2 * softmax_scale * rows *
    max_i ||dO_i|| * max_j ||V_j|| * max|Q|. `safe` is False where the bound
    is not finite or s cannot reach it (inputs beyond float32 range)."""
    import torch
    rows = float(q.shape[2] * (q.shape[1] // max(v.shape[1], 1)))
    inf = float("inf")
    largest = lambda t: torch.linalg.vector_norm(t, ord=inf).double()
    row_norm = lambda t: torch.linalg.vector_norm(t, dim=-1, dtype=torch.float32).amax().double()
    if q.numel() == 0 or v.numel() == 0:
        zero = torch.zeros((), dtype=torch.float64, device=q.device)
        bound_k = bound_v = zero
    else:
        bound_k = 2.0 * softmax_scale * rows * row_norm(d_o) * row_norm(v) * largest(q)
        bound_v = rows * largest(d_o)
    bounds = torch.stack([bound_k, bound_v])
    exponent = torch.clamp(torch.floor(61.0 - torch.log2(bounds)), -126.0, 126.0)
    scales = torch.exp2(exponent)
    safe = torch.isfinite(bounds) & (bounds * scales <= 2.0 ** 62)
    return scales.float(), safe


def from_fixed_point(sums, scale, safe):
    """float32 values of the deterministic backward's int64 sums at `scale`
    (a 0-d float32 tensor; NaN everywhere when `safe` is False)."""
    import torch
    # One rounding, int64 to float32, then an exact division by a power of two.
    values = sums.to(torch.float32).div_(scale)
    return torch.where(safe, values, torch.full_like(values, float("nan")))


def backward(kernel, q, k, v, o, lse, d_o, plan=None, tables=(), stream=None):
    """The gradients of the forward call (q, k, v, plan, tables) -> (o, lse)
    for the incoming gradient d_o of o: new float32 CUDA tensors (dq, dk, dv)
    shaped like q, k and v (the caller converts them)."""
    import torch
    grads = tuple(torch.empty(*t.shape, dtype=torch.float32, device=t.device) for t in (q, k, v))
    launch(kernel, q, k, v, o, lse, d_o, *grads, plan=plan, tables=tables, stream=stream)
    return grads


def run(kernel, q, k, v, o, lse, d_o, d_q, d_k, d_v, tables, plan_for, dkv_scales=None):
    """A backward call on the path of the torch op (see RuntimeKernel.run,
    which this mirrors): validated against a stand-in plan first, then in
    the tensors' device context plan_for(batch, lq, lk, stream, table_args)
    gives the plan (the forward's, found or built the same way) and the
    backward is launched on PyTorch's current stream. tables: in manifest
    order; d_q, d_k, d_v torch tensors (with Lq = 0 only zeroed); d_k and
    d_v int64 with dkv_scales (the deterministic form)."""
    buffer, io, table_args = kernel._descriptors(q, k, v, o, lse, tables)
    grads = (d_o, d_q, d_k, d_v)
    grad_buffer, grad_at = _gradient_descriptors(kernel, grads, dkv_scales)
    validate_entry, launch_entry = (_entry(kernel, what, dkv_scales)
                                    for what in ("validate", "launch"))
    lq = int(q.shape[2]) if len(q.shape) == 4 else 0
    block_m, block_n = kernel.block_m, kernel.block_n
    stand_in = CPlan(None, 0, 8, 1, 8, -(-lq // block_m), block_m, block_n)
    check(validate_entry(kernel._h(), *io, *grad_at, ctypes.byref(stand_in), *table_args))
    batch, lk = int(q.shape[0]), int(k.shape[2])
    if batch == 0:
        return
    if lq == 0:  # no query: dK and dV are zero (and dQ empty)
        for t in (d_q, d_k, d_v):
            t.zero_()
        return

    def plan_and_launch(handle):
        plan = plan_for(batch, lq, lk, handle, table_args)
        check(launch_entry(kernel._h(), *io, *grad_at, plan.pointer(), *table_args,
                           ctypes.c_void_p(handle)))
    extra = [dkv_scales] if dkv_scales is not None else []
    kernel._on_device([q, k, v, o, lse, d_o, d_q, d_k, d_v] + list(tables) + extra,
                      plan_and_launch, None)
    del buffer, grad_buffer  # alive until here: io and grad_at hold raw addresses into them
