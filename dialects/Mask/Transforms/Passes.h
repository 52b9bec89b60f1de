//===- Passes.h - mask dialect passes -------------------------*- C++ -*-===//
//
// Declarations and registration of the mask dialect's passes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_TRANSFORMS_PASSES_H
#define SATTN_MASK_TRANSFORMS_PASSES_H

#include "Mask/IR/MaskOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace sattn::mask {
#define GEN_PASS_DECL
#include "Mask/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "Mask/Transforms/Passes.h.inc"

/// The rewrites of sattn-expand-masks: each static named pattern into the
/// `mask.predicate` of its definition, one pattern per op. Apply them with
/// walkAndApplyPatterns (one walk, no folding) to get the pass's result.
void populateExpandMaskPatterns(mlir::RewritePatternSet &patterns);
} // namespace sattn::mask

#endif // SATTN_MASK_TRANSFORMS_PASSES_H
