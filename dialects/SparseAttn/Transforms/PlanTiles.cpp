//===- PlanTiles.cpp - sattn-plan-tiles -----------------------------------===//
//
// The compile-time half of tile planning: decides the tile configuration
// (sattn/Plan/TileConfig.h), proves that the planner can handle the mask (so
// a kernel never fails at launch for a reason known at compile time) and
// records both, with the tiers the plan needs, as `sattn.tile_plan`, which
// the conversion reads. The plan itself depends on sequence lengths and
// runtime tables and is built by the runtime in O(segments) per length.
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/Transforms/Passes.h"

#include "Mask/IR/MaskOps.h"
#include "sattn/Plan/TileConfig.h"
#include "sattn/Plan/TilePlanner.h"

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
    plan::TileRequest request{blockM, blockN, warps, stages, rowsPerWarp};
    request.hopper = chip == "sm_90a";
    request.backward = backward;
    getOperation().walk([&](KernelOp kernel) {
      plan::TileRequest forKernel = request;
      forKernel.blockMax = kernel.getBlockMax();
      if (failed(planKernel(kernel, forKernel)))
        signalPassFailure();
    });
  }

  LogicalResult planKernel(KernelOp kernel, const plan::TileRequest &request) {
    // The mask is compiled once; the policy and the plan share the program.
    auto planner = plan::TilePlanner::build(kernel);
    if (failed(planner))
      return failure();
    std::string error;
    FailureOr<plan::TileConfig> config = plan::chooseTileConfig(
        kernel.getHeadDim(), planner->core().program(), request, error);
    if (failed(config))
      return kernel.emitError() << "sattn-plan-tiles: " << error;
    planner = planner->withTiles(
        kernel, {config->blockM, config->blockN, config->planGathers()});
    if (failed(planner))
      return failure();

    // Distinct per-head plans at a small reference length.
    int64_t length = reportLength > 0 ? reportLength : config->blockN;
    std::optional<MaskInputs> probe =
        plan::zeroTableInputs(kernel, length, length, error);
    FailureOr<plan::TilePlan> probePlan = failure();
    if (probe)
      probePlan = planner->plan(*probe, error);
    if (failed(probePlan))
      return kernel.emitError() << "sattn-plan-tiles: " << error;
    std::set<std::string> tiers = planningTiers(kernel.getMask());
    plan::recordTilePlan(kernel, *config,
                         std::vector<std::string>(tiers.begin(), tiers.end()),
                         probePlan->numClasses());
    if (reportLength > 0) {
      plan::PlanStats s = probePlan->stats();
      kernel.emitRemark() << "L = " << (int64_t)reportLength << ": visits "
                          << s.visitedTiles() << " of " << s.denseTiles
                          << " tiles (" << s.fullTiles << " full, "
                          << s.partialTiles << " partial, " << s.gatherTiles
                          << " gathered) in " << s.segments << " segments";
    }
    return success();
  }
};

} // namespace
