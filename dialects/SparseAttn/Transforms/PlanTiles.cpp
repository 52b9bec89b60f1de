//===- PlanTiles.cpp - sattn-plan-tiles -----------------------------------===//
//
// The compile-time half of tile planning: fixes the tile sizes, proves that
// the planner can handle the mask (so a kernel never fails at launch for a
// reason known at compile time) and records which tiers the plan needs. The
// plan itself depends on sequence lengths and runtime tables and is built by
// the runtime in O(segments) per length.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "Mask/IR/MaskOps.h"
#include "sattn/Plan/TilePlanner.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

#include <set>

namespace sattn {
#define GEN_PASS_DEF_PLANTILES
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace sattn

using namespace mlir;
using namespace sattn;

namespace {

/// Tiers the planner uses for the mask rooted at `mask`.
std::set<std::string> planningTiers(Value mask) {
  std::set<std::string> tiers;
  llvm::SmallVector<Value> work{mask};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    Operation *op = v.getDefiningOp();
    if (isa<mask::PredicateOp>(op)) {
      tiers.insert("interval");
      tiers.insert("exact");
      bool readsTable = false;
      op->walk([&](mask::LookupOp) { readsTable = true; });
      if (readsTable)
        tiers.insert("runtime-table");
      continue;
    }
    if (isa<mask::DocumentOp, mask::BlockTableOp>(op))
      tiers.insert("runtime-table");
    else if (!isa<mask::UnionOp, mask::IntersectOp, mask::ComplementOp,
                  mask::PerHeadOp>(op))
      tiers.insert("closed-form");
    for (Value operand : op->getOperands())
      work.push_back(operand);
  }
  return tiers;
}

struct PlanTilesPass : public sattn::impl::PlanTilesBase<PlanTilesPass> {
  using PlanTilesBase::PlanTilesBase;

  void runOnOperation() override {
    if (blockM <= 0 || blockN <= 0) {
      getOperation().emitError() << "sattn-plan-tiles: block-m and block-n "
                                    "must be positive, got "
                                 << blockM << " and " << blockN;
      return signalPassFailure();
    }
    plan::PlanOptions options{blockM, blockN};
    getOperation().walk([&](KernelOp kernel) {
      auto planner = plan::TilePlanner::build(kernel, options);
      if (failed(planner))
        return signalPassFailure();
      Builder b(kernel.getContext());
      SmallVector<Attribute> tierNames;
      for (const std::string &t : planningTiers(kernel.getMask()))
        tierNames.push_back(b.getStringAttr(t));

      // Distinct per-head plans at a small reference length.
      int64_t length = reportLength > 0 ? reportLength : blockN;
      std::string error;
      std::optional<MaskInputs> probe =
          plan::zeroTableInputs(kernel, length, length, error);
      FailureOr<plan::TilePlan> probePlan = failure();
      if (probe)
        probePlan = planner->plan(*probe, error);
      if (failed(probePlan)) {
        kernel.emitError() << "sattn-plan-tiles: " << error;
        return signalPassFailure();
      }
      kernel->setAttr(
          "sattn.tile_plan",
          b.getDictionaryAttr({
              b.getNamedAttr("block_m", b.getI64IntegerAttr(blockM)),
              b.getNamedAttr("block_n", b.getI64IntegerAttr(blockN)),
              b.getNamedAttr("head_classes",
                             b.getI64IntegerAttr(probePlan->numClasses())),
              b.getNamedAttr("tiers", b.getArrayAttr(tierNames)),
          }));
      if (reportLength > 0) {
        plan::PlanStats s = probePlan->stats();
        kernel.emitRemark() << "L = " << (int64_t)reportLength << ": visits "
                            << s.visitedTiles() << " of " << s.denseTiles
                            << " tiles (" << s.fullTiles << " full, "
                            << s.partialTiles << " partial, "
                            << s.gatherTiles << " gathered) in "
                            << s.segments << " segments";
      }
    });
  }
};

} // namespace
