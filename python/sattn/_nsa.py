"""Native Sparse Attention's whole forward from the kernels an `nsa(...)`
kernel compiles to (docs/ESTIMATORS.md, "nsa").

Why here: NSA's output mixes three attentions, each its own kernel. The nsa
kernel is the selected branch (its estimator selects the blocks on the
device); sattn-lower-estimators made two static kernels next to it, named in
its manifest: the compressed branch (causal attention over compressed keys
and values placed at the positions where their blocks end, c * d + l - 1,
keeping only those positions) and the sliding branch (`window w`, absent
when w is 0). This module compresses K and V (block means, the default
compression, unless the caller gives its own compressed keys and values),
runs the three kernels and mixes them by the caller's gates.
"""
import os


def compressed_keys_shape(estimator, batch, kv_heads, lk, head_dim):
    """(B, KV, C, D): the compressed keys an nsa kernel's estimator (its
    manifest record `estimator`) takes in place of the blocks' means (a
    caller's compression), C the compressed blocks of lk keys; None for
    other estimators."""
    if (estimator or {}).get("kind") != "nsa":
        return None
    block, stride = int(estimator["compress_block"]), int(estimator["compress_stride"])
    blocks = 0 if lk < block else (lk - block) // stride + 1
    return (int(batch), int(kv_heads), blocks, int(head_dim))


def placed(compressed, lk, compress_block, compress_stride, dtype):
    """Compressed keys or values [B, KV, C, D] (a caller's compression) as the
    compressed branch kernel reads them: [B, KV, lk, D] in `dtype`, block c
    at position c * d + l - 1, zero elsewhere."""
    import torch
    b, kv, blocks, d = compressed.shape
    out = torch.zeros(b, kv, lk, d, dtype=dtype, device=compressed.device)
    if blocks:
        out[:, :, compress_block - 1::compress_stride][:, :, :blocks] = compressed.to(dtype)
    return out


def compressed_inputs(x, compress_block, compress_stride):
    """K or V [B, KV, Lk, D] -> the same shape holding, at position c * d +
    l - 1, the mean of keys [c * d, c * d + l) (computed in float32, stored
    in x's dtype) and zero elsewhere: the compressed branch kernel's K or V."""
    import torch
    out = torch.zeros_like(x)
    lk = x.shape[2]
    if lk >= compress_block:
        means = x.float().unfold(2, compress_block, compress_stride).mean(dim=-1)
        out[:, :, compress_block - 1::compress_stride] = means.to(x.dtype)
    return out


def _branch(kernel, name, load):
    path = os.path.join(os.path.dirname(kernel.manifest_path), name + ".json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            "kernel %r's %s branch kernel %r is not next to its manifest (%s): compile the "
            "spec with sattn-compile -o DIR, which writes all three" % (kernel.name, name, name,
                                                                       path))
    return load(path)


def _output(result):
    return result[0] if isinstance(result, tuple) else result


def forward(kernel, load, q, k, v, gates, tables=None, compressed=None):
    """NSA's output for q [B, H, Lq, D], k and v [B, KV, Lk, D] (CUDA
    tensors of the kernel's dtype) and gates [B, H, Lq, 3] (compressed,
    selected, sliding): g_c * o_compressed + g_s * o_selected + g_w *
    o_sliding in float32, returned in q's dtype. `tables` as for
    kernel(q, k, v, tables) (the estimated selection is computed when not
    given). `compressed`: a caller's compression, the pair (compressed keys,
    compressed values), each [B, KV, C, D] with C = floor((Lk - l) / d) + 1
    blocks (NSA's learned compression); None: the blocks' means. The
    selection then ranks blocks by the probabilities of those keys (the
    estimator reads them in float32), and the compressed branch attends to
    them (in the kernel's dtype). `load` loads a kernel from a manifest
    path."""
    import torch
    est = kernel.manifest.get("estimator") or {}
    if est.get("kind") != "nsa":
        raise RuntimeError("kernel %r is not an nsa kernel (its mask is not nsa(...))"
                           % kernel.name)
    expected = tuple(q.shape[:3]) + (3,)
    if gates.dim() != 4 or tuple(gates.shape) != expected:
        raise ValueError("gates must be [B, H, Lq, 3] = %s (compressed, selected, sliding); "
                         "got shape %s" % (expected, tuple(gates.shape)))
    g = gates.to(device=q.device, dtype=torch.float32)
    block, stride = est["compress_block"], est["compress_stride"]
    if compressed is None:
        selected = _output(kernel(q, k, v, tables))
        ck = compressed_inputs(k, block, stride)
        cv = compressed_inputs(v, block, stride)
    else:
        if not isinstance(compressed, (tuple, list)) or len(compressed) != 2:
            raise ValueError("compressed must be the pair (compressed keys, compressed values), "
                             "each [B, KV, C, D]")
        keys, values = compressed
        want = compressed_keys_shape(est, q.shape[0], k.shape[1], k.shape[2], k.shape[3])
        for what, t in (("keys", keys), ("values", values)):
            if tuple(t.shape) != want:
                raise ValueError("kernel %r: compressed %s must be [B, KV, C, D] = %s (C: the "
                                 "compressed blocks of %d keys, %d every %d), got %s"
                                 % (kernel.name, what, want, k.shape[2], block, stride,
                                    tuple(t.shape)))
        selected = _output(kernel(q, k, v, tables, weights=keys))
        ck = placed(keys, k.shape[2], block, stride, k.dtype)
        cv = placed(values, k.shape[2], block, stride, v.dtype)
    compressed_kernel = _branch(kernel, est["compressed_kernel"], load)
    out = g[..., 0:1] * _output(compressed_kernel(q, ck, cv)).float()
    out += g[..., 1:2] * selected.float()
    if est.get("sliding_kernel"):
        sliding = _output(_branch(kernel, est["sliding_kernel"], load)(q, k, v))
        out += g[..., 2:3] * sliding.float()
    return out.to(q.dtype)
