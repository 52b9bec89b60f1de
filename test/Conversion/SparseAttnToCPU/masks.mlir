// RUN: sparse-opt %s -split-input-file --convert-sattn-to-cpu="block-m=16 block-n=16" | FileCheck %s

// Element-mask emission for what sattn-expand-masks leaves behind. Only the
// PARTIAL path holds mask code, so each check looks after `} else {`.

// tail_queries reads Lk: q >= Lk - N.
// CHECK-LABEL: func.func @tail_cpu(
// CHECK:         %[[LK:.+]] = memref.dim %arg1, %c2{{.*}} : memref<?x?x?x?xf32
// CHECK:       } else {
// CHECK:         %[[N:.+]] = arith.constant 5 : index
// CHECK:         %[[FIRST:.+]] = arith.subi %[[LK]], %[[N]] : index
// CHECK:         arith.cmpi sge, %{{.+}}, %[[FIRST]] : index
sattn.kernel @tail(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2,
                   scale = 0.125) {
  %c = mask.causal
  %t = mask.tail_queries 5
  %w = mask.window 3
  %u = mask.union %t, %w
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// -----

// Tables become trailing memref<?xi64> arguments in declaration order; a
// lookup is a bounds-checked load without a branch (out of range loads
// element 0 and reads 0), block dims have extent ceil(Lk / N).
// CHECK-LABEL: func.func @tables_cpu(
// CHECK-SAME:    %{{[^:]+}}: memref<?xi64>, %[[DOC:[^:]+]]: memref<?xi64>, %[[KEEP:[^:]+]]: memref<?xi64>)
// CHECK:         %[[LK:.+]] = memref.dim %arg1, %c2{{.*}} : memref<?x?x?x?xf32
// CHECK:         %[[C8:.+]] = arith.constant 8 : index
// CHECK:         %[[NB:.+]] = arith.ceildivsi %[[LK]], %[[C8]] : index
// CHECK:       } else {
// CHECK:         arith.cmpi ult, %{{.+}}, %{{.+}} : index
// CHECK:         %[[SAFE:.+]] = arith.select %[[IN:[^,]+]], %{{.+}}, %{{.+}} : index
// CHECK-NEXT:    %[[V:.+]] = memref.load %[[DOC]][%[[SAFE]]] : memref<?xi64>
// CHECK:         %[[READ:.+]] = arith.select %[[IN]], %[[V]], %{{.+}} : i64
// CHECK-NEXT:    arith.index_cast %[[READ]] : i64 to index
// CHECK-NOT:     scf.if
// CHECK:         arith.cmpi ult, %{{.+}}, %[[NB]] : index
// CHECK:         memref.load %[[KEEP]][%{{.+}}] : memref<?xi64>
// CHECK:         arith.cmpi ne, %{{.+}}, %{{.+}} : i64
sattn.kernel @tables(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1,
                     scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  mask.table @keep : i1 ["h", "q/8", "k/8"]
  %d = mask.document @doc
  %b = mask.block_table @keep block 8
  %m = mask.intersect %d, %b
  sattn.yield %m
}

// -----

// per_head selects on the head index; complement is an xor with true.
// CHECK-LABEL: func.func @heads_cpu(
// CHECK:       } else {
// CHECK:         %[[TRUE:.+]] = arith.constant true
// CHECK:         arith.xori %{{.+}}, %[[TRUE]] : i1
// CHECK:         %[[IS2:.+]] = arith.cmpi eq, %[[H:.+]], %c2{{.*}} : index
// CHECK:         %[[SEL2:.+]] = arith.select %[[IS2]], %{{.+}}, %{{.+}} : i1
// CHECK:         %[[IS1:.+]] = arith.cmpi eq, %[[H]], %c1{{.*}} : index
// CHECK:         %[[SEL1:.+]] = arith.select %[[IS1]], %{{.+}}, %[[SEL2]] : i1
// CHECK:         %[[IS0:.+]] = arith.cmpi eq, %[[H]], %c0{{.*}} : index
// CHECK:         arith.select %[[IS0]], %{{.+}}, %[[SEL1]] : i1
sattn.kernel @heads(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2,
                    scale = 0.125) {
  %c = mask.causal
  %w = mask.window 4
  %n = mask.complement %w
  %x = mask.intersect %c, %n
  %m = mask.per_head %c, %x, %w assign [0, 1, 2, 1]
  sattn.yield %m
}

// -----

// Predicate bodies are cloned with b, h, q, k substituted. A division by a
// runtime value is guarded (by 0 it yields 0, by -1 the wrapped negation);
// a division by another constant is not, and overflow flags are dropped
// because the contract defines wrap-around.
// CHECK-LABEL: func.func @pred_cpu(
// CHECK:       } else {
// CHECK:         %[[D:.+]] = arith.subi %{{.+}}, %c3{{.*}} : index
// CHECK:         %[[BYZERO:.+]] = arith.cmpi eq, %[[D]], %{{.+}} : index
// CHECK:         %[[BYMINUS1:.+]] = arith.cmpi eq, %[[D]], %{{.+}} : index
// CHECK:         %[[BAD:.+]] = arith.ori %[[BYZERO]], %[[BYMINUS1]] : i1
// CHECK:         %[[SAFE:.+]] = arith.select %[[BAD]], %{{.+}}, %[[D]] : index
// CHECK:         %[[QUOT:.+]] = arith.divsi %[[KEY:.+]], %[[SAFE]] : index
// CHECK:         %[[NEG:.+]] = arith.subi %{{.+}}, %[[KEY]] : index
// CHECK:         %[[R1:.+]] = arith.select %[[BYMINUS1]], %[[NEG]], %[[QUOT]] : index
// CHECK:         arith.select %[[BYZERO]], %{{.+}}, %[[R1]] : index
// CHECK:         arith.floordivsi %{{.+}}, %c8{{.*}} : index
// CHECK:         arith.addi %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : index{{$}}
sattn.kernel @pred(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2,
                   scale = 0.125) {
  %m = mask.predicate(%b, %h, %q, %k) {
    %c3 = arith.constant 3 : index
    %c8 = arith.constant 8 : index
    %d = arith.subi %q, %c3 : index
    %x = arith.divsi %k, %d : index
    %y = arith.floordivsi %q, %c8 : index
    %s = arith.addi %x, %y overflow<nsw> : index
    %keep = arith.cmpi sle, %s, %q : index
    mask.yield %keep
  }
  sattn.yield %m
}
