"""A kernel whose mask is a gate (SeerAttention's AttnGate) through the
PyTorch face, with the stand-in torch of Inputs/stub_torch and the fake
driver (no GPU, no real torch). The gate's estimator reads learned weights
that the caller passes: a call without the estimated table needs them
(ValueError naming the fix otherwise), converts a (wq, wk) pair of any
floating dtype into one contiguous float32 (H, 4D, F) tensor and runs
sattn_estimator_run_weighted with it, then the device plan and the launch,
all on one stream; one float32 (H, 4D, F) tensor passes as it is; a call
given the table needs no weights; wrong weights are clear errors, and
kernels whose estimator reads none (or that have none) refuse them.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_gate.py GATE NO_ESTIMATOR SCRATCH
GATE: Inputs/gate.json (4 heads, 2 KV heads, head_dim 64, hidden 16, blocks
of 64) with gate.ptx beside it; NO_ESTIMATOR: Inputs/device_planned.json;
SCRATCH: a directory for a block_topk variant of GATE.
"""
import json
import os
import shutil
import sys

import torch

import sattn
from sattn._capi import CTensor

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)

kernel = sattn.load(sys.argv[1])
rt, lib = kernel.runtime, kernel.runtime._lib
name = kernel.estimated_table
say("kernel: %s estimated table %r, weights %s (runtime: %s)"
    % (kernel.name, name, kernel.estimator_weights, rt.estimator_weights))
events = []


def describe(address):
    """(data, dtype code, shape, strides) of the sattn_tensor at `address`, or None."""
    if not address:
        return None
    t = CTensor.from_address(address)
    return (t.data, t.dtype, tuple(t.shape[:t.rank]), tuple(t.strides[:t.rank]))


def record(fn_name, describe_call):
    real = getattr(lib, fn_name)

    def wrapper(*args):
        status = real(*args)
        events.append((fn_name, status) + describe_call(*args))
        return status
    setattr(lib, fn_name, wrapper)


record("sattn_estimator_run_weighted",
       lambda k, q, kk, w, table, ws, size, stream: (stream.value, describe(w)))
record("sattn_device_plan_build", lambda *a: (a[-2].value,))
record("sattn_launch", lambda *a: (a[-1].value,))


def error(what, call):
    try:
        call()
        say("%s: no error" % what)
    except (TypeError, ValueError) as e:
        say("%s: %s %s" % (what, type(e).__name__, e))


B, Lq, Lk = 2, 100, 130
q = torch.empty(B, 4, Lq, 64, dtype=torch.bfloat16)
k = torch.empty(B, 2, Lk, 64, dtype=torch.bfloat16)
error("call without weights", lambda: kernel(q, k, k))
check(not events, "nothing ran")

# A (wq, wk) pair in bf16: one float32 (4, 256, 16) tensor reaches the runtime.
wq = torch.empty(4, 64, 16, dtype=torch.bfloat16)
wk = torch.empty(4, 192, 16, dtype=torch.bfloat16)
kernel(q, k, k, weights=(wq, wk))
check([e[0] for e in events] == ["sattn_estimator_run_weighted", "sattn_device_plan_build",
                                 "sattn_launch"],
      "estimate, device plan and launch, in that order: %s" % [e[:2] for e in events])
check(all(e[1] == 0 for e in events), "every call succeeds: %s" % [e[:2] for e in events])
run, build, launch = events
data, dtype, shape, strides = run[3]
check(dtype == 2 and shape == (4, 256, 16) and strides == (4096, 16, 1) and data % 16 == 0,
      "the weights are one contiguous aligned f32 (H, 4D, F) tensor: %s" % (run[3],))
check(run[2] == build[2] == launch[2] == 0x1234, "one stream for all three")
say("call with (wq, wk): estimate with f32 %s weights, device plan, launch; stream 0x%x"
    % (shape, run[2]))

# One float32 (H, 4D, F) tensor is passed as it is; the table it gives
# serves calls that then need no weights.
events.clear()
w = torch.empty(4, 256, 16, dtype=torch.float32)
table = kernel.estimate(q, k, weights=w)
check(tuple(table.shape) == (B, 4, 3, 3) and table.dtype is torch.int64,
      "the estimated table is int64 (B, H, 3, 3): %s %s" % (tuple(table.shape), table.dtype))
check(len(events) == 1 and events[0][1] == 0 and events[0][3][0] == w.data_ptr(),
      "one estimate, reading w itself: %s" % events)
say("estimate with one f32 tensor: table %s %s, weights not copied"
    % (tuple(table.shape), table.dtype))
events.clear()
kernel(q, k, k, {name: table})
check([e[0] for e in events] == ["sattn_device_plan_build", "sattn_launch"],
      "a call given the table runs no estimator and needs no weights")
say("call with the table: device plan and launch only")
events.clear()
table = rt.estimate(q, k, weights=(wq, wk))
check(len(events) == 1 and events[0][3][2] == (4, 256, 16), "the runtime kernel converts too")
say("runtime estimate with (wq, wk): table %s" % (tuple(table.shape),))

fake = [op for op in torch.library.registered if op.name == "sattn::estimate"][0]
shape = fake.fake(kernel.key, q, k, w).shape
check(tuple(shape) == (B, 4, 3, 3), "the fake estimate gives the table's shape")
say("fake estimate with weights: %s" % (tuple(shape),))

events.clear()
error("estimate without weights", lambda: kernel.estimate(q, k))
error("runtime estimate without weights", lambda: rt.estimate(q, k))
error("one tensor of a pair", lambda: kernel(q, k, k, weights=(wq,)))
error("wq alone", lambda: kernel(q, k, k, weights=wq))
error("swapped pair", lambda: kernel(q, k, k, weights=(wk, wq)))
error("integer weights", lambda: kernel(q, k, k, weights=torch.empty(4, 256, 16,
                                                                     dtype=torch.int64)))
error("not a tensor", lambda: kernel(q, k, k, weights=(wq, [[0.0]])))
check(not events, "no bad weights reached the runtime: %s" % events)

# Kernels whose estimator reads no weights, or that have no estimator.
with open(sys.argv[1], encoding="utf-8") as f:
    manifest = json.load(f)
manifest["name"] = "blocks"
manifest["estimator"] = dict(manifest["estimator"], kind="block_topk", scorer="mean_pool",
                             top_k=2, tau=0, stride=0,
                             entries=manifest["estimator"]["entries"][:3])
for key in ("hidden", "threshold", "top_ratio", "rope_base"):
    del manifest["estimator"][key]
blocks_path = os.path.join(sys.argv[3], "blocks.json")
with open(blocks_path, "w", encoding="utf-8") as f:
    json.dump(manifest, f)
shutil.copy(os.path.splitext(sys.argv[1])[0] + ".ptx", os.path.join(sys.argv[3], "blocks.ptx"))
blocks = sattn.load(blocks_path)
check(blocks.estimator_weights is None and blocks.runtime.estimator_weights is None,
      "block_topk reads no weights")
error("block_topk call with weights", lambda: blocks(q, k, k, weights=w))
error("block_topk estimate with weights", lambda: blocks.estimate(q, k, weights=w))
error("block_topk runtime estimate with weights", lambda: blocks.runtime.estimate(q, k, weights=w))
other = sattn.load(sys.argv[2])
error("no estimator, call with weights", lambda: other(q, k, k, {}, weights=w))
check(not events, "nothing ran: %s" % events)
say("done")
