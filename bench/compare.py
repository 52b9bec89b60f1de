"""sattn vs FlexAttention vs SDPA (FlashAttention-2, cuDNN) on the rows of bench/anchors.sattn.

Runs on the GPU machine, in one process, on the same inputs. The sattn side
(kernels, manifests, plans, tables) is prepared ahead on a machine with MLIR:
    build/bin/sattn-gpu-cases .sattn-bench bench/anchors.sattn --bench
Then, on the GPU machine (libsattn_runtime built from lib/Runtime):
    SATTN_RUNTIME_LIB=... python3 bench/compare.py .sattn-bench --json out.json
Prints a table (median of timed runs, CUDA events via triton.testing.do_bench)
with useful TFLOP/s = 4 * head_dim * kept pairs / time, speedup over
FlexAttention and time against dense cuDNN (FlexAttention compiled with
torch.compile, its block mask built once per case outside the timing). Before timing, each sattn case at L <= 8192
is checked against a dense fp32 reference.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch._dynamo
import torch.nn.functional as F
import triton.testing as tt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "Integration", "GPU"))
from sattn import MaskProgram, runtime  # noqa: E402
import run_gpu_tests as gt  # noqa: E402

dev = "cuda"
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}  # the manifest's "dtype"


def bench(fn):
    return tt.do_bench(fn, warmup=25, rep=200, return_mode="median")


def kept_pairs(prog, L, heads, tables, per_head):
    total = 0
    kk = torch.arange(L, device=dev)
    hs = torch.arange(heads, device=dev)[:, None, None] if per_head else torch.zeros(1, 1, 1, dtype=torch.long, device=dev)
    rows = max(1, (1 << 28) // (L * hs.shape[0]))
    for r0 in range(0, L, rows):
        q = torch.arange(r0, min(L, r0 + rows), device=dev)
        keep = prog.keep(torch.tensor(0, device=dev), hs, q[None, :, None], kk[None, None, :], L, tables)
        total += int(torch.broadcast_to(keep, (hs.shape[0], q.shape[0], L)).sum())
    return total if per_head else total * heads


# FlexAttention mask_mods of the same patterns.
def flex_mods():
    def causal(b, h, q, k): return q >= k
    def noop(b, h, q, k): return q >= 0
    def a_shape(b, h, q, k): return (q >= k) & ((k < 128) | (q - k < 2048))
    def sliding(b, h, q, k): return (q >= k) & (q - k < 1024)
    def strided(b, h, q, k): return (q >= k) & (((k % 8) == (h % 8)) | (q - k < 512))
    def power(b, h, q, k):
        d = (q // 64) - (k // 64)
        return (q >= k) & ((d <= 1) | ((d & (d - 1)) == 0))
    return {"dense": (noop, False), "causal": (causal, False), "a_shape": (a_shape, False),
            "sliding": (sliding, False), "strided": (strided, True), "power": (power, False),
            "causal_d64": (causal, False), "causal_d256": (causal, False),
            "causal_gqa": (causal, False), "causal_fp16": (causal, False)}


# Rows timed against SDPA's dense kernels (cuDNN, FlashAttention-2) too.
SDPA_ROWS = {"dense": False, "causal": True, "causal_d64": True, "causal_d256": True,
             "causal_gqa": True, "causal_fp16": True}


def vertical_slash_tables(heads, L, gen):
    """The vertical-slash row: per head
    1000 random key columns and 200 random diagonals (offsets q - k), the
    first 64 of each forced in. bool tensors (heads, L)."""
    vcol = torch.zeros(heads, L, dtype=torch.bool, device=dev)
    slash = torch.zeros(heads, L, dtype=torch.bool, device=dev)
    for h in range(heads):
        vcol[h, torch.randperm(L, device=dev, generator=gen)[:1000]] = True
        slash[h, torch.randperm(L, device=dev, generator=gen)[:200]] = True
    vcol[:, :64] = True
    slash[:, :64] = True
    return vcol, slash


def flex_vertical_slash(vcol, slash, L):
    """A FlexAttention block mask (with its mask_mod) built from the tables by
    hand (create_block_mask runs out of memory on captured
    tables): a 128 x 128 block is visited when a kept column lies in its key
    range or a kept diagonal crosses it, at or below the block diagonal."""
    from torch.nn.attention.flex_attention import BlockMask

    def mod(b, h, q, k):
        return (q >= k) & (vcol[h, k] | slash[h, (q - k).clamp(min=0)])

    H, nb = vcol.shape[0], L // 128
    vb = vcol.view(H, nb, 128).any(-1)
    cs = torch.cat([torch.zeros(H, 1, device=dev, dtype=torch.int64), slash.long().cumsum(-1)], -1)
    i = torch.arange(nb, device=dev)[:, None]
    j = torch.arange(nb, device=dev)[None, :]
    lo = ((i - j) * 128 - 127).clamp(min=0, max=L)
    hi = ((i - j) * 128 + 128).clamp(min=0, max=L)
    blocks = (vb[:, None, :] | ((cs[:, hi] - cs[:, lo]) > 0)) & (j <= i)
    num = blocks.sum(-1).to(torch.int32)[None]
    idx = torch.argsort(blocks.to(torch.int8), dim=-1, descending=True, stable=True).to(torch.int32)[None]
    return BlockMask.from_kv_blocks(num, idx, BLOCK_SIZE=128, mask_mod=mod, seq_lengths=(L, L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases_dir")
    ap.add_argument("--json", default="")
    ap.add_argument("--markdown", default="", help="write the table as a dated markdown section (for RESULTS.md)")
    ap.add_argument("--png", default="", help="write a bar chart of useful TFLOP/s (needs matplotlib)")
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--patterns", default="", help="comma-separated kernel names to run (default: all)")
    args = ap.parse_args()
    torch.manual_seed(0)
    # Every (pattern, length) pair is a new graph for torch.compile; with the
    # default limit of 8 recompilations FlexAttention silently falls back to
    # eager code (and create_block_mask to materialising L^2 masks).
    torch._dynamo.config.cache_size_limit = 256
    torch._dynamo.config.recompile_limit = 256
    cases = json.load(open(os.path.join(args.cases_dir, "cases.json")))
    mods = flex_mods()
    flex_c = None
    if not args.no_flex:
        from torch.nn.attention.flex_attention import flex_attention, create_block_mask
        flex_c = torch.compile(flex_attention, dynamic=False)
    rows = []
    gen = torch.Generator(device=dev)
    gen.manual_seed(1)
    for case in cases:
        manifest_path = os.path.join(args.cases_dir, case["manifest"])
        manifest = json.load(open(manifest_path))
        name, L, H = manifest["name"], case["lk"], manifest["heads"]
        if args.patterns and name not in args.patterns.split(","):
            continue
        prog = MaskProgram(manifest["mask_program"])
        kernel = runtime.load_kernel(manifest_path)
        D, gqa = manifest["head_dim"], manifest["kv_heads"] != H
        q, k, v, o, lse = gt.make_inputs(case, manifest, DTYPES[manifest["dtype"]], dev, gen)
        plan_ms = device_plan_ms = device_attn_ms = device_err = None
        if name != "vertical_slash":
            tables, table_list, plan = gt.load_plan_and_tables(case, manifest, args.cases_dir, dev)
        else:
            # The vertical-slash tables, planned here by the runtime, as a user
            # would (not a prepared plan: 125 MB at 32K, left out of the carry).
            vcol, slash = vertical_slash_tables(H, L, gen)
            tables = {"vcol": vcol.long(), "slash": slash.long()}
            table_list = [tables[t["name"]] for t in manifest["tables"]]
            t0 = time.time()
            host_plan = kernel.build_plan(1, L, L, tables)
            plan_ms = round(1e3 * (time.time() - t0), 1)
            plan = host_plan.to_torch(dev)
            print("vertical_slash L=%d: runtime plan built in %.1f ms: %s" % (L, plan_ms, host_plan), flush=True)
            # The same tables planned on the device (column lists, docs/DEVICE_PLANS.md),
            # and attention run on that plan.
            if "device_plan" in manifest:
                ws = torch.empty(kernel.device_plan_workspace(1, L, L) + 256, dtype=torch.uint8,
                                 device=dev)
                device_plan = kernel.build_device_plan(1, L, L, table_list, ws)
                device_plan_ms = bench(lambda: kernel.build_device_plan(1, L, L, table_list, ws))
                dev_run = lambda: kernel.launch(q, k, v, o, lse=lse, plan=device_plan,
                                                tables=table_list)
                dev_run()
                torch.cuda.synchronize()
                if L <= 8192:
                    ref, _ = gt.reference(prog, manifest, case, q, k, v, tables, dev)
                    device_err = float((o.float() - ref).norm() / ref.norm())
                device_attn_ms = bench(dev_run)
                print("vertical_slash L=%d: device plan %.3f ms, attention on it %.3f ms%s" % (
                    L, device_plan_ms, device_attn_ms,
                    "" if device_err is None else ", rel err %.1e" % device_err), flush=True)
        run = lambda: kernel.launch(q, k, v, o, lse=lse, plan=plan, tables=table_list)
        run()
        torch.cuda.synchronize()
        err = None
        if L <= 8192:
            ref, _ = gt.reference(prog, manifest, case, q, k, v, tables, dev)
            err = float((o.float() - ref).norm() / ref.norm())
        ms = bench(run)
        per_head = name in ("strided", "block_table", "vertical_slash")
        nnz = kept_pairs(prog, L, H, tables, per_head)
        tflops = 4.0 * D * nnz / (ms * 1e-3) / 1e12
        row = dict(pattern=name, L=L, head_dim=D, dtype=manifest["dtype"],
                   heads="%d/%d" % (H, manifest["kv_heads"]),
                   target=manifest["target"], kernel=manifest.get("kernel", "mma_sync"),
                   density=round(nnz / (L * L * H), 4), sattn_ms=round(ms, 3),
                   sattn_tflops=round(tflops, 1), rel_err=err, flex_ms=None, flex_tflops=None,
                   flex_compile_s=None, cudnn_ms=None, fa2_ms=None, plan_ms=plan_ms,
                   device_plan_ms=device_plan_ms, device_plan_attention_ms=device_attn_ms,
                   device_plan_rel_err=device_err)
        # FlexAttention on a block mask for the same kept pairs: built by hand
        # from the tables for vertical-slash (as the first measurement did), else by
        # create_block_mask from the row's mask_mod.
        make_block_mask = None
        if name == "vertical_slash":
            make_block_mask = lambda: flex_vertical_slash(vcol, slash, L)
        elif name in mods and not (L > 32768 and name not in ("causal", "a_shape")):
            mod, ph = mods[name]
            make_block_mask = lambda: create_block_mask(mod, B=None, H=(H if ph else None), Q_LEN=L,
                                                        KV_LEN=L, device=dev, _compile=True)
        if flex_c is not None and make_block_mask is not None:
            try:
                qf, kf, vf = (x.contiguous() for x in (q, k, v))
                bm = make_block_mask()
                t0 = time.time()
                flex_c(qf, kf, vf, block_mask=bm, enable_gqa=gqa)
                torch.cuda.synchronize()
                row["flex_compile_s"] = round(time.time() - t0, 1)
                fms = bench(lambda: flex_c(qf, kf, vf, block_mask=bm, enable_gqa=gqa))
                row["flex_ms"] = round(fms, 3)
                row["flex_tflops"] = round(4.0 * D * nnz / (fms * 1e-3) / 1e12, 1)
                del bm
            except Exception as e:
                print("flex failed for", name, L, type(e).__name__, str(e)[:200], flush=True)
        if name in SDPA_ROWS:
            from torch.nn.attention import sdpa_kernel, SDPBackend
            qf, kf, vf = (x.contiguous() for x in (q, k, v))
            for be, key in ((SDPBackend.CUDNN_ATTENTION, "cudnn_ms"), (SDPBackend.FLASH_ATTENTION, "fa2_ms")):
                try:
                    with sdpa_kernel([be]):
                        f = lambda: F.scaled_dot_product_attention(qf, kf, vf, is_causal=SDPA_ROWS[name],
                                                                   enable_gqa=gqa)
                        f()
                        row[key] = round(bench(f), 3)
                except Exception as e:
                    print("sdpa", key, "failed:", str(e)[:120], flush=True)
        rows.append(row)
        print(row, flush=True)
        torch.cuda.empty_cache()
        # Written after every row, so that a run stopped by a time limit
        # keeps the rows it measured.
        if args.json:
            json.dump(rows, open(args.json, "w"), indent=1)
    header = ("pattern", "L", "D", "dtype", "H/KV", "target", "density", "sattn ms", "sattn TF/s", "Flex ms", "Flex TF/s", "speedup vs Flex",
              "cuDNN ms", "FA2 ms", "rel err")
    table = []
    for r in rows:
        sp = (r["flex_ms"] / r["sattn_ms"]) if r["flex_ms"] else None
        target = "%s %s" % (r["target"], r["kernel"])
        table.append([str(x) for x in (r["pattern"], r["L"], r["head_dim"], r["dtype"], r["heads"], target, r["density"], r["sattn_ms"], r["sattn_tflops"],
                                       r["flex_ms"], r["flex_tflops"], ("%.2fx" % sp) if sp else None,
                                       r["cudnn_ms"], r["fa2_ms"],
                                       ("%.1e" % r["rel_err"]) if r["rel_err"] is not None else "-")])
    print("\n" + " | ".join(header))
    for cells in table:
        print(" | ".join(cells))
    if args.markdown:
        write_markdown(args.markdown, args.cases_dir, header, table)
    if args.png:
        write_chart(args.png, rows)


def write_markdown(path, cases_dir, header, table):
    """A dated section for bench/RESULTS.md: card, software, command, table."""
    lines = ["## %s — compare.py on %s" % (time.strftime("%Y-%m-%d"), torch.cuda.get_device_name()), "",
             "- torch %s, CUDA %s; command: `python3 bench/compare.py %s`" % (
                 torch.__version__, torch.version.cuda, " ".join(sys.argv[1:])),
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_chart(path, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no matplotlib: --png skipped", flush=True)
        return
    labels = ["%s %dK" % (r["pattern"], r["L"] // 1024) for r in rows]
    xs = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows)), 4))
    ax.bar([x - 0.2 for x in xs], [r["sattn_tflops"] for r in rows], 0.4, label="sattn")
    ax.bar([x + 0.2 for x in xs], [r["flex_tflops"] or 0 for r in rows], 0.4, label="FlexAttention")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("useful TFLOP/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
