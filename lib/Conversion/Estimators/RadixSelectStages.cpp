//===- RadixSelectStages.cpp - vertical_slash's exact top-k, item by item -===//
//
// The selection stages of vertical_slash's estimator (sattn/Conversion/
// Estimators.h). A line (the columns or the diagonals of one head) has up
// to Lk candidates, so the selection is spread over keys rather than run by
// one thread per line: the `lines` stage left each candidate's order code
// (a 64-bit integer in the order of its score, sattn's rank rule) in the
// table; eight count / decide passes find, 8 bits at a time, the code T of
// the k-th best candidate and how many candidates equal to T to take; the
// last two stages take the ties in key order, so the result is exactly
// "forced first, then highest score, ties to the lower index".
//
// The radix state of a line is three f64 entries: the decided prefix (code
// bits), the rank still to find within it, and the pass. Counts are f64
// (exact far beyond 2^31) so that one atomic add serves both targets.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// A line's position in the table and the scratch.
struct LineRef {
  Value line, lineRow, stateAt, histogramAt, tiesAt, entriesAt, forced;
  LineRef(OpBuilder &b, Location loc, const EstimatorEnv &env, const LineShape &ls,
          Value line, Value lineRow)
      : line(line), lineRow(lineRow) {
    stateAt = add(b, loc, ls.radixStateAt, mul(b, loc, lineRow, cst(b, loc, 3)));
    histogramAt = add(b, loc, ls.histogramAt, mul(b, loc, lineRow, cst(b, loc, abi::kRadixBins)));
    tiesAt = add(b, loc, ls.tiesAt, mul(b, loc, lineRow, ls.chunks));
    entriesAt = mul(b, loc, lineRow, env.lk);
    forced = ls.forced(b, loc, env, line);
  }
};

/// The radix state: prefix bits (i64), rank (f64) and pass (index).
struct RadixState {
  Value prefix, rank, pass;
  RadixState(Scalar &s, const EstimatorEnv &env, const LineRef &ref) {
    prefix = s.bitsOf(s.loadAt(env.pooled, ref.stateAt));
    rank = s.loadAt(env.pooled, add(s.b, s.loc, ref.stateAt, cst(s.b, s.loc, 1)));
    pass = toIndex(s.b, s.loc,
                   arith::FPToSIOp::create(
                       s.b, s.loc, s.b.getI64Type(),
                       s.loadAt(env.pooled, add(s.b, s.loc, ref.stateAt, cst(s.b, s.loc, 2)))));
  }
};

/// (j, line, slice) of an item over keys, or (chunk, line, slice) over chunks.
SmallVector<Value> lineItem(OpBuilder &b, Location loc, Value item, Value inner) {
  auto d = unflatten(b, loc, item, {inner, cst(b, loc, 2)});
  Value lineRow = add(b, loc, mul(b, loc, d[2], cst(b, loc, 2)), d[1]);
  return {d[0], d[1], lineRow};
}

} // namespace

/// radix_count: a candidate (key j at or past the forced ones) whose code
/// has the decided prefix counts in the histogram bin of its next digit.
void stages::emitRadixCount(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  LineShape ls(b, loc, env);
  SmallVector<Value> d = lineItem(b, loc, item, env.lk);
  LineRef ref(b, loc, env, ls, d[1], d[2]);
  Value j = d[0];
  Value candidate = cmp(b, loc, CmpIPredicate::sge, j, ref.forced);
  scf::IfOp::create(b, loc, candidate, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    RadixState state(s, env, ref);
    Value code = s.loadAt(env.table, add(tb, tl, ref.entriesAt, j));
    scf::IfOp::create(tb, tl, samePrefix(s, code, state.prefix, state.pass), [&](OpBuilder &ib,
                                                                                Location il) {
      Scalar is{ib, il};
      Value bin = toIndex(ib, il, digitOf(is, code, state.pass));
      memref::AtomicRMWOp::create(ib, il, arith::AtomicRMWKind::addf, is.f64(1.0), env.pooled,
                                  ValueRange{add(ib, il, ref.histogramAt, bin)});
      scf::YieldOp::create(ib, il);
    });
    scf::YieldOp::create(tb, tl);
  });
}

/// radix_decide: the highest bin whose count, with the bins above it,
/// reaches the rank holds the k-th best code; its digit extends the prefix
/// and the rank becomes the rank within it. Clears the histogram.
void stages::emitRadixDecide(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  LineShape ls(b, loc, env);
  Scalar s{b, loc};
  Value lineRow = item;
  LineRef ref(b, loc, env, ls, rem(b, loc, item, cst(b, loc, 2)), lineRow);
  RadixState state(s, env, ref);
  RadixDigit next = emitRadixWalk(b, loc, env.pooled, ref.histogramAt, state.rank);
  Value prefix = arith::OrIOp::create(
      b, loc, state.prefix, arith::ShLIOp::create(b, loc, next.digit, digitShift(s, state.pass)));
  s.storeAt(s.doubleOf(prefix), env.pooled, ref.stateAt);
  s.storeAt(next.rank, env.pooled, add(b, loc, ref.stateAt, cst(b, loc, 1)));
  s.storeAt(s.toF64(add(b, loc, state.pass, cst(b, loc, 1))), env.pooled,
            add(b, loc, ref.stateAt, cst(b, loc, 2)));
}

namespace {

/// An item of the stages over (slice, line, chunk): the line, its radix
/// state and the chunk's keys [first, last).
struct ChunkOfLine {
  LineShape ls;
  SmallVector<Value> d; // chunk, line, line row
  LineRef ref;
  RadixState state;
  Value first, last;
  ChunkOfLine(Scalar &s, const EstimatorEnv &env, Value item)
      : ls(s.b, s.loc, env), d(lineItem(s.b, s.loc, item, ls.chunks)),
        ref(s.b, s.loc, env, ls, d[1], d[2]), state(s, env, ref) {
    first = mul(s.b, s.loc, d[0], ls.chunk);
    last = min(s.b, s.loc, add(s.b, s.loc, first, ls.chunk), env.lk);
  }
  Value chunk() const { return d[0]; }
};

} // namespace

/// tie_count: the candidates of a chunk whose code is the threshold T.
void stages::emitTieCount(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Scalar s{b, loc};
  ChunkOfLine c(s, env, item);
  const LineRef &ref = c.ref;
  const RadixState &state = c.state;
  Value ties = sumOver(b, loc, max(b, loc, c.first, ref.forced), c.last,
                       [&](OpBuilder &nb, Location nl, Value j) {
                         Scalar ns{nb, nl};
                         Value code = ns.loadAt(env.table, add(nb, nl, ref.entriesAt, j));
                         return ns.select(ns.icmp(CmpIPredicate::eq, code, state.prefix),
                                          ns.f64(1.0), ns.f64(0.0));
                       });
  s.storeAt(ties, env.pooled, add(b, loc, ref.tiesAt, c.chunk()));
}

/// select: a chunk's entries become 1 (forced, code above T, or a tie
/// among the first `rank` ties of the line in key order) or 0.
void stages::emitLineSelect(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Scalar s{b, loc};
  ChunkOfLine c(s, env, item);
  const LineRef &ref = c.ref;
  const RadixState &state = c.state;
  Value threshold = state.prefix;
  Value tiesBefore =
      sumOver(b, loc, cst(b, loc, 0), c.chunk(), [&](OpBuilder &nb, Location nl, Value earlier) {
        Scalar ns{nb, nl};
        return ns.loadAt(env.pooled, add(nb, nl, ref.tiesAt, earlier));
      });
  scf::ForOp::create(
      b, loc, c.first, c.last, cst(b, loc, 1), ValueRange{tiesBefore},
      [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
        Scalar ns{nb, nl};
        Value at = add(nb, nl, ref.entriesAt, j);
        Value code = ns.loadAt(env.table, at);
        Value candidate = cmp(nb, nl, CmpIPredicate::sge, j, ref.forced);
        Value tie = arith::AndIOp::create(nb, nl, candidate,
                                          ns.icmp(CmpIPredicate::eq, code, threshold));
        Value kept = arith::OrIOp::create(
            nb, nl,
            arith::OrIOp::create(nb, nl, arith::XOrIOp::create(
                                             nb, nl, candidate,
                                             arith::ConstantIntOp::create(nb, nl, 1, 1)),
                                 arith::AndIOp::create(
                                     nb, nl, candidate,
                                     ns.icmp(CmpIPredicate::ugt, code, threshold))),
            arith::AndIOp::create(nb, nl, tie,
                                  ns.fcmp(CmpFPredicate::OLT, acc[0], state.rank)));
        ns.storeAt(arith::ExtUIOp::create(nb, nl, nb.getI64Type(), kept), env.table, at);
        scf::YieldOp::create(nb, nl,
                             ValueRange{ns.select(tie, ns.fadd(acc[0], ns.f64(1.0)), acc[0])});
      });
}

Value stages::digitShift(Scalar &s, Value pass) {
  Value passBits = arith::MulIOp::create(
      s.b, s.loc, arith::IndexCastOp::create(s.b, s.loc, s.b.getI64Type(), pass), s.i64(8));
  return arith::SubIOp::create(s.b, s.loc, s.i64(56), passBits);
}

Value stages::digitOf(Scalar &s, Value code, Value pass) {
  Value digit = arith::ShRUIOp::create(s.b, s.loc, code, digitShift(s, pass));
  return arith::AndIOp::create(s.b, s.loc, digit, s.i64(abi::kRadixBins - 1));
}

Value stages::samePrefix(Scalar &s, Value code, Value prefix, Value pass) {
  // On pass 0 no bits are decided (a shift by 64 would be poison: clamped,
  // and overridden).
  Value firstPass = cmp(s.b, s.loc, CmpIPredicate::eq, pass, cst(s.b, s.loc, 0));
  Value above = arith::MinUIOp::create(
      s.b, s.loc, arith::AddIOp::create(s.b, s.loc, digitShift(s, pass), s.i64(8)), s.i64(63));
  Value differ =
      arith::ShRUIOp::create(s.b, s.loc, arith::XOrIOp::create(s.b, s.loc, code, prefix), above);
  return arith::OrIOp::create(s.b, s.loc, firstPass, s.icmp(CmpIPredicate::eq, differ, s.i64(0)));
}

RadixDigit stages::emitRadixWalk(OpBuilder &b, Location loc, Value histogram, Value histogramAt,
                                 Value rank) {
  // From the top bin down, eight bins an iteration: their loads
  // (and clearing stores) issue together and only the fold below is
  // sequential. A single thread walks the bins while its block waits, so
  // the walk's latency is the stage's. Counts and rank are integers held
  // in f64; the fold runs on their i64 values.
  constexpr int64_t unroll = 8;
  static_assert(abi::kRadixBins % unroll == 0, "whole iterations");
  Scalar s{b, loc};
  Type i64 = b.getI64Type();
  RankWalk init = RankWalk::start(s, arith::FPToSIOp::create(b, loc, i64, rank));
  auto scan = scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, abi::kRadixBins), cst(b, loc, unroll),
      ValueRange{init.found, init.left, init.index, init.count},
      [&](OpBuilder &nb, Location nl, Value i, ValueRange carried) {
        Scalar ns{nb, nl};
        SmallVector<Value, unroll> bins, counts;
        for (int64_t u = 0; u < unroll; ++u) {
          Value bin = sub(nb, nl, cst(nb, nl, abi::kRadixBins - 1 - u), i);
          Value at = add(nb, nl, histogramAt, bin);
          bins.push_back(arith::IndexCastOp::create(nb, nl, i64, bin));
          counts.push_back(arith::FPToSIOp::create(nb, nl, i64, ns.loadAt(histogram, at)));
          ns.storeAt(ns.f64(0.0), histogram, at);
        }
        RankWalk walk{carried[0], carried[1], carried[2], carried[3]};
        for (int64_t u = 0; u < unroll; ++u)
          walk = walk.step(ns, counts[u], bins[u]);
        scf::YieldOp::create(nb, nl, ValueRange{walk.found, walk.left, walk.index, walk.count});
      });
  return {scan.getResult(2), arith::SIToFPOp::create(b, loc, b.getF64Type(), scan.getResult(1))};
}
