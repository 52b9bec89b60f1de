// Malformed IR makes sparse-opt exit non-zero with a diagnostic, never a crash
// (`not` fails on a crash, and a crash prints a stack dump), with or without
// passes to run.

// RUN: not sparse-opt %s -split-input-file 2>&1 \
// RUN:   | FileCheck %s --implicit-check-not="Stack dump" --implicit-check-not=PLEASE
// RUN: not sparse-opt %s -split-input-file --sattn-normalize-masks 2>&1 \
// RUN:   | FileCheck %s --implicit-check-not="Stack dump" --implicit-check-not=PLEASE
// RUN: not sparse-opt %s -split-input-file --canonicalize 2>&1 \
// RUN:   | FileCheck %s --implicit-check-not="Stack dump" --implicit-check-not=PLEASE

// Truncated and binary input on stdin.
// RUN: printf 'sattn.kernel @k(dtype = bf16, head_dim' | not sparse-opt 2>&1 \
// RUN:   | FileCheck %s --check-prefix=TRUNC --implicit-check-not="Stack dump"
// TRUNC: error: expected '='
// RUN: printf '\377\376\000garbage' | not sparse-opt 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BINARY --implicit-check-not="Stack dump"
// BINARY: error:

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: custom op 'mask.bogus' is unknown
%x = mask.bogus

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: expected attribute value
%w = mask.window

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: integer constant out of range for attribute
%w = mask.window 99999999999999999999

// -----

// A kernel without its body.
// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: expected '{' to begin a region
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125)

// -----

// An unterminated region.
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
// CHECK: invalid-ir.mlir:[[@LINE-1]]:{{[0-9]+}}: error: expected operation name in quotes

// -----

// Generic forms with missing regions and attributes reach the verifier, which
// must not touch the missing parts.
// CHECK: invalid-ir.mlir:[[@LINE+1]]:1: error: 'sattn.kernel' op requires one region
"sattn.kernel"() <{sym_name = "k", dtype = bf16, head_dim = 128 : i64, heads = 4 : i64, kv_heads = 4 : i64, scale = 0.125 : f64}> : () -> ()

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: 'mask.predicate' op requires one region
%p = "mask.predicate"() : () -> !mask.mask

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: 'mask.predicate' op expects a non-empty block
%p = "mask.predicate"() ({
^bb0(%b: index, %h: index, %q: index, %k: index):
}) : () -> !mask.mask

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:1: error: 'sattn.kernel' op requires attribute 'dtype'
"sattn.kernel"() ({
  %c = "mask.causal"() : () -> !mask.mask
  "sattn.yield"(%c) : (!mask.mask) -> ()
}) : () -> ()

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: 'mask.document' op requires attribute 'table'
%d = "mask.document"() : () -> !mask.mask

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: invalid properties {offset = 3 : i64, stride = 8 : i64} for op mask.strided
%s = "mask.strided"() <{stride = 8 : i64, offset = 3 : i64}> : () -> !mask.mask

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: expected ')' in argument list
%p = mask.predicate(%b: index, %h, %q, %k) {
}

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: custom op 'mask.predicate' expected four index arguments (b, h, q, k)
%p = mask.predicate() {
  %t = arith.constant true
  mask.yield %t
}

// -----

// CHECK: invalid-ir.mlir:[[@LINE+2]]:{{[0-9]+}}: error: use of undeclared SSA value name
%c = mask.causal
%u = mask.union %c, %missing

// -----

// CHECK: invalid-ir.mlir:[[@LINE+1]]:{{[0-9]+}}: error: invalid properties {{.*}} for op mask.block_topk: Invalid attribute `scorer`
%m = "mask.block_topk"() <{scorer = 7 : i32, block_size = 64 : i64, top_k = 4 : i64}> : () -> !mask.mask

// -----

// Verifier errors also end the run before any pass.
// CHECK: invalid-ir.mlir:[[@LINE+1]]:1: error: 'sattn.kernel' op kv_heads must be between 1 and 4096, got 0
sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 0, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}
