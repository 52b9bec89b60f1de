// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu | FileCheck %s
// RUN: sparse-opt %s --sattn-plan-tiles="block-n=64" --convert-sattn-to-gpu | FileCheck %s --check-prefix=OVERRIDE

// Without tile overrides the mask picks the tile shape: 128x32 tiles with
// 32 rows per warp for head_dim 128 masks of bands and sinks whose 128-row
// plan visits about as many tiles as the 64-row one; 64x64 with 16 rows
// per warp for block-structured masks (power: 1.78x the tiles), runtime
// tables, tail queries, head_dim 64, and whenever the user sets any tile
// option.

// CHECK-LABEL: gpu.func @sattn_causal(
// CHECK-SAME:    sattn.block_m = 128 : i64, sattn.block_n = 32 : i64
// OVERRIDE-LABEL: gpu.func @sattn_causal(
// OVERRIDE-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.causal
  sattn.yield %m
}

// CHECK-LABEL: gpu.func @sattn_a_shape(
// CHECK-SAME:    sattn.block_m = 128 : i64, sattn.block_n = 32 : i64
sattn.kernel @a_shape(dtype = f16, head_dim = 128, heads = 2, kv_heads = 1, scale = 0.088) {
  %c = mask.causal
  %s = mask.sink 128
  %w = mask.window 2048
  %u = mask.union %s, %w
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// CHECK-LABEL: gpu.func @sattn_power(
// CHECK-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
sattn.kernel @power(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.power block 64 window 2 sink 0
  sattn.yield %m
}

// CHECK-LABEL: gpu.func @sattn_tri_shape(
// CHECK-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
sattn.kernel @tri_shape(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %c = mask.causal
  %s = mask.sink 4
  %w = mask.window 64
  %t = mask.tail_queries 16
  %u = mask.union %s, %w, %t
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// CHECK-LABEL: gpu.func @sattn_block_table(
// CHECK-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
sattn.kernel @block_table(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  mask.table @keep : i1 ["h", "q/128", "k/128"]
  %c = mask.causal
  %b = mask.block_table @keep block 128
  %m = mask.intersect %c, %b
  sattn.yield %m
}

// CHECK-LABEL: gpu.func @sattn_causal_d64(
// CHECK-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
sattn.kernel @causal_d64(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
