//===- DiagonalBands.cpp - kept diagonals as Gather segments of bands -----===//
//
// Implements the diagonal part of sattn/Conversion/DevicePlan.h: finding
// the diagonal term, classify's band bit and the Gather segments of period
// 1 of a gathered run (PlanSegments.h). Why: a mask such as
// `causal & slash[h, q - k]` (vertical_slash's diagonals; or a point set
// `q - k == 37 | q - k == 900`) keeps isolated diagonals; a Range-only
// plan visits every KV tile one crosses as a PARTIAL tile, and a diagonal
// crosses two tiles per query tile unless it is aligned with the grid.
// The keys a kept diagonal d crosses in query
// tile [qLo, qHi] are the band [qLo - d, qHi - d]: gathered as one Gather
// segment of period 1, they fill one tile's worth (BM keys) wherever the
// band lies. With a diagonal term the builder decides tiles on the *rest*
// of the mask (the term read as false) and, for every run of tiles that
// the rest skips and the whole mask may keep, gathers the bands of the
// kept diagonals crossing it, clipped to the run, sorted, neighbouring and
// overlapping ones merged, as the host planner does with
// PlanOptions::gathers. Sound for any mask monotone in the term: a pair
// the rest drops can be kept only where the term holds, i.e. on a kept
// diagonal, whose key lies in that diagonal's band; bands are disjoint and
// lie inside the run (no key of a Range tile), and gathered keys are masked
// with the whole mask (PARTIAL). A run of r tiles whose bands would visit
// r tiles or more is one PARTIAL Range segment instead, so a query tile
// never needs more than N segment rows, and a tile that every diagonal
// crossing it keeps entirely is a FULL Range tile.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/DevicePlan.h"

#include "PlanSegments.h"

#include "sattn/Conversion/IndexArith.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

#include <functional>

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::deviceplan::stages;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

namespace {

/// Whether `v` is `q - k` of `body` (the diagonal offset of the pair).
bool isDiagonalOffset(Value v, Block *body) {
  auto diff = v.getDefiningOp<arith::SubIOp>();
  if (!diff)
    return false;
  auto q = dyn_cast<BlockArgument>(diff.getLhs());
  auto k = dyn_cast<BlockArgument>(diff.getRhs());
  return q && k && q.getOwner() == body && k.getOwner() == body && q.getArgNumber() == 2 &&
         k.getArgNumber() == 3;
}

/// Diagonals read per iteration of a band walk, so that their table reads
/// are in flight together.
constexpr int64_t kDiagonalUnroll = 8;

/// The query tile whose bands are walked.
struct BandQueries {
  Value batch, head, qLo, qHi;
};

/// Called for each band [lo, hi) of a walk, in key order, with the carried
/// values; returns them updated.
using BandFn = function_ref<SmallVector<Value>(OpBuilder &, Location, Value lo, Value hi,
                                               ValueRange carried)>;

/// BN-key tiles of `keys` gathered keys.
Value gatheredTiles(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value keys) {
  return div(b, loc, add(b, loc, keys, cst(b, loc, env.blockN - 1)), cst(b, loc, env.blockN));
}

/// An open band [bandLo, bandHi) (when `open`) and the caller's values.
struct BandState {
  Value open, bandLo, bandHi;
  SmallVector<Value> acc;
};

/// Closes the open band of `s` when `closes`: the caller's values after it.
void closeBand(OpBuilder &b, Location loc, Value closes, BandState &s, BandFn onBand) {
  auto closed = scf::IfOp::create(
      b, loc, closes,
      [&](OpBuilder &ib, Location il) {
        scf::YieldOp::create(ib, il, onBand(ib, il, s.bandLo, s.bandHi, s.acc));
      },
      [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, s.acc); });
  s.acc.assign(closed.getResults().begin(), closed.getResults().end());
}

/// Diagonal `d` of `q` in a walk over keys [lo, hi), kept where `isKept`
/// (d is below every diagonal walked before): its keys clipped to [lo, hi)
/// join the open band when the merged band takes no more tiles than the two
/// apart (always where they overlap or touch: the merged band is no longer
/// than both), else the open band closes (onBand) and they open the next.
void walkDiagonal(OpBuilder &b, Location loc, const PlanBuilderEnv &env, const BandQueries &q,
                  Value lo, Value hi, Value d, Value isKept, BandState &s, BandFn onBand) {
  Value keyLo = max(b, loc, sub(b, loc, q.qLo, d), lo);
  Value keyHi = min(b, loc, add(b, loc, sub(b, loc, q.qHi, d), cst(b, loc, 1)), hi);
  Value merged = gatheredTiles(b, loc, env, sub(b, loc, keyHi, s.bandLo));
  Value apart = add(b, loc, gatheredTiles(b, loc, env, sub(b, loc, s.bandHi, s.bandLo)),
                    gatheredTiles(b, loc, env, sub(b, loc, keyHi, keyLo)));
  Value joins =
      arith::AndIOp::create(b, loc, s.open, cmp(b, loc, CmpIPredicate::sle, merged, apart));
  Value opens = arith::AndIOp::create(
      b, loc, isKept,
      arith::XOrIOp::create(b, loc, joins, arith::ConstantIntOp::create(b, loc, 1, 1)));
  closeBand(b, loc, arith::AndIOp::create(b, loc, opens, s.open), s, onBand);
  s.bandLo = arith::SelectOp::create(b, loc, opens, keyLo, s.bandLo);
  s.bandHi = arith::SelectOp::create(b, loc, isKept, keyHi, s.bandHi);
  s.open = arith::OrIOp::create(b, loc, s.open, isKept);
}

/// The diagonals of a table term that cross keys [lo, hi) from `dHi` down
/// to `dLo`, read eight at a time; where the table has summaries a chunk
/// of entries that are all 0 (minimum and maximum 0) is passed in one step:
/// with a diagonal in a hundred most chunks hold none, and a long run reads
/// their summaries. Returns the state after the last.
BandState walkTableDiagonals(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                             const BandQueries &q, Value lo, Value hi, Value dLo, Value dHi,
                             BandState init, BandFn onBand) {
  const DiagonalPlan &plan = env.diagonals;
  const TableBinding &table = env.tables.lookup(plan.table);
  Value one = cst(b, loc, 1);
  SmallVector<Value, 4> rowIndices =
      emitTableRowIndices(b, loc, plan.rowIndices, q.batch, q.head, Value());
  // Within the table (a read outside it is 0: no diagonal): the flat index
  // of the row's first entry; a row outside the table walks no diagonal.
  Value rowFirst = cst(b, loc, 0), rowInside = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (auto [index, extent] : llvm::zip_equal(rowIndices, ArrayRef(table.extents).drop_back())) {
    rowInside = arith::AndIOp::create(b, loc, rowInside,
                                      cmp(b, loc, CmpIPredicate::ult, index, extent));
    rowFirst = add(b, loc, mul(b, loc, rowFirst, extent), index);
  }
  rowFirst = mul(b, loc, rowFirst, table.extents.back());
  dLo = max(b, loc, dLo, cst(b, loc, 0));
  dHi = arith::SelectOp::create(b, loc, rowInside,
                                min(b, loc, dHi, sub(b, loc, table.extents.back(), one)),
                                sub(b, loc, dLo, one));
  Value firstChunk = env.summaryFirst.lookup(plan.table);
  // Carried: the next offset, the band state.
  SmallVector<Value> inits{dHi, init.open, init.bandLo, init.bandHi};
  inits.append(init.acc);
  SmallVector<Type> types;
  for (Value v : inits)
    types.push_back(v.getType());
  auto stateOf = [](ValueRange carried) {
    return BandState{carried[1], carried[2], carried[3],
                     SmallVector<Value>(carried.drop_front(4))};
  };
  auto carriedOf = [](Value d, const BandState &s) {
    SmallVector<Value> carried{d, s.open, s.bandLo, s.bandHi};
    carried.append(s.acc);
    return carried;
  };
  auto loop = scf::WhileOp::create(
      b, loc, types, inits,
      [&](OpBuilder &cb, Location cl, ValueRange carried) {
        scf::ConditionOp::create(cb, cl, cmp(cb, cl, CmpIPredicate::sge, carried[0], dLo),
                                 carried);
      },
      [&](OpBuilder &wb, Location wl, ValueRange carried) {
        // Eight offsets from carried[0] down, their reads first.
        auto walkEight = [&](OpBuilder &lb, Location ll) {
          SmallVector<Value> offsets, kept;
          for (int64_t u = 0; u < kDiagonalUnroll; ++u) {
            Value d = sub(lb, ll, carried[0], cst(lb, ll, u));
            SmallVector<Value, 4> indices(rowIndices);
            indices.push_back(max(lb, ll, d, dLo)); // past the last: read and discarded
            offsets.push_back(d);
            kept.push_back(arith::AndIOp::create(
                lb, ll, cmp(lb, ll, CmpIPredicate::sge, d, dLo),
                emitTableLookup(lb, ll, table, indices, lb.getI1Type())));
          }
          BandState s = stateOf(carried);
          for (auto [d, isKept] : llvm::zip_equal(offsets, kept))
            walkDiagonal(lb, ll, env, q, lo, hi, d, isKept, s, onBand);
          return carriedOf(sub(lb, ll, carried[0], cst(lb, ll, kDiagonalUnroll)), s);
        };
        if (!firstChunk) {
          scf::YieldOp::create(wb, wl, walkEight(wb, wl));
          return;
        }
        Value flat = add(wb, wl, rowFirst, carried[0]);
        Value chunk = cst(wb, wl, abi::kSummaryChunk);
        Value slot =
            mul(wb, wl, add(wb, wl, firstChunk, div(wb, wl, flat, chunk)), cst(wb, wl, 2));
        Value zero64 = arith::ConstantIntOp::create(wb, wl, 0, 64);
        Value chunkMin = memref::LoadOp::create(wb, wl, env.summaries, slot);
        Value chunkMax =
            memref::LoadOp::create(wb, wl, env.summaries, add(wb, wl, slot, cst(wb, wl, 1)));
        Value noDiagonal = arith::AndIOp::create(
            wb, wl, arith::CmpIOp::create(wb, wl, CmpIPredicate::eq, chunkMin, zero64),
            arith::CmpIOp::create(wb, wl, CmpIPredicate::eq, chunkMax, zero64));
        auto stepped = scf::IfOp::create(
            wb, wl, noDiagonal,
            [&](OpBuilder &sb, Location sl) {
              // On to the last entry of the chunk before.
              SmallVector<Value> next(carried);
              next[0] = sub(sb, sl, sub(sb, sl, carried[0], rem(sb, sl, flat, chunk)),
                            cst(sb, sl, 1));
              scf::YieldOp::create(sb, sl, next);
            },
            [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, walkEight(eb, el)); });
        scf::YieldOp::create(wb, wl, stepped.getResults());
      });
  return stateOf(loop.getResults());
}

/// Walks the kept diagonals of `q` that cross keys [lo, hi) from the
/// highest offset down (their keys [qLo - d, qHi - d] ascend with it),
/// merging them into bands (walkDiagonal): a table's, or a point set's
/// offsets one by one. Returns the carried values after the last band.
SmallVector<Value> walkBands(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                             const BandQueries &q, Value lo, Value hi, ValueRange init,
                             BandFn onBand) {
  Value one = cst(b, loc, 1);
  // The offsets whose band meets [lo, hi).
  Value dLo = sub(b, loc, q.qLo, sub(b, loc, hi, one));
  Value dHi = sub(b, loc, q.qHi, lo);
  BandState s{arith::ConstantIntOp::create(b, loc, 0, 1), lo, lo,
              SmallVector<Value>(init.begin(), init.end())};
  if (env.diagonals.table.empty()) {
    for (int64_t offset : env.diagonals.points) {
      Value d = cst(b, loc, offset);
      Value crosses = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sle, dLo, d),
                                            cmp(b, loc, CmpIPredicate::sle, d, dHi));
      walkDiagonal(b, loc, env, q, lo, hi, d, crosses, s, onBand);
    }
  } else {
    s = walkTableDiagonals(b, loc, env, q, lo, hi, dLo, dHi, s, onBand);
  }
  closeBand(b, loc, s.open, s, onBand);
  return s.acc;
}

} // namespace

std::optional<DiagonalTerm> deviceplan::findDiagonalTerm(KernelOp kernel) {
  auto found = findMonotoneLookup(kernel, [](mask::LookupOp lookup, Block *body) {
    return isDiagonalOffset(lookup.getIndices().back(), body) &&
           llvm::all_of(lookup.getIndices().drop_back(), [](Value index) {
             return isTableRowIndex(index) && tableRowIndex(index).kind != TableRowIndex::Unit;
           });
  });
  if (found)
    return DiagonalTerm{found->first, {}, {}};
  // A point set: every monotone `q - k == C` of a predicate body, |C| below
  // 2^30 (its keys' arithmetic stays within a GPU's 32-bit index).
  DiagonalTerm points;
  Value mask = kernel.getMask();
  kernel.walk([&](arith::CmpIOp compare) {
    auto predicate = dyn_cast<mask::PredicateOp>(compare->getParentOp());
    if (!predicate || compare.getPredicate() != CmpIPredicate::eq)
      return;
    Block *body = &predicate.getBody().front();
    Value offset = isDiagonalOffset(compare.getLhs(), body)   ? compare.getRhs()
                   : isDiagonalOffset(compare.getRhs(), body) ? compare.getLhs()
                                                               : Value();
    APInt c;
    if (offset && matchPattern(offset, m_ConstantInt(&c)) && c.getSignificantBits() <= 31 &&
        isMonotoneTerm(compare.getResult(), predicate, mask)) {
      points.points.push_back(compare);
      points.offsets.push_back(c.getSExtValue());
    }
  });
  if (points.points.empty() || points.points.size() > kMaxDiagonalPoints)
    return std::nullopt;
  return points;
}

bool deviceplan::hasDiagonalBands(KernelOp kernel, bool planGathers) {
  return planGathers && !findColumnTerm(kernel) && !findLatticeTerm(kernel) &&
         findDiagonalTerm(kernel).has_value();
}

DiagonalPlan deviceplan::buildDiagonalPlan(KernelOp kernel) {
  DiagonalPlan plan;
  std::optional<DiagonalTerm> term = findDiagonalTerm(kernel);
  if (!term)
    return plan;
  if (term->lookup) {
    plan.rest = cloneWithTermAs(kernel, {term->lookup.getOperation()}, false);
    plan.table = term->lookup.getTable();
    for (Value index : term->lookup.getIndices().drop_back())
      plan.rowIndices.push_back(tableRowIndex(index));
  } else {
    plan.rest = cloneWithTermAs(kernel, term->points, false);
    // Distinct, highest first: the walk's order.
    plan.points = term->offsets;
    llvm::sort(plan.points, std::greater<int64_t>());
    plan.points.erase(std::unique(plan.points.begin(), plan.points.end()), plan.points.end());
  }
  plan.restMask = cast<KernelOp>(plan.rest->get()).getMask();
  return plan;
}

FailureOr<Value> deviceplan::emitBandBits(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                                          const TileMaskEnv &tenv, Value status) {
  Value restSkips = cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip));
  return emitFromWholeBounds(
      b, loc, env, tenv, restLeavesOpen(b, loc, status),
      [&](OpBuilder &ib, Location il, const TileTruth &whole,
          Value wholeFull) -> FailureOr<Value> {
        // The whole mask's bounds read the diagonals the tile spans: a tile
        // they keep entirely (every diagonal kept) is a FULL Range tile,
        // dense work rather than gathered keys. One the rest surely skips
        // and that they leave open is resolved on the whole mask
        // (kResolveWhole) rather than gathered over on their word, as a
        // Range-only plan would.
        Value open = arith::AndIOp::create(
            ib, il, restSkips,
            arith::XOrIOp::create(ib, il, whole.someKept,
                                  arith::ConstantIntOp::create(ib, il, 1, 1)));
        Value may = arith::SelectOp::create(
            ib, il, whole.may,
            arith::SelectOp::create(ib, il, open, i32(ib, il, kResolveWhole),
                                    i32(ib, il, kBandMay)),
            i32(ib, il, 0));
        return arith::SelectOp::create(ib, il, wholeFull, i32(ib, il, kWholeFull), may)
            .getResult();
      });
}

Value stages::emitBandRun(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c,
                          Value m, Value firstTile, Value endTile, Value lo, Value hi, Value row,
                          bool write) {
  BandQueries q;
  q.batch = div(b, loc, c, env.classHeads);
  q.head = rem(b, loc, c, env.classHeads);
  std::tie(q.qLo, q.qHi) = queryTileSpan(b, loc, env, m);
  Value zero = cst(b, loc, 0), one = cst(b, loc, 1);
  // The bands and the tiles they visit.
  SmallVector<Value> counted = walkBands(
      b, loc, env, q, lo, hi, ValueRange{zero, zero},
      [&](OpBuilder &cb, Location cl, Value bandLo, Value bandHi, ValueRange acc) {
        return SmallVector<Value>{
            add(cb, cl, acc[0], cst(cb, cl, 1)),
            add(cb, cl, acc[1], gatheredTiles(cb, cl, env, sub(cb, cl, bandHi, bandLo)))};
      });
  Value bands = counted[0];
  // Bands only where they save a tile visit (gathered keys cost more to
  // load than a whole tile): otherwise they visit at least as many tiles as
  // the run has, so there is at least one band.
  Value fits = cmp(b, loc, CmpIPredicate::slt, counted[1], sub(b, loc, endTile, firstTile));
  if (write) {
    scf::IfOp::create(
        b, loc, fits,
        [&](OpBuilder &ib, Location il) {
          walkBands(ib, il, env, q, lo, hi, ValueRange{row},
                    [&](OpBuilder &sb, Location sl, Value bandLo, Value bandHi, ValueRange at) {
                      Value partial = arith::ConstantIntOp::create(sb, sl, 0, 1);
                      Value unit = cst(sb, sl, 1);
                      storeSegmentRow(sb, sl, env, at[0], /*kind=*/1, partial, bandLo, bandHi,
                                      cst(sb, sl, 0), unit, unit);
                      return SmallVector<Value>{add(sb, sl, at[0], unit)};
                    });
          scf::YieldOp::create(ib, il);
        },
        [&](OpBuilder &eb, Location el) {
          // Too many bands: the run's tiles as one PARTIAL Range segment.
          storeSegmentRow(eb, el, env, row, /*kind=*/0, arith::ConstantIntOp::create(eb, el, 0, 1),
                          firstTile, endTile, cst(eb, el, 0), one, one);
          scf::YieldOp::create(eb, el);
        });
  }
  return arith::SelectOp::create(b, loc, fits, bands, one);
}
