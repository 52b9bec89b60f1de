"""The backward path of sattn's PyTorch glue, with the stand-in torch of
Inputs/stub_torch and the fake driver (no GPU, no real torch): the op
sattn::attention_backward is registered (non-mutating, with a fake
implementation) and is the autograd formula of sattn::attention
(register_autograd: setup_context saves q, k, v, o, lse, the tables and the
plan and marks lse non-differentiable; the formula returns one gradient per
input, in the inputs' dtypes); the backward reuses the forward's host plan
(cached) and launches sattn_launch_backward on the current stream;
`Kernel.backward` returns float32 gradients; a kernel without a backward
pass, and bad gradients, are refused with clear messages before anything is
launched; under torch.use_deterministic_algorithms(True) the backward runs
its deterministic form (int64 sums of dK and dV at device-side scales,
through sattn_launch_backward_deterministic, converted back);
`RuntimeKernel.validate_backward` reports the runtime's messages.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_backward.py BACKWARD_MANIFEST FORWARD_ONLY_MANIFEST
(both the 4-head, 2-KV-head, head_dim 64 bf16 kernel `planned` of
test/Runtime/Inputs, tables doc[b, k] and blocks[h, q/64, k/64]; the first
with a "backward" record and an image holding both entries)
"""
import ctypes
import sys
import types

import torch

import sattn
from sattn._capi import CPlan, CTensor
from sattn.runtime import TensorDesc

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)

kernel = sattn.load(sys.argv[1])
ops = {op.name: op for op in torch.library.registered}
forward, backward = ops["sattn::attention"], ops["sattn::attention_backward"]
say("op: %s mutates_args=%r fake=%s" % (backward.name, backward.mutates_args,
                                        backward.fake is not None))
say("autograd of %s: %s, setup_context %s" % (
    forward.name, forward.backward.__name__ if forward.backward else None,
    forward.setup_context.__name__ if forward.setup_context else None))
say("has_backward: %s, runtime: %s" % (kernel.has_backward, kernel.runtime.has_backward))

rt, lib = kernel.runtime, kernel.runtime._lib
plans, launches = [], []
real_build, real_launch = rt.build_plan, lib.sattn_launch_backward


def build_plan(batch, lq, lk, tables=()):
    plans.append((batch, lq, lk))
    return real_build(batch, lq, lk, tables)


def sattn_launch_backward(*args):
    plan = ctypes.cast(args[10], ctypes.POINTER(CPlan)).contents
    launches.append((plan.num_query_tiles, plan.num_classes, args[-1].value))
    return real_launch(*args)


rt.build_plan, lib.sattn_launch_backward = build_plan, sattn_launch_backward

B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)
k = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
v = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
tables = [torch.empty(B, Lk, dtype=torch.int64), torch.empty(4, 3, 3, dtype=torch.int64)]
o, lse = kernel(q, k, v, tables=tables)
d_o = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)

# What autograd does with the call: setup_context, then the formula.
ctx = types.SimpleNamespace(needs_input_grad=(False, True, True, True, [False, False], [],
                                              False))
ctx.save_for_backward = lambda *t: setattr(ctx, "saved_tensors", t)
ctx.mark_non_differentiable = lambda *t: setattr(ctx, "non_differentiable", t)
forward.setup_context(ctx, (kernel.key, q, k, v, tables, [], "host"), (o, lse))
say("saved: %d tensors, non-differentiable: %s" % (
    len(ctx.saved_tensors), [t is lse for t in ctx.non_differentiable]))
grads = forward.backward(ctx, d_o, None)
say("gradients: %s" % ", ".join(
    "None" if g is None else str(g) if isinstance(g, list) else "%s %s" % (g.shape, g.dtype)
    for g in grads))
say("backward launch: %d query tiles, %d classes, stream 0x%x; plans built: %d"
    % (launches[0] + (len(plans),)))
ctx.needs_input_grad = (False, True, False, False, [False, False], [], False)
check(forward.backward(ctx, d_o, None)[2:4] == (None, None), "only the needed gradients")

dq, dk, dv = kernel.backward(q, k, v, o, lse, d_o, tables=tables)
say("Kernel.backward: %s %s, %s %s" % (dq.shape, dq.dtype, dk.shape, dk.dtype))
fq, fk, fv = backward.fake(kernel.key, torch.empty(3, 4, 7, 64, dtype=torch.bfloat16), k, v, o,
                           lse, d_o, tables, [], "host")
say("fake: %s %s, %s, %s" % (fq.shape, fq.dtype, fk.shape, fv.shape))
check(len(plans) == 1 and len(launches) == 3, "the backward calls reuse the forward's plan")

forward_only = sattn.load(sys.argv[2])
f_o, f_lse = forward_only(q, k, v, tables=tables)
ctx.needs_input_grad = (False, True, True, True, [False, False], [], False)
forward.setup_context(ctx, (forward_only.key, q, k, v, tables, [], "host"), (f_o, f_lse))
bad = [
    ("autograd, no backward", lambda: forward.backward(ctx, d_o, None)),
    ("Kernel.backward, no backward", lambda: forward_only.backward(q, k, v, o, lse, d_o, tables)),
    ("d_o dtype", lambda: kernel.backward(q, k, v, o, lse, d_o.to(torch.float32), tables)),
    ("d_o shape", lambda: kernel.backward(q, k, v, o, lse, torch.empty(
        B, 4, Lq, 32, dtype=torch.bfloat16), tables)),
    ("lse shape", lambda: kernel.backward(q, k, v, o, torch.empty(B, 4, Lq - 1), d_o, tables)),
    ("no lse", lambda: kernel.backward(q, k, v, o, None, d_o, tables)),
    ("missing table", lambda: kernel.backward(q, k, v, o, lse, d_o, {"doc": tables[0]})),
]
for label, fn in bad:
    try:
        fn()
        say("%s: no error" % label)
    except (ValueError, TypeError, RuntimeError) as e:
        say("%s: %s %s" % (label, type(e).__name__, e))
check(len(launches) == 3, "bad input reached the launch")

# torch.use_deterministic_algorithms: the deterministic form. The scales
# and the conversion are torch arithmetic (checked on the GPU); here they
# are stand-ins, and the check is what reaches the runtime: int64 sums of
# k's and v's shapes and the (2,) scales, through
# sattn_launch_backward_deterministic, then the conversion of each sum.
from sattn import _backward  # noqa: E402

fixed_calls, converted = [], []
real_fixed = lib.sattn_launch_backward_deterministic


def sattn_launch_backward_deterministic(*args):
    descs = [ctypes.cast(args[i], ctypes.POINTER(CTensor)).contents for i in (8, 9, 10)]
    fixed_calls.append(["dtype %d %s" % (d.dtype, tuple(d.shape[:d.rank])) for d in descs])
    return real_fixed(*args)


lib.sattn_launch_backward_deterministic = sattn_launch_backward_deterministic
_backward.fixed_point_scales = lambda q_, v_, d_o_, scale: (
    torch.empty(2, dtype=torch.float32), [True, True])
_backward.from_fixed_point = lambda sums, scale, safe: (
    converted.append((sums.shape, sums.dtype)) or sums.to(torch.float32))
ctx.needs_input_grad = (False, True, True, True, [False, False], [], False)
forward.setup_context(ctx, (kernel.key, q, k, v, tables, [], "host"), (o, lse))
torch.use_deterministic_algorithms(True)
grads = forward.backward(ctx, d_o, None)
torch.use_deterministic_algorithms(False)
say("deterministic: launches %d + %d deterministic (d_k, d_v, dkv_scales: %s); converted %s; "
    "gradients %s" % (len(launches), len(fixed_calls), ", ".join(fixed_calls[0]), converted,
    ", ".join("%s %s" % (g.shape, g.dtype) for g in grads[1:4])))
# The runtime binding on plain descriptors.
f32 = [TensorDesc(0x100000 * (i + 1), "f32", s)
       for i, s in enumerate([(B, 4, Lq, 64), (B, 2, Lk, 64), (B, 2, Lk, 64)])]
bf16 = [TensorDesc(0x1000000 * (i + 1), "bf16", s)
        for i, s in enumerate([(B, 4, Lq, 64), (B, 2, Lk, 64), (B, 2, Lk, 64), (B, 4, Lq, 64),
                               (B, 4, Lq, 64)])]
lse_desc = TensorDesc(0x9000000, "f32", (B, 4, Lq))
table_descs = [TensorDesc(0xa000000, "i64", (B, Lk)), TensorDesc(0xb000000, "i64", (4, 3, 3))]
plan = {"segments": 0xc000000, "offsets": 0xd000000, "class_index": 0xe000000,
        "num_query_tiles": 2, "block_m": 64, "block_n": 64, "num_segments": 4, "num_classes": 1}
qd, kd, vd, od, dod = bf16
rt.validate_backward(qd, kd, vd, od, lse_desc, dod, *f32, plan=plan, tables=table_descs)
say("validate_backward: ok")
for label, grads in [("transposed d_q", [TensorDesc(0x100000, "f32", (B, 4, Lq, 64),
                                                    (4 * Lq * 64, 64, 4 * 64, 1))] + f32[1:]),
                     ("bf16 d_k", [f32[0], TensorDesc(0x200000, "bf16", (B, 2, Lk, 64)),
                                   f32[2]])]:
    try:
        rt.validate_backward(qd, kd, vd, od, lse_desc, dod, *grads, plan=plan, tables=table_descs)
        say("%s: no error" % label)
    except (ValueError, TypeError) as e:
        say("%s: %s %s %s" % (label, type(e).__name__, e.status, e))
