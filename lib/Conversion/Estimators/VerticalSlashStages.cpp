//===- VerticalSlashStages.cpp - vertical_slash's scores, item by item ----===//
//
// The first three stages of vertical_slash's estimator (sattn/Conversion/
// Estimators.h): the softmax statistics of the last `last_q` query rows,
// per chunk of 256 keys and then per row, and the column and diagonal
// scores those rows' probabilities sum to. A row of 128K logits is far too
// long for one thread, hence the chunks; the reference (lib/Core/
// Estimators.cpp) sums in the same chunks and order, so that the CPU
// function reproduces it. Logits are recomputed where needed: the last
// rows' logits of a 128K sequence would take 64 MiB per head.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

LineShape::LineShape(OpBuilder &b, Location loc, const EstimatorEnv &env) {
  int64_t lastQRows = env.spec.lastQ;
  KernelOp kernel = env.kernel;
  slices = mul(b, loc, env.batch, cst(b, loc, kernel.getHeads()));
  lastQ = cst(b, loc, lastQRows);
  rows = min(b, loc, lastQ, env.lq);
  chunk = cst(b, loc, abi::kEstimatorChunk);
  chunks = ceilDiv(b, loc, env.lk, abi::kEstimatorChunk);
  // The offsets of abi::EstimatorShape::lineScratch.
  Value lineRows = mul(b, loc, slices, cst(b, loc, 2));
  chunkStatsAt = cst(b, loc, 0);
  rowStatsAt = mul(b, loc, mul(b, loc, mul(b, loc, slices, lastQ), chunks), cst(b, loc, 2));
  radixStateAt = add(b, loc, rowStatsAt, mul(b, loc, mul(b, loc, slices, lastQ), cst(b, loc, 2)));
  histogramAt = add(b, loc, radixStateAt, mul(b, loc, lineRows, cst(b, loc, 3)));
  tiesAt = add(b, loc, histogramAt, mul(b, loc, lineRows, cst(b, loc, abi::kRadixBins)));
}

Value LineShape::chunkStats(OpBuilder &b, Location loc, Value slice, Value r, Value c) const {
  Value row = add(b, loc, mul(b, loc, slice, lastQ), r);
  return add(b, loc, chunkStatsAt,
             mul(b, loc, add(b, loc, mul(b, loc, row, chunks), c), cst(b, loc, 2)));
}

Value LineShape::rowStats(OpBuilder &b, Location loc, Value slice, Value r) const {
  return add(b, loc, rowStatsAt,
             mul(b, loc, add(b, loc, mul(b, loc, slice, lastQ), r), cst(b, loc, 2)));
}

Value LineShape::kept(OpBuilder &b, Location loc, const EstimatorEnv &env, Value line) const {
  Value isColumns = cmp(b, loc, CmpIPredicate::eq, line, cst(b, loc, 0));
  Value count = arith::SelectOp::create(b, loc, isColumns, cst(b, loc, env.spec.vertical),
                                        cst(b, loc, env.spec.slash));
  return min(b, loc, count, env.lk);
}

Value LineShape::forced(OpBuilder &b, Location loc, const EstimatorEnv &env, Value line) const {
  Value isColumns = cmp(b, loc, CmpIPredicate::eq, line, cst(b, loc, 0));
  Value count = arith::SelectOp::create(b, loc, isColumns, cst(b, loc, env.spec.forcedVertical),
                                        cst(b, loc, env.spec.forcedSlash));
  return min(b, loc, count, kept(b, loc, env, line));
}

Value stages::emitLineItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  LineShape ls(b, loc, env);
  Value lineRows = mul(b, loc, ls.slices, cst(b, loc, 2));
  Value items;
  switch (stage) {
  case kRowChunks:
    items = mul(b, loc, mul(b, loc, ls.slices, ls.lastQ), ls.chunks);
    break;
  case kRowStats:
    items = mul(b, loc, ls.slices, ls.lastQ);
    break;
  case kLines:
  case kRadixCount:
    items = mul(b, loc, lineRows, env.lk);
    break;
  case kRadixDecide:
    items = lineRows;
    break;
  default:
    items = mul(b, loc, lineRows, ls.chunks);
    break;
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

namespace {

/// scale * q[b, h, queryRow] . k[b, h / group, key], the dot product summed
/// over the head dimension in order (as the reference's).
Value logit(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh, Value bIdx,
            Value head, Value queryRow, Value key) {
  Scalar s{b, loc};
  Value kvHead = div(b, loc, head, sh.group);
  Value dot = sumOver(b, loc, cst(b, loc, 0), sh.headDim,
                      [&](OpBuilder &db, Location dl, Value x) {
                        Scalar ds{db, dl};
                        return ds.fmul(env.load(db, dl, false, bIdx, head, queryRow, x),
                                       env.load(db, dl, true, bIdx, kvHead, key, x));
                      });
  return s.fmul(s.f64(env.scale), dot);
}

/// The last rows: row r of the `rows` last ones is query row lq - rows + r
/// at position lk - rows + r (bottom-right aligned, as the kernel's causal
/// mask).
struct LastRow {
  Value queryRow, position;
  LastRow(OpBuilder &b, Location loc, const EstimatorEnv &env, const LineShape &ls, Value r) {
    queryRow = add(b, loc, sub(b, loc, env.lq, ls.rows), r);
    position = add(b, loc, sub(b, loc, env.lk, ls.rows), r);
  }
};

} // namespace

/// row_chunks: for last row r of (b, h) and keys [c * 256, ...) at or before
/// its position, the maximum logit M and sum of exp(logit - M); (-inf, 0)
/// for a chunk past the position.
void stages::emitRowChunk(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  LineShape ls(b, loc, env);
  auto d = unflatten(b, loc, item, {ls.chunks, ls.lastQ, sh.heads});
  Value c = d[0], r = d[1], head = d[2], bIdx = d[3];
  Value slice = add(b, loc, mul(b, loc, bIdx, sh.heads), head);
  Value at = ls.chunkStats(b, loc, slice, r, c);
  Value active = cmp(b, loc, CmpIPredicate::slt, r, ls.rows);
  scf::IfOp::create(b, loc, active, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    LastRow row(tb, tl, env, ls, r);
    Value first = mul(tb, tl, c, ls.chunk);
    Value last = min(tb, tl, add(tb, tl, first, ls.chunk),
                     add(tb, tl, row.position, cst(tb, tl, 1)));
    auto logitAt = [&](OpBuilder &nb, Location nl, Value j) {
      return logit(nb, nl, env, sh, bIdx, head, row.queryRow, j);
    };
    Value chunkMax = maxOver(tb, tl, first, last, logitAt);
    Value sum = sumOver(tb, tl, first, last, [&](OpBuilder &nb, Location nl, Value j) {
      Scalar ns{nb, nl};
      return env.exp(nb, nl, ns.fsub(logitAt(nb, nl, j), chunkMax));
    });
    s.storeAt(chunkMax, env.pooled, at);
    s.storeAt(sum, env.pooled, add(tb, tl, at, cst(tb, tl, 1)));
    scf::YieldOp::create(tb, tl);
  });
}

/// row_stats: last row r's softmax maximum (the maximum of its chunks') and
/// sum (each chunk's sum rescaled to that maximum, chunks in order).
void stages::emitRowStats(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  LineShape ls(b, loc, env);
  auto d = unflatten(b, loc, item, {ls.lastQ});
  Value r = d[0], slice = d[1];
  Value active = cmp(b, loc, CmpIPredicate::slt, r, ls.rows);
  scf::IfOp::create(b, loc, active, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    LastRow row(tb, tl, env, ls, r);
    Value rowChunks = ceilDiv(tb, tl, add(tb, tl, row.position, cst(tb, tl, 1)),
                              abi::kEstimatorChunk);
    auto chunkMax = [&](OpBuilder &nb, Location nl, Value c) {
      Scalar ns{nb, nl};
      return ns.loadAt(env.pooled, ls.chunkStats(nb, nl, slice, r, c));
    };
    Value rowMax = maxOver(tb, tl, cst(tb, tl, 0), rowChunks, chunkMax);
    Value sum = sumOver(tb, tl, cst(tb, tl, 0), rowChunks, [&](OpBuilder &nb, Location nl, Value c) {
      Scalar ns{nb, nl};
      Value chunkSum =
          ns.loadAt(env.pooled, add(nb, nl, ls.chunkStats(nb, nl, slice, r, c), cst(nb, nl, 1)));
      return ns.fmul(chunkSum, env.exp(nb, nl, ns.fsub(chunkMax(nb, nl, c), rowMax)));
    });
    Value at = ls.rowStats(tb, tl, slice, r);
    s.storeAt(rowMax, env.pooled, at);
    s.storeAt(sum, env.pooled, add(tb, tl, at, cst(tb, tl, 1)));
    scf::YieldOp::create(tb, tl);
  });
}

/// lines: the score of column j (line 0: the last rows' probabilities at
/// key j) or of diagonal offset j (line 1: at key position - j), rows in
/// order, stored as its order code in table[b, h, line, j]. Also resets the
/// line's radix state and histogram for the selection that follows.
void stages::emitLineScore(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  LineShape ls(b, loc, env);
  Scalar s{b, loc};
  auto d = unflatten(b, loc, item, {env.lk, cst(b, loc, 2), sh.heads});
  Value j = d[0], line = d[1], head = d[2], bIdx = d[3];
  Value slice = add(b, loc, mul(b, loc, bIdx, sh.heads), head);
  Value lineRow = add(b, loc, mul(b, loc, slice, cst(b, loc, 2)), line);

  // The radix state (prefix 0, rank kept - forced, pass 0) and histogram.
  Value isFirst = cmp(b, loc, CmpIPredicate::eq, j, cst(b, loc, 0));
  scf::IfOp::create(b, loc, isFirst, [&](OpBuilder &tb, Location tl) {
    Scalar ts{tb, tl};
    Value stateAt = add(tb, tl, ls.radixStateAt, mul(tb, tl, lineRow, cst(tb, tl, 3)));
    Value rank = sub(tb, tl, ls.kept(tb, tl, env, line), ls.forced(tb, tl, env, line));
    ts.storeAt(ts.doubleOf(ts.i64(0)), env.pooled, stateAt);
    ts.storeAt(ts.toF64(rank), env.pooled, add(tb, tl, stateAt, cst(tb, tl, 1)));
    ts.storeAt(ts.f64(0.0), env.pooled, add(tb, tl, stateAt, cst(tb, tl, 2)));
    scf::YieldOp::create(tb, tl);
  });
  Value bins = cst(b, loc, abi::kRadixBins);
  Value histogram = add(b, loc, ls.histogramAt, mul(b, loc, lineRow, bins));
  scf::ForOp::create(b, loc, j, max(b, loc, j, bins), env.lk, ValueRange{},
                     [&](OpBuilder &nb, Location nl, Value bin, ValueRange) {
                       Scalar ns{nb, nl};
                       ns.storeAt(ns.f64(0.0), env.pooled, add(nb, nl, histogram, bin));
                       scf::YieldOp::create(nb, nl);
                     });

  // Rows reach key j (offset j) from r >= j - (lk - rows) on.
  Value firstRow = max(b, loc, cst(b, loc, 0), sub(b, loc, j, sub(b, loc, env.lk, ls.rows)));
  Value isColumn = cmp(b, loc, CmpIPredicate::eq, line, cst(b, loc, 0));
  Value score = sumOver(b, loc, firstRow, ls.rows, [&](OpBuilder &nb, Location nl, Value r) {
    Scalar ns{nb, nl};
    LastRow row(nb, nl, env, ls, r);
    Value key = arith::SelectOp::create(nb, nl, isColumn, j, sub(nb, nl, row.position, j));
    Value statsAt = ls.rowStats(nb, nl, slice, r);
    Value rowMax = ns.loadAt(env.pooled, statsAt);
    Value rowSum = ns.loadAt(env.pooled, add(nb, nl, statsAt, cst(nb, nl, 1)));
    Value l = logit(nb, nl, env, sh, bIdx, head, row.queryRow, key);
    return ns.fdiv(env.exp(nb, nl, ns.fsub(l, rowMax)), rowSum);
  });
  s.storeAt(s.orderCode(score), env.table, add(b, loc, mul(b, loc, lineRow, env.lk), j));
}
