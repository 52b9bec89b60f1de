"""Drives python/sattn/runtime.py without torch and without a GPU.

Usage: check_runtime_binding.py MANIFEST validate|launch|plan|block_max

validate: the binding imports without torch, finds the library, reads the
kernel's facts, and turns the runtime's validation failures into ValueError
and TypeError carrying its message. launch: launches with raw descriptors
and prints the outcome (run with the fake driver, or with none). plan:
builds host plans with RuntimeKernel.build_plan from tables given as nested
lists and as NumPy arrays, prints them, and prints the errors bad inputs get.
block_max: a kernel compiled with block_max: its output shapes, validation
of its outputs, and a launch with them (run with the fake driver).
"""
import ctypes
import json
import sys

import sattn.runtime as rt

assert "torch" not in sys.modules, "importing sattn.runtime imported torch"

manifest, mode = sys.argv[1], sys.argv[2]
kernel = rt.load_kernel(manifest)
print("kernel:", kernel)
print("tables:", kernel.table_names, kernel.table_shape("blocks", 2, 130))

B, H, KVH, LQ, LK, D = 2, 4, 2, 100, 130, 64
q = rt.TensorDesc(0x10000, "bf16", (B, LQ, H, D))
q = rt.TensorDesc(q.data_ptr, "bf16", (B, H, LQ, D), (LQ * H * D, D, H * D, 1))  # transposed view
k = rt.TensorDesc(0x20000, "bf16", (B, KVH, LK, D))
v = rt.TensorDesc(0x30000, "bf16", (B, KVH, LK, D), (0, LK * D, D, 1))
o = rt.TensorDesc(0x40000, "bf16", (B, H, LQ, D))
lse = rt.TensorDesc(0x50000, "f32", (B, H, LQ))
plan = rt.Plan(rt.TensorDesc(0x60000, "i64", (12, 7)), rt.TensorDesc(0x70000, "i64", (1, 3)),
               rt.TensorDesc(0x80000, "i64", (B, H)), num_query_tiles=2, block_m=64, block_n=64)
tables = {"doc": rt.TensorDesc(0x90000, "i64", (B, LK)),
          "blocks": rt.TensorDesc(0xa0000, "i64", (H, 3, 3))}


def attempt(label, fn):
    try:
        fn()
        print(label, "-> ok")
    except Exception as e:  # noqa: BLE001 - printing is the point
        print(label, "->", type(e).__name__, getattr(e, "status", "-"), e)
    sys.stdout.flush()


if mode == "validate":
    attempt("valid", lambda: kernel.validate(q, k, v, o, lse, plan, tables))
    bad_q = rt.TensorDesc(0x10000, "bf16", (B, H, LQ, 32))
    attempt("head_dim", lambda: kernel.validate(bad_q, k, v, o, lse, plan, tables))
    attempt("dtype", lambda: kernel.validate(rt.TensorDesc(0x10000, "f16", (B, H, LQ, D)),
                                             k, v, o, lse, plan, tables))
    attempt("no lse", lambda: kernel.validate(q, k, v, o, None, plan, tables))
    attempt("misaligned", lambda: kernel.validate(rt.TensorDesc(0x10008, "bf16", (B, H, LQ, D)),
                                                  k, v, o, lse, plan, tables))
    attempt("table shape", lambda: kernel.validate(
        q, k, v, o, lse, plan, dict(tables, doc=rt.TensorDesc(0x90000, "i64", (B, LK + 1)))))
    attempt("table missing", lambda: kernel.validate(q, k, v, o, lse, plan, {"doc": tables["doc"]}))
    attempt("table unknown", lambda: kernel.validate(q, k, v, o, lse, plan, dict(tables, x=1)))
    attempt("plan tiles", lambda: kernel.validate(q, k, v, o, lse, rt.Plan(
        plan.segments, plan.offsets, plan.class_index, 3, 64, 64, num_classes=1), tables))
    attempt("plan length", lambda: kernel.validate(q, k, v, o, lse, rt.Plan(
        plan.segments, plan.offsets, rt.TensorDesc(0x80000, "i64", (B, H - 1)), 2, 64, 64),
        tables))
    attempt("plan dtype", lambda: kernel.validate(q, k, v, o, lse, rt.Plan(
        plan.segments, rt.TensorDesc(0x70000, "f32", (1, 3)), plan.class_index, 2, 64, 64),
        tables))
    attempt("rank 5", lambda: kernel.validate(rt.TensorDesc(0x10000, "bf16", (1, B, H, LQ, D)),
                                              k, v, o, lse, plan, tables))
    attempt("not a tensor", lambda: kernel.validate([1, 2], k, v, o, lse, plan, tables))
    with open(manifest) as f:
        doc = json.load(f)
    doc["kv_heads"] = 3
    attempt("manifest", lambda: rt.load_kernel_from_memory(json.dumps(doc), ".version 8.0\n"))
    attempt("manifest json", lambda: rt.load_kernel_from_memory('{"format": }', ".version 8.0\n"))
    attempt("missing file", lambda: rt.load_kernel(manifest + ".absent"))
elif mode == "plan":
    doc_ids = [[(j // 40) for j in range(LK)] for _ in range(B)]
    blocks = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]] for _ in range(H)]
    p = kernel.build_plan(B, LQ, LK, {"doc": doc_ids, "blocks": blocks})
    print("plan:", p)
    print("counts:", p.num_segments, p.num_classes, p.num_query_tiles, p.block_m, p.block_n,
          p.visited_tiles, p.dense_tiles)
    print("lengths:", len(p.segments()), len(p.offsets()), len(p.class_index()))
    print("offsets:", list(p.offsets()))
    print("class_index:", list(p.class_index()))
    print("first segment:", list(p.segments()[:7]))
    import numpy
    same = kernel.build_plan(B, LQ, LK, [numpy.array(doc_ids, dtype=numpy.int32),
                                         numpy.array(blocks)])
    print("numpy tables give the same plan:",
          (same.segments(), same.offsets(), same.class_index()) ==
          (p.segments(), p.offsets(), p.class_index()))
    attempt("batch 0", lambda: kernel.build_plan(0, LQ, LK, [doc_ids, blocks]))
    attempt("lq > lk", lambda: kernel.build_plan(B, LK + 1, LK, [doc_ids, blocks]))
    attempt("table shape", lambda: kernel.build_plan(B, LQ, LK, [doc_ids[:1], blocks]))
    attempt("tables missing", lambda: kernel.build_plan(B, LQ, LK))
    attempt("ragged", lambda: kernel.build_plan(B, LQ, LK, [[[0], [0, 1]], blocks]))
    attempt("not a table", lambda: kernel.build_plan(B, LQ, LK, ["doc", blocks]))
    attempt("too big for i32", lambda: kernel.build_plan(
        B, LQ, LK, [[[1 << 40] * LK] * B, blocks]))
    with open(manifest) as f:
        doc = json.load(f)
    del doc["mask_program"]
    no_program = rt.load_kernel_from_memory(json.dumps(doc), ".version 8.0\n")
    attempt("no mask program", lambda: no_program.build_plan(B, LQ, LK, [doc_ids, blocks]))
    print("torch imported:", "torch" in sys.modules)
elif mode == "block_max":
    from sattn import _block_max
    print("has block max:", kernel.has_block_max)
    rows, blocks = _block_max.block_max_shapes(kernel, B, LQ, LK)
    print("shapes:", rows, blocks)
    row_max = rt.TensorDesc(0x100000, "f32", rows)
    block_max = rt.TensorDesc(0x180000, "f32", blocks)
    attempt("validate", lambda: kernel.validate_block_max(q, k, v, o, lse, row_max, block_max,
                                                          plan, tables))
    attempt("plain validate", lambda: kernel.validate(q, k, v, o, lse, plan, tables))
    attempt("f16 block_max", lambda: kernel.validate_block_max(
        q, k, v, o, lse, row_max, rt.TensorDesc(0x180000, "f16", blocks), plan, tables))
    libc = ctypes.CDLL(None)
    attempt("launch", lambda: kernel.launch_block_max(q, k, v, o, lse, row_max, block_max,
                                                      plan, tables, stream=0x1234))
    libc.fflush(None)
else:
    libc = ctypes.CDLL(None)
    attempt("launch", lambda: kernel.launch(q, k, v, o, lse, plan, tables, stream=0x1234))
    libc.fflush(None)  # the fake driver prints through C's stdout
    attempt("launch list", lambda: kernel.launch(q, k, v, o, lse, plan,
                                                 [tables["doc"], tables["blocks"]]))
    libc.fflush(None)
kernel.close()
print("closed:", kernel)
