//===- AntidiagonalStages.cpp - XAttention's scorer, item by item ---------===//
//
// The pool and score stages of block_topk with the antidiagonal scorer
// (sattn/Conversion/Estimators.h): per query group the softmax statistics
// of its row of antidiagonal logits, then per block pair the mass of the
// group rows' probabilities inside it, summed in the reference's order
// (lib/Core/Estimators.cpp). Logits are recomputed where needed rather
// than stored: a 32K sequence has 8M group pairs per head.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// The antidiagonal scorer's logit of query group p and key group r of
/// (b, h): (scale / S) * sum over t < S of q[pS + S-1-t] . k[rS + t], where
/// rows outside the sequence contribute nothing (as zero vectors do).
Value groupLogit(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                 Value bIdx, Value head, Value p, Value r) {
  Scalar s{b, loc};
  int64_t stride = env.spec.stride;
  Value kvHead = div(b, loc, head, sh.group);
  Value strideC = cst(b, loc, stride);
  Value lastKey = sub(b, loc, env.lk, cst(b, loc, 1));
  auto terms = scf::ForOp::create(
      b, loc, cst(b, loc, 0), strideC, cst(b, loc, 1), ValueRange{s.f64(0.0)},
      [&](OpBuilder &nb, Location nl, Value t, ValueRange acc) {
        Scalar ns{nb, nl};
        Value position = sub(nb, nl, add(nb, nl, mul(nb, nl, p, strideC), cst(nb, nl, stride - 1)),
                             t);
        Value key = add(nb, nl, mul(nb, nl, r, strideC), t);
        Value valid = arith::AndIOp::create(
            nb, nl,
            arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sge, position, sh.shift),
                                  cmp(nb, nl, CmpIPredicate::slt, position, env.lk)),
            cmp(nb, nl, CmpIPredicate::slt, key, env.lk));
        // Rows clamped into the sequence: an invalid term is read but not added.
        Value row = sub(nb, nl, max(nb, nl, min(nb, nl, position, lastKey), sh.shift), sh.shift);
        Value keyRow = min(nb, nl, key, lastKey);
        auto dot = scf::ForOp::create(
            nb, nl, cst(nb, nl, 0), sh.headDim, cst(nb, nl, 1), ValueRange{ns.f64(0.0)},
            [&](OpBuilder &db, Location dl, Value x, ValueRange sum) {
              Scalar ds{db, dl};
              Value qx = env.load(db, dl, false, bIdx, head, row, x);
              Value kx = env.load(db, dl, true, bIdx, kvHead, keyRow, x);
              scf::YieldOp::create(db, dl, ValueRange{ds.fadd(sum[0], ds.fmul(qx, kx))});
            });
        Value next = ns.select(valid, ns.fadd(acc[0], dot.getResult(0)), acc[0]);
        scf::YieldOp::create(nb, nl, ValueRange{next});
      });
  double factor = env.scale / double(stride);
  return s.fmul(s.f64(factor), terms.getResult(0));
}

/// The first query group holding a query ((Lk - Lq) / S): earlier groups
/// have no softmax row.
Value firstGroup(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh) {
  return div(b, loc, sh.shift, cst(b, loc, env.spec.stride));
}

} // namespace

/// pool (antidiagonal): the softmax maximum and sum of group row p over
/// key groups r <= p, into the scratch (two f64 per row).
void stages::emitGroupRowStats(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value groups = ceilDiv(b, loc, env.lk, env.spec.stride);
  auto d = unflatten(b, loc, item, {groups, sh.heads});
  Value p = d[0], head = d[1], bIdx = d[2];
  Value valid = cmp(b, loc, CmpIPredicate::sge, p, firstGroup(b, loc, env, sh));
  scf::IfOp::create(b, loc, valid, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value end = add(tb, tl, p, cst(tb, tl, 1));
    auto maxLoop = scf::ForOp::create(
        tb, tl, cst(tb, tl, 0), end, cst(tb, tl, 1),
        ValueRange{s.f64(-std::numeric_limits<double>::infinity())},
        [&](OpBuilder &nb, Location nl, Value r, ValueRange acc) {
          Scalar ns{nb, nl};
          Value l = groupLogit(nb, nl, env, sh, bIdx, head, p, r);
          scf::YieldOp::create(
              nb, nl, ValueRange{ns.select(ns.fcmp(CmpFPredicate::OLT, acc[0], l), l, acc[0])});
        });
    Value rowMax = maxLoop.getResult(0);
    Value sum = sumOver(tb, tl, cst(tb, tl, 0), end, [&](OpBuilder &nb, Location nl, Value r) {
      Scalar ns{nb, nl};
      return env.exp(nb, nl, ns.fsub(groupLogit(nb, nl, env, sh, bIdx, head, p, r), rowMax));
    });
    Value at = mul(tb, tl, item, cst(tb, tl, 2));
    s.storeAt(rowMax, env.pooled, at);
    s.storeAt(sum, env.pooled, add(tb, tl, at, cst(tb, tl, 1)));
    scf::YieldOp::create(tb, tl);
  });
}

/// score (antidiagonal): the attention mass of block (I, J), J <= I: the
/// group rows' probabilities summed over the groups inside the block, in
/// the reference's order (rows p ascending, then key groups r), as f64
/// bits in table[b, h, I, J].
void stages::emitBlockMass(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  auto d = unflatten(b, loc, item, {env.blocks, env.blocks, sh.heads});
  Value keyBlock = d[0], queryBlock = d[1], head = d[2], bIdx = d[3];
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sgt,
                         mul(b, loc, add(b, loc, queryBlock, cst(b, loc, 1)), sh.block), sh.shift);
  Value valid = arith::AndIOp::create(
      b, loc, cmp(b, loc, CmpIPredicate::sle, keyBlock, queryBlock), holdsQuery);
  scf::IfOp::create(b, loc, valid, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value perBlock = cst(tb, tl, env.spec.block / env.spec.stride);
    Value groups = ceilDiv(tb, tl, env.lk, env.spec.stride);
    Value rowsFrom = max(tb, tl, mul(tb, tl, queryBlock, perBlock), firstGroup(tb, tl, env, sh));
    Value rowsTo = min(tb, tl, mul(tb, tl, add(tb, tl, queryBlock, cst(tb, tl, 1)), perBlock),
                       groups);
    Value keysFrom = mul(tb, tl, keyBlock, perBlock);
    Value keysTo = mul(tb, tl, add(tb, tl, keyBlock, cst(tb, tl, 1)), perBlock);
    Value slice = add(tb, tl, mul(tb, tl, bIdx, sh.heads), head);
    auto rows = scf::ForOp::create(
        tb, tl, rowsFrom, max(tb, tl, rowsFrom, rowsTo), cst(tb, tl, 1), ValueRange{s.f64(0.0)},
        [&](OpBuilder &nb, Location nl, Value p, ValueRange acc) {
          Scalar ns{nb, nl};
          Value at = mul(nb, nl, add(nb, nl, mul(nb, nl, slice, groups), p), cst(nb, nl, 2));
          Value rowMax = ns.loadAt(env.pooled, at);
          Value rowSum = ns.loadAt(env.pooled, add(nb, nl, at, cst(nb, nl, 1)));
          Value end = min(nb, nl, keysTo, add(nb, nl, p, cst(nb, nl, 1)));
          auto keys = scf::ForOp::create(
              nb, nl, keysFrom, max(nb, nl, keysFrom, end), cst(nb, nl, 1), ValueRange{acc[0]},
              [&](OpBuilder &kb, Location kl, Value r, ValueRange sum) {
                Scalar ks{kb, kl};
                Value prob = ks.fdiv(
                    env.exp(kb, kl, ks.fsub(groupLogit(kb, kl, env, sh, bIdx, head, p, r), rowMax)),
                    rowSum);
                scf::YieldOp::create(kb, kl, ValueRange{ks.fadd(sum[0], prob)});
              });
          scf::YieldOp::create(nb, nl, ValueRange{keys.getResult(0)});
        });
    s.storeAt(s.bitsOf(rows.getResult(0)), env.table, item);
    scf::YieldOp::create(tb, tl);
  });
}
