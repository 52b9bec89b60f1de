//===- MaskFolds.cpp - folders of the mask combinators --------------------===//
//
// Folds that return an existing value: a one-operand union/intersect is its
// operand, `full` absorbs a union, `empty` absorbs an intersection, and a
// double complement cancels. Everything that must build new ops lives in
// MaskCanonicalize.cpp.
//
//===----------------------------------------------------------------------===//

#include "Mask/IR/MaskOps.h"

using namespace mlir;
using namespace sattn::mask;

template <typename AbsorbingOp>
static OpFoldResult foldCombinator(ValueRange inputs) {
  if (inputs.size() == 1)
    return inputs.front();
  for (Value v : inputs)
    if (v.getDefiningOp<AbsorbingOp>())
      return v;
  return {};
}

OpFoldResult UnionOp::fold(FoldAdaptor) {
  return foldCombinator<FullOp>(getInputs());
}

OpFoldResult IntersectOp::fold(FoldAdaptor) {
  return foldCombinator<EmptyOp>(getInputs());
}

OpFoldResult ComplementOp::fold(FoldAdaptor) {
  if (auto inner = getInput().getDefiningOp<ComplementOp>())
    return inner.getInput();
  return {};
}
