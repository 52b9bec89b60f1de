// REQUIRES: python-numpy
// RUN: sattn-mask-grid %s --lq 37 --lk 50 --batch 2 --seed 3 | %python %S/check_mask_program.py | FileCheck %s
// RUN: sattn-mask-grid %s --lq 64 --lk 64 --batch 1 --seed 4 | %python %S/check_mask_program.py | FileCheck %s

// The Python interpreter of compiled mask programs agrees with the C++
// reference evaluator on every (b, h, q, k) for every node kind and every
// predicate opcode, with random runtime tables.

// CHECK: ok named
// CHECK: ok combinators
// CHECK: ok s2
// CHECK: ok tables
// CHECK: ok predicate_ops
// CHECK: ok unsigned_and_narrow

sattn.kernel @named(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 7
  %ws = mask.window 3 symmetric
  %s = mask.sink 5
  %t = mask.tail_queries 4
  %st = mask.strided stride 4 offset affine_map<(h) -> ((h floordiv 2) * 3 + 1)>
  %d = mask.dilated window 3 dilation 4
  %p = mask.power block 4 window 2 sink 1
  %pre = mask.prefix 6
  %u = mask.union %w, %ws, %s, %t, %st, %d, %p, %pre
  %m = mask.intersect %c, %u
  sattn.yield %u
}

sattn.kernel @combinators(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 9
  %n = mask.complement %w
  %f = mask.full
  %e = mask.empty
  %i = mask.intersect %c, %n
  %u = mask.union %i, %e
  %ph = mask.per_head %u, %f, %w, %e assign [0, 1, 2, 3]
  sattn.yield %ph
}

sattn.kernel @s2(dtype = bf16, head_dim = 64, heads = 8, kv_heads = 2, scale = 0.125) {
  %m = mask.strided_blocks block 4 local 2 vert_stride 3 offset 1 dense_heads 1 per_kv_group
  sattn.yield %m
}

sattn.kernel @tables(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  mask.table @keep : i1 ["h", "q/8", "k/8"]
  %c = mask.causal
  %d = mask.document @doc
  %bt = mask.block_table @keep block 8
  %u = mask.union %d, %bt
  %m = mask.intersect %c, %u
  sattn.yield %m
}

sattn.kernel @predicate_ops(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @g : i1 ["k"]
  mask.table @ids : i64 ["b", "q/4"]
  %m = mask.predicate(%b, %h, %q, %k) {
    %c0 = arith.constant 0 : index
    %c3 = arith.constant 3 : index
    %c7 = arith.constant 7 : index
    %cm5 = arith.constant -5 : index
    %d = arith.subi %q, %k : index
    %a = math.absi %d : index
    %near = arith.cmpi sle, %a, %c7 : index
    %fd = arith.floordivsi %d, %c3 : index
    %cd = arith.ceildivsi %d, %cm5 : index
    %ds = arith.divsi %d, %c0 : index
    %rs = arith.remsi %d, %c3 : index
    %mn = arith.minsi %fd, %cd : index
    %mx = arith.maxsi %mn, %rs : index
    %sum = arith.addi %mx, %ds : index
    %prod = arith.muli %sum, %h : index
    %odd = arith.cmpi ne, %prod, %c0 : index
    %g = mask.lookup @g[%k] : i1
    %q4 = arith.floordivsi %q, %c3 : index
    %id = mask.lookup @ids[%b, %q4] : index
    %pos = arith.cmpi sgt, %id, %c0 : index
    %sel = arith.select %pos, %g, %odd : i1
    %x = arith.xori %sel, %near : i1
    %y = arith.ori %x, %g : i1
    %z = arith.andi %y, %pos : i1
    %r = arith.ori %z, %near : i1
    mask.yield %r
  }
  sattn.yield %m
}

sattn.kernel @unsigned_and_narrow(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.predicate(%b, %h, %q, %k) {
    %c5 = arith.constant 5 : index
    %cm1 = arith.constant -1 : index
    %d = arith.subi %q, %k : index
    %du = arith.divui %d, %c5 : index
    %ru = arith.remui %d, %c5 : index
    %mu = arith.minui %d, %cm1 : index
    %xu = arith.maxui %du, %ru : index
    %lt = arith.cmpi ult, %mu, %c5 : index
    %t = arith.index_cast %d : index to i32
    %c2 = arith.constant 2 : i32
    %t2 = arith.muli %t, %c2 : i32
    %e = arith.extsi %t2 : i32 to i64
    %z = arith.constant 0 : i64
    %neg = arith.cmpi slt, %e, %z : i64
    %x = arith.xori %lt, %neg : i1
    %ge = arith.cmpi uge, %xu, %c5 : index
    %r = arith.ori %x, %ge : i1
    mask.yield %r
  }
  sattn.yield %m
}
