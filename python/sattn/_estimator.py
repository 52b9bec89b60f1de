"""The compiled estimator of a kernel with a dynamic mask (docs/ESTIMATORS.md)
through libsattn_runtime: `RuntimeKernel.estimate`,
`RuntimeKernel.estimator_table` and `RuntimeKernel.estimator_weights` are
these functions.

The estimator's stage kernels read Q and K and write the table the kernel's
mask reads (for block_topk and gate: 1 where a query block keeps a key
block; for vertical_slash: 1 at kept key columns and kept diagonal offsets;
for stripe: 1 at the keys kept for a unit of queries); they run
asynchronously on the given stream, so that estimate, device plan and
attention follow each other on one stream with no host round trip.

A gate (SeerAttention's AttnGate) also reads learned weights, which the
caller owns and passes with every estimate (one loaded kernel serves every
layer of a model, each layer with its own gate): per query head wq (D, F)
and wk (3D, F). The runtime takes them as one contiguous float32 (H, 4D, F)
CUDA tensor (each head's wq rows, then its wk rows); `as_weights` makes that
tensor from the pair or from one tensor of any floating dtype.
"""

import ctypes

from . import tables as _tables
from ._capi import check, tagged_error
from ._nsa import compressed_keys_shape


def table_index(kernel):
    """Index of the estimated table among the kernel's tables, or None."""
    index = ctypes.c_int32(-1)
    status = kernel._lib.sattn_estimator_table(kernel._h(), ctypes.byref(index))
    return index.value if status == 0 else None


def weights_shape(kernel):
    """(H, 4 * head_dim, hidden): the shape of the weights the kernel's
    estimator reads (a gate's), or None when it takes none or the kernel has
    no estimator."""
    shape = (ctypes.c_int64 * 3)()
    status = kernel._lib.sattn_estimator_weights(kernel._h(), shape)
    return tuple(shape) if status == 0 else None


def _check_float(kernel_name, name, t):
    import torch
    if not isinstance(t, torch.Tensor):
        raise tagged_error(TypeError, "INVALID_ARGUMENT",
                           "kernel %r: the gate's %s must be a torch.Tensor, not %s",
                           kernel_name, name, type(t).__name__)
    if not t.is_floating_point():
        raise tagged_error(TypeError, "DTYPE",
                           "kernel %r: the gate's %s must be floating point (any float dtype, "
                           "converted to float32), not %s", kernel_name, name, t.dtype)


def as_compressed_keys(kernel_name, keys, shape, device):
    """An nsa estimator's compressed keys as its compress stage reads them:
    float32, contiguous, 16-byte aligned, of `shape` (compressed_keys_shape)
    on `device`."""
    import torch
    if not isinstance(keys, torch.Tensor) or not keys.is_floating_point():
        raise tagged_error(TypeError, "DTYPE",
                           "kernel %r: the compressed keys must be a floating-point torch.Tensor "
                           "(B, KV, C, D) = %s", kernel_name, shape)
    if tuple(keys.shape) != tuple(shape):
        raise tagged_error(ValueError, "SHAPE",
                           "kernel %r takes compressed keys (B, KV, C, D) = %s (C: the compressed "
                           "blocks of Lk keys), got %s", kernel_name, shape, tuple(keys.shape))
    keys = keys.to(device=device, dtype=torch.float32).contiguous()
    return keys.clone() if keys.data_ptr() % 16 else keys


def as_weights(kernel_name, weights, shape, device):
    """A gate estimator's weights as its stages read them: one contiguous
    float32 tensor of `shape` = (H, 4D, F) on `device`. `weights`: the pair
    (wq, wk), wq (H, D, F) and wk (H, 3D, F), or one (H, 4D, F) tensor
    holding each head's wq rows, then its wk rows; any floating dtype, any
    device (converted, so a pair or another dtype costs a copy per call:
    keep the converted tensor to reuse it). Plain torch operations, so that
    torch.compile traces it inside `Kernel.__call__`."""
    import torch
    heads, rows, hidden = shape
    dim = rows // 4
    if isinstance(weights, (tuple, list)):
        if len(weights) != 2:
            raise tagged_error(ValueError, "SHAPE",
                               "kernel %r: weights must be one (H, 4D, F) = %s tensor or a pair "
                               "(wq, wk), not a sequence of %d", kernel_name, shape,
                               len(weights))
        wq, wk = weights
        _check_float(kernel_name, "wq", wq)
        _check_float(kernel_name, "wk", wk)
        if tuple(wq.shape) != (heads, dim, hidden) or tuple(wk.shape) != (heads, 3 * dim, hidden):
            raise tagged_error(ValueError, "SHAPE",
                               "the gate of kernel %r takes wq (H, D, F) = %s and wk "
                               "(H, 3D, F) = %s (head_dim %d, hidden %d); got wq %s and wk %s",
                               kernel_name, (heads, dim, hidden), (heads, 3 * dim, hidden), dim,
                               hidden, tuple(wq.shape), tuple(wk.shape))
        merged = torch.cat([wq.to(device=device, dtype=torch.float32),
                            wk.to(device=device, dtype=torch.float32)], dim=1)
        return merged.contiguous()
    _check_float(kernel_name, "weights", weights)
    if tuple(weights.shape) != tuple(shape):
        raise tagged_error(ValueError, "SHAPE",
                           "the gate of kernel %r takes weights (H, 4D, F) = %s (each head's wq "
                           "rows, then its wk rows; head_dim %d, hidden %d) or a pair (wq, wk); "
                           "got a tensor of shape %s", kernel_name, tuple(shape), dim, hidden,
                           tuple(weights.shape))
    return weights.to(device=device, dtype=torch.float32).contiguous()


def workspace_bytes(kernel, batch, lk):
    """Bytes of scratch the estimator needs for `batch` sequences of `lk`
    keys (sattn_estimator_workspace); a workspace passed to estimate() holds
    256 more, for alignment."""
    size = ctypes.c_size_t()
    check(kernel._lib.sattn_estimator_workspace(kernel._h(), int(batch), int(lk),
                                                ctypes.byref(size)))
    return size.value


def estimate(kernel, q, k, table=None, workspace=None, stream=None, weights=None):
    """Runs `kernel`'s estimator on CUDA tensors q (B, H, Lq, D) and k
    (B, KV_H, Lk, D) on `stream` (None: PyTorch's current stream) and
    returns the table it writes, int64: (B, H, ceil(Lk / block),
    ceil(Lk / block)) for block_topk and gate, (B, H, 2, Lk) for
    vertical_slash (row 0: kept key columns, row 1: kept diagonal offsets
    q - k), (B, H, ceil(Lk / (block * step)), Lk) for stripe (row u: the
    keys kept for the queries of unit u), (B, KV_H, Lk, ceil(Lk / block))
    for nsa (row p of a KV head: the selection blocks of its query heads'
    queries at position p). `table` and `workspace` (uint8, at
    least sattn_estimator_workspace + 256 bytes) are written into when
    given, allocated otherwise. `weights`: a gate's learned weights (required
    for a gate, refused for the others), as `as_weights` takes them; for nsa,
    optionally a caller's compressed keys (B, KV, C, D) used instead of the
    blocks' means (`as_compressed_keys`)."""
    import torch
    index = table_index(kernel)
    if index is None:
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                           "kernel %r has no compiled estimator", kernel.name)
    shape = weights_shape(kernel)
    nsa_shape = None if weights is None else compressed_keys_shape(
        kernel._estimator_record(), q.shape[0], k.shape[1], k.shape[2], k.shape[3])
    if nsa_shape is not None:
        weights = as_compressed_keys(kernel.name, weights, nsa_shape, q.device)
    elif shape is None and weights is not None:
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                           "the estimator of kernel %r takes no weights (a gate's takes its "
                           "weights, nsa's optionally a caller's compressed keys); call it "
                           "without weights", kernel.name)
    if shape is not None:
        if weights is None:
            raise tagged_error(ValueError, "NULL_POINTER",
                               "the gate estimator of kernel %r needs its learned weights: pass "
                               "weights=(wq, wk), wq (H, D, F) and wk (H, 3D, F), or one "
                               "(H, 4D, F) = %s tensor", kernel.name, shape)
        weights = as_weights(kernel.name, weights, shape, q.device)
        if weights.data_ptr() % 16:  # a view into another tensor: the stages load 16 bytes
            weights = weights.clone()
    names = kernel.table_names
    batch, lk = int(q.shape[0]), int(k.shape[2])
    if table is None:
        table_shape = kernel.table_shape(names[index], batch, lk)
        table = torch.empty(*table_shape, dtype=torch.int64, device=q.device)
    need = workspace_bytes(kernel, batch, lk) + 256
    if workspace is None:
        workspace = torch.empty(need, dtype=torch.uint8, device=q.device)
    elif workspace.dtype != torch.uint8 or workspace.numel() < need:
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                           "the workspace must be a uint8 tensor of at least %d bytes", need)
    base = workspace.data_ptr()
    aligned = (base + 255) // 256 * 256
    named = [("q", q), ("k", k), (_tables.label(names, index), table)]
    if weights is not None:
        named.append(("weights", weights))
    buffer, addresses = kernel._packed(named)
    q_at, k_at, table_at = addresses[:3]
    weights_at = addresses[3] if weights is not None else None
    on_device = [t for t in (q, k, table, workspace, weights) if t is not None]
    kernel._on_device(on_device, lambda handle: check(
        kernel._lib.sattn_estimator_run_weighted(
            kernel._h(), q_at, k_at, weights_at, table_at, aligned,
            workspace.numel() - (aligned - base), ctypes.c_void_p(handle))), stream)
    del buffer  # alive until here: the call read the descriptors
    return table
