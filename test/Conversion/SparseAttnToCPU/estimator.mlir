// RUN: sparse-opt %s --sattn-lower-estimators --convert-sattn-to-cpu | FileCheck %s
// RUN: sparse-opt %s --sattn-lower-estimators --convert-sattn-to-cpu=estimator-launches=3 | FileCheck %s --check-prefix=SCORES
// RUN: sparse-opt %s --sattn-lower-estimators --convert-sattn-to-cpu=tensor-estimators=1 | FileCheck %s --check-prefix=TENSOR

// @NAME_estimate_cpu runs the estimator's launches in order. The tile
// stages (row_chunks, lines) get their tile buffers once per stage (f64,
// and the keys as f32: the CPU's inputs), their phases as loops; the radix
// selection then counts with atomic adds into the scratch. Stopped after
// three launches (tests read the scores), the selection is not built.

// CHECK-LABEL: func.func @vs_estimate_cpu(
// CHECK:         memref.alloc() : memref<3080xf64>
// CHECK:         memref.alloc() : memref<8320xf32>
// CHECK:         memref.dealloc
// CHECK:         memref.alloc() : memref<3136xf64>
// CHECK:         memref.alloc() : memref<8320xf32>
// CHECK:         memref.atomic_rmw addf
// CHECK:         return

// The tensor-core form (what GPU builds compute by default): the key
// buffers have room for the tile's query rows after the keys (8 and 16 rows
// of 136: tensor tiles pad rows by 8), and the logits are f32 sums of products, widened to f64 for the
// stage.
// TENSOR-LABEL: func.func @vs_estimate_cpu(
// TENSOR:         memref.alloc() : memref<3080xf64>
// TENSOR:         memref.alloc() : memref<9792xf32>
// TENSOR:         arith.mulf {{.*}} : f32
// TENSOR:         arith.addf {{.*}} : f32
// TENSOR:         arith.extf {{.*}} : f32 to f64
// TENSOR:         memref.alloc() : memref<3136xf64>
// TENSOR:         memref.alloc() : memref<10880xf32>

// SCORES-LABEL: func.func @vs_estimate_cpu(
// SCORES:         memref.alloc() : memref<3136xf64>
// SCORES-NOT:     memref.atomic_rmw
// SCORES:         return
sattn.kernel @vs(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.vertical_slash vertical 30 slash 20 last_q 64 forced(4, 8) block 64
  sattn.yield %m
}

// The stripe's compare stage scores pooled query means (computed f64 rows):
// in the tensor form each goes to the key buffer as a hi row (its f32 / bf16
// rounding) and a lo row (the rounding of what hi left out), 2 x 16 rows
// after the 64 keys of 72 entries, and both rows' products are summed.
// TENSOR-LABEL: func.func @st_estimate_cpu(
// TENSOR:         memref.alloc() : memref<1088xf64>
// TENSOR:         memref.alloc() : memref<6912xf32>
// TENSOR:         %[[HI:.*]] = arith.truncf %[[V:.*]] : f64 to f32
// TENSOR:         %[[WIDE:.*]] = arith.extf %[[HI]] : f32 to f64
// TENSOR:         %[[REST:.*]] = arith.subf %[[V]], %[[WIDE]] : f64
// TENSOR:         arith.truncf %[[REST]] : f64 to f32
sattn.kernel @st(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.stripe group 32 block 4 step 2 theta 1.0
  sattn.yield %m
}

// nsa's stats and importance are tile stages: 16 compressed keys (f64
// rows, 16 x 128) against a window of 32 query rows (f32 on the CPU, 130
// per row), a logit per (row, query) and each query's maximum and sum
// (2048 + 16 x 33 + 64 entries: rows of slots one longer than the window,
// paddedDotRow); importance adds a slot per (selection block,
// query), 15 blocks of 64 keys per tile (their 61 compressed blocks of 32
// every 16 fill 4 chunks). The exact form multiplies the f64 compressed
// keys without fusing (their products round), and its probabilities are
// divided by the rows' sums; the tensor form takes windows of 64 queries
// (136 per row) and puts the rows after the window as hi and lo rows (2 x
// 16 x 136, no f64 rows: 16 x 65 + 128 entries) and sums f32 products.
// CHECK-LABEL: func.func @nsa_estimate_cpu(
// CHECK:         memref.alloc() : memref<2640xf64>
// CHECK:         memref.alloc() : memref<4160xf32>
// CHECK-NOT:     fastmath<contract>
// CHECK:         math.exp
// CHECK:         memref.dealloc
// CHECK:         memref.alloc() : memref<3120xf64>
// CHECK:         memref.alloc() : memref<4160xf32>
// CHECK-NOT:     fastmath<contract>
// CHECK:         math.exp
// CHECK:         arith.divf {{.*}} : f64
// CHECK:         return
// TENSOR-LABEL: func.func @nsa_estimate_cpu(
// TENSOR:         memref.alloc() : memref<1168xf64>
// TENSOR:         memref.alloc() : memref<13056xf32>
// TENSOR:         %[[HI:.*]] = arith.truncf %[[V:.*]] : f64 to f32
// TENSOR:         %[[WIDE:.*]] = arith.extf %[[HI]] : f32 to f64
// TENSOR:         %[[REST:.*]] = arith.subf %[[V]], %[[WIDE]] : f64
// TENSOR:         arith.truncf %[[REST]] : f64 to f32
// TENSOR:         arith.mulf {{.*}} : f32
// TENSOR:         memref.alloc() : memref<2128xf64>
// TENSOR:         memref.alloc() : memref<13056xf32>
sattn.kernel @nsa(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.nsa compress (32, 16) select (64, 16) window 0 local 2
  sattn.yield %m
}
