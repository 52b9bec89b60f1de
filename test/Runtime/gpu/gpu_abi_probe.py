"""libsattn_runtime on a real GPU, through the Python binding.

Compiles abi_probe.cu (a kernel with the parameter list of
docs/KERNEL_ABI.md that reports what it received) with nvcc into PTX and
cubin, writes manifests for it, and checks with PyTorch that a launch passes
every stride, length, pointer and the dynamic shared memory exactly, on
PyTorch's current stream (also inside CUDA graph capture), with
non-contiguous and broadcast inputs. Then checks the device-side failures
(compute capability, shared memory, missing entry, host pointers, CPU
tensors), the cubin -> PTX fallback, allocations from PyTorch's expandable
segments, and a launch from a thread with no current context (the runtime
retains the primary context itself).

Usage: python3 gpu_abi_probe.py --out DIR   (SATTN_RUNTIME_LIB names the library)
Prints "abi probe: ok" at the end; any mismatch raises.
"""
import argparse
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
import sattn.runtime as rt  # noqa: E402

B, H, KVH, LQ, LK, D, BM, BN = 3, 8, 4, 200, 300, 64, 64, 64
GROUP = H // KVH
SMEM = 102400  # > 48 KiB: the runtime must raise the limit
NQT = (LQ + BM - 1) // BM


def nvcc():
    path = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(path):
        raise SystemExit("nvcc not found")
    return path


def build(out, name, cubin_arch="sm_90", smem=SMEM, heads=H, kv_heads=KVH, **manifest):
    """Writes out/name.{ptx,cubin,json}."""
    os.makedirs(out, exist_ok=True)
    defs = ["-DGROUP=%d" % (heads // kv_heads), "-DHEAD_DIM=%d" % D, "-DBLOCK_M=%d" % BM,
            "-DSMEM_BYTES=%d" % smem]
    src = os.path.join(HERE, "abi_probe.cu")
    base = os.path.join(out, name)
    subprocess.check_call([nvcc(), "-ptx", "-arch=compute_80", *defs, src, "-o", base + ".ptx"])
    if cubin_arch:
        subprocess.check_call([nvcc(), "-cubin", "-arch=" + cubin_arch, *defs, src,
                               "-o", base + ".cubin"])
    doc = {"format": "sattn.kernel-manifest/1", "name": name, "entry": "sattn_abi_probe",
           "dtype": "bf16", "head_dim": D, "heads": heads, "kv_heads": kv_heads,
           "scale": D ** -0.5, "return_lse": True, "target": "sm_90",
           "min_compute_capability": 80, "block_m": BM, "block_n": BN, "warps": 4,
           "stages": 2, "threads": 128, "shared_bytes": smem,
           "tables": [{"name": "doc", "element": "i32", "dims": ["b", "k"]}],
           "mask_program": {}}
    doc.update(manifest)
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    return base + ".json"


def expect_error(label, cls, status, fn, needle=""):
    try:
        fn()
    except cls as e:
        assert getattr(e, "status", None) == status, (label, e.status, e)
        assert needle in str(e), (label, str(e))
        print("%s: %s %s" % (label, status, e))
        return
    raise AssertionError("%s: no %s" % (label, cls.__name__))


def inputs(torch):
    gen = torch.Generator().manual_seed(0)

    def ints(*shape, lo=-8, hi=8, dtype=torch.bfloat16):
        return torch.randint(lo, hi, shape, generator=gen).to(dtype).cuda()

    q = ints(B, LQ, H, D).permute(0, 2, 1, 3)  # (B, H, Lq, D) view of a (B, Lq, H, D) buffer
    assert not q.is_contiguous()
    k = ints(B, KVH, LK, D)
    v = ints(1, KVH, LK, D).expand(B, KVH, LK, D)  # broadcast over the batch (stride 0)
    doc = ints(B, LK, lo=0, hi=1000, dtype=torch.int64)
    segments = torch.zeros(5, 7, dtype=torch.int64, device="cuda")
    segments[0, 0] = 3
    offsets = torch.arange(NQT + 1, dtype=torch.int64, device="cuda").reshape(1, NQT + 1)
    class_index = ints(B, H, lo=0, hi=4, dtype=torch.int64)
    plan = rt.Plan(segments, offsets, class_index, NQT, BM, BN)
    return q, k, v, doc, plan


def expected(torch, q, k, v, doc, plan):
    kv = torch.arange(H, device="cuda") // GROUP
    kk = k[:, kv, LK - LQ:, :].float()
    vv = v[:, kv, LK - LQ:, :].float()
    o = (q.float() + kk + vv).to(torch.bfloat16)
    rows = torch.arange(LQ, device="cuda")
    lse = (doc[:, None, LK - LQ:] + 1000 * plan.class_index[:, :, None]
           + 100 * plan.offsets[0, rows // BM][None, None, :] + 10 * 3 + NQT).float()
    return o, lse


def check_torch(out):
    import torch
    manifest = build(os.path.join(out, "main"), "abi_probe")
    kernel = rt.load_kernel(manifest)
    print("loaded:", kernel)
    q, k, v, doc, plan = inputs(torch)
    o = torch.full((B, H, LQ, D), 99.0, dtype=torch.bfloat16, device="cuda")
    lse = torch.full((B, H, LQ), 99.0, dtype=torch.float32, device="cuda")
    want_o, want_lse = expected(torch, q, k, v, doc, plan)

    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        kernel.launch(q, k, v, o, lse, plan, {"doc": doc})
    stream.synchronize()
    assert torch.equal(o, want_o), (o - want_o).abs().max()
    assert torch.equal(lse, want_lse), (lse - want_lse).abs().max()
    print("launch on a side stream: o and lse exact")

    # CUDA graph capture only works if the launch goes to the capturing stream.
    o.fill_(0)
    lse.fill_(0)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        kernel.launch(q, k, v, o, lse, plan, [doc])
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(o, want_o) and torch.equal(lse, want_lse)
    print("launch captured in a CUDA graph and replayed: exact")

    # Host overhead of validate + launch from Python.
    torch.cuda.synchronize()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        kernel.launch(q, k, v, o, lse, plan, [doc])
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    print("python launch overhead: %.1f us per call (%d calls)" % ((t1 - t0) / n * 1e6, n))

    # Errors found by the binding and by the runtime's device checks.
    expect_error("cpu tensor", ValueError, "SATTN_ERROR_INVALID_ARGUMENT",
                 lambda: kernel.launch(q.cpu(), k, v, o, lse, plan, [doc]), "CUDA tensors")
    host = ctypes.create_string_buffer(1 << 20)
    addr = (ctypes.addressof(host) + 255) // 256 * 256
    host_q = rt.TensorDesc(addr, "bf16", (B, H, LQ, D))
    expect_error("host pointer", ValueError, "SATTN_ERROR_INVALID_ARGUMENT",
                 lambda: kernel.launch(host_q, k, v, o, lse, plan, [doc]), "host pointer")
    expect_error("shape", ValueError, "SATTN_ERROR_SHAPE",
                 lambda: kernel.launch(q[:, :, :, :32], k, v, o, lse, plan, [doc]), "head_dim")
    shifted = torch.empty(B * H * LQ * D + 1, dtype=torch.bfloat16, device="cuda")[1:]
    expect_error("misaligned", ValueError, "SATTN_ERROR_ALIGNMENT",
                 lambda: kernel.launch(shifted.view(B, H, LQ, D), k, v, o, lse, plan, [doc]),
                 "16-byte aligned")
    newer = build(os.path.join(out, "cc"), "abi_probe", min_compute_capability=100)
    expect_error("compute capability", rt.SattnRuntimeError, "SATTN_ERROR_COMPUTE_CAPABILITY",
                 lambda: rt.load_kernel(newer).launch(q, k, v, o, lse, plan, [doc]),
                 "needs at least 10.0")
    big = build(os.path.join(out, "smem"), "abi_probe", smem=240000)
    expect_error("shared memory", rt.SattnRuntimeError, "SATTN_ERROR_COMPUTE_CAPABILITY",
                 lambda: rt.load_kernel(big).launch(q, k, v, o, lse, plan, [doc]),
                 "bytes of shared memory per block")
    entry = build(os.path.join(out, "entry"), "abi_probe", entry="sattn_other")
    expect_error("missing entry", rt.SattnRuntimeError, "SATTN_ERROR_MODULE_LOAD",
                 lambda: rt.load_kernel(entry).launch(q, k, v, o, lse, plan, [doc]),
                 "has no kernel 'sattn_other'")

    # An sm_80 cubin cannot run on this device: the PTX beside it is JIT-ed.
    fallback = build(os.path.join(out, "fallback"), "abi_probe", cubin_arch="sm_80")
    o.fill_(0)
    rt.load_kernel(fallback).launch(q, k, v, o, lse, plan, [doc])
    torch.cuda.synchronize()
    assert torch.equal(o, want_o)
    print("sm_80 cubin refused, PTX fallback: exact")

    # Within 48 KiB no attribute is needed; the kernel checks its size.
    small = build(os.path.join(out, "small"), "abi_probe", smem=49152)
    lse.fill_(0)
    rt.load_kernel(small).launch(q, k, v, o, lse, plan, [doc])
    torch.cuda.synchronize()
    assert torch.equal(lse, want_lse)
    print("48 KiB shared memory kernel: exact")

    # A kernel object serves launches from several threads.
    import threading
    errors = []

    def worker():
        try:
            with torch.cuda.stream(torch.cuda.Stream()):
                for _ in range(50):
                    kernel.launch(q, k, v, o, lse, plan, [doc])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    torch.cuda.synchronize()
    assert not errors, errors
    assert torch.equal(o, want_o)
    print("4 threads x 50 launches: exact")


def check_raw(out):
    """No torch: device memory from the driver, and no current context on
    the launching thread (the runtime must retain the primary context)."""
    cuda = ctypes.CDLL("libcuda.so.1")

    def ok(result):
        if result != 0:
            raise RuntimeError("driver error %d" % result)

    ok(cuda.cuInit(0))
    dev, ctx = ctypes.c_int(), ctypes.c_void_p()
    ok(cuda.cuDeviceGet(ctypes.byref(dev), 0))
    ok(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))
    ok(cuda.cuCtxPushCurrent_v2(ctx))
    h, kvh, lq, lk = 2, 1, 100, 100
    nqt = (lq + BM - 1) // BM
    shapes = {"q": (1, h, lq, D), "k": (1, kvh, lk, D), "v": (1, kvh, lk, D), "o": (1, h, lq, D)}
    bf16 = {"q": 0x3F80, "k": 0x4000, "v": 0x4040, "o": 0}  # 1, 2, 3, 0
    ptrs = {}

    def alloc(nbytes, data):
        p = ctypes.c_uint64()
        ok(cuda.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(nbytes)))
        ok(cuda.cuMemcpyHtoD_v2(p, data, ctypes.c_size_t(nbytes)))
        return p.value

    for name, shape in shapes.items():
        n = shape[0] * shape[1] * shape[2] * shape[3]
        ptrs[name] = alloc(2 * n, struct.pack("<%dH" % n, *([bf16[name]] * n)))
    ptrs["lse"] = alloc(4 * h * lq, bytes(4 * h * lq))
    ptrs["doc"] = alloc(8 * lk, bytes(8 * lk))
    ptrs["segments"] = alloc(8 * 7, bytes(8 * 7))
    ptrs["offsets"] = alloc(8 * (nqt + 1), bytes(8 * (nqt + 1)))
    ptrs["class_index"] = alloc(8 * h, bytes(8 * h))
    ok(cuda.cuCtxPopCurrent_v2(ctypes.byref(ctypes.c_void_p())))
    current = ctypes.c_void_p()
    ok(cuda.cuCtxGetCurrent(ctypes.byref(current)))
    assert not current.value, "the thread should have no context"

    kernel = rt.load_kernel(build(os.path.join(out, "raw"), "abi_probe", heads=h, kv_heads=kvh))
    desc = {n: rt.TensorDesc(ptrs[n], "bf16", s) for n, s in shapes.items()}
    lse = rt.TensorDesc(ptrs["lse"], "f32", (1, h, lq))
    doc = rt.TensorDesc(ptrs["doc"], "i64", (1, lk))
    plan = rt.Plan(ptrs["segments"], ptrs["offsets"], ptrs["class_index"], nqt, BM, BN,
                   num_segments=1, num_classes=1)
    kernel.launch(desc["q"], desc["k"], desc["v"], desc["o"], lse, plan, [doc])
    ok(cuda.cuCtxGetCurrent(ctypes.byref(current)))
    assert current.value == ctx.value, "the runtime should have made the primary context current"
    ok(cuda.cuCtxSynchronize())
    n = h * lq * D
    host = ctypes.create_string_buffer(2 * n)
    ok(cuda.cuMemcpyDtoH_v2(host, ctypes.c_uint64(ptrs["o"]), ctypes.c_size_t(2 * n)))
    values = set(struct.unpack("<%dH" % n, host.raw))
    assert values == {0x40C0}, values  # 1 + 2 + 3 = 6
    host = ctypes.create_string_buffer(4 * h * lq)
    ok(cuda.cuMemcpyDtoH_v2(host, ctypes.c_uint64(ptrs["lse"]), ctypes.c_size_t(4 * h * lq)))
    assert set(struct.unpack("<%df" % (h * lq), host.raw)) == {float(nqt)}
    print("raw driver memory, no current context: primary context retained, exact")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", default="all", choices=["all", "torch", "raw"])
    args = parser.parse_args()
    if args.mode in ("all", "torch"):
        check_torch(args.out)
    if args.mode == "all":
        # Fresh processes: PyTorch's expandable segments (virtual memory
        # mappings) must pass the runtime's pointer check, and the raw path
        # must start without any context.
        sys.stdout.flush()
        env = dict(os.environ, PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
        subprocess.check_call([sys.executable, __file__, "--out", args.out + "/vmm",
                               "--mode", "torch"], env=env)
        print("expandable segments: ok")
        sys.stdout.flush()
        subprocess.check_call([sys.executable, __file__, "--out", args.out, "--mode", "raw"])
    if args.mode == "raw":
        check_raw(args.out)
    print("abi probe: ok")


if __name__ == "__main__":
    main()
