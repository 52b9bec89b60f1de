// RUN: sparse-opt %s | sparse-opt | FileCheck %s
// RUN: sparse-opt %s --mlir-print-op-generic | sparse-opt | FileCheck %s
// RUN: sparse-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Round trip of sattn.kernel in every optional form (return_lse, extra
// attributes, dtypes, head dims, MHA / GQA / MQA head layouts) and of
// sattn.yield.

// CHECK-LABEL: sattn.kernel @mha_bf16(dtype = bf16, head_dim = 128, heads = 32, kv_heads = 32, scale = 0.088387999999999994) {
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    sattn.yield %[[C]]
// CHECK-NEXT:  }
// GENERIC-LABEL: "sattn.kernel"() <{dtype = bf16, head_dim = 128 : i64, heads = 32 : i64, kv_heads = 32 : i64, scale = 0.088387999999999994 : f64, sym_name = "mha_bf16"}> ({
// GENERIC-NEXT:    %[[C:.+]] = "mask.causal"() : () -> !mask.mask
// GENERIC-NEXT:    "sattn.yield"(%[[C]]) : (!mask.mask) -> ()
// GENERIC-NEXT:  }) : () -> ()
sattn.kernel @mha_bf16(dtype = bf16, head_dim = 128, heads = 32, kv_heads = 32, scale = 0.088388) {
  %c = mask.causal
  sattn.yield %c
}

// CHECK-LABEL: sattn.kernel @gqa_lse(dtype = f16, head_dim = 64, heads = 32, kv_heads = 8, scale = 1.250000e-01) return_lse {
// CHECK-NEXT:    %[[W:.+]] = mask.window 512
// CHECK-NEXT:    sattn.yield %[[W]]
// GENERIC-LABEL: "sattn.kernel"() <{dtype = f16, head_dim = 64 : i64, heads = 32 : i64, kv_heads = 8 : i64, return_lse, scale = 1.250000e-01 : f64, sym_name = "gqa_lse"}>
sattn.kernel @gqa_lse(dtype = f16, head_dim = 64, heads = 32, kv_heads = 8, scale = 0.125) return_lse {
  %w = mask.window 512
  sattn.yield %w
}

// Extra attributes print after the `attributes` keyword, after return_lse.
// CHECK-LABEL: sattn.kernel @mqa_attrs(dtype = bf16, head_dim = 256, heads = 8, kv_heads = 1, scale = 1.000000e+00) return_lse attributes {origin = "spec.sattn", version = 2 : i64} {
// CHECK-NEXT:    %[[F:.+]] = mask.full
// CHECK-NEXT:    sattn.yield %[[F]]
// GENERIC-LABEL: "sattn.kernel"() <{dtype = bf16, head_dim = 256 : i64, heads = 8 : i64, kv_heads = 1 : i64, return_lse, scale = 1.000000e+00 : f64, sym_name = "mqa_attrs"}> ({
// GENERIC:       }) {origin = "spec.sattn", version = 2 : i64} : () -> ()
sattn.kernel @mqa_attrs(dtype = bf16, head_dim = 256, heads = 8, kv_heads = 1, scale = 1.0) return_lse attributes {origin = "spec.sattn", version = 2} {
  %f = mask.full
  sattn.yield %f
}

// CHECK-LABEL: sattn.kernel @no_lse_attrs(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 2.500000e-01) attributes {tag} {
sattn.kernel @no_lse_attrs(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.25) attributes {tag} {
  %c = mask.causal
  sattn.yield %c
}

// A tiny and a large positive scale are both valid.
// CHECK-LABEL: sattn.kernel @extreme_scales_small(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 1.000000e-30)
sattn.kernel @extreme_scales_small(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 1.0e-30) {
  %c = mask.causal
  sattn.yield %c
}
// CHECK-LABEL: sattn.kernel @extreme_scales_large(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 1.000000e+30)
sattn.kernel @extreme_scales_large(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 1.0e30) {
  %c = mask.causal
  sattn.yield %c
}

// The kernel is a symbol table: two kernels may declare tables of the same
// name, and each mask resolves to its own kernel's table.
// CHECK-LABEL: sattn.kernel @tables_a
// CHECK-NEXT:    mask.table @ids : i32 ["b", "k"]
// CHECK-NEXT:    %[[D:.+]] = mask.document @ids
// CHECK-NEXT:    sattn.yield %[[D]]
sattn.kernel @tables_a(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @ids : i32 ["b", "k"]
  %d = mask.document @ids
  sattn.yield %d
}
// CHECK-LABEL: sattn.kernel @tables_b
// CHECK-NEXT:    mask.table @ids : i1 ["h", "q/128", "k/128"]
// CHECK-NEXT:    %[[B:.+]] = mask.block_table @ids block 128
// CHECK-NEXT:    sattn.yield %[[B]]
sattn.kernel @tables_b(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @ids : i1 ["h", "q/128", "k/128"]
  %b = mask.block_table @ids block 128
  sattn.yield %b
}

// A kernel may yield any mask of its body, including one that is not the last
// op, and keep unused masks (only normalisation removes them).
// CHECK-LABEL: sattn.kernel @yield_early_def
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[C]]
sattn.kernel @yield_early_def(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  sattn.yield %c
}

// Per-head masks and the S2 pattern are checked against the kernel's head
// counts; these are the boundary cases that are valid.
// CHECK-LABEL: sattn.kernel @head_bounds
// CHECK:         mask.per_head %{{.+}}, %{{.+}} assign [0, 1, 1, 0, 0, 1, 1, 0]
// CHECK:         mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 8{{$}}
// CHECK:         mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 2 per_kv_group{{$}}
sattn.kernel @head_bounds(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 128
  %p = mask.per_head %c, %w assign [0, 1, 1, 0, 0, 1, 1, 0]
  %s = mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 8
  %g = mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 2 per_kv_group
  %u = mask.union %p, %s, %g
  sattn.yield %u
}
