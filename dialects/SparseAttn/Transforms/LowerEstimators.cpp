//===- LowerEstimators.cpp - sattn-lower-estimators -----------------------===//
//
// Gives a kernel with an estimated mask the form every later stage already
// handles: the dynamic pattern becomes a read of a runtime table that the
// kernel's compiled estimator fills at run time, and the estimator is
// recorded on the kernel (sattn/Plan/EstimatorSpec.h). Planning, device
// plans and both attention lowerings then treat the kernel as a table mask,
// and a user can pass the table themselves to reuse an estimate. NSA mixes
// three attentions: its kernel is the selected branch, and the other two
// branches become static kernels next to it.
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

/// Declares the estimated table `spec.table` with `dims`, replaces `op` by
/// causal & predicate { yield `read`(b, h, q, k) } (the pattern's table
/// form) and records the estimator on the kernel.
void replaceByTableForm(KernelOp kernel, Operation *op, const plan::EstimatorSpec &spec,
                        ArrayRef<std::string> dims,
                        function_ref<Value(OpBuilder &, Location, Value b, Value h, Value q,
                                           Value k)>
                            read) {
  MLIRContext *ctx = kernel.getContext();
  Location loc = op->getLoc();
  OpBuilder b = OpBuilder::atBlockBegin(&kernel.getBody().front());
  SmallVector<StringRef> dimRefs(dims.begin(), dims.end());
  mask::TableOp::create(b, loc, b.getStringAttr(spec.table),
                        TypeAttr::get(IntegerType::get(ctx, 1)), b.getStrArrayAttr(dimRefs));
  b.setInsertionPoint(op);
  Value causal = mask::CausalOp::create(b, loc);
  auto predicate = mask::PredicateOp::create(b, loc);
  Block &pb = predicate.getBody().front();
  OpBuilder in = OpBuilder::atBlockBegin(&pb);
  mask::YieldOp::create(in, loc,
                        read(in, loc, pb.getArgument(0), pb.getArgument(1), pb.getArgument(2),
                             pb.getArgument(3)));
  Value lowered = mask::IntersectOp::create(b, loc, ValueRange{causal, predicate});
  op->getResult(0).replaceAllUsesWith(lowered);
  op->erase();
  plan::writeEstimator(kernel, spec);
}

/// A read of the estimated table at (b, h, i, j).
Value lookup(OpBuilder &in, Location loc, const plan::EstimatorSpec &spec, Value b, Value h,
             Value i, Value j) {
  return mask::LookupOp::create(in, loc, in.getI1Type(),
                                FlatSymbolRefAttr::get(in.getContext(), spec.table),
                                ValueRange{b, h, i, j});
}

/// causal & keep[b, h, q / block, k / block], replacing `op` (spec.block
/// set): the table form of the estimators that select blocks.
void replaceByBlockTable(KernelOp kernel, Operation *op, plan::EstimatorSpec &spec) {
  int64_t block = spec.block;
  spec.table = freshTableName(kernel, "estimated_blocks");
  std::string blockDim = std::to_string(block);
  replaceByTableForm(kernel, op, spec, {"b", "h", "q/" + blockDim, "k/" + blockDim},
                     [&](OpBuilder &in, Location loc, Value b, Value h, Value q, Value k) {
                       Value size = arith::ConstantIndexOp::create(in, loc, block);
                       Value qBlock = arith::DivSIOp::create(in, loc, q, size);
                       Value kBlock = arith::DivSIOp::create(in, loc, k, size);
                       return lookup(in, loc, spec, b, h, qBlock, kBlock);
                     });
}

void lowerBlockTopK(KernelOp kernel, mask::BlockTopKOp op) {
  plan::EstimatorSpec spec;
  spec.kind = "block_topk";
  bool antidiagonal = op.getScorer() == mask::BlockScorer::antidiagonal;
  spec.scorer = antidiagonal ? "antidiagonal" : "mean_pool";
  spec.block = op.getBlockSize();
  spec.topK = op.getTopK().value_or(0);
  spec.tau = op.getTau() ? op.getTau()->convertToDouble() : 0.0;
  spec.stride = antidiagonal ? op.getStride().value_or(0) : 0;
  replaceByBlockTable(kernel, op, spec);
}

/// The gate (SeerAttention): its weights are the estimator's runtime input
/// (abi::kEstimatorParams' "weights"); the rotary base is the method's
/// default.
void lowerGate(KernelOp kernel, mask::GateOp op) {
  plan::EstimatorSpec spec;
  spec.kind = "gate";
  spec.block = op.getBlockSize();
  spec.hidden = op.getHidden();
  spec.threshold = op.getThreshold() ? op.getThreshold()->convertToDouble() : 0.0;
  spec.topRatio = op.getTopRatio() ? op.getTopRatio()->convertToDouble() : 0.0;
  replaceByBlockTable(kernel, op, spec);
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
  replaceByTableForm(kernel, op, spec, {"b", "h", "2", "k"},
                     [&](OpBuilder &in, Location loc, Value b, Value h, Value q, Value k) {
                       auto line = [&](int64_t row, Value at) {
                         return lookup(in, loc, spec, b, h,
                                       arith::ConstantIndexOp::create(in, loc, row), at);
                       };
                       Value column = line(0, k);
                       Value diagonal = line(1, arith::SubIOp::create(in, loc, q, k));
                       return arith::OrIOp::create(in, loc, column, diagonal).getResult();
                     });
  return success();
}

/// causal & (k < G | k >= q / G * G | sel[b, h, q / S, k]), replacing `op`
/// (S = block x step): every query's anchor region and its unit's stripes
/// (docs/ESTIMATORS.md, "stripe"), the table form of the pattern.
void lowerStripe(KernelOp kernel, mask::StripeOp op) {
  plan::EstimatorSpec spec;
  spec.kind = "stripe";
  spec.block = op.getBlockSize();
  spec.group = op.getGroup();
  spec.step = op.getStep();
  spec.theta = op.getTheta().convertToDouble();
  spec.table = freshTableName(kernel, "estimated_stripes");
  // The verifier bounds block and step and makes group a multiple of both.
  int64_t unit = spec.block * spec.step;
  replaceByTableForm(
      kernel, op, spec, {"b", "h", "q/" + std::to_string(unit), "k"},
      [&](OpBuilder &in, Location loc, Value b, Value h, Value q, Value k) {
        Value group = arith::ConstantIndexOp::create(in, loc, spec.group);
        Value first = arith::CmpIOp::create(in, loc, arith::CmpIPredicate::slt, k, group);
        Value localStart =
            arith::MulIOp::create(in, loc, arith::DivSIOp::create(in, loc, q, group), group);
        Value local = arith::CmpIOp::create(in, loc, arith::CmpIPredicate::sge, k, localStart);
        Value unitIdx =
            arith::DivSIOp::create(in, loc, q, arith::ConstantIndexOp::create(in, loc, unit));
        Value stripe = lookup(in, loc, spec, b, h, unitIdx, k);
        Value anchors = arith::OrIOp::create(in, loc, first, local);
        return arith::OrIOp::create(in, loc, anchors, stripe).getResult();
      });
}

/// A symbol name no kernel of `module` uses yet.
std::string freshKernelName(ModuleOp module, StringRef base) {
  std::string name = base.str();
  for (int i = 1; SymbolTable::lookupSymbolIn(module, name); ++i)
    name = (base + "_" + Twine(i)).str();
  return name;
}

/// A copy of `kernel` named `name` after `anchor`, whose mask is `build`'s
/// in place of the pattern `op` (an op of `kernel`).
KernelOp companionKernel(KernelOp kernel, Operation *op, Operation *anchor, StringRef name,
                         function_ref<Value(OpBuilder &, Location)> build) {
  // The pattern's position in the kernel's body, to find its copy.
  unsigned index = 0;
  for (Operation &other : kernel.getBody().front()) {
    if (&other == op)
      break;
    ++index;
  }
  auto copy = cast<KernelOp>(kernel->clone());
  anchor->getBlock()->getOperations().insertAfter(Block::iterator(anchor), copy);
  copy.setSymName(StringAttr::get(kernel->getContext(), name));
  Operation *pattern = &*std::next(copy.getBody().front().begin(), index);
  OpBuilder b(pattern);
  Value mask = build(b, pattern->getLoc());
  pattern->getResult(0).replaceAllUsesWith(mask);
  pattern->erase();
  return copy;
}

/// NSA's other two branches as static kernels next to `kernel`, the pattern
/// replaced by the branch's mask (the rest of the kernel's mask, if any,
/// restricts every branch alike): the compressed branch, causal attention
/// over keys and values placed where their compressed blocks end (c * d +
/// l - 1), so `causal & (k % d == (l - 1) % d & k >= l - 1)`; and the
/// sliding branch, `window w` (none when w is 0). Their names go into the
/// estimator record.
void addNsaCompanions(KernelOp kernel, mask::NsaOp op, plan::EstimatorSpec &spec) {
  auto module = kernel->getParentOfType<ModuleOp>();
  if (!module)
    return;
  std::string base = kernel.getSymName().str();
  int64_t stride = spec.compressStride, last = spec.compressBlock - 1;
  spec.compressedKernel = freshKernelName(module, base + "_compressed");
  KernelOp compressed = companionKernel(kernel, op, kernel, spec.compressedKernel,
                                        [&](OpBuilder &b, Location loc) {
    Value causal = mask::CausalOp::create(b, loc);
    auto predicate = mask::PredicateOp::create(b, loc);
    Block &pb = predicate.getBody().front();
    OpBuilder in = OpBuilder::atBlockBegin(&pb);
    Value k = pb.getArgument(3);
    auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(in, loc, v); };
    Value phase = arith::RemSIOp::create(in, loc, k, index(stride));
    Value atEnd = arith::CmpIOp::create(in, loc, arith::CmpIPredicate::eq, phase,
                                        index(last % stride));
    Value inside = arith::CmpIOp::create(in, loc, arith::CmpIPredicate::sge, k, index(last));
    mask::YieldOp::create(in, loc, arith::AndIOp::create(in, loc, atEnd, inside).getResult());
    return mask::IntersectOp::create(b, loc, ValueRange{causal, predicate}).getResult();
  });
  if (spec.window > 0) {
    spec.slidingKernel = freshKernelName(module, base + "_sliding");
    companionKernel(kernel, op, compressed, spec.slidingKernel, [&](OpBuilder &b, Location loc) {
      return mask::WindowOp::create(b, loc, spec.window, false).getResult();
    });
  }
}

/// causal & sel[b, h / G, q, k / S], replacing `op` (S = the select block,
/// G the query heads per KV head): the keys of NSA's selected branch
/// (docs/ESTIMATORS.md, "nsa"). The selection is per query position and
/// shared by a GQA group, so the table has a row per (KV head, position).
/// The compressed and sliding branches become kernels of their own
/// (addNsaCompanions).
void lowerNsa(KernelOp kernel, mask::NsaOp op) {
  plan::EstimatorSpec spec;
  spec.kind = "nsa";
  spec.block = op.getSelectBlock();
  spec.compressBlock = op.getCompressBlock();
  spec.compressStride = op.getCompressStride();
  spec.selectCount = op.getSelectCount();
  spec.localBlocks = op.getLocalBlocks();
  spec.window = op.getWindow();
  addNsaCompanions(kernel, op, spec);
  spec.table = freshTableName(kernel, "estimated_selection");
  int64_t group = kernel.getHeads() / kernel.getKvHeads();
  std::string heads = group == 1 ? "h" : "h/" + std::to_string(group);
  replaceByTableForm(kernel, op, spec, {"b", heads, "q", "k/" + std::to_string(spec.block)},
                     [&](OpBuilder &in, Location loc, Value b, Value h, Value q, Value k) {
                       Value size = arith::ConstantIndexOp::create(in, loc, spec.block);
                       Value kBlock = arith::DivSIOp::create(in, loc, k, size);
                       Value kvHead = h;
                       if (group > 1)
                         kvHead = arith::DivSIOp::create(
                             in, loc, h, arith::ConstantIndexOp::create(in, loc, group));
                       return lookup(in, loc, spec, b, kvHead, q, kBlock);
                     });
}

struct LowerEstimatorsPass
    : sattn::impl::LowerEstimatorsBase<LowerEstimatorsPass> {
  void runOnOperation() override {
    // Companion kernels are added while walking: collect the kernels first.
    for (KernelOp kernel : llvm::to_vector(getOperation().getOps<KernelOp>())) {
      SmallVector<Operation *> dynamic;
      kernel.walk([&](Operation *op) {
        if (isDynamicPattern(op))
          dynamic.push_back(op);
      });
      if (dynamic.size() != 1 || kernel->hasAttr(plan::kEstimatorAttrName))
        continue;
      if (auto topk = dyn_cast<mask::BlockTopKOp>(dynamic.front()))
        lowerBlockTopK(kernel, topk);
      else if (auto gate = dyn_cast<mask::GateOp>(dynamic.front()))
        lowerGate(kernel, gate);
      else if (auto stripe = dyn_cast<mask::StripeOp>(dynamic.front()))
        lowerStripe(kernel, stripe);
      else if (auto nsa = dyn_cast<mask::NsaOp>(dynamic.front()))
        lowerNsa(kernel, nsa);
      else if (auto lines = dyn_cast<mask::VerticalSlashOp>(dynamic.front()))
        if (failed(lowerVerticalSlash(kernel, lines)))
          return signalPassFailure();
    }
  }
};

} // namespace
