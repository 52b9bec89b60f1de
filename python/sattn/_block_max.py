"""Block maxima of a kernel compiled with ``block_max = true`` through
libsattn_runtime (docs/KERNEL_ABI.md, "Block maxima"):
`RuntimeKernel.has_block_max`, `validate_block_max`, `launch_block_max` and
`block_max_shapes` are these functions.

Such a kernel writes, next to O, the largest attention probability of every
(query tile, KV tile) of its plan: block_max (B, H, T, N) float32, 0 where
the plan visits no kept pair, with `row_max` (B, H, N, Lq) float32 as its
scratch. That is the target a learned block gate (SeerAttention's AttnGate)
is distilled against; `normalized` turns it into the per-query-tile
distribution such gates are trained to match. Why a module of its own:
sattn.runtime is the forward's binding and at its size limit; this adds the
block-max entry point with the same descriptors, plan arguments and device
handling (the RuntimeKernel methods it calls).
"""

import ctypes

from ._capi import check


def has_block_max(kernel):
    """Whether the kernel was compiled with block_max (its manifest's "block_max")."""
    return bool(kernel._lib.sattn_kernel_has_block_max(kernel._h()))


def block_max_shapes(kernel, batch, lq, lk):
    """((B, H, N, Lq), (B, H, T, N)): the shapes of row_max and block_max for
    a call of batch x lq queries x lk keys (N KV tiles, T query tiles)."""
    n = -(-int(lk) // kernel.block_n)
    t = -(-int(lq) // kernel.block_m)
    heads = kernel.heads
    return (int(batch), heads, n, int(lq)), (int(batch), heads, t, n)


def _c_args(kernel, q, k, v, o, lse, row_max, block_max, plan, tables):
    """(C arguments without the stream, objects to keep alive, the plan's
    buffer checks): the forward's arguments with row_max's and block_max's
    descriptors after lse."""
    args, keep, checks = kernel._arguments(q, k, v, o, lse, plan, tables)
    buffer, addresses = kernel._packed([("row_max", row_max), ("block_max", block_max)])
    return (args[:5] + tuple(addresses) + args[5:], keep + [buffer, row_max, block_max],
            checks)


def validate(kernel, q, k, v, o, lse, row_max, block_max, plan=None, tables=()):
    """Checks a block-max launch without running it (no GPU needed): the
    forward's checks, then row_max and block_max f32 in the shapes of
    `block_max_shapes`, contiguous."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, row_max, block_max, plan, tables)
    check(kernel._lib.sattn_validate_block_max(kernel._h(), *args))
    kernel._check_plan(args[:5] + args[7:], checks)
    del keep  # alive until here: args holds raw addresses into it


def launch(kernel, q, k, v, o, lse, row_max, block_max, plan=None, tables=(), stream=None):
    """Launches the kernel asynchronously on `stream` (None: PyTorch's
    current stream), writing o (and lse when it returns LSE) and block_max;
    row_max is its scratch. plan and tables as for launch."""
    args, keep, checks = _c_args(kernel, q, k, v, o, lse, row_max, block_max, plan, tables)
    kernel._check_plan(args[:5] + args[7:], checks)
    kernel._on_device(keep, lambda handle: check(
        kernel._lib.sattn_launch_block_max(kernel._h(), *args, ctypes.c_void_p(handle))),
        stream)


def normalized(block_max):
    """The block maxima of each query tile divided by their sum over the KV
    tiles (rows without any kept pair stay 0): the distribution a block
    gate's softmax output is trained to match."""
    total = block_max.sum(dim=-1, keepdim=True)
    return block_max / total.clamp_min(1e-30)
