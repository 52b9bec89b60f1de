"""The tensor maps libsattn_runtime encodes for sm_90a ("wgmma") kernels, on a
real Hopper GPU, through the Python binding.

Compiles tma_probe.cu (a kernel with the parameter list of an sm_90a kernel
that loads its Q, K and V tiles through the three tensor maps) with nvcc for
sm_90a, writes a "kernel": "wgmma" manifest for it, and checks with PyTorch
that the driver accepts the maps and that every box holds the rows, heads and
batches asked for: GQA with Q a strided view of a (B, Lq + 40, H, D) buffer,
K cut from longer rows, V with padded rows (rows past Lq and Lk exist in
memory and must read as zeros), two 64-column slices of D; then f16, one
query row and one K/V head whose strides (extents of 1) are not multiples of
16 bytes; then the broadcast V a tensor map refuses. Why: the compiler's
Hopper kernels read Q, K and V only through these maps.

Usage: python3 gpu_tma_probe.py --out DIR   (SATTN_RUNTIME_LIB names the library)
Prints "tma probe: ok" at the end; any mismatch raises.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
import sattn.runtime as rt  # noqa: E402

BM, BN = 64, 128


def build(out, name, dtype, head_dim, heads, kv_heads):
    """Writes out/name.{cubin,json}: the probe for one configuration."""
    os.makedirs(out, exist_ok=True)
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    base = os.path.join(out, name)
    subprocess.check_call([nvcc, "-cubin", "-arch=sm_90a", "-DHALF=%d" % (dtype == "f16"),
                           "-DHEAD_DIM=%d" % head_dim, "-DGROUP=%d" % (heads // kv_heads),
                           "-DBLOCK_M=%d" % BM, "-DBLOCK_N=%d" % BN,
                           os.path.join(HERE, "tma_probe.cu"), "-o", base + ".cubin"])
    params = ["q", "k", "v", "o", "lse", "q_sb", "q_sh", "q_ss", "k_sb", "k_sh", "k_ss",
              "v_sb", "v_sh", "v_ss", "o_sb", "o_sh", "o_ss", "lse_sb", "lse_sh", "lq", "lk",
              "segments", "offsets", "class_index", "num_query_tiles", "table_doc",
              "tma_q", "tma_k", "tma_v"]
    doc = {"format": "sattn.kernel-manifest/1", "name": name, "entry": "sattn_tma_probe",
           "kernel": "wgmma", "plan_gathers": False, "dtype": dtype, "head_dim": head_dim,
           "heads": heads, "kv_heads": kv_heads, "scale": head_dim ** -0.5,
           "return_lse": True, "target": "sm_90a", "min_compute_capability": 90,
           "block_m": BM, "block_n": BN, "warps": 4, "stages": 1, "threads": 128,
           "shared_bytes": 0, "tables": [{"name": "doc", "element": "i32", "dims": ["b", "k"]}],
           "params": params}
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    return base + ".json"


def run(torch, kernel, q, k, v, doc, heads, kv_heads):
    """Launches the probe; checks O exactly and that no box row past the end
    held data."""
    b, _, lq, d = q.shape
    lk = k.shape[2]
    nqt = (lq + BM - 1) // BM
    plan = rt.Plan(torch.zeros(1, 7, dtype=torch.int64, device="cuda"),
                   torch.zeros(1, nqt + 1, dtype=torch.int64, device="cuda"),
                   torch.zeros(b, heads, dtype=torch.int64, device="cuda"), nqt, BM, BN)
    o = torch.full((b, heads, lq, d), 99.0, dtype=q.dtype, device="cuda")
    lse = torch.full((b, heads, lq), 99.0, dtype=torch.float32, device="cuda")
    kernel.launch(q, k, v, o, lse, plan, [doc])
    torch.cuda.synchronize()
    kv = torch.arange(heads, device="cuda") // (heads // kv_heads)
    want = (q.float() + k[:, kv, lk - lq:, :].float() + v[:, kv, lk - lq:, :].float()
            + doc[:, None, lk - lq:, None].float()).to(q.dtype)
    assert torch.equal(o, want), (o.float() - want.float()).abs().max()
    assert torch.equal(lse, torch.zeros_like(lse)), "rows past the end read as non-zero: %s" % (
        lse.max().item())
    return o, lse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch
    gen = torch.Generator().manual_seed(0)

    def ints(*shape, lo=-8, hi=8, dtype=torch.bfloat16):
        return torch.randint(lo, hi, shape, generator=gen).to(dtype).cuda()

    # GQA, bf16, D = 128 (two box slices), strided layouts with data past
    # the ends of Q and K rows.
    B, H, KVH, LQ, LK, D = 2, 8, 2, 200, 300, 128
    kernel = rt.load_kernel(build(args.out, "tma_gqa", "bf16", D, H, KVH))
    q = ints(B, LQ + 40, H, D)[:, :LQ].permute(0, 2, 1, 3)
    k = ints(B, KVH, LK + 50, D)[:, :, :LK]
    v = ints(B, KVH, LK + 50, D + 64)[:, :, :LK, :D]
    doc = ints(B, LK, lo=0, hi=4, dtype=torch.int64)
    assert not q.is_contiguous() and not k.is_contiguous() and v.stride(2) == D + 64
    run(torch, kernel, q, k, v, doc, H, KVH)
    print("GQA bf16, strided Q/K/V, rows past the ends: exact, zeros past the ends")

    # f16, D = 64, one query row (decoding), one K/V head and batch of 1
    # whose strides are never stepped over (3, 7 and 0 elements).
    H1, LK1 = 8, 300
    kernel = rt.load_kernel(build(args.out, "tma_decode", "f16", 64, H1, 1))
    q = ints(H1 * 64 + 8, dtype=torch.float16).as_strided((1, H1, 1, 64), (H1 * 64, 64, 3, 1))
    k = ints(LK1 * 64, dtype=torch.float16).as_strided((1, 1, LK1, 64), (0, 7, 64, 1))
    v = ints(LK1 * 64, dtype=torch.float16).as_strided((1, 1, LK1, 64), (5, 3, 64, 1))
    doc = ints(1, LK1, lo=0, hi=4, dtype=torch.int64)
    run(torch, kernel, q, k, v, doc, H1, 1)
    print("f16 decode, extents of 1 with odd strides: exact")

    # A batch-broadcast V has no tensor map.
    kernel = rt.load_kernel(build(args.out, "tma_gqa", "bf16", D, H, KVH))
    q = ints(B, H, LQ, D)
    k = ints(B, KVH, LK, D)
    v = ints(1, KVH, LK, D).expand(B, KVH, LK, D)
    doc = ints(B, LK, lo=0, hi=4, dtype=torch.int64)
    try:
        run(torch, kernel, q, k, v, doc, H, KVH)
    except ValueError as e:
        assert getattr(e, "status", None) == "SATTN_ERROR_STRIDE", e
        assert "TMA cannot broadcast" in str(e), e
        print("broadcast v refused:", e)
    else:
        raise AssertionError("a broadcast V was launched")
    print("tma probe: ok")


if __name__ == "__main__":
    main()
