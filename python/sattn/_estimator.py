"""The compiled estimator of a kernel with a dynamic mask (docs/ESTIMATORS.md)
through libsattn_runtime: `RuntimeKernel.estimate` and
`RuntimeKernel.estimator_table` are these functions.

The estimator's stage kernels read Q and K and write the table the kernel's
mask reads (for block_topk: 1 where a query block keeps a key block; for
vertical_slash: 1 at kept key columns and kept diagonal offsets; for stripe:
1 at the keys kept for a unit of queries); they
run asynchronously on the given stream, so that estimate, device plan and
attention follow each other on one stream with no host round trip.
"""

import ctypes

from . import tables as _tables
from ._capi import check, tagged_error


def table_index(kernel):
    """Index of the estimated table among the kernel's tables, or None."""
    index = ctypes.c_int32(-1)
    status = kernel._lib.sattn_estimator_table(kernel._h(), ctypes.byref(index))
    return index.value if status == 0 else None


def estimate(kernel, q, k, table=None, workspace=None, stream=None):
    """Runs `kernel`'s estimator on CUDA tensors q (B, H, Lq, D) and k
    (B, KV_H, Lk, D) on `stream` (None: PyTorch's current stream) and
    returns the table it writes, int64: (B, H, ceil(Lk / block),
    ceil(Lk / block)) for block_topk, (B, H, 2, Lk) for vertical_slash
    (row 0: kept key columns, row 1: kept diagonal offsets q - k),
    (B, H, ceil(Lk / (block * step)), Lk) for stripe (row u: the keys kept
    for the queries of unit u). `table` and `workspace` (uint8, at least
    sattn_estimator_workspace + 256 bytes) are written into when given,
    allocated otherwise."""
    import torch
    index = table_index(kernel)
    if index is None:
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                           "kernel %r has no compiled estimator", kernel.name)
    names = kernel.table_names
    batch, lk = int(q.shape[0]), int(k.shape[2])
    if table is None:
        shape = kernel.table_shape(names[index], batch, lk)
        table = torch.empty(*shape, dtype=torch.int64, device=q.device)
    size = ctypes.c_size_t()
    check(kernel._lib.sattn_estimator_workspace(kernel._h(), batch, lk, ctypes.byref(size)))
    need = size.value + 256
    if workspace is None:
        workspace = torch.empty(need, dtype=torch.uint8, device=q.device)
    elif workspace.dtype != torch.uint8 or workspace.numel() < need:
        raise tagged_error(ValueError, "INVALID_ARGUMENT",
                           "the workspace must be a uint8 tensor of at least %d bytes", need)
    base = workspace.data_ptr()
    aligned = (base + 255) // 256 * 256
    buffer, (q_at, k_at, table_at) = kernel._packed(
        [("q", q), ("k", k), (_tables.label(names, index), table)])
    kernel._on_device([q, k, table, workspace], lambda handle: check(
        kernel._lib.sattn_estimator_run(
            kernel._h(), q_at, k_at, table_at, aligned,
            workspace.numel() - (aligned - base), ctypes.c_void_p(handle))), stream)
    del buffer  # alive until here: the call read the descriptors
    return table
