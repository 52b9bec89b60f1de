// RUN: sparse-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect

// One case per verifier diagnostic of sattn.kernel / sattn.yield
// (SparseAttnDialect.cpp), including the mask checks that need the kernel's
// head counts.

//===----------------------------------------------------------------------===//
// Configuration
//===----------------------------------------------------------------------===//

// expected-error @+1 {{'sattn.kernel' op dtype must be bf16 or f16, got 'f32'}}
sattn.kernel @k(dtype = f32, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op dtype must be bf16 or f16, got 'i16'}}
sattn.kernel @k(dtype = i16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op head_dim must be 64, 128 or 256, got 96}}
sattn.kernel @k(dtype = bf16, head_dim = 96, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op head_dim must be 64, 128 or 256, got 0}}
sattn.kernel @k(dtype = bf16, head_dim = 0, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op heads must be between 1 and 4096, got 0}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 0, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// Counts are signed: a negative one is not read as a huge unsigned value.
// expected-error @+1 {{'sattn.kernel' op kv_heads must be between 1 and 4096, got -1}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = -1, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op heads must be between 1 and 4096, got -4}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = -4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op heads (6) must be a multiple of kv_heads (4)}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 6, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// More KV heads than query heads is not GQA.
// expected-error @+1 {{'sattn.kernel' op heads (4) must be a multiple of kv_heads (8)}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 8, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op scale must be positive and finite, got 0}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.0) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op scale must be positive and finite, got -1.250000e-01}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = -0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op scale must be positive and finite, got INF}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0x7FF0000000000000) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{'sattn.kernel' op scale must be positive and finite, got nan}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0x7FF8000000000000) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// expected-error @+1 {{custom op 'sattn.kernel' expected 'dtype'}}
sattn.kernel @k(head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

//===----------------------------------------------------------------------===//
// Body
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{'sattn.kernel' op body must end with 'sattn.yield'}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
}

// -----

// expected-error @+1 {{'sattn.kernel' op body must end with 'sattn.yield'}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  "test.terminator"(%c) : (!mask.mask) -> ()
}

// -----

// expected-error @+1 {{'sattn.kernel' op expects a non-empty block}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
}

// -----

// expected-error @+1 {{'sattn.kernel' op body takes no arguments}}
"sattn.kernel"() <{sym_name = "k", dtype = bf16, head_dim = 128 : i64, heads = 4 : i64, kv_heads = 4 : i64, scale = 0.125 : f64}> ({
^bb0(%m: !mask.mask):
  "sattn.yield"(%m) : (!mask.mask) -> ()
}) : () -> ()

// -----

// expected-error @+1 {{'sattn.kernel' op expects region #0 to have 0 or 1 blocks}}
"sattn.kernel"() <{sym_name = "k", dtype = bf16, head_dim = 128 : i64, heads = 4 : i64, kv_heads = 4 : i64, scale = 0.125 : f64}> ({
  %c = "mask.causal"() : () -> !mask.mask
  "sattn.yield"(%c) : (!mask.mask) -> ()
^bb1:
  %d = "mask.causal"() : () -> !mask.mask
  "sattn.yield"(%d) : (!mask.mask) -> ()
}) : () -> ()

// -----

// A kernel cannot yield a mask defined outside its body: it is isolated from
// above.
%outside = mask.causal
// expected-note @+1 {{required by region isolation constraints}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  // expected-error @+1 {{'sattn.yield' op using value defined outside the region}}
  sattn.yield %outside
}

// -----

// Nor one defined inside a nested region (it does not dominate the yield).
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %p = mask.predicate(%b, %h, %q, %k) {
    %t = arith.cmpi ule, %k, %q : index
    mask.yield %t
  }
  // expected-error @+1 {{use of undeclared SSA value name}}
  sattn.yield %t
}

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %t = "test.i1"() : () -> i1
  // expected-error @+1 {{'sattn.yield' op operand #0 must be mask, but got 'i1'}}
  "sattn.yield"(%t) : (i1) -> ()
}

// -----

%c = mask.causal
// expected-error @+1 {{'sattn.yield' op expects parent op 'sattn.kernel'}}
sattn.yield %c

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  // expected-error @+1 {{'sattn.yield' op must be the last operation in the parent block}}
  sattn.yield %c
  sattn.yield %c
}

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}
// expected-error @+2 {{redefinition of symbol named 'k'}}
// expected-note @-5 {{see existing symbol definition here}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

//===----------------------------------------------------------------------===//
// Mask checks against the kernel's head counts
//===----------------------------------------------------------------------===//

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 64
  // expected-error @+1 {{'mask.per_head' op assigns 3 heads but the kernel has 4}}
  %p = mask.per_head %c, %w assign [0, 1, 0]
  sattn.yield %p
}

// -----

// Too many assignments is as wrong as too few, and the check applies to
// per_head ops the kernel does not yield.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  // expected-error @+1 {{'mask.per_head' op assigns 4 heads but the kernel has 2}}
  %p = mask.per_head %c assign [0, 0, 0, 0]
  sattn.yield %c
}

// -----

// Assignment by KV group is not implied: one entry per query head.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  %w = mask.window 64
  // expected-error @+1 {{'mask.per_head' op assigns 2 heads but the kernel has 8}}
  %p = mask.per_head %c, %w assign [0, 1]
  sattn.yield %p
}

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.125) {
  // expected-error @+1 {{'mask.strided_blocks' op makes 5 heads dense but the kernel has 4 heads}}
  %s = mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 5
  sattn.yield %s
}

// -----

// Under per_kv_group the dense count is of KV heads.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.125) {
  // expected-error @+1 {{'mask.strided_blocks' op makes 3 heads dense but the kernel has 2 KV heads}}
  %s = mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads 3 per_kv_group
  sattn.yield %s
}

// -----

// Mask-level verifiers still run inside a kernel, before the kernel's checks.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  // expected-error @+1 {{'mask.window' op 'size' must be positive, got 0}}
  %w = mask.window 0
  sattn.yield %w
}

// -----

// Tables are declared by the kernel that reads them.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  // expected-error @+1 {{'mask.document' op uses table @ids but no 'mask.table' declares it}}
  %d = mask.document @ids
  sattn.yield %d
}

// -----

// A kernel's tables are not visible to another kernel.
sattn.kernel @a(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @ids : i32 ["k"]
  %d = mask.document @ids
  sattn.yield %d
}
sattn.kernel @b(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %p = mask.predicate(%b, %h, %q, %k) {
    // expected-error @+1 {{'mask.lookup' op uses table @ids but no 'mask.table' declares it}}
    %i = mask.lookup @ids[%k] : index
    %j = mask.lookup @ids[%q] : index
    %t = arith.cmpi eq, %i, %j : index
    mask.yield %t
  }
  sattn.yield %p
}

// -----

// Head counts are bounded as in the spec and the runtime: planning and the
// GPU conversion index heads with 32-bit grid coordinates.
// expected-error @+1 {{'sattn.kernel' op heads must be between 1 and 4096, got 4611686018427387904}}
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4611686018427387904, kv_heads = 1, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}
