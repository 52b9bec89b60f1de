// RUN: sparse-opt %s --sattn-lower-estimators --sattn-plan-tiles --convert-sattn-to-gpu -split-input-file | FileCheck %s
// RUN: sparse-opt %s --sattn-lower-estimators --sattn-plan-tiles --convert-sattn-to-gpu=exact-estimators=1 -split-input-file | FileCheck %s --check-prefix=EXACT

// Tile stages of the compiled estimators (docs/ESTIMATORS.md): a block of
// 256 threads per tile, its buffers in static shared memory (workgroup
// attributions), its phases separated by barriers, its tiles over a
// block-stride loop. vertical_slash at head_dim 128: row_chunks holds 8 last
// rows (8 * 128 f64, unused on tensor cores), their chunk of 256 logits
// (8 * 256) and 8 maxima, and a window of 64 keys in bf16 with rows padded
// to 130 (136 on tensor cores: abi::kEstimatorTensorKeyPad), followed on
// tensor cores by the 8 rows in bf16; lines holds 16 rows (16 * 128), 16 x
// 64 probabilities and 64 running sums, and the same window (and its 16
// rows). The other stages are item loops without shared
// memory. By default the logits come from mma.sync (f32 sums, the dot
// products then pass through the f64 row area to the stage's own phase);
// with exact-estimators they are f64 multiply-adds in order.

// CHECK-LABEL: gpu.module @sattn_vs
// CHECK:       gpu.func @sattn_vs_estimate_row_chunks(
// CHECK-SAME:    workgroup(%{{.*}} : memref<3080xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<9792xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         gpu.block_id x
// CHECK:         gpu.grid_dim x
// CHECK:         gpu.thread_id x
// CHECK:         gpu.barrier
// CHECK:         nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>{{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK:         arith.extf {{.*}} : f32 to f64
// CHECK:         gpu.barrier
// CHECK:       gpu.func @sattn_vs_estimate_row_stats(
// CHECK-NOT:     workgroup
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.func @sattn_vs_estimate_lines(
// CHECK-SAME:    workgroup(%{{.*}} : memref<3136xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<10880xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         gpu.barrier
// CHECK:         nvvm.mma.sync
// CHECK:       gpu.func @sattn_vs_estimate_radix_count(
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.func @sattn_vs_estimate_select(
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.return

// EXACT-LABEL: gpu.module @sattn_vs
// EXACT:       gpu.func @sattn_vs_estimate_row_chunks(
// EXACT-SAME:    workgroup(%{{.*}} : memref<3080xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8320xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// EXACT-NOT:     nvvm.mma.sync
// EXACT:         gpu.barrier
// The logits: f64 multiply-adds that may fuse (each product is exact).
// EXACT:         arith.mulf {{.*}} fastmath<contract> : f64
// EXACT:         arith.addf {{.*}} fastmath<contract> : f64
// EXACT:         gpu.barrier
// EXACT:       gpu.func @sattn_vs_estimate_lines(
// EXACT-SAME:    workgroup(%{{.*}} : memref<3136xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8320xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// EXACT-NOT:     nvvm.mma.sync
// EXACT:       gpu.func @sattn_vs_estimate_radix_count(

sattn.kernel @vs(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.vertical_slash vertical 30 slash 20 last_q 64 forced(4, 8) block 64
  sattn.yield %m
}

// -----

// nsa's stats and importance are tile stages (abi::nsaTile): 16 compressed
// keys as rows against a window of query rows. On tensor cores: 64 query
// rows in bf16 (rows padded to 136) followed by the 16 rows as hi and lo
// rows of bf16 (2 * 16 * 136), no f64 rows; a logit per (row, query), in
// rows of 65 slots (paddedDotRow), and each query's maximum and sum; importance adds a slot per (15
// selection blocks, query). Exact builds: 16 f64 rows (16 * 128), a window
// of 32 queries (rows padded to 130). compress and select stay item loops. Exact
// builds multiply the f64 compressed keys without fusing (their products
// round, as the reference's multiply then add).

// CHECK-LABEL: gpu.module @sattn_nsa
// CHECK:       gpu.func @sattn_nsa_estimate_compress(
// CHECK-NOT:     workgroup
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.func @sattn_nsa_estimate_stats(
// CHECK-SAME:    workgroup(%{{.*}} : memref<1168xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<13056xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         gpu.barrier
// CHECK:         nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK:       gpu.func @sattn_nsa_estimate_importance(
// CHECK-SAME:    workgroup(%{{.*}} : memref<2128xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<13056xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         nvvm.mma.sync
// CHECK:       gpu.func @sattn_nsa_estimate_select(
// CHECK-NOT:     workgroup
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.return

// EXACT-LABEL: gpu.module @sattn_nsa
// EXACT:       gpu.func @sattn_nsa_estimate_stats(
// EXACT-SAME:    workgroup(%{{.*}} : memref<2640xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4160xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// EXACT-NOT:     nvvm.mma.sync
// EXACT-NOT:     fastmath<contract>
// EXACT:       gpu.func @sattn_nsa_estimate_importance(
// EXACT-SAME:    workgroup(%{{.*}} : memref<3120xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<4160xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// EXACT-NOT:     nvvm.mma.sync
// EXACT-NOT:     fastmath<contract>
// EXACT:       gpu.func @sattn_nsa_estimate_select(

sattn.kernel @nsa(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.nsa compress (32, 16) select (64, 16) window 0 local 2
  sattn.yield %m
}

// -----

// block_topk by count: select is a tile stage (a query block row per
// block: the prefix, the rank and the ties in f64 shared memory; two
// histograms of 256 i32 bins and 16 group sums, counted with shared-memory
// integer atomic adds); no key window.

// CHECK-LABEL: gpu.module @sattn_topk
// CHECK:       gpu.func @sattn_topk_estimate_pool(
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.func @sattn_topk_estimate_select(
// CHECK-SAME:    workgroup(%{{.*}} : memref<3xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<528xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         memref.atomic_rmw addi {{.*}} : (i32, memref<528xi32, #gpu.address_space<workgroup>>) -> i32
// CHECK:         gpu.barrier
sattn.kernel @topk(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk mean_pool block 64 {top_k = 4 : i64}
  sattn.yield %m
}

// -----

// By mass (tau) the selection stays one thread per row: its sums depend on
// their order. On tensor cores the antidiagonal scorer's S terms (here 4)
// accumulate in each warp's mma registers across the terms' loads: a loop
// over the terms carrying the four f32 sums, a barrier before the next
// term's loads; exact builds add each term's f64 dot products in order.
// The tensor pool's tiles are 32 group rows by 64 key groups (a strip of
// two 16 x 8 blocks a warp, sharing the rows' fragments), without f64
// rows: 32 x 64 sums and 64 statistics in f64, 64 keys and 32 rows of 72
// bf16.
// score's tiles hold a block's 4 group rows (block 16 / stride 4), fewer
// than 8: f64 sums.

// CHECK-LABEL: gpu.module @sattn_xattn
// CHECK:       gpu.func @sattn_xattn_estimate_pool(
// CHECK-SAME:    workgroup(%{{.*}} : memref<2112xf64, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<6912xbf16, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK:         scf.for %{{.*}} = %{{.*}} to %c4{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK:           nvvm.mma.sync
// CHECK:           nvvm.mma.sync
// CHECK:           gpu.barrier
// CHECK-NEXT:      scf.yield %{{.*}} : f32, f32, f32, f32, f32, f32, f32, f32
// CHECK:       gpu.func @sattn_xattn_estimate_score(
// CHECK-NOT:       nvvm.mma.sync
// CHECK:       gpu.func @sattn_xattn_estimate_select(
// EXACT-LABEL: gpu.module @sattn_xattn
// EXACT:       gpu.func @sattn_xattn_estimate_pool(
// EXACT-NOT:     nvvm.mma.sync
// EXACT:       gpu.func @sattn_xattn_estimate_select(
// CHECK-NOT:     workgroup
// CHECK-NOT:     gpu.barrier
// CHECK:       gpu.return
sattn.kernel @xattn(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 16 {stride = 4 : i64, tau = 0.7 : f64}
  sattn.yield %m
}

// -----

// The attention gpu.func's estimator record says what its stages do,
// whatever the kernel's record said: "tensor" by default, nothing (exact)
// with exact-estimators.

// CHECK-LABEL: gpu.module @sattn_rec
// CHECK:       gpu.func @sattn_rec(
// CHECK-SAME:    sattn.estimator = {block = 16 : i64, kind = "block_topk", logits = "tensor", scorer = "antidiagonal"
// EXACT-LABEL: gpu.module @sattn_rec
// EXACT:       gpu.func @sattn_rec(
// EXACT-SAME:    sattn.estimator = {block = 16 : i64, kind = "block_topk", scorer = "antidiagonal"
sattn.kernel @rec(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) attributes {
    sattn.estimator = {block = 16 : i64, kind = "block_topk", logits = "tensor", scorer = "antidiagonal",
                       stride = 4 : i64, table = "keep", tau = 6.0e-01 : f64, top_k = 0 : i64}} {
  mask.table @keep : i1 ["b", "h", "q/16", "k/16"]
  %0 = mask.causal
  sattn.yield %0
}
