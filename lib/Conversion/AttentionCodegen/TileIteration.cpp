//===- TileIteration.cpp - walking a flat tile plan in generated code -----===//
//
// Implements the plan-reading builders of sattn/Conversion/TileIteration.h.
// Every quantity here is a non-negative index once the plan has passed the
// runtime's checks, so plain signed division and remainder suffice except
// for the one floor-mod of the lattice phase (lo - start may be negative).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/TileIteration.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/Planner.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::indexarith;

namespace {
using arith::CmpIPredicate;
} // namespace

SegmentRecord sattn::emitLoadSegment(OpBuilder &b, Location loc,
                                     Value segments, Value row) {
  auto field = [&](int64_t column) -> Value {
    Value raw = memref::LoadOp::create(b, loc, segments,
                                       ValueRange{row, cst(b, loc, column)});
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  };
  SegmentRecord seg;
  Value kind = field(0), full = field(1);
  seg.isGather =
      arith::CmpIOp::create(b, loc, CmpIPredicate::ne, kind, cst(b, loc, 0));
  seg.isList =
      arith::CmpIOp::create(b, loc, CmpIPredicate::eq, kind, cst(b, loc, 2));
  seg.table = segments;
  seg.isFull =
      arith::CmpIOp::create(b, loc, CmpIPredicate::ne, full, cst(b, loc, 0));
  seg.lo = field(2);
  seg.hi = field(3);
  seg.start = field(4);
  seg.period = field(5);
  seg.width = field(6);
  return seg;
}

GatherCursor sattn::emitGatherCursor(OpBuilder &b, Location loc,
                                     const SegmentRecord &seg, Value lk) {
  GatherCursor c;
  c.period = seg.period;
  c.width = seg.width;
  // phase = (lo - start) floormod period; base = lo - phase.
  Value r = rem(b, loc, sub(b, loc, seg.lo, seg.start), seg.period);
  Value negative =
      arith::CmpIOp::create(b, loc, CmpIPredicate::slt, r, cst(b, loc, 0));
  Value phase = arith::SelectOp::create(b, loc, negative,
                                        add(b, loc, r, seg.period), r);
  c.base = sub(b, loc, seg.lo, phase);
  c.skip = min(b, loc, seg.width, phase);
  // Members in [base, x) number (x - base) / period * width +
  // min(width, (x - base) mod period); the segment visits those in
  // [lo, min(hi, lk)), i.e. that count at the clipped end minus `skip`.
  Value span = sub(b, loc, min(b, loc, seg.hi, lk), c.base);
  Value below = add(b, loc, mul(b, loc, div(b, loc, span, seg.period), seg.width),
                    min(b, loc, seg.width, rem(b, loc, span, seg.period)));
  c.count = max(b, loc, cst(b, loc, 0), sub(b, loc, below, c.skip));
  // A key list: its keys are pool[lo, hi).
  auto pick = [&](Value list, Value lattice) -> Value {
    return arith::SelectOp::create(b, loc, seg.isList, list, lattice);
  };
  Value zero = cst(b, loc, 0);
  c.base = pick(seg.lo, c.base);
  c.skip = pick(zero, c.skip);
  c.count = pick(max(b, loc, zero, sub(b, loc, seg.hi, seg.lo)), c.count);
  c.isList = seg.isList;
  c.pool = seg.table;
  return c;
}

Value sattn::emitGatheredKey(OpBuilder &b, Location loc,
                             const GatherCursor &c, Value j) {
  auto key = scf::IfOp::create(
      b, loc, c.isList,
      [&](OpBuilder &tb, Location tl) {
        // The pool shares the segment buffer's rows of 7 int64 fields.
        Value flat = add(tb, tl, c.base, j);
        Value fields = cst(tb, tl, plan::FlatPlan::kSegmentFields);
        Value raw = memref::LoadOp::create(
            tb, tl, c.pool,
            ValueRange{div(tb, tl, flat, fields), rem(tb, tl, flat, fields)});
        scf::YieldOp::create(
            tb, tl,
            Value(arith::IndexCastOp::create(tb, tl, tb.getIndexType(), raw)));
      },
      [&](OpBuilder &eb, Location el) {
        Value idx = add(eb, el, j, c.skip);
        Value k = add(eb, el, c.base,
                      add(eb, el, mul(eb, el, div(eb, el, idx, c.width), c.period),
                          rem(eb, el, idx, c.width)));
        scf::YieldOp::create(eb, el, k);
      });
  return key.getResult(0);
}

Value sattn::emitRangeTileCount(OpBuilder &b, Location loc,
                                const SegmentRecord &seg, Value lk,
                                int64_t blockN) {
  Value hi = min(b, loc, seg.hi, ceilDiv(b, loc, lk, blockN));
  return max(b, loc, cst(b, loc, 0), sub(b, loc, hi, seg.lo));
}

SegmentTiles sattn::emitSegmentTiles(OpBuilder &b, Location loc,
                                     const SegmentRecord &seg, Value lk,
                                     int64_t blockN) {
  Type index = b.getIndexType();
  auto split = scf::IfOp::create(
      b, loc, TypeRange{index, index, index, index}, seg.isGather,
      /*withElseRegion=*/true);
  {
    OpBuilder tb = OpBuilder::atBlockEnd(split.thenBlock());
    GatherCursor c = emitGatherCursor(tb, loc, seg, lk);
    scf::YieldOp::create(tb, loc,
                         ValueRange{ceilDiv(tb, loc, c.count, blockN), c.base,
                                    c.skip, c.count});
  }
  {
    OpBuilder eb = OpBuilder::atBlockEnd(split.elseBlock());
    Value zero = cst(eb, loc, 0);
    Value tiles = emitRangeTileCount(eb, loc, seg, lk, blockN);
    scf::YieldOp::create(eb, loc, ValueRange{tiles, zero, zero, zero});
  }
  SegmentTiles tiles;
  tiles.numTiles = split.getResult(0);
  tiles.gather.base = split.getResult(1);
  tiles.gather.skip = split.getResult(2);
  tiles.gather.count = split.getResult(3);
  tiles.gather.period = seg.period;
  tiles.gather.width = seg.width;
  tiles.gather.isList = seg.isList;
  tiles.gather.pool = seg.table;
  return tiles;
}

Value sattn::emitTileKeys(OpBuilder &b, Location loc, const SegmentRecord &seg,
                          const SegmentTiles &tiles, Value t, Value lk,
                          int64_t blockN, Value keys) {
  Value bn = cst(b, loc, blockN);
  auto n = scf::IfOp::create(
      b, loc, seg.isGather,
      [&](OpBuilder &tb, Location tl) {
        const GatherCursor &c = tiles.gather;
        Value j0 = mul(tb, tl, t, bn);
        Value n = min(tb, tl, bn, sub(tb, tl, c.count, j0));
        forEach(tb, tl, n, [&](OpBuilder &lb, Location ll, Value j) {
          Value key = emitGatheredKey(lb, ll, c, add(lb, ll, j0, j));
          memref::StoreOp::create(lb, ll, key, keys, j);
        });
        scf::YieldOp::create(tb, tl, n);
      },
      [&](OpBuilder &eb, Location el) {
        Value k0 = mul(eb, el, add(eb, el, seg.lo, t), bn);
        Value n = min(eb, el, bn, sub(eb, el, lk, k0));
        forEach(eb, el, n, [&](OpBuilder &lb, Location ll, Value j) {
          memref::StoreOp::create(lb, ll, add(lb, ll, k0, j), keys, j);
        });
        scf::YieldOp::create(eb, el, n);
      });
  return n.getResult(0);
}
