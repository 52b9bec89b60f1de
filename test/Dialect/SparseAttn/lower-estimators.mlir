// RUN: sparse-opt %s --sattn-lower-estimators | FileCheck %s
// RUN: sparse-opt %s --sattn-lower-estimators --sattn-lower-estimators | FileCheck %s

// block_topk with the mean pool scorer becomes a causal read of a table
// the estimator writes, one entry per (batch, head, query block, key
// block); the estimator is recorded on the kernel.
// CHECK-LABEL: sattn.kernel @topk
// CHECK-SAME: sattn.estimator = {block = 64 : i64, kind = "block_topk", scorer = "mean_pool", stride = 0 : i64, table = "estimated_blocks", tau = 0.000000e+00 : f64, top_k = 100 : i64}
// CHECK: mask.table @estimated_blocks : i1 ["b", "h", "q/64", "k/64"]
// CHECK: %[[C:.*]] = mask.causal
// CHECK: %[[P:.*]] = mask.predicate(%[[B:.*]], %[[H:.*]], %[[Q:.*]], %[[K:.*]]) {
// CHECK:   %[[N:.*]] = arith.constant 64 : index
// CHECK:   %[[QB:.*]] = arith.divsi %[[Q]], %[[N]]
// CHECK:   %[[KB:.*]] = arith.divsi %[[K]], %[[N]]
// CHECK:   mask.lookup @estimated_blocks[%[[B]], %[[H]], %[[QB]], %[[KB]]] : i1
// CHECK: mask.intersect %[[C]], %[[P]]
// CHECK-NOT: mask.block_topk
sattn.kernel @topk(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk mean_pool block 64 {top_k = 100 : i64}
  sattn.yield %m
}

// A user table of that name keeps its name; the estimated one gets a suffix.
// Masks around the pattern are kept.
// CHECK-LABEL: sattn.kernel @taken
// CHECK-SAME: table = "estimated_blocks_1"
// CHECK: mask.table @estimated_blocks_1 : i1 ["b", "h", "q/32", "k/32"]
// CHECK: mask.table @estimated_blocks : i32 ["b", "k"]
// CHECK: mask.document @estimated_blocks
sattn.kernel @taken(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @estimated_blocks : i32 ["b", "k"]
  %d = mask.document @estimated_blocks
  %t = mask.block_topk mean_pool block 32 {top_k = 8 : i64}
  %m = mask.intersect %d, %t
  sattn.yield %m
}

// XAttention's antidiagonal scorer: the same table, its stride recorded.
// CHECK-LABEL: sattn.kernel @xattention
// CHECK-SAME: sattn.estimator = {block = 128 : i64, kind = "block_topk", scorer = "antidiagonal", stride = 8 : i64, table = "estimated_blocks", tau = 9.000000e-01 : f64, top_k = 0 : i64}
// CHECK: mask.table @estimated_blocks : i1 ["b", "h", "q/128", "k/128"]
// CHECK-NOT: mask.block_topk

// vertical_slash: one table, row 0 the kept columns, row 1 the kept
// diagonal offsets q - k, read under causal.
// CHECK-LABEL: sattn.kernel @vs
// CHECK-SAME: sattn.estimator = {block = 64 : i64, forced_slash = 3 : i64, forced_vertical = 2 : i64, kind = "vertical_slash", last_q = 64 : i64, slash = 20 : i64, table = "estimated_lines", vertical = 10 : i64}
// CHECK: mask.table @estimated_lines : i1 ["b", "h", "2", "k"]
// CHECK: %[[C:.*]] = mask.causal
// CHECK: mask.predicate(%[[B:.*]], %[[H:.*]], %[[Q:.*]], %[[K:.*]]) {
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[COL:.*]] = mask.lookup @estimated_lines[%[[B]], %[[H]], %[[ZERO]], %[[K]]] : i1
// CHECK-DAG: %[[OFF:.*]] = arith.subi %[[Q]], %[[K]] : index
// CHECK-DAG: %[[DIAG:.*]] = mask.lookup @estimated_lines[%[[B]], %[[H]], %[[ONE]], %[[OFF]]] : i1
// CHECK: %[[EITHER:.*]] = arith.ori %[[COL]], %[[DIAG]] : i1
// CHECK: mask.yield %[[EITHER]]
// CHECK: mask.intersect %[[C]],
// CHECK-NOT: mask.vertical_slash

// stripe: every query's anchor region (the first group, its own group)
// and the keys row q / (block x step) of the table marks, under causal.
// CHECK-LABEL: sattn.kernel @stripe
// CHECK-SAME: sattn.estimator = {block = 16 : i64, group = 64 : i64, kind = "stripe", step = 2 : i64, table = "estimated_stripes", theta = 1.200000e+01 : f64}
// CHECK: mask.table @estimated_stripes : i1 ["b", "h", "q/32", "k"]
// CHECK: %[[C:.*]] = mask.causal
// CHECK: mask.predicate(%[[B:.*]], %[[H:.*]], %[[Q:.*]], %[[K:.*]]) {
// CHECK-DAG: %[[G:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[U:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[FIRST:.*]] = arith.cmpi slt, %[[K]], %[[G]] : index
// CHECK-DAG: %[[QG:.*]] = arith.divsi %[[Q]], %[[G]] : index
// CHECK-DAG: %[[START:.*]] = arith.muli %[[QG]], %[[G]] : index
// CHECK-DAG: %[[LOCAL:.*]] = arith.cmpi sge, %[[K]], %[[START]] : index
// CHECK-DAG: %[[UNIT:.*]] = arith.divsi %[[Q]], %[[U]] : index
// CHECK-DAG: %[[SEL:.*]] = mask.lookup @estimated_stripes[%[[B]], %[[H]], %[[UNIT]], %[[K]]] : i1
// CHECK-DAG: %[[ANCHOR:.*]] = arith.ori %[[FIRST]], %[[LOCAL]] : i1
// CHECK: %[[ANY:.*]] = arith.ori %[[ANCHOR]], %[[SEL]] : i1
// CHECK: mask.yield %[[ANY]]
// CHECK: mask.intersect %[[C]],
// CHECK-NOT: mask.stripe

// The gate (SeerAttention): block_topk's block table; its learned weights
// are a runtime input of the estimator.
// CHECK-LABEL: sattn.kernel @gate
// CHECK-SAME: sattn.estimator = {block = 64 : i64, hidden = 128 : i64, kind = "gate", rope_base = 1.000000e+04 : f64, table = "estimated_blocks", threshold = 1.000000e-03 : f64, top_ratio = 0.000000e+00 : f64}
// CHECK: mask.table @estimated_blocks : i1 ["b", "h", "q/64", "k/64"]
// CHECK: mask.lookup @estimated_blocks
// CHECK-NOT: mask.gate
// CHECK-LABEL: sattn.kernel @gate_ratio
// CHECK-SAME: threshold = 0.000000e+00 : f64, top_ratio = 2.500000e-01 : f64

// nsa: row q of a (batch, KV head) marks the selection blocks of the
// query at q, shared by the GQA group's 4 heads; the kernel attends them
// under causal (NSA's selected branch).
// CHECK-LABEL: sattn.kernel @nsa
// CHECK-SAME: sattn.estimator = {block = 64 : i64, compress_block = 32 : i64, compress_stride = 16 : i64, compressed_kernel = "nsa_compressed", kind = "nsa", local = 2 : i64, select_count = 16 : i64, sliding_kernel = "nsa_sliding", table = "estimated_selection", window = 512 : i64}
// CHECK: mask.table @estimated_selection : i1 ["b", "h/4", "q", "k/64"]
// CHECK: %[[C:.*]] = mask.causal
// CHECK: mask.predicate(%[[B:.*]], %[[H:.*]], %[[Q:.*]], %[[K:.*]]) {
// CHECK-DAG: %[[S:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[KB:.*]] = arith.divsi %[[K]], %[[S]] : index
// CHECK-DAG: %[[G:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[KV:.*]] = arith.divsi %[[H]], %[[G]] : index
// CHECK: %[[SEL:.*]] = mask.lookup @estimated_selection[%[[B]], %[[KV]], %[[Q]], %[[KB]]] : i1
// CHECK: mask.yield %[[SEL]]
// CHECK: mask.intersect %[[C]],
// CHECK-NOT: mask.nsa
// The compressed branch: keys where compressed blocks end (c * 16 + 31).
// CHECK-LABEL: sattn.kernel @nsa_compressed(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2
// CHECK-NOT: sattn.estimator
// CHECK: %[[CC:.*]] = mask.causal
// CHECK: mask.predicate(%{{.*}}, %{{.*}}, %{{.*}}, %[[CK:.*]]) {
// CHECK-DAG: %[[D:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[R:.*]] = arith.remsi %[[CK]], %[[D]] : index
// CHECK-DAG: %[[P:.*]] = arith.constant 15 : index
// CHECK-DAG: %[[AT:.*]] = arith.cmpi eq, %[[R]], %[[P]] : index
// CHECK-DAG: %[[L:.*]] = arith.constant 31 : index
// CHECK-DAG: %[[IN:.*]] = arith.cmpi sge, %[[CK]], %[[L]] : index
// CHECK: %[[BOTH:.*]] = arith.andi %[[AT]], %[[IN]] : i1
// CHECK: mask.yield %[[BOTH]]
// CHECK: mask.intersect %[[CC]],
// The sliding branch.
// CHECK-LABEL: sattn.kernel @nsa_sliding(
// CHECK-NEXT: mask.window 512
// CHECK-NEXT: sattn.yield
// Without a window there is no sliding kernel; taken names get a suffix.
// CHECK-LABEL: sattn.kernel @nsa_nowindow(
// CHECK-SAME: compressed_kernel = "nsa_nowindow_compressed_1"
// CHECK-NOT: sliding_kernel
// CHECK-LABEL: sattn.kernel @nsa_nowindow_compressed_1(
// CHECK-NOT: sattn.kernel @nsa_nowindow_sliding
sattn.kernel @xattention(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 0.9 : f64}
  sattn.yield %m
}
sattn.kernel @vs(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.vertical_slash vertical 10 slash 20 last_q 64 forced(2, 3) block 64
  sattn.yield %m
}
sattn.kernel @stripe(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.stripe group 64 block 16 step 2 theta 12.0
  sattn.yield %m
}
sattn.kernel @gate(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.gate block 64 hidden 128 {threshold = 1.0e-03 : f64}
  sattn.yield %m
}
sattn.kernel @gate_ratio(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.gate block 32 hidden 16 {top_ratio = 0.25 : f64}
  sattn.yield %m
}
sattn.kernel @nsa(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.125) {
  %m = mask.nsa compress (32, 16) select (64, 16) window 512 local 2
  sattn.yield %m
}
sattn.kernel @nsa_nowindow(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.nsa compress (16, 8) select (32, 4) window 0 local 1
  sattn.yield %m
}
sattn.kernel @nsa_nowindow_compressed(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
