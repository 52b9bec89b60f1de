"""GPU test of compiled estimators (block_topk with the mean-pool and the
antidiagonal scorer, vertical_slash, stripe, gate with learned weights drawn
at random per kernel, nsa's selection): the estimator's
stage kernels, the device plan built from the table they write and the
attention on it, through sattn.load'ed kernels and the PyTorch op.

For each kernel directory given (artifacts of Inputs/estimators.sattn from
sattn-compile, e.g. one for --target sm_90a and one for the portable sm_90)
and each shape (batch 2, GQA, Lq = Lk and Lq < Lk, ragged lengths, up to
--max-length), it checks:
  - the table kernel.estimate(q, k) writes equals the reference estimator's
    (sattn.estimate.blocks: lib/Core/Estimators.cpp in double precision, on
    the same bf16 / fp16 values), entry for entry (nsa: the last NSA_ROWS
    positions, whose selection the reference computes with its whole
    forward); for kernels whose manifest says `"logits": "tensor"` (the
    default build: logits of query rows summed in f32 on tensor cores) at
    most TENSOR_DIFF_SHARE of the kept entries plus TENSOR_DIFF_FLOOR may
    differ (near ties), and the note says how many did; kernels compiled
    with --exact-estimators must match entry for entry;
  - kernel(q, k, v) (which estimates, plans on the device and launches)
    matches dense attention under the estimated mask (sattn.reference, fp32):
    ||O - ref|| / ||ref|| <= 1e-2 (bf16) or 5e-3 (fp16);
  - a call given the table reproduces that output bit for bit;
  - tensor kernels (first shape): Q and K with rows D + 1 elements apart,
    which the stages read element by element instead of 16 bytes at a time,
    give the same table bit for bit;
  - torch.compile(fullgraph=True) of the call gives the same output (first
    shape of each kernel);
  - a CUDA graph of the call captured once and replayed on new q, k, v
    gives the eager output of the new inputs;
  - nsa: kernel.nsa(q, k, v, gates) (the selected branch with the
    compressed and sliding branch kernels compiled next to it, random gates)
    matches the reference's whole forward on the last NSA_ROWS rows within
    twice the attention tolerance (its compressed keys are rounded to the
    kernel's dtype, the reference's to float32).
Fresh random inputs per case; outputs are compared after a NaN poison
fill of the output buffers where the API allows it.

--long adds batch-2 shapes at 32K and 128K (GQA as the kernels have it):
the same table equality (the reference runs on the CPU, a slice per core:
tens of seconds at 128K; a shape whose reference would take more than
REFERENCE_BUDGET_S, such as XAttention's O(L^2 S D) at 128K with stride 2,
is skipped with its estimate), attention checked on the last 512 query rows (the dense
reference of a suffix of the rows sees the same keys at the same
positions), and the estimate, device plan and attention times of the call
reported separately (CUDA events, median of 5). The torch.compile and CUDA
graph checks run on the short shapes.

--kernels NAME,... checks only those kernels (the long shapes of every
test kernel take longer than one GPU call allows: split them by kernel).

Usage: python3 estimator_test.py DIR [DIR ...] [--max-length L] [--long]
       [--kernels NAME,...]
Prints each case as it ends, then a table; exits 1 when any check fails.
"""
import argparse
import os
import sys
import traceback

import numpy
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
sys.path.insert(0, HERE)
import sattn  # noqa: E402
import sattn.estimate  # noqa: E402
import gpu_cases  # noqa: E402

TOL = {"bf16": 1e-2, "f16": 5e-3}
DEV = "cuda"


def inputs(kernel, batch, lq, lk, gen):
    dt = kernel.torch_dtype

    def t(heads, length):
        x = torch.randn(batch, heads, length, kernel.head_dim, device=DEV, generator=gen)
        # A shared direction in some keys and in every query gives the block
        # scores spread (random rows alone make every block nearly equal).
        hot = (torch.rand(batch, 1, length, 1, device=DEV, generator=gen) < 0.05).float()
        return (x + 1.5 * hot).to(dt)
    return t(kernel.heads, lq), t(kernel.kv_heads, lk), t(kernel.kv_heads, lk)


def gate_weights(kernel, gen):
    """Random weights (wq, wk) for a gate kernel, {} for the others: scaled
    so that the gate's logits spread over a few units."""
    est = kernel.manifest["estimator"]
    if est["kind"] != "gate":
        return {}
    d, f, h = kernel.head_dim, est["hidden"], kernel.heads
    scale = 4.0 / d ** 0.5
    wq = scale * torch.randn(h, d, f, device=DEV, generator=gen)
    wk = scale * torch.randn(h, 3 * d, f, device=DEV, generator=gen)
    return {"weights": (wq, wk)}


# NSA's reference computes the whole forward per query row (its three
# branches), so the table is checked on the last rows only: their positions,
# and so their selections, are the same with the earlier rows left out.
NSA_ROWS = 256


def reference_table(kernel, q, k, v, extra):
    """The reference's table and the positions (a slice of dim 2) it covers."""
    est = kernel.manifest["estimator"]
    if est["kind"] == "nsa":
        rows, lk = min(NSA_ROWS, q.shape[2]), k.shape[2]
        tail = q[:, :, -rows:].float().cpu().numpy()
        gates = numpy.zeros(tail.shape[:3] + (3,), dtype=numpy.float32)
        _, selected = sattn.estimate.nsa(
            tail, k.float().cpu().numpy(), v.float().cpu().numpy(), gates,
            compress_block=est["compress_block"], compress_stride=est["compress_stride"],
            select_block=est["block"], select_count=est["select_count"], window=est["window"],
            local_blocks=est["local"], scale=kernel.scale)
        blocks = -(-lk // est["block"])
        # selected: [B, KV, rows, n], ascending, -1 padded (a spare column).
        kept = numpy.zeros(selected.shape[:3] + (blocks + 1,), dtype=numpy.int64)
        numpy.put_along_axis(kept, numpy.where(selected < 0, blocks, selected), 1, axis=3)
        return torch.from_numpy(kept[..., :blocks]), slice(lk - rows, lk)
    if est["kind"] == "gate":
        wq, wk = extra["weights"]
        kept = sattn.estimate.gate(q.float().cpu().numpy(), k.float().cpu().numpy(), wq, wk,
                                   block=est["block"], threshold=est["threshold"] or None,
                                   top_ratio=est["top_ratio"] or None,
                                   rope_base=est["rope_base"])
        return torch.from_numpy(kept.astype(numpy.int64)), slice(None)
    if est["kind"] == "stripe":
        kept = sattn.estimate.stripe(q.float().cpu().numpy(), k.float().cpu().numpy(),
                                     group=est["group"], block=est["block"], step=est["step"],
                                     theta=est["theta"], scale=kernel.scale)
        return torch.from_numpy(kept.astype(numpy.int64)), slice(None)
    if est["kind"] == "vertical_slash":
        vcol, diag = sattn.estimate.vertical_slash(
            q.float().cpu().numpy(), k.float().cpu().numpy(), vertical=est["vertical"],
            slash=est["slash"], last_q=est["last_q"], forced_vertical=est["forced_vertical"],
            forced_slash=est["forced_slash"], scale=kernel.scale)
        return (torch.from_numpy(numpy.stack([vcol, diag], axis=2).astype(numpy.int64)),
                slice(None))
    kept = sattn.estimate.blocks(q.float().cpu().numpy(), k.float().cpu().numpy(),
                                 block=est["block"], scorer=est["scorer"],
                                 top_k=est["top_k"] or None, tau=est["tau"] or None,
                                 stride=est.get("stride") or None, scale=kernel.scale)
    return torch.from_numpy(kept.astype(numpy.int64)), slice(None)


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-30))


def median_ms(fn):
    """Median of 5 calls, no warm-up (the first call of each stage counts)."""
    return gpu_cases.median_ms(fn, warmups=0, repeats=5)


# The host references run a slice per core (sattn.estimate) at about 10^9
# f64 multiply-adds a second each; long cases whose reference would take
# longer than the budget are skipped with the estimate.
REFERENCE_RATE = 1e9
REFERENCE_BUDGET_S = 150


def reference_seconds(kernel, batch, lk):
    """Rough seconds of the host reference of one (batch, Lk) shape."""
    e = kernel.manifest["estimator"]
    slices, d = batch * kernel.heads, kernel.head_dim
    if e.get("stride"):
        groups = -(-lk // e["stride"])
        macs = slices * groups * groups / 2 * e["stride"] * d
    elif e["kind"] == "stripe":
        macs = slices * lk * d * (1.5 * e["group"] + lk / e["block"])
    elif e["kind"] == "nsa":  # the last rows' three branches, one group at a time
        keys = lk / e["compress_stride"] + e["select_count"] * e["block"] + e["window"]
        return batch * kernel.heads * NSA_ROWS * keys * 2 * d / REFERENCE_RATE
    else:
        return 0.0
    return macs / (REFERENCE_RATE * min(slices, os.cpu_count() or 1))


def check_long_case(kernel, batch, lq, lk, gen):
    """Table equality, the last rows' attention, and the three times."""
    q, k, v = inputs(kernel, batch, lq, lk, gen)
    extra = gate_weights(kernel, gen)
    name = kernel.estimated_table
    table = kernel.estimate(q, k, **extra)
    note = compare_tables(table.cpu(), *reference_table(kernel, q, k, v, extra),
                          tolerant=tensor_logits(kernel))
    o = kernel(q, k, v, **extra)
    rows = 512
    ref_o, _ = sattn.reference(kernel, q[:, :, -rows:], k, v, tables={name: table})
    err = rel(o[:, :, -rows:], ref_o)
    if not err <= TOL[kernel.dtype] or torch.isnan(o).any():
        raise AssertionError("rel err %.2e against the dense reference (last %d rows)"
                             % (err, rows))
    plan = kernel.plan(q, k, {name: table})
    est_ms = median_ms(lambda: kernel.estimate(q, k, **extra))
    plan_ms = median_ms(lambda: kernel.plan(q, k, {name: table}))
    attn_ms = median_ms(lambda: kernel(q, k, v, {name: table}, plan=plan))
    density = float(table.sum()) / max(1, table.numel())
    return ("%s, last %d rows rel err %.1e, density %.3f; estimate %.3f ms, plan "
            "%.3f ms, attention %.3f ms" % (note, rows, err, density, est_ms, plan_ms, attn_ms))


def tensor_logits(kernel):
    """Whether the kernel's estimator sums its logits of query rows on tensor
    cores (f32 sums: selections may differ from the f64 reference's where
    two scores, or a score and its threshold, lie within rounding)."""
    return kernel.manifest["estimator"].get("logits") == "tensor"


# Tensor-core logits: the entries allowed to differ from the f64 reference,
# a share of its kept entries plus a few (near ties at random inputs).
TENSOR_DIFF_SHARE, TENSOR_DIFF_FLOOR = 1e-3, 2


def compare_tables(got, ref, positions=slice(None), tolerant=False):
    """`got` (positions of dim 2 limited to `positions`) equals `ref`, or
    with `tolerant` differs in at most TENSOR_DIFF_SHARE of the reference's
    kept entries plus TENSOR_DIFF_FLOOR. Returns a note on the comparison."""
    got = got[:, :, positions]
    if got.shape != ref.shape:
        raise AssertionError("table shape %s, reference %s" % (tuple(got.shape), tuple(ref.shape)))
    wrong = int((got != ref).sum())
    allowed = int(TENSOR_DIFF_SHARE * int((ref != 0).sum())) + TENSOR_DIFF_FLOOR if tolerant else 0
    if wrong > allowed:
        first = (got != ref).nonzero()[0].tolist()
        raise AssertionError("%d of %d table entries differ from the reference (%d allowed; "
                             "first at %s: %d vs %d)" % (wrong, ref.numel(), allowed, first,
                                                         got[tuple(first)], ref[tuple(first)]))
    if not tolerant:
        return "table equal"
    return "table within tensor tolerance (%d of %d entries differ, %d allowed)" % (
        wrong, ref.numel(), allowed)


def check_case(kernel, batch, lq, lk, gen, traced):
    q, k, v = inputs(kernel, batch, lq, lk, gen)
    extra = gate_weights(kernel, gen)
    name = kernel.estimated_table
    table = kernel.estimate(q, k, **extra)
    note = compare_tables(table.cpu(), *reference_table(kernel, q, k, v, extra),
                          tolerant=tensor_logits(kernel))
    o = kernel(q, k, v, **extra)
    ref_o, _ = sattn.reference(kernel, q, k, v, tables={name: table})
    err = rel(o, ref_o)
    if not err <= TOL[kernel.dtype] or torch.isnan(o).any():
        raise AssertionError("rel err %.2e against the dense reference" % err)
    again = kernel(q, k, v, {name: table})
    if not torch.equal(again, o):
        raise AssertionError("a call given the estimated table differs from one that estimates")
    if tensor_logits(kernel) and traced:
        # Rows D + 1 elements apart: the stages' in-kernel check refuses
        # 16-byte loads and reads element by element; same sums, same table.
        def padded(x):
            wide = torch.empty(x.shape[:3] + (x.shape[3] + 1,), dtype=x.dtype, device=x.device)
            wide[..., :x.shape[3]] = x
            return wide[..., :x.shape[3]]
        if not torch.equal(kernel.estimate(padded(q), padded(k), **extra), table):
            raise AssertionError("the estimate of row-padded Q and K (element loads) differs "
                                 "from that of contiguous ones (16-byte loads)")
    if traced:  # compiling takes seconds: one shape per kernel
        # A fresh Dynamo cache per kernel: each kernel's call is a new frame
        # for the same code, and a run over many kernels would otherwise hit
        # the recompile limit (a hard error under fullgraph=True).
        torch._dynamo.reset()
        compiled = torch.compile(lambda a, b, c: kernel(a, b, c, **extra), fullgraph=True)
        if not torch.equal(compiled(q, k, v), o):
            raise AssertionError("torch.compile(fullgraph=True) output differs from eager")
    # CUDA graph: capture once, replay on new inputs.
    sq, sk, sv = q.clone(), k.clone(), v.clone()
    kernel(sq, sk, sv, **extra)  # warm up outside capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = kernel(sq, sk, sv, **extra)
    q2, k2, v2 = inputs(kernel, batch, lq, lk, gen)
    sq.copy_(q2), sk.copy_(k2), sv.copy_(v2)
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    if not torch.equal(out, kernel(q2, k2, v2, **extra)):
        raise AssertionError("CUDA graph replay on new inputs differs from eager")
    density = float(table.sum()) / max(1, table.numel())
    if kernel.manifest["estimator"]["kind"] == "nsa":
        return ("%s, rel err %.1e, density %.3f; %s"
                % (note, err, density, check_nsa_forward(kernel, q, k, v, gen)))
    return "%s, rel err %.1e, density %.3f" % (note, err, density)


def check_nsa_forward(kernel, q, k, v, gen):
    """kernel.nsa (three kernels and random gates) against the reference's
    whole forward on the last NSA_ROWS rows."""
    est = kernel.manifest["estimator"]
    gates = torch.rand(q.shape[:3] + (3,), device=DEV, generator=gen)
    out = kernel.nsa(q, k, v, gates)
    rows = min(NSA_ROWS, q.shape[2])
    ref, _ = sattn.estimate.nsa(
        q[:, :, -rows:].float().cpu().numpy(), k.float().cpu().numpy(),
        v.float().cpu().numpy(), gates[:, :, -rows:].cpu().numpy(),
        compress_block=est["compress_block"], compress_stride=est["compress_stride"],
        select_block=est["block"], select_count=est["select_count"], window=est["window"],
        local_blocks=est["local"], scale=kernel.scale)
    err = rel(out[:, :, -rows:].cpu(), torch.from_numpy(ref))
    if not err <= 2 * TOL[kernel.dtype] or torch.isnan(out).any():
        raise AssertionError("NSA forward rel err %.2e against the reference (last %d rows)"
                             % (err, rows))
    # A caller's compression (random compressed keys and values, exact in
    # the kernel's dtype, so the compressed branch reads what the reference
    # does): the estimator selects by those keys, the branch attends to them.
    lk, block, stride = k.shape[2], est["compress_block"], est["compress_stride"]
    blocks = 0 if lk < block else (lk - block) // stride + 1
    shape = (k.shape[0], k.shape[1], blocks, k.shape[3])
    ck = torch.randn(shape, device=DEV, generator=gen).to(q.dtype).float()
    cv = torch.randn(shape, device=DEV, generator=gen).to(q.dtype).float()
    given = kernel.nsa(q, k, v, gates, compressed=(ck, cv))
    ref2, _ = sattn.estimate.nsa(
        q[:, :, -rows:].float().cpu().numpy(), k.float().cpu().numpy(),
        v.float().cpu().numpy(), gates[:, :, -rows:].cpu().numpy(),
        compress_block=block, compress_stride=stride, select_block=est["block"],
        select_count=est["select_count"], window=est["window"], local_blocks=est["local"],
        compressed_k=ck.cpu().numpy(), compressed_v=cv.cpu().numpy(), scale=kernel.scale)
    err2 = rel(given[:, :, -rows:].cpu(), torch.from_numpy(ref2))
    if not err2 <= 2 * TOL[kernel.dtype] or torch.isnan(given).any():
        raise AssertionError("NSA forward with a caller's compression: rel err %.2e against the "
                             "reference (last %d rows)" % (err2, rows))
    return "forward (3 kernels) rel err %.1e, with a caller's compression %.1e" % (err, err2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--max-length", type=int, default=4096)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--kernels", default="",
                    help="comma-separated kernel names to check (default: every kernel)")
    args = ap.parse_args()
    only = set(filter(None, args.kernels.split(",")))
    seen = set()
    gen = torch.Generator(device=DEV)
    gen.manual_seed(20261204)
    shapes = [(2, 1000, 1000), (1, 300, 1000), (2, 4096, 4096), (1, 8192, 8192)]
    long_shapes = [(2, 32768, 32768), (2, 131072, 131072)] if args.long else []
    rows, failed = [], 0
    for d in args.dirs:
        for manifest in sorted(f for f in os.listdir(d) if f.endswith(".json")):
            kernel = sattn.load(os.path.join(d, manifest))
            if "estimator" not in kernel.manifest:
                continue  # an nsa kernel's branch kernel, run through kernel.nsa
            seen.add(kernel.name)
            if only and kernel.name not in only:
                continue
            for i, (batch, lq, lk) in enumerate(shapes + long_shapes):
                long = (batch, lq, lk) in long_shapes
                if lk > args.max_length and not long:
                    continue
                label = "%s/%s B=%d Lq=%d Lk=%d" % (os.path.basename(d.rstrip("/")),
                                                  kernel.name, batch, lq, lk)
                seconds = reference_seconds(kernel, batch, lk)
                if long and seconds > REFERENCE_BUDGET_S:
                    rows.append((label, "skip", "the CPU reference would take about %.0f s "
                                 "here (XAttention's is O(L^2 S D), the stripe's O(L (G + L / "
                                 "block) D)); budget %d s" % (seconds, REFERENCE_BUDGET_S)))
                    continue
                try:
                    result = (check_long_case(kernel, batch, lq, lk, gen) if long
                              else check_case(kernel, batch, lq, lk, gen, i == 0))
                    rows.append((label, "ok", result))
                except Exception as e:  # noqa: BLE001 (report every case)
                    failed += 1
                    rows.append((label, "FAIL", str(e)))
                    traceback.print_exc()
                # Each case as it ends (the table below repeats them aligned), so
                # that a run cut off by a time limit still says what it checked.
                print("%s  %s  %s" % rows[-1], flush=True)
    if only - seen:
        print("--kernels names no estimator kernel of %s: %s"
              % (" ".join(args.dirs), ", ".join(sorted(only - seen))))
        return 1
    if not rows:
        print("no estimator kernel checked (directories %s, --kernels %r)"
              % (" ".join(args.dirs), args.kernels))
        return 1
    width = max(len(r[0]) for r in rows)
    for label, status, what in rows:
        print("%-*s  %-4s  %s" % (width, label, status, what))
    skipped = sum(1 for r in rows if r[1] == "skip")
    print("%d passed, %d failed, %d skipped (said why above)"
          % (len(rows) - failed - skipped, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
