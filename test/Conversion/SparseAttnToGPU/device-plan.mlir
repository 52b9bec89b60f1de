// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu -split-input-file | FileCheck %s

// Next to the attention kernel, the device plan builder's six stage
// kernels (docs/DEVICE_PLANS.md), all with the same parameters: five i64
// scalars, the int32 status buffer, six int64 buffers, one per table. The
// attention kernel records which (batch, head) axes split plan classes:
// here the document table is per batch element, no head is read.

// CHECK-LABEL: gpu.module @sattn_docs
// CHECK:       gpu.func @sattn_docs(
// CHECK-SAME:    sattn.device_plan = {class_by_batch = true, class_by_head = false, list_keys = 0 : i64, list_unit_rows = 0 : i64}
// The summaries: a min and a max per 32 entries of the table.
// CHECK:       gpu.func @sattn_docs_plan_summarize(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: memref<i32>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>, %{{.*}}: memref<i64>) kernel
// CHECK-SAME:    known_block_size = array<i32: 256, 1, 1>
// CHECK:         arith.minsi
// CHECK:         arith.maxsi
// The tile's bounds read the table's box: entries at its unaligned ends,
// summaries between.
// CHECK:       gpu.func @sattn_docs_plan_classify(
// CHECK:         scf.for
// CHECK:         memref.load
// CHECK:         memref.atomic_rmw addi
// CHECK:       gpu.func @sattn_docs_plan_resolve(
// CHECK:         memref.atomic_rmw ori
// CHECK:       gpu.func @sattn_docs_plan_count(
// The scan stage also writes the class index of its (batch, head) pairs.
// CHECK:       gpu.func @sattn_docs_plan_scan(
// CHECK:       gpu.func @sattn_docs_plan_write(
// CHECK-COUNT-7: memref.store

sattn.kernel @docs(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  mask.table @doc : i32 ["b", "k"]
  %0 = mask.causal
  %1 = mask.document @doc
  %2 = mask.intersect %0, %1
  sattn.yield %2
}

// -----

// CHECK-LABEL: gpu.module @sattn_heads
// CHECK:       sattn.device_plan = {class_by_batch = false, class_by_head = true, list_keys = 0 : i64, list_unit_rows = 0 : i64}
sattn.kernel @heads(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  %0 = mask.causal
  %1 = mask.window 16
  %2 = mask.per_head %0, %1 assign [0, 1]
  sattn.yield %2
}

// -----

// A block table read at block granularity spans at most two entries of a
// row per tile: no summary chunk is ever whole inside a tile, so the
// summarize stage computes none (it loads nothing) and classify reads the
// entries themselves.
// CHECK-LABEL: gpu.module @sattn_blocktab
// CHECK:       gpu.func @sattn_blocktab_plan_summarize(
// CHECK-NOT:     memref.load
// CHECK:         gpu.return
// CHECK:       gpu.func @sattn_blocktab_plan_classify(
// CHECK:         memref.load
sattn.kernel @blocktab(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  mask.table @keep : i1 ["h", "q/128", "k/128"]
  %0 = mask.causal
  %1 = mask.block_table @keep block 128
  %2 = mask.intersect %0, %1
  sattn.yield %2
}

// -----

// A column term (vcol[h, k], monotone under the union): the portable
// kernel reads List segments, so the builder lists the columns, at most
// 2048 per query tile (DevicePlan.h, kDefaultListKeys). summarize counts
// each tile's columns into 64-key bit words (one per 64-key tile), write
// expands them lowest bit first; stripes read at the query unit q / 256
// record their unit.
// CHECK-LABEL: gpu.module @sattn_vslash
// CHECK:       sattn.device_plan = {class_by_batch = false, class_by_head = true, list_keys = 2048 : i64, list_unit_rows = 0 : i64}
// CHECK:       gpu.func @sattn_vslash_plan_summarize(
// CHECK:         math.ctpop
// CHECK:       gpu.func @sattn_vslash_plan_write(
// CHECK:         math.cttz
sattn.kernel @vslash(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  mask.table @vcol : i1 ["h", "k"]
  mask.table @slash : i1 ["h", "k"]
  %0 = mask.causal
  %1 = mask.predicate(%b, %h, %q, %k) {
    %v = mask.lookup @vcol[%h, %k] : i1
    %d = arith.subi %q, %k : index
    %s = mask.lookup @slash[%h, %d] : i1
    %y = arith.ori %v, %s : i1
    mask.yield %y
  }
  %2 = mask.intersect %0, %1
  sattn.yield %2
}

// -----

// CHECK-LABEL: gpu.module @sattn_units
// CHECK:       list_keys = 2048 : i64, list_unit_rows = 256 : i64
sattn.kernel @units(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  mask.table @sel : i1 ["b", "h", "q/256", "k"]
  %0 = mask.causal
  %1 = mask.predicate(%b, %h, %q, %k) {
    %c256 = arith.constant 256 : index
    %u = arith.floordivsi %q, %c256 : index
    %v = mask.lookup @sel[%b, %h, %u, %k] : i1
    mask.yield %v
  }
  %2 = mask.intersect %0, %1
  sattn.yield %2
}

// -----

// A complemented column term is not monotone: no lists.
// CHECK-LABEL: gpu.module @sattn_notcols
// CHECK:       list_keys = 0 : i64
sattn.kernel @notcols(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  mask.table @vcol : i1 ["h", "k"]
  %0 = mask.causal
  %1 = mask.predicate(%b, %h, %q, %k) {
    %v = mask.lookup @vcol[%h, %k] : i1
    mask.yield %v
  }
  %2 = mask.complement %1
  %3 = mask.intersect %0, %2
  sattn.yield %3
}
