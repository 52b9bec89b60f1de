//===- BlockCountSelect.cpp - block_topk's selection by count, a row a tile ===//
//
// block_topk's `select` stage when it keeps a count (top_k) of blocks per
// query block row (sattn/Conversion/Estimators.h), and gate's by top_ratio
// (a count per row, rowKeepCount). Item by item, one thread
// walked its row 64 times (a bisection over the 2^64 order codes): 1.9 ms
// at 32K on an H200, most of the estimator's time. As a tile stage a block
// of threads owns a row: the codes of the row's free blocks (0 < J < I)
// replace their scores in place, eight radix passes over 8-bit digits find
// the code T of the k-th best free block and how many of the blocks equal
// to T to take, and the row becomes 0 / 1: forced blocks (0 and I), codes
// above T, and ties taken in block order. That is the selection the
// per-item code made ("highest first, ties to the lower block"), so the
// tables equal the reference's. Selection by mass (tau) keeps the per-item
// stage: its cumulative sums depend on their order.
//
// What a pass costs is what one thread does while the block waits, so a
// pass keeps that short: histograms are i32 counts (shared-memory integer
// atomics; f64 ones are compare-and-swap loops, and the first passes put
// every code of a row in one bin), two of them alternating so that the
// next pass's is cleared in parallel, and the walk to the bin holding the
// k-th best code goes over 16 group sums (added in parallel) and then the
// 16 bins of one group instead of 256 bins. The ties need a walk in block
// order only when some of them are left out.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// Bins per group of the two-level walk, and groups.
constexpr int64_t kGroupBins = 16, kGroups = abi::kRadixBins / kGroupBins;
/// The i32 buffer: two histograms, then the group sums of the current one.
constexpr int64_t kGroupSumsAt = 2 * abi::kRadixBins;
/// The f64 buffer: the decided prefix (code bits), the rank still sought
/// and the count of the last chosen bin (after the last pass: the free
/// blocks whose code is T).
constexpr int64_t kPrefixAt = 0, kRankAt = 1, kTiesAt = 2;

/// Walks `n` counts from the highest index down (RankWalk): the first
/// index whose count, with the counts above it, reaches `rank` (i64).
/// `countAt(i)` gives count i as an i64; the counts are read first, then
/// folded.
RankWalk walkFromTop(Scalar &s, int64_t n, Value rank, function_ref<Value(int64_t)> countAt) {
  SmallVector<Value> counts;
  for (int64_t i = n - 1; i >= 0; --i)
    counts.push_back(countAt(i));
  RankWalk walk = RankWalk::start(s, rank);
  for (int64_t u = 0; u < n; ++u)
    walk = walk.step(s, counts[u], s.i64(n - 1 - u));
  return walk;
}

} // namespace

Value stages::rowKeepCount(Scalar &s, const EstimatorEnv &env, Value queryBlock) {
  if (!env.spec.isGate())
    return s.f64(double(env.spec.topK));
  // ceil(top_ratio * (I + 1)) as the reference rounds it (the product is
  // exact or rounded once, then ceil), the last row every block.
  Value wanted = s.fmul(s.f64(env.spec.topRatio), s.toF64(add(s.b, s.loc, queryBlock,
                                                                cst(s.b, s.loc, 1))));
  Value truncated = arith::FPToSIOp::create(s.b, s.loc, s.b.getI64Type(), wanted);
  Value truncatedF = arith::SIToFPOp::create(s.b, s.loc, s.b.getF64Type(), truncated);
  Value ceiling = s.select(s.fcmp(CmpFPredicate::OLT, truncatedF, wanted),
                           s.fadd(truncatedF, s.f64(1.0)), truncatedF);
  Value lastRow = cmp(s.b, s.loc, CmpIPredicate::eq, queryBlock,
                      sub(s.b, s.loc, env.blocks, cst(s.b, s.loc, 1)));
  return s.select(lastRow, s.toF64(env.blocks), ceiling);
}

TileBuffers stages::blockSelectTileBuffers() {
  TileBuffers buffers;
  buffers.f64Entries = 3;
  buffers.countEntries = kGroupSumsAt + kGroups;
  return buffers;
}

void stages::emitBlockSelectTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                                 const TileRunner &run) {
  Shape sh(b, loc, env);
  Value one = cst(b, loc, 1);
  Value queryBlock = rem(b, loc, tile, env.blocks);
  Value rowStart = mul(b, loc, tile, env.blocks); // table row (b, h, I)
  Value holdsQuery = blockHoldsQuery(b, loc, sh, queryBlock);
  auto isFree = [&](OpBuilder &nb, Location nl, Value j) -> Value {
    return arith::AndIOp::create(
        nb, nl, holdsQuery,
        arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sgt, j, cst(nb, nl, 0)),
                              cmp(nb, nl, CmpIPredicate::slt, j, queryBlock)));
  };
  auto entry = [&](OpBuilder &nb, Location nl, Value j) { return add(nb, nl, rowStart, j); };
  auto sharedAt = [&](OpBuilder &nb, Location nl, int64_t at) { return cst(nb, nl, at); };
  auto i32 = [](OpBuilder &nb, Location nl, int64_t v) -> Value {
    return arith::ConstantIntOp::create(nb, nl, v, 32);
  };
  auto countAt = [&](OpBuilder &nb, Location nl, Value at) -> Value {
    return arith::ExtSIOp::create(nb, nl, nb.getI64Type(),
                                  memref::LoadOp::create(nb, nl, run.counts, ValueRange{at}));
  };
  // Histogram of pass `pass` (an index): 0 for even passes, 1 for odd.
  auto histogramAt = [&](OpBuilder &nb, Location nl, Value pass) {
    return mul(nb, nl, rem(nb, nl, pass, cst(nb, nl, 2)), cst(nb, nl, abi::kRadixBins));
  };

  // Free blocks' scores become order codes; the first histogram is cleared
  // and the rank set to the row's count less the forced blocks (0 and, past
  // row 0, I).
  Value bins = cst(b, loc, abi::kRadixBins);
  run.phase(b, loc, max(b, loc, env.blocks, bins), [&](OpBuilder &pb, Location pl, Value j) {
    scf::IfOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::slt, j, bins),
                      [&](OpBuilder &tb, Location tl) {
                        memref::StoreOp::create(tb, tl, i32(tb, tl, 0), run.counts,
                                                ValueRange{j});
                        scf::YieldOp::create(tb, tl);
                      });
    scf::IfOp::create(pb, pl, isFree(pb, pl, j), [&](OpBuilder &tb, Location tl) {
      Scalar ts{tb, tl};
      Value at = entry(tb, tl, j);
      ts.storeAt(ts.orderCode(ts.doubleOf(ts.loadAt(env.table, at))), env.table, at);
      scf::YieldOp::create(tb, tl);
    });
    scf::IfOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::eq, j, cst(pb, pl, 0)),
                      [&](OpBuilder &tb, Location tl) {
                        Scalar ts{tb, tl};
                        Value forced = ts.select(
                            cmp(tb, tl, CmpIPredicate::ne, queryBlock, cst(tb, tl, 0)),
                            ts.f64(2.0), ts.f64(1.0));
                        Value rank = ts.fsub(rowKeepCount(ts, env, queryBlock), forced);
                        rank = ts.select(ts.fcmp(CmpFPredicate::OGT, rank, ts.f64(0.0)), rank,
                                         ts.f64(0.0));
                        ts.storeAt(ts.doubleOf(ts.i64(0)), run.shared, sharedAt(tb, tl, kPrefixAt));
                        ts.storeAt(rank, run.shared, sharedAt(tb, tl, kRankAt));
                        scf::YieldOp::create(tb, tl);
                      });
  });

  // Eight passes: count the next digit of the codes that share the decided
  // prefix, sum the histogram's groups (and clear the other histogram for
  // the next pass), then extend the prefix by the digit holding the k-th
  // best.
  scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, abi::kRadixPasses), one, ValueRange{},
      [&](OpBuilder &lb, Location ll, Value pass, ValueRange) {
        Value histogram = histogramAt(lb, ll, pass);
        Value next = histogramAt(lb, ll, add(lb, ll, pass, one));
        run.phase(lb, ll, env.blocks, [&](OpBuilder &pb, Location pl, Value j) {
          scf::IfOp::create(pb, pl, isFree(pb, pl, j), [&](OpBuilder &tb, Location tl) {
            Scalar ts{tb, tl};
            Value code = ts.loadAt(env.table, entry(tb, tl, j));
            Value prefix = ts.bitsOf(ts.loadAt(run.shared, sharedAt(tb, tl, kPrefixAt)));
            scf::IfOp::create(tb, tl, samePrefix(ts, code, prefix, pass),
                              [&](OpBuilder &ib, Location il) {
                                Scalar is{ib, il};
                                Value bin = add(ib, il, histogram,
                                                toIndex(ib, il, digitOf(is, code, pass)));
                                memref::AtomicRMWOp::create(ib, il, arith::AtomicRMWKind::addi,
                                                            i32(ib, il, 1), run.counts,
                                                            ValueRange{bin});
                                scf::YieldOp::create(ib, il);
                              });
            scf::YieldOp::create(tb, tl);
          });
        });
        run.phase(lb, ll, bins, [&](OpBuilder &pb, Location pl, Value i) {
          memref::StoreOp::create(pb, pl, i32(pb, pl, 0), run.counts,
                                  ValueRange{add(pb, pl, next, i)});
          scf::IfOp::create(
              pb, pl, cmp(pb, pl, CmpIPredicate::slt, i, cst(pb, pl, kGroups)),
              [&](OpBuilder &tb, Location tl) {
                Value first = add(tb, tl, histogram, mul(tb, tl, i, cst(tb, tl, kGroupBins)));
                Value sum = i32(tb, tl, 0);
                for (int64_t u = 0; u < kGroupBins; ++u)
                  sum = arith::AddIOp::create(
                      tb, tl, sum,
                      memref::LoadOp::create(tb, tl, run.counts,
                                             ValueRange{add(tb, tl, first, cst(tb, tl, u))}));
                memref::StoreOp::create(tb, tl, sum, run.counts,
                                        ValueRange{add(tb, tl, i, cst(tb, tl, kGroupSumsAt))});
                scf::YieldOp::create(tb, tl);
              });
        });
        run.phase(lb, ll, one, [&](OpBuilder &pb, Location pl, Value) {
          Scalar ps{pb, pl};
          Value prefixAt = sharedAt(pb, pl, kPrefixAt), rankAt = sharedAt(pb, pl, kRankAt);
          Value rank = arith::FPToSIOp::create(pb, pl, pb.getI64Type(),
                                               ps.loadAt(run.shared, rankAt));
          RankWalk group = walkFromTop(ps, kGroups, rank, [&](int64_t g) {
            return countAt(pb, pl, cst(pb, pl, kGroupSumsAt + g));
          });
          // With a rank above every count (every code is kept) the group
          // walk finds none, and the pass takes digit 0 with count 0, as a
          // walk over the 256 bins would.
          Value firstBin = add(pb, pl, histogram,
                               mul(pb, pl, toIndex(pb, pl, group.index), cst(pb, pl, kGroupBins)));
          RankWalk bin = walkFromTop(ps, kGroupBins, group.left, [&](int64_t u) {
            return countAt(pb, pl, add(pb, pl, firstBin, cst(pb, pl, u)));
          });
          Value digit = ps.select(
              group.found,
              arith::AddIOp::create(
                  pb, pl, arith::MulIOp::create(pb, pl, group.index, ps.i64(kGroupBins)),
                  bin.index),
              ps.i64(0));
          Value rankLeft = ps.select(group.found, bin.left, group.left);
          Value ties = ps.select(group.found, bin.count, ps.i64(0));
          Value prefix = arith::OrIOp::create(
              pb, pl, ps.bitsOf(ps.loadAt(run.shared, prefixAt)),
              arith::ShLIOp::create(pb, pl, digit, digitShift(ps, pass)));
          auto toF64 = [&](Value v) {
            return arith::SIToFPOp::create(pb, pl, pb.getF64Type(), v);
          };
          ps.storeAt(ps.doubleOf(prefix), run.shared, prefixAt);
          ps.storeAt(toF64(rankLeft), run.shared, rankAt);
          ps.storeAt(toF64(ties), run.shared, sharedAt(pb, pl, kTiesAt));
        });
        scf::YieldOp::create(lb, ll);
      });
  // The row becomes 0 / 1: every entry but the ties (free blocks whose code
  // is T) at once, and the ties too when the rank left takes them all (one
  // tie, typically); else the ties in block order while the rank allows.
  auto threshold = [&](Scalar &ts) {
    return ts.bitsOf(ts.loadAt(run.shared, sharedAt(ts.b, ts.loc, kPrefixAt)));
  };
  run.phase(b, loc, env.blocks, [&](OpBuilder &pb, Location pl, Value j) {
    Value at = entry(pb, pl, j);
    Value free = isFree(pb, pl, j);
    auto kept = scf::IfOp::create(
        pb, pl, free,
        [&](OpBuilder &tb, Location tl) {
          Scalar ts{tb, tl};
          Value code = ts.loadAt(env.table, at);
          Value t = threshold(ts);
          // When the rank left takes every tie, ties are kept here too.
          Value allTies = ts.fcmp(CmpFPredicate::OGE, ts.loadAt(run.shared, sharedAt(tb, tl, kRankAt)),
                                  ts.loadAt(run.shared, sharedAt(tb, tl, kTiesAt)));
          Value tie = ts.icmp(CmpIPredicate::eq, code, t);
          Value above = arith::OrIOp::create(tb, tl, ts.icmp(CmpIPredicate::ugt, code, t),
                                             arith::AndIOp::create(tb, tl, tie, allTies));
          Value open = arith::AndIOp::create(
              tb, tl, tie,
              arith::XOrIOp::create(tb, tl, allTies, arith::ConstantIntOp::create(tb, tl, 1, 1)));
          scf::YieldOp::create(tb, tl, ValueRange{above, open});
        },
        [&](OpBuilder &eb, Location el) {
          Value forced = arith::AndIOp::create(
              eb, el, holdsQuery,
              arith::OrIOp::create(eb, el, cmp(eb, el, CmpIPredicate::eq, j, cst(eb, el, 0)),
                                   cmp(eb, el, CmpIPredicate::eq, j, queryBlock)));
          scf::YieldOp::create(eb, el,
                               ValueRange{forced, arith::ConstantIntOp::create(eb, el, 0, 1)});
        });
    Value tie = kept.getResult(1);
    scf::IfOp::create(pb, pl,
                      arith::XOrIOp::create(pb, pl, tie, arith::ConstantIntOp::create(pb, pl, 1, 1)),
                      [&](OpBuilder &tb, Location tl) {
                        Scalar ts{tb, tl};
                        ts.storeAt(arith::ExtUIOp::create(tb, tl, tb.getI64Type(),
                                                          kept.getResult(0)),
                                   env.table, at);
                        scf::YieldOp::create(tb, tl);
                      });
  });
  run.phase(b, loc, one, [&](OpBuilder &pb, Location pl, Value) {
    Scalar ps{pb, pl};
    Value t = threshold(ps);
    Value rank = ps.loadAt(run.shared, sharedAt(pb, pl, kRankAt));
    // Only when some ties are left out (the previous phase kept them all
    // otherwise) does the row need this walk in block order.
    Value someLeft =
        ps.fcmp(CmpFPredicate::OLT, rank, ps.loadAt(run.shared, sharedAt(pb, pl, kTiesAt)));
    auto walk = scf::IfOp::create(pb, pl, someLeft);
    OpBuilder::InsertionGuard guard(pb);
    pb.setInsertionPointToStart(walk.thenBlock());
    scf::ForOp::create(
        pb, pl, one, max(pb, pl, one, queryBlock), one, ValueRange{ps.f64(0.0)},
        [&](OpBuilder &nb, Location nl, Value j, ValueRange taken) {
          Scalar ns{nb, nl};
          Value at = entry(nb, nl, j);
          Value code = ns.loadAt(env.table, at);
          // The previous phase wrote 0 or 1 over every free block but the
          // ties. Order codes are at least 2^52 - 1 (that of -inf), so an
          // entry equal to T is a tie unless T is 0 or 1: T = 0 when every
          // free block is kept, and then none is left to decide.
          Value tie = arith::AndIOp::create(
              nb, nl, holdsQuery,
              arith::AndIOp::create(nb, nl, ns.icmp(CmpIPredicate::eq, code, t),
                                    ns.icmp(CmpIPredicate::ugt, t, ns.i64(1))));
          auto next = scf::IfOp::create(
              nb, nl, tie,
              [&](OpBuilder &tb, Location tl) {
                Scalar ts{tb, tl};
                Value take = ts.fcmp(CmpFPredicate::OLT, taken[0], rank);
                ts.storeAt(arith::ExtUIOp::create(tb, tl, tb.getI64Type(), take), env.table, at);
                scf::YieldOp::create(tb, tl, ValueRange{ts.fadd(taken[0], ts.f64(1.0))});
              },
              [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, taken[0]); });
          scf::YieldOp::create(nb, nl, next.getResults());
        });
  });
}
