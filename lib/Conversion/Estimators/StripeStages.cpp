//===- StripeStages.cpp - AnchorAttention's stripe estimator, item by item ===//
//
// Implements sattn/Conversion/Estimators.h for `stripe` (docs/ESTIMATORS.md,
// "stripe") in three stages of independent items:
//   anchors (slice, key position): the query at that position's largest
//           scaled logit over its anchor region (the first group and its
//           own group up to itself)
//   pool    (slice, unit, query block): the mean of the block's query rows
//           and of their anchors
//   compare (slice, unit, key): 1 when the key lies between the unit's two
//           anchor regions and some query block of the unit scores it
//           within theta of its pooled anchor, else 0
// Every sum runs in the order of the reference (lib/Core/
// StripeEstimator.cpp), so that the CPU function reproduces it exactly.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// stripe's sizes and scratch offsets (abi::EstimatorShape::stripeScratch)
/// as index values.
struct StripeShape {
  Value slices, unit, units, group, step, pooledAt, pooledEntries;
  StripeShape(OpBuilder &b, Location loc, const EstimatorEnv &env) {
    KernelOp k = env.kernel;
    slices = mul(b, loc, env.batch, cst(b, loc, k.getHeads()));
    unit = cst(b, loc, env.spec.block * env.spec.step);
    units = ceilDiv(b, loc, env.lk, env.spec.block * env.spec.step);
    group = cst(b, loc, env.spec.group);
    step = cst(b, loc, env.spec.step);
    pooledAt = mul(b, loc, slices, env.lk);
    pooledEntries = cst(b, loc, k.getHeadDim() + 1);
  }
};

/// An item of the stages over (slice, unit, inner index): its digits, and
/// the slice's query head and batch element.
struct UnitItem {
  Value inner, unit, slice, head, batch;
  UnitItem(OpBuilder &b, Location loc, const Shape &sh, const StripeShape &ss, Value item,
           Value innerCount) {
    auto d = unflatten(b, loc, item, {innerCount, ss.units});
    inner = d[0];
    unit = d[1];
    slice = d[2];
    head = rem(b, loc, slice, sh.heads);
    batch = div(b, loc, slice, sh.heads);
  }
};

/// scale * (q[b, h, row] . k[b, kvh, key]), the products summed in column
/// order; `query(column)` gives the query side.
Value scaledDot(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                function_ref<Value(OpBuilder &, Location, Value)> query, Value bIdx,
                Value kvHead, Value key) {
  Scalar s{b, loc};
  Value dot = sumOver(b, loc, cst(b, loc, 0), sh.headDim,
                      [&](OpBuilder &nb, Location nl, Value column) {
                        Scalar ns{nb, nl};
                        return ns.fmul(query(nb, nl, column),
                                       env.load(nb, nl, true, bIdx, kvHead, key, column));
                      },
                      kFoldUnroll);
  return s.fmul(s.f64(env.scale), dot);
}

/// anchors: the anchor of the query at key position `pos` of a slice.
void emitAnchor(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  StripeShape ss(b, loc, env);
  Value pos = rem(b, loc, item, env.lk), slice = div(b, loc, item, env.lk);
  Value head = rem(b, loc, slice, sh.heads), bIdx = div(b, loc, slice, sh.heads);
  Value hasQuery = cmp(b, loc, CmpIPredicate::sge, pos, sh.shift);
  scf::IfOp::create(b, loc, hasQuery, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value row = sub(tb, tl, pos, sh.shift), kvHead = div(tb, tl, head, sh.group);
    auto logit = [&](OpBuilder &nb, Location nl, Value key) {
      return scaledDot(
          nb, nl, env, sh,
          [&](OpBuilder &qb, Location ql, Value column) {
            return env.load(qb, ql, false, bIdx, head, row, column);
          },
          bIdx, kvHead, key);
    };
    Value one = cst(tb, tl, 1), end = add(tb, tl, pos, one);
    Value first = maxOver(tb, tl, cst(tb, tl, 0), min(tb, tl, ss.group, end), logit);
    Value localStart = mul(tb, tl, div(tb, tl, pos, ss.group), ss.group);
    Value local = maxOver(tb, tl, max(tb, tl, localStart, ss.group), end, logit);
    s.storeAt(s.select(s.fcmp(CmpFPredicate::OLT, first, local), local, first), env.pooled,
              item);
    scf::YieldOp::create(tb, tl);
  });
}

/// pool: query block `beta` of unit `u`: the mean of its query rows (one
/// entry per column) and of their anchors; a block without queries gets an
/// anchor of +inf, which no score reaches.
void emitPoolBlock(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  StripeShape ss(b, loc, env);
  UnitItem it(b, loc, sh, ss, item, ss.step);
  Value beta = it.inner, u = it.unit, slice = it.slice, head = it.head, bIdx = it.batch;
  Value start = add(b, loc, mul(b, loc, u, ss.unit), mul(b, loc, beta, sh.block));
  Value first = max(b, loc, start, sh.shift);
  Value last = min(b, loc, add(b, loc, start, sh.block), env.lk);
  Value base = add(b, loc, ss.pooledAt, mul(b, loc, item, ss.pooledEntries));
  Value anchorAt = add(b, loc, base, sh.headDim);
  Value empty = cmp(b, loc, CmpIPredicate::sge, first, last);
  scf::IfOp::create(
      b, loc, empty,
      [&](OpBuilder &tb, Location tl) {
        Scalar s{tb, tl};
        s.storeAt(s.f64(std::numeric_limits<double>::infinity()), env.pooled, anchorAt);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        Scalar s{eb, el};
        Value count = s.toF64(sub(eb, el, last, first));
        scf::ForOp::create(eb, el, cst(eb, el, 0), sh.headDim, cst(eb, el, 1), ValueRange{},
                           [&](OpBuilder &nb, Location nl, Value column, ValueRange) {
                             Scalar ns{nb, nl};
                             Value sum = sumOver(nb, nl, first, last,
                                                 [&](OpBuilder &lb, Location ll, Value pos) {
                                                   return env.load(lb, ll, false, bIdx, head,
                                                                   sub(lb, ll, pos, sh.shift),
                                                                   column);
                                                 });
                             ns.storeAt(ns.fdiv(sum, count), env.pooled,
                                        add(nb, nl, base, column));
                             scf::YieldOp::create(nb, nl);
                           });
        Value anchorSum = sumOver(eb, el, first, last, [&](OpBuilder &lb, Location ll, Value pos) {
          Scalar ls{lb, ll};
          return ls.loadAt(env.pooled, add(lb, ll, mul(lb, ll, slice, env.lk), pos));
        });
        s.storeAt(s.fdiv(anchorSum, count), env.pooled, anchorAt);
        scf::YieldOp::create(eb, el);
      });
}

/// compare: table[b, h, u, key] = 1 when the key is a candidate of unit u
/// (the unit holds a query and group <= key < the unit's group start) and
/// some query block of the unit scores it within theta of its anchor.
void emitCompare(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  StripeShape ss(b, loc, env);
  UnitItem it(b, loc, sh, ss, item, env.lk);
  Value key = it.inner, u = it.unit, head = it.head, bIdx = it.batch;
  Value unitStart = mul(b, loc, u, ss.unit);
  Value localStart = mul(b, loc, div(b, loc, unitStart, ss.group), ss.group);
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sgt, add(b, loc, unitStart, ss.unit), sh.shift);
  Value candidate = arith::AndIOp::create(
      b, loc, holdsQuery,
      arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sge, key, ss.group),
                            cmp(b, loc, CmpIPredicate::slt, key, localStart)));
  Scalar s{b, loc};
  auto kept = scf::IfOp::create(
      b, loc, candidate,
      [&](OpBuilder &tb, Location tl) {
        Scalar ts{tb, tl};
        Value kvHead = div(tb, tl, head, sh.group);
        Value firstBlock = mul(tb, tl, div(tb, tl, item, env.lk), ss.step);
        auto any = scf::ForOp::create(
            tb, tl, cst(tb, tl, 0), ss.step, cst(tb, tl, 1), ValueRange{ts.i64(0)},
            [&](OpBuilder &nb, Location nl, Value beta, ValueRange acc) {
              Scalar ns{nb, nl};
              Value base = add(nb, nl, ss.pooledAt,
                               mul(nb, nl, add(nb, nl, firstBlock, beta), ss.pooledEntries));
              Value score = scaledDot(
                  nb, nl, env, sh,
                  [&](OpBuilder &qb, Location ql, Value column) {
                    Scalar qs{qb, ql};
                    return qs.loadAt(env.pooled, add(qb, ql, base, column));
                  },
                  bIdx, kvHead, key);
              Value anchor = ns.loadAt(env.pooled, add(nb, nl, base, sh.headDim));
              Value within = ns.fcmp(CmpFPredicate::OGE,
                                     ns.fadd(score, ns.f64(env.spec.theta)), anchor);
              scf::YieldOp::create(nb, nl,
                                   ValueRange{ns.select(within, ns.i64(1), acc[0])});
            });
        scf::YieldOp::create(tb, tl, any.getResult(0));
      },
      [&](OpBuilder &eb, Location el) {
        Scalar es{eb, el};
        scf::YieldOp::create(eb, el, es.i64(0));
      });
  s.storeAt(kept.getResult(0), env.table, item);
}

} // namespace

Value stages::emitStripeItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  StripeShape ss(b, loc, env);
  Value items;
  switch (stage) {
  case kAnchors:
    items = mul(b, loc, ss.slices, env.lk);
    break;
  case kStripePool:
    items = mul(b, loc, mul(b, loc, ss.slices, ss.units), ss.step);
    break;
  default:
    items = mul(b, loc, mul(b, loc, ss.slices, ss.units), env.lk);
    break;
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

void stages::emitStripeItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                            Value item) {
  switch (stage) {
  case kAnchors:
    return emitAnchor(b, loc, env, item);
  case kStripePool:
    return emitPoolBlock(b, loc, env, item);
  default:
    return emitCompare(b, loc, env, item);
  }
}
