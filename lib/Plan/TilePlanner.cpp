//===- TilePlanner.cpp - the planner's MLIR adapter -----------------------===//
//
// Compiles a kernel's mask into a MaskProgram (CompiledMask) and hands it to
// the core planner (lib/Core/Planner.cpp), so that the compiler plans with
// exactly the code libsattn_runtime runs. Also answers questions only the IR
// can: the shapes of every declared table.
//
//===----------------------------------------------------------------------===//

#include "sattn/Plan/TilePlanner.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "sattn/Core/Limits.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::plan;

std::vector<std::pair<std::string, std::vector<int64_t>>>
sattn::plan::declaredTableShapes(KernelOp kernel, int64_t batch, int64_t lk) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  kernel.walk([&](mask::TableOp table) {
    std::vector<int64_t> shape;
    for (Attribute dim : table.getDims()) {
      mask::TableDim d;
      mask::parseTableDim(cast<StringAttr>(dim).getValue(), d);
      shape.push_back(d.kind == mask::TableDim::Batch     ? batch
                      : d.kind == mask::TableDim::Head    ? d.blocksOf(kernel.getHeads())
                      : d.kind == mask::TableDim::Literal ? d.extent
                                                          : ceilDiv(lk, d.blockSize));
    }
    shapes.emplace_back(table.getSymName().str(), std::move(shape));
  });
  return shapes;
}

int64_t sattn::plan::declaredTableElements(KernelOp kernel, int64_t batch,
                                           int64_t lk) {
  int64_t total = 0;
  for (auto &[name, shape] : declaredTableShapes(kernel, batch, lk)) {
    int64_t n = 1;
    for (int64_t e : shape)
      if (!limits::checkedMul(n, e, n))
        return -1;
    if (!limits::checkedAdd(total, n, total))
      return -1;
  }
  return total;
}

std::optional<MaskInputs>
sattn::plan::zeroTableInputs(KernelOp kernel, int64_t lq, int64_t lk,
                             std::string &error, int64_t batch) {
  int64_t total = declaredTableElements(kernel, batch, lk);
  if (total < 0 || total > kMaxZeroTableElements) {
    error = "kernel '" + kernel.getSymName().str() + "' reads tables of " +
            (total < 0 ? std::string("more than 2^63")
                       : std::to_string(total)) +
            " elements at L = " + std::to_string(lk) +
            ", too many to fill with zeros for a preview (at most " +
            std::to_string(kMaxZeroTableElements) +
            "): give the tables with --table NAME=FILE or a smaller --length";
    return std::nullopt;
  }
  MaskInputs in;
  in.batch = batch;
  in.lq = lq;
  in.lk = lk;
  for (auto &[name, shape] : declaredTableShapes(kernel, batch, lk)) {
    int64_t n = 1;
    for (int64_t e : shape)
      n *= e;
    in.tables[name] = TableData{shape, std::vector<int64_t>(n, 0)};
  }
  return in;
}

/// The first dynamic pattern the mask reaches, if any: those have no static
/// semantics, so they are reported in the planner's words before compiling.
static Operation *findDynamicPattern(Value mask) {
  llvm::SmallVector<Value> work = {mask};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    Operation *op = v.getDefiningOp();
    if (!op || !seen.insert(v).second)
      continue;
    if (isa<mask::VerticalSlashOp, mask::BlockTopKOp, mask::GateOp,
            mask::StripeOp, mask::NsaOp>(op))
      return op;
    if (isa<mask::UnionOp, mask::IntersectOp, mask::ComplementOp,
            mask::PerHeadOp>(op))
      llvm::append_range(work, op->getOperands());
  }
  return nullptr;
}

bool sattn::plan::hasDynamicPattern(KernelOp kernel) {
  return findDynamicPattern(kernel.getMask()) != nullptr;
}

FailureOr<TilePlanner> TilePlanner::build(KernelOp kernel,
                                          PlanOptions options) {
  if (options.blockM <= 0 || options.blockN <= 0)
    return kernel.emitError("tile sizes must be positive");
  if (Operation *dynamic = findDynamicPattern(kernel.getMask()))
    return dynamic->emitError()
           << "tile planning does not support '" << dynamic->getName()
           << "': dynamic patterns need their estimator";
  auto evaluator = CompiledMask::compile(kernel);
  if (failed(evaluator))
    return failure();
  std::string error;
  std::optional<Planner> planner =
      Planner::build(evaluator->program(), options, error);
  if (!planner)
    return kernel.emitError() << "tile planning: " << error;
  return TilePlanner(std::move(*planner));
}

FailureOr<TilePlanner> TilePlanner::withTiles(KernelOp kernel,
                                              PlanOptions options) const {
  if (options.blockM <= 0 || options.blockN <= 0)
    return kernel.emitError("tile sizes must be positive");
  std::string error;
  std::optional<Planner> other =
      Planner::build(planner.program(), options, error);
  if (!other)
    return kernel.emitError() << "tile planning: " << error;
  return TilePlanner(std::move(*other));
}

FailureOr<TilePlan> TilePlanner::plan(const MaskInputs &inputs,
                                      std::string &error) const {
  std::optional<TilePlan> plan = planner.plan(inputs, error);
  if (!plan)
    return failure();
  return std::move(*plan);
}
