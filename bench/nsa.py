"""Benchmark of Native Sparse Attention's compiled forward against dense
causal attention on the GPU (the NSA paper's comparison: its forward against
FlashAttention-2 at 64K with 64 query heads and 4 KV heads).

What is timed (B = 1, bf16, CUDA events through triton's do_bench, median):
  compress   block means of K and V placed for the compressed branch kernel
             (sattn._nsa.compressed_inputs, PyTorch ops)
  estimate   the nsa kernel's estimator (compressed logits, importance,
             selection of select_count blocks per query and KV head; each stage's
             GPU time too, estimate_stages_us)
  plan       the device plan of the selected branch from that selection
  selected   the selected branch's attention on that plan
  compressed the compressed branch kernel, sliding the window branch kernel
  total      kernel.nsa(q, k, v, gates): all of the above plus the gated mix
and, on the same q, k, v: SDPA's FlashAttention-2 backend (is_causal,
enable_gqa) and cuDNN's causal attention.

Inputs: bench/estimators.py's structured generator per KV head (sinks, a
local diagonal, heavy key blocks), with each query head of a GQA group the
group's queries plus 0.25 N(0, 1) of its own. Reported next to the times:
the selected branch's kept density (kept causal pairs of the selection /
causal pairs) and its mass recall (share of the dense causal softmax mass,
fp32, that falls in selected blocks; 256 sampled rows per query head).

Usage: python3 bench/nsa.py DIR [--lengths 65536] [--json F]
(DIR: sattn-compile bench/nsa.sattn -o DIR --target sm_90a)
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)
import sattn  # noqa: E402
from sattn import _nsa  # noqa: E402
from estimators import DEV, bench, report, structured  # noqa: E402
from kernel_times import kernel_times  # noqa: E402


def gqa_inputs(heads, kv_heads, L, D, gen):
    """q [1, heads, L, D], k and v [1, kv_heads, L, D] (bf16): structured()
    per KV head, each query head its group's queries plus its own noise."""
    q, k, v = structured(kv_heads, L, D, gen)
    group = heads // kv_heads
    q = q.repeat_interleave(group, 1)
    q = (q.float() + 0.25 * torch.randn(q.shape, device=DEV, generator=gen)).to(q.dtype)
    return q, k, v


def selected_pairs(table, block, chunk=4096):
    """Kept causal pairs of one query head per KV head under the selection
    table [1, KV, L, n] (1 where position p keeps block j): block j holds
    min(block, p - j * block + 1) keys at or before p."""
    L, n = table.shape[2], table.shape[3]
    j = torch.arange(n, device=DEV)
    total = 0
    for p0 in range(0, L, chunk):
        p = torch.arange(p0, min(L, p0 + chunk), device=DEV)
        keys = (p[:, None] - j[None, :] * block + 1).clamp(0, block)
        total += int((table[0, :, p0:p0 + chunk] * keys[None]).sum())
    return total


def selected_recall(q, k, table, block, scale, rows=256):
    """Share of the dense causal softmax mass in the selected blocks, over
    `rows` sampled query rows of every query head."""
    heads, L = q.shape[1], q.shape[2]
    group = heads // k.shape[1]
    idx = torch.linspace(L // 8, L - 1, rows, device=DEV).long()
    pos = torch.arange(L, device=DEV)
    kept, total = 0.0, 0.0
    for h in range(heads):
        s = (q[0, h, idx].float() @ k[0, h // group].float().T) * scale
        s = s.masked_fill(pos[None, :] > idx[:, None], float("-inf"))
        p = torch.softmax(s, dim=-1)
        keep = table[0, h // group, idx].bool().repeat_interleave(block, -1)[:, :L]
        kept += float((p * keep).sum())
        total += float(p.sum())
    return kept / total


def row_for(kernel, L, gen):
    import torch.nn.functional as F
    from torch.nn.attention import sdpa_kernel, SDPBackend
    est = kernel.manifest["estimator"]
    rt, name = kernel.runtime, kernel.estimated_table
    heads, kv = kernel.heads, kernel.kv_heads
    q, k, v = gqa_inputs(heads, kv, L, kernel.head_dim, gen)
    gates = torch.rand(1, heads, L, 3, device=DEV, generator=gen)
    table = kernel.estimate(q, k)
    ws = torch.empty(rt.estimator_workspace(1, L) + 256, dtype=torch.uint8, device=DEV)
    row = dict(kernel=kernel.name, L=L, heads=heads, kv_heads=kv, head_dim=kernel.head_dim,
               selection="%d blocks of %d, window %d, compress %d/%d" % (
                   est["select_count"], est["block"], est["window"], est["compress_block"],
                   est["compress_stride"]))
    row["estimate_ms"] = bench(lambda: rt.estimate(q, k, table, ws))
    # Where the estimate's time goes, stage by stage (GPU time per call).
    row["estimate_stages_us"] = kernel_times(lambda: rt.estimate(q, k, table, ws),
                                             lambda name: "_estimate_" in name, reps=3)
    plan_ws = torch.empty(rt.device_plan_workspace(1, L, L) + 256, dtype=torch.uint8,
                          device=DEV)
    row["plan_ms"] = bench(lambda: rt.build_device_plan(1, L, L, [table], plan_ws))
    del plan_ws
    kplan = kernel.plan(q, k, {name: table})
    row["selected_ms"] = bench(lambda: kernel(q, k, v, {name: table}, plan=kplan))
    del kplan
    compress = lambda: (_nsa.compressed_inputs(k, est["compress_block"], est["compress_stride"]),
                        _nsa.compressed_inputs(v, est["compress_block"], est["compress_stride"]))
    row["compress_ms"] = bench(compress)
    ck, cv = compress()
    directory = os.path.dirname(kernel.manifest_path)
    compressed = sattn.load(os.path.join(directory, est["compressed_kernel"] + ".json"))
    row["compressed_ms"] = bench(lambda: compressed(q, ck, cv))
    if est.get("sliding_kernel"):
        sliding = sattn.load(os.path.join(directory, est["sliding_kernel"] + ".json"))
        row["sliding_ms"] = bench(lambda: sliding(q, k, v))
    row["total_ms"] = bench(lambda: kernel.nsa(q, k, v, gates))
    pairs = selected_pairs(table, est["block"]) * (heads // kv)
    row["selected_density"] = pairs / (heads * L * (L + 1) / 2)
    row["selected_recall"] = selected_recall(q, k, table, est["block"], kernel.scale)
    del table, ws
    torch.cuda.empty_cache()
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        row["fa2_causal_ms"] = bench(lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=True))
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        try:
            row["cudnn_causal_ms"] = bench(lambda: F.scaled_dot_product_attention(
                q, k, v, is_causal=True, enable_gqa=True))
        except RuntimeError as e:  # cuDNN's SDPA may refuse GQA shapes
            print("cudnn:", str(e)[:160], flush=True)
    row["fa2_over_total"] = row["fa2_causal_ms"] / row["total_ms"]
    print("estimate stages (us): %s" % ", ".join(
        "%s %.0f" % (name.split("_estimate_")[-1], us)
        for name, us in row["estimate_stages_us"].items()), flush=True)
    return {key: round(val, 4) if isinstance(val, float) else val for key, val in row.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--kernel", default="nsa")
    ap.add_argument("--lengths", default="65536")
    ap.add_argument("--json")
    args = ap.parse_args()
    gen = torch.Generator(device=DEV)
    gen.manual_seed(5)
    kernel = sattn.load(os.path.join(args.dir, args.kernel + ".json"))
    rows = []
    for L in (int(x) for x in args.lengths.split(",")):
        row = row_for(kernel, L, gen)
        print(row, flush=True)
        rows.append(row)
    cols = ["kernel", "L", "heads", "kv_heads", "selected_density", "selected_recall",
            "compress_ms", "estimate_ms", "plan_ms", "selected_ms", "compressed_ms",
            "sliding_ms", "total_ms", "fa2_causal_ms", "cudnn_causal_ms", "fa2_over_total"]
    report(rows, cols, args.json)


if __name__ == "__main__":
    main()
