//===- Passes.td - mask dialect passes ---------------------*- tablegen -*-===//
//
// Passes over the mask algebra. They run on any op and rewrite the masks
// nested in it (typically a module of sattn.kernel ops).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_TRANSFORMS_PASSES_TD
#define SATTN_MASK_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def NormalizeMasks : Pass<"sattn-normalize-masks"> {
  let summary = "Bring masks to normal form (algebra + dead-code removal)";
  let description = [{
    Applies the mask dialect's canonicalisation patterns (idempotence,
    identities, absorption, window/sink merging, causal factoring) and
    erases mask ops whose results are unused, so that tile planning sees
    the smallest set of named patterns.
  }];
  let dependentDialects = ["::sattn::mask::MaskDialect"];
}

def ExpandMasks : Pass<"sattn-expand-masks"> {
  let summary = "Rewrite static named patterns into equivalent mask.predicate ops";
  let description = [{
    Replaces causal, window (both forms), sink, strided, strided_blocks,
    dilated, power, prefix, document and block_table by a `mask.predicate`
    whose body computes the pattern's definition (docs/MASK_SEMANTICS.md)
    with arith ops, `math.absi` and `mask.lookup`. The result keeps exactly
    the same pairs for every input, as the reference evaluator checks.

    Left unexpanded: `mask.tail_queries`, whose definition `q >= Lk - N`
    reads the key length Lk, which a predicate cannot see (its arguments
    are only b, h, q, k); `mask.strided_blocks` outside a `sattn.kernel`,
    since its step and head grouping come from the kernel's `heads` and
    `kv_heads`; dynamic patterns, which have no static definition; and
    combinators, per_head and existing predicates.
  }];
  let dependentDialects = ["::sattn::mask::MaskDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

#endif // SATTN_MASK_TRANSFORMS_PASSES_TD
