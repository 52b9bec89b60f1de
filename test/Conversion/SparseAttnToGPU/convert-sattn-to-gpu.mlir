// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=16" --convert-sattn-to-gpu -split-input-file | FileCheck %s
// RUN: sparse-opt %s --sattn-plan-tiles="block-n=32 warps=8 stages=3" --convert-sattn-to-gpu -split-input-file | FileCheck %s --check-prefix=TUNED

// The kernel follows docs/KERNEL_ABI.md: bare pointers as 0-d memrefs, i64
// strides and lengths, the plan buffers, and the launch configuration
// recorded on the function. GQA: query head h reads K/V head h / 4.

// CHECK:       module attributes {gpu.container_module}
// CHECK:       sattn.kernel @causal
// CHECK-LABEL: gpu.module @sattn_causal
// CHECK:       gpu.func @sattn_causal(%{{[a-z0-9]+}}: memref<bf16>, %{{[a-z0-9]+}}: memref<bf16>, %{{[a-z0-9]+}}: memref<bf16>, %{{[a-z0-9]+}}: memref<bf16>, %{{[a-z0-9]+}}: memref<f32>,
// CHECK-SAME:    %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64,
// CHECK-SAME:    %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: i64,
// CHECK-SAME:    %{{[a-z0-9]+}}: memref<i64>, %{{[a-z0-9]+}}: memref<i64>, %{{[a-z0-9]+}}: memref<i64>, %{{[a-z0-9]+}}: i64) kernel
// CHECK-SAME:    known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME:    nvvm.minctasm = 1 : i32
// CHECK-SAME:    sattn.block_m = 64 : i64, sattn.block_n = 64 : i64
// CHECK-SAME:    sattn.dynamic_shared_memory = 87552 : i64, sattn.kernel = "causal"
// CHECK-SAME:    sattn.params = ["q", "k", "v", "o", "lse", "q_sb", "q_sh", "q_ss", "k_sb", "k_sh", "k_ss", "v_sb", "v_sh", "v_ss", "o_sb", "o_sh", "o_ss", "lse_sb", "lse_sh", "lq", "lk", "segments", "offsets", "class_index", "num_query_tiles"]
// CHECK-SAME:    sattn.stages = 2 : i64, sattn.warps = 4 : i64
// CHECK:         %[[H:.*]] = gpu.block_id y
// CHECK:         arith.divui %[[H]], %c4 : index

// The query tile: 8 chunks of 16 bytes per thread, then the warp's A
// fragments for the 8 k16 steps of head_dim 128, kept in registers.
// CHECK-COUNT-8: nvgpu.device_async_copy
// CHECK:         nvvm.cp.async.commit.group
// CHECK-NEXT:    nvvm.cp.async.wait.group 0
// CHECK-NEXT:    gpu.barrier
// CHECK-COUNT-8: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false}

// The segment loop walks rows [offsets[slot], offsets[slot + 1]).
// CHECK:         memref.load %{{.*}} : memref<?xi64>
// CHECK:         memref.load %{{.*}} : memref<?xi64>
// CHECK:         scf.for

// Four KV loop variants. FULL ones carry no mask code (no k <= q);
// PARTIAL ones evaluate it. Each KV tile is 64 mma.sync for Q.K^T and 64
// for P.V, with K and V double-buffered (wait for all but the newest group).
// CHECK-NOT:      arith.cmpi sle
// CHECK:          nvvm.cp.async.wait.group 1
// CHECK-COUNT-128: nvvm.mma.sync
// CHECK-NOT:      nvvm.mma.sync
// CHECK-NOT:      arith.cmpi sle
// CHECK:          {sattn.kv_loop = "full-gather"}
// CHECK-NOT:      arith.cmpi sle
// CHECK:          {sattn.kv_loop = "full-range"}
// CHECK:          arith.cmpi sle
// CHECK:          {sattn.kv_loop = "partial-gather"}
// CHECK:          arith.cmpi sle
// CHECK:          {sattn.kv_loop = "partial-range"}

// Epilogue: 16 pairs of output columns per row, and the row's LSE.
// CHECK-COUNT-16: vector.store %{{.*}} {alignment = 4 : i64} : memref<?x128xbf16, strided<[?, 1], offset: ?>>, vector<2xbf16>
// CHECK:          memref.store %{{.*}} : memref<?xf32, strided<[1], offset: ?>>
// CHECK-COUNT-16: vector.store
// CHECK:          memref.store %{{.*}} : memref<?xf32, strided<[1], offset: ?>>
// CHECK:          gpu.return

// TUNED-LABEL: gpu.func @sattn_causal
// TUNED-SAME:    known_block_size = array<i32: 256, 1, 1>
// TUNED-SAME:    sattn.block_m = 128 : i64, sattn.block_n = 32 : i64
// TUNED-SAME:    sattn.stages = 3 : i64, sattn.warps = 8 : i64
// TUNED:         nvvm.cp.async.wait.group 2
// TUNED:         nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false}
// TUNED:         nvvm.mma.sync
// TUNED:         nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = true}
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.088388) return_lse {
  %m = mask.causal
  sattn.yield %m
}

// -----

// Tables follow the fixed parameters in declaration order. The element
// mask (and so every table read) runs only in the PARTIAL loops; head_dim
// 64 f16 keeps 4 Q fragments. Without return_lse nothing is stored to the
// LSE pointer.

// CHECK-LABEL: gpu.module @sattn_longformer
// CHECK:       gpu.func @sattn_longformer(%{{[a-z0-9]+}}: memref<f16>
// CHECK-SAME:    %{{[a-z0-9]+}}: i64, %{{[a-z0-9]+}}: memref<i64>, %{{[a-z0-9]+}}: memref<i64>) kernel
// CHECK-SAME:    sattn.dynamic_shared_memory = 46592 : i64
// CHECK-SAME:    "class_index", "num_query_tiles", "table_is_global", "table_extra"]
// CHECK-COUNT-4: nvgpu.ldmatrix %{{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK-NOT:   math.absi
// CHECK:       {sattn.kv_loop = "full-range"}
// CHECK:       scf.for
// CHECK:       math.absi
// CHECK:       memref.load %{{.*}} : memref<?xi64>
// CHECK:       {sattn.kv_loop = "partial-gather"}
// CHECK:       math.absi
// CHECK:       {sattn.kv_loop = "partial-range"}
// CHECK-COUNT-8: vector.store %{{.*}} : memref<?x64xf16, strided<[?, 1], offset: ?>>, vector<2xf16>
// CHECK-NOT:   memref.store
// CHECK:       gpu.return
sattn.kernel @longformer(dtype = f16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @is_global : i1 ["k"]
  mask.table @extra : i32 ["4"]
  %0 = mask.predicate(%b, %h, %q, %k) {
    %1 = arith.subi %q, %k : index
    %2 = math.absi %1 : index
    %c40 = arith.constant 40 : index
    %3 = arith.cmpi sle, %2, %c40 : index
    %4 = mask.lookup @is_global[%k] : i1
    %5 = arith.ori %3, %4 : i1
    mask.yield %5
  }
  sattn.yield %0
}
