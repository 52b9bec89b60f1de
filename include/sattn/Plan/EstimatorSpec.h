//===- EstimatorSpec.h - a kernel's compiled estimator, as recorded -*- C++ -*-===//
//
// sattn-lower-estimators replaces a kernel's dynamic pattern by a read of a
// runtime table and records what fills that table as the kernel attribute
// `sattn.estimator`. The conversions (estimator stages on the CPU and the
// GPU), the manifest and the tools read it back through this struct, so the
// attribute's fields are spelled in one place.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PLAN_ESTIMATORSPEC_H
#define SATTN_PLAN_ESTIMATORSPEC_H

#include "sattn/Core/KernelAbi.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace sattn::plan {

constexpr llvm::StringLiteral kEstimatorAttrName = "sattn.estimator";

/// A compiled estimator (docs/ESTIMATORS.md): `block_topk` with either
/// scorer, `vertical_slash`, `stripe`, `gate`, or `nsa` (its selection).
struct EstimatorSpec {
  std::string kind;   // "block_topk", "vertical_slash", "stripe", "gate" or "nsa"
  std::string scorer; // block_topk: "mean_pool" or "antidiagonal"; else ""
  int64_t block = 0;
  int64_t topK = 0;   // block_topk: > 0 to select by count
  double tau = 0;     // block_topk: > 0 to select by mass
  int64_t stride = 0; // the antidiagonal scorer's stride (divides block); else 0
  // vertical_slash: kept columns and diagonals, the forced ones among them,
  // and the query rows (the last ones) that score them.
  int64_t vertical = 0, slash = 0, forcedVertical = 0, forcedSlash = 0, lastQ = 0;
  // stripe: the anchor group, query blocks per unit and the margin theta.
  int64_t group = 0, step = 0;
  double theta = 0;
  // gate: hidden features, exactly one of threshold and topRatio (> 0), and
  // the rotary base.
  int64_t hidden = 0;
  double threshold = 0, topRatio = 0, ropeBase = 10000;
  // nsa (`block` is the selection block): compressed blocks of compressBlock
  // keys every compressStride keys, selectCount blocks selected per query of
  // which block 0 and localBlocks local ones are forced, and the sliding
  // window; the kernel attends the selected keys.
  int64_t compressBlock = 0, compressStride = 0, selectCount = 0, localBlocks = 0, window = 0;
  // nsa: the kernels of its compressed and sliding branches (the latter ""
  // without a window), made by sattn-lower-estimators next to the kernel.
  std::string compressedKernel, slidingKernel;
  std::string table;  // the mask.table the estimator writes
  // GPU stages compute the logits of query rows on tensor cores (f32 sums
  // of exact products) instead of in f64 in the reference's order; only
  // estimators with such logits (hasQueryLogits) set it. The GPU lowering
  // decides it and records it as `logits` on the attention gpu.func's copy
  // of the record (EstimatorKernels.cpp), where the manifest writer reads
  // it; kernels' own records (writeEstimator) never carry it.
  bool tensorLogits = false;

  bool isLines() const { return kind == "vertical_slash"; }
  bool isStripe() const { return kind == "stripe"; }
  bool isGate() const { return kind == "gate"; }
  bool isNsa() const { return kind == "nsa"; }
  /// Whether some stage computes logits of query rows against keys (the
  /// logit tile stages: vertical_slash's, the stripe's anchors, the
  /// antidiagonal scorer's, nsa's against compressed keys), which tensor
  /// cores can compute.
  bool hasQueryLogits() const {
    return isLines() || isStripe() || isNsa() ||
           (kind == "block_topk" && scorer == "antidiagonal");
  }
  /// The kind's fields of the ABI's estimator sizes (lastQ, topK, group,
  /// step, hidden, topRatio, nsa's blocks and counts), on top of the call's sizes already in `shape`.
  void setKindFields(abi::EstimatorShape &shape) const {
    shape.lastQ = isLines() ? lastQ : 0;
    shape.topK = isLines() || isStripe() || isGate() || isNsa() ? 0 : topK;
    shape.group = isStripe() ? group : 0;
    shape.step = isStripe() ? step : 0;
    shape.hidden = isGate() ? hidden : 0;
    shape.topRatio = isGate() ? topRatio : 0;
    shape.compressBlock = isNsa() ? compressBlock : 0;
    shape.compressStride = isNsa() ? compressStride : 0;
    shape.selectCount = isNsa() ? selectCount : 0;
    shape.localBlocks = isNsa() ? localBlocks : 0;
    shape.tensorLogits = tensorLogits;
  }
};

/// A `sattn.estimator` record, every field checked; a malformed one is
/// reported through `emitError`. The kernel attribute and its copy on the
/// generated gpu.func (target::kEstimatorAttr) are both read with it.
mlir::FailureOr<EstimatorSpec>
parseEstimator(mlir::Attribute record,
               llvm::function_ref<mlir::InFlightDiagnostic()> emitError);

/// The kernel's estimator, or nullopt when it has none. A malformed
/// attribute, or one naming a table the kernel does not declare, is
/// reported on the kernel and read as failure.
mlir::FailureOr<std::optional<EstimatorSpec>> readEstimator(KernelOp kernel);
void writeEstimator(KernelOp kernel, const EstimatorSpec &spec);

} // namespace sattn::plan

#endif // SATTN_PLAN_ESTIMATORSPEC_H
