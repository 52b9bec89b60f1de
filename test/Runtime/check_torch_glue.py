"""Kernel.__call__ -> torch.ops.sattn.attention -> libsattn_runtime, with the
stand-in torch of Inputs/stub_torch (no GPU, no real torch): the op is
registered as a non-mutating custom op with a fake implementation, outputs
have the right shapes, tables are widened to int64, every argument is
validated by the runtime (its messages, as ValueError / TypeError) before a
plan is built, plans come from RuntimeKernel.build_plan / HostPlan.to_torch
and are cached, and the launch gets the plan and the tables.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB set):
    check_torch_glue.py MANIFEST   (the 4-head, 2-KV-head, head_dim 64 bf16
                                    kernel of test/Runtime/Inputs, tables
                                    doc[b, k] and blocks[h, q/64, k/64])
"""
import sys

import torch

import sattn
from sattn import runtime

assert not hasattr(torch, "compile"), "this test needs the stand-in torch"


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


kernel = sattn.load(sys.argv[1])
(op,) = torch.library.registered
print("op: %s mutates_args=%r fake=%s" % (op.name, op.mutates_args, op.fake is not None))


class HostPlan:
    def __init__(self, batch, lq, lk):
        self.batch, self.lq, self.lk = batch, lq, lk

    def to_torch(self, device):
        tiles = -(-self.lq // kernel.block_m)
        return runtime.Plan(torch.empty(7, dtype=torch.int64),
                            torch.empty(tiles + 1, dtype=torch.int64, device=str(device)),
                            torch.empty(self.batch * kernel.heads, dtype=torch.int64),
                            tiles, kernel.block_m, kernel.block_n)


class Runtime:
    """The real RuntimeKernel for validation; planning and launching recorded."""

    def __init__(self, real):
        self.real, self.plans, self.launches = real, [], []

    def validate(self, *args, **kwargs):
        return self.real.validate(*args, **kwargs)

    def build_plan(self, batch, lq, lk, tables=()):
        self.plans.append((batch, lq, lk, [(t.dtype.name, t.shape) for t in tables]))
        return HostPlan(batch, lq, lk)

    def launch(self, q, k, v, o, lse=None, plan=None, tables=()):
        self.real.validate(q, k, v, o, lse, plan=plan, tables=tables)  # the real plan checks
        self.launches.append((o, lse, plan, list(tables)))


rt = Runtime(kernel.runtime)
kernel._runtime = rt

B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)
k = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
doc = torch.empty(B, Lk, dtype=torch.int32)
blocks = torch.empty(4, 3, 3, dtype=torch.bool)
o, lse = kernel(q, k, k, tables={"doc": doc, "blocks": blocks})
print("call: o %s %s, lse %s %s" % (o.shape, o.dtype, lse.shape, lse.dtype))
print("plan:", rt.plans[0])
o2, lse2, plan, tables = rt.launches[0]
check(o2 is o and lse2 is lse and plan.num_query_tiles == 2, "launch arguments")
check([t.dtype for t in tables] == [torch.int64, torch.int64], "tables widened to int64")
kernel(q, k, k, tables=[doc, blocks], scale=0.125)
check(len(rt.plans) == 1 and len(rt.launches) == 2, "second call reuses the plan")
print("second call: plan cached")

fo, flse = op.fake(kernel.key, torch.empty(3, 4, 7, 64, dtype=torch.bfloat16), k, k, [])
print("fake: o %s, lse %s %s" % (fo.shape, flse.shape, flse.dtype))

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
        print("%s: no error" % label)
    except (ValueError, TypeError) as e:
        print("%s: %s %s" % (label, type(e).__name__, e))
check(len(rt.plans) == 1 and len(rt.launches) == 2, "bad input reached planning or launch")
print("bad input: no plan built, nothing launched")
