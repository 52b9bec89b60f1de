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

#endif // SATTN_MASK_TRANSFORMS_PASSES_TD
