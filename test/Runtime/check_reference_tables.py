"""sattn.reference checks runtime tables exactly as a kernel call does: for
each case the reference's error (type and message) is compared with what
libsattn_runtime (through sattn.runtime, no GPU needed) says about the same
tables: sattn_validate for names, count, dtype, rank and extents,
sattn_plan_build for values. Valid tables of any integer type (int32, bool,
nested lists) are accepted.

Usage (SATTN_RUNTIME_LIB set): check_reference_tables.py MANIFEST
    (the `planned` kernel of test/Runtime/Inputs: tables doc i32 [b, k] read
    by the mask, blocks i1 [h, q/64, k/64] declared only)
"""
import sys

import numpy as np

import sattn
from sattn import runtime

manifest = sys.argv[1]
kernel = sattn.load(manifest)
rt = kernel.runtime
B, Lq, Lk, D = 2, 100, 130, 64
q = np.zeros((B, 4, Lq, D), np.float32)
k = np.zeros((B, 2, Lk, D), np.float32)
doc = np.zeros((B, Lk), np.int32)
blocks = np.zeros((4, 3, 3), bool)


def desc(t, dtype="i64"):
    return runtime.TensorDesc(0x10000, dtype, t.shape)


def validate(tables):
    """The runtime's verdict on a launch with these tables (as descriptors)."""
    io = [runtime.TensorDesc(0x10000, "bf16", s) for s in
          [(B, 4, Lq, D), (B, 2, Lk, D), (B, 2, Lk, D), (B, 4, Lq, D)]]
    lse = runtime.TensorDesc(0x10000, "f32", (B, 4, Lq))
    plan = runtime.Plan(0x10000, 0x10000, 0x10000, 2, 64, 64, num_segments=1, num_classes=1)
    rt.validate(*io, lse=lse, plan=plan, tables=tables)


def plan(tables):
    rt.build_plan(B, Lq, Lk, tables)


cases = [
    ("misspelled name", {"dok": doc, "blocks": blocks}, lambda: plan({"dok": doc, "blocks": blocks})),
    ("missing table", {"doc": doc}, lambda: plan({"doc": doc})),
    ("no tables", None, lambda: plan({})),
    ("too few in a list", [doc], lambda: validate([desc(doc)])),
    ("wrong extent", [np.zeros((B, Lk + 1), np.int64), blocks],
     lambda: validate([desc(np.zeros((B, Lk + 1))), desc(blocks)])),
    ("wrong rank", [np.zeros((B, Lk, 1), np.int64), blocks],
     lambda: validate([desc(np.zeros((B, Lk, 1))), desc(blocks)])),
    ("float table", [doc.astype(np.float32), blocks],
     lambda: validate([desc(doc, "f32"), desc(blocks)])),
    ("value beyond i32", [np.full((B, Lk), 1 << 40, np.int64), blocks],
     lambda: plan([np.full((B, Lk), 1 << 40, np.int64), blocks])),
]
same = True
for name, tables, runtime_call in cases:
    got = []
    for call in (lambda: sattn.reference(manifest, q, k, k, tables=tables), runtime_call):
        try:
            call()
            got.append("no error")
        except (ValueError, TypeError) as e:
            got.append("%s: %s" % (type(e).__name__, e))
    agree = got[0] == got[1]
    same &= agree
    print("%s: %s %s" % (name, "same" if agree else "DIFFERENT", got[0]))
    if not agree:
        print("  runtime:", got[1])

for name, tables in [("int32 and bool", {"doc": doc, "blocks": blocks}),
                     ("nested lists", [doc.tolist(), blocks.tolist()])]:
    o, lse = sattn.reference(manifest, q, k, k, tables=tables)
    print("%s: ok %s" % (name, o.shape))
sys.exit(0 if same else 1)
