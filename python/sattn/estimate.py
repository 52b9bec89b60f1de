"""The reference estimators of sattn's dynamic masks (docs/ESTIMATORS.md),
computed by libsattn_runtime on the host in double precision.

They say exactly which pairs `vertical_slash` and `block_topk` keep for given
Q and K, in the form of the runtime tables of each pattern's table form:

    vcol, slash = sattn.estimate.vertical_slash(q, k, vertical=1000, slash=200)
    # -> tables of `causal & (vcol[h, k] | slash[h, q - k])`
    keep = sattn.estimate.blocks(q, k, block=128, scorer="antidiagonal",
                                 stride=8, tau=0.9)
    # -> the table of `causal & block_table(keep, block = 128)`
    sel = sattn.estimate.stripe(q, k, group=2048, block=128, step=16, theta=12.0)
    # -> the table of `causal & (k < 2048 | k >= q / 2048 * 2048
    #                             | sel[b, h, q / 2048, k])`

Inputs are float arrays (NumPy, or CPU torch tensors of any float dtype):
one slice q [Lq, D], k [Lk, D], or a batch q [B, H, Lq, D], k [B, KV, Lk, D]
(GQA: query head h reads KV head h // (H // KV)). Results are NumPy bool
arrays, [Lk] / [n, n] per slice with n = ceil(Lk / block) ([units, Lk] for
stripe, units = ceil(Lk / (block * step))), batched as
[B, H, ...]. The cost is that of a dense pass over the scored rows (the
slices run on one thread per host core); use them to check estimators or to
prepare tables, not on every prompt.
"""

import ctypes
import math

from . import _capi

_SCORERS = {"mean_pool": 0, "antidiagonal": 1}
_MAX_BLOCKS = 8192  # blocks per side of a block table (lib/Core/Estimators.cpp)
_MAX_STRIPE_ENTRIES = 1 << 30  # units * Lk of a stripe selection (kMaxStripeEntries)


def _as_float32(x, name):
    import numpy
    if hasattr(x, "detach"):  # a torch tensor: any float dtype, on the CPU
        x = x.detach().float().cpu().numpy()
    a = numpy.ascontiguousarray(numpy.asarray(x, dtype=numpy.float32))
    if a.ndim not in (2, 4):
        raise ValueError("%s must be [L, D] or [B, H, L, D], got shape %s" % (name, a.shape))
    return a


def _slices(q, k):
    """(q, k, batched, pairs): 4-D views and the (b, h, kv_head) slices."""
    q = _as_float32(q, "q")
    k = _as_float32(k, "k")
    if q.ndim != k.ndim:
        raise ValueError("q and k must both be [L, D] or both [B, H, L, D]")
    batched = q.ndim == 4
    if not batched:
        q, k = q[None, None], k[None, None]
    b, heads, _, d = q.shape
    if k.shape[0] != b or k.shape[3] != d or k.shape[1] < 1 or heads % k.shape[1]:
        raise ValueError("k of shape %s does not fit q of shape %s (same batch and head_dim, "
                         "heads a multiple of KV heads)" % (k.shape, q.shape))
    group = heads // k.shape[1]
    pairs = [(bi, h, h // group) for bi in range(b) for h in range(heads)]
    return q, k, batched, pairs


def _tensor(a):
    """A C view of a C-contiguous float32 array of rank 2 or 3."""
    t = _capi.CTensor()
    t.data = a.ctypes.data
    t.dtype = _capi.DTYPES["f32"]
    t.rank = a.ndim
    for i in range(a.ndim):
        t.shape[i] = a.shape[i]
        t.strides[i] = a.strides[i] // 4
    return t


def _check(lib, status):
    if status != 0:
        raise _capi.error_for_status(status, lib.sattn_last_error().decode())


def _each_slice(pairs, call):
    """Runs call(b, h, kv_head) for every slice, on up to one thread per host
    core: ctypes releases the GIL during the runtime's call, each slice writes
    its own rows of the result, and the runtime's last error is per thread.
    The first error is raised. (One thread took minutes for XAttention's
    reference at 32K.)"""
    import os
    from concurrent.futures import ThreadPoolExecutor
    workers = min(len(pairs), os.cpu_count() or 1)
    if workers <= 1:
        for pair in pairs:
            call(*pair)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(call, *pair) for pair in pairs]:
            done.result()


def vertical_slash(q, k, *, vertical, slash, last_q=64, forced_vertical=0, forced_slash=0,
                   scale=None):
    """MInference's vertical-slash estimator: (vcol, slash), bool arrays of
    Lk entries per slice (kept key columns; kept offsets q - k)."""
    import numpy
    q, k, batched, pairs = _slices(q, k)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    lib = _capi.runtime_library()
    lk = k.shape[2]
    vcol = numpy.zeros(q.shape[:2] + (lk,), dtype=numpy.uint8)
    diag = numpy.zeros_like(vcol)
    def one(b, h, kvh):
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        _check(lib, lib.sattn_estimate_vertical_slash(
            ctypes.addressof(qt), ctypes.addressof(kt), scale, vertical, slash, last_q,
            forced_vertical, forced_slash, vcol[b, h].ctypes.data, diag[b, h].ctypes.data))
    _each_slice(pairs, one)
    vcol, diag = vcol.astype(bool), diag.astype(bool)
    return (vcol, diag) if batched else (vcol[0, 0], diag[0, 0])


def blocks(q, k, *, block, scorer="mean_pool", top_k=None, tau=None, stride=None, scale=None):
    """Block selection of `block_topk`: a bool block table [n, n] per slice,
    n = ceil(Lk / block); `scorer` is "mean_pool" or "antidiagonal"."""
    import numpy
    if scorer not in _SCORERS:
        raise ValueError("scorer must be one of %s, got %r" % (sorted(_SCORERS), scorer))
    q, k, batched, pairs = _slices(q, k)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    lib = _capi.runtime_library()
    n = -(-k.shape[2] // block) if block > 0 else 0
    if n > _MAX_BLOCKS:  # the runtime's limit, checked before allocating n * n
        raise ValueError("the block table would have more than %d blocks per side (lk %d, "
                         "block %d); use larger blocks" % (_MAX_BLOCKS, k.shape[2], block))
    kept = numpy.zeros(q.shape[:2] + (n, n), dtype=numpy.uint8)
    def one(b, h, kvh):
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        _check(lib, lib.sattn_estimate_blocks(
            ctypes.addressof(qt), ctypes.addressof(kt), scale, _SCORERS[scorer], block,
            top_k or 0, tau or 0.0, stride or 0, kept[b, h].ctypes.data))
    _each_slice(pairs, one)
    kept = kept.astype(bool)
    return kept if batched else kept[0, 0]


def gate(q, k, wq, wk, *, block=64, threshold=None, top_ratio=None, rope_base=10000.0):
    """SeerAttention's gate (docs/ESTIMATORS.md, "gate"): a bool block table
    [n, n] per slice, n = ceil(Lk / block). wq [H, D, hidden] and wk
    [H, 3 * D, hidden] (or [D, hidden] and [3 * D, hidden] for one head):
    the gate's weights per query head; exactly one of threshold and
    top_ratio."""
    import numpy
    q, k, batched, pairs = _slices(q, k)
    wq = numpy.ascontiguousarray(numpy.asarray(
        wq.detach().float().cpu().numpy() if hasattr(wq, "detach") else wq, dtype=numpy.float32))
    wk = numpy.ascontiguousarray(numpy.asarray(
        wk.detach().float().cpu().numpy() if hasattr(wk, "detach") else wk, dtype=numpy.float32))
    heads = q.shape[1]
    if wq.ndim == 2 and wk.ndim == 2 and heads == 1:
        wq, wk = wq[None], wk[None]
    if wq.ndim != 3 or wk.ndim != 3 or wq.shape[0] != heads or wk.shape[0] != heads:
        raise ValueError("wq and wk must be [H, D, hidden] and [H, 3 * D, hidden] for the %d "
                         "query heads, got shapes %s and %s" % (heads, wq.shape, wk.shape))
    lib = _capi.runtime_library()
    n = -(-k.shape[2] // block) if block > 0 else 0
    if n > _MAX_BLOCKS:
        raise ValueError("the block table would have more than %d blocks per side (lk %d, "
                         "block %d); use larger blocks" % (_MAX_BLOCKS, k.shape[2], block))
    kept = numpy.zeros(q.shape[:2] + (n, n), dtype=numpy.uint8)
    def one(b, h, kvh):
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        wqt, wkt = _tensor(wq[h]), _tensor(wk[h])
        _check(lib, lib.sattn_estimate_gate(
            ctypes.addressof(qt), ctypes.addressof(kt), ctypes.addressof(wqt),
            ctypes.addressof(wkt), block, threshold or 0.0, top_ratio or 0.0,
            float(rope_base), kept[b, h].ctypes.data))
    _each_slice(pairs, one)
    kept = kept.astype(bool)
    return kept if batched else kept[0, 0]


def stripe(q, k, *, group=2048, block=128, step=16, theta=12.0, scale=None):
    """AnchorAttention's stripe selection (docs/ESTIMATORS.md, "stripe"): a
    bool array [units, Lk] per slice, units = ceil(Lk / (block * step)); row
    u marks the keys kept for the queries of positions [u * S, (u + 1) * S),
    S = block * step, on top of each query's anchor region (the first
    `group` keys and its own group)."""
    import numpy
    q, k, batched, pairs = _slices(q, k)
    scale = 1.0 / math.sqrt(q.shape[3]) if scale is None else float(scale)
    lib = _capi.runtime_library()
    lk = k.shape[2]
    units = -(-lk // (block * step)) if block > 0 and step > 0 else 0
    if units * lk > _MAX_STRIPE_ENTRIES:  # the runtime's limit, checked before allocating
        raise ValueError("the selection table would have more than 2^30 entries (%d units x %d "
                         "keys); use larger blocks or step" % (units, lk))
    kept = numpy.zeros(q.shape[:2] + (units, lk), dtype=numpy.uint8)
    def one(b, h, kvh):
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        _check(lib, lib.sattn_estimate_stripe(
            ctypes.addressof(qt), ctypes.addressof(kt), scale, group, block, step,
            float(theta), kept[b, h].ctypes.data))
    _each_slice(pairs, one)
    kept = kept.astype(bool)
    return kept if batched else kept[0, 0]


def nsa(q, k, v, gates, *, compress_block=32, compress_stride=16, select_block=64,
        select_count=16, window=512, local_blocks=2, compressed_k=None, compressed_v=None,
        scale=None):
    """Native Sparse Attention's forward (docs/ESTIMATORS.md, "nsa"), the
    output itself rather than a mask: q [B, H, Lq, D], k and v [B, KV, Lk, D],
    gates [B, H, Lq, 3] (compressed, selected, sliding branch). compressed_k
    and compressed_v [B, KV, blocks, D], or None for the blocks' means.
    Returns (out, selected): float32 [B, H, Lq, D] and int64
    [B, KV, Lq, select_count], each row's selected blocks ascending, -1
    padded; the selection is shared by the query heads of a KV head."""
    import numpy
    arrays = [_as_float32(x, name) for x, name in ((q, "q"), (k, "k"), (v, "v"),
                                                  (gates, "gates"))]
    if (compressed_k is None) != (compressed_v is None):
        raise ValueError("give both compressed_k and compressed_v, or neither")
    if compressed_k is not None:
        arrays += [_as_float32(compressed_k, "compressed_k"),
                   _as_float32(compressed_v, "compressed_v")]
    if any(a.ndim != 4 for a in arrays):
        raise ValueError("nsa takes batched arrays: q [B, H, Lq, D], k and v [B, KV, Lk, D], "
                         "gates [B, H, Lq, 3]")
    q, k, v, gates = arrays[:4]
    b, heads, lq, d = q.shape
    kv = k.shape[1]
    if (v.shape != k.shape or k.shape[0] != b or k.shape[3] != d or heads % kv or
            gates.shape != (b, heads, lq, 3)):
        raise ValueError("shapes do not fit: q %s, k %s, v %s, gates %s (k and v alike, heads "
                         "a multiple of KV heads, gates [B, H, Lq, 3])"
                         % (q.shape, k.shape, v.shape, gates.shape))
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    lib = _capi.runtime_library()
    group = heads // kv
    out = numpy.zeros(q.shape, dtype=numpy.float32)
    selected = numpy.zeros((b, kv, lq, max(select_count, 0)), dtype=numpy.int64)
    for bi in range(b):
        for g in range(kv):
            heads_of = slice(g * group, (g + 1) * group)
            # The arrays stay referenced here while the C views point into them.
            parts = [q[bi, heads_of], k[bi, g], v[bi, g], gates[bi, heads_of]]
            if compressed_k is not None:
                parts += [arrays[4][bi, g], arrays[5][bi, g]]
            parts = [numpy.ascontiguousarray(a) for a in parts]
            views = [_tensor(a) for a in parts]
            pointers = [ctypes.addressof(t) for t in views] + [None] * (6 - len(views))
            group_out = numpy.zeros((group, lq, d), dtype=numpy.float32)
            _check(lib, lib.sattn_estimate_nsa(
                *pointers, scale, compress_block, compress_stride, select_block, select_count,
                window, local_blocks, group_out.ctypes.data, selected[bi, g].ctypes.data))
            out[bi, heads_of] = group_out
    return out, selected
