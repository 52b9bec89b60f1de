"""The reference estimators of sattn's dynamic masks (docs/ESTIMATORS.md),
computed by libsattn_runtime on the host in double precision.

They say exactly which pairs `vertical_slash` and `block_topk` keep for given
Q and K, in the form of the runtime tables of each pattern's table form:

    vcol, slash = sattn.estimate.vertical_slash(q, k, vertical=1000, slash=200)
    # -> tables of `causal & (vcol[h, k] | slash[h, q - k])`
    keep = sattn.estimate.blocks(q, k, block=128, scorer="antidiagonal",
                                 stride=8, tau=0.9)
    # -> the table of `causal & block_table(keep, block = 128)`

Inputs are float arrays (NumPy, or CPU torch tensors of any float dtype):
one slice q [Lq, D], k [Lk, D], or a batch q [B, H, Lq, D], k [B, KV, Lk, D]
(GQA: query head h reads KV head h // (H // KV)). Results are NumPy bool
arrays, [Lk] / [n, n] per slice with n = ceil(Lk / block), batched as
[B, H, ...]. The cost is that of a dense pass over the scored rows; use them
to check estimators or to prepare tables, not on every prompt.
"""

import ctypes
import math

from . import _capi

_SCORERS = {"mean_pool": 0, "antidiagonal": 1}
_MAX_BLOCKS = 8192  # blocks per side of a block table (lib/Core/Estimators.cpp)


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
    t = _capi.CTensor()
    t.data = a.ctypes.data
    t.dtype = _capi.DTYPES["f32"]
    t.rank = 2
    t.shape[0], t.shape[1] = a.shape
    t.strides[0], t.strides[1] = a.strides[0] // 4, 1
    return t


def _check(lib, status):
    if status != 0:
        raise _capi.error_for_status(status, lib.sattn_last_error().decode())


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
    for b, h, kvh in pairs:
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        _check(lib, lib.sattn_estimate_vertical_slash(
            ctypes.addressof(qt), ctypes.addressof(kt), scale, vertical, slash, last_q,
            forced_vertical, forced_slash, vcol[b, h].ctypes.data, diag[b, h].ctypes.data))
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
    for b, h, kvh in pairs:
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        _check(lib, lib.sattn_estimate_blocks(
            ctypes.addressof(qt), ctypes.addressof(kt), scale, _SCORERS[scorer], block,
            top_k or 0, tau or 0.0, stride or 0, kept[b, h].ctypes.data))
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
    for b, h, kvh in pairs:
        qt, kt = _tensor(q[b, h]), _tensor(k[b, kvh])
        wqt, wkt = _tensor(wq[h]), _tensor(wk[h])
        _check(lib, lib.sattn_estimate_gate(
            ctypes.addressof(qt), ctypes.addressof(kt), ctypes.addressof(wqt),
            ctypes.addressof(wkt), block, threshold or 0.0, top_ratio or 0.0,
            float(rope_base), kept[b, h].ctypes.data))
    kept = kept.astype(bool)
    return kept if batched else kept[0, 0]
