//===- GateStages.cpp - SeerAttention's gate, item by item ----------------===//
//
// The stages of the gate estimator (sattn/Conversion/Estimators.h,
// docs/ESTIMATORS.md "gate"): pooled blocks, their projection by the
// learned weights (a runtime input: abi::kEstimatorParams' "weights") with
// the rotary embedding, each query block row's softmax, and the selection.
// Every sum runs in the reference's order (lib/Core/Estimators.cpp), so the
// CPU function, whose sin, cos, pow and exp are libm's as the reference's
// are, reproduces the reference's table exactly; the GPU's f64 functions
// are built from arithmetic (ExpF64.cpp, TrigF64.cpp) and agree to a few
// ulp.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// The gate's scratch offsets (abi::EstimatorShape::gateScratch) and sizes
/// as index values.
struct GateLayout {
  Value hidden, half, pooledKeysAt, queriesAt, keysAt;
  GateLayout(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh) {
    hidden = cst(b, loc, env.spec.hidden);
    half = cst(b, loc, env.spec.hidden / 2);
    pooledKeysAt = sh.pooledKeysAt;
    Value keyBlocks = mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), env.blocks);
    queriesAt = add(b, loc, pooledKeysAt,
                    mul(b, loc, keyBlocks, mul(b, loc, sh.headDim, cst(b, loc, 3))));
    Value projected =
        mul(b, loc, mul(b, loc, mul(b, loc, env.batch, sh.heads), env.blocks), hidden);
    keysAt = add(b, loc, queriesAt, projected);
  }
};

/// f32 weight `at` as f64.
Value weightAt(OpBuilder &b, Location loc, const EstimatorEnv &env, Value at) {
  Value w = memref::LoadOp::create(b, loc, env.weights, ValueRange{at});
  return arith::ExtFOp::create(b, loc, b.getF64Type(), w);
}

/// pool: the mean of one column of a query block, or the maximum, minimum
/// and mean of one column of a key block (rows that exist, in order).
void emitGatePool(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value isQuery = cmp(b, loc, CmpIPredicate::slt, item, sh.pooledKeysAt);
  scf::IfOp::create(
      b, loc, isQuery,
      [&](OpBuilder &tb, Location tl) {
        storeQueryBlockMean(tb, tl, env, sh, item);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        Scalar es{eb, el};
        auto d = unflatten(eb, el, sub(eb, el, item, sh.pooledKeysAt),
                           {sh.headDim, env.blocks, sh.kvHeads});
        Value column = d[0], keyBlock = d[1], kvHead = d[2], bIdx = d[3];
        Value first = mul(eb, el, keyBlock, sh.block);
        Value last = min(eb, el, add(eb, el, first, sh.block), env.lk);
        double inf = std::numeric_limits<double>::infinity();
        // std::max and std::min as the reference folds them.
        auto folds = scf::ForOp::create(
            eb, el, first, last, cst(eb, el, 1),
            ValueRange{es.f64(-inf), es.f64(inf), es.f64(0.0)},
            [&](OpBuilder &nb, Location nl, Value row, ValueRange acc) {
              Scalar ns{nb, nl};
              Value v = env.load(nb, nl, true, bIdx, kvHead, row, column);
              Value mx = ns.select(ns.fcmp(CmpFPredicate::OLT, acc[0], v), v, acc[0]);
              Value mn = ns.select(ns.fcmp(CmpFPredicate::OLT, v, acc[1]), v, acc[1]);
              scf::YieldOp::create(nb, nl, ValueRange{mx, mn, ns.fadd(acc[2], v)});
            });
        Value mean = es.fdiv(folds.getResult(2), es.toF64(sub(eb, el, last, first)));
        // (batch, KV head, block) rows of 3 head_dim: maxima, minima, means.
        Value slice = add(eb, el, mul(eb, el, bIdx, sh.kvHeads), kvHead);
        Value rowAt = add(eb, el, sh.pooledKeysAt,
                          mul(eb, el, add(eb, el, mul(eb, el, slice, env.blocks), keyBlock),
                              mul(eb, el, sh.headDim, cst(eb, el, 3))));
        Value at = add(eb, el, rowAt, column);
        es.storeAt(folds.getResult(0), env.pooled, at);
        es.storeAt(folds.getResult(1), env.pooled, add(eb, el, at, sh.headDim));
        es.storeAt(mean, env.pooled, add(eb, el, at, mul(eb, el, sh.headDim, cst(eb, el, 2))));
        scf::YieldOp::create(eb, el);
      });
}

/// project: features i and i + F/2 of a query block (side 0) or key block
/// (side 1) of query head h: the pooled block times the head's wq or wk
/// (f64 sums in index order), turned by the rotary embedding at the block's
/// index (rotate-half: angle pos * base^(-2i / F)).
void emitGateProject(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  GateLayout gl(b, loc, env, sh);
  auto d = unflatten(b, loc, item, {gl.half, env.blocks, sh.heads, env.batch});
  Value pair = d[0], block = d[1], head = d[2], bIdx = d[3];
  Value isKey = cmp(b, loc, CmpIPredicate::ne, d[4], cst(b, loc, 0));
  Value needed = arith::OrIOp::create(b, loc, isKey, blockHoldsQuery(b, loc, sh, block));
  scf::IfOp::create(b, loc, needed, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value three = cst(tb, tl, 3);
    Value kvSlice = add(tb, tl, mul(tb, tl, bIdx, sh.kvHeads), div(tb, tl, head, sh.group));
    Value querySlice = add(tb, tl, mul(tb, tl, bIdx, sh.heads), head);
    Value keyVector = add(tb, tl, gl.pooledKeysAt,
                          mul(tb, tl, add(tb, tl, mul(tb, tl, kvSlice, env.blocks), block),
                              mul(tb, tl, sh.headDim, three)));
    Value queryVector =
        mul(tb, tl, add(tb, tl, mul(tb, tl, querySlice, env.blocks), block), sh.headDim);
    Value vector = arith::SelectOp::create(tb, tl, isKey, keyVector, queryVector);
    Value length = arith::SelectOp::create(tb, tl, isKey, mul(tb, tl, sh.headDim, three),
                                           sh.headDim);
    // Head h's weights: wq (head_dim x F) then wk (3 head_dim x F).
    Value headWeights = mul(tb, tl, head, mul(tb, tl, mul(tb, tl, sh.headDim, cst(tb, tl, 4)),
                                              gl.hidden));
    Value matrix = add(tb, tl, headWeights,
                       arith::SelectOp::create(tb, tl, isKey, mul(tb, tl, sh.headDim, gl.hidden),
                                               cst(tb, tl, 0)));
    Value other = add(tb, tl, pair, gl.half);
    auto sums = scf::ForOp::create(
        tb, tl, cst(tb, tl, 0), length, cst(tb, tl, 1), ValueRange{s.f64(0.0), s.f64(0.0)},
        [&](OpBuilder &nb, Location nl, Value y, ValueRange acc) {
          Scalar ns{nb, nl};
          Value pooled = ns.loadAt(env.pooled, add(nb, nl, vector, y));
          Value row = add(nb, nl, matrix, mul(nb, nl, y, gl.hidden));
          Value first = ns.fmul(pooled, weightAt(nb, nl, env, add(nb, nl, row, pair)));
          Value second = ns.fmul(pooled, weightAt(nb, nl, env, add(nb, nl, row, other)));
          scf::YieldOp::create(nb, nl, ValueRange{ns.fadd(acc[0], first), ns.fadd(acc[1], second)});
        });
    Value a = sums.getResult(0), c = sums.getResult(1);
    Value exponent = s.fdiv(s.fmul(s.f64(-2.0), s.toF64(pair)), s.f64(double(env.spec.hidden)));
    Value angle = s.fmul(s.toF64(block), env.pow(tb, tl, env.spec.ropeBase, exponent));
    auto [sine, cosine] = env.sinCos(tb, tl, angle);
    Value turnedA = s.fsub(s.fmul(a, cosine), s.fmul(c, sine));
    Value turnedC = s.fadd(s.fmul(c, cosine), s.fmul(a, sine));
    // Queries (slice, block, F); keys (slice, F, block).
    Value blockRow = add(tb, tl, mul(tb, tl, querySlice, env.blocks), block);
    Value queryAt = add(tb, tl, gl.queriesAt, mul(tb, tl, blockRow, gl.hidden));
    Value keyAt = add(tb, tl, gl.keysAt,
                      add(tb, tl, mul(tb, tl, mul(tb, tl, querySlice, gl.hidden), env.blocks),
                          block));
    auto store = [&](Value feature, Value v) {
      Value at = arith::SelectOp::create(
          tb, tl, isKey, add(tb, tl, keyAt, mul(tb, tl, feature, env.blocks)),
          add(tb, tl, queryAt, feature));
      s.storeAt(v, env.pooled, at);
    };
    store(pair, turnedA);
    store(other, turnedC);
    scf::YieldOp::create(tb, tl);
  });
}
/// logits: g_q(I) . g_k(J) / sqrt(F) of block pair (I, J), J <= I, of a
/// query block holding a query (the product summed over the features in
/// order), as f64 bits in table[b, h, I, J]. An item per pair: a row's
/// pairs run side by side, reading the query block once for all and
/// consecutive key blocks.
void emitGateLogits(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  GateLayout gl(b, loc, env, sh);
  auto d = unflatten(b, loc, item, {env.blocks, env.blocks});
  Value keyBlock = d[0], queryBlock = d[1], slice = d[2];
  Value valid = arith::AndIOp::create(b, loc, blockHoldsQuery(b, loc, sh, queryBlock),
                                      cmp(b, loc, CmpIPredicate::sle, keyBlock, queryBlock));
  scf::IfOp::create(b, loc, valid, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value row = sub(tb, tl, item, keyBlock); // (slice, I) * n
    Value query = add(tb, tl, gl.queriesAt, mul(tb, tl, div(tb, tl, row, env.blocks), gl.hidden));
    Value key = add(tb, tl, gl.keysAt,
                    add(tb, tl, mul(tb, tl, mul(tb, tl, slice, gl.hidden), env.blocks), keyBlock));
    auto product = [&](OpBuilder &lb, Location ll, Value f) {
      Scalar ls{lb, ll};
      return ls.fmul(ls.loadAt(env.pooled, add(lb, ll, query, f)),
                     ls.loadAt(env.pooled, add(lb, ll, key, mul(lb, ll, f, env.blocks))));
    };
    Value dot = sumOver(tb, tl, cst(tb, tl, 0), gl.hidden, product);
    Value logit = s.fdiv(dot, s.f64(std::sqrt(double(env.spec.hidden))));
    s.storeAt(s.bitsOf(logit), env.table, item);
    scf::YieldOp::create(tb, tl);
  });
}

/// score: row I of (b, h): the softmax of its logits over J <= I (maximum
/// as std::max, sum in order), as f64 bits in table[b, h, I, J].
void emitGateScore(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value queryBlock = rem(b, loc, item, env.blocks);
  scf::IfOp::create(b, loc, blockHoldsQuery(b, loc, sh, queryBlock), [&](OpBuilder &tb,
                                                                         Location tl) {
    Value rowStart = mul(tb, tl, item, env.blocks);
    Value end = add(tb, tl, queryBlock, cst(tb, tl, 1));
    // Entry J of the row as f64: the logit, after the sum exp(logit - max).
    auto entry = [&](OpBuilder &nb, Location nl, Value j) {
      Scalar ns{nb, nl};
      return ns.doubleOf(ns.loadAt(env.table, add(nb, nl, rowStart, j)));
    };
    Value rowMax = maxOver(tb, tl, cst(tb, tl, 0), end, entry);
    // exp(logit - maximum) replaces each logit as it is summed (one exp per
    // entry), then the division by the sum, as the reference does it.
    Scalar s{tb, tl};
    auto sum = scf::ForOp::create(
        tb, tl, cst(tb, tl, 0), end, cst(tb, tl, 1), ValueRange{s.f64(0.0)},
        [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
          Scalar ns{nb, nl};
          Value shifted = env.exp(nb, nl, ns.fsub(entry(nb, nl, j), rowMax));
          ns.storeAt(ns.bitsOf(shifted), env.table, add(nb, nl, rowStart, j));
          scf::YieldOp::create(nb, nl, ValueRange{ns.fadd(acc[0], shifted)});
        });
    forEach(tb, tl, end, [&](OpBuilder &nb, Location nl, Value j) {
      Scalar ns{nb, nl};
      ns.storeAt(ns.bitsOf(ns.fdiv(entry(nb, nl, j), sum.getResult(0))), env.table,
                 add(nb, nl, rowStart, j));
    });
    scf::YieldOp::create(tb, tl);
  });
}

/// select by threshold: row I of (b, h) becomes 0 / 1: blocks 0 and I, the
/// whole last row, and the others whose probability is above the threshold;
/// nothing in a row without queries.
void emitGateThresholdSelect(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value queryBlock = rem(b, loc, item, env.blocks);
  Value rowStart = mul(b, loc, item, env.blocks);
  Value holds = blockHoldsQuery(b, loc, sh, queryBlock);
  Value lastRow = cmp(b, loc, CmpIPredicate::eq, queryBlock,
                      sub(b, loc, env.blocks, cst(b, loc, 1)));
  forEach(b, loc, env.blocks, [&](OpBuilder &nb, Location nl, Value j) {
    Scalar ns{nb, nl};
    Value at = add(nb, nl, rowStart, j);
    Value allowed = arith::AndIOp::create(nb, nl, holds,
                                          cmp(nb, nl, CmpIPredicate::sle, j, queryBlock));
    Value forced = arith::OrIOp::create(
        nb, nl, lastRow,
        arith::OrIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::eq, j, cst(nb, nl, 0)),
                             cmp(nb, nl, CmpIPredicate::eq, j, queryBlock)));
    auto kept = scf::IfOp::create(
        nb, nl, allowed,
        [&](OpBuilder &kb, Location kl) {
          Scalar ks{kb, kl};
          Value above = ks.fcmp(CmpFPredicate::OGT, ks.doubleOf(ks.loadAt(env.table, at)),
                                ks.f64(env.spec.threshold));
          scf::YieldOp::create(kb, kl,
                               ValueRange{arith::OrIOp::create(kb, kl, forced, above).getResult()});
        },
        [&](OpBuilder &kb, Location kl) {
          scf::YieldOp::create(kb, kl, ValueRange{arith::ConstantIntOp::create(kb, kl, 0, 1)});
        });
    ns.storeAt(arith::ExtUIOp::create(nb, nl, nb.getI64Type(), kept.getResult(0)), env.table, at);
  });
}

} // namespace

Value stages::emitGateItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  Shape sh(b, loc, env);
  Value slices = mul(b, loc, env.batch, sh.heads);
  Value items;
  switch (stage) {
  case kGatePool:
    items = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, add(b, loc, sh.heads, sh.kvHeads)),
                            env.blocks),
                sh.headDim);
    break;
  case kGateProject:
    items = mul(b, loc, mul(b, loc, mul(b, loc, slices, env.blocks), cst(b, loc, 2)),
                cst(b, loc, env.spec.hidden / 2));
    break;
  case kGateLogits:
    items = mul(b, loc, mul(b, loc, slices, env.blocks), env.blocks);
    break;
  default: // score and select by threshold: a query block row
    items = mul(b, loc, slices, env.blocks);
    break;
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

void stages::emitGateItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                          Value item) {
  switch (stage) {
  case kGatePool:
    return emitGatePool(b, loc, env, item);
  case kGateProject:
    return emitGateProject(b, loc, env, item);
  case kGateLogits:
    return emitGateLogits(b, loc, env, item);
  case kGateScore:
    return emitGateScore(b, loc, env, item);
  default:
    assert(env.spec.threshold > 0 && "select by top_ratio is a tile stage");
    return emitGateThresholdSelect(b, loc, env, item);
  }
}
