"""Trains the weights of SeerAttention's gate (a `gate` mask's learned block
gate, train_gate.sattn: 64-token blocks, 32 gate features, the best 25 % of
each row's blocks) by distillation from dense attention, then runs the
compiled gate with them.

The inputs have structure a gate can learn: every 64-token block is about
one of a few topics (a vector added to its query and key rows), so a query
attends to the earlier blocks of its own topic, wherever they are. The
script
  1. trains wq and wk of every head with the gate written in PyTorch (the
     definition of docs/ESTIMATORS.md, "gate": mean-pooled query blocks,
     max / min / mean-pooled key blocks, per-head projections, the rotary
     embedding at the block index, a softmax over the causal blocks) to match
     each query block's share of the dense attention mass over key blocks
     (KL divergence), printing the loss every --every steps; with
     --target block_max the target is SeerAttention's instead: the largest
     attention probability of each block, normalised per query block, which
     a causal kernel compiled with `block_max = true` (gate_target.sattn)
     writes next to its output in one pass (no dense attention matrix);
  2. on fresh inputs, has the compiled estimator choose the blocks with the
     trained weights (kernel.estimate(q, k, weights=(wq, wk))) and checks its
     table against the host reference gate (sattn.estimate.gate), and the
     attention on it (kernel(q, k, v, weights=...)) against dense masked
     attention;
  3. prints the mass recall (the share of the dense attention mass in the
     kept blocks) with the trained weights, the initial random ones, and the
     oracle (each row's best blocks by true mass).
It fails (exit 1) unless the loss falls to half its first value, the table
equals the reference's, the output matches, and training raised the recall.

    python3 examples/torch/train_gate.py [--steps 300] [--every 50] [--length 2048]
                                         [--kernel DIR_OR_MANIFEST]
                                         [--target mass|block_max]
                                         [--target-kernel DIR_OR_MANIFEST]

Needs a CUDA device, PyTorch and libsattn_runtime (SATTN_RUNTIME_LIB). The
kernel is sattn.compile(train_gate.sattn): compiled here by sattn-compile, or
taken from a carried cache (SATTN_CACHE_DIR); --kernel loads compiled
artifacts instead (--target-kernel likewise for gate_target.sattn).
"""
import argparse
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # sattn from the source tree
import sattn  # noqa: E402
import sattn.estimate  # noqa: E402

SPEC = os.path.join(HERE, "train_gate.sattn")
TARGET_SPEC = os.path.join(HERE, "gate_target.sattn")
TOPICS, BATCH = 6, 2


def inputs(kernel, length, gen):
    """q, k, v (bf16) whose 64-token blocks each carry one of TOPICS topic
    vectors (shared by queries and keys, so a block's queries look for the
    blocks of their topic), plus noise."""
    block, d = kernel.manifest["estimator"]["block"], kernel.head_dim
    n = length // block
    topics = torch.randn(TOPICS, d, device="cuda", generator=gen)
    of_block = torch.randint(0, TOPICS, (BATCH, n), device="cuda", generator=gen)
    rows = topics[of_block].repeat_interleave(block, 1)[:, None]  # (B, 1, L, D)

    def noisy(heads, signal):
        x = torch.randn(BATCH, heads, length, d, device="cuda", generator=gen)
        return (0.8 * x + signal * rows).to(torch.bfloat16)
    return noisy(kernel.heads, 1.0), noisy(kernel.kv_heads, 1.0), noisy(kernel.kv_heads, 0.0)


def rotate(g, base=10000.0):
    """The rotary embedding at the block index (rotate-half convention)."""
    n, f = g.shape[-2], g.shape[-1]
    half = f // 2
    angle = (torch.arange(n, device=g.device, dtype=torch.float64)[:, None]
             * base ** (-2.0 * torch.arange(half, device=g.device, dtype=torch.float64) / f))
    c, s = torch.cos(angle).to(g.dtype), torch.sin(angle).to(g.dtype)
    a, b = g[..., :half], g[..., half:]
    return torch.cat([a * c - b * s, b * c + a * s], -1)


def gate_log_probs(kernel, q, k, wq, wk):
    """log softmax over causal key blocks of the gate's logits, (B, H, n, n)
    (-inf above the diagonal): the compiled gate's definition, differentiable
    in wq (H, D, F) and wk (H, 3D, F)."""
    block = kernel.manifest["estimator"]["block"]
    b, h, length, d = q.shape
    n, group = length // block, kernel.heads // kernel.kv_heads
    pooled_q = q.float().view(b, h, n, block, d).mean(3)
    keys = k.float().view(b, kernel.kv_heads, n, block, d)
    pooled_k = torch.cat([keys.amax(3), keys.amin(3), keys.mean(3)], -1)
    pooled_k = pooled_k.repeat_interleave(group, 1)
    gq = rotate(torch.einsum("bhnd,hdf->bhnf", pooled_q, wq))
    gk = rotate(torch.einsum("bhnd,hdf->bhnf", pooled_k, wk))
    logits = gq @ gk.transpose(-1, -2) / math.sqrt(wq.shape[-1])
    causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
    return torch.log_softmax(logits.masked_fill(~causal, float("-inf")), -1)


def block_mass(kernel, q, k):
    """Each query block's share of the dense causal attention mass per key
    block, (B, H, n, n): the distillation target and the recall's weights."""
    block = kernel.manifest["estimator"]["block"]
    b, h, length, d = q.shape
    n, group = length // block, kernel.heads // kernel.kv_heads
    s = torch.einsum("bhqd,bhkd->bhqk", q.float(), k.float().repeat_interleave(group, 1))
    causal = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    p = torch.softmax((s * kernel.scale).masked_fill(~causal, float("-inf")), -1)
    return p.view(b, h, n, block, n, block).sum((3, 5)) / block


def block_max_target(target_kernel, q, k, v):
    """SeerAttention's distillation target, (B, H, n, n): the largest dense
    causal attention probability of each 64 x 64 block, normalised per query
    block, from one call of a block_max kernel."""
    from sattn import _block_max
    _, maxima = target_kernel.block_max(q, k, v)
    return _block_max.normalized(maxima)


def recall(mass, kept):
    return float((mass * kept).sum() / mass.sum())


def oracle(mass, ratio):
    """Each row's best ceil(ratio (I + 1)) blocks by true mass."""
    n = mass.shape[-1]
    kept = torch.zeros_like(mass)
    for i in range(n):
        top = mass[..., i, : i + 1].topk(math.ceil(ratio * (i + 1)), -1).indices
        kept[..., i, :].scatter_(-1, top, 1.0)
    return kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--kernel", help="compiled artifacts (a directory or a manifest)")
    ap.add_argument("--target", choices=("mass", "block_max"), default="mass")
    ap.add_argument("--target-kernel", help="compiled gate_target.sattn (--target block_max)")
    args = ap.parse_args()
    kernel = sattn.load(args.kernel) if args.kernel else sattn.compile(SPEC)
    target_kernel = None
    if args.target == "block_max":
        target_kernel = (sattn.load(args.target_kernel) if args.target_kernel
                         else sattn.compile(TARGET_SPEC))
        if (target_kernel.block_m, target_kernel.block_n) != (64, 64):
            sys.exit("the target kernel's tiles are %dx%d, not the gate's 64-token blocks"
                     % (target_kernel.block_m, target_kernel.block_n))
    est = kernel.manifest["estimator"]
    if est["kind"] != "gate":
        sys.exit("%s: not a gate kernel" % kernel.name)
    d, f, heads = kernel.head_dim, est["hidden"], kernel.heads
    gen = torch.Generator(device="cuda")
    gen.manual_seed(2026)
    init = [torch.randn(heads, rows, f, device="cuda", generator=gen) / math.sqrt(rows)
            for rows in (d, 3 * d)]
    wq, wk = (w.clone().requires_grad_() for w in init)
    optimizer = torch.optim.Adam([wq, wk], lr=3e-3)

    first = last = None
    for step in range(args.steps + 1):
        q, k, v = inputs(kernel, args.length, gen)
        target = (block_max_target(target_kernel, q, k, v) if target_kernel is not None
                  else block_mass(kernel, q, k))
        log_p = gate_log_probs(kernel, q, k, wq, wk)
        causal = target > 0
        loss = (target[causal] * (target[causal].log() - log_p[causal])).sum() / (
            BATCH * heads * target.shape[-1])
        if step % args.every == 0:
            print("step %4d  KL %.4f" % (step, loss.item()), flush=True)
        first = loss.item() if first is None else first
        last = loss.item()
        if step < args.steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    # The compiled gate with the trained weights, on fresh inputs.
    q, k, v = inputs(kernel, args.length, gen)
    trained = (wq.detach(), wk.detach())
    table = kernel.estimate(q, k, weights=trained)
    reference = sattn.estimate.gate(q.float().cpu().numpy(), k.float().cpu().numpy(), *trained,
                                    block=est["block"], top_ratio=est["top_ratio"] or None,
                                    threshold=est["threshold"] or None,
                                    rope_base=est["rope_base"])
    differ = int((table.cpu() != torch.from_numpy(reference.astype("int64"))).sum())
    o = kernel(q, k, v, weights=trained)
    ref_o, _ = sattn.reference(kernel, q, k, v, tables={kernel.estimated_table: table})
    err = float((o.float() - ref_o.float()).norm() / ref_o.float().norm())
    mass = block_mass(kernel, q, k)
    untrained = kernel.estimate(q, k, weights=tuple(init)).float()
    kept = table.float()
    r_trained, r_random = recall(mass, kept), recall(mass, untrained)
    r_oracle = recall(mass, oracle(mass, est["top_ratio"] or 0.25))
    density = float(kept.sum() / (kept.shape[0] * kept.shape[1] * kept.shape[2]
                                  * (kept.shape[2] + 1) / 2))
    print("compiled gate, trained weights: table %s the reference's (%d entries differ), "
          "attention rel err %.1e against dense masked attention" %
          ("equals" if differ == 0 else "DIFFERS from", differ, err))
    print("mass recall at %.1f %% of the causal blocks: trained %.3f, random weights %.3f, "
          "oracle %.3f" % (100 * density, r_trained, r_random, r_oracle))
    ok = last < 0.5 * first and differ == 0 and err < 2e-2 and r_trained > r_random
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
