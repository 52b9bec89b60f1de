// RUN: sparse-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect

// One case per verifier diagnostic of the mask dialect (MaskOps.cpp). Masks
// that need no kernel are written at module level; the checks against the
// kernel's head counts are in test/Dialect/SparseAttn/invalid.mlir.

//===----------------------------------------------------------------------===//
// Named static patterns
//===----------------------------------------------------------------------===//

// expected-error @+1 {{'mask.window' op 'size' must be positive, got 0}}
%w = mask.window 0

// -----

// expected-error @+1 {{'mask.window' op 'size' must be positive, got -4}}
%w = mask.window -4

// -----

// A symmetric window is a radius: 0 is valid (the diagonal), negative is not.
// expected-error @+1 {{'mask.window' op 'size' must be non-negative, got -1}}
%w = mask.window -1 symmetric

// -----

// expected-error @+1 {{'mask.sink' op 'count' must be positive, got 0}}
%s = mask.sink 0

// -----

// Pattern arguments are bounded by the one limit of sattn/Core/Limits.h:
// past it the planner's arithmetic on them could overflow.
// expected-error @+1 {{'mask.window' op 'size' must be at most 1073741824, got 9223372036854775807}}
%w = mask.window 9223372036854775807 symmetric

// -----

// expected-error @+1 {{'mask.sink' op 'count' must be at most 1073741824, got 1073741825}}
%s = mask.sink 1073741825

// -----

// expected-error @+1 {{'mask.power' op 'window' must be at most 1073741824, got 4611686018427387904}}
%p = mask.power block 64 window 4611686018427387904 sink 1

// -----

// expected-error @+1 {{'mask.tail_queries' op 'count' must be positive, got -3}}
%t = mask.tail_queries -3

// -----

// expected-error @+1 {{'mask.strided' op 'stride' must be positive, got 0}}
%s = mask.strided stride 0 offset affine_map<(h) -> (h)>

// -----

// expected-error @+1 {{'mask.strided' op 'offset' must be a head expression: an affine map of one dimension (h) with one result, got affine_map<(d0, d1) -> (d0 + d1)>}}
%s = mask.strided stride 8 offset affine_map<(h, x) -> (h + x)>

// -----

// expected-error @+1 {{'mask.strided' op 'offset' must be a head expression: an affine map of one dimension (h) with one result, got affine_map<() -> (3)>}}
%s = mask.strided stride 8 offset affine_map<() -> (3)>

// -----

// expected-error @+1 {{'mask.strided' op 'offset' must be a head expression: an affine map of one dimension (h) with one result, got affine_map<(d0) -> (d0, d0 + 1)>}}
%s = mask.strided stride 8 offset affine_map<(h) -> (h, h + 1)>

// -----

// expected-error @+1 {{'mask.strided' op 'offset' must be a head expression: an affine map of one dimension (h) with one result, got affine_map<(d0)[s0] -> (d0 + s0)>}}
%s = mask.strided stride 8 offset affine_map<(h)[s] -> (h + s)>

// -----

// expected-error @+1 {{'mask.strided_blocks' op 'block' must be positive, got 0}}
%s = mask.strided_blocks block 0 local 4 vert_stride 8 offset 0 dense_heads 0

// -----

// expected-error @+1 {{'mask.strided_blocks' op 'local' must be non-negative, got -1}}
%s = mask.strided_blocks block 64 local -1 vert_stride 8 offset 0 dense_heads 0

// -----

// expected-error @+1 {{'mask.strided_blocks' op 'vert_stride' must be positive, got 0}}
%s = mask.strided_blocks block 64 local 4 vert_stride 0 offset 0 dense_heads 0

// -----

// expected-error @+1 {{'mask.strided_blocks' op 'dense_heads' must be non-negative, got -2}}
%s = mask.strided_blocks block 64 local 4 vert_stride 8 offset 0 dense_heads -2 per_kv_group

// -----

// expected-error @+1 {{'mask.dilated' op 'window' must be positive, got 0}}
%d = mask.dilated window 0 dilation 2

// -----

// expected-error @+1 {{'mask.dilated' op 'dilation' must be positive, got 0}}
%d = mask.dilated window 64 dilation 0

// -----

// expected-error @+1 {{'mask.power' op 'block' must be positive, got 0}}
%p = mask.power block 0 window 5 sink 1

// -----

// expected-error @+1 {{'mask.power' op 'window' must be non-negative, got -5}}
%p = mask.power block 64 window -5 sink 1

// -----

// expected-error @+1 {{'mask.power' op 'sink' must be non-negative, got -1}}
%p = mask.power block 64 window 5 sink -1

// -----

// expected-error @+1 {{'mask.prefix' op 'length' must be non-negative, got -1}}
%p = mask.prefix -1

//===----------------------------------------------------------------------===//
// Runtime tables: declarations
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{'mask.table' op element type must be i1, i32 or i64, got 'f32'}}
mask.table @t : f32 ["k"]

// -----

// expected-error @+1 {{'mask.table' op element type must be i1, i32 or i64, got 'i8'}}
mask.table @t : i8 ["k"]

// -----

// expected-error @+1 {{'mask.table' op needs at least one dimension}}
mask.table @t : i1 []

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "x": expected b, h, q, k, h/N, q/N, k/N or a positive integer}}
mask.table @t : i1 ["h", "x"]

// -----

// The limits the spec and the runtime enforce hold in the IR too.
// expected-error @+1 {{'mask.table' op a table has 1 to 4 dimensions, got 5}}
mask.table @t : i1 ["b", "h", "q", "k", "2"]

// -----

// expected-error @+1 {{'mask.table' op the fixed extents of a table must be positive with a product of at most 2147483647}}
mask.table @t : i32 ["99999999999", "99999999999", "99999999999"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "q/0": expected b, h, q, k, h/N, q/N, k/N or a positive integer}}
mask.table @t : i1 ["q/0"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "h/0"}}
mask.table @t : i1 ["h/0"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "k/-64"}}
mask.table @t : i1 ["k/-64"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "k64"}}
mask.table @t : i1 ["k64"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "q/"}}
mask.table @t : i1 ["q/"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "0"}}
mask.table @t : i32 ["0"]

// -----

// expected-error @+1 {{'mask.table' op unknown dimension "-2"}}
mask.table @t : i32 ["-2", "k"]

// -----

mask.table @t : i1 ["k"]
// expected-error @+2 {{redefinition of symbol named 't'}}
// expected-note @-2 {{see existing symbol definition here}}
mask.table @t : i1 ["q"]

//===----------------------------------------------------------------------===//
// Runtime tables: users
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{'mask.document' op uses table @ids but no 'mask.table' declares it}}
%d = mask.document @ids

// -----

// A symbol that exists but is not a table.
// expected-note @+1 {{@ids is declared here}}
func.func private @ids()
// expected-error @+1 {{'mask.document' op uses @ids as a table but it names a 'func.func', not a 'mask.table'}}
%d = mask.document @ids

// -----

mask.table @ids : i1 ["b", "k"]
// expected-error @+1 {{'mask.document' op document ids table @ids must hold i32 or i64, got 'i1'}}
%d = mask.document @ids

// -----

mask.table @ids : i32 ["b", "k", "h"]
// expected-error @+1 {{'mask.document' op document ids table @ids must have dims ["k"] or ["b", "k"], got ["b", "k", "h"]}}
%d = mask.document @ids

// -----

mask.table @ids : i32 ["h", "k"]
// expected-error @+1 {{'mask.document' op document ids table @ids must have dims ["k"] or ["b", "k"], got ["h", "k"]}}
%d = mask.document @ids

// -----

mask.table @ids : i64 ["k", "b"]
// expected-error @+1 {{must have dims ["k"] or ["b", "k"], got ["k", "b"]}}
%d = mask.document @ids

// -----

// Ids are per position, not per block.
mask.table @ids : i64 ["b", "k/64"]
// expected-error @+1 {{must have dims ["k"] or ["b", "k"], got ["b", "k/64"]}}
%d = mask.document @ids

// -----

mask.table @ids : i64 ["16"]
// expected-error @+1 {{must have dims ["k"] or ["b", "k"], got ["16"]}}
%d = mask.document @ids

// -----

// expected-error @+1 {{'mask.block_table' op 'block' must be positive, got 0}}
%b = mask.block_table @keep block 0

// -----

// expected-error @+1 {{'mask.block_table' op uses table @keep but no 'mask.table' declares it}}
%b = mask.block_table @keep block 64

// -----

// expected-note @+1 {{@keep is declared here}}
sattn.kernel @keep(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}
// expected-error @+1 {{'mask.block_table' op uses @keep as a table but it names a 'sattn.kernel', not a 'mask.table'}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i32 ["h", "q/64", "k/64"]
// expected-error @+1 {{'mask.block_table' op block table @keep must hold i1, got 'i32'}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i1 ["q/64", "k/64"]
// expected-error @+1 {{'mask.block_table' op block table @keep must have dims ["h", "q/64", "k/64"], got ["q/64", "k/64"]}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i1 ["h", "q/32", "k/64"]
// expected-error @+1 {{'mask.block_table' op block table @keep must have dims ["h", "q/64", "k/64"], got ["h", "q/32", "k/64"]}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i1 ["h", "q/128", "k/128"]
// expected-error @+1 {{block table @keep must have dims ["h", "q/64", "k/64"], got ["h", "q/128", "k/128"]}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i1 ["h", "k/64", "q/64"]
// expected-error @+1 {{block table @keep must have dims ["h", "q/64", "k/64"], got ["h", "k/64", "q/64"]}}
%b = mask.block_table @keep block 64

// -----

mask.table @keep : i1 ["b", "q/64", "k/64"]
// expected-error @+1 {{block table @keep must have dims ["h", "q/64", "k/64"], got ["b", "q/64", "k/64"]}}
%b = mask.block_table @keep block 64

// -----

// Tables are visible only in the symbol table that declares them: a kernel
// does not see the module's tables.
mask.table @keep : i1 ["h", "q/64", "k/64"]
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  // expected-error @+1 {{'mask.block_table' op uses table @keep but no 'mask.table' declares it}}
  %b = mask.block_table @keep block 64
  sattn.yield %b
}

//===----------------------------------------------------------------------===//
// Dynamic patterns
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'vertical' must be non-negative, got -1}}
%v = mask.vertical_slash vertical -1 slash 10 last_q 64 forced (0, 0) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'slash' must be non-negative, got -1}}
%v = mask.vertical_slash vertical 10 slash -1 last_q 64 forced (0, 0) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'last_q' must be positive, got 0}}
%v = mask.vertical_slash vertical 10 slash 10 last_q 0 forced (0, 0) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'forced vertical' must be non-negative, got -1}}
%v = mask.vertical_slash vertical 10 slash 10 last_q 64 forced (-1, 0) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'forced slash' must be non-negative, got -1}}
%v = mask.vertical_slash vertical 10 slash 10 last_q 64 forced (0, -1) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op 'block' must be positive, got 0}}
%v = mask.vertical_slash vertical 10 slash 10 last_q 64 forced (0, 0) block 0

// -----

// expected-error @+1 {{'mask.vertical_slash' op keeps nothing: 'vertical' and 'slash' are both 0}}
%v = mask.vertical_slash vertical 0 slash 0 last_q 64 forced (0, 0) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op forces 30 vertical columns but keeps only 20}}
%v = mask.vertical_slash vertical 20 slash 100 last_q 64 forced (30, 100) block 64

// -----

// expected-error @+1 {{'mask.vertical_slash' op forces 101 slash diagonals but keeps only 100}}
%v = mask.vertical_slash vertical 1000 slash 100 last_q 64 forced (30, 101) block 64

// -----

// expected-error @+1 {{'mask.block_topk' op 'block' must be positive, got 0}}
%b = mask.block_topk mean_pool block 0 {top_k = 4 : i64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'top_k' must be positive, got 0}}
%b = mask.block_topk mean_pool block 64 {top_k = 0 : i64}

// -----

// 'top_k' is a signed i64: -1 is not read as a huge unsigned count.
// expected-error @+1 {{'mask.block_topk' op 'top_k' must be positive, got -1}}
%b = mask.block_topk mean_pool block 64 {top_k = -1 : i64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'tau' must be in (0, 1], got 0}}
%b = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 0.0 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'tau' must be in (0, 1], got 1.5}}
%b = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 1.5 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op needs exactly one of 'top_k' and 'tau'}}
%b = mask.block_topk mean_pool block 64

// -----

// expected-error @+1 {{'mask.block_topk' op needs exactly one of 'top_k' and 'tau'}}
%b = mask.block_topk antidiagonal block 128 {stride = 8 : i64, top_k = 4 : i64, tau = 0.9 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'stride' applies only to the antidiagonal scorer}}
%b = mask.block_topk mean_pool block 64 {stride = 8 : i64, top_k = 4 : i64}

// -----

// expected-error @+1 {{'mask.block_topk' op the mean_pool scorer selects by 'top_k', not 'tau'}}
%b = mask.block_topk mean_pool block 64 {tau = 0.9 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op the antidiagonal scorer needs a 'stride'}}
%b = mask.block_topk antidiagonal block 128 {tau = 0.9 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'stride' must be positive and divide the block size 128, got 0}}
%b = mask.block_topk antidiagonal block 128 {stride = 0 : i64, tau = 0.9 : f64}

// -----

// expected-error @+1 {{'mask.block_topk' op 'stride' must be positive and divide the block size 128, got 48}}
%b = mask.block_topk antidiagonal block 128 {stride = 48 : i64, top_k = 8 : i64}

// -----

// expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'scorer' [mean_pool, antidiagonal]}}
%b = mask.block_topk max_pool block 64 {top_k = 4 : i64}

// -----

// expected-error @+1 {{'mask.gate' op 'block' must be positive, got 0}}
%g = mask.gate block 0 hidden 128 {threshold = 0.001 : f64}

// -----

// expected-error @+1 {{'mask.gate' op 'hidden' must be positive, got -128}}
%g = mask.gate block 64 hidden -128 {threshold = 0.001 : f64}

// -----

// expected-error @+1 {{'mask.gate' op needs exactly one of 'threshold' and 'top_ratio'}}
%g = mask.gate block 64 hidden 128

// -----

// expected-error @+1 {{'mask.gate' op needs exactly one of 'threshold' and 'top_ratio'}}
%g = mask.gate block 64 hidden 128 {threshold = 0.001 : f64, top_ratio = 0.5 : f64}

// -----

// expected-error @+1 {{'mask.gate' op 'threshold' must be in (0, 1), got 0}}
%g = mask.gate block 64 hidden 128 {threshold = 0.0 : f64}

// -----

// expected-error @+1 {{'mask.gate' op 'threshold' must be in (0, 1), got 1}}
%g = mask.gate block 64 hidden 128 {threshold = 1.0 : f64}

// -----

// expected-error @+1 {{'mask.gate' op 'top_ratio' must be in (0, 1], got 0}}
%g = mask.gate block 64 hidden 128 {top_ratio = 0.0 : f64}

// -----

// expected-error @+1 {{'mask.gate' op 'top_ratio' must be in (0, 1], got 1.25}}
%g = mask.gate block 64 hidden 128 {top_ratio = 1.25 : f64}

// -----

// expected-error @+1 {{'mask.stripe' op 'group' must be positive, got 0}}
%s = mask.stripe group 0 block 128 step 16 theta 12.0

// -----

// expected-error @+1 {{'mask.stripe' op 'block' must be positive, got 0}}
%s = mask.stripe group 2048 block 0 step 16 theta 12.0

// -----

// expected-error @+1 {{'mask.stripe' op 'step' must be positive, got 0}}
%s = mask.stripe group 2048 block 128 step 0 theta 12.0

// -----

// expected-error @+1 {{'mask.stripe' op 'group' (2000) must be a multiple of 'block' (128)}}
%s = mask.stripe group 2000 block 128 step 16 theta 12.0

// -----

// expected-error @+1 {{'mask.stripe' op 'group' (2048) must be a multiple of 'block' x 'step' (128 x 32): a selection of 'step' query blocks lies in one group}}
%s = mask.stripe group 2048 block 128 step 32 theta 12.0

// -----

// expected-error @+1 {{'mask.stripe' op 'theta' must be positive, got 0}}
%s = mask.stripe group 2048 block 128 step 16 theta 0.0

// -----

// expected-error @+1 {{'mask.stripe' op 'theta' must be positive, got -1}}
%s = mask.stripe group 2048 block 128 step 16 theta -1.0

// -----

// expected-error @+1 {{'mask.nsa' op 'compress block' must be positive, got 0}}
%n = mask.nsa compress (0, 16) select (64, 16) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op 'compress stride' must be positive, got 0}}
%n = mask.nsa compress (32, 0) select (64, 16) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op 'select block' must be positive, got 0}}
%n = mask.nsa compress (32, 16) select (0, 16) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op 'select count' must be positive, got 0}}
%n = mask.nsa compress (32, 16) select (64, 0) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op 'window' must be non-negative, got -512}}
%n = mask.nsa compress (32, 16) select (64, 16) window -512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op 'local' must be non-negative, got -1}}
%n = mask.nsa compress (32, 16) select (64, 16) window 512 local -1

// -----

// expected-error @+1 {{'mask.nsa' op compress stride 64 exceeds compress block 32: keys between blocks would never be seen}}
%n = mask.nsa compress (32, 64) select (64, 16) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op select block 40 must be a multiple of the compress stride 16}}
%n = mask.nsa compress (32, 16) select (40, 16) window 512 local 2

// -----

// expected-error @+1 {{'mask.nsa' op forces block 0 and 2 local blocks but selects only 2}}
%n = mask.nsa compress (32, 16) select (64, 2) window 512 local 2

//===----------------------------------------------------------------------===//
// Combinators
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{'mask.union' op needs at least one operand}}
%u = mask.union

// -----

// expected-error @+1 {{'mask.intersect' op needs at least one operand}}
%i = mask.intersect

// -----

// expected-error @+1 {{'mask.per_head' op needs at least one operand}}
%p = mask.per_head assign [0, 0]

// -----

%c = mask.causal
// expected-error @+1 {{'mask.per_head' op 'assign' must name a mask for every head}}
%p = mask.per_head %c assign []

// -----

%c = mask.causal
%w = mask.window 16
// expected-error @+1 {{'mask.per_head' op head 2 is assigned mask 2 but only 2 are given}}
%p = mask.per_head %c, %w assign [0, 1, 2, 0]

// -----

%c = mask.causal
// expected-error @+1 {{'mask.per_head' op head 1 is assigned mask -1 but only 1 are given}}
%p = mask.per_head %c assign [0, -1]

// -----

%c = mask.causal
// expected-error @+1 {{'mask.complement' op requires a single operand}}
%n = "mask.complement"(%c, %c) : (!mask.mask, !mask.mask) -> !mask.mask

//===----------------------------------------------------------------------===//
// Lookups
//===----------------------------------------------------------------------===//

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op uses table @g but no 'mask.table' declares it}}
  %g = mask.lookup @g[%k] : i1
  mask.yield %g
}

// -----

// expected-note @+1 {{@g is declared here}}
func.func private @g()
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op uses @g as a table but it names a 'func.func', not a 'mask.table'}}
  %g = mask.lookup @g[%k] : i1
  mask.yield %g
}

// -----

mask.table @g : i1 ["h", "k"]
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op indexes table @g with 1 indices but it has 2 dimensions}}
  %g = mask.lookup @g[%k] : i1
  mask.yield %g
}

// -----

mask.table @g : i1 ["k"]
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op indexes table @g with 3 indices but it has 1 dimensions}}
  %g = mask.lookup @g[%b, %h, %k] : i1
  mask.yield %g
}

// -----

mask.table @g : i1 ["k"]
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op reads table @g of 'i1' as 'index'; expected 'i1'}}
  %g = mask.lookup @g[%k] : index
  %z = arith.cmpi eq, %g, %q : index
  mask.yield %z
}

// -----

mask.table @ids : i64 ["b", "k"]
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op reads table @ids of 'i64' as 'i1'; expected 'index'}}
  %g = mask.lookup @ids[%b, %k] : i1
  mask.yield %g
}

// -----

mask.table @ids : i32 ["k"]
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.lookup' op result #0 must be 1-bit signless integer or index, but got 'i32'}}
  %g = mask.lookup @ids[%k] : i32
  %t = arith.trunci %g : i32 to i1
  mask.yield %t
}

// -----

// A lookup has no meaning outside a predicate body.
mask.table @g : i1 ["k"]
func.func @outside(%k: index) -> i1 {
  // expected-error @+1 {{'mask.lookup' op is only valid inside a 'mask.predicate' body}}
  %g = mask.lookup @g[%k] : i1
  return %g : i1
}

// -----

sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  mask.table @g : i1 ["k"]
  %c0 = "test.index"() : () -> index
  // expected-error @+1 {{'mask.lookup' op is only valid inside a 'mask.predicate' body}}
  %g = mask.lookup @g[%c0] : i1
  %c = mask.causal
  sattn.yield %c
}

//===----------------------------------------------------------------------===//
// Predicates
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{expected four index arguments (b, h, q, k)}}
%p = mask.predicate(%b, %q, %k) {
  %t = arith.cmpi ule, %k, %q : index
  mask.yield %t
}

// -----

// expected-error @+1 {{'mask.predicate' op body must take four index arguments (b, h, q, k)}}
%p = "mask.predicate"() ({
^bb0(%h: index, %q: index, %k: index):
  %t = arith.cmpi ule, %k, %q : index
  "mask.yield"(%t) : (i1) -> ()
}) : () -> !mask.mask

// -----

// expected-error @+1 {{'mask.predicate' op body must take four index arguments (b, h, q, k)}}
%p = "mask.predicate"() ({
^bb0(%b: index, %h: index, %q: i64, %k: i64):
  %t = arith.cmpi ule, %k, %q : i64
  "mask.yield"(%t) : (i1) -> ()
}) : () -> !mask.mask

// -----

// expected-error @+1 {{'mask.predicate' op body must end with 'mask.yield'}}
%p = mask.predicate(%b, %h, %q, %k) {
  %t = arith.cmpi ule, %k, %q : index
}

// -----

// expected-error @+1 {{'mask.predicate' op body must end with 'mask.yield'}}
%p = mask.predicate(%b, %h, %q, %k) {
  %t = arith.cmpi ule, %k, %q : index
  "test.terminator"(%t) : (i1) -> ()
}

// -----

// expected-error @+1 {{'mask.predicate' op body must end with 'mask.yield'}}
%p = mask.predicate(%b, %h, %q, %k) {
  %c = mask.causal
  sattn.yield %c
}

// -----

"test.region"() ({
  %t = "test.i1"() : () -> i1
  // expected-error @+1 {{'mask.yield' op expects parent op 'mask.predicate'}}
  mask.yield %t
}) : () -> ()

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.yield' op operand #0 must be 1-bit signless integer, but got 'index'}}
  "mask.yield"(%k) : (index) -> ()
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  %qf = arith.index_cast %q : index to i64
  %kf = arith.index_cast %k : index to i64
  // expected-error @+1 {{'arith.shli' op is not allowed in a mask predicate: only integer arith ops, math.absi and mask.lookup are}}
  %s = arith.shli %qf, %kf : i64
  %z = arith.constant 0 : i64
  %t = arith.cmpi eq, %s, %z : i64
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  %x = arith.constant 1.0 : f32
  // expected-error @+1 {{'arith.addf' op is not allowed in a mask predicate}}
  %y = arith.addf %x, %x : f32
  %t = arith.cmpf olt, %x, %y : f32
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'arith.constant' op produces a value of type 'f32' but a mask predicate computes on index and integers of at most 64 bits only}}
  %x = arith.constant 1.0 : f32
  %t = arith.constant true
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'arith.index_cast' op produces a value of type 'i128' but a mask predicate computes on index and integers of at most 64 bits only}}
  %w = arith.index_cast %q : index to i128
  %z = arith.constant 0 : i128
  %t = arith.cmpi eq, %w, %z : i128
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'arith.constant' op produces a value of type 'vector<2xindex>' but a mask predicate computes on index and integers of at most 64 bits only}}
  %v = arith.constant dense<[1, 2]> : vector<2xindex>
  %t = arith.cmpi ule, %k, %q : index
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  %qi = arith.index_cast %q : index to i64
  // expected-error @+1 {{'math.ctpop' op is not allowed in a mask predicate}}
  %x = math.ctpop %qi : i64
  %t = arith.constant true
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'mask.causal' op is not allowed in a mask predicate}}
  %c = mask.causal
  %t = arith.cmpi ule, %k, %q : index
  mask.yield %t
}

// -----

func.func private @keep(index, index) -> i1
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'func.call' op is not allowed in a mask predicate}}
  %t = func.call @keep(%q, %k) : (index, index) -> i1
  mask.yield %t
}

// -----

%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'test.region' op is not allowed in a mask predicate}}
  %t = "test.region"() ({
    "test.yield"() : () -> ()
  }) : () -> i1
  mask.yield %t
}

// -----

// A predicate is isolated from above: it cannot capture values.
%x = "test.index"() : () -> index
// expected-note @+1 {{required by region isolation constraints}}
%p = mask.predicate(%b, %h, %q, %k) {
  // expected-error @+1 {{'arith.cmpi' op using value defined outside the region}}
  %t = arith.cmpi ule, %k, %x : index
  mask.yield %t
}
