"""An nsa kernel (examples/dynamic.sattn's: 64 heads, 4 KV heads, head_dim
128, compressed blocks of 32 every 16) through the PyTorch face, with the
stand-in torch of Inputs/stub_torch and the fake driver: its estimator takes
a caller's compressed keys in the weights' place, optionally. A call or an
estimate without them passes no weights (the blocks' means); with float32
(B, KV, C, D) keys, C the compressed blocks of Lk keys, the estimator reads
them as they are (no copy); keys of another dtype are converted; a wrong
shape, of the keys or of kernel.nsa's compressed values, is a ValueError
naming the expected one, before anything runs.

Usage (stub first on PYTHONPATH, SATTN_RUNTIME_LIB and SATTN_LIBCUDA set; the
fake driver prints to stdout, so this prints its lines to stderr):
    check_torch_nsa.py MANIFEST
"""
import sys

import torch

import sattn
from sattn._capi import CTensor

from stub_checks import check, say  # noqa: E402 (after the stand-in torch)

kernel = sattn.load(sys.argv[1])
lib = kernel.runtime._lib
events = []


def describe(address):
    """(data, dtype code, shape) of the sattn_tensor at `address`, or None."""
    if not address:
        return None
    t = CTensor.from_address(address)
    return (t.data, t.dtype, tuple(t.shape[:t.rank]))


real = lib.sattn_estimator_run_weighted


def wrapper(*args):
    status = real(*args)
    events.append((status, describe(args[3])))
    return status


lib.sattn_estimator_run_weighted = wrapper

B, Lq, Lk = 1, 100, 130
C = (Lk - 32) // 16 + 1
q = torch.empty(B, 64, Lq, 128, dtype=torch.bfloat16)
k = torch.empty(B, 4, Lk, 128, dtype=torch.bfloat16)
say("kernel: %s, compressed keys (B, KV, C, D) = %s at Lk = %d"
    % (kernel.name, (B, 4, C, 128), Lk))

kernel.estimate(q, k)
check(len(events) == 1 and events[0][0] == 0 and events[0][1] is None,
      "without compressed keys the estimator gets no weights: %s" % events)
say("estimate without compressed keys: no weights (the blocks' means)")

events.clear()
keys = torch.empty(B, 4, C, 128, dtype=torch.float32)
table = kernel.estimate(q, k, weights=keys)
check(tuple(table.shape) == (B, 4, Lk, 3), "the group table (B, KV, Lk, blocks): %s"
      % (tuple(table.shape),))
check(len(events) == 1 and events[0][0] == 0 and events[0][1][0] == keys.data_ptr()
      and events[0][1][2] == (B, 4, C, 128),
      "one estimate reading the keys themselves: %s" % events)
say("estimate with f32 compressed keys: read in place, shape %s" % (events[0][1][2],))

events.clear()
kernel(q, k, k, weights=torch.empty(B, 4, C, 128, dtype=torch.bfloat16))
check(len(events) == 1 and events[0][0] == 0 and events[0][1] is not None
      and events[0][1][1] == 2 and events[0][1][2] == (B, 4, C, 128),
      "a call converts bf16 keys to f32 for the estimator: %s" % events)
say("call with bf16 compressed keys: estimator given f32 %s" % (events[0][1][2],))

events.clear()
for what, call in (("kernel", lambda: kernel(q, k, k, weights=torch.empty(B, 4, C + 1, 128))),
                   ("runtime", lambda: kernel.runtime.estimate(
                       q, k, weights=torch.empty(B, 4, C + 1, 128)))):
    try:
        call()
        say("%s, wrong shape: no error" % what)
    except ValueError as e:
        say("%s, wrong shape: ValueError %s" % (what, e))
gates = torch.empty(B, 64, Lq, 3)
good = torch.empty(B, 4, C, 128)
for what, pair in (("values", (good, torch.empty(B, 4, C - 1, 128))),
                   ("keys", (torch.empty(B, 4, C, 64), good))):
    try:
        kernel.nsa(q, k, k, gates, compressed=pair)
        say("nsa, wrong %s: no error" % what)
    except ValueError as e:
        say("nsa, wrong %s: ValueError %s" % (what, e))
check(not events, "nothing runs with keys of the wrong shape: %s" % events)
say("done")
