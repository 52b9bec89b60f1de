// RUN: sparse-opt %s --sattn-lower-estimators --convert-sattn-to-cpu | FileCheck %s
// RUN: sparse-opt %s --sattn-lower-estimators --convert-sattn-to-cpu=estimator-launches=3 | FileCheck %s --check-prefix=SCORES

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

// SCORES-LABEL: func.func @vs_estimate_cpu(
// SCORES:         memref.alloc() : memref<3136xf64>
// SCORES-NOT:     memref.atomic_rmw
// SCORES:         return
sattn.kernel @vs(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.vertical_slash vertical 30 slash 20 last_q 64 forced(4, 8) block 64
  sattn.yield %m
}
