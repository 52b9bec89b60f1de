//===- VerticalSlashStages.cpp - vertical_slash's shape and row statistics ===//
//
// vertical_slash's sizes and scratch offsets (LineShape), its stages'
// item counts, and row_stats: a last row's softmax maximum and sum from
// its chunks' statistics (row_chunks, LineTileStages.cpp). A row of 128K
// logits is far too long for one thread, hence the chunks; the reference
// (lib/Core/Estimators.cpp) sums in the same chunks and order, so that the
// compiled stages reproduce it.
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
  case kRowStats:
    items = mul(b, loc, ls.slices, ls.lastQ);
    break;
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
