"""A transformer block whose attention is a compiled sattn kernel.

The kernel comes from attention.sattn (sink + sliding window, GQA 16/4,
head_dim 128, bf16) through sattn.compile, which runs sattn-compile once and
caches the result (or finds it in a cache carried from a machine that has the
compiler; see README.md). The module is plain PyTorch around it: the kernel
call is the custom op torch.ops.sattn.attention, so torch.compile traces the
block as one graph.
"""
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # sattn from the source tree
import sattn  # noqa: E402

SPEC = os.path.join(HERE, "attention.sattn")


def compile_kernel():
    """The block's attention kernel (compiled, or loaded from the cache)."""
    return sattn.compile(SPEC)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * \
            self.weight


def rotary(x, base=10000.0):
    """Rotary position embedding over the last dimension of (B, H, L, D)."""
    d, length = x.shape[-1], x.shape[-2]
    inv = 1.0 / base ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    angles = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * inv
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x.float()[..., ::2], x.float()[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


class SattnAttention(nn.Module):
    """Multi-head attention with grouped K/V heads; the attention itself is a
    sattn Kernel (or any callable(q, k, v) -> o, e.g. the reference)."""

    def __init__(self, kernel, dim):
        super().__init__()
        self.kernel = kernel
        self.heads, self.kv_heads, self.head_dim = kernel.heads, kernel.kv_heads, kernel.head_dim
        self.q_proj = nn.Linear(dim, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, dim, bias=False)
        self.attend = kernel

    def forward(self, x):
        b, length, _ = x.shape

        def split(t, heads):
            return t.view(b, length, heads, self.head_dim).transpose(1, 2)

        q = rotary(split(self.q_proj(x), self.heads))
        k = rotary(split(self.k_proj(x), self.kv_heads))
        v = split(self.v_proj(x), self.kv_heads)
        o = self.attend(q, k, v)  # (B, H, L, D): the sattn custom op
        return self.o_proj(o.transpose(1, 2).reshape(b, length, self.heads * self.head_dim))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, kernel, dim=2048, hidden=5632):
        super().__init__()
        self.attn_norm, self.mlp_norm = RMSNorm(dim), RMSNorm(dim)
        self.attn = SattnAttention(kernel, dim)
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        h = self.mlp_norm(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


def reference_attention(kernel):
    """An `attend` callable with the dense fp32 reference of the same mask."""
    def attend(q, k, v):
        return sattn.reference(kernel, q, k, v)[0].to(q.dtype)
    return attend


def build(dim=2048, device="cuda", seed=0):
    """The block in bf16 on `device`, with its sattn kernel."""
    torch.manual_seed(seed)
    kernel = compile_kernel()
    block = Block(kernel, dim).to(device=device, dtype=torch.bfloat16)
    for p in block.parameters():  # keep activations O(1) through the block
        if p.dim() == 2:
            nn.init.normal_(p, std=dim ** -0.5)
    return block.eval()
