// RUN: sparse-opt --sattn-expand-masks %s | FileCheck %s

// Each named static pattern becomes the predicate of its definition in
// docs/MASK_SEMANTICS.md; ExpandMasksTest checks the equivalence by brute
// force, this test pins down the shape of the output.

// CHECK-LABEL: sattn.kernel @causal
// CHECK:         %[[M:.*]] = mask.predicate(%{{.*}}, %{{.*}}, %[[Q:.*]], %[[K:.*]]) {
// CHECK-NEXT:      %[[LE:.*]] = arith.cmpi sle, %[[K]], %[[Q]] : index
// CHECK-NEXT:      mask.yield %[[LE]]
// CHECK:         sattn.yield %[[M]]
sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}

// Causal window: q - W < k <= q; symmetric: abs(q - k) <= R. The union
// stays and now combines two predicates.
// CHECK-LABEL: sattn.kernel @window
// CHECK:         %[[W:.*]] = mask.predicate(%{{.*}}, %{{.*}}, %[[Q:.*]], %[[K:.*]]) {
// CHECK-NEXT:      %[[C128:.*]] = arith.constant 128 : index
// CHECK-NEXT:      %[[LO:.*]] = arith.subi %[[Q]], %[[C128]] : index
// CHECK-NEXT:      %[[AFTER:.*]] = arith.cmpi slt, %[[LO]], %[[K]] : index
// CHECK-NEXT:      %[[CAUSAL:.*]] = arith.cmpi sle, %[[K]], %[[Q]] : index
// CHECK-NEXT:      %[[BOTH:.*]] = arith.andi %[[AFTER]], %[[CAUSAL]] : i1
// CHECK-NEXT:      mask.yield %[[BOTH]]
// CHECK:         %[[R:.*]] = mask.predicate(%{{.*}}, %{{.*}}, %[[Q2:.*]], %[[K2:.*]]) {
// CHECK-NEXT:      %[[C3:.*]] = arith.constant 3 : index
// CHECK-NEXT:      %[[D:.*]] = arith.subi %[[Q2]], %[[K2]] : index
// CHECK-NEXT:      %[[ABS:.*]] = math.absi %[[D]] : index
// CHECK-NEXT:      %[[NEAR:.*]] = arith.cmpi sle, %[[ABS]], %[[C3]] : index
// CHECK-NEXT:      mask.yield %[[NEAR]]
// CHECK:         mask.union %[[W]], %[[R]]
sattn.kernel @window(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %w = mask.window 128
  %r = mask.window 3 symmetric
  %m = mask.union %w, %r
  sattn.yield %m
}

// CHECK-LABEL: sattn.kernel @sink_prefix
// CHECK:         mask.predicate(%{{.*}}, %{{.*}}, %{{.*}}, %[[K:.*]]) {
// CHECK-NEXT:      %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT:      %[[SINK:.*]] = arith.cmpi slt, %[[K]], %[[C4]] : index
// CHECK-NEXT:      mask.yield %[[SINK]]
// CHECK:         mask.predicate(%{{.*}}, %{{.*}}, %[[Q:.*]], %[[K2:.*]]) {
// CHECK-NEXT:      %[[C16:.*]] = arith.constant 16 : index
// CHECK-NEXT:      %[[IN:.*]] = arith.cmpi slt, %[[K2]], %[[C16]] : index
// CHECK-NEXT:      %[[CAUSAL:.*]] = arith.cmpi sle, %[[K2]], %[[Q]] : index
// CHECK-NEXT:      %[[EITHER:.*]] = arith.ori %[[IN]], %[[CAUSAL]] : i1
// CHECK-NEXT:      mask.yield %[[EITHER]]
sattn.kernel @sink_prefix(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %s = mask.sink 4
  %p = mask.prefix 16
  %m = mask.intersect %s, %p
  sattn.yield %m
}

// The head expression is spelled out with floordivsi; both sides are
// reduced with a floor modulo (remsi, then + stride when negative).
// CHECK-LABEL: sattn.kernel @strided
// CHECK:         mask.predicate(%{{.*}}, %[[H:.*]], %{{.*}}, %[[K:.*]]) {
// CHECK-DAG:       %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG:       %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:       %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG:       %[[C0:.*]] = arith.constant 0 : index
// CHECK:           %[[HALF:.*]] = arith.floordivsi %[[H]], %[[C2]] : index
// CHECK-NEXT:      %[[OFF:.*]] = arith.addi %[[HALF]], %[[C1]] : index
// CHECK-NEXT:      %[[KR:.*]] = arith.remsi %[[K]], %[[C8]] : index
// CHECK-NEXT:      %[[KNEG:.*]] = arith.cmpi slt, %[[KR]], %[[C0]] : index
// CHECK-NEXT:      %[[KUP:.*]] = arith.addi %[[KR]], %[[C8]] : index
// CHECK-NEXT:      %[[KMOD:.*]] = arith.select %[[KNEG]], %[[KUP]], %[[KR]] : index
// CHECK-NEXT:      %[[OR:.*]] = arith.remsi %[[OFF]], %[[C8]] : index
// CHECK:           %[[OMOD:.*]] = arith.select
// CHECK-NEXT:      %[[EQ:.*]] = arith.cmpi eq, %[[KMOD]], %[[OMOD]] : index
// CHECK-NEXT:      mask.yield %[[EQ]]
sattn.kernel @strided(dtype = bf16, head_dim = 64, heads = 8, kv_heads = 8, scale = 0.125) {
  %m = mask.strided stride 8 offset affine_map<(h) -> (h floordiv 2 + 1)>
  sattn.yield %m
}

// Head counts come from the kernel: G = 8 / 2 = 4 query heads per KV head,
// step = max(1, 8 / 2) = 4, and KV heads >= 2 - 1 are dense.
// CHECK-LABEL: sattn.kernel @strided_blocks
// CHECK:         mask.predicate(%{{.*}}, %[[H:.*]], %[[Q:.*]], %[[K:.*]]) {
// CHECK-DAG:       %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG:       %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG:       %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG:       %[[C8:.*]] = arith.constant 8 : index
// CHECK:           %[[KVH:.*]] = arith.divsi %[[H]], %[[C4]] : index
// CHECK-NEXT:      %[[DENSE:.*]] = arith.cmpi sge, %[[KVH]], %[[C1]] : index
// CHECK-NEXT:      %[[I:.*]] = arith.divsi %[[Q]], %[[C64]] : index
// CHECK-NEXT:      %[[J:.*]] = arith.divsi %[[K]], %[[C64]] : index
// CHECK:           %[[STEP:.*]] = arith.muli %[[KVH]], %[[C4]] : index
// CHECK-NEXT:      %[[COL:.*]] = arith.addi %[[J]], %[[STEP]] : index
// CHECK-NEXT:      %[[COL1:.*]] = arith.addi %[[COL]], %[[C1]] : index
// CHECK-NEXT:      arith.remsi %[[COL1]], %[[C8]] : index
// CHECK:           %[[CAUSAL:.*]] = arith.cmpi sle, %[[K]], %[[Q]] : index
// CHECK-NEXT:      %[[ALLOWED:.*]] = arith.ori %[[DENSE]], %{{.*}} : i1
// CHECK-NEXT:      %[[KEEP:.*]] = arith.andi %[[CAUSAL]], %[[ALLOWED]] : i1
// CHECK-NEXT:      mask.yield %[[KEEP]]
sattn.kernel @strided_blocks(dtype = bf16, head_dim = 64, heads = 8, kv_heads = 2, scale = 0.125) {
  %m = mask.strided_blocks block 64 local 4 vert_stride 8 offset 1 dense_heads 1 per_kv_group
  sattn.yield %m
}

// window * dilation is folded into one constant.
// CHECK-LABEL: sattn.kernel @dilated
// CHECK:         mask.predicate
// CHECK-DAG:       %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG:       %[[C4:.*]] = arith.constant 4 : index
// CHECK:           %[[D:.*]] = arith.subi
// CHECK-NEXT:      arith.cmpi slt, %[[D]], %[[C256]] : index
// CHECK-NEXT:      arith.remsi %[[D]], %[[C4]] : index
sattn.kernel @dilated(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.dilated window 64 dilation 4
  sattn.yield %m
}

// d is 0 or a power of two exactly when d >= 0 and d & (d - 1) == 0.
// CHECK-LABEL: sattn.kernel @power
// CHECK:         mask.predicate
// CHECK:           %[[D:.*]] = arith.subi %{{.*}}, %{{.*}} : index
// CHECK-NEXT:      %[[DM1:.*]] = arith.subi %[[D]], %{{.*}} : index
// CHECK-NEXT:      %[[BITS:.*]] = arith.andi %[[D]], %[[DM1]] : index
// CHECK-NEXT:      arith.cmpi eq, %[[BITS]], %{{.*}} : index
// CHECK-NEXT:      arith.cmpi sge, %[[D]], %{{.*}} : index
sattn.kernel @power(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.power block 64 window 5 sink 1
  sattn.yield %m
}

// Runtime tables are read with mask.lookup.
// CHECK-LABEL: sattn.kernel @tables
// CHECK:         mask.predicate(%[[B:.*]], %{{.*}}, %[[Q:.*]], %[[K:.*]]) {
// CHECK-NEXT:      %[[DQ:.*]] = mask.lookup @doc[%[[B]], %[[Q]]] : index
// CHECK-NEXT:      %[[DK:.*]] = mask.lookup @doc[%[[B]], %[[K]]] : index
// CHECK-NEXT:      %[[SAME:.*]] = arith.cmpi eq, %[[DQ]], %[[DK]] : index
// CHECK-NEXT:      mask.yield %[[SAME]]
// CHECK:         mask.predicate(%{{.*}}, %[[H:.*]], %[[Q2:.*]], %[[K2:.*]]) {
// CHECK-NEXT:      %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT:      %[[I:.*]] = arith.divsi %[[Q2]], %[[C64]] : index
// CHECK-NEXT:      %[[J:.*]] = arith.divsi %[[K2]], %[[C64]] : index
// CHECK-NEXT:      %[[KEEP:.*]] = mask.lookup @keep[%[[H]], %[[I]], %[[J]]] : i1
// CHECK-NEXT:      mask.yield %[[KEEP]]
sattn.kernel @tables(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  mask.table @keep : i1 ["h", "q/64", "k/64"]
  %d = mask.document @doc
  %t = mask.block_table @keep block 64
  %m = mask.intersect %d, %t
  sattn.yield %m
}

// tail_queries reads Lk, which predicates cannot see: it stays.
// CHECK-LABEL: sattn.kernel @tail
// CHECK:         %[[T:.*]] = mask.tail_queries 100
// CHECK:         %[[C:.*]] = mask.predicate
// CHECK:         mask.union %[[T]], %[[C]]
sattn.kernel @tail(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %t = mask.tail_queries 100
  %c = mask.causal
  %m = mask.union %t, %c
  sattn.yield %m
}

// Outside a kernel, strided_blocks has no head counts and stays; dynamic
// patterns never expand.
// CHECK-LABEL: func.func @outside_kernel
// CHECK:         mask.strided_blocks block 2 local 1 vert_stride 4 offset 0 dense_heads 0
// CHECK:         mask.block_topk mean_pool
// CHECK:         mask.predicate
// CHECK-NOT:     mask.causal
func.func @outside_kernel() {
  %s = mask.strided_blocks block 2 local 1 vert_stride 4 offset 0 dense_heads 0
  %v = mask.block_topk mean_pool block 64 {top_k = 4 : i64}
  %c = mask.causal
  %u = mask.union %s, %v, %c
  return
}
