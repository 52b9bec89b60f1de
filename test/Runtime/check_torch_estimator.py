"""A kernel with a compiled estimator through the PyTorch face, with the
stand-in torch of Inputs/stub_torch and the fake driver (no GPU, no real
torch): a call without the estimated table runs the estimator
(sattn_estimator_run_weighted: q, k, no weights, a new int64 table of the
declared shape and a uint8 workspace, on the current stream), then builds
the device plan from
that table and launches, all on the same stream; a call given the table
runs no estimator; kernel.estimate() returns the table; the estimate op is
registered with a fake implementation giving the table's shape; weights
are refused (only a gate's estimator reads them: check_torch_gate.py).

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_estimator.py MANIFEST   (block_topk or vertical_slash of
                                         examples/dynamic.sattn: 32 heads, 8 KV
                                         heads, head_dim 128; blocks of 64)
"""
import sys

import torch

import sattn

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)

kernel = sattn.load(sys.argv[1])
rt, lib = kernel.runtime, kernel.runtime._lib
name = kernel.estimated_table
say("kernel: %s estimated table %r (index %s of %s)" % (kernel.name, name, rt.estimator_table,
                                                         kernel.table_names))
say("repr: %r" % kernel)
events = []


def record(fn_name, describe):
    real = getattr(lib, fn_name)

    def wrapper(*args):
        status = real(*args)
        events.append((fn_name, status) + describe(*args))
        return status
    setattr(lib, fn_name, wrapper)


record("sattn_estimator_run_weighted",
       lambda k, q, kk, w, table, ws, size, stream: (ws, size, stream.value, w))
record("sattn_device_plan_build", lambda *a: (a[5], a[-2].value))
record("sattn_launch", lambda *a: (a[-1].value,))

B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 32, Lq, 128, dtype=torch.bfloat16)
k = torch.empty(B, 8, Lk, 128, dtype=torch.bfloat16)
kernel(q, k, k)
check([e[0] for e in events] == ["sattn_estimator_run_weighted", "sattn_device_plan_build",
                                 "sattn_launch"],
      "estimate, device plan and launch, in that order: %s" % [e[:2] for e in events])
check(all(e[1] == 0 for e in events), "every call succeeds: %s" % [e[:2] for e in events])
run, build, launch = events
check(run[2] % 256 == 0, "the estimator's workspace is aligned")
check(run[5] is None, "no weights for this estimator")
scratch = kernel.runtime.estimator_workspace(B, Lk)
check(0 < scratch <= run[3] <= scratch + 256,
      "the workspace holds the estimator's scratch (%d bytes) plus at most 256 for alignment: "
      "%d" % (scratch, run[3]))
check(run[4] == build[3] == launch[2] == 0x1234, "one stream for all three")
say("call: estimate (workspace %d bytes), device plan (%d table), launch; stream 0x%x"
    % (run[3], build[2], run[4]))

events.clear()
table = kernel.estimate(q, k)
# block_topk: (B, H, ceil(Lk / 64), ceil(Lk / 64)); vertical_slash: (B, H, 2, Lk).
lines = kernel.manifest["estimator"]["kind"] == "vertical_slash"
expected = (B, 32, 2, Lk) if lines else (B, 32, 3, 3)
check(tuple(table.shape) == expected and table.dtype is torch.int64,
      "the estimated table is int64 %s: %s %s" % (expected, tuple(table.shape), table.dtype))
say("estimate: table %s %s" % (tuple(table.shape), table.dtype))
events.clear()
kernel(q, k, k, {name: table})
check([e[0] for e in events] == ["sattn_device_plan_build", "sattn_launch"],
      "a call given the table runs no estimator")
say("call with the table: device plan and launch only")

fake = [op for op in torch.library.registered if op.name == "sattn::estimate"][0]
shape = fake.fake(kernel.key, q, k).shape
check(tuple(shape) == expected, "the fake estimate gives the table's shape")
check(kernel.estimator_weights is None and rt.estimator_weights is None,
      "the estimator reads no weights")
say("fake estimate: %s" % (tuple(shape),))

try:
    kernel.estimate(torch.empty(B, 16, Lq, 128, dtype=torch.bfloat16), k)
    say("wrong heads: no error")
except ValueError as e:
    say("wrong heads: ValueError %s" % e)
weights = torch.empty(32, 512, 16)
for what, call in (("kernel", lambda: kernel(q, k, k, weights=weights)),
                   ("runtime", lambda: rt.estimate(q, k, weights=weights))):
    try:
        call()
        say("weights (%s): no error" % what)
    except ValueError as e:
        say("weights (%s): ValueError %s" % (what, e))
causal = [m for m in sys.argv[2:]]
for path in causal:
    other = sattn.load(path)
    try:
        other.estimate(q, k)
    except ValueError as e:
        say("no estimator: ValueError %s" % e)
say("done")
