"""sattn without torch: importing, loading a kernel, the scale rule, the
error a launch gives, and the plan cache (with a stand-in runtime kernel that
speaks the RuntimeKernel.build_plan / HostPlan.upload API).

Usage: check_no_torch.py MANIFEST (a manifest with tables `doc` and `blocks`)
"""
import sys

import numpy as np

import block_torch  # noqa: F401  (before sattn: torch cannot be imported from here on)
import sattn  # noqa: E402


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


kernel = sattn.load(sys.argv[1])
print("loaded:", kernel)
check(sattn.load(sys.argv[1]) is kernel, "loading a manifest twice gives the same Kernel")
check(kernel.table_shape("doc", 3, 130) == (3, 130), "table shape from the mask program")
check(kernel.table_shape(1, 3, 130) == (4, 3, 3), "table shape by index")

kernel.check_scale(None)
kernel.check_scale(0.125 * (1 + 1e-9))
try:
    kernel(None, None, None, scale=0.1)
    check(False, "a different scale is accepted")
except ValueError as e:
    print("scale:", e)
try:
    kernel.check_scale("big")
    check(False, "a string scale is accepted")
except TypeError as e:
    print("scale type:", e)
try:
    kernel(None, None, None)
    check(False, "a launch without torch did not fail")
except ImportError as e:
    print("launch without torch: ImportError")
try:
    kernel.table_list({"doc": 1, "nope": 2})
    check(False, "an unknown table is accepted")
except ValueError as e:
    print("tables:", e)
try:
    kernel.table_list(None)
    check(False, "missing tables are accepted")
except ValueError as e:
    print("tables:", e)
check(kernel.table_list({"blocks": 2, "doc": 1}) == [1, 2], "dict tables in manifest order")


class HostPlan:
    def __init__(self, args):
        self.args = args

    def upload(self):
        return ("device plan", self.args)


class StandIn:
    def __init__(self):
        self.calls = []

    def build_plan(self, batch, lq, lk, tables=()):
        self.calls.append((batch, lq, lk, [t.copy() for t in tables]))
        return HostPlan((batch, lq, lk))


stand_in = StandIn()
kernel._runtime = stand_in
doc = np.zeros((2, 130), dtype=np.int32)
blocks = np.ones((4, 3, 3), dtype=bool)
p1 = kernel.device_plan("cuda:0", 2, 100, 130, [doc, blocks])
check(p1 == ("device plan", (2, 100, 130)), "HostPlan.upload() is the plan")
batch, lq, lk, tables = stand_in.calls[0]
check(all(t.dtype == np.int64 and t.flags.c_contiguous for t in tables),
      "build_plan gets contiguous int64 host tables")
kernel.device_plan("cuda:0", 2, 100, 130, [doc.astype(np.int64), blocks])
check(len(stand_in.calls) == 1, "same sizes and table contents: cached")
doc[1, 5] = 7
kernel.device_plan("cuda:0", 2, 100, 130, [doc, blocks])
check(len(stand_in.calls) == 2, "changed table contents: planned again")
kernel.device_plan("cuda:1", 2, 100, 130, [doc, blocks])
kernel.device_plan("cuda:0", 2, 101, 130, [doc, blocks])
check(len(stand_in.calls) == 4, "other device or length: planned again")
print("plans: %d built, %d hits" % (kernel._plans.misses, kernel._plans.hits))
check("torch" not in sys.modules, "torch was imported")
print("no torch: all checks passed")
