"""GPU test of the backward pass (kernels compiled with sattn-compile
--backward): dQ, dK and dV of the sattn backward kernel against autograd of
dense masked attention, through sattn.load'ed kernels, the PyTorch op and
the runtime binding.

For each kernel directory (or manifest) given, every kernel whose manifest
has "backward" and a mask program (kernels without either are listed as
skipped), and each shape (batch 2; Lq = Lk = each --lengths value, then
Lq < Lk ragged; then L = 256 against an fp64 reference):
  - fresh random q, k, v (the kernel's dtype) and tables (random values in
    each table's element range), the forward through the torch op with LSE
    (``o, lse = kernel(q, k, v, tables)`` on inputs that require grad), a
    random dO;
  - the gradients by autograd through the op (the registered formula runs
    sattn::attention_backward), and again by the runtime binding
    (RuntimeKernel.launch_backward on the forward's host plan) into dQ, dK,
    dV buffers poisoned with NaN first (the runtime zeroes them, the kernel
    fills them);
  - the reference: autograd of dense masked attention in fp32 (fp64 for the
    L = 256 case) on the same bf16 / fp16 values, the mask from the
    manifest's mask program (sattn.MaskProgram); rows with no kept key have
    zero output and zero gradients;
  - each gradient passes when ||g - ref|| / ||ref|| < 2e-2 (bf16) or 1e-2
    (fp16), with no NaN, and dQ rows with no kept key are exactly 0;
  - under torch.use_deterministic_algorithms(True) (the deterministic
    backward: dK and dV summed in int64 fixed point) two runs give the same
    bits and match the reference (and it says whether two float32-atomic
    runs differed);
  - the first shape of each kernel also runs the step under
    torch.compile(fullgraph=True) (forward traced by Dynamo, the backward
    formula by AOTAutograd) and compares its gradients with eager's.
Every CUDA call is followed by a synchronize, so an asynchronous fault is
reported with the case that caused it.

--bench times the forward (kernel call) and the backward (Kernel.backward)
at --bench-length (batch 2; CUDA events, median of 10 after 3 warm-ups) and
prints both, their ratio and the effective TFLOP/s over the visited tiles
(forward 4 B H Lq Lk D x density, backward 2.5 times that).

Usage: python3 backward_test.py DIR_OR_MANIFEST [...] [--lengths 1000,4096]
           [--bench] [--bench-length 16384] [--json OUT] [--seed N]
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
from gpu_cases import DEV, keep_mask, kernels_in, median_ms  # noqa: E402
import gpu_cases  # noqa: E402

TOL = {"bf16": 2e-2, "f16": 1e-2}
BATCH = 2


def sync():
    """Surfaces an asynchronous CUDA error here, with the case that ran."""
    torch.cuda.synchronize()


def random_tables(kernel, lk, gen):
    """{name: int64 CUDA tensor} of random values in each table's range."""
    return gpu_cases.random_tables(kernel, BATCH, lk, gen)


def dense_gradients(kernel, q, k, v, d_o, tables, dtype):
    """(dq, dk, dv, empty rows (B, H, Lq)) of dense masked attention in
    `dtype` by autograd, one batch element at a time (memory)."""
    group = kernel.heads // kernel.kv_heads
    grads = [torch.zeros(t.shape, device=DEV, dtype=dtype) for t in (q, k, v)]
    empty_rows = []
    lq, lk = q.shape[2], k.shape[2]
    for b in range(q.shape[0]):
        keep = keep_mask(kernel, b, lq, lk, tables)
        empty = ~keep.any(-1)  # (H, Lq)
        empty_rows.append(empty)
        qf, kf, vf = (t[b].detach().to(dtype).requires_grad_() for t in (q, k, v))
        s = torch.einsum("hqd,hkd->hqk", qf, kf.repeat_interleave(group, 0)) * kernel.scale
        s = s.masked_fill(~keep, float("-inf")).masked_fill(empty[..., None], 0.0)
        p = torch.softmax(s, -1).masked_fill(empty[..., None], 0.0)
        o = torch.einsum("hqk,hkd->hqd", p, vf.repeat_interleave(group, 0))
        gq, gk, gv = torch.autograd.grad(o, (qf, kf, vf), d_o[b].to(dtype))
        grads[0][b], grads[1][b], grads[2][b] = gq, gk, gv
        del s, p, o
    return grads[0], grads[1], grads[2], torch.stack(empty_rows)


def compare(name, got, ref, tol):
    """{rel, max_abs, ok} of one gradient."""
    diff = got.double() - ref.double()
    nan = bool(torch.isnan(got).any())
    rel = float(diff.norm() / ref.double().norm().clamp_min(1e-30))
    max_abs = float(diff.abs().max()) if got.numel() else 0.0
    return {"tensor": name, "rel": rel, "max_abs": max_abs, "nan": nan,
            "ok": (not nan) and rel < tol}


def forward(kernel, q, k, v, tables):
    out = kernel(q, k, v, tables)
    if not isinstance(out, tuple):
        raise AssertionError("kernel %r returns no LSE, but a kernel compiled with --backward "
                             "must" % kernel.name)
    return out


def check_deterministic(kernel, q, k, v, d_o, tables, refs, tol):
    """Under torch.use_deterministic_algorithms(True) the op's backward runs
    its deterministic form (dK and dV summed in int64 fixed point): two runs
    give the same bits, and the gradients match the reference. Returns
    (ok, description); also says whether two float32-atomic runs differed."""
    def grads():
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        g = torch.autograd.grad(forward(kernel, *leaves, tables)[0], leaves, d_o)
        sync()
        return g

    try:
        torch.use_deterministic_algorithms(True)
        first, second = grads(), grads()
    finally:
        torch.use_deterministic_algorithms(False)
    same = all(torch.equal(a.view(torch.int16) if a.element_size() == 2 else a,
                           b.view(torch.int16) if b.element_size() == 2 else b)
               for a, b in zip(first, second))
    close = [compare(n, g, r, tol) for n, g, r in zip(("dq", "dk", "dv"), first, refs)]
    plain = [grads(), grads()]
    differs = any(not torch.equal(a, b) for a, b in zip(*plain))
    text = "deterministic: bitwise equal %s, vs reference %s; float32 runs differ: %s" % (
        same, ", ".join("%s %.1e" % (c["tensor"], c["rel"]) for c in close), differs)
    return same and all(c["ok"] for c in close), text


def check_case(kernel, lq, lk, ref_dtype, traced, gen):
    dt = kernel.torch_dtype
    D = kernel.head_dim
    q = torch.randn(BATCH, kernel.heads, lq, D, device=DEV, generator=gen).to(dt)
    k = torch.randn(BATCH, kernel.kv_heads, lk, D, device=DEV, generator=gen).to(dt)
    v = torch.randn(BATCH, kernel.kv_heads, lk, D, device=DEV, generator=gen).to(dt)
    d_o = torch.randn(BATCH, kernel.heads, lq, D, device=DEV, generator=gen).to(dt)
    tables = random_tables(kernel, lk, gen)
    table_list = kernel.table_list(tables)
    tol = TOL[kernel.dtype]

    # Autograd through the op.
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    o, lse = forward(kernel, *leaves, tables)
    sync()
    auto = torch.autograd.grad(o, leaves, d_o)
    sync()

    # The runtime binding into NaN-poisoned buffers, on the forward's host plan.
    poisoned = [torch.full(t.shape, float("nan"), device=DEV, dtype=torch.float32)
                for t in (q, k, v)]
    plan = kernel.device_plan(q.device, BATCH, lq, lk, table_list)
    kernel.runtime.launch_backward(q, k, v, o.detach(), lse, d_o, *poisoned, plan=plan,
                                   tables=table_list)
    sync()

    ref_q, ref_k, ref_v, empty = dense_gradients(kernel, q, k, v, d_o, tables, ref_dtype)
    sync()
    checks = []
    for path, grads in (("autograd", auto), ("runtime", poisoned)):
        for name, g, ref in zip(("dq", "dk", "dv"), grads, (ref_q, ref_k, ref_v)):
            c = compare(name, g, ref, tol)
            c["path"] = path
            checks.append(c)
    # Rows with no kept key: zero gradient of Q (exactly: the kernel writes 0).
    empty_ok = all(bool((g.float()[empty] == 0).all()) for g in (auto[0], poisoned[0]))
    result = {"checks": checks, "empty_rows": int(empty.sum()), "empty_rows_zero": empty_ok,
              "dtypes_ok": all(g.dtype == dt for g in auto)}
    result["deterministic"], result["deterministic_text"] = check_deterministic(
        kernel, q, k, v, d_o, tables, (ref_q, ref_k, ref_v), tol)
    if traced:  # compiling takes seconds: the first shape of each kernel
        # A fresh Dynamo cache per kernel: the lambda below is one code
        # object whose guards every new kernel fails, and past the recompile
        # limit fullgraph=True is a hard error.
        torch._dynamo.reset()
        compiled = torch.compile(lambda a, b, c: forward(kernel, a, b, c, tables)[0],
                                 fullgraph=True)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        compiled(*leaves).backward(d_o)
        sync()
        result["compiled"] = [compare(n, l.grad, a, tol)
                              for n, l, a in zip(("dq", "dk", "dv"), leaves, auto)]
    result["ok"] = (all(c["ok"] for c in checks) and empty_ok and result["dtypes_ok"] and
                    all(c["ok"] for c in result.get("compiled", [])) and
                    result["deterministic"])
    return result


def bench(kernel, length, gen):
    dt, D = kernel.torch_dtype, kernel.head_dim
    q = torch.randn(BATCH, kernel.heads, length, D, device=DEV, generator=gen).to(dt)
    k = torch.randn(BATCH, kernel.kv_heads, length, D, device=DEV, generator=gen).to(dt)
    v = torch.randn(BATCH, kernel.kv_heads, length, D, device=DEV, generator=gen).to(dt)
    d_o = torch.randn_like(q)
    tables = random_tables(kernel, length, gen)
    with torch.no_grad():
        o, lse = forward(kernel, q, k, v, tables)
        fwd = median_ms(lambda: kernel(q, k, v, tables))
        bwd = median_ms(lambda: kernel.backward(q, k, v, o, lse, d_o, tables))
    host = kernel.host_plan(BATCH, length, length, kernel.table_list(tables))
    density = host.visited_tiles / max(1, host.dense_tiles)
    flops = 4.0 * BATCH * kernel.heads * length * length * D * density
    return {"length": length, "forward_ms": fwd, "backward_ms": bwd, "ratio": bwd / fwd,
            "density": density, "forward_tflops": flops / fwd / 1e9,
            "backward_tflops": 2.5 * flops / bwd / 1e9}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+", help="kernel directories or manifests")
    ap.add_argument("--lengths", default="1000,4096")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--bench-length", type=int, default=16384)
    ap.add_argument("--json", default="")
    ap.add_argument("--seed", type=int, default=20261205)
    args = ap.parse_args()
    gen = torch.Generator(device=DEV)
    gen.manual_seed(args.seed)
    lengths = [int(x) for x in args.lengths.split(",") if x]
    shapes = [(n, n, torch.float32) for n in lengths]
    shapes += [(lengths[0] * 3 // 4 + 7, lengths[0], torch.float32), (256, 256, torch.float64)]
    rows, results, benches = [], [], []
    for path in args.paths:
        for manifest in kernels_in(path):
            kernel = sattn.load(manifest)
            label = "%s/%s" % (os.path.basename(os.path.dirname(manifest)), kernel.name)
            if not kernel.has_backward or "mask_program" not in kernel.manifest:
                why = "no backward pass" if not kernel.has_backward else "no mask program"
                rows.append((label, "-", "-", "skip", why))
                results.append({"kernel": label, "skipped": why})
                continue
            for i, (lq, lk, ref_dtype) in enumerate(shapes):
                case = "Lq=%d Lk=%d %s" % (lq, lk, str(ref_dtype).replace("torch.", ""))
                try:
                    r = check_case(kernel, lq, lk, ref_dtype, i == 0, gen)
                except Exception as e:  # noqa: BLE001 (report every case, go on)
                    traceback.print_exc()
                    r = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                r.update(kernel=label, lq=lq, lk=lk, reference=str(ref_dtype))
                results.append(r)
                if "error" in r:
                    rows.append((label, case, "-", "FAIL", r["error"]))
                    continue
                for c in r["checks"]:
                    rows.append((label, case, c["path"], "ok" if c["ok"] else "FAIL",
                                 "%s rel %.2e max abs %.2e%s" % (c["tensor"], c["rel"],
                                                                  c["max_abs"],
                                                                  " NaN" if c["nan"] else "")))
                extra = "%d empty rows, dQ there %s; grads in the inputs' dtype: %s" % (
                    r["empty_rows"], "0" if r["empty_rows_zero"] else "NOT 0", r["dtypes_ok"])
                extra += "; " + r["deterministic_text"]
                if "compiled" in r:
                    extra += "; torch.compile(fullgraph) vs eager: " + ", ".join(
                        "%s %.1e" % (c["tensor"], c["rel"]) for c in r["compiled"])
                rows.append((label, case, "checks", "ok" if r["ok"] else "FAIL", extra))
            if args.bench:
                try:
                    b = bench(kernel, args.bench_length, gen)
                    b["kernel"] = label
                    benches.append(b)
                except Exception as e:  # noqa: BLE001
                    traceback.print_exc()
                    benches.append({"kernel": label, "error": "%s: %s" % (type(e).__name__, e)})
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)] if rows else [0] * 4
    for r in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, r[:4])) + "  " + r[4])
    for b in benches:
        if "error" in b:
            print("bench %s: FAIL %s" % (b["kernel"], b["error"]))
        else:
            print("bench %s L=%d B=%d: forward %.3f ms (%.0f TFLOP/s), backward %.3f ms "
                  "(%.0f TFLOP/s), backward/forward %.2f, density %.3f"
                  % (b["kernel"], b["length"], BATCH, b["forward_ms"], b["forward_tflops"],
                     b["backward_ms"], b["backward_tflops"], b["ratio"], b["density"]))
    cases = [r for r in results if "skipped" not in r]
    failed = sum(1 for r in cases if not r["ok"]) + sum(1 for b in benches if "error" in b)
    print("%d passed, %d failed, %d skipped" % (len(cases) - sum(1 for r in cases if not r["ok"]),
                                                  failed, len(results) - len(cases)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": results, "bench": benches}, f, indent=1)
    return 1 if failed or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
