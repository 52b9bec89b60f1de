//===- EstimatorTensorLogits.h - estimator logits on tensor cores -*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToGPU: the GPU implementation of
// estimator::TileRunner::tensorLogits (EstimatorTensorLogits.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORTENSORLOGITS_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORTENSORLOGITS_H

#include "sattn/Conversion/Estimators.h"

namespace sattn::gpucodegen {

/// A phase of the block's kEstimatorThreads threads: the logits of
/// `block` from `buffer` (the stage's key buffer, `element` entries in
/// shared memory) by mma.sync m16n8k16, each (row, key) handed to `use` by
/// the lane that holds it; ends at a barrier.
void emitEstimatorTensorLogits(mlir::OpBuilder &b, mlir::Location loc, mlir::Type element,
                               mlir::Value buffer, const estimator::TensorLogitBlock &block,
                               estimator::TensorLogitUse use);

/// The same summed over `terms` loads (TileRunner::tensorLogitTerms): each
/// warp keeps its blocks' accumulators in registers while `load(t)` refills
/// the buffer for term t, then hands the sums to `use`; ends at a barrier.
void emitEstimatorTensorLogitTerms(mlir::OpBuilder &b, mlir::Location loc, mlir::Type element,
                                   mlir::Value buffer, const estimator::TensorLogitBlock &block,
                                   int64_t terms, estimator::TensorTermLoad load,
                                   estimator::TensorLogitUse use);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORTENSORLOGITS_H
