//===- LowerEstimators.cpp - sattn-lower-estimators -----------------------===//
//
// Gives a kernel with an estimated mask the form every later stage already
// handles: the dynamic pattern becomes a read of a runtime table that the
// kernel's compiled estimator fills at run time, and the estimator is
// recorded on the kernel (sattn/Plan/EstimatorSpec.h). Planning, device
// plans and both attention lowerings then treat the kernel as a table mask,
// and a user can pass the table themselves to reuse an estimate.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "Mask/IR/MaskOps.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/SymbolTable.h"

namespace sattn {
#define GEN_PASS_DEF_LOWERESTIMATORS
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace sattn

using namespace mlir;
using namespace sattn;

namespace {

/// vertical_slash's query rows: the scratch holds statistics for each
/// (batch, head, row, 256-key chunk).
constexpr int64_t kMaxLastQ = 4096;

bool isDynamicPattern(Operation *op) {
  return isa<mask::VerticalSlashOp, mask::BlockTopKOp, mask::GateOp,
             mask::StripeOp, mask::NsaOp>(op);
}

/// A table name no symbol of the kernel uses yet.
std::string freshTableName(KernelOp kernel, StringRef base) {
  std::string name = base.str();
  for (int i = 1; SymbolTable::lookupSymbolIn(kernel, name); ++i)
    name = (base + "_" + Twine(i)).str();
  return name;
}

/// causal & keep[b, h, q / block, k / block], replacing `op`.
void lowerBlockTopK(KernelOp kernel, mask::BlockTopKOp op) {
  MLIRContext *ctx = kernel.getContext();
  Location loc = op.getLoc();
  int64_t block = op.getBlockSize();
  plan::EstimatorSpec spec;
  spec.kind = "block_topk";
  bool antidiagonal = op.getScorer() == mask::BlockScorer::antidiagonal;
  spec.scorer = antidiagonal ? "antidiagonal" : "mean_pool";
  spec.block = block;
  spec.topK = op.getTopK().value_or(0);
  spec.tau = op.getTau() ? op.getTau()->convertToDouble() : 0.0;
  spec.stride = antidiagonal ? op.getStride().value_or(0) : 0;
  spec.table = freshTableName(kernel, "estimated_blocks");

  Block &body = kernel.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&body);
  std::string blockDim = std::to_string(block);
  mask::TableOp::create(
      b, loc, b.getStringAttr(spec.table), TypeAttr::get(IntegerType::get(ctx, 1)),
      b.getStrArrayAttr({"b", "h", "q/" + blockDim, "k/" + blockDim}));

  b.setInsertionPoint(op);
  Value causal = mask::CausalOp::create(b, loc);
  auto predicate = mask::PredicateOp::create(b, loc);
  Block &pb = predicate.getBody().front();
  OpBuilder in = OpBuilder::atBlockBegin(&pb);
  Value size = arith::ConstantIndexOp::create(in, loc, block);
  Value qBlock = arith::DivSIOp::create(in, loc, pb.getArgument(2), size);
  Value kBlock = arith::DivSIOp::create(in, loc, pb.getArgument(3), size);
  Value kept = mask::LookupOp::create(
      in, loc, in.getI1Type(), FlatSymbolRefAttr::get(ctx, spec.table),
      ValueRange{pb.getArgument(0), pb.getArgument(1), qBlock, kBlock});
  mask::YieldOp::create(in, loc, kept);
  Value lowered = mask::IntersectOp::create(b, loc, ValueRange{causal, predicate});
  op.getResult().replaceAllUsesWith(lowered);
  op.erase();
  plan::writeEstimator(kernel, spec);
}

/// causal & (lines[b, h, 0, k] | lines[b, h, 1, q - k]), replacing `op`:
/// row 0 of a (batch, head) marks the kept columns, row 1 the kept
/// diagonal offsets (docs/ESTIMATORS.md), the table form of the pattern.
LogicalResult lowerVerticalSlash(KernelOp kernel, mask::VerticalSlashOp op) {
  plan::EstimatorSpec spec;
  spec.kind = "vertical_slash";
  spec.block = op.getBlockSize();
  spec.vertical = op.getNumVertical();
  spec.slash = op.getNumSlash();
  spec.forcedVertical = op.getForcedVertical();
  spec.forcedSlash = op.getForcedSlash();
  spec.lastQ = op.getLastQ();
  if (spec.lastQ > kMaxLastQ)
    return op.emitOpError() << "has last_q " << spec.lastQ
                            << "; the compiled estimator scores at most " << kMaxLastQ
                            << " query rows";
  spec.table = freshTableName(kernel, "estimated_lines");
  MLIRContext *ctx = kernel.getContext();
  Location loc = op.getLoc();
  OpBuilder b = OpBuilder::atBlockBegin(&kernel.getBody().front());
  mask::TableOp::create(b, loc, b.getStringAttr(spec.table),
                        TypeAttr::get(IntegerType::get(ctx, 1)),
                        b.getStrArrayAttr({"b", "h", "2", "k"}));

  b.setInsertionPoint(op);
  Value causal = mask::CausalOp::create(b, loc);
  auto predicate = mask::PredicateOp::create(b, loc);
  Block &pb = predicate.getBody().front();
  OpBuilder in = OpBuilder::atBlockBegin(&pb);
  Value bIdx = pb.getArgument(0), head = pb.getArgument(1);
  Value q = pb.getArgument(2), k = pb.getArgument(3);
  auto line = [&](int64_t row, Value at) {
    return mask::LookupOp::create(in, loc, in.getI1Type(), FlatSymbolRefAttr::get(ctx, spec.table),
                                  ValueRange{bIdx, head, arith::ConstantIndexOp::create(in, loc, row),
                                             at});
  };
  Value column = line(0, k);
  Value diagonal = line(1, arith::SubIOp::create(in, loc, q, k));
  mask::YieldOp::create(in, loc, arith::OrIOp::create(in, loc, column, diagonal).getResult());
  Value lowered = mask::IntersectOp::create(b, loc, ValueRange{causal, predicate});
  op.getResult().replaceAllUsesWith(lowered);
  op.erase();
  plan::writeEstimator(kernel, spec);
  return success();
}

struct LowerEstimatorsPass
    : sattn::impl::LowerEstimatorsBase<LowerEstimatorsPass> {
  void runOnOperation() override {
    for (KernelOp kernel : getOperation().getOps<KernelOp>()) {
      SmallVector<Operation *> dynamic;
      kernel.walk([&](Operation *op) {
        if (isDynamicPattern(op))
          dynamic.push_back(op);
      });
      if (dynamic.size() != 1 || kernel->hasAttr(plan::kEstimatorAttrName))
        continue;
      if (auto topk = dyn_cast<mask::BlockTopKOp>(dynamic.front()))
        lowerBlockTopK(kernel, topk);
      else if (auto lines = dyn_cast<mask::VerticalSlashOp>(dynamic.front()))
        if (failed(lowerVerticalSlash(kernel, lines)))
          return signalPassFailure();
    }
  }
};

} // namespace
