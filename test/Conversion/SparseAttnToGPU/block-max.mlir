// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu -split-input-file | FileCheck %s
// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu -split-input-file | FileCheck %s --check-prefix=SM90A
// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-cpu -split-input-file | FileCheck %s --check-prefix=CPU

// A block_max kernel (docs/KERNEL_ABI.md, "Block maxima") is the portable
// kernel over Range-only plans, also on sm_90a (the tile plan says
// "mma_sync"; no tensor maps). Its signature ends with row_max and
// block_max (f32) after the tables; it records no gather loops.
// CHECK-LABEL: gpu.func @sattn_gate(
// CHECK-SAME:    %{{.+}}: memref<i64>, %{{.+}}: memref<f32>, %{{.+}}: memref<f32>)
// CHECK-SAME:    sattn.params = [{{.*}}"num_query_tiles", "table_keep", "row_max", "block_max"]
// CHECK-SAME:    sattn.plan_gathers = false
// Per KV tile, the tile's row maxima go to row_max from one lane per quad.
// CHECK:         memref.store {{.*}} : memref<?xf32, strided<[1], offset: ?>>
// CHECK:         sattn.kv_loop = "full-range"
// CHECK-NOT:     sattn.kv_loop = "partial-gather"
// CHECK:         sattn.kv_loop = "partial-range"
// Epilogue: every warp past its tiles, the rows' LSE (base 2) in shared
// memory after the Q tile (64 rows of 72 bf16 = 9216 bytes), block_max's
// row zeroed, then one warp per plan tile: the maximum over the rows (lanes
// over rows) of exp2(row_max - LSE), then across the warp.
// CHECK:         gpu.barrier
// CHECK:         memref.view {{.*}}[%c9216{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64xf32, #gpu.address_space<workgroup>>
// CHECK:         gpu.barrier
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK:             arith.maximumf
// CHECK:           gpu.shuffle  xor {{.*}}, %c16_i32
// CHECK-LABEL: gpu.func @sattn_gate_plan_summarize(
// SM90A:       sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64{{.*}}kernel = "mma_sync"
// SM90A-LABEL: gpu.func @sattn_gate(
// SM90A-SAME:    sattn.plan_gathers = false
// SM90A-NOT:     nvvm.wgmma
// CPU-LABEL:   func.func @gate_cpu(
// CPU-SAME:      memref<?xi64>, %{{.+}}: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>, %{{.+}}: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>)
// CPU:           math.exp2
sattn.kernel @gate(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) return_lse block_max {
  mask.table @keep : i1 ["h", "q/64", "k/64"]
  %c = mask.causal
  %b = mask.block_table @keep block 64
  %m = mask.intersect %c, %b
  sattn.yield %m
}
