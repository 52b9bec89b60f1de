//===- HopperProducer.cpp - the sm_90a kernel's TMA producer --------------===//
//
// Warpgroup 0 gives its registers to the consumers and one elected thread
// of its first warp issues every load of the CTA: the Q tile once, then K
// and V of each KV tile of the plan, in the order the consumers visit them.
// A kernel built with gathers runs the stream on all 128 threads: thread 0
// issues the TMA boxes of Range tiles, and all of them copy the rows of
// Gather and List tiles (HopperGatheredLoads.cpp).
// Tile n goes to ring stage n % stages once the consumers have released
// the stage's previous contents (its "empty" barrier); each copy
// announces its bytes on the stage's "full" barrier, which completes when
// they have landed. TMA clips boxes at the tensor map's bounds and fills
// with zeros, so ragged tiles (rows >= L) need no special case here.
//
//===----------------------------------------------------------------------===//

#include "HopperAttentionBuilder.h"

#include "HopperSync.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/TileIteration.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

void HopperAttentionBuilder::emitLoadTile(OpBuilder &b, Location loc,
                                          Value tensorMap, Value dst, Value row,
                                          Value head, Value bar, int64_t rows) {
  Type i32 = b.getI32Type();
  auto toI32 = [&](Value v) { return arith::IndexCastUIOp::create(b, loc, i32, v); };
  Value row32 = toI32(row), head32 = toI32(head), batch32 = toI32(grid.batchIdx);
  for (int64_t box = 0; box < layout.boxes(); ++box) {
    Value to = hopper::emitSharedOffset(b, loc, dst, box * layout.boxBytes(rows));
    hopper::emitTmaLoad(b, loc, to, tensorMap,
                        {hopper::i32Const(b, loc, HopperLayout::kBoxColumns * box),
                         row32, head32, batch32},
                        bar);
  }
}

void HopperAttentionBuilder::emitProducer(OpBuilder &b, Location loc) {
  NVVM::SetMaxRegisterOp::create(b, loc, registers().producer,
                                 NVVM::SetMaxRegisterAction::decrease);
  if (cfg.gathers) {
    // Every thread of the warpgroup copies gathered rows; thread 0 issues
    // the TMA boxes.
    emitLoadStream(b, loc, cmp(b, loc, arith::CmpIPredicate::eq, grid.threadId,
                               cst(b, loc, 0)));
    return;
  }
  Value firstWarp = cmp(b, loc, arith::CmpIPredicate::ult, grid.threadId, cst(b, loc, 32));
  scf::IfOp::create(b, loc, firstWarp, [&](OpBuilder &b, Location loc) {
    Value elected = NVVM::ElectSyncOp::create(b, loc, b.getI1Type(), Value());
    scf::IfOp::create(b, loc, elected, [&](OpBuilder &b, Location loc) {
      emitLoadStream(b, loc, Value());
      scf::YieldOp::create(b, loc);
    });
    scf::YieldOp::create(b, loc);
  });
}

void HopperAttentionBuilder::emitLoadStream(OpBuilder &b, Location loc,
                                            Value leader) {
  // `body` as the thread that issues TMA copies.
  auto asLeader = [&](OpBuilder &b, Location loc,
                      function_ref<void(OpBuilder &, Location)> body) {
    if (!leader)
      return body(b, loc);
    scf::IfOp::create(b, loc, leader, [&](OpBuilder &b, Location loc) {
      body(b, loc);
      scf::YieldOp::create(b, loc);
    });
  };
  asLeader(b, loc, [&](OpBuilder &b, Location loc) {
    for (Value map : {tensorMapQ, tensorMapK, tensorMapV})
      NVVM::PrefetchOp::create(b, loc, /*cacheLevel=*/nullptr,
                               /*evictPriority=*/nullptr, map, Value(),
                               /*tensormap=*/true);
    Value fullQ = barrier(b, loc, layout.fullQ());
    hopper::emitMbarrierExpectBytes(b, loc, fullQ, layout.tileBytes(cfg.blockM));
    emitLoadTile(b, loc, tensorMapQ,
                 hopper::emitSharedOffset(b, loc, smem, layout.qOffset()),
                 mul(b, loc, tileIdx, cst(b, loc, cfg.blockM)), grid.headIdx, fullQ,
                 cfg.blockM);
  });

  int64_t tileBytes = layout.tileBytes(cfg.blockN);
  auto segmentLoop = scf::ForOp::create(
      b, loc, firstSegment, lastSegment, cst(b, loc, 1),
      ValueRange{cst(b, loc, 0)},
      [&](OpBuilder &b, Location loc, Value s, ValueRange carried) {
        SegmentRecord seg = emitLoadSegment(b, loc, plan.segments, s);
        SegmentTiles tiles;
        if (cfg.gathers)
          tiles = emitSegmentTiles(b, loc, seg, grid.lk, cfg.blockN);
        auto tileLoop = scf::ForOp::create(
            b, loc, cst(b, loc, 0), emitKeyTiles(b, loc, seg, tiles), cst(b, loc, 1),
            ValueRange{carried[0]},
            [&](OpBuilder &b, Location loc, Value t, ValueRange n) {
              auto [ringStage, parity] = stageAndParity(b, loc, n[0]);
              Value stage = ringStage;
              Value freeParity = arith::XOrIOp::create(
                  b, loc, parity, hopper::i32Const(b, loc, 1));
              Value keyRow =
                  mul(b, loc, add(b, loc, seg.lo, t), cst(b, loc, cfg.blockN));
              Value stageBytes = arith::MulIOp::create(
                  b, loc, stage, hopper::i32Const(b, loc, tileBytes));
              std::pair<int64_t, Value> operands[] = {
                  {layout.kOffset(0), tensorMapK},
                  {layout.vOffset(0), tensorMapV}};
              for (auto [offset, tensorMap] : operands) {
                Value map = tensorMap;
                bool isK = map == tensorMapK;
                hopper::emitMbarrierWait(
                    b, loc,
                    barrier(b, loc, isK ? layout.emptyK() : layout.emptyV(), stage),
                    freeParity);
                Value full =
                    barrier(b, loc, isK ? layout.fullK() : layout.fullV(), stage);
                Value dst = hopper::emitSharedOffset(
                    b, loc, hopper::emitSharedOffset(b, loc, smem, offset),
                    stageBytes);
                auto loadBoxes = [&](OpBuilder &b, Location loc) {
                  if (!leader) {
                    hopper::emitMbarrierExpectBytes(b, loc, full, tileBytes);
                    emitLoadTile(b, loc, map, dst, keyRow, grid.kvHead, full,
                                 cfg.blockN);
                    return;
                  }
                  // The barrier counts every producer thread (gathers).
                  scf::IfOp::create(
                      b, loc, leader,
                      [&](OpBuilder &b, Location loc) {
                        hopper::emitMbarrierExpectBytes(b, loc, full, tileBytes);
                        emitLoadTile(b, loc, map, dst, keyRow, grid.kvHead,
                                     full, cfg.blockN);
                        scf::YieldOp::create(b, loc);
                      },
                      [&](OpBuilder &b, Location loc) {
                        hopper::emitMbarrierArrive(b, loc, full);
                        scf::YieldOp::create(b, loc);
                      });
                };
                if (!cfg.gathers) {
                  loadBoxes(b, loc);
                  continue;
                }
                scf::IfOp::create(
                    b, loc, seg.isGather,
                    [&](OpBuilder &b, Location loc) {
                      emitLoadGatheredRows(b, loc, isK, tiles.gather, t, stage,
                                           dst, full);
                      scf::YieldOp::create(b, loc);
                    },
                    [&](OpBuilder &b, Location loc) {
                      loadBoxes(b, loc);
                      scf::YieldOp::create(b, loc);
                    });
              }
              scf::YieldOp::create(b, loc,
                                   ValueRange{add(b, loc, n[0], cst(b, loc, 1))});
            });
        scf::YieldOp::create(b, loc, tileLoop.getResults());
      });
  (void)segmentLoop;
}
