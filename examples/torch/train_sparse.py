"""Trains a one-layer attention model whose attention is a sattn kernel with
a backward pass (train_sparse.sattn: causal & window(64), GQA 4/2, head_dim
64, bf16), on a synthetic task: predict the token LAG positions back, which
the sliding window keeps in view. Before training, the gradients of every
parameter through the kernel (autograd runs sattn::attention_backward) are
checked against the same model with dense masked attention (the mask from
the kernel's compiled mask program, autograd in fp32); then the loss is
printed every --every steps and must fall below half its first value.

    python3 examples/torch/train_sparse.py [--steps 400] [--every 50] [--compile]
                                           [--kernel DIR_OR_MANIFEST] [--deterministic]

Needs a CUDA device, PyTorch and libsattn_runtime (SATTN_RUNTIME_LIB). The
kernel is sattn.compile(train_sparse.sattn, backward=True): compiled here by
sattn-compile, or taken from a carried cache (SATTN_CACHE_DIR, see README.md
and scripts/gpu-python-prep.sh); --kernel loads compiled artifacts instead.
--compile runs the model under torch.compile(fullgraph=True), forward and
backward. --deterministic trains under torch.use_deterministic_algorithms(True)
(sattn's backward sums dK and dV in int64 fixed point) and then trains again
from the same seeds: every loss must repeat bit for bit. Exits 1 when a
check fails.
"""
import argparse
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # sattn from the source tree
import sattn  # noqa: E402
from model import rotary  # noqa: E402  (the transformer block example's, beside this file)

SPEC = os.path.join(HERE, "train_sparse.sattn")
VOCAB, DIM, LAG = 32, 128, 16
GRAD_TOL = 3e-2  # relative, per parameter: bf16 attention against fp32


def dense_attention(kernel, q, k, v):
    """Masked attention in fp32 (differentiable), the mask from the kernel's
    mask program; rounded to the kernel's dtype like the kernel's output."""
    lq, lk, group = q.shape[2], k.shape[2], kernel.heads // kernel.kv_heads
    keep = kernel.mask_program.keep(
        torch.tensor(0, device=q.device), torch.arange(kernel.heads, device=q.device)[:, None, None],
        (torch.arange(lq, device=q.device) + lk - lq)[None, :, None],
        torch.arange(lk, device=q.device)[None, None, :], lk, {})
    s = torch.einsum("bhqd,bhkd->bhqk", q.float(), k.float().repeat_interleave(group, 1))
    s = (s * kernel.scale).masked_fill(~keep, float("-inf"))
    o = torch.einsum("bhqk,bhkd->bhqd", torch.softmax(s, -1), v.float().repeat_interleave(group, 1))
    return o.to(q.dtype)


class TinyAttentionLM(nn.Module):
    """Embedding, one grouped-query attention layer with rotary positions and
    a residual, then logits. `attend(q, k, v) -> o` is the attention."""

    def __init__(self, kernel):
        super().__init__()
        self.kernel, self.attend = kernel, None
        h, kvh, d = kernel.heads, kernel.kv_heads, kernel.head_dim
        self.embed = nn.Embedding(VOCAB, DIM)
        self.q_proj, self.o_proj = nn.Linear(DIM, h * d), nn.Linear(h * d, DIM)
        self.k_proj, self.v_proj = nn.Linear(DIM, kvh * d), nn.Linear(DIM, kvh * d)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, tokens):
        b, length = tokens.shape
        x = self.embed(tokens)

        def heads(proj, n):
            return proj(x).view(b, length, n, -1).transpose(1, 2)
        dt = self.kernel.torch_dtype
        q = rotary(heads(self.q_proj, self.kernel.heads)).to(dt)
        k = rotary(heads(self.k_proj, self.kernel.kv_heads)).to(dt)
        v = heads(self.v_proj, self.kernel.kv_heads).to(dt)
        o = self.attend(q, k, v)
        return self.head(x + self.o_proj(o.transpose(1, 2).reshape(b, length, -1).float()))


def batch(gen, size=16, length=256):
    tokens = torch.randint(0, VOCAB, (size, length), device="cuda", generator=gen)
    return tokens, tokens[:, :-LAG]  # inputs, and the targets of positions LAG.. (LAG back)


def loss_of(model, tokens, targets):
    logits = model(tokens)[:, LAG:]
    return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))


def check_gradients(model, kernel_attend, dense_attend, tokens, targets):
    """Relative error of every parameter's gradient, kernel vs dense."""
    grads = []
    for attend in (kernel_attend, dense_attend):
        model.attend = attend
        model.zero_grad()
        loss_of(model, tokens, targets).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    worst = 0.0
    for name, g in grads[0].items():
        ref = grads[1][name]
        err = float((g - ref).norm() / ref.norm().clamp_min(1e-30))
        worst = max(worst, err)
        print("  grad %-16s rel err %.2e" % (name, err))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--kernel", default=None, help="compiled artifacts instead of compiling")
    ap.add_argument("--deterministic", action="store_true",
                    help="torch.use_deterministic_algorithms(True) (sattn's deterministic "
                         "backward), and a second run that must repeat every loss bit for bit")
    args = ap.parse_args()
    if args.deterministic:
        # cuBLAS needs this for its deterministic mode (set before its first use).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    kernel = sattn.load(args.kernel) if args.kernel else sattn.compile(SPEC, backward=True)
    if not kernel.has_backward:
        sys.exit("kernel %r has no backward pass; compile it with backward=True" % kernel.name)
    torch.manual_seed(0)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    model = TinyAttentionLM(kernel).cuda()

    def kernel_attend(q, k, v):
        return kernel(q, k, v)[0]  # (o, lse): a kernel with a backward pass returns LSE

    tokens, targets = batch(gen)
    worst = check_gradients(model, kernel_attend, lambda q, k, v: dense_attention(kernel, q, k, v),
                            tokens, targets)
    print("step 0: gradients through the sattn kernel match dense masked autograd "
          "(worst rel err %.2e, tolerance %.0e)" % (worst, GRAD_TOL))
    if not worst < GRAD_TOL:
        return 1

    model.attend = kernel_attend
    losses = train(model, gen, args)
    first, last = losses[0], sum(losses[-20:]) / len(losses[-20:])
    print("loss %.4f -> %.4f (mean of the last 20 steps)" % (first, last))
    if not last < 0.5 * first:
        print("FAIL: the loss did not fall below half its first value")
        return 1
    if args.deterministic:
        # The same run again from the same seeds: every loss the same bits.
        torch.manual_seed(0)
        again = TinyAttentionLM(kernel).cuda()
        again.attend = kernel_attend
        gen.manual_seed(0)
        batch(gen)  # the batch the gradient check drew
        repeat = train(again, gen, args, quiet=True)
        same = repeat == losses
        print("deterministic: a second run's %d losses are %s" % (
            len(losses), "bitwise the same" if same else "DIFFERENT"))
        if not same:
            return 1
    return 0


def train(model, gen, args, quiet=False):
    """Adam on fresh batches for args.steps steps: the losses."""
    step_fn = torch.compile(model, fullgraph=True) if args.compile else model
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    for step in range(args.steps):
        tokens, targets = batch(gen)
        loss = loss_of(step_fn, tokens, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if not quiet and (step % args.every == 0 or step == args.steps - 1):
            print("step %4d  loss %.4f" % (step, losses[-1]))
    return losses


if __name__ == "__main__":
    sys.exit(main())
