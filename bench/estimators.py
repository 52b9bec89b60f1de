"""Benchmark of compiled estimators on the GPU (block_topk: mean pool and
XAttention's antidiagonal scorer; vertical_slash; stripe; SeerAttention's
gate, whose weights are drawn at random here: no trained gate is at hand,
so its recall says nothing about a trained one; its rows time the gate's
estimate and the attention at the kept density):
estimator, device plan and attention times, the whole call, FlexAttention on
the same block mask and cuDNN's dense causal attention, with the kept
density and the mass recall, on structured inputs.

Inputs (B = 1, H = 16, head_dim 128, bf16), generated here so that attention
has the structure the estimators look for (as MInference's head profiles
show: most of a head's mass on sinks, a local window and a few heavy keys).
With scale 1 / sqrt(D), a shared vector u_h of norm c D^(1/4) in a query and
m u_h in a key adds m c^2 logits:
  q, k = 0.5 * N(0, 1) per entry (about 0.25 logits of noise)
  + locality: per 128-token block j a position vector w_j (cos and sin of
    j * theta_f for 8 frequencies theta_f = 2 pi / (4 * 2.4^f), periods of 4
    to 1835 blocks, spread over the head dimension, norm 2.5 D^(1/4)), added
    to q and k: w_i . w_j peaks at i = j (+6.25 logits on the diagonal block)
    and falls off with |i - j|. The periods are incommensurate so that the
    waves never line up again within 128K tokens. `--waves pow2` restores the
    generator of sessions up to 19 (periods 2^(f+2) blocks): all eight waves
    line up again 512 blocks (64K tokens) back, an echo of the diagonal that
    real heads do not show and that cut vertical_slash's recall at 128K
  + heavy keys: u_h (c = 2) in every query; 2 u_h (+8 logits) in 3 % of the
    key blocks per head, or for vertical_slash and stripe kernels in single
    keys (0.5 % of keys), the columns they look for
  + sinks: the first 16 keys get 3 u_h (+12 logits)
The noise spreads the rest of a row's mass over all keys; the recall column
says how much of the mass the kept pairs hold.
Mass recall: over 256 sampled query rows per head, the share of the dense
causal softmax mass (fp32) that falls in kept pairs. FlexAttention runs
vertical_slash's mask (from the estimated table, create_block_mask) only up
to 32K: its block mask evaluates every pair.

Usage: python3 bench/estimators.py DIR [--rows topk_32k:32768,...] [--json F] [--stages]
(DIR: sattn-compile bench/estimators.sattn -o DIR --target sm_90a; each row
is KERNEL:L.)
"""
import argparse
import json
import math
import os
import sys

import torch
import triton.testing as tt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import sattn  # noqa: E402
from kernel_times import kernel_times  # noqa: E402

DEV = "cuda"


def bench(fn):
    return tt.do_bench(fn, warmup=10, rep=100, return_mode="median")


def report(rows, cols, json_path=None):
    """Prints rows as a markdown table of `cols` ("-" where a row has no
    value) and writes them to json_path when given."""
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=1)


def structured(H, L, D, gen, block=128, heavy_unit=None, waves="mixed"):
    n = L // block
    j = torch.arange(n, device=DEV, dtype=torch.float32)[:, None]
    f = torch.arange(8, device=DEV, dtype=torch.float32)
    periods = 2.0 ** (f + 2) if waves == "pow2" else 4 * 2.4 ** f
    theta = 2 * math.pi / periods
    waves = torch.cat([torch.cos(j * theta), torch.sin(j * theta)], dim=-1)   # (n, 16)
    position = torch.zeros(n, D, device=DEV)
    position[:, :: D // 16] = waves
    position = position / position.norm(dim=-1, keepdim=True) * 2.5 * D ** 0.25
    local = position.repeat_interleave(block, 0)[None, None]      # (1, 1, L, D)
    u = torch.randn(1, H, 1, D, device=DEV, generator=gen)
    u = u / u.norm(dim=-1, keepdim=True) * 2 * D ** 0.25
    if heavy_unit == 1:
        heavy = (torch.rand(1, H, L, 1, device=DEV, generator=gen) < 0.005).float()
    else:
        heavy = (torch.rand(1, H, n, 1, device=DEV, generator=gen) < 0.03).float()
        heavy = heavy.repeat_interleave(block, 2)
    sink = torch.zeros(1, 1, L, 1, device=DEV)
    sink[:, :, :16] = 1
    q = 0.5 * torch.randn(1, H, L, D, device=DEV, generator=gen) + local + u
    k = 0.5 * torch.randn(1, H, L, D, device=DEV, generator=gen) + local + 2 * heavy * u \
        + 3 * sink * u
    v = torch.randn(1, H, L, D, device=DEV, generator=gen)
    return (x.to(torch.bfloat16) for x in (q, k, v))


def keep_recall(q, k, scale, keep, rows=256):
    """Kept share of the dense causal softmax mass over sampled rows, with
    keep(h, idx, L) the kept keys (bool, rows x L) of query rows idx."""
    H, L = q.shape[1], q.shape[2]
    idx = torch.linspace(L // 8, L - 1, rows, device=DEV).long()
    kept, total = 0.0, 0.0
    for h in range(H):
        s = (q[0, h, idx].float() @ k[0, h].float().T) * scale
        pos = torch.arange(L, device=DEV)
        s = s.masked_fill(pos[None, :] > idx[:, None], float("-inf"))
        p = torch.softmax(s, dim=-1)
        kept += float((p * keep(h, idx, L)).sum())
        total += float(p.sum())
    return kept / total


def recall(q, k, table, scale, block, rows=256):
    """Kept share of the dense causal softmax mass over sampled rows."""
    return keep_recall(q, k, scale, lambda h, idx, L: table[0, h][idx // block]
                       .repeat_interleave(block, -1)[:, :L].bool(), rows)


def line_keep(table, h, idx, L):
    """Kept keys of query rows idx of head h under a vertical_slash table."""
    pos = torch.arange(L, device=DEV)
    offset = idx[:, None] - pos[None, :]
    diag = table[0, h, 1][offset.clamp(min=0)].bool()
    return (offset >= 0) & (table[0, h, 0][pos][None, :].bool() | diag)


def line_recall(q, k, table, scale, rows=256):
    """recall() for a vertical_slash table (row 0 columns, row 1 offsets)."""
    return keep_recall(q, k, scale, lambda h, idx, L: line_keep(table, h, idx, L), rows)


def line_pairs(table, L):
    """Kept causal pairs of a vertical_slash table: column k keeps L - k
    queries, offset o keeps L - o, minus the pairs both keep."""
    total = 0
    for h in range(table.shape[1]):
        cols = table[0, h, 0].nonzero().flatten()
        offs = table[0, h, 1].nonzero().flatten()
        total += int((L - cols).sum()) + int((L - offs).sum())
        total -= int(((cols[:, None] + offs[None, :]) < L).sum())
    return total


def stripe_keep(table, h, idx, L, group, unit):
    """Kept keys of query rows idx of head h under a stripe table: the
    anchor regions (first group, own group) and the unit's kept keys."""
    pos = torch.arange(L, device=DEV)[None, :]
    rows = idx[:, None]
    anchor = (pos < group) | (pos >= rows // group * group)
    return (pos <= rows) & (anchor | table[0, h][idx // unit].bool())


def stripe_recall(q, k, table, scale, group, unit, rows=256):
    """recall() for a stripe table."""
    return keep_recall(q, k, scale,
                       lambda h, idx, L: stripe_keep(table, h, idx, L, group, unit), rows)


def stripe_pairs(table, L, group, unit):
    """Kept causal pairs of a stripe table: each query's anchor regions,
    plus its unit's kept keys (all before its own group, so causal)."""
    p = torch.arange(L, device=DEV, dtype=torch.int64)
    first = torch.clamp(p + 1, max=group)
    own = torch.where(p >= group, p + 1 - torch.clamp(p // group * group, min=group), 0)
    rows_per_unit = torch.bincount(p // unit, minlength=table.shape[2])
    stripes = int((table[0].sum(-1) * rows_per_unit[None, :]).sum())
    return table.shape[1] * int((first + own).sum()) + stripes


def flex_stripe_mask(table, L, group, unit):
    from torch.nn.attention.flex_attention import create_block_mask
    t = table[0].bool()

    def mod(b, h, q, k):
        return (k <= q) & ((k < group) | (k >= q // group * group) | t[h, q // unit, k])
    return create_block_mask(mod, 1, t.shape[0], L, L, device=DEV)


def flex_line_mask(table, L):
    from torch.nn.attention.flex_attention import create_block_mask
    t = table.bool()

    def mod(b, h, q, k):
        return (q >= k) & (t[b, h, 0, k] | t[b, h, 1, (q - k).clamp(min=0)])
    return create_block_mask(mod, 1, t.shape[1], L, L, device=DEV, _compile=True)


def flex_block_mask(table, L, block):
    """FlexAttention's block mask of the same table: kept blocks below the
    diagonal are full (no mask_mod), diagonal blocks partial, as
    create_block_mask would mark them."""
    from torch.nn.attention.flex_attention import BlockMask
    t = table.bool()

    def mod(b, h, q, k):
        return (q >= k) & t[b, h, q // block, k // block]

    n = t.shape[-1]
    i = torch.arange(n, device=t.device)
    below = i[:, None] > i[None, :]
    full, partial = t & below, t & ~below

    def blocks(m):
        return (m.sum(-1).to(torch.int32),
                torch.argsort(m.to(torch.int8), dim=-1, descending=True,
                              stable=True).to(torch.int32))
    num, idx = blocks(partial)
    full_num, full_idx = blocks(full)
    return BlockMask.from_kv_blocks(num, idx, full_num, full_idx, BLOCK_SIZE=block,
                                    mask_mod=mod, seq_lengths=(L, L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rows", default="topk_32k:32768,topk_128k:131072,xattn_32k:32768,"
                    "vs:32768,vs:131072,vs_128k:131072,stripe:32768,stripe_t6:32768,"
                    "gate:32768,gate:131072")
    ap.add_argument("--json")
    ap.add_argument("--waves", choices=["mixed", "pow2"], default="mixed",
                    help="locality wave periods of the input generator (see above)")
    ap.add_argument("--stages", action="store_true",
                    help="also the GPU time of each estimator and plan stage kernel (torch.profiler)")
    args = ap.parse_args()
    gen = torch.Generator(device=DEV)
    gen.manual_seed(4)
    from torch.nn.attention.flex_attention import flex_attention
    from torch.nn.attention import sdpa_kernel, SDPBackend
    import torch.nn.functional as F
    flex = torch.compile(flex_attention, dynamic=False)
    rows = []
    for name_at in args.rows.split(","):
        kernel_name, L = name_at.split(":")[0], int(name_at.split(":")[1])
        kernel = sattn.load(os.path.join(args.dir, kernel_name + ".json"))
        rt, name = kernel.runtime, kernel.estimated_table
        est = kernel.manifest["estimator"]
        lines = est["kind"] == "vertical_slash"
        stripe = est["kind"] == "stripe"
        gate = est["kind"] == "gate"
        block = est["block"]
        q, k, v = structured(kernel.heads, L, kernel.head_dim, gen,
                             128 if lines or stripe else block,
                             heavy_unit=1 if lines or stripe else None, waves=args.waves)
        extra = {}
        if gate:
            # (H, 4 D, hidden): wq then wk per head, scaled so that the gate's
            # logits spread over a few units.
            d, f = kernel.head_dim, est["hidden"]
            extra["weights"] = (4.0 / d ** 0.5) * torch.randn(
                kernel.heads, 4 * d, f, device=DEV, generator=gen)
        table = kernel.estimate(q, k, **extra)
        # The largest scratch here: the gate's at 128K (pooled and projected
        # blocks, about 100 MB).
        ws = torch.empty(256 << 20, dtype=torch.uint8, device=DEV)
        est_ms = bench(lambda: rt.estimate(q, k, table, ws, **extra))
        plan_ws = torch.empty(rt.device_plan_workspace(1, L, L) + 256, dtype=torch.uint8,
                              device=DEV)
        plan_ms = bench(lambda: rt.build_device_plan(1, L, L, [table], plan_ws))
        if args.stages:
            row_stages = kernel_times(lambda: (rt.estimate(q, k, table, ws, **extra),
                                               rt.build_device_plan(1, L, L, [table], plan_ws)),
                                      lambda key: key.startswith("sattn_"))
        kplan = kernel.plan(q, k, {name: table})
        attn_ms = bench(lambda: kernel(q, k, v, {name: table}, plan=kplan))
        total_ms = bench(lambda: kernel(q, k, v, **extra))
        if stripe:
            group, unit = est["group"], est["block"] * est["step"]
            pairs = stripe_pairs(table, L, group, unit)
            rec = stripe_recall(q, k, table, kernel.scale, group, unit)
            block_density = None
        elif lines:
            pairs = line_pairs(table, L)
            rec = line_recall(q, k, table, kernel.scale)
            block_density = None
        else:
            n = table.shape[-1]
            causal_blocks = n * (n + 1) // 2 * kernel.heads
            block_density = round(float(table.sum()) / causal_blocks, 4)
            # Kept pairs: whole blocks below the diagonal, half a block on it.
            diag = float(torch.diagonal(table, dim1=-2, dim2=-1).sum())
            pairs = (float(table.sum()) - diag) * block * block + diag * block * (block + 1) / 2
            rec = recall(q, k, table, kernel.scale, block)
        density = pairs / (kernel.heads * L * (L + 1) / 2)
        useful = 4 * kernel.head_dim * pairs / (attn_ms * 1e-3) / 1e12
        row = dict(kernel=kernel_name, L=L, kind=est["kind"], waves=args.waves,
                   selection=("group %d, theta %g" % (est["group"], est["theta"]) if stripe
                              else "%d columns + %d diagonals" % (est["vertical"], est["slash"])
                              if lines else ("gate top_ratio %g" % est["top_ratio"]
                                             if est["top_ratio"] else
                                             "gate threshold %g" % est["threshold"]) if gate
                              else "%s %s" % (est["scorer"], "top_k %d" % est["top_k"]
                                              if est["top_k"] else "tau %g" % est["tau"])),
                   block=block, block_density=block_density,
                   pair_density=round(density, 4),
                   recall=round(rec, 4), estimate_ms=round(est_ms, 4), plan_ms=round(plan_ms, 4),
                   attention_ms=round(attn_ms, 3), total_ms=round(total_ms, 3),
                   attention_tflops=round(useful, 1))
        if args.stages:
            row["stages_us"] = row_stages
            print("stage times (us per call):", row_stages, flush=True)
        if not (lines or stripe) or L <= 32768:
            try:
                bm = (flex_stripe_mask(table, L, group, unit) if stripe
                      else flex_line_mask(table, L) if lines
                      else flex_block_mask(table, L, block))
                flex(q, k, v, block_mask=bm)
                row["flex_ms"] = round(bench(lambda: flex(q, k, v, block_mask=bm)), 3)
                row["vs_flex"] = round(row["flex_ms"] / attn_ms, 2)
            except Exception as e:  # noqa: BLE001
                print("flex failed:", type(e).__name__, str(e)[:200], flush=True)
        with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
            row["cudnn_causal_ms"] = round(bench(
                lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)), 3)
        row["estimate_plus_plan_share"] = round((est_ms + plan_ms) / attn_ms, 3)
        row["total_vs_cudnn"] = round(total_ms / row["cudnn_causal_ms"], 3)
        print(row, flush=True)
        rows.append(row)
        del kplan, plan_ws
        torch.cuda.empty_cache()
    cols = ["kernel", "L", "selection", "pair_density", "recall", "estimate_ms", "plan_ms", "attention_ms",
            "attention_tflops", "total_ms", "flex_ms", "vs_flex", "cudnn_causal_ms",
            "estimate_plus_plan_share", "total_vs_cudnn"]
    report(rows, cols, args.json)


if __name__ == "__main__":
    main()
