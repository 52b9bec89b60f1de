"""Kernel.__call__ -> torch.ops.sattn.attention -> Kernel.run ->
RuntimeKernel.run -> libsattn_runtime, with the stand-in torch of
Inputs/stub_torch and the fake driver (no GPU, no real torch): the op is
registered as a non-mutating custom op with a fake implementation (and so
are sattn::estimate and sattn::device_plan), a kernel whose manifest has no "device_plan" plans
on the host by default, outputs
have the right shapes, tables are widened to int64, every argument is
validated by the runtime (its messages, as ValueError / TypeError) before a
plan is built, plans are built by the runtime from the tables' host copies,
uploaded with sattn_plan_upload and cached, and the launch gets the uploaded
plan on the current stream.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_glue.py MANIFEST   (the 4-head, 2-KV-head, head_dim 64 bf16
                                    kernel `planned` of test/Runtime/Inputs,
                                    tables doc[b, k] and blocks[h, q/64, k/64])
"""
import ctypes
import sys

import torch

import sattn
from sattn._capi import CPlan

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)


kernel = sattn.load(sys.argv[1])
for registered in torch.library.registered:
    say("op: %s mutates_args=%r fake=%s" % (registered.name, registered.mutates_args,
                                            registered.fake is not None))
op = torch.library.registered[0]
check(kernel.plans == "auto" and kernel._plan_on == "host",
      "a kernel without a device_plan record plans on the host")
for label, fn in [("plans=device", lambda: setattr(kernel, "plans", "device")),
                  ("kernel.plan", lambda: kernel.plan(None, None))]:
    try:
        fn()
        say("%s: no error" % label)
    except ValueError as e:
        say("%s: ValueError %s" % (label, e))

# Record what reaches the runtime: plans built (and their tables), launches
# (and the plan and stream they got).
rt = kernel.runtime
plans, launches = [], []
real_build, lib = rt.build_plan, rt._lib


def build_plan(batch, lq, lk, tables=()):
    plans.append((batch, lq, lk, [(t.dtype.name, t.shape) for t in tables]))
    return real_build(batch, lq, lk, tables)


real_launch = lib.sattn_launch


def sattn_launch(*args):
    plan = ctypes.cast(args[6], ctypes.POINTER(CPlan)).contents
    launches.append((plan.num_query_tiles, plan.num_classes, args[-1].value))
    return real_launch(*args)


rt.build_plan, lib.sattn_launch = build_plan, sattn_launch

B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)
k = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
doc = torch.empty(B, Lk, dtype=torch.int32)
blocks = torch.empty(4, 3, 3, dtype=torch.bool)
o, lse = kernel(q, k, k, tables={"doc": doc, "blocks": blocks})
say("call: o %s %s, lse %s %s" % (o.shape, o.dtype, lse.shape, lse.dtype))
say("plan:", plans[0])
say("launch: %d query tiles, %d classes, stream 0x%x" % launches[0])
kernel(q, k, k, tables=[doc, blocks], scale=0.125)
check(len(plans) == 1 and len(launches) == 2, "second call reuses the plan")
say("second call: plan cached (%d hit)" % kernel._plans.hits)

fo, flse = op.fake(kernel.key, torch.empty(3, 4, 7, 64, dtype=torch.bfloat16), k, k, [], [],
                   "host")
say("fake: o %s, lse %s %s" % (fo.shape, flse.shape, flse.dtype))

tables = [doc, blocks]
bad = [
    ("dtype", lambda: kernel(q.to(torch.float16), k, k, tables=tables)),
    ("head_dim", lambda: kernel(torch.empty(B, 4, Lq, 32, dtype=torch.bfloat16), k, k,
                                tables=tables)),
    ("heads", lambda: kernel(torch.empty(B, 8, Lq, 64, dtype=torch.bfloat16), k, k,
                             tables=tables)),
    ("Lq > Lk", lambda: kernel(torch.empty(B, 4, 200, 64, dtype=torch.bfloat16), k, k,
                               tables=tables)),
    ("cpu", lambda: kernel(q.to("cpu"), k, k, tables=tables)),
    ("cpu table", lambda: kernel(q, k, k, tables=[doc.to("cpu"), blocks])),
    ("table shape", lambda: kernel(q, k, k, tables=[torch.empty(B, Lk + 1, dtype=torch.int64),
                                                    blocks])),
    ("float table", lambda: kernel(q, k, k, tables=[doc.to(torch.float32), blocks])),
    ("missing table", lambda: kernel(q, k, k, tables={"doc": doc})),
    ("rank", lambda: kernel(torch.empty(B, 4, 64, dtype=torch.bfloat16), k, k, tables=tables)),
    ("not a tensor", lambda: kernel([[1.0]], k, k, tables=tables)),
    ("scale", lambda: kernel(q, k, k, tables=tables, scale=1.0)),
]
for label, fn in bad:
    try:
        fn()
        say("%s: no error" % label)
    except (ValueError, TypeError) as e:
        say("%s: %s %s" % (label, type(e).__name__, e))
check(len(plans) == 1 and len(launches) == 2, "bad input reached planning or launch")
say("bad input: no plan built, nothing launched")
