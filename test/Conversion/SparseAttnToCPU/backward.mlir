// RUN: sparse-opt %s --convert-sattn-to-cpu="block-m=32 block-n=16 backward=1" | FileCheck %s
// RUN: sparse-opt %s --convert-sattn-to-cpu="block-m=32 block-n=16" | FileCheck %s --check-prefix=FORWARD

// backward=1 adds @NAME_bwd_cpu next to @NAME_cpu: Q, K, V, O, LSE, then dO,
// dQ, dK, dV, the plan and the tables. It zeroes the three gradients, then
// walks the forward's plan (b, h, query tile, segment) with the forward's
// scores (the element mask on PARTIAL tiles), takes each probability back
// from LSE with exp2, and accumulates dV, dQ and dK in place.

// FORWARD-NOT: _bwd_cpu

// CHECK-LABEL: func.func @doc_cpu(
// CHECK-LABEL: func.func @doc_bwd_cpu(
// CHECK-SAME:    %[[Q:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[K:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[V:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[O:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[LSE:[^:]+]]: memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[DO:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[DQ:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[DK:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[DV:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %{{[^:]+}}: memref<?x7xi64>, %{{[^:]+}}: memref<?xi64>,
// CHECK-SAME:    %{{[^:]+}}: memref<?xi64>, %[[DOC:[^:]+]]: memref<?xi64>)
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         memref.alloc() : memref<32x16xf32>
// CHECK:         memref.alloc() : memref<16xindex>
// CHECK:         memref.alloc() : memref<32xf32>
// The gradients start at zero.
// CHECK:         memref.store %{{.+}}, %[[DQ]]
// CHECK:         memref.store %{{.+}}, %[[DK]]
// CHECK:         memref.store %{{.+}}, %[[DV]]
// D = dO . O per row of the query tile.
// CHECK:         memref.load %[[DO]]
// CHECK:         memref.load %[[O]]
// PARTIAL tiles read the document table for their scores.
// CHECK:         memref.load %[[DOC]]
// CHECK:         memref.load %[[LSE]]
// CHECK:         math.exp2
// CHECK:         memref.store {{.+}}, %[[DV]]
// CHECK:         memref.store {{.+}}, %[[DQ]]
// CHECK:         memref.store {{.+}}, %[[DK]]
// CHECK:         memref.dealloc
sattn.kernel @doc(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  %c = mask.causal
  %d = mask.document @doc
  %m = mask.intersect %c, %d
  sattn.yield %m
}
