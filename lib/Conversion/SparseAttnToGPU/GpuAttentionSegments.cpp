//===- GpuAttentionSegments.cpp - the plan schedule of a query tile ---------===//
//
// Walks the segments of the tile plan for one query tile: FULL or PARTIAL,
// range or gather (four loop variants, chosen by uniform branches), with a
// multi-stage pipeline of KV tiles that continues across segments (the last
// tile of one segment prefetches the first of the next).
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilderImpl.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

void GpuAttentionBuilder::emitIssueFirstTileOfNext(OpBuilder &b, Location loc,
                                                   const SegmentPosition &pos,
                                                   Value stage) {
  Value nextIndex = add(b, loc, pos.index, cst(b, loc, 1));
  Value hasNext = cmp(b, loc, arith::CmpIPredicate::slt, nextIndex, pos.last);
  scf::IfOp::create(b, loc, hasNext, [&](OpBuilder &b, Location loc) {
    SegmentRecord next = emitLoadSegment(b, loc, segments, nextIndex);
    SegmentTiles tiles = emitSegmentTiles(b, loc, next, lk, cfg.blockN);
    Value nonEmpty =
        cmp(b, loc, arith::CmpIPredicate::sgt, tiles.numTiles, cst(b, loc, 0));
    scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &b, Location loc) {
      scf::IfOp::create(
          b, loc, next.isGather,
          [&](OpBuilder &tb, Location tl) {
            TileKeys keys = emitTileKeys(tb, tl, next, tiles, true, cst(tb, tl, 0));
            emitIssueKvTile(tb, tl, keys, stage);
            scf::YieldOp::create(tb, tl);
          },
          [&](OpBuilder &eb, Location el) {
            TileKeys keys = emitTileKeys(eb, el, next, tiles, false, cst(eb, el, 0));
            emitIssueKvTile(eb, el, keys, stage);
            scf::YieldOp::create(eb, el);
          });
      scf::YieldOp::create(b, loc);
    });
    scf::YieldOp::create(b, loc);
  });
}

LoopState GpuAttentionBuilder::emitSegment(OpBuilder &b, Location loc,
                                           const SegmentRecord &seg,
                                           const SegmentTiles &tiles,
                                           const SegmentPosition &pos,
                                           bool partial, bool gather,
                                           LoopState state) {
  int64_t stages = cfg.stages;
  Value n = tiles.numTiles;
  Value stagesValue = cst(b, loc, stages);
  auto stageOf = [&](OpBuilder &b, Location loc, Value t) -> Value {
    return arith::RemUIOp::create(b, loc, add(b, loc, pos.firstTile, t),
                                  stagesValue);
  };
  // Prologue: tiles 0 .. stages - 2, one commit group each, except tile 0
  // when the previous segment issued (and committed) it already. Stream
  // positions keep these stages clear of the previous segment's last tile,
  // which other warps may still read.
  for (int64_t i = 0; i + 1 < stages; ++i) {
    auto issue = [&](OpBuilder &b, Location loc) {
      Value ti = cst(b, loc, i);
      Value exists = cmp(b, loc, arith::CmpIPredicate::slt, ti, n);
      scf::IfOp::create(b, loc, exists, [&](OpBuilder &tb, Location tl) {
        ThreadScope scope(*this, tb, tl);
        TileKeys keys = emitTileKeys(tb, tl, seg, tiles, gather, ti);
        emitIssueKvTile(tb, tl, keys, stageOf(tb, tl, ti));
        scf::YieldOp::create(tb, tl);
      });
      emitCommitGroup(b, loc);
    };
    if (i > 0 || !cfg.prefetchAcrossSegments) {
      issue(b, loc);
      continue;
    }
    Value notAhead = arith::XOrIOp::create(
        b, loc, pos.ahead,
        arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    scf::IfOp::create(b, loc, notAhead, [&](OpBuilder &tb, Location tl) {
      issue(tb, tl);
      scf::YieldOp::create(tb, tl);
    });
  }
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, 1), state.flatten(),
      [&](OpBuilder &b, Location loc, Value t, ValueRange carried) {
        ThreadScope scope(*this, b, loc);
        // Every warp is done with tile t - 1, whose stage the prefetch
        // below refills.
        gpu::BarrierOp::create(b, loc);
        Value next = add(b, loc, t, cst(b, loc, stages - 1));
        Value exists = cmp(b, loc, arith::CmpIPredicate::slt, next, n);
        scf::IfOp::create(
            b, loc, exists,
            [&](OpBuilder &tb, Location tl) {
              TileKeys keys = emitTileKeys(tb, tl, seg, tiles, gather, next);
              emitIssueKvTile(tb, tl, keys, stageOf(tb, tl, next));
              scf::YieldOp::create(tb, tl);
            },
            [&](OpBuilder &eb, Location el) {
              if (!cfg.prefetchAcrossSegments) {
                scf::YieldOp::create(eb, el);
                return;
              }
              // The last tile prefetches the next segment's first.
              Value isLast = cmp(eb, el, arith::CmpIPredicate::eq,
                                 add(eb, el, t, cst(eb, el, 1)), n);
              scf::IfOp::create(eb, el, isLast, [&](OpBuilder &lb, Location ll) {
                emitIssueFirstTileOfNext(lb, ll, pos, stageOf(lb, ll, n));
                scf::YieldOp::create(lb, ll);
              });
              scf::YieldOp::create(eb, el);
            });
        // Always commit, possibly an empty group, so that "all but the
        // newest stages - 1 groups" is always tile t.
        emitCommitGroup(b, loc);
        emitWaitGroups(b, loc, stages - 1);
        gpu::BarrierOp::create(b, loc);
        Value stage = stageOf(b, loc, t);
        TileKeys keys = emitTileKeys(b, loc, seg, tiles, gather, t);
        LoopState s =
            emitKvTile(b, loc, keys, stage, partial,
                       LoopState::unflatten(carried, cfg.mTiles()));
        scf::YieldOp::create(b, loc, s.flatten());
      });
  // Names the variant in the IR, for readers and tests.
  loop->setAttr(
      kKvLoopAttr,
      StringAttr::get(b.getContext(), Twine(partial ? "partial" : "full") +
                                          "-" + (gather ? "gather" : "range")));
  return LoopState::unflatten(loop.getResults(), cfg.mTiles());
}

LoopState GpuAttentionBuilder::emitSegments(OpBuilder &b, Location loc,
                                            LoopState state) {
  Value first, last;
  std::tie(first, last) = emitSegmentRows(b, loc, kernel, offsets, classIndex,
                                          batchIdx, headIdx, numQueryTiles,
                                          tileIdx);
  // Carried besides the softmax state (when prefetching across segments):
  // the stream position of the next segment's tile 0 and the previous
  // segment's tile count.
  bool across = cfg.prefetchAcrossSegments;
  int64_t extra = across ? 2 : 0;
  SmallVector<Value> init = state.flatten();
  if (across) {
    init.push_back(cst(b, loc, 0));
    init.push_back(cst(b, loc, 0));
  }
  auto loop = scf::ForOp::create(
      b, loc, first, last, cst(b, loc, 1), init,
      [&](OpBuilder &b, Location loc, Value s, ValueRange carried) {
        SegmentRecord seg = emitLoadSegment(b, loc, segments, s);
        SegmentTiles tiles = emitSegmentTiles(b, loc, seg, lk, cfg.blockN);
        ValueRange softmax = carried.drop_back(extra);
        Value zero = cst(b, loc, 0);
        SegmentPosition pos{s, last, zero,
                            arith::ConstantOp::create(b, loc, b.getBoolAttr(false))};
        if (across) {
          // The previous segment's last tile issued this one's first when
          // both have tiles (see emitIssueFirstTileOfNext).
          pos.firstTile = carried[carried.size() - 2];
          Value previousTiles = carried.back();
          pos.ahead = arith::AndIOp::create(
              b, loc,
              cmp(b, loc, arith::CmpIPredicate::sgt, previousTiles, zero),
              cmp(b, loc, arith::CmpIPredicate::sgt, tiles.numTiles, zero));
        } else {
          // Every segment numbers its stages from 0: the previous segment's
          // last tiles may still be read from the stages the prologue
          // overwrites.
          gpu::BarrierOp::create(b, loc);
        }
        LoopState in = LoopState::unflatten(softmax, cfg.mTiles());
        SmallVector<Type> types(softmax.getTypes());
        // Four uniform variants, so that each tile loop holds only its own
        // key arithmetic and, on FULL segments, no mask code.
        auto byMask = scf::IfOp::create(b, loc, types, seg.isFull, true);
        for (bool partial : {false, true}) {
          OpBuilder mb = OpBuilder::atBlockEnd(partial ? byMask.elseBlock()
                                                       : byMask.thenBlock());
          auto byKind = scf::IfOp::create(mb, loc, types, seg.isGather, true);
          for (bool gather : {true, false}) {
            OpBuilder kb = OpBuilder::atBlockEnd(gather ? byKind.thenBlock()
                                                        : byKind.elseBlock());
            if (gather && !cfg.planGathers()) {
              // A Range-only plan holds no Gather or List rows.
              scf::YieldOp::create(kb, loc, softmax);
              continue;
            }
            LoopState out =
                emitSegment(kb, loc, seg, tiles, pos, partial, gather, in);
            scf::YieldOp::create(kb, loc, out.flatten());
          }
          scf::YieldOp::create(mb, loc, byKind.getResults());
        }
        SmallVector<Value> results(byMask.getResults());
        if (across) {
          results.push_back(add(b, loc, pos.firstTile, tiles.numTiles));
          results.push_back(tiles.numTiles);
        }
        scf::YieldOp::create(b, loc, results);
      });
  return LoopState::unflatten(loop.getResults().drop_back(extra), cfg.mTiles());
}
