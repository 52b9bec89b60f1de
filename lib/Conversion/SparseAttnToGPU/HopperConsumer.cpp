//===- HopperConsumer.cpp - the sm_90a kernel's consumer warpgroups -------===//
//
// Each consumer warpgroup owns 64 query rows of the tile and walks the
// plan's KV tiles in the producer's order. Step n issues S(n) = Q K_n^T
// and O += P(n-1) V(n-1) back to back, waits for S(n) only, and computes
// the softmax of tile n while the tensor cores still work on P V (FA3's
// intra-warpgroup overlap); the first tile of the stream has no P V before
// it, and the last P V runs after the loop.
//
// Rules that keep the asynchronous wgmma correct and unserialised: every
// mbarrier wait comes before the wgmma fence of its step (a wait loop
// between two wgmma batches makes ptxas insert its own fence); accumulators
// and A registers pass through a pin before the fence and after each wait;
// a stage is released (one arrival per warpgroup, by its first thread)
// only after the wait that covers the last wgmma reading it.
//
//===----------------------------------------------------------------------===//

#include "HopperAttentionBuilder.h"

#include "HopperMma.h"
#include "HopperSync.h"
#include "WarpMma.h"
#include "WindowMaskBits.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

/// Ops reachable from `mask`: a size measure of its element-mask code.
static int64_t maskOpCount(Value mask) {
  llvm::SmallPtrSet<Operation *, 32> seen;
  SmallVector<Value> work{mask};
  while (!work.empty()) {
    Operation *op = work.pop_back_val().getDefiningOp();
    if (!op || !seen.insert(op).second)
      continue;
    op->walk([&](Operation *nested) { seen.insert(nested); });
    work.append(op->getOperands().begin(), op->getOperands().end());
  }
  return seen.size();
}

/// Masks up to this many ops evaluate four elements per iteration of the
/// keep-bit loop (causal 3 ops, A-shape 16, documents 9, S2 blocks 28);
/// larger ones (per-head mixtures, 34-37) one, which keeps them unspilled.
constexpr int64_t kSmallMaskOps = 32;

void HopperAttentionBuilder::emitConsumerCoordinates(OpBuilder &b,
                                                     Location loc) {
  Value inGroup = arith::RemUIOp::create(b, loc, grid.threadId,
                                         cst(b, loc, kWarpgroupThreads));
  consumer = sub(b, loc,
                 arith::DivUIOp::create(b, loc, grid.threadId,
                                        cst(b, loc, kWarpgroupThreads)),
                 cst(b, loc, 1));
  Value warp = arith::DivUIOp::create(b, loc, inGroup, cst(b, loc, 32));
  lane = arith::RemUIOp::create(b, loc, inGroup, cst(b, loc, 32));
  group = arith::DivUIOp::create(b, loc, lane, cst(b, loc, 4));
  Value quad = arith::RemUIOp::create(b, loc, lane, cst(b, loc, 4));
  quadColumn = mul(b, loc, quad, cst(b, loc, 2));
  leader = cmp(b, loc, arith::CmpIPredicate::eq, inGroup, cst(b, loc, 0));
  int64_t rows = hopper::kWgmmaRows;
  Value rowInTile =
      add(b, loc,
          add(b, loc, mul(b, loc, consumer, cst(b, loc, rows)),
              mul(b, loc, warp, cst(b, loc, 16))),
          group);
  Value shift = sub(b, loc, grid.lk, grid.lq);
  for (int half = 0; half < 2; ++half) {
    queryRow[half] =
        add(b, loc, mul(b, loc, tileIdx, cst(b, loc, cfg.blockM)),
            add(b, loc, rowInTile, cst(b, loc, 8 * half)));
    queryPos[half] = add(b, loc, queryRow[half], shift);
  }
  // Descriptors of stage 0 (K-major Q and K: 8-row atoms 1024 bytes apart;
  // N-major V: the next 64 columns one box further).
  Value qRows = arith::IndexCastUIOp::create(
      b, loc, b.getI32Type(),
      mul(b, loc, consumer, cst(b, loc, rows * hopper::kSwizzleBytes)));
  descQ = hopper::emitSharedDescriptor(
      b, loc,
      hopper::emitSharedOffset(
          b, loc, hopper::emitSharedOffset(b, loc, smem, layout.qOffset()), qRows),
      16, hopper::kSwizzleAtomBytes);
  descK0 = hopper::emitSharedDescriptor(
      b, loc, hopper::emitSharedOffset(b, loc, smem, layout.kOffset(0)), 16,
      hopper::kSwizzleAtomBytes);
  descV0 = hopper::emitSharedDescriptor(
      b, loc, hopper::emitSharedOffset(b, loc, smem, layout.vOffset(0)),
      layout.boxBytes(cfg.blockN), hopper::kSwizzleAtomBytes);
}

/// `desc` (of stage 0) moved to ring stage `stage` (i32).
static Value stageDescriptor(OpBuilder &b, Location loc, Value desc,
                             Value stage, int64_t stageBytes) {
  Type i64 = b.getI64Type();
  Value units = arith::MulIOp::create(
      b, loc, arith::ExtUIOp::create(b, loc, i64, stage),
      arith::ConstantIntOp::create(b, loc, i64, stageBytes >> 4));
  return arith::AddIOp::create(b, loc, desc, units);
}

Value HopperAttentionBuilder::emitScoresGemm(OpBuilder &b, Location loc,
                                             Value stage) {
  Value descK = stageDescriptor(b, loc, descK0, stage,
                                layout.tileBytes(cfg.blockN));
  Value acc = LLVM::PoisonOp::create(
      b, loc, hopper::accumulatorType(b.getContext(), cfg.blockN / 2));
  // k step kk reads columns 16kk.. of Q and K: box kk / 4, 32 bytes per
  // step inside the box's 128-byte rows (the hardware applies the swizzle).
  for (int64_t kk = 0; kk < cfg.headDim / hopper::kWgmmaK; ++kk) {
    int64_t inBox = (kk % 4) * 32;
    Value a = hopper::emitDescriptorAdvance(
        b, loc, descQ, (kk / 4) * layout.boxBytes(cfg.blockM) + inBox);
    Value bK = hopper::emitDescriptorAdvance(
        b, loc, descK, (kk / 4) * layout.boxBytes(cfg.blockN) + inBox);
    acc = hopper::emitWgmmaShared(b, loc, elemType, cfg.blockN, acc, a, bK,
                                  /*accumulate=*/kk > 0, /*bMajorN=*/false);
  }
  return acc;
}

SmallVector<Value> HopperAttentionBuilder::emitProbsTimesV(OpBuilder &b,
                                                           Location loc,
                                                           Value stage,
                                                           ValueRange acc,
                                                           ValueRange probs) {
  Value descV = stageDescriptor(b, loc, descV0, stage,
                                layout.tileBytes(cfg.blockN));
  SmallVector<Value> out(acc.begin(), acc.end());
  // k step kk covers keys 16kk..16kk+15: 16 rows of 128 bytes further.
  for (int64_t kk = 0; kk < cfg.blockN / hopper::kWgmmaK; ++kk)
    out = hopper::emitWgmmaRegisterA(
        b, loc, elemType, out, probs.slice(4 * kk, 4),
        hopper::emitDescriptorAdvance(b, loc, descV,
                                      kk * hopper::kWgmmaK * hopper::kSwizzleBytes));
  return out;
}

SmallVector<Value> HopperAttentionBuilder::emitPackProbs(OpBuilder &b,
                                                         Location loc,
                                                         ArrayRef<Value> probs) {
  // The A fragment of k step kk is the accumulator's 8-column tiles 2kk and
  // 2kk + 1, packed in pairs: the same registers as mma.sync's.
  SmallVector<Value> packed;
  for (int64_t kk = 0; kk < cfg.blockN / hopper::kWgmmaK; ++kk)
    for (Value pair : emitAccumulatorAsA(b, loc, elemType, probs, kk))
      packed.push_back(
          LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair));
  return packed;
}

Value HopperAttentionBuilder::emitKeepBits(
    OpBuilder &b, Location loc,
    function_ref<Value(OpBuilder &, Location, Value)> keyAt, Value full) {
  // Bit i keeps accumulator value i = 4j + e (8-column tile j). A loop
  // over the values, `perIteration` at a time: the mask code is emitted a
  // few times instead of BN / 2 times, which keeps masks that read tables
  // or evaluate long predicates within the consumers' registers; large
  // masks take one value per iteration.
  int64_t perIteration = maskOpCount(kernel.getMask()) <= kSmallMaskOps ? 4 : 1;
  Type i64 = b.getI64Type();
  Value none = arith::ConstantIntOp::create(b, loc, i64, 0);
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, cfg.blockN / 2),
      cst(b, loc, perIteration), ValueRange{none},
      [&](OpBuilder &b, Location loc, Value first, ValueRange carried) {
        Value bits = carried.front();
        for (int64_t u = 0; u < perIteration; ++u) {
          // Value i = first + u: tile i / 4, element e = i % 4 (row half
          // e / 2, column 8 * (i / 4) + e % 2 past the thread's pair).
          Value i = add(b, loc, first, cst(b, loc, u));
          Value e = arith::RemUIOp::create(b, loc, i, cst(b, loc, 4));
          Value tile = arith::DivUIOp::create(b, loc, i, cst(b, loc, 4));
          ElementMaskEnv env;
          env.b = grid.batchIdx;
          env.h = grid.headIdx;
          env.lk = grid.lk;
          env.tables = plan.tables;
          Value upper = cmp(b, loc, arith::CmpIPredicate::uge, e, cst(b, loc, 2));
          env.q = arith::SelectOp::create(b, loc, upper, queryPos[1], queryPos[0]);
          Value column =
              add(b, loc, add(b, loc, quadColumn, mul(b, loc, tile, cst(b, loc, 8))),
                  arith::RemUIOp::create(b, loc, e, cst(b, loc, 2)));
          env.k = keyAt(b, loc, column);
          // Keys past Lk are TMA's zero fill (or a gathered tile's empty
          // slots), never kept.
          Value kept = cmp(b, loc, arith::CmpIPredicate::slt, env.k, grid.lk);
          FailureOr<Value> keep = emitElementMask(b, loc, kernel.getMask(), env);
          if (failed(keep))
            failedMask = true;
          else
            kept = arith::AndIOp::create(
                b, loc, kept, arith::OrIOp::create(b, loc, full, *keep));
          Value bit = arith::ShLIOp::create(
              b, loc, arith::ExtUIOp::create(b, loc, i64, kept),
              arith::IndexCastUIOp::create(b, loc, i64, i));
          bits = arith::OrIOp::create(b, loc, bits, bit);
        }
        scf::YieldOp::create(b, loc, bits);
      });
  return loop.getResult(0);
}

Value HopperAttentionBuilder::emitWindowKeepBits(OpBuilder &b, Location loc,
                                                 Value k0, Value full) {
  ElementMaskEnv env;
  env.b = grid.batchIdx;
  env.h = grid.headIdx;
  env.lk = grid.lk;
  env.tables = plan.tables;
  WindowLayout layout{cfg.blockN, lane, group, quadColumn, queryPos};
  WindowMaskBits bits(b, loc, layout, env, k0);
  // Keys past Lk are TMA's zero fill, never kept.
  Value inRange = bits.window(
      TermDependence::Key, [&](OpBuilder &b, Location loc, Value, Value k) {
        return cmp(b, loc, arith::CmpIPredicate::slt, k, grid.lk);
      });
  FailureOr<Value> keep = bits.node(*separatedMask, separatedMask->root);
  if (failed(keep)) {
    failedMask = true;
    return inRange;
  }
  Value all = arith::ConstantIntOp::create(b, loc, b.getI64Type(), -1);
  return arith::AndIOp::create(b, loc, inRange,
                               arith::SelectOp::create(b, loc, full, all, *keep));
}

/// i1 `!v`.
static Value emitNot(OpBuilder &b, Location loc, Value v) {
  return arith::XOrIOp::create(b, loc, v,
                               arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));
}

TileMask HopperAttentionBuilder::emitTileMask(OpBuilder &b, Location loc,
                                              const KvTileRef &tile) {
  // FULL tiles below Lk run no mask code; a PARTIAL tile applies the
  // element mask, and a tile reaching past Lk drops the missing keys (TMA
  // filled them with zeros). Computed before the step's wgmma fence, where
  // neither the scores nor the in-flight operands hold registers.
  Value k0 = mul(b, loc, tile.keyTile, cst(b, loc, cfg.blockN));
  Value ragged = cmp(b, loc, arith::CmpIPredicate::sgt,
                     add(b, loc, k0, cst(b, loc, cfg.blockN)), grid.lk);
  TileMask mask;
  mask.masked = arith::OrIOp::create(b, loc, tile.partial, ragged);
  if (tile.gathered)
    mask.masked =
        arith::AndIOp::create(b, loc, mask.masked, emitNot(b, loc, tile.gathered));
  Value full = emitNot(b, loc, tile.partial);
  auto branch = scf::IfOp::create(b, loc, TypeRange{b.getI64Type()},
                                  mask.masked, /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(branch.thenBlock());
    auto keyAt = [&](OpBuilder &b, Location loc, Value column) {
      return add(b, loc, k0, column);
    };
    Value bits = separatedMask ? emitWindowKeepBits(tb, loc, k0, full)
                               : emitKeepBits(tb, loc, keyAt, full);
    scf::YieldOp::create(tb, loc, ValueRange{bits});
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(branch.elseBlock());
    Value all = arith::ConstantIntOp::create(eb, loc, eb.getI64Type(), -1);
    scf::YieldOp::create(eb, loc, ValueRange{all});
  }
  mask.bits = branch.getResult(0);
  return mask;
}

TileMask HopperAttentionBuilder::emitGatheredTileMask(OpBuilder &b,
                                                      Location loc,
                                                      const KvTileRef &tile,
                                                      Value stage,
                                                      const TileMask &rangeMask) {
  // A gathered tile needs the element mask when PARTIAL and the key bound
  // when short; its keys are the stage's key slots, written by the
  // producer before the "full" barrier this step has waited on.
  Value masked = arith::AndIOp::create(
      b, loc, tile.gathered, arith::OrIOp::create(b, loc, tile.partial, tile.shortTile));
  auto branch = scf::IfOp::create(b, loc, TypeRange{b.getI64Type()}, masked,
                                  /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(branch.thenBlock());
    auto keyAt = [&](OpBuilder &b, Location loc, Value column) -> Value {
      Value key = LLVM::LoadOp::create(b, loc, b.getI32Type(),
                                       emitKeySlot(b, loc, stage, column),
                                       /*alignment=*/4);
      return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), key);
    };
    scf::YieldOp::create(
        tb, loc,
        ValueRange{emitKeepBits(tb, loc, keyAt, emitNot(tb, loc, tile.partial))});
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(branch.elseBlock());
    scf::YieldOp::create(eb, loc, ValueRange{rangeMask.bits});
  }
  TileMask mask;
  mask.masked = arith::OrIOp::create(b, loc, rangeMask.masked, masked);
  mask.bits = branch.getResult(0);
  return mask;
}

void HopperAttentionBuilder::emitGatheredRowsFence(OpBuilder &b, Location loc) {
  if (cfg.gathers)
    hopper::emitAsyncProxyFence(b, loc);
}

void HopperAttentionBuilder::emitApplyTileMask(OpBuilder &b, Location loc,
                                               const TileMask &mask,
                                               SmallVectorImpl<Value> &scores) {
  auto branch = scf::IfOp::create(b, loc, TypeRange(ValueRange(scores)),
                                  mask.masked, /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(branch.thenBlock());
    Type i64 = tb.getI64Type();
    SmallVector<Value> values(scores.begin(), scores.end());
    Value zero = arith::ConstantIntOp::create(tb, loc, i64, 0);
    emitMaskScores(tb, loc, values, [&](int64_t tile, int64_t e) -> Value {
      Value bit = arith::AndIOp::create(
          tb, loc, mask.bits,
          arith::ConstantIntOp::create(tb, loc, i64, int64_t(1) << (4 * tile + e)));
      return cmp(tb, loc, arith::CmpIPredicate::ne, bit, zero);
    });
    scf::YieldOp::create(tb, loc, values);
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(branch.elseBlock());
    scf::YieldOp::create(eb, loc, ValueRange(scores));
  }
  scores.assign(branch.getResults().begin(), branch.getResults().end());
}

void HopperAttentionBuilder::emitReleaseStage(OpBuilder &b, Location loc,
                                              int64_t emptyOffset,
                                              Value stage) {
  scf::IfOp::create(b, loc, leader, [&](OpBuilder &b, Location loc) {
    hopper::emitMbarrierArrive(b, loc, barrier(b, loc, emptyOffset, stage));
    scf::YieldOp::create(b, loc);
  });
}

ConsumerState HopperAttentionBuilder::emitFirstStep(OpBuilder &b, Location loc,
                                                    const KvTileRef &tile) {
  auto [stage, parity] = stageAndParity(b, loc, cst(b, loc, 0));
  TileMask mask = emitTileMask(b, loc, tile);
  hopper::emitMbarrierWait(b, loc, barrier(b, loc, layout.fullK(), stage), parity);
  if (cfg.gathers) {
    emitGatheredRowsFence(b, loc);
    mask = emitGatheredTileMask(b, loc, tile, stage, mask);
  }
  hopper::emitWgmmaFence(b, loc);
  Value s = emitScoresGemm(b, loc, stage);
  hopper::emitWgmmaCommit(b, loc);
  hopper::emitWgmmaWait(b, loc, 0);
  SmallVector<Value> scores =
      hopper::emitPin(b, loc, hopper::emitUnpackStruct(b, loc, s));
  emitReleaseStage(b, loc, layout.emptyK(), stage);
  emitApplyTileMask(b, loc, mask, scores);
  SoftmaxStep step =
      emitSoftmaxStep(b, loc, scores, emitInitialRowState(b, loc), log2Scale,
                      /*fastMax=*/true);
  ConsumerState next;
  next.acc.assign(cfg.headDim / 2,
                  arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)));
  next.rows = step.state;
  next.probs = emitPackProbs(b, loc, scores);
  return next;
}

ConsumerState HopperAttentionBuilder::emitSteadyStep(OpBuilder &b, Location loc,
                                                     Value n,
                                                     const KvTileRef &tile,
                                                     const ConsumerState &state) {
  auto [stage, parity] = stageAndParity(b, loc, n);
  auto [prevStage, prevParity] =
      stageAndParity(b, loc, sub(b, loc, n, cst(b, loc, 1)));
  TileMask mask = emitTileMask(b, loc, tile);
  hopper::emitMbarrierWait(b, loc, barrier(b, loc, layout.fullK(), stage), parity);
  hopper::emitMbarrierWait(b, loc, barrier(b, loc, layout.fullV(), prevStage),
                           prevParity);
  if (cfg.gathers) {
    emitGatheredRowsFence(b, loc);
    mask = emitGatheredTileMask(b, loc, tile, stage, mask);
  }
  SmallVector<Value> acc = hopper::emitPin(b, loc, state.acc);
  SmallVector<Value> probs = hopper::emitPin(b, loc, state.probs);
  hopper::emitWgmmaFence(b, loc);
  Value s = emitScoresGemm(b, loc, stage);
  hopper::emitWgmmaCommit(b, loc);
  acc = emitProbsTimesV(b, loc, prevStage, acc, probs);
  hopper::emitWgmmaCommit(b, loc);
  // S(n) is ready; P(n-1) V(n-1) still runs during the softmax.
  hopper::emitWgmmaWait(b, loc, 1);
  SmallVector<Value> scores =
      hopper::emitPin(b, loc, hopper::emitUnpackStruct(b, loc, s));
  emitReleaseStage(b, loc, layout.emptyK(), stage);
  emitApplyTileMask(b, loc, mask, scores);
  SoftmaxStep step = emitSoftmaxStep(b, loc, scores, state.rows, log2Scale,
                                     /*fastMax=*/true);
  ConsumerState next;
  next.probs = emitPackProbs(b, loc, scores);
  next.rows = step.state;
  hopper::emitWgmmaWait(b, loc, 0);
  acc = hopper::emitPin(b, loc, acc);
  emitReleaseStage(b, loc, layout.emptyV(), prevStage);
  emitRescaleAccumulators(b, loc, acc, step.alpha);
  next.acc = std::move(acc);
  return next;
}

SmallVector<Value> HopperAttentionBuilder::emitTailStep(OpBuilder &b,
                                                        Location loc, Value n,
                                                        const ConsumerState &state) {
  auto [stage, parity] = stageAndParity(b, loc, sub(b, loc, n, cst(b, loc, 1)));
  hopper::emitMbarrierWait(b, loc, barrier(b, loc, layout.fullV(), stage), parity);
  emitGatheredRowsFence(b, loc);
  SmallVector<Value> acc = hopper::emitPin(b, loc, state.acc);
  SmallVector<Value> probs = hopper::emitPin(b, loc, state.probs);
  hopper::emitWgmmaFence(b, loc);
  acc = emitProbsTimesV(b, loc, stage, acc, probs);
  hopper::emitWgmmaCommit(b, loc);
  hopper::emitWgmmaWait(b, loc, 0);
  acc = hopper::emitPin(b, loc, acc);
  emitReleaseStage(b, loc, layout.emptyV(), stage);
  return acc;
}

Value HopperAttentionBuilder::emitPartial(OpBuilder &b, Location loc,
                                          const SegmentRecord &seg) {
  return emitNot(b, loc, seg.isFull);
}

KvTileRef HopperAttentionBuilder::emitTileRef(OpBuilder &b, Location loc,
                                              const SegmentRecord &seg,
                                              const SegmentTiles &tiles,
                                              Value t) {
  KvTileRef tile;
  tile.keyTile = add(b, loc, seg.lo, t);
  tile.partial = emitPartial(b, loc, seg);
  if (cfg.gathers) {
    tile.gathered = seg.isGather;
    Value end = mul(b, loc, add(b, loc, t, cst(b, loc, 1)), cst(b, loc, cfg.blockN));
    tile.shortTile = cmp(b, loc, arith::CmpIPredicate::sgt, end, tiles.gather.count);
  }
  return tile;
}

/// The segment's tile split with gathers (none needed without).
static SegmentTiles segmentTilesIf(bool gathers, OpBuilder &b, Location loc,
                                   const SegmentRecord &seg, Value lk,
                                   int64_t blockN) {
  return gathers ? emitSegmentTiles(b, loc, seg, lk, blockN) : SegmentTiles();
}

void HopperAttentionBuilder::emitConsumer(OpBuilder &b, Location loc) {
  NVVM::SetMaxRegisterOp::create(b, loc, registers().consumer,
                                 NVVM::SetMaxRegisterAction::increase);
  emitConsumerCoordinates(b, loc);
  hopper::emitMbarrierWait(b, loc, barrier(b, loc, layout.fullQ()),
                           hopper::i32Const(b, loc, 0));

  int64_t numAcc = cfg.headDim / 2, numProbs = cfg.blockN / 4;
  ConsumerState init;
  init.acc.assign(numAcc, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0)));
  init.rows = emitInitialRowState(b, loc);
  init.probs.assign(numProbs, hopper::i32Const(b, loc, 0));
  SmallVector<Type> stateTypes = llvm::to_vector(llvm::map_range(
      init.flatten(), [](Value v) { return v.getType(); }));
  Type index = b.getIndexType();

  // The stream's first KV tile is peeled (it has no P V before it), so the
  // loop body is one straight step: find the first segment with tiles.
  auto search = scf::WhileOp::create(b, loc, TypeRange{index},
                                     ValueRange{firstSegment});
  {
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&search.getBefore(), {}, {index}, {loc});
    Value s = before->getArgument(0);
    Value inRange = cmp(b, loc, arith::CmpIPredicate::slt, s, lastSegment);
    auto empty = scf::IfOp::create(b, loc, TypeRange{b.getI1Type()}, inRange,
                                   /*withElseRegion=*/true);
    {
      OpBuilder tb = OpBuilder::atBlockEnd(empty.thenBlock());
      SegmentRecord seg = emitLoadSegment(tb, loc, plan.segments, s);
      Value tiles = emitKeyTiles(
          tb, loc, seg,
          segmentTilesIf(cfg.gathers, tb, loc, seg, grid.lk, cfg.blockN));
      scf::YieldOp::create(
          tb, loc,
          ValueRange{cmp(tb, loc, arith::CmpIPredicate::eq, tiles,
                         cst(tb, loc, 0))});
    }
    {
      OpBuilder eb = OpBuilder::atBlockEnd(empty.elseBlock());
      Value no = arith::ConstantIntOp::create(eb, loc, eb.getI1Type(), 0);
      scf::YieldOp::create(eb, loc, ValueRange{no});
    }
    scf::ConditionOp::create(b, loc, empty.getResult(0), ValueRange{s});
    Block *after = b.createBlock(&search.getAfter(), {}, {index}, {loc});
    scf::YieldOp::create(
        b, loc, ValueRange{add(b, loc, after->getArgument(0), cst(b, loc, 1))});
  }
  Value firstWithTiles = search.getResult(0);
  Value any =
      cmp(b, loc, arith::CmpIPredicate::slt, firstWithTiles, lastSegment);
  SmallVector<Type> carriedTypes(stateTypes);
  carriedTypes.push_back(index);
  auto first = scf::IfOp::create(b, loc, carriedTypes, any,
                                 /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(first.thenBlock());
    SegmentRecord seg = emitLoadSegment(tb, loc, plan.segments, firstWithTiles);
    SegmentTiles tiles =
        segmentTilesIf(cfg.gathers, tb, loc, seg, grid.lk, cfg.blockN);
    SmallVector<Value> started =
        emitFirstStep(tb, loc, emitTileRef(tb, loc, seg, tiles, cst(tb, loc, 0)))
            .flatten();
    started.push_back(cst(tb, loc, 1));
    scf::YieldOp::create(tb, loc, started);
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(first.elseBlock());
    SmallVector<Value> none = init.flatten();
    none.push_back(cst(eb, loc, 0));
    scf::YieldOp::create(eb, loc, none);
  }

  // Every later tile: n counts the tiles visited so far.
  auto segmentLoop = scf::ForOp::create(
      b, loc, firstWithTiles, lastSegment, cst(b, loc, 1),
      first.getResults(),
      [&](OpBuilder &b, Location loc, Value s, ValueRange segCarried) {
        SegmentRecord seg = emitLoadSegment(b, loc, plan.segments, s);
        SegmentTiles tiles =
            segmentTilesIf(cfg.gathers, b, loc, seg, grid.lk, cfg.blockN);
        Value from = arith::SelectOp::create(
            b, loc, cmp(b, loc, arith::CmpIPredicate::eq, s, firstWithTiles),
            cst(b, loc, 1), cst(b, loc, 0));
        auto tileLoop = scf::ForOp::create(
            b, loc, from, emitKeyTiles(b, loc, seg, tiles), cst(b, loc, 1),
            segCarried,
            [&](OpBuilder &b, Location loc, Value t, ValueRange tileCarried) {
              Value n = tileCarried.back();
              ConsumerState state = ConsumerState::unflatten(
                  tileCarried.drop_back(), numAcc, numProbs);
              SmallVector<Value> next =
                  emitSteadyStep(b, loc, n, emitTileRef(b, loc, seg, tiles, t),
                                 state)
                      .flatten();
              next.push_back(add(b, loc, n, cst(b, loc, 1)));
              scf::YieldOp::create(b, loc, next);
            });
        scf::YieldOp::create(b, loc, tileLoop.getResults());
      });

  ValueRange results = segmentLoop.getResults();
  Value n = results.back();
  ConsumerState state =
      ConsumerState::unflatten(results.drop_back(), numAcc, numProbs);
  Value visited = cmp(b, loc, arith::CmpIPredicate::sgt, n, cst(b, loc, 0));
  auto tail = scf::IfOp::create(b, loc, TypeRange(ValueRange(state.acc)),
                                visited, /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(tail.thenBlock());
    scf::YieldOp::create(tb, loc, emitTailStep(tb, loc, n, state));
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(tail.elseBlock());
    scf::YieldOp::create(eb, loc, state.acc);
  }
  state.acc.assign(tail.getResults().begin(), tail.getResults().end());
  emitEpilogue(b, loc, state);
}
