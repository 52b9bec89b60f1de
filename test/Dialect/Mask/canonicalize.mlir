// RUN: sparse-opt %s --sattn-normalize-masks --split-input-file | FileCheck %s
// RUN: sparse-opt %s --canonicalize --split-input-file | FileCheck %s

// One test per rewrite of the mask algebra (MaskCanonicalize.cpp and the
// folders of MaskFolds.cpp), plus cases that must be left alone. The same
// normal form is expected from the normalisation pass and from the generic
// canonicalizer, whose traversal order differs.

//===----------------------------------------------------------------------===//
// Idempotence
//===----------------------------------------------------------------------===//

// CHECK-LABEL: sattn.kernel @union_duplicates
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @union_duplicates(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %u = mask.union %s, %t, %s, %t, %s
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_duplicates
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @intersect_duplicates(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %i = mask.intersect %s, %s
  sattn.yield %i
}

// -----

// CHECK-LABEL: sattn.kernel @union_flatten
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 2
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[T]], %[[P]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @union_flatten(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %p = mask.prefix 2
  %inner = mask.union %s, %t
  %mid = mask.union %inner, %p
  %u = mask.union %mid, %s
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_flatten
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 2
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[S]], %[[T]], %[[P]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @intersect_flatten(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %p = mask.prefix 2
  %a = mask.intersect %s, %t
  %b = mask.intersect %t, %p
  %i = mask.intersect %a, %b
  sattn.yield %i
}

// -----

// A nested union that has other users is flattened into its user but kept
// for the others.
// CHECK-LABEL: sattn.kernel @flatten_shared_nested
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 2
// CHECK-NEXT:    %[[IN:.+]] = mask.union %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    %[[OUT:.+]] = mask.union %[[S]], %[[T]], %[[P]]{{$}}
// CHECK-NEXT:    %[[R:.+]] = mask.per_head %[[IN]], %[[OUT]] assign [0, 1, 1, 0]
// CHECK-NEXT:    sattn.yield %[[R]]
sattn.kernel @flatten_shared_nested(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %p = mask.prefix 2
  %in = mask.union %s, %t
  %out = mask.union %in, %p
  %r = mask.per_head %in, %out assign [0, 1, 1, 0]
  sattn.yield %r
}

//===----------------------------------------------------------------------===//
// Identities, absorbing elements, single operands
//===----------------------------------------------------------------------===//

// -----

// CHECK-LABEL: sattn.kernel @union_drops_empty
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
// CHECK-NOT:     mask.empty
sattn.kernel @union_drops_empty(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %e = mask.empty
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %u = mask.union %e, %s, %e, %t
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_drops_full
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @intersect_drops_full(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %f = mask.full
  %s = mask.sink 4
  %i = mask.intersect %f, %s, %f
  sattn.yield %i
}

// -----

// Only identities: the union of nothing is empty, the intersection of
// nothing is full.
// CHECK-LABEL: sattn.kernel @union_of_identities
// CHECK-NEXT:    %[[E:.+]] = mask.empty
// CHECK-NEXT:    sattn.yield %[[E]]
sattn.kernel @union_of_identities(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %e1 = mask.empty
  %e2 = mask.empty
  %u = mask.union %e1, %e2
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_of_identities
// CHECK-NEXT:    %[[F:.+]] = mask.full
// CHECK-NEXT:    sattn.yield %[[F]]
sattn.kernel @intersect_of_identities(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %f1 = mask.full
  %f2 = mask.full
  %i = mask.intersect %f1, %f2
  sattn.yield %i
}

// -----

// CHECK-LABEL: sattn.kernel @union_with_full
// CHECK-NEXT:    %[[F:.+]] = mask.full
// CHECK-NEXT:    sattn.yield %[[F]]
sattn.kernel @union_with_full(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %f = mask.full
  %s = mask.sink 4
  %u = mask.union %c, %f, %s
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_with_empty
// CHECK-NEXT:    %[[E:.+]] = mask.empty
// CHECK-NEXT:    sattn.yield %[[E]]
sattn.kernel @intersect_with_empty(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %e = mask.empty
  %i = mask.intersect %c, %s, %e
  sattn.yield %i
}

// -----

// CHECK-LABEL: sattn.kernel @single_operand_union
// CHECK-NEXT:    %[[D:.+]] = mask.dilated window 8 dilation 2
// CHECK-NEXT:    sattn.yield %[[D]]
sattn.kernel @single_operand_union(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %d = mask.dilated window 8 dilation 2
  %u = mask.union %d
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @single_operand_intersect
// CHECK-NEXT:    %[[D:.+]] = mask.dilated window 8 dilation 2
// CHECK-NEXT:    sattn.yield %[[D]]
sattn.kernel @single_operand_intersect(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %d = mask.dilated window 8 dilation 2
  %i = mask.intersect %d
  sattn.yield %i
}

//===----------------------------------------------------------------------===//
// Absorption
//===----------------------------------------------------------------------===//

// -----

// a | (a & b) = a
// CHECK-LABEL: sattn.kernel @union_absorbs_intersect
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @union_absorbs_intersect(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %i = mask.intersect %t, %s
  %u = mask.union %i, %s
  sattn.yield %u
}

// -----

// a & (a | b) = a
// CHECK-LABEL: sattn.kernel @intersect_absorbs_union
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @intersect_absorbs_union(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %u = mask.union %t, %s
  %i = mask.intersect %s, %u
  sattn.yield %i
}

// -----

// Absorption removes only the absorbed operand.
// CHECK-LABEL: sattn.kernel @absorption_keeps_others
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 2
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[P]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @absorption_keeps_others(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %p = mask.prefix 2
  %i = mask.intersect %s, %t
  %u = mask.union %s, %i, %p
  sattn.yield %u
}

//===----------------------------------------------------------------------===//
// Window and sink merging
//===----------------------------------------------------------------------===//

// -----

// CHECK-LABEL: sattn.kernel @union_windows_max
// CHECK-NEXT:    %[[W:.+]] = mask.window 512{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
// CHECK-NOT:     mask.window 64
sattn.kernel @union_windows_max(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.window 64
  %b = mask.window 512
  %c = mask.window 128
  %u = mask.union %a, %b, %c
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_windows_min
// CHECK-NEXT:    %[[W:.+]] = mask.window 64{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @intersect_windows_min(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.window 512
  %b = mask.window 64
  %c = mask.window 128
  %i = mask.intersect %a, %b, %c
  sattn.yield %i
}

// -----

// CHECK-LABEL: sattn.kernel @union_symmetric_windows_max
// CHECK-NEXT:    %[[W:.+]] = mask.window 16 symmetric{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @union_symmetric_windows_max(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.window 16 symmetric
  %b = mask.window 0 symmetric
  %u = mask.union %a, %b
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_symmetric_windows_min
// CHECK-NEXT:    %[[W:.+]] = mask.window 3 symmetric{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @intersect_symmetric_windows_min(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.window 16 symmetric
  %b = mask.window 3 symmetric
  %i = mask.intersect %a, %b
  sattn.yield %i
}

// -----

// Causal and symmetric windows merge only with their own kind.
// CHECK-LABEL: sattn.kernel @union_windows_by_kind
// CHECK-DAG:     %[[W:.+]] = mask.window 256{{$}}
// CHECK-DAG:     %[[R:.+]] = mask.window 8 symmetric{{$}}
// CHECK:         %[[U:.+]] = mask.union
// CHECK-SAME:      {{%[^,]+, %[^,]+$}}
// CHECK-NEXT:    sattn.yield %[[U]]
// CHECK-NOT:     mask.window 32
// CHECK-NOT:     mask.window 2 symmetric
sattn.kernel @union_windows_by_kind(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.window 32
  %b = mask.window 2 symmetric
  %c = mask.window 256
  %d = mask.window 8 symmetric
  %u = mask.union %a, %b, %c, %d
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @union_sinks_max
// CHECK-NEXT:    %[[S:.+]] = mask.sink 64
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @union_sinks_max(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.sink 4
  %b = mask.sink 64
  %u = mask.union %a, %b
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @intersect_sinks_min
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
sattn.kernel @intersect_sinks_min(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.sink 64
  %b = mask.sink 4
  %i = mask.intersect %a, %b
  sattn.yield %i
}

// -----

// Sinks merge alongside other operands, which are kept; the merged sink takes
// the place of the first one.
// CHECK-LABEL: sattn.kernel @union_sinks_with_others
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[S:.+]] = mask.sink 32
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
// CHECK-NOT:     mask.sink 16
sattn.kernel @union_sinks_with_others(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %a = mask.sink 16
  %t = mask.tail_queries 8
  %b = mask.sink 32
  %u = mask.union %a, %t, %b
  sattn.yield %u
}

//===----------------------------------------------------------------------===//
// Causal factoring
//===----------------------------------------------------------------------===//

// -----

// A causal window already is causal: causal & window = window.
// CHECK-LABEL: sattn.kernel @intersect_causal_window
// CHECK-NEXT:    %[[W:.+]] = mask.window 128
// CHECK-NEXT:    sattn.yield %[[W]]
// CHECK-NOT:     mask.causal
sattn.kernel @intersect_causal_window(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 128
  %i = mask.intersect %c, %w
  sattn.yield %i
}

// -----

// Dilated, power and S2 block-strided masks imply causality too.
// CHECK-LABEL: sattn.kernel @intersect_causal_implied
// CHECK-NEXT:    %[[D:.+]] = mask.dilated window 8 dilation 2
// CHECK-NEXT:    %[[P:.+]] = mask.power block 64 window 2 sink 1
// CHECK-NEXT:    %[[S:.+]] = mask.strided_blocks block 64 local 2 vert_stride 4 offset 0 dense_heads 0
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[D]], %[[P]], %[[S]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @intersect_causal_implied(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %d = mask.dilated window 8 dilation 2
  %p = mask.power block 64 window 2 sink 1
  %s = mask.strided_blocks block 64 local 2 vert_stride 4 offset 0 dense_heads 0
  %i = mask.intersect %c, %d, %p, %s
  sattn.yield %i
}

// -----

// A nested intersection is causal when one of its operands is.
// CHECK-LABEL: sattn.kernel @intersect_causal_via_nested
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[D:.+]] = mask.dilated window 8 dilation 2
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[S]], %[[D]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @intersect_causal_via_nested(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %d = mask.dilated window 8 dilation 2
  %i = mask.intersect %c, %s, %d
  sattn.yield %i
}

// -----

// causal | window = causal
// CHECK-LABEL: sattn.kernel @union_causal_window
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    sattn.yield %[[C]]
sattn.kernel @union_causal_window(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %w = mask.window 128
  %c = mask.causal
  %u = mask.union %w, %c
  sattn.yield %u
}

// -----

// causal | x = causal for every causal x; non-causal operands stay.
// CHECK-LABEL: sattn.kernel @union_causal_absorbs_causal_masks
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[C]], %[[T]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @union_causal_absorbs_causal_masks(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %t = mask.tail_queries 8
  %d = mask.dilated window 8 dilation 2
  %p = mask.power block 64 window 2 sink 1
  %w = mask.window 4
  %ws = mask.window 16 symmetric
  %cw = mask.intersect %ws, %w
  %u = mask.union %c, %d, %t, %p, %cw
  sattn.yield %u
}

// -----

// (causal & a) | (causal & b) = causal & (a | b)
// CHECK-LABEL: sattn.kernel @factor_causal
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 100
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[U]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @factor_causal(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %t = mask.tail_queries 100
  %a = mask.intersect %c, %s
  %b = mask.intersect %t, %c
  %u = mask.union %a, %b
  sattn.yield %u
}

// -----

// The common factor need not be causal, and the remaining parts may have
// several operands each.
// CHECK-LABEL: sattn.kernel @factor_common_operand
// CHECK-NEXT:    mask.table @ids : i32 ["k"]
// CHECK-NEXT:    %[[D:.+]] = mask.document @ids
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 100
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 8
// CHECK-NEXT:    %[[ST:.+]] = mask.intersect %[[S]], %[[T]]{{$}}
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[ST]], %[[P]]{{$}}
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[D]], %[[U]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @factor_common_operand(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @ids : i32 ["k"]
  %d = mask.document @ids
  %s = mask.sink 4
  %t = mask.tail_queries 100
  %p = mask.prefix 8
  %a = mask.intersect %s, %d, %t
  %b = mask.intersect %d, %p
  %u = mask.union %a, %b
  sattn.yield %u
}

// -----

// An intersection that is only the common factor contains every other operand
// of the union: the union is the factor (never an intersection of nothing).
// CHECK-LABEL: sattn.kernel @factor_only_common
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    sattn.yield %[[C]]
// CHECK-NOT:     mask.intersect
sattn.kernel @factor_only_common(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %a = mask.intersect %c, %c
  %b = mask.intersect %s, %c
  %u = mask.union %b, %a
  sattn.yield %u
}

// -----

// sink(n) | causal = prefix(n)
// CHECK-LABEL: sattn.kernel @sink_or_causal_is_prefix
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 16
// CHECK-NEXT:    sattn.yield %[[P]]
// CHECK-NOT:     mask.sink
// CHECK-NOT:     mask.causal
sattn.kernel @sink_or_causal_is_prefix(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 16
  %c = mask.causal
  %u = mask.union %s, %c
  sattn.yield %u
}

// -----

// Sinks are merged first; the prefix takes the largest.
// CHECK-LABEL: sattn.kernel @sinks_or_causal_is_prefix
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 64
// CHECK-NEXT:    sattn.yield %[[P]]
sattn.kernel @sinks_or_causal_is_prefix(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s1 = mask.sink 16
  %c = mask.causal
  %s2 = mask.sink 64
  %u = mask.union %s1, %c, %s2
  sattn.yield %u
}

// -----

// StreamingLLM: sink | causal window | causal = prefix (the window is causal).
// CHECK-LABEL: sattn.kernel @sink_window_causal
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 4
// CHECK-NEXT:    sattn.yield %[[P]]
sattn.kernel @sink_window_causal(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %w = mask.window 1024
  %c = mask.causal
  %u = mask.union %s, %w, %c
  sattn.yield %u
}

// -----

// causal & window(r, symmetric) = window(r + 1)
// CHECK-LABEL: sattn.kernel @causal_and_symmetric
// CHECK-NEXT:    %[[W:.+]] = mask.window 4{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @causal_and_symmetric(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %r = mask.window 3 symmetric
  %c = mask.causal
  %i = mask.intersect %r, %c
  sattn.yield %i
}

// -----

// Radius 0 keeps the diagonal only: window 1.
// CHECK-LABEL: sattn.kernel @causal_and_radius_zero
// CHECK-NEXT:    %[[W:.+]] = mask.window 1{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @causal_and_radius_zero(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %r = mask.window 0 symmetric
  %i = mask.intersect %c, %r
  sattn.yield %i
}

// -----

// Symmetric windows merge (min) before the causal conversion.
// CHECK-LABEL: sattn.kernel @causal_and_symmetric_windows
// CHECK-NEXT:    %[[W:.+]] = mask.window 3{{$}}
// CHECK-NEXT:    sattn.yield %[[W]]
sattn.kernel @causal_and_symmetric_windows(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %r1 = mask.window 8 symmetric
  %r2 = mask.window 2 symmetric
  %i = mask.intersect %r1, %c, %r2
  sattn.yield %i
}

//===----------------------------------------------------------------------===//
// Complement
//===----------------------------------------------------------------------===//

// -----

// CHECK-LABEL: sattn.kernel @double_complement
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    sattn.yield %[[S]]
// CHECK-NOT:     mask.complement
sattn.kernel @double_complement(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %n = mask.complement %s
  %nn = mask.complement %n
  sattn.yield %nn
}

// -----

// CHECK-LABEL: sattn.kernel @triple_complement
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[N:.+]] = mask.complement %[[S]]
// CHECK-NEXT:    sattn.yield %[[N]]
sattn.kernel @triple_complement(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 4
  %n = mask.complement %s
  %nn = mask.complement %n
  %nnn = mask.complement %nn
  sattn.yield %nnn
}

// -----

// CHECK-LABEL: sattn.kernel @complement_of_full
// CHECK-NEXT:    %[[E:.+]] = mask.empty
// CHECK-NEXT:    sattn.yield %[[E]]
sattn.kernel @complement_of_full(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %f = mask.full
  %n = mask.complement %f
  sattn.yield %n
}

// -----

// CHECK-LABEL: sattn.kernel @complement_of_empty
// CHECK-NEXT:    %[[F:.+]] = mask.full
// CHECK-NEXT:    sattn.yield %[[F]]
sattn.kernel @complement_of_empty(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %e = mask.empty
  %n = mask.complement %e
  sattn.yield %n
}

//===----------------------------------------------------------------------===//
// Dead mask ops
//===----------------------------------------------------------------------===//

// -----

// Masks the kernel does not yield are removed, predicates included; table
// declarations stay (they are the kernel's runtime interface).
// CHECK-LABEL: sattn.kernel @dead_masks
// CHECK-NEXT:    mask.table @ids : i32 ["b", "k"]
// CHECK-NEXT:    mask.table @unused : i1 ["k"]
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    sattn.yield %[[C]]
// CHECK-NEXT:  }
// CHECK-NOT:     mask.
sattn.kernel @dead_masks(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @ids : i32 ["b", "k"]
  mask.table @unused : i1 ["k"]
  %c = mask.causal
  %s = mask.sink 4
  %d = mask.document @ids
  %u = mask.union %s, %d
  %n = mask.complement %u
  %p = mask.predicate(%b, %h, %q, %k) {
    %x = mask.lookup @ids[%b, %q] : index
    %y = mask.lookup @ids[%b, %k] : index
    %t = arith.cmpi eq, %x, %y : index
    mask.yield %t
  }
  %ph = mask.per_head %c, %s, %p, %n assign [0, 1, 2, 3]
  %v = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced (30, 100) block 64
  sattn.yield %c
}

//===----------------------------------------------------------------------===//
// Negative tests: nothing to rewrite
//===----------------------------------------------------------------------===//

// -----

// A causal window and a symmetric window are different shapes: no merge.
// CHECK-LABEL: sattn.kernel @no_merge_causal_with_symmetric
// CHECK-NEXT:    %[[W:.+]] = mask.window 8{{$}}
// CHECK-NEXT:    %[[R:.+]] = mask.window 3 symmetric{{$}}
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[W]], %[[R]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @no_merge_causal_with_symmetric(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %w = mask.window 8
  %r = mask.window 3 symmetric
  %u = mask.union %w, %r
  sattn.yield %u
}

// -----

// CHECK-LABEL: sattn.kernel @no_merge_intersect_causal_with_symmetric
// CHECK-NEXT:    %[[W:.+]] = mask.window 8{{$}}
// CHECK-NEXT:    %[[R:.+]] = mask.window 3 symmetric{{$}}
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[W]], %[[R]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @no_merge_intersect_causal_with_symmetric(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %w = mask.window 8
  %r = mask.window 3 symmetric
  %i = mask.intersect %w, %r
  sattn.yield %i
}

// -----

// A symmetric window is not causal: the union keeps both operands, and the
// r + 1 conversion is for intersections only.
// CHECK-LABEL: sattn.kernel @no_rewrite_causal_or_symmetric
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[R:.+]] = mask.window 3 symmetric{{$}}
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[C]], %[[R]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @no_rewrite_causal_or_symmetric(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %r = mask.window 3 symmetric
  %u = mask.union %c, %r
  sattn.yield %u
}

// -----

// Masks that are not causal keep the causal operand of an intersection:
// sinks, tail queries, prefixes, documents, block tables, per-head mixes and
// dynamic patterns (block causal at most).
// CHECK-LABEL: sattn.kernel @no_rewrite_causal_and_noncausal
// CHECK:         %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 16
// CHECK-NEXT:    %[[D:.+]] = mask.document @ids
// CHECK-NEXT:    %[[B:.+]] = mask.block_table @keep block 64
// CHECK-NEXT:    %[[W:.+]] = mask.window 8
// CHECK-NEXT:    %[[PH:.+]] = mask.per_head %[[W]], %[[C]] assign [0, 1]
// CHECK-NEXT:    %[[X:.+]] = mask.block_topk
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[S]], %[[T]], %[[P]], %[[D]], %[[B]], %[[PH]], %[[X]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @no_rewrite_causal_and_noncausal(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @ids : i32 ["k"]
  mask.table @keep : i1 ["h", "q/64", "k/64"]
  %c = mask.causal
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %p = mask.prefix 16
  %d = mask.document @ids
  %b = mask.block_table @keep block 64
  %w = mask.window 8
  %ph = mask.per_head %w, %c assign [0, 1]
  %x = mask.block_topk mean_pool block 64 {top_k = 8 : i64}
  %i = mask.intersect %c, %s, %t, %p, %d, %b, %ph, %x
  sattn.yield %i
}

// -----

// A union is causal only when all its operands are.
// CHECK-LABEL: sattn.kernel @no_rewrite_causal_and_mixed_union
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[W:.+]] = mask.window 8{{$}}
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[W]], %[[T]]{{$}}
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[U]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @no_rewrite_causal_and_mixed_union(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 8
  %t = mask.tail_queries 8
  %u = mask.union %w, %t
  %i = mask.intersect %c, %u
  sattn.yield %i
}

// -----

// A sink intersected with causality is not a prefix.
// CHECK-LABEL: sattn.kernel @no_prefix_from_intersect
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[S]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
// CHECK-NOT:     mask.prefix
sattn.kernel @no_prefix_from_intersect(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %i = mask.intersect %c, %s
  sattn.yield %i
}

// -----

// Factoring needs a factor common to every operand of the union.
// CHECK-LABEL: sattn.kernel @no_factor_without_common
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 8
// CHECK-NEXT:    %[[A:.+]] = mask.intersect %[[C]], %[[S]]{{$}}
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[A]], %[[T]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @no_factor_without_common(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %t = mask.tail_queries 8
  %a = mask.intersect %c, %s
  %u = mask.union %a, %t
  sattn.yield %u
}

// -----

// The complement of a causal mask is not causal: causality must not be
// dropped from the intersection.
// CHECK-LABEL: sattn.kernel @no_rewrite_complement
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[W:.+]] = mask.window 8{{$}}
// CHECK-NEXT:    %[[N:.+]] = mask.complement %[[W]]
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[N]]{{$}}
// CHECK-NEXT:    sattn.yield %[[I]]
sattn.kernel @no_rewrite_complement(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 8
  %n = mask.complement %w
  %i = mask.intersect %c, %n
  sattn.yield %i
}

// -----

// Dynamic patterns and predicates are opaque to the algebra.
// CHECK-LABEL: sattn.kernel @no_rewrite_dynamic
// CHECK-NEXT:    %[[V:.+]] = mask.vertical_slash
// CHECK-NEXT:    %[[N:.+]] = mask.nsa
// CHECK-NEXT:    %[[P:.+]] = mask.predicate
// CHECK:         %[[U:.+]] = mask.union %[[V]], %[[N]], %[[P]]{{$}}
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @no_rewrite_dynamic(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %v = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced (30, 100) block 64
  %n = mask.nsa compress (32, 16) select (64, 16) window 512 local 2
  %p = mask.predicate(%b, %h, %q, %k) {
    %t = arith.cmpi ule, %k, %q : index
    mask.yield %t
  }
  %u = mask.union %v, %n, %p
  sattn.yield %u
}
