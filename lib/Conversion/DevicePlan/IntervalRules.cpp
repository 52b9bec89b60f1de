//===- IntervalRules.cpp - integer intervals over a tile ------------------===//
//
// Implements IntervalRules.h. Why attainment is tracked: bounds alone say
// whether a comparison may or must hold over a tile; when both sides'
// bounds are values of some pair and the sides vary independently, the
// comparison's "may" is also "some pair holds", which settles a tile as
// PARTIAL without looking at its pairs (a global token's column: some key
// is kept, some is not).
//
// Attainment rules: positions are dense; sums, differences, minima and
// maxima of independent values keep tightness (and density); products by a
// constant keep tightness (density only for +-1); division by a constant,
// abs and remainders within one period keep both; anything else claims
// neither.
//
//===----------------------------------------------------------------------===//

#include "IntervalRules.h"

#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <limits>

using namespace mlir;
using namespace sattn::indexarith;
using namespace sattn::tileintervals;
using arith::CmpIPredicate;

Value sattn::tileintervals::boolConst(OpBuilder &b, Location loc, bool v) {
  return arith::ConstantIntOp::create(b, loc, v, 1);
}
Value sattn::tileintervals::andI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AndIOp::create(b, loc, x, y);
}
Value sattn::tileintervals::orI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::OrIOp::create(b, loc, x, y);
}
Value sattn::tileintervals::notI(OpBuilder &b, Location loc, Value x) {
  return arith::XOrIOp::create(b, loc, x, boolConst(b, loc, true));
}
Value sattn::tileintervals::select(OpBuilder &b, Location loc, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}

namespace {

/// Signed overflow of x + y = s or x - y = s (sign rules, any width).
Value addOverflows(OpBuilder &b, Location loc, Value x, Value y, Value s) {
  Value t = arith::AndIOp::create(b, loc, arith::XOrIOp::create(b, loc, x, s),
                                  arith::XOrIOp::create(b, loc, y, s));
  return cmp(b, loc, CmpIPredicate::slt, t, cst(b, loc, 0));
}
Value subOverflows(OpBuilder &b, Location loc, Value x, Value y, Value s) {
  Value t = arith::AndIOp::create(b, loc, arith::XOrIOp::create(b, loc, x, y),
                                  arith::XOrIOp::create(b, loc, x, s));
  return cmp(b, loc, CmpIPredicate::slt, t, cst(b, loc, 0));
}
/// Whether -x wraps (x is the most negative value).
Value negationWraps(OpBuilder &b, Location loc, Value x) {
  Value neg = sub(b, loc, cst(b, loc, 0), x);
  return andI(b, loc, cmp(b, loc, CmpIPredicate::eq, neg, x),
              cmp(b, loc, CmpIPredicate::ne, x, cst(b, loc, 0)));
}

} // namespace

Interval IntervalRules::point(Value v) {
  Value yes = boolConst(b, loc, true);
  return Interval{v, v, boolConst(b, loc, false), yes, yes, kNoPositions};
}

Interval IntervalRules::unbounded() {
  Value no = boolConst(b, loc, false);
  return Interval{cst(b, loc, 0), cst(b, loc, 0), boolConst(b, loc, true), no, no,
                  kQueryPosition | kKeyPosition};
}

Interval IntervalRules::position(Value lo, Value hi, unsigned which) {
  Value yes = boolConst(b, loc, true);
  return Interval{lo, hi, boolConst(b, loc, false), yes, yes, which};
}

Interval IntervalRules::addSub(const Interval &x, const Interval &y, bool subtract) {
  Value lo, hi, ov;
  if (subtract) {
    lo = sub(b, loc, x.lo, y.hi);
    hi = sub(b, loc, x.hi, y.lo);
    ov = orI(b, loc, subOverflows(b, loc, x.lo, y.hi, lo),
             subOverflows(b, loc, x.hi, y.lo, hi));
  } else {
    lo = add(b, loc, x.lo, y.lo);
    hi = add(b, loc, x.hi, y.hi);
    ov = orI(b, loc, addOverflows(b, loc, x.lo, y.lo, lo),
             addOverflows(b, loc, x.hi, y.hi, hi));
  }
  // Independent sides reach both ends together (x.lo with y.hi, ...).
  bool apart = independent(x, y);
  Value no = boolConst(b, loc, false);
  return Interval{lo, hi, orI(b, loc, ov, orI(b, loc, x.unbounded, y.unbounded)),
                  apart ? andI(b, loc, x.tight, y.tight) : no,
                  apart ? andI(b, loc, x.dense, y.dense) : no, x.positions | y.positions};
}

/// x * c: a product wraps exactly when dividing it by c does not give x
/// back (c = -1: when x is the most negative value).
Interval IntervalRules::mulConstant(const Interval &x, int64_t c) {
  if (c == 0)
    return point(cst(b, loc, 0));
  Value cv = cst(b, loc, c);
  Value pl = mul(b, loc, x.lo, cv), ph = mul(b, loc, x.hi, cv);
  Value ov;
  if (c == -1)
    ov = orI(b, loc, negationWraps(b, loc, x.lo), negationWraps(b, loc, x.hi));
  else
    ov = orI(b, loc, cmp(b, loc, CmpIPredicate::ne, div(b, loc, pl, cv), x.lo),
             cmp(b, loc, CmpIPredicate::ne, div(b, loc, ph, cv), x.hi));
  Value unb = orI(b, loc, ov, x.unbounded);
  Value dense = (c == 1 || c == -1) ? x.dense : boolConst(b, loc, false);
  return c > 0 ? Interval{pl, ph, unb, x.tight, dense, x.positions}
               : Interval{ph, pl, unb, x.tight, dense, x.positions};
}

/// Division by a constant is monotone (non-increasing for c < 0) with
/// steps of at most one; by 0 it yields 0 and by -1 it negates, wrapping
/// on the most negative value.
Interval IntervalRules::divConstant(Operation &op, const Interval &x, int64_t c) {
  if (c == 0)
    return point(cst(b, loc, 0));
  if (c == -1) {
    Value ov = orI(b, loc, negationWraps(b, loc, x.lo), negationWraps(b, loc, x.hi));
    return Interval{sub(b, loc, cst(b, loc, 0), x.hi), sub(b, loc, cst(b, loc, 0), x.lo),
                    orI(b, loc, ov, x.unbounded), x.tight, x.dense, x.positions};
  }
  Value cv = cst(b, loc, c);
  auto apply = [&](Value v) -> Value {
    if (isa<arith::FloorDivSIOp>(op))
      return arith::FloorDivSIOp::create(b, loc, v, cv);
    if (isa<arith::CeilDivSIOp>(op))
      return arith::CeilDivSIOp::create(b, loc, v, cv);
    return div(b, loc, v, cv);
  };
  Value l = apply(x.lo), h = apply(x.hi);
  return c > 0 ? Interval{l, h, x.unbounded, x.tight, x.dense, x.positions}
               : Interval{h, l, x.unbounded, x.tight, x.dense, x.positions};
}

/// Truncated remainder by a constant: exact (and monotone) within one
/// period of a non-negative or non-positive range, else the remainder's
/// full range.
Interval IntervalRules::remConstant(const Interval &x, int64_t c) {
  if (c == 0 || c == 1 || c == -1)
    return point(cst(b, loc, 0));
  // |c| as a value: the most negative constant has no positive magnitude,
  // its remainder keeps every other value (a full-range answer is sound).
  if (c == std::numeric_limits<int64_t>::min())
    return unbounded();
  int64_t a = c < 0 ? -c : c;
  Value av = cst(b, loc, a);
  Value zero = cst(b, loc, 0);
  Value samePeriod = cmp(b, loc, CmpIPredicate::eq, div(b, loc, x.lo, av),
                         div(b, loc, x.hi, av));
  Value nonNeg = cmp(b, loc, CmpIPredicate::sge, x.lo, zero);
  Value nonPos = cmp(b, loc, CmpIPredicate::sle, x.hi, zero);
  Value exact = andI(b, loc, samePeriod, orI(b, loc, nonNeg, nonPos));
  Value top = cst(b, loc, a - 1), bottom = cst(b, loc, 1 - a);
  Value lo = select(b, loc, exact, rem(b, loc, x.lo, av), select(b, loc, nonNeg, zero, bottom));
  Value hi = select(b, loc, exact, rem(b, loc, x.hi, av), select(b, loc, nonPos, zero, top));
  return Interval{lo, hi, x.unbounded, andI(b, loc, exact, x.tight),
                  andI(b, loc, exact, x.dense), x.positions};
}

/// |x|: a range spanning 0 (all of it attained when dense) maps to
/// [0, max(-lo, hi)]; one of 0 and the larger end is attained when tight
/// only, so a spanning range keeps tightness only when dense.
Interval IntervalRules::absolute(const Interval &x) {
  Value zero = cst(b, loc, 0);
  Value nonNeg = cmp(b, loc, CmpIPredicate::sge, x.lo, zero);
  Value nonPos = cmp(b, loc, CmpIPredicate::sle, x.hi, zero);
  Value negLo = sub(b, loc, zero, x.lo), negHi = sub(b, loc, zero, x.hi);
  Value lo = select(b, loc, nonNeg, x.lo, select(b, loc, nonPos, negHi, zero));
  Value hi = select(b, loc, nonNeg, x.hi, select(b, loc, nonPos, negLo, max(b, loc, negLo, x.hi)));
  Value oneSided = orI(b, loc, nonNeg, nonPos);
  Value tight = andI(b, loc, x.tight, orI(b, loc, oneSided, x.dense));
  return Interval{lo, hi, orI(b, loc, x.unbounded, negationWraps(b, loc, x.lo)), tight,
                  x.dense, x.positions};
}

/// min / max of independent values reach both ends together (both at
/// their lows, both at their highs) and every value between.
Interval IntervalRules::minMax(const Interval &x, const Interval &y, bool isMin) {
  auto pick = [&](Value u, Value v) { return isMin ? min(b, loc, u, v) : max(b, loc, u, v); };
  bool apart = independent(x, y);
  Value no = boolConst(b, loc, false);
  return Interval{pick(x.lo, y.lo), pick(x.hi, y.hi), orI(b, loc, x.unbounded, y.unbounded),
                  apart ? andI(b, loc, x.tight, y.tight) : no,
                  apart ? andI(b, loc, x.dense, y.dense) : no, x.positions | y.positions};
}

Interval IntervalRules::hull(const Interval &x, const Interval &y) {
  Value no = boolConst(b, loc, false);
  return Interval{min(b, loc, x.lo, y.lo), max(b, loc, x.hi, y.hi),
                  orI(b, loc, x.unbounded, y.unbounded), no, no, x.positions | y.positions};
}
