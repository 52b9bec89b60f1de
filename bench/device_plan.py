#!/usr/bin/env python3
"""Device plan builder benchmark: plans built on the GPU by the kernels'
generated plan builders (RuntimeKernel.build_device_plan, i.e.
sattn_device_plan_build) against the runtime's host planner and
FlexAttention's compiled create_block_mask on the same masks.

For every kernel of DIR (compiled from bench/device_plan.sattn) and length:
  - device plan time: the build replayed from a CUDA graph (GPU time of the
    counter reset and six stages), and one eager call from Python (with the
    binding's overhead), medians; host plan time (RuntimeKernel.build_plan: median of 5 calls after a first, which is reported too);
    create_block_mask time;
  - the device plan compared with the host plan segment for segment where
    the kernel's plans are Range-only (manifest "plan_gathers": false),
    else tile coverage (every tile holding a kept pair visited);
  - at 4K, attention run on the device plan against a dense fp32 reference;
  - a CUDA graph of plan + attention captured once and replayed with new
    tables (documents);
  - the packed-document step at 32K, batch 8 (documents): plan + attention
    from new tables against create_block_mask + flex_attention, forward.
Prints a table, writes --json.

With --profile, also the GPU time of each stage kernel per row (torch.profiler).

usage: device_plan.py DIR [--lengths 32768,131072] [--json FILE] [--no-flex] [--profile]
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from sattn import runtime as rt  # noqa: E402
from kernel_times import kernel_times  # noqa: E402

HEADS = 16


# ----------------------------------------------------------------------------
# Masks: tables and the same mask as a torch predicate (reference and Flex)
# ----------------------------------------------------------------------------

def make_tables(name, batch, L, gen):
    if name == "documents":
        doc = torch.empty(batch, L, dtype=torch.int64)
        for b in range(batch):
            k, ident = 0, 0
            while k < L:
                n = int(gen.integers(500, 6001))
                doc[b, k:k + n] = ident
                k, ident = k + n, ident + 1
        return {"doc": doc}
    if name == "window_globals":
        g = torch.zeros(L, dtype=torch.int64)
        g[torch.from_numpy(gen.choice(L, 32, replace=False))] = 1
        return {"g": g}
    if name == "block_table":
        nb = (L + 127) // 128
        keep = torch.from_numpy((gen.random((HEADS, nb, nb)) < 0.1).astype(np.int64))
        return {"keep": keep}
    return {}


def mask_mod(name, tables):
    """The kernel's mask as a FlexAttention mask_mod over CUDA tables."""
    t = {k: v.cuda() for k, v in tables.items()}
    if name == "documents":
        doc = t["doc"]
        return lambda b, h, q, k: (k <= q) & (doc[b, q] == doc[b, k])
    if name == "window_globals":
        g = t["g"].bool()
        return lambda b, h, q, k: ((q - k).abs() <= 512) | g[q] | g[k]
    if name == "neighborhood":
        def nb(b, h, q, k):
            qr, qc = (q // 256).clamp(6, 121), (q % 256).clamp(6, 249)
            return ((k // 256 - qr).abs() <= 6) & ((k % 256 - qc).abs() <= 6)
        return nb
    if name == "block_table":
        keep = t["keep"].bool()
        return lambda b, h, q, k: (k <= q) & (keep[h, q // 128, k // 128] | (q // 128 == k // 128))
    raise KeyError(name)


# ----------------------------------------------------------------------------
# The device plan builder
# ----------------------------------------------------------------------------

class DevicePlanBuilder:
    """The kernel's plan builder through libsattn_runtime
    (RuntimeKernel.build_device_plan), with one workspace per shape."""

    def __init__(self, manifest, kern):
        self.m, self.kern = manifest, kern
        self.bm, self.bn = manifest["block_m"], manifest["block_n"]

    def allocate(self, batch, L):
        self.shape = (batch, L)
        need = self.kern.device_plan_workspace(batch, L, L) + 256
        self.workspace = torch.empty(need, dtype=torch.uint8, device="cuda")

    def launch(self, tables):
        batch, L = self.shape
        self.last = self.kern.build_device_plan(batch, L, L, tables, workspace=self.workspace)
        return self.last

    def plan(self):
        return self.last

    def undecided(self):
        """work[0] of the last build: the tiles resolved pair by pair (the
        work buffer follows the status buffer in the workspace)."""
        batch, L = self.shape
        plan = self.last
        grid = plan.num_classes * plan.num_query_tiles * -(-L // self.bn)
        base = (self.workspace.data_ptr() + 255) // 256 * 256 - self.workspace.data_ptr()
        work = base + (max(4 * grid, 8) + 255) // 256 * 256
        return int(self.workspace[work:work + 8].view(torch.int64).item())


def segments_of(segments, offsets, class_index, T, b, h, m):
    c = class_index[b * HEADS + h]
    lo, hi = offsets[c * (T + 1) + m], offsets[c * (T + 1) + m + 1]
    return [tuple(segments[7 * s:7 * s + 4]) for s in range(lo, hi)]


def compare_with_host(builder, host, batch, L):
    """'equal', 'covers' (gathering host plan: same tiles visited) or a
    description of the first difference."""
    plan = builder.plan()
    T = plan.num_query_tiles
    dseg = plan.segments.cpu().flatten().tolist()
    doff = plan.offsets.cpu().flatten().tolist()
    dcls = plan.class_index.cpu().flatten().tolist()
    hseg, hoff, hcls = host.segments(), host.offsets(), host.class_index()
    ranges_only = not builder.m["plan_gathers"]
    for b in range(batch):
        for h in range(HEADS):
            for m in range(T):
                d = segments_of(dseg, doff, dcls, T, b, h, m)
                hh = segments_of(hseg, hoff, hcls, T, b, h, m)
                if ranges_only and d != hh:
                    return "differs at b=%d h=%d m=%d: device %s host %s" % (b, h, m, d, hh)
                if not ranges_only:
                    # Host Range tiles must all be visited by the device plan.
                    dt = {n for (k, f, lo, hi) in d for n in range(lo, hi)}
                    for (k, f, lo, hi) in hh:
                        if k == 0 and not set(range(lo, hi)) <= dt:
                            return "host range tile not in device plan at b=%d h=%d m=%d" % (b, h, m)
    return "equal" if ranges_only else "covers"


def graph_time(fn, reps=20):
    """Median time of `fn` replayed from a CUDA graph (no launch overhead)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=s):
            fn()
    torch.cuda.synchronize()
    return time_cuda(graph.replay, reps)


def time_cuda(fn, reps):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, z = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        z.record()
        z.synchronize()
        times.append(a.elapsed_time(z))
    return statistics.median(times)


def dense_reference(name, tables, q, k, v):
    L = q.shape[2]
    idx = torch.arange(L, device="cuda")
    mm = mask_mod(name, tables)
    out = torch.empty_like(q, dtype=torch.float32)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            keep = mm(torch.tensor(b, device="cuda"), torch.tensor(h, device="cuda"),
                      idx[:, None], idx[None, :])
            s = (q[b, h].float() @ k[b, h].float().T) / math.sqrt(q.shape[-1])
            s = s.masked_fill(~keep, float("-inf"))
            p = torch.softmax(s, -1).nan_to_num(0.0)
            out[b, h] = p @ v[b, h].float()
    return out


def attention_check(name, kern, builder, gen, L=4096, batch=2):
    tables = make_tables(name, batch, L, gen)
    cuda_tables = {n: t.cuda() for n, t in tables.items()}
    builder.allocate(batch, L)
    builder.launch(cuda_tables)
    plan = builder.plan()
    q, k, v = (torch.randn(batch, HEADS, L, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.full_like(q, float("nan"))
    kern.launch(q, k, v, o, plan=plan, tables=cuda_tables)
    torch.cuda.synchronize()
    ref = dense_reference(name, tables, q, k, v)
    err = ((o.float() - ref).norm() / ref.norm()).item()
    return err


def graph_check(kern, builder, gen, L=8192, batch=2):
    """Plan + attention captured once, replayed with new document tables."""
    name = "documents"
    tables = {n: t.cuda() for n, t in make_tables(name, batch, L, gen).items()}
    builder.allocate(batch, L)
    q, k, v = (torch.randn(batch, HEADS, L, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.zeros_like(q)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(s):
        kern.launch(q, k, v, o, plan=builder.launch(tables), tables=tables)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=s):
            kern.launch(q, k, v, o, plan=builder.launch(tables), tables=tables)
    errs = []
    for _ in range(2):
        fresh = make_tables(name, batch, L, gen)
        tables["doc"].copy_(fresh["doc"].cuda())
        o.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        ref = dense_reference(name, fresh, q, k, v)
        errs.append(((o.float() - ref).norm() / ref.norm()).item())
    return max(errs)


def step_check(kern, builder, gen, cbm, L=32768, batch=8):
    """The packed-document step (forward): plan + attention from new tables,
    against create_block_mask + flex_attention (both compiled) on the same
    inputs; medians of 10 eager calls, and the two outputs compared."""
    from torch.nn.attention.flex_attention import flex_attention
    flex = torch.compile(flex_attention)
    name = "documents"
    tables = make_tables(name, batch, L, gen)
    cuda_tables = {n: t.cuda() for n, t in tables.items()}
    mm = mask_mod(name, tables)
    q, k, v = (torch.randn(batch, HEADS, L, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.full_like(q, float("nan"))
    builder.allocate(batch, L)

    def sattn_step():
        kern.launch(q, k, v, o, plan=builder.launch(cuda_tables), tables=cuda_tables)

    def flex_step():
        return flex(q, k, v, block_mask=cbm(mm, batch, None, L, L, device="cuda"))

    sattn_ms, flex_ms = time_cuda(sattn_step, 10), time_cuda(flex_step, 10)
    sattn_step()
    ref = flex_step().float()
    err = ((o.float() - ref).norm() / ref.norm()).item()
    attention_ms = time_cuda(lambda: kern.launch(q, k, v, o, plan=builder.plan(), tables=cuda_tables), 10)
    return {"kernel": name, "L": L, "batch": batch, "sattn_ms": sattn_ms,
            "sattn_attention_ms": attention_ms, "flex_ms": flex_ms,
            "speedup": flex_ms / sattn_ms, "rel_err_vs_flex": err}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--lengths", default="32768,131072")
    ap.add_argument("--json")
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--profile", action="store_true", help="per-stage GPU times")
    ap.add_argument("--host-max", type=int, default=32768, help="longest length the host plan is timed at")
    args = ap.parse_args()
    gen = np.random.default_rng(7)
    if not args.no_flex:
        from torch.nn.attention.flex_attention import create_block_mask
        torch._dynamo.config.cache_size_limit = 256
        torch._dynamo.config.recompile_limit = 256
        cbm = torch.compile(create_block_mask)
    rows, checks, steps = [], [], []
    for name in ("documents", "window_globals", "neighborhood", "block_table"):
        path = os.path.join(args.dir, name + ".json")
        if not os.path.exists(path):
            continue
        manifest = json.load(open(path))
        kern = rt.load_kernel(path)
        builder = DevicePlanBuilder(manifest, kern)
        err = attention_check(name, kern, builder, gen)
        checks.append({"kernel": name, "check": "attention on device plan, L=4096 B=2",
                       "rel_err": err, "ok": err < 2e-2})
        print(json.dumps(checks[-1]), flush=True)
        if name == "documents":
            gerr = graph_check(kern, builder, gen)
            checks.append({"kernel": name, "check": "CUDA graph replay with new tables, L=8192 B=2",
                           "rel_err": gerr, "ok": gerr < 2e-2})
            print(json.dumps(checks[-1]), flush=True)
            if not args.no_flex:
                steps.append(step_check(kern, builder, gen, cbm))
                print(json.dumps(steps[-1]), flush=True)
                checks.append({"kernel": name, "check": "step output vs flex_attention, L=32768 B=8",
                               "rel_err": steps[-1]["rel_err_vs_flex"],
                               "ok": steps[-1]["rel_err_vs_flex"] < 2e-2})
        batches = (1, 8) if name == "documents" else (1,)
        for L in [int(x) for x in args.lengths.split(",")]:
            for batch in batches:
                tables = make_tables(name, batch, L, gen)
                cuda_tables = {n: t.cuda() for n, t in tables.items()}
                builder.allocate(batch, L)
                eager_ms = time_cuda(lambda: builder.launch(cuda_tables), 20)
                dev_ms = graph_time(lambda: builder.launch(cuda_tables))
                builder.launch(cuda_tables)
                plan = builder.plan()
                row = {"kernel": name, "L": L, "batch": batch,
                       "tiles": f"{manifest['block_m']}x{manifest['block_n']}",
                       "device_ms": dev_ms, "eager_ms": eager_ms,
                       "undecided_tiles": builder.undecided(),
                       "segments": int((plan.offsets[:, 1:] - plan.offsets[:, :-1]).sum().item())}
                if args.profile:
                    row["stage_us"] = kernel_times(lambda: builder.launch(cuda_tables),
                                                    lambda key: "_plan_" in key or "Memset" in key)
                if L <= args.host_max:
                    host_times = []
                    for _ in range(6):  # the first call also faults in fresh memory
                        t0 = time.perf_counter()
                        host = kern.build_plan(batch, L, L, tables)
                        host_times.append((time.perf_counter() - t0) * 1e3)
                    row["host_first_ms"] = host_times[0]
                    row["host_ms"] = statistics.median(host_times[1:])
                    row["vs_host"] = compare_with_host(builder, host, batch, L)
                if not args.no_flex:
                    mm = mask_mod(name, tables)
                    try:
                        row["flex_ms"] = time_cuda(
                            lambda: cbm(mm, batch, HEADS if builder.m["device_plan"]["class_by_head"] else None, L, L,
                                        device="cuda"), 10)
                    except torch.OutOfMemoryError:
                        row["flex_ms"] = None  # create_block_mask ran out of memory
                        torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print("| kernel | L | batch | tiles | device plan ms (graph) | eager call ms | undecided tiles | host plan ms (first call) | create_block_mask ms | vs host |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %s | %.3f | %.3f | %d | %s | %s | %s |" % (
            r["kernel"], r["L"], r["batch"], r["tiles"], r["device_ms"], r["eager_ms"],
            r["undecided_tiles"],
            "%.1f (%.1f)" % (r["host_ms"], r["host_first_ms"]) if "host_ms" in r else "-",
            "%.3f" % r["flex_ms"] if r.get("flex_ms") else ("OOM" if "flex_ms" in r else "-"),
            r.get("vs_host", "-")))
    for r in rows:
        if "stage_us" in r:
            print("stages %s L=%d B=%d: %s" % (r["kernel"], r["L"], r["batch"], ", ".join(
                "%s %.1f us" % (k.split("_plan_")[-1], v) for k, v in r["stage_us"].items())))
    for st in steps:
        print("step %s L=%d B=%d: plan + attention %.3f ms (attention %.3f), create_block_mask + "
              "flex_attention %.3f ms: %.2fx" % (st["kernel"], st["L"], st["batch"], st["sattn_ms"],
                                                 st["sattn_attention_ms"], st["flex_ms"], st["speedup"]))
    for c in checks:
        print("check %-16s %-46s rel err %.2e %s" % (c["kernel"], c["check"], c["rel_err"],
                                                    "OK" if c["ok"] else "FAIL"))
    if args.json:
        json.dump({"rows": rows, "checks": checks, "steps": steps, "device": torch.cuda.get_device_name()},
                  open(args.json, "w"), indent=1)
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
