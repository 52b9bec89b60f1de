"""GPU test of block maxima (kernels compiled with ``block_max = true``): the
largest attention probability of every (query tile, KV tile), written by the
attention kernel next to O, against dense masked attention in fp32.

For each kernel directory (or manifest) given, every kernel whose manifest
says "block_max" (others are listed as skipped), and each shape (batch 2;
Lq = Lk = each --lengths value, then a ragged Lq < Lk):
  - fresh random q, k, v (the kernel's dtype; scaled so that probabilities
    range over decades) and random tables;
  - ``kernel.block_max(q, k, v, tables)`` through sattn.load (host or device
    plan as the kernel's calls use), and the runtime binding's
    launch_block_max on a host plan into outputs poisoned with NaN first
    (every block_max entry must be written);
  - the reference: P = softmax(scale q k^T) over the kept keys in fp32 on
    the same bf16 / fp16 values (the mask from the manifest's mask program),
    max-pooled over block_m x block_n tiles; 0 where a tile keeps no pair;
  - passes when the relative error of every entry with a kept pair is below
    2e-2 (bf16 scores: the probabilities' exponents carry the inputs'
    rounding) or 1e-2 (fp16), tiles without a kept pair are exactly 0, O
    matches the reference (relative 2e-2 / 1e-2) and nothing is NaN.
Every CUDA call is followed by a synchronize, so an asynchronous fault is
reported with the case that caused it.

--bench BASELINE_MANIFEST times the first kernel against BASELINE (the same
mask compiled without block_max, same tiles) at --bench-length (batch 1;
CUDA events, median of 10 after 3 warm-ups) and prints both and the
overhead.

Usage: python3 block_max_test.py DIR_OR_MANIFEST [...] [--lengths 1000,4096]
           [--bench BASELINE] [--bench-length 32768] [--json OUT] [--seed N]
Prints a table and "N passed, N failed"; exits 1 when any check fails.
"""
import argparse
import json
import os
import sys
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
sys.path.insert(0, HERE)
import sattn  # noqa: E402
from sattn import _block_max  # noqa: E402
from gpu_cases import DEV, keep_mask, kernels_in, median_ms, random_tables  # noqa: E402

TOL = {"bf16": 2e-2, "f16": 1e-2}
BATCH = 2


def reference(kernel, q, k, v, tables):
    """(o, block maxima (B, H, T, N), kept (B, H, T, N) bool) in fp32."""
    group = kernel.heads // kernel.kv_heads
    lq, lk = q.shape[2], k.shape[2]
    bm, bn = kernel.block_m, kernel.block_n
    t, n = -(-lq // bm), -(-lk // bn)
    outs, maxima, kept = [], [], []
    for b in range(q.shape[0]):
        keep = keep_mask(kernel, b, lq, lk, tables)
        empty = ~keep.any(-1)
        s = torch.einsum("hqd,hkd->hqk", q[b].float(),
                         k[b].float().repeat_interleave(group, 0)) * kernel.scale
        s = s.masked_fill(~keep, float("-inf")).masked_fill(empty[..., None], 0.0)
        p = torch.softmax(s, -1).masked_fill(~keep, 0.0)
        outs.append(torch.einsum("hqk,hkd->hqd", p, v[b].float().repeat_interleave(group, 0)))
        pad = lambda x: torch.nn.functional.pad(x, (0, n * bn - lk, 0, t * bm - lq))
        pooled = pad(p).reshape(kernel.heads, t, bm, n, bn).amax(dim=(2, 4))
        any_kept = pad(keep.float()).reshape(kernel.heads, t, bm, n, bn).amax(dim=(2, 4)) > 0
        maxima.append(pooled)
        kept.append(any_kept)
        del s, p
    return torch.stack(outs), torch.stack(maxima), torch.stack(kept)


def check_case(kernel, lq, lk, gen):
    dt = torch.bfloat16 if kernel.dtype == "bf16" else torch.float16
    d = kernel.head_dim
    # Scores of a few units: probabilities spread over several decades.
    q = (torch.randn(BATCH, kernel.heads, lq, d, device=DEV, generator=gen) * 1.5).to(dt)
    k = (torch.randn(BATCH, kernel.kv_heads, lk, d, device=DEV, generator=gen) * 1.5).to(dt)
    v = torch.randn(BATCH, kernel.kv_heads, lk, d, device=DEV, generator=gen).to(dt)
    tables = random_tables(kernel, BATCH, lk, gen)
    out = kernel.block_max(q, k, v, tables)
    torch.cuda.synchronize()
    o, block = out[0], out[-1]
    # The runtime binding on a host plan, into poisoned outputs.
    rt = kernel.runtime
    row_shape, block_shape = _block_max.block_max_shapes(kernel, BATCH, lq, lk)
    row_max = torch.full(row_shape, float("nan"), device=DEV)
    block2 = torch.full(block_shape, float("nan"), device=DEV)
    o2 = torch.full_like(q, float("nan"))
    lse2 = (torch.full(q.shape[:3], float("nan"), device=DEV)
            if kernel.returns_lse else None)
    table_list = [tables[name].contiguous() for name in kernel.table_names]
    plan = kernel.device_plan(q.device, BATCH, lq, lk, table_list)  # the host planner's
    rt.launch_block_max(q, k, v, o2, lse2, row_max, block2, plan=plan, tables=table_list)
    torch.cuda.synchronize()

    ref_o, ref_max, kept = reference(kernel, q, k, v, tables)
    tol = TOL[kernel.dtype]
    result = {"kernel": kernel.name, "lq": lq, "lk": lk, "kept_tiles": int(kept.sum()),
              "tiles": kept.numel()}
    for label, got_o, got in (("op", o, block), ("runtime", o2, block2)):
        nan = bool(torch.isnan(got).any() or torch.isnan(got_o).any())
        zero_ok = bool((got[~kept] == 0).all())
        rel = ((got - ref_max).abs() / ref_max.clamp_min(1e-30))[kept]
        worst = float(rel.max()) if rel.numel() else 0.0
        o_rel = float((got_o.float() - ref_o).norm() / ref_o.norm().clamp_min(1e-30))
        result[label] = {"worst_rel": worst, "zero_ok": zero_ok, "nan": nan, "o_rel": o_rel}
        result.setdefault("ok", True)
        result["ok"] &= (not nan) and zero_ok and worst < tol and o_rel < tol
    result["same"] = bool(torch.equal(block, block2))
    return result


def bench(kernel, baseline, length):
    dt = torch.bfloat16 if kernel.dtype == "bf16" else torch.float16
    d = kernel.head_dim
    q = torch.randn(1, kernel.heads, length, d, device=DEV, dtype=dt)
    k = torch.randn(1, kernel.kv_heads, length, d, device=DEV, dtype=dt)
    v = torch.randn(1, kernel.kv_heads, length, d, device=DEV, dtype=dt)
    with_max = median_ms(lambda: kernel.block_max(q, k, v))
    plain = median_ms(lambda: baseline(q, k, v))
    return {"length": length, "block_max_ms": with_max, "plain_ms": plain,
            "overhead": with_max / plain - 1.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--lengths", default="1000,4096")
    ap.add_argument("--bench", default="")
    ap.add_argument("--bench-length", type=int, default=32768)
    ap.add_argument("--json", default="")
    ap.add_argument("--seed", type=int, default=20261207)
    args = ap.parse_args()
    gen = torch.Generator(device=DEV)
    gen.manual_seed(args.seed)
    results, failed, first = [], 0, None
    for path in args.paths:
        for manifest in kernels_in(path):
            kernel = sattn.load(manifest)
            if not kernel.has_block_max:
                print("skipped %s (no block_max)" % kernel.name)
                continue
            first = first or kernel
            for length in [int(x) for x in args.lengths.split(",")]:
                for lq in (length, length - length // 3):
                    try:
                        r = check_case(kernel, lq, length, gen)
                    except Exception:  # noqa: BLE001 - reported as a failure
                        r = {"kernel": kernel.name, "lq": lq, "lk": length, "ok": False,
                             "error": traceback.format_exc()}
                        print(r["error"])
                    failed += not r["ok"]
                    results.append(r)
                    print("%-20s Lq=%-6d Lk=%-6d %s  %s" % (
                        r["kernel"], lq, length, "ok  " if r["ok"] else "FAIL",
                        json.dumps({k: r[k] for k in ("op", "runtime", "same", "kept_tiles")
                                    if k in r})), flush=True)
    timing = None
    if args.bench and first is not None:
        timing = bench(first, sattn.load(args.bench), args.bench_length)
        print("bench %s L=%d: with block maxima %.3f ms, without %.3f ms: overhead %.1f %%"
              % (first.name, timing["length"], timing["block_max_ms"], timing["plain_ms"],
                 100 * timing["overhead"]))
    print("%d passed, %d failed" % (len(results) - failed, failed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": results, "bench": timing}, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
