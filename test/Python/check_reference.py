"""sattn.reference on NumPy against a brute-force loop.

Reads the mask programs `sattn-compile --emit=mask-program` printed for
reference-specs.sattn (one line per kernel, in file order) and, for each
case, compares sattn.reference with attention computed row by row in float64
with the mask written out by hand in Python: absolute query positions
(i + Lk - Lq), the GQA head mapping h // (H // KV_H), tables, and empty rows
(o = 0, lse = -inf). Exits 1 on a mismatch. Never imports torch.
"""
import math
import sys

import numpy as np

import sattn

programs = [sattn.MaskProgram(line) for line in sys.stdin if line.strip()]
names = ["causal", "streaming", "strided_mqa", "documents", "tail_rows"]
assert len(programs) == len(names), len(programs)
program = dict(zip(names, programs))

# The masks of reference-specs.sattn, by hand: keep(b, h, q, k, tables).
KEEP = {
    "causal": lambda b, h, q, k, t: k <= q,
    "streaming": lambda b, h, q, k, t: k <= q and (k < 4 or q - k < 8),
    "strided_mqa": lambda b, h, q, k, t: k <= q and (k % 4 == h % 4 or q - k < 3),
    "documents": lambda b, h, q, k, t: k <= q and t["doc"][b][q] == t["doc"][b][k],
}


def brute(name, q, k, v, scale, tables, keep=None):
    keep = keep or KEEP[name]
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    o = np.zeros((B, H, Lq, D))
    lse = np.full((B, H, Lq), -math.inf)
    for b in range(B):
        for h in range(H):
            kv = h // (H // KVH)
            for i in range(Lq):
                pos = i + Lk - Lq
                kept = [j for j in range(Lk) if keep(b, h, pos, j, tables)]
                if not kept:
                    continue
                s = np.array([float(np.dot(q[b, h, i].astype(np.float64), k[b, kv, j])) * scale
                              for j in kept])
                m = s.max()
                p = np.exp(s - m)
                o[b, h, i] = sum(p[n] * v[b, kv, j] for n, j in enumerate(kept)) / p.sum()
                lse[b, h, i] = m + math.log(p.sum())
    return o, lse


rng = np.random.default_rng(7)
failures = 0


def case(label, name, batch, lq, lk, tables=None, scale=None, as_manifest=False, keep=None):
    global failures
    prog = program[name]
    H, KVH, D = prog.heads, prog.kv_heads, 16
    q = rng.standard_normal((batch, H, lq, D)).astype(np.float32)
    k = rng.standard_normal((batch, KVH, lk, D)).astype(np.float32)
    v = rng.standard_normal((batch, KVH, lk, D)).astype(np.float32)
    want_scale = scale if scale is not None else 1 / math.sqrt(D)
    source = prog
    if as_manifest:  # the manifest form, carrying the compiled-in scale
        source = {"mask_program": prog.doc, "scale": want_scale,
                  "tables": [{"name": t["name"]} for t in prog.tables]}
        scale = None
    # A small chunk forces several row blocks per batch.
    o, lse = sattn.reference(source, q, k, v, tables=tables, scale=scale, chunk_elements=64)
    by_name = tables if isinstance(tables, dict) else dict(
        zip([t["name"] for t in prog.tables], tables or []))
    ref_o, ref_lse = brute(name, q, k, v, want_scale, by_name, keep)
    assert o.dtype == np.float32 and o.shape == q.shape and lse.shape == q.shape[:3]
    err = float(np.abs(o - ref_o).max())
    same_empty = bool((np.isneginf(lse) == np.isneginf(ref_lse)).all())
    finite = ~np.isneginf(ref_lse)
    lse_err = float(np.abs(lse[finite] - ref_lse[finite]).max()) if finite.any() else 0.0
    empty_rows = int((~finite).sum())
    zero_on_empty = bool((o[~finite] == 0).all())
    ok = err < 1e-5 and lse_err < 1e-5 and same_empty and zero_on_empty
    failures += not ok
    print("%s %s: max|o-ref|=%.1e max|lse-ref|=%.1e empty rows=%d"
          % ("ok" if ok else "MISMATCH", label, err, lse_err, empty_rows))


case("causal", "causal", 1, 9, 9)
case("causal Lq<Lk", "causal", 2, 5, 13)
case("streaming GQA 4/2", "streaming", 1, 20, 20, scale=0.3)
case("streaming GQA Lq<Lk manifest", "streaming", 2, 6, 21, as_manifest=True)
case("strided MQA per head", "strided_mqa", 1, 12, 12)
doc = np.array([[0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3], [5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6]])
case("document table", "documents", 2, 12, 12, tables={"doc": doc})
case("document table list Lq<Lk", "documents", 2, 4, 12, tables=[doc])
# tail(3) at Lk = 10: only query positions 7..9 keep keys.
case("empty rows", "tail_rows", 1, 7, 10, keep=lambda b, h, q, k, t: q >= 10 - 3 and k <= q)

try:
    sattn.reference(program["causal"], np.zeros((1, 2, 5, 16)), np.zeros((1, 2, 4, 16)),
                    np.zeros((1, 2, 4, 16)))
    print("MISMATCH Lq > Lk accepted")
    failures += 1
except ValueError as e:
    print("Lq > Lk: ValueError", str(e).split(" (")[0])

assert "torch" not in sys.modules
sys.exit(1 if failures else 0)
