//===- NormalizeMasks.cpp - sattn-normalize-masks -------------------------===//
//
// Runs the mask canonicalisation patterns greedily. Only mask-dialect
// patterns are collected, so the pass never touches unrelated IR.
//
//===----------------------------------------------------------------------===//

#include "Mask/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace sattn::mask {
#define GEN_PASS_DEF_NORMALIZEMASKS
#include "Mask/Transforms/Passes.h.inc"
} // namespace sattn::mask

using namespace mlir;
using namespace sattn::mask;

namespace {
struct NormalizeMasksPass
    : public sattn::mask::impl::NormalizeMasksBase<NormalizeMasksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    MaskDialect *dialect = getContext().getLoadedDialect<MaskDialect>();
    dialect->getCanonicalizationPatterns(patterns);
    // getRegisteredOperationsByDialect() relies on a sorted op list that
    // MLIR 22 does not maintain, so filter the full list instead.
    for (RegisteredOperationName op : getContext().getRegisteredOperations())
      if (op.getDialectNamespace() == MaskDialect::getDialectNamespace())
        op.getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
