"""Dense masked attention in fp32, the computation behind `sattn.reference`
and `Kernel.reference`: every (query, key) score, the mask from the kernel's
compiled mask program (the program the planner and the kernels implement;
docs/MASK_SEMANTICS.md), softmax and the weighted sum, on PyTorch tensors
(CPU or CUDA) or NumPy arrays, a chunk of query rows at a time. Runtime
tables are checked as libsattn_runtime checks them (sattn.tables).
"""

import math

from .tables import check as check_tables

__all__ = ["attention", "table_specs"]


def table_specs(prog, declared):
    """The runtime tables a kernel takes, for the checks of sattn.tables:
    the manifest's declarations (`declared`: its "tables", in order; their
    dims are what the runtime checks), with the element type the mask
    program reads each as (what the planner checks values against; a table
    the program does not read is not checked)."""
    by_name = {t["name"]: t for t in prog.tables}
    unread = {"bool": False, "width": 64}
    return [{"name": t["name"], "dims": t["dims"],
             "bool": by_name.get(t["name"], unread)["bool"],
             "width": by_name.get(t["name"], unread)["width"]} for t in declared]


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


def attention(prog, name, specs, q, k, v, tables, scale, chunk_elements=1 << 24):
    """(o, lse) in float32 for mask program `prog` of kernel `name`, whose
    runtime tables are declared by `specs` (the program's table entries in
    the kernel's order); scale None means 1/sqrt(D). See sattn.reference
    for the conventions."""
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
        scale = 1.0 / math.sqrt(dim)
    tables = check_tables(name, specs, tables, batch, heads, lk, xp.i64)

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
