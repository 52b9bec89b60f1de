// RUN: sparse-opt %s | sparse-opt | FileCheck %s
// RUN: sparse-opt %s --mlir-print-op-generic | sparse-opt | FileCheck %s

// Round trip of every mask op in every optional form, through the custom and
// the generic syntax. Each kernel groups related ops.

// CHECK-DAG: #[[$MOD8:.+]] = affine_map<(d0) -> (d0 mod 8)>
// CHECK-DAG: #[[$AFF:.+]] = affine_map<(d0) -> (d0 * 3 + 1)>

// CHECK-LABEL: sattn.kernel @constants
// CHECK-NEXT:    %[[F:.+]] = mask.full
// CHECK-NEXT:    %[[E:.+]] = mask.empty
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[F]], %[[E]], %[[C]]
// CHECK-NEXT:    sattn.yield %[[U]]
sattn.kernel @constants(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %f = mask.full
  %e = mask.empty
  %c = mask.causal
  %u = mask.union %f, %e, %c
  sattn.yield %u
}

// CHECK-LABEL: sattn.kernel @windows
// CHECK-NEXT:    %[[W:.+]] = mask.window 2048{{$}}
// CHECK-NEXT:    %[[WS:.+]] = mask.window 3 symmetric{{$}}
// CHECK-NEXT:    %[[W0:.+]] = mask.window 0 symmetric{{$}}
// CHECK-NEXT:    %[[W1:.+]] = mask.window 1{{$}}
// CHECK-NEXT:    mask.union %[[W]], %[[WS]], %[[W0]], %[[W1]]
sattn.kernel @windows(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %w = mask.window 2048
  %ws = mask.window 3 symmetric
  %w0 = mask.window 0 symmetric
  %w1 = mask.window 1
  %u = mask.union %w, %ws, %w0, %w1
  sattn.yield %u
}

// CHECK-LABEL: sattn.kernel @sinks_tails_prefix
// CHECK-NEXT:    %[[S:.+]] = mask.sink 128
// CHECK-NEXT:    %[[T:.+]] = mask.tail_queries 100
// CHECK-NEXT:    %[[P:.+]] = mask.prefix 10
// CHECK-NEXT:    %[[P0:.+]] = mask.prefix 0
// CHECK-NEXT:    mask.union %[[S]], %[[T]], %[[P]], %[[P0]]
sattn.kernel @sinks_tails_prefix(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %s = mask.sink 128
  %t = mask.tail_queries 100
  %p = mask.prefix 10
  %p0 = mask.prefix 0
  %u = mask.union %s, %t, %p, %p0
  sattn.yield %u
}

// CHECK-LABEL: sattn.kernel @strided
// CHECK-NEXT:    %[[S1:.+]] = mask.strided stride 8 offset #[[$MOD8]]{{$}}
// CHECK-NEXT:    %[[S2:.+]] = mask.strided stride 16 offset #[[$AFF]]{{$}}
// CHECK-NEXT:    %[[S3:.+]] = mask.strided_blocks block 64 local 4 vert_stride 8 offset 1 dense_heads 0 per_kv_group{{$}}
// CHECK-NEXT:    %[[S4:.+]] = mask.strided_blocks block 128 local 0 vert_stride 4 offset -2 dense_heads 2{{$}}
// CHECK-NEXT:    mask.union %[[S1]], %[[S2]], %[[S3]], %[[S4]]
sattn.kernel @strided(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.125) {
  %s1 = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>
  %s2 = mask.strided stride 16 offset affine_map<(h) -> (h * 3 + 1)>
  %s3 = mask.strided_blocks block 64 local 4 vert_stride 8 offset 1 dense_heads 0 per_kv_group
  %s4 = mask.strided_blocks block 128 local 0 vert_stride 4 offset -2 dense_heads 2
  %u = mask.union %s1, %s2, %s3, %s4
  sattn.yield %u
}

// CHECK-LABEL: sattn.kernel @dilated_power
// CHECK-NEXT:    %[[D:.+]] = mask.dilated window 64 dilation 4
// CHECK-NEXT:    %[[P:.+]] = mask.power block 64 window 5 sink 1
// CHECK-NEXT:    %[[P0:.+]] = mask.power block 128 window 0 sink 0
// CHECK-NEXT:    mask.intersect %[[D]], %[[P]], %[[P0]]
sattn.kernel @dilated_power(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %d = mask.dilated window 64 dilation 4
  %p = mask.power block 64 window 5 sink 1
  %p0 = mask.power block 128 window 0 sink 0
  %i = mask.intersect %d, %p, %p0
  sattn.yield %i
}

// CHECK-LABEL: sattn.kernel @tables
// CHECK-NEXT:    mask.table @doc : i32 ["b", "k"]
// CHECK-NEXT:    mask.table @doc1 : i64 ["q"]
// CHECK-NEXT:    mask.table @keep : i1 ["h", "q/64", "k/64"]
// CHECK-NEXT:    mask.table @lit : i64 ["7", "h"]
// CHECK-NEXT:    mask.table @groups : i1 ["b", "h/4", "q", "k/64"]
// CHECK-NEXT:    %[[D:.+]] = mask.document @doc
// CHECK-NEXT:    %[[D1:.+]] = mask.document @doc1
// CHECK-NEXT:    %[[BT:.+]] = mask.block_table @keep block 64
// CHECK-NEXT:    mask.intersect %[[D]], %[[D1]], %[[BT]]
sattn.kernel @tables(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  mask.table @doc1 : i64 ["q"]
  mask.table @keep : i1 ["h", "q/64", "k/64"]
  mask.table @lit : i64 ["7", "h"]
  mask.table @groups : i1 ["b", "h/4", "q", "k/64"]
  %d = mask.document @doc
  %d1 = mask.document @doc1
  %bt = mask.block_table @keep block 64
  %i = mask.intersect %d, %d1, %bt
  sattn.yield %i
}

// CHECK-LABEL: sattn.kernel @dynamic
// CHECK-NEXT:    %[[VS:.+]] = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced(30, 100) block 64
// CHECK-NEXT:    %[[VS0:.+]] = mask.vertical_slash vertical 0 slash 5 last_q 1 forced(0, 0) block 16
// CHECK-NEXT:    %[[TK:.+]] = mask.block_topk mean_pool block 64 {top_k = 100 : i64}
// CHECK-NEXT:    %[[XT:.+]] = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 9.000000e-01 : f64}
// CHECK-NEXT:    %[[XK:.+]] = mask.block_topk antidiagonal block 128 {stride = 16 : i64, top_k = 4 : i64}
// CHECK-NEXT:    %[[GT:.+]] = mask.gate block 64 hidden 128 {threshold = 1.000000e-03 : f64}
// CHECK-NEXT:    %[[GR:.+]] = mask.gate block 64 hidden 64 {top_ratio = 1.000000e+00 : f64}
// CHECK-NEXT:    %[[SP:.+]] = mask.stripe group 2048 block 128 step 16 theta 1.200000e+01
// CHECK-NEXT:    %[[N:.+]] = mask.nsa compress(32, 16) select(64, 16) window 512 local 2
// CHECK-NEXT:    %[[N0:.+]] = mask.nsa compress(32, 32) select(32, 1) window 0 local 0
// CHECK-NEXT:    mask.union %[[VS]], %[[VS0]], %[[TK]], %[[XT]], %[[XK]], %[[GT]], %[[GR]], %[[SP]], %[[N]], %[[N0]]
sattn.kernel @dynamic(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %vs = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced (30, 100) block 64
  %vs0 = mask.vertical_slash vertical 0 slash 5 last_q 1 forced (0, 0) block 16
  %tk = mask.block_topk mean_pool block 64 {top_k = 100 : i64}
  %xt = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 0.9 : f64}
  %xk = mask.block_topk antidiagonal block 128 {stride = 16 : i64, top_k = 4 : i64}
  %gt = mask.gate block 64 hidden 128 {threshold = 0.001 : f64}
  %gr = mask.gate block 64 hidden 64 {top_ratio = 1.0 : f64}
  %sp = mask.stripe group 2048 block 128 step 16 theta 12.0
  %n = mask.nsa compress (32, 16) select (64, 16) window 512 local 2
  %n0 = mask.nsa compress (32, 32) select (32, 1) window 0 local 0
  %u = mask.union %vs, %vs0, %tk, %xt, %xk, %gt, %gr, %sp, %n, %n0
  sattn.yield %u
}

// CHECK-LABEL: sattn.kernel @combinators
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[S:.+]] = mask.sink 4
// CHECK-NEXT:    %[[U1:.+]] = mask.union %[[C]]{{$}}
// CHECK-NEXT:    %[[I1:.+]] = mask.intersect %[[S]]{{$}}
// CHECK-NEXT:    %[[U:.+]] = mask.union %[[U1]], %[[I1]], %[[U1]]{{$}}
// CHECK-NEXT:    %[[I:.+]] = mask.intersect %[[C]], %[[U]]{{$}}
// CHECK-NEXT:    %[[N:.+]] = mask.complement %[[I]]{{$}}
// CHECK-NEXT:    %[[P:.+]] = mask.per_head %[[I]], %[[N]], %[[C]] assign [0, 1, 2, 0]{{$}}
// CHECK-NEXT:    %[[P1:.+]] = mask.per_head %[[C]] assign [0, 0, 0, 0]{{$}}
// CHECK-NEXT:    %[[R:.+]] = mask.intersect %[[P]], %[[P1]]
// CHECK-NEXT:    sattn.yield %[[R]]
sattn.kernel @combinators(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  %s = mask.sink 4
  %u1 = mask.union %c
  %i1 = mask.intersect %s
  %u = mask.union %u1, %i1, %u1
  %i = mask.intersect %c, %u
  %n = mask.complement %i
  %p = mask.per_head %i, %n, %c assign [0, 1, 2, 0]
  %p1 = mask.per_head %c assign [0, 0, 0, 0]
  %r = mask.intersect %p, %p1
  sattn.yield %r
}

// The predicate's block arguments always print as %b, %h, %q, %k, whatever
// names the input used.
// CHECK-LABEL: sattn.kernel @predicate
// CHECK-NEXT:    mask.table @g : i1 ["k"]
// CHECK-NEXT:    mask.table @doc : i64 ["b", "k"]
// CHECK-NEXT:    %[[P:.+]] = mask.predicate(%b, %h, %q, %k) {
// CHECK-NEXT:      %[[G:.+]] = mask.lookup @g[%k] : i1
// CHECK-NEXT:      %[[DQ:.+]] = mask.lookup @doc[%b, %q] : index
// CHECK-NEXT:      %[[DK:.+]] = mask.lookup @doc[%b, %k] : index
// CHECK-NEXT:      %[[SAME:.+]] = arith.cmpi eq, %[[DQ]], %[[DK]] : index
// CHECK-NEXT:      %[[CAUSAL:.+]] = arith.cmpi ule, %k, %q : index
// CHECK-NEXT:      %[[ALL:.+]] = arith.andi %[[SAME]], %[[CAUSAL]] : i1
// CHECK-NEXT:      %[[OR:.+]] = arith.ori %[[ALL]], %[[G]] : i1
// CHECK-NEXT:      mask.yield %[[OR]]
// CHECK-NEXT:    }{{$}}
// CHECK-NEXT:    sattn.yield %[[P]]
sattn.kernel @predicate(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @g : i1 ["k"]
  mask.table @doc : i64 ["b", "k"]
  %p = mask.predicate(%batch, %head, %qpos, %kpos) {
    %g = mask.lookup @g[%kpos] : i1
    %dq = mask.lookup @doc[%batch, %qpos] : index
    %dk = mask.lookup @doc[%batch, %kpos] : index
    %same = arith.cmpi eq, %dq, %dk : index
    %causal = arith.cmpi ule, %kpos, %qpos : index
    %all = arith.andi %same, %causal : i1
    %or = arith.ori %all, %g : i1
    mask.yield %or
  }
  sattn.yield %p
}

// Every op a predicate body may use (docs/MASK_SEMANTICS.md), and a
// predicate carrying an attribute dictionary after its body.
// CHECK-LABEL: sattn.kernel @predicate_ops
// CHECK:         mask.predicate(%b, %h, %q, %k) {
// CHECK:           arith.constant 3 : index
// CHECK:           arith.addi %q, %k : index
// CHECK:           arith.subi %q, %k : index
// CHECK:           arith.muli
// CHECK:           arith.divsi
// CHECK:           arith.divui
// CHECK:           arith.floordivsi
// CHECK:           arith.ceildivsi
// CHECK:           arith.remsi
// CHECK:           arith.remui
// CHECK:           arith.minsi
// CHECK:           arith.maxsi
// CHECK:           arith.minui
// CHECK:           arith.maxui
// CHECK:           math.absi
// CHECK:           arith.index_cast %{{.+}} : index to i64
// CHECK:           arith.trunci %{{.+}} : i64 to i32
// CHECK:           arith.extsi %{{.+}} : i32 to i64
// CHECK:           arith.extui %{{.+}} : i32 to i64
// CHECK:           arith.xori
// CHECK:           arith.select
// CHECK:           arith.cmpi slt
// CHECK:           mask.yield
// CHECK-NEXT:    } {note = "all ops"}
sattn.kernel @predicate_ops(dtype = f16, head_dim = 64, heads = 2, kv_heads = 1, scale = 1.0) {
  %p = mask.predicate(%b, %h, %q, %k) {
    %c3 = arith.constant 3 : index
    %a = arith.addi %q, %k : index
    %s = arith.subi %q, %k : index
    %m = arith.muli %a, %c3 : index
    %d1 = arith.divsi %m, %c3 : index
    %d2 = arith.divui %d1, %c3 : index
    %d3 = arith.floordivsi %s, %c3 : index
    %d4 = arith.ceildivsi %d3, %c3 : index
    %r1 = arith.remsi %d4, %c3 : index
    %r2 = arith.remui %r1, %c3 : index
    %x1 = arith.minsi %r2, %d2 : index
    %x2 = arith.maxsi %x1, %h : index
    %x3 = arith.minui %x2, %b : index
    %x4 = arith.maxui %x3, %c3 : index
    %abs = math.absi %s : index
    %i64 = arith.index_cast %abs : index to i64
    %i32 = arith.trunci %i64 : i64 to i32
    %e1 = arith.extsi %i32 : i32 to i64
    %e2 = arith.extui %i32 : i32 to i64
    %xo = arith.xori %e1, %e2 : i64
    %back = arith.index_cast %xo : i64 to index
    %sel_c = arith.cmpi sgt, %back, %x4 : index
    %sel = arith.select %sel_c, %back, %x4 : index
    %lt = arith.cmpi slt, %sel, %c3 : index
    mask.yield %lt
  } {note = "all ops"}
  sattn.yield %p
}

// Discardable attributes survive on every kind of op.
// CHECK-LABEL: sattn.kernel @attributes
// CHECK-NEXT:    mask.table @t : i1 ["k/16"] {origin = "spec"}
// CHECK-NEXT:    mask.causal {origin = "spec"}
// CHECK-NEXT:    mask.window 8 symmetric {origin = "spec"}
// CHECK-NEXT:    mask.strided_blocks block 64 local 1 vert_stride 2 offset 0 dense_heads 1 per_kv_group {origin = "spec"}
// CHECK-NEXT:    mask.union %{{.+}}, %{{.+}} {origin = "spec"}
sattn.kernel @attributes(dtype = bf16, head_dim = 256, heads = 4, kv_heads = 2, scale = 0.0625) {
  mask.table @t : i1 ["k/16"] {origin = "spec"}
  %c = mask.causal {origin = "spec"}
  %w = mask.window 8 symmetric {origin = "spec"}
  %s = mask.strided_blocks block 64 local 1 vert_stride 2 offset 0 dense_heads 1 per_kv_group {origin = "spec"}
  %u = mask.union %c, %w {origin = "spec"}
  sattn.yield %u
}

// Masks need not live in a kernel: module-level and function-level masks
// (e.g. shared definitions, test harnesses) parse and print the same way.
// CHECK-LABEL: func.func @masks_in_func
// CHECK-NEXT:    %[[C:.+]] = mask.causal
// CHECK-NEXT:    %[[P:.+]] = mask.predicate(%b, %h, %q, %k) {
// CHECK-NEXT:      %[[T:.+]] = arith.cmpi eq, %h, %b : index
// CHECK-NEXT:      mask.yield %[[T]]
// CHECK-NEXT:    }
// CHECK-NEXT:    mask.intersect %[[C]], %[[P]]
func.func @masks_in_func() -> !mask.mask {
  %c = mask.causal
  %p = mask.predicate(%x, %y, %z, %w) {
    %t = arith.cmpi eq, %y, %x : index
    mask.yield %t
  }
  %i = mask.intersect %c, %p
  return %i : !mask.mask
}
