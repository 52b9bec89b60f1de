"""sattn's backward against FlexAttention's (and SDPA's for causal), on the
training rows of bench/backward.sattn.

Prepare the kernels on a machine with MLIR:
    sattn-compile bench/backward.sattn --backward --target sm_90a -o DIR
then on the GPU machine (libsattn_runtime built from lib/Runtime):
    SATTN_RUNTIME_LIB=... python3 bench/backward.py DIR --lengths 8192,32768 --json out.json
Per row: forward and backward times of sattn (its runtime: forward with LSE,
then the backward kernel, gradients zeroed on the stream included) and of
FlexAttention (compiled; backward = time of forward + backward minus
forward), the backward's useful TFLOP/s (10 * head_dim * kept pairs / time:
five matmuls of 2 * head_dim flops per kept pair) and the ratio. Before
timing, each row's gradients are checked against FlexAttention's (relative
norm of the difference), the deterministic form's too (dK and dV summed in
int64 fixed point; its time includes picking the scales and converting the
sums, as the torch op does).
"""
import argparse
import json
import os
import sys

import torch
import torch._dynamo
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)
from sattn import MaskProgram, _backward, runtime  # noqa: E402
import compare  # noqa: E402  (bench(), kept_pairs(), flex_mods())

dev = "cuda"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kernels_dir")
    ap.add_argument("--lengths", default="8192,32768")
    ap.add_argument("--patterns", default="causal,a_shape,sliding,strided")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch._dynamo.config.cache_size_limit = 256
    torch._dynamo.config.recompile_limit = 256
    from torch.nn.attention.flex_attention import flex_attention, create_block_mask
    flex_c = torch.compile(flex_attention, dynamic=False)
    mods = compare.flex_mods()
    rows = []
    for name in args.patterns.split(","):
        path = os.path.join(args.kernels_dir, name + ".json")
        manifest = json.load(open(path))
        kernel = runtime.load_kernel(path)
        prog = MaskProgram(manifest["mask_program"])
        H, D = manifest["heads"], manifest["head_dim"]
        for L in (int(x) for x in args.lengths.split(",")):
            shape = (1, H, L, D)
            q, k, v, do = (torch.randn(shape, device=dev, dtype=torch.bfloat16) for _ in range(4))
            o = torch.empty_like(q)
            lse = torch.empty((1, H, L), device=dev, dtype=torch.float32)
            grads = [torch.empty(shape, device=dev, dtype=torch.float32) for _ in range(3)]
            plan = kernel.build_plan(1, L, L).to_torch(dev)
            fwd = lambda: kernel.launch(q, k, v, o, lse=lse, plan=plan)
            bwd = lambda: kernel.launch_backward(q, k, v, o, lse, do, *grads, plan=plan)
            fwd()
            bwd()
            torch.cuda.synchronize()
            mod, per_head = mods[name]
            bm = create_block_mask(mod, B=None, H=(H if per_head else None), Q_LEN=L, KV_LEN=L,
                                   device=dev, _compile=True)
            qf, kf, vf = (x.detach().clone().requires_grad_() for x in (q, k, v))
            out = flex_c(qf, kf, vf, block_mask=bm)
            out.backward(do)
            err = {n: float((g - r.grad.float()).norm() / r.grad.float().norm())
                   for n, g, r in zip(("dq", "dk", "dv"), grads, (qf, kf, vf))}
            err["o"] = float((o.float() - out.float()).norm() / out.float().norm())

            def flex_both():
                qf.grad = kf.grad = vf.grad = None
                flex_c(qf, kf, vf, block_mask=bm).backward(do)

            # The deterministic form, as the torch op runs it: scales on the
            # device, int64 sums, conversion back to float32.
            sums = [torch.empty(shape, device=dev, dtype=torch.int64) for _ in range(2)]

            def det():
                scales, safe = _backward.fixed_point_scales(q, v, do, manifest["scale"])
                kernel.launch_backward(q, k, v, o, lse, do, grads[0], *sums, plan=plan,
                                       dkv_scales=scales)
                return [_backward.from_fixed_point(sums[i], scales[i], safe[i]) for i in range(2)]

            det_k, det_v = det()
            err["det_dk"], err["det_dv"] = (float((g - r.grad.float()).norm() / r.grad.float().norm())
                                            for g, r in ((det_k, kf), (det_v, vf)))
            det_ms = compare.bench(det)
            bwd()  # the float32 gradients back in grads
            fwd_ms, bwd_ms = compare.bench(fwd), compare.bench(bwd)
            flex_fwd_ms = compare.bench(lambda: flex_c(qf.detach(), kf.detach(), vf.detach(),
                                                       block_mask=bm))
            flex_both_ms = compare.bench(flex_both)
            nnz = compare.kept_pairs(prog, L, H, {}, per_head)
            row = dict(pattern=name, L=L, head_dim=D, target=manifest["target"],
                       kernel=manifest.get("kernel", "mma_sync"), density=round(nnz / (L * L * H), 4),
                       sattn_fwd_ms=round(fwd_ms, 3), sattn_bwd_ms=round(bwd_ms, 3),
                       flex_fwd_ms=round(flex_fwd_ms, 3),
                       flex_bwd_ms=round(flex_both_ms - flex_fwd_ms, 3),
                       sattn_bwd_tflops=round(10.0 * D * nnz / (bwd_ms * 1e-3) / 1e12, 1),
                       sattn_det_bwd_ms=round(det_ms, 3),
                       rel_err_vs_flex=err)
            row["flex_bwd_tflops"] = round(10.0 * D * nnz / (row["flex_bwd_ms"] * 1e-3) / 1e12, 1)
            row["bwd_speedup_vs_flex"] = round(row["flex_bwd_ms"] / bwd_ms, 2)
            if name == "causal":
                from torch.nn.attention import sdpa_kernel, SDPBackend
                for backend, key in ((SDPBackend.CUDNN_ATTENTION, "cudnn"),
                                     (SDPBackend.FLASH_ATTENTION, "fa2")):
                    try:
                        with sdpa_kernel([backend]):
                            f = lambda: F.scaled_dot_product_attention(qf, kf, vf, is_causal=True)
                            fms = compare.bench(lambda: f().detach())
                            both = compare.bench(lambda: f().backward(do))
                            row[key + "_bwd_ms"] = round(both - fms, 3)
                    except Exception as e:  # a backend this build lacks
                        print("sdpa", key, "failed:", str(e)[:120], flush=True)
            rows.append(row)
            print(row, flush=True)
            del bm, qf, kf, vf, out
            torch.cuda.empty_cache()
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)
    print("\n| pattern | L | density | sattn fwd ms | sattn bwd ms | bwd TF/s | deterministic bwd ms | Flex bwd ms | Flex bwd TF/s | bwd vs Flex | cuDNN bwd ms | max rel err vs Flex |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.2fx | %s | %.1e |" % (
            r["pattern"], r["L"], r["density"], r["sattn_fwd_ms"], r["sattn_bwd_ms"],
            r["sattn_bwd_tflops"], r["sattn_det_bwd_ms"], r["flex_bwd_ms"], r["flex_bwd_tflops"],
            r["bwd_speedup_vs_flex"], r.get("cudnn_bwd_ms", "-"), max(r["rel_err_vs_flex"].values())))


if __name__ == "__main__":
    main()
