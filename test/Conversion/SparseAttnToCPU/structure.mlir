// RUN: sparse-opt %s --convert-sattn-to-cpu="block-m=32 block-n=16" | FileCheck %s

// The loop structure of the CPU reference: (b, h, query tile) loops, the
// segment loop over the plan's offsets, KV tiles split into a FULL path
// without any mask code and a PARTIAL path that applies the element mask,
// the online softmax with exp2, and the epilogue. The kernel itself keeps
// its named pattern (expansion happens on a private copy).

// CHECK-LABEL: sattn.kernel @causal
// CHECK:         mask.causal
// CHECK:         sattn.yield

// CHECK-LABEL: func.func @causal_cpu(
// CHECK-SAME:    %[[Q:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[K:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[V:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[O:[^:]+]]: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[LSE:[^:]+]]: memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>,
// CHECK-SAME:    %[[SEGS:[^:]+]]: memref<?x7xi64>, %[[OFFS:[^:]+]]: memref<?xi64>,
// CHECK-SAME:    %[[CLS:[^:]+]]: memref<?xi64>)
// CHECK-SAME:    attributes {llvm.emit_c_interface}
// CHECK:         memref.alloc() : memref<32x16xf32>
// CHECK:         memref.alloc() : memref<16xindex>
// scale * log2(e) = 0.125 * 1.442695
// CHECK:         arith.constant 0.180336878 : f32
// CHECK:         scf.for %[[B:[^ ]+]] = %{{.+}} to %{{.+}} step
// CHECK:           scf.for %[[H:[^ ]+]] = %{{.+}} to %{{.+}} step
// CHECK:             memref.load %[[CLS]]
// CHECK:             scf.for %[[M:[^ ]+]] = %{{.+}} to %{{.+}} step
// Row state starts at max = -inf, sum = 0.
// CHECK:               memref.store %{{.+}}, %{{.+}} : memref<32xf32>
// The segments of (class, m) are rows [offsets[i], offsets[i + 1]).
// CHECK:               %[[FIRST:.+]] = memref.load %[[OFFS]]
// CHECK:               %[[LAST:.+]] = memref.load %[[OFFS]]
// CHECK:               scf.for %[[S:[^ ]+]] = %{{.+}} to %{{.+}} step
// CHECK:                 memref.load %[[SEGS]][%[[S]], %{{.+}}] : memref<?x7xi64>
// CHECK:                 %[[TILES:.+]]:4 = scf.if %{{.+}} -> (index, index, index, index)
// CHECK:                 scf.if %[[FULL:.+]] {
// FULL path: keys, scores and the softmax update, but no integer compare
// (every mask and bounds check is one) and no -inf substitution.
// CHECK-NOT:               arith.cmpi
// CHECK:                   scf.for %{{.+}} = %{{.+}} to %[[TILES]]#0 step
// CHECK-NOT:               arith.cmpi
// CHECK:                     memref.store %{{.+}}, %{{.+}}[%{{.+}}] : memref<16xindex>
// CHECK-NOT:               arith.cmpi
// CHECK:                     memref.load %[[Q]]
// CHECK-NOT:               arith.cmpi
// CHECK:                     memref.load %[[K]]
// CHECK-NOT:               arith.cmpi
// CHECK-NOT:               0xFF800000
// CHECK:                     memref.store %{{.+}}, %{{.+}} : memref<32x16xf32>
// CHECK-NOT:               arith.cmpi
// CHECK:                     arith.maximumf
// CHECK-NOT:               arith.cmpi
// CHECK:                     math.exp2
// CHECK-NOT:               arith.cmpi
// CHECK:                     math.exp2
// CHECK-NOT:               arith.cmpi
// CHECK:                     memref.load %[[V]]
// CHECK-NOT:               arith.cmpi
// CHECK:                 } else {
// PARTIAL path: the causal predicate and the key bound mask the logits.
// CHECK:                   scf.for %{{.+}} = %{{.+}} to %[[TILES]]#0 step
// CHECK:                     memref.load %[[Q]]
// CHECK:                     memref.load %[[K]]
// CHECK:                     %[[KEEP:.+]] = arith.cmpi sle, %[[KEY:.+]], %[[QPOS:.+]] : index
// CHECK:                     %[[INSIDE:.+]] = arith.cmpi slt, %[[KEY]], %{{.+}} : index
// CHECK:                     %[[BOTH:.+]] = arith.andi %[[KEEP]], %[[INSIDE]] : i1
// CHECK:                     %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK:                     arith.select %[[BOTH]], %{{.+}}, %[[NEGINF]] : f32
// CHECK:                     math.exp2
// CHECK:                     math.exp2
// CHECK:                     memref.load %[[V]]
// Epilogue: empty rows (sum 0) get O = 0 and LSE = -inf.
// CHECK:               arith.cmpf oeq, %{{.+}}, %{{.+}} : f32
// CHECK:               math.log
// CHECK:               memref.store %{{.+}}, %[[O]]
// CHECK:               memref.store %{{.+}}, %[[LSE]]
// CHECK:         memref.dealloc
// CHECK:         return
sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2,
                     scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
