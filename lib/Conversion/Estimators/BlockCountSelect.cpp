//===- BlockCountSelect.cpp - block_topk's selection by count, a row a tile ===//
//
// block_topk's `select` stage when it keeps a count (top_k) of blocks per
// query block row (sattn/Conversion/Estimators.h). Item by item, one thread
// walked its row 64 times (a bisection over the 2^64 order codes): 1.9 ms
// at 32K on an H200, most of the estimator's time. As a tile stage a block
// of threads owns a row: the codes of the row's free blocks (0 < J < I)
// replace their scores in place, eight radix passes over 8-bit digits
// (histograms counted with shared-memory atomic adds, exact: counts are
// integers) find the code T of the k-th best free block and how many of the
// blocks equal to T to take, and the row becomes 0 / 1: forced blocks (0 and
// I), codes above T, and ties taken in block order. That is the selection
// the per-item code made ("highest first, ties to the lower block"), so the
// tables equal the reference's. Selection by mass (tau) keeps the per-item
// stage: its cumulative sums depend on their order.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// The shared buffer: the histogram's bins, then the decided prefix (code
/// bits) and the rank still sought.
constexpr int64_t kPrefixAt = abi::kRadixBins, kRankAt = abi::kRadixBins + 1;

} // namespace

std::pair<int64_t, int64_t> stages::blockSelectTileBuffers() {
  return {abi::kRadixBins + 2, 0};
}

void stages::emitBlockSelectTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                                 const TileRunner &run) {
  Shape sh(b, loc, env);
  Value one = cst(b, loc, 1);
  Value queryBlock = rem(b, loc, tile, env.blocks);
  Value rowStart = mul(b, loc, tile, env.blocks); // table row (b, h, I)
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sgt,
                         mul(b, loc, add(b, loc, queryBlock, one), sh.block), sh.shift);
  auto isFree = [&](OpBuilder &nb, Location nl, Value j) -> Value {
    return arith::AndIOp::create(
        nb, nl, holdsQuery,
        arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sgt, j, cst(nb, nl, 0)),
                              cmp(nb, nl, CmpIPredicate::slt, j, queryBlock)));
  };
  auto entry = [&](OpBuilder &nb, Location nl, Value j) { return add(nb, nl, rowStart, j); };
  auto sharedAt = [&](OpBuilder &nb, Location nl, int64_t at) { return cst(nb, nl, at); };

  // Free blocks' scores become order codes; the bins are cleared and the
  // rank set to top_k less the forced blocks (0 and, past row 0, I).
  Value bins = cst(b, loc, abi::kRadixBins);
  run.phase(b, loc, max(b, loc, env.blocks, bins), [&](OpBuilder &pb, Location pl, Value j) {
    scf::IfOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::slt, j, bins),
                      [&](OpBuilder &tb, Location tl) {
                        Scalar ts{tb, tl};
                        ts.storeAt(ts.f64(0.0), run.shared, j);
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
                        Value rank = ts.fsub(ts.f64(double(env.spec.topK)), forced);
                        rank = ts.select(ts.fcmp(CmpFPredicate::OGT, rank, ts.f64(0.0)), rank,
                                         ts.f64(0.0));
                        ts.storeAt(ts.doubleOf(ts.i64(0)), run.shared, sharedAt(tb, tl, kPrefixAt));
                        ts.storeAt(rank, run.shared, sharedAt(tb, tl, kRankAt));
                        scf::YieldOp::create(tb, tl);
                      });
  });

  // Eight passes: count the next digit of the codes that share the decided
  // prefix, then extend the prefix by the digit holding the k-th best.
  scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, abi::kRadixPasses), one, ValueRange{},
      [&](OpBuilder &lb, Location ll, Value pass, ValueRange) {
        run.phase(lb, ll, env.blocks, [&](OpBuilder &pb, Location pl, Value j) {
          scf::IfOp::create(pb, pl, isFree(pb, pl, j), [&](OpBuilder &tb, Location tl) {
            Scalar ts{tb, tl};
            Value code = ts.loadAt(env.table, entry(tb, tl, j));
            Value prefix = ts.bitsOf(ts.loadAt(run.shared, sharedAt(tb, tl, kPrefixAt)));
            scf::IfOp::create(tb, tl, samePrefix(ts, code, prefix, pass),
                              [&](OpBuilder &ib, Location il) {
                                Scalar is{ib, il};
                                Value bin = toIndex(ib, il, digitOf(is, code, pass));
                                memref::AtomicRMWOp::create(ib, il, arith::AtomicRMWKind::addf,
                                                            is.f64(1.0), run.shared,
                                                            ValueRange{bin});
                                scf::YieldOp::create(ib, il);
                              });
            scf::YieldOp::create(tb, tl);
          });
        });
        run.phase(lb, ll, one, [&](OpBuilder &pb, Location pl, Value) {
          Scalar ps{pb, pl};
          Value prefixAt = sharedAt(pb, pl, kPrefixAt), rankAt = sharedAt(pb, pl, kRankAt);
          RadixDigit next =
              emitRadixWalk(pb, pl, run.shared, cst(pb, pl, 0), ps.loadAt(run.shared, rankAt));
          Value prefix = arith::OrIOp::create(
              pb, pl, ps.bitsOf(ps.loadAt(run.shared, prefixAt)),
              arith::ShLIOp::create(pb, pl, next.digit, digitShift(ps, pass)));
          ps.storeAt(ps.doubleOf(prefix), run.shared, prefixAt);
          ps.storeAt(next.rank, run.shared, rankAt);
        });
        scf::YieldOp::create(lb, ll);
      });

  // The row becomes 0 / 1: every entry but the ties (free blocks whose code
  // is T) at once, then the ties in block order while the rank allows.
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
          Value above = ts.icmp(CmpIPredicate::ugt, code, t);
          Value tie = ts.icmp(CmpIPredicate::eq, code, t);
          scf::YieldOp::create(tb, tl, ValueRange{above, tie});
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
