"""Runs the sattn transformer block of model.py eagerly and under
torch.compile(fullgraph=True) and checks both against the same block with
sattn.reference (dense fp32 masked attention) in place of the kernel.

    python3 examples/torch/run.py [--batch 2] [--length 4096]

Needs a CUDA device, PyTorch and libsattn_runtime (SATTN_RUNTIME_LIB); the
kernel is compiled, or loaded from the cache (SATTN_CACHE_DIR). Exits 1 when
a relative error exceeds 1e-2.
"""
import argparse
import sys
import time

import torch

import model

TOL = 1e-2


def rel_err(a, b):
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def timed(fn, x, reps=10):
    fn(x)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn(x)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=4096)
    args = ap.parse_args()

    block = model.build()
    kernel = block.attn.kernel
    print("kernel:", kernel)
    x = torch.randn(args.batch, args.length, 2048, device="cuda", dtype=torch.bfloat16)

    with torch.no_grad():
        eager = block(x)
        compiled_block = torch.compile(block, fullgraph=True)
        compiled = compiled_block(x)

        # The same weights with the reference attention in place of the kernel.
        attn = block.attn
        attn_in = block.attn_norm(x)
        attn_out = attn(attn_in)
        attn.attend = model.reference_attention(kernel)
        ref_attn_out = attn(attn_in)
        ref = block(x)
        attn.attend = kernel

        explain = torch._dynamo.explain(block)(x)
        t_eager = timed(block, x)
        t_compiled = timed(compiled_block, x)

    rows = [("attention (eager) vs reference", rel_err(attn_out, ref_attn_out)),
            ("block eager vs reference", rel_err(eager, ref)),
            ("block torch.compile(fullgraph) vs reference", rel_err(compiled, ref))]
    ok = all(err <= TOL for _, err in rows)
    for name, err in rows:
        print("%-45s rel err %.2e  %s" % (name, err, "ok" if err <= TOL else "FAIL"))
    print("dynamo: %d graph(s), %d graph break(s)"
          % (explain.graph_count, explain.graph_break_count))
    ok = ok and explain.graph_break_count == 0
    print("B=%d L=%d: eager %.2f ms, compiled %.2f ms per block" % (
        args.batch, args.length, t_eager, t_compiled))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
