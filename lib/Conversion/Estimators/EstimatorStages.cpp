//===- EstimatorStages.cpp - the estimator stages of each kind ------------===//
//
// The entry points of sattn/Conversion/Estimators.h: which stages a kind
// has and in what order they run, the stage environment, and the dispatch
// of a stage's items to the kind's stage code (BlockSelectStages.cpp and
// AntidiagonalStages.cpp for block_topk, VerticalSlashStages.cpp and
// RadixSelectStages.cpp for vertical_slash, StripeStages.cpp for stripe,
// GateStages.cpp and BlockCountSelect.cpp for gate, NsaStages.cpp and
// NsaTileStages.cpp for nsa), so that the GPU and CPU lowerings loop over
// stages without knowing the kinds.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

abi::EstimatorShape kindShape(const plan::EstimatorSpec &spec) {
  abi::EstimatorShape shape{1, 1, 1, 1, 1, spec.block, spec.stride};
  spec.setKindFields(shape);
  return shape;
}

/// Whether stage `stage` is the antidiagonal scorer's pool or score (tile
/// stages of AntidiagonalStages.cpp).
bool isAntidiagonalTile(const plan::EstimatorSpec &spec, int stage) {
  return !spec.isStripe() && !spec.isLines() && !spec.isGate() && !spec.isNsa() &&
         spec.stride != 0 &&
         stage != kSelect;
}

} // namespace

ArrayRef<std::string_view> estimator::stageNames(const plan::EstimatorSpec &spec) {
  int count = 0;
  const std::string_view *names = kindShape(spec).stageNames(count);
  return ArrayRef<std::string_view>(names, count);
}

std::vector<int> estimator::launchOrder(const plan::EstimatorSpec &spec) {
  return kindShape(spec).launches();
}

EstimatorEnv estimator::bindEstimatorParams(OpBuilder &b, Location loc, KernelOp kernel,
                                            const plan::EstimatorSpec &spec, Value lq,
                                            Value lk, Value batch, InputLoader loadElement,
                                            Type inputType, F64Functions functions,
                                            Value pooled, Value table, Value weights) {
  EstimatorEnv env;
  env.kernel = kernel;
  env.spec = spec;
  env.scale = kernel.getScale().convertToDouble();
  env.lq = toIndex(b, loc, lq);
  env.lk = toIndex(b, loc, lk);
  env.batch = toIndex(b, loc, batch);
  env.blocks = ceilDiv(b, loc, env.lk, spec.block);
  env.load = [loadElement](OpBuilder &lb, Location ll, bool key, Value bIdx, Value h, Value row,
                          Value column) -> Value {
    return arith::ExtFOp::create(lb, ll, lb.getF64Type(),
                                 loadElement(lb, ll, key, bIdx, h, row, column));
  };
  env.loadElement = std::move(loadElement);
  env.inputType = inputType;
  env.exp = std::move(functions.exp);
  env.sinCos = std::move(functions.sinCos);
  env.pow = std::move(functions.pow);
  env.pooled = pooled;
  env.table = table;
  env.weights = weights;
  return env;
}

Value estimator::emitStageItems(OpBuilder &b, Location loc, int stage,
                                const EstimatorEnv &env) {
  if (env.spec.isNsa())
    return emitNsaItems(b, loc, stage, env);
  if (env.spec.isStripe())
    return emitStripeItems(b, loc, stage, env);
  if (env.spec.isGate())
    return emitGateItems(b, loc, stage, env);
  return env.spec.isLines() ? emitLineItems(b, loc, stage, env)
                            : emitBlockItems(b, loc, stage, env);
}

bool estimator::isTileStage(const plan::EstimatorSpec &spec, int stage) {
  return kindShape(spec).tileStage(stage);
}

TileBuffers estimator::tileBufferEntries(const plan::EstimatorSpec &spec, int stage,
                                        int64_t headDim) {
  assert(isTileStage(spec, stage) && "a tile stage");
  if (spec.isNsa())
    return nsaTileBuffers(stage, spec, headDim);
  if (spec.isStripe())
    return stripeTileBuffers(stage, headDim, spec.tensorLogits);
  if (spec.isLines())
    return lineTileBuffers(stage, headDim, spec.tensorLogits);
  if (isAntidiagonalTile(spec, stage))
    return antidiagonalTileBuffers(stage, spec, headDim);
  return blockSelectTileBuffers();
}

Value estimator::emitStageTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  if (env.spec.isNsa())
    return emitNsaTiles(b, loc, stage, env);
  if (env.spec.isStripe())
    return emitStripeTiles(b, loc, stage, env);
  if (env.spec.isLines())
    return emitLineTiles(b, loc, stage, env);
  if (isAntidiagonalTile(env.spec, stage))
    return emitAntidiagonalTiles(b, loc, stage, env);
  // A query block row of a (batch, head) per tile.
  KernelOp kernel = env.kernel;
  Value rows = mul(b, loc, mul(b, loc, env.batch, cst(b, loc, kernel.getHeads())), env.blocks);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), rows);
}

void estimator::emitStageTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                              Value tile, const TileRunner &run) {
  Value index = toIndex(b, loc, tile);
  if (env.spec.isNsa())
    return emitNsaTile(b, loc, stage, env, index, run);
  if (env.spec.isStripe())
    return emitStripeTile(b, loc, stage, env, index, run);
  if (isAntidiagonalTile(env.spec, stage))
    return emitAntidiagonalTile(b, loc, stage, env, index, run);
  if (!env.spec.isLines())
    return emitBlockSelectTile(b, loc, env, index, run);
  if (stage == kRowChunks)
    return emitRowChunkTile(b, loc, env, index, run);
  emitLineTile(b, loc, env, index, run);
}

void estimator::emitStageItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                              Value wideItem) {
  // Item counts fit 32 bits: the runtime bounds the scratch and the table.
  Value item = toIndex(b, loc, wideItem);
  if (env.spec.isNsa())
    return emitNsaItem(b, loc, stage, env, item);
  if (env.spec.isStripe())
    return emitStripeItem(b, loc, stage, env, item);
  if (env.spec.isGate())
    return emitGateItem(b, loc, stage, env, item);
  if (!env.spec.isLines())
    return emitBlockItem(b, loc, stage, env, item);
  assert(!isTileStage(env.spec, stage) && "tile stages run through emitStageTile");
  switch (stage) {
  case kRowStats:
    return emitRowStats(b, loc, env, item);
  case kRadixCount:
    return emitRadixCount(b, loc, env, item);
  case kRadixDecide:
    return emitRadixDecide(b, loc, env, item);
  case kTieCount:
    return emitTieCount(b, loc, env, item);
  default:
    return emitLineSelect(b, loc, env, item);
  }
}
