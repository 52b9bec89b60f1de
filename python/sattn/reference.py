"""`sattn.reference`: dense masked attention in fp32, for checking kernels.

Works on PyTorch tensors (CPU or CUDA) and on NumPy arrays, with the mask
evaluated from the kernel's compiled mask program (the same program the
planner and the kernels implement; see docs/MASK_SEMANTICS.md).
"""

import math
import os

from .mask_program import MaskProgram

__all__ = ["reference"]


class _Arrays:
    """The few array operations the reference needs; `mod` is torch or numpy,
    whose functions of the same name the rest comes from."""

    def amax(self, x):
        return self.mod.amax(x, -1, **{self.keepdims: True})

    def sum(self, x):
        return self.mod.sum(x, -1, **{self.keepdims: True})

    def __getattr__(self, name):  # einsum, exp, log, where, isneginf, broadcast_to
        return getattr(self.mod, name)


class _Torch(_Arrays):
    keepdims = "keepdim"

    def __init__(self, like):
        import torch
        self.mod, self.device = torch, like.device

    def f32(self, x):
        return x.to(self.mod.float32)

    def arange(self, start, stop):
        return self.mod.arange(start, stop, device=self.device, dtype=self.mod.int64)

    def i64(self, x):
        return self.mod.as_tensor(x, dtype=self.mod.int64, device=self.device)

    def empty(self, shape):
        return self.mod.empty(shape, dtype=self.mod.float32, device=self.device)


class _NumPy(_Arrays):
    keepdims = "keepdims"

    def __init__(self, like):
        import numpy
        self.mod = numpy

    def f32(self, x):
        return self.mod.asarray(x, dtype=self.mod.float32)

    def arange(self, start, stop):
        return self.mod.arange(start, stop, dtype=self.mod.int64)

    def i64(self, x):
        if hasattr(x, "cpu"):  # a torch table next to NumPy inputs
            x = x.cpu()
        return self.mod.asarray(x, dtype=self.mod.int64)

    def empty(self, shape):
        return self.mod.empty(shape, dtype=self.mod.float32)

    def einsum(self, spec, a, b):
        return self.mod.einsum(spec, a, b, optimize=True)


def _source(spec_or_kernel):
    """(MaskProgram, scale or None, table names) of a Kernel, a manifest (dict
    or path), a MaskProgram, or a spec (text or path, through sattn.compile)."""
    from .kernel import Kernel
    if isinstance(spec_or_kernel, os.PathLike):
        spec_or_kernel = os.fspath(spec_or_kernel)
    if isinstance(spec_or_kernel, Kernel):
        return spec_or_kernel.mask_program, spec_or_kernel.scale, spec_or_kernel.table_names
    if isinstance(spec_or_kernel, MaskProgram):
        return spec_or_kernel, None, [t["name"] for t in spec_or_kernel.tables]
    if isinstance(spec_or_kernel, dict):
        manifest = spec_or_kernel
    elif isinstance(spec_or_kernel, str) and spec_or_kernel.endswith(".json"):
        import json
        with open(spec_or_kernel, encoding="utf-8") as f:
            manifest = json.load(f)
    else:
        from .compiler import compile
        return _source(compile(spec_or_kernel))
    return (MaskProgram(manifest["mask_program"]), manifest["scale"],
            [t["name"] for t in manifest.get("tables", [])])


def reference(spec_or_kernel, q, k, v, tables=None, scale=None, chunk_elements=1 << 24):
    """Dense masked attention in fp32: returns (o, lse).

    spec_or_kernel: a `Kernel`, a manifest (dict or NAME.json path), a
    `MaskProgram`, or a spec (text or .sattn path; compiled through
    `sattn.compile`). q (B, H, Lq, D), k and v (B, KV_H, Lk, D): torch tensors
    (any device) or NumPy arrays, any float dtype. Query head h reads K/V head
    h // (H // KV_H); query row i has absolute position i + Lk - Lq. tables:
    {name: integer array} or a sequence in manifest order. scale: None for the
    kernel's (1/sqrt(D) for a bare MaskProgram).

    o is (B, H, Lq, D) float32, lse (B, H, Lq) float32 (natural log of the
    sum of exp of the scaled kept scores); rows with no kept key give o = 0
    and lse = -inf. Rows are processed in chunks of about `chunk_elements`
    scores to bound memory.
    """
    prog, kernel_scale, names = _source(spec_or_kernel)
    xp = _Torch(q) if type(q).__module__.startswith("torch") else _NumPy(q)
    if len(q.shape) != 4 or len(k.shape) != 4 or tuple(k.shape) != tuple(v.shape):
        raise ValueError("expected q (B, H, Lq, D) and k, v (B, KV_H, Lk, D); got %s, %s, %s"
                         % (tuple(q.shape), tuple(k.shape), tuple(v.shape)))
    batch, heads, lq, dim = (int(s) for s in q.shape)
    kv_heads, lk = int(k.shape[1]), int(k.shape[2])
    if heads % kv_heads or lq > lk or int(k.shape[0]) != batch or int(k.shape[3]) != dim:
        raise ValueError("incompatible shapes q %s, k %s (need KV_H | H, Lq <= Lk, equal B, D)"
                         % (tuple(q.shape), tuple(k.shape)))
    if scale is None:
        scale = kernel_scale if kernel_scale is not None else 1.0 / math.sqrt(dim)
    if tables is None:
        tables = {}
    elif not isinstance(tables, dict):
        tables = dict(zip(names, tables))
    tables = {name: xp.i64(t) for name, t in tables.items()}

    group = heads // kv_heads
    out, lse = xp.empty((batch, heads, lq, dim)), xp.empty((batch, heads, lq))
    keys = xp.arange(0, lk)
    head_ids = xp.arange(0, heads).reshape(kv_heads, group, 1, 1)
    rows = max(1, min(lq, chunk_elements // max(1, heads * lk)))
    for b in range(batch):
        kf, vf = xp.f32(k[b]), xp.f32(v[b])  # (KV_H, Lk, D)
        for r0 in range(0, lq, rows):
            r1 = min(lq, r0 + rows)
            pos = (xp.arange(r0, r1) + (lk - lq)).reshape(1, 1, r1 - r0, 1)
            keep = prog.keep(xp.i64(b), head_ids, pos, keys.reshape(1, 1, 1, lk), lk, tables)
            keep = xp.broadcast_to(keep, (kv_heads, group, r1 - r0, lk))
            qf = xp.f32(q[b, :, r0:r1]).reshape(kv_heads, group, r1 - r0, dim)
            s = xp.einsum("kgqd,kld->kgql", qf, kf) * scale
            s = xp.where(keep, s, -math.inf)
            m = xp.amax(s)
            empty = xp.isneginf(m)
            p = xp.exp(s - xp.where(empty, 0.0, m))
            total = xp.sum(p)
            o = xp.einsum("kgql,kld->kgqd", p, vf) / xp.where(empty, 1.0, total)
            out[b, :, r0:r1] = xp.where(empty, 0.0, o).reshape(heads, r1 - r0, dim)
            row_lse = xp.where(empty, -math.inf, m + xp.log(xp.where(empty, 1.0, total)))
            lse[b, :, r0:r1] = row_lse.reshape(heads, r1 - r0)
    return out, lse
