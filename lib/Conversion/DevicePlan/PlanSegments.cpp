//===- PlanSegments.cpp - statuses to segments ----------------------------===//
//
// Implements PlanSegments.h. Why pieces: a query tile's row holds up to
// thousands of KV tile statuses; walked by one thread it was most of a
// build, so rows are cut into pieces of abi::kRunChunk tiles, each counted
// and written by its own item. The run rules must match the host
// planner's Range-only plans (lib/Core/Planner.cpp, appendSegments): a KV
// tile reaching past Lk is never FULL, FULL and PARTIAL tiles form maximal
// runs in key order.
//
//===----------------------------------------------------------------------===//

#include "PlanSegments.h"

#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::deviceplan::stages;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

namespace {

/// The final status of a tile: undecided tiles by what resolve saw.
Value finalStatus(OpBuilder &b, Location loc, Value raw, Value keysClipped) {
  Value base = arith::AndIOp::create(b, loc, raw, i32(b, loc, 3));
  Value kept = cmp(b, loc, CmpIPredicate::ne,
                   arith::AndIOp::create(b, loc, raw, i32(b, loc, kSeenKept)),
                   i32(b, loc, 0));
  Value dropped = cmp(b, loc, CmpIPredicate::ne,
                      arith::AndIOp::create(b, loc, raw, i32(b, loc, kSeenDropped)),
                      i32(b, loc, 0));
  Value partial = arith::OrIOp::create(b, loc, dropped, keysClipped);
  Value resolved = arith::SelectOp::create(
      b, loc, kept,
      arith::SelectOp::create(b, loc, partial, i32(b, loc, kPartial),
                              i32(b, loc, kFull)),
      i32(b, loc, kSkip));
  Value undecided = cmp(b, loc, CmpIPredicate::eq, base, i32(b, loc, kUndecided));
  return arith::SelectOp::create(b, loc, undecided, resolved, base);
}

/// Statuses read per iteration of the run walk, so that its reads are in
/// flight together.
constexpr int64_t kWalkUnroll = 8;
/// Counts read per iteration of a class's scan: one thread sums a class's
/// query tiles, so its reads are batched wider.
constexpr int64_t kScanUnroll = 32;

/// The statuses of tiles `at` of the row from linear tile `base` (position N,
/// past the last tile, and beyond read as skip). All loads come first.
SmallVector<Value> rowStatuses(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                               Value base, ArrayRef<Value> at) {
  Value n = env.numKeyTiles;
  Value last = sub(b, loc, n, cst(b, loc, 1));
  SmallVector<Value> raws;
  for (Value t : at) {
    Value safe = max(b, loc, min(b, loc, t, last), cst(b, loc, 0));
    raws.push_back(memref::LoadOp::create(b, loc, env.status, add(b, loc, base, safe)));
  }
  SmallVector<Value> statuses;
  for (auto [t, raw] : llvm::zip_equal(at, raws)) {
    Value keyEnd = mul(b, loc, add(b, loc, t, cst(b, loc, 1)), cst(b, loc, env.blockN));
    Value clipped = cmp(b, loc, CmpIPredicate::sgt, keyEnd, env.lk);
    Value inside = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::slt, t, n),
                                         cmp(b, loc, CmpIPredicate::sge, t, cst(b, loc, 0)));
    statuses.push_back(arith::SelectOp::create(b, loc, inside, finalStatus(b, loc, raw, clipped),
                                               i32(b, loc, kSkip)));
  }
  return statuses;
}

/// Walks piece `piece` (kRunChunk KV tiles) of the row of (c, m) in key
/// order. The piece owns the segments (maximal runs of equal non-skip
/// status) that start inside it; returns their number. With `write`, also
/// writes them from row `first` on, walking past the piece's end until its
/// last run closes.
Value emitRuns(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c,
               Value m, Value piece, Value first, bool write) {
  Value base = mul(b, loc, add(b, loc, mul(b, loc, c, env.numQueryTiles), m),
                   env.numKeyTiles);
  Value one = cst(b, loc, 1);
  Value pieceLo = mul(b, loc, piece, cst(b, loc, abi::kRunChunk));
  Value pieceEnd = min(b, loc, add(b, loc, pieceLo, cst(b, loc, abi::kRunChunk)),
                       env.numKeyTiles);
  auto emitSegment = [&](OpBuilder &sb, Location sl, Value status, Value lo,
                         Value hi, Value row) {
    Value isFull = arith::ExtUIOp::create(
        sb, sl, sb.getI64Type(),
        cmp(sb, sl, CmpIPredicate::eq, status, i32(sb, sl, kFull)));
    Value fields[7] = {arith::ConstantIntOp::create(sb, sl, 0, 64), isFull,
                       arith::IndexCastOp::create(sb, sl, sb.getI64Type(), lo),
                       arith::IndexCastOp::create(sb, sl, sb.getI64Type(), hi),
                       arith::ConstantIntOp::create(sb, sl, 0, 64),
                       arith::ConstantIntOp::create(sb, sl, 1, 64),
                       arith::ConstantIntOp::create(sb, sl, 1, 64)};
    for (auto [i, v] : llvm::enumerate(fields))
      memref::StoreOp::create(sb, sl, v, env.segments,
                              ValueRange{row, cst(sb, sl, i)});
  };
  // Carried: the next position, the previous status, the start of its run,
  // whether this piece owns that run, the rows used (one per owned start;
  // an owned run is written to the row before the count when it closes).
  // The run entering the piece from the left belongs to an earlier piece.
  Value before = rowStatuses(b, loc, env, base, {sub(b, loc, pieceLo, one)})[0];
  Type indexType = b.getIndexType();
  Value f = arith::ConstantIntOp::create(b, loc, 0, 1);
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{indexType, b.getI32Type(), indexType, b.getI1Type(), indexType},
      ValueRange{pieceLo, before, pieceLo, f, first},
      [&](OpBuilder &cb, Location cl, ValueRange carried) {
        Value go = cmp(cb, cl, CmpIPredicate::slt, carried[0], pieceEnd);
        if (write) {
          Value open = arith::AndIOp::create(
              cb, cl, carried[3], cmp(cb, cl, CmpIPredicate::ne, carried[1], i32(cb, cl, kSkip)));
          go = arith::OrIOp::create(cb, cl, go, open);
        }
        scf::ConditionOp::create(cb, cl, go, carried);
      },
      [&](OpBuilder &lb, Location ll, ValueRange carried) {
        Value g = carried[0];
        SmallVector<Value> at;
        for (int64_t u = 0; u < kWalkUnroll; ++u)
          at.push_back(add(lb, ll, g, cst(lb, ll, u)));
        SmallVector<Value> statuses = rowStatuses(lb, ll, env, base, at);
        Value prev = carried[1], start = carried[2], owned = carried[3], row = carried[4];
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          Value t = at[u], s = statuses[u];
          Value changed = cmp(lb, ll, CmpIPredicate::ne, s, prev);
          if (write) {
            Value closes = arith::AndIOp::create(
                lb, ll, arith::AndIOp::create(lb, ll, changed, owned),
                cmp(lb, ll, CmpIPredicate::ne, prev, i32(lb, ll, kSkip)));
            scf::IfOp::create(lb, ll, closes, [&](OpBuilder &sb, Location sl) {
              emitSegment(sb, sl, prev, start, t, sub(sb, sl, row, cst(sb, sl, 1)));
              scf::YieldOp::create(sb, sl);
            });
          }
          Value startsHere = arith::AndIOp::create(
              lb, ll, changed, cmp(lb, ll, CmpIPredicate::slt, t, pieceEnd));
          Value ownedStart = arith::AndIOp::create(
              lb, ll, startsHere, cmp(lb, ll, CmpIPredicate::ne, s, i32(lb, ll, kSkip)));
          row = arith::SelectOp::create(lb, ll, ownedStart, add(lb, ll, row, cst(lb, ll, 1)), row);
          owned = arith::SelectOp::create(lb, ll, changed, startsHere, owned);
          start = arith::SelectOp::create(lb, ll, changed, t, start);
          prev = s;
        }
        scf::YieldOp::create(lb, ll, ValueRange{add(lb, ll, g, cst(lb, ll, kWalkUnroll)),
                                                prev, start, owned, row});
      });
  return sub(b, loc, loop.getResult(4), first);
}

/// The sum of counts[lo + j] for j in [0, n), kWalkUnroll reads per step.
Value emitCountSum(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value lo,
                   Value n) {
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, kWalkUnroll), ValueRange{cst(b, loc, 0)},
      [&](OpBuilder &lb, Location ll, Value g, ValueRange carried) {
        Value last = sub(lb, ll, n, cst(lb, ll, 1));
        SmallVector<Value> at, counts;
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          at.push_back(add(lb, ll, g, cst(lb, ll, u)));
          counts.push_back(
              loadIndex(lb, ll, env.counts, add(lb, ll, lo, min(lb, ll, at.back(), last))));
        }
        Value acc = carried[0];
        for (auto [j, count] : llvm::zip_equal(at, counts))
          acc = add(lb, ll, acc,
                    arith::SelectOp::create(lb, ll, cmp(lb, ll, CmpIPredicate::slt, j, n),
                                            count, cst(lb, ll, 0)));
        scf::YieldOp::create(lb, ll, ValueRange{acc});
      });
  return loop.getResult(0);
}

/// (class, query tile, piece) of a count or write item, and where the
/// piece counts start in the counts buffer (after the C * T row totals,
/// which classify zeroes).
struct PieceItem {
  Value c, m, piece, row, pieceCounts;
};
PieceItem pieceItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value item) {
  PieceItem p;
  p.piece = rem(b, loc, item, env.numPieces);
  p.row = div(b, loc, item, env.numPieces);
  p.c = div(b, loc, p.row, env.numQueryTiles);
  p.m = rem(b, loc, p.row, env.numQueryTiles);
  p.pieceCounts = mul(b, loc, env.numClasses, env.numQueryTiles);
  return p;
}

} // namespace

void stages::emitCountItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           Value item) {
  PieceItem p = pieceItem(b, loc, env, item);
  Value n = emitRuns(b, loc, env, p.c, p.m, p.piece, cst(b, loc, 0), /*write=*/false);
  storeIndex(b, loc, n, env.counts, add(b, loc, p.pieceCounts, item));
  scf::IfOp::create(b, loc, cmp(b, loc, CmpIPredicate::ne, n, cst(b, loc, 0)),
                    [&](OpBuilder &ib, Location il) {
                      memref::AtomicRMWOp::create(
                          ib, il, arith::AtomicRMWKind::addi,
                          arith::IndexCastOp::create(ib, il, ib.getI64Type(), n), env.counts,
                          ValueRange{p.row});
                      scf::YieldOp::create(ib, il);
                    });
}

void stages::emitWriteItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           Value item) {
  PieceItem p = pieceItem(b, loc, env, item);
  Value rowFirst = loadIndex(
      b, loc, env.offsets,
      add(b, loc, mul(b, loc, p.c, add(b, loc, env.numQueryTiles, cst(b, loc, 1))), p.m));
  Value earlier = emitCountSum(
      b, loc, env, add(b, loc, p.pieceCounts, mul(b, loc, p.row, env.numPieces)), p.piece);
  emitRuns(b, loc, env, p.c, p.m, p.piece, add(b, loc, rowFirst, earlier), /*write=*/true);
}

/// The offsets of class `c`: an exclusive prefix sum of its tiles' counts
/// from row c * T * N, the start of the class's share of the segment
/// buffer (which holds T * N rows per class: a query tile has at most N
/// segments), so that classes are summed independently.
void stages::emitScan(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c) {
  // classIndex[b * H + h] = c for the pairs of class c: one batch element
  // (or all, when plans do not differ by batch) times one head (or all).
  ClassAxes axes = classAxes(env.mask);
  Value one = cst(b, loc, 1);
  Value b0 = axes.batch ? div(b, loc, c, env.classHeads) : cst(b, loc, 0);
  Value h0 = axes.head ? rem(b, loc, c, env.classHeads) : cst(b, loc, 0);
  Value bEnd = axes.batch ? add(b, loc, b0, one) : env.batch;
  Value hEnd = axes.head ? add(b, loc, h0, one) : env.heads;
  scf::ForOp::create(
      b, loc, b0, bEnd, one, ValueRange{},
      [&](OpBuilder &ob, Location ol, Value bi, ValueRange) {
        scf::ForOp::create(
            ob, ol, h0, hEnd, one, ValueRange{},
            [&](OpBuilder &ib, Location il, Value hi, ValueRange) {
              storeIndex(ib, il, c, env.classIndex,
                         add(ib, il, mul(ib, il, bi, env.heads), hi));
              scf::YieldOp::create(ib, il);
            });
        scf::YieldOp::create(ob, ol);
      });

  Value t = env.numQueryTiles;
  Value row = mul(b, loc, c, add(b, loc, t, cst(b, loc, 1)));
  Value base = mul(b, loc, mul(b, loc, c, t), env.numKeyTiles);
  // kScanUnroll counts per iteration, read before they are summed.
  auto tiles = scf::ForOp::create(
      b, loc, cst(b, loc, 0), t, cst(b, loc, kScanUnroll), ValueRange{base},
      [&](OpBuilder &mb, Location ml, Value g, ValueRange carried) {
        Value last = sub(mb, ml, t, cst(mb, ml, 1));
        SmallVector<Value> at, counts;
        for (int64_t u = 0; u < kScanUnroll; ++u) {
          at.push_back(add(mb, ml, g, cst(mb, ml, u)));
          counts.push_back(loadIndex(
              mb, ml, env.counts,
              add(mb, ml, mul(mb, ml, c, t), min(mb, ml, at.back(), last))));
        }
        Value acc = carried[0];
        for (int64_t u = 0; u < kScanUnroll; ++u) {
          Value inside = cmp(mb, ml, CmpIPredicate::slt, at[u], t);
          scf::IfOp::create(mb, ml, inside, [&](OpBuilder &sb, Location sl) {
            storeIndex(sb, sl, acc, env.offsets, add(sb, sl, row, at[u]));
            scf::YieldOp::create(sb, sl);
          });
          acc = add(mb, ml, acc,
                    arith::SelectOp::create(mb, ml, inside, counts[u], cst(mb, ml, 0)));
        }
        scf::YieldOp::create(mb, ml, ValueRange{acc});
      });
  storeIndex(b, loc, tiles.getResult(0), env.offsets, add(b, loc, row, t));
}
