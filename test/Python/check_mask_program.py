"""Compares python/sattn/mask_program.py with the C++ reference evaluator.

Reads the JSON lines printed by sattn-mask-grid (program, random tables and
the reference keep bit of every (b, h, row, k)) and evaluates the program
with NumPy over the same grid. Exits 1 on the first mismatch.
"""
import json
import sys

import numpy as np

from sattn import MaskProgram

checked = 0
for line in sys.stdin:
    if not line.strip():
        continue
    doc = json.loads(line)
    prog = MaskProgram(doc["program"])
    batch, lq, lk = doc["batch"], doc["lq"], doc["lk"]
    tables = {name: np.asarray(t["values"], dtype=np.int64).reshape(t["shape"])
              for name, t in doc["tables"].items()}
    for name, t in tables.items():
        assert prog.table_shape(name, batch, lk) == t.shape, (name, t.shape)
    b = np.arange(batch)[:, None, None, None]
    h = np.arange(prog.heads)[None, :, None, None]
    q = (np.arange(lq) + (lk - lq))[None, None, :, None]
    k = np.arange(lk)[None, None, None, :]
    got = np.broadcast_to(prog.keep(b, h, q, k, lk, tables), (batch, prog.heads, lq, lk))
    want = np.frombuffer(doc["keep"].encode(), dtype=np.uint8).reshape(got.shape) == ord("1")
    bad = np.argwhere(got != want)
    if len(bad):
        b0, h0, i0, k0 = bad[0]
        print("MISMATCH %s: b=%d h=%d row=%d k=%d python=%s reference=%s (%d pairs differ)"
              % (doc["kernel"], b0, h0, i0, k0, got[tuple(bad[0])], want[tuple(bad[0])], len(bad)))
        sys.exit(1)
    print("ok %s: %d pairs, %d kept" % (doc["kernel"], want.size, int(want.sum())))
    checked += 1
if checked == 0:
    print("no kernels read")
    sys.exit(1)
