//===- TileIntervals.cpp - a mask decided for a whole tile ----------------===//
//
// Implements sattn/Conversion/TileIntervals.h. Why intervals: a plan
// builder that evaluated every pair of every tile would cost as much as
// the masked attention's scores; bounds decide nearly all tiles (those
// away from a document edge or a window's border) with a few operations.
//
// Every rule below must be sound for every input, including huge constants
// and positions: an interval whose computation may wrap is marked
// unbounded instead of being reasoned about, and any op without a rule is
// unknown.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/TileIntervals.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;
using namespace sattn::indexarith;

namespace {

using arith::CmpIPredicate;

/// An integer value of a predicate body over the tile: lo <= v <= hi for
/// every pair unless `unbounded` (i1) is set.
struct Interval {
  Value lo, hi, unbounded;
};

Value boolConst(OpBuilder &b, Location loc, bool v) {
  return arith::ConstantIntOp::create(b, loc, v, 1);
}
Value andI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AndIOp::create(b, loc, x, y);
}
Value orI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::OrIOp::create(b, loc, x, y);
}
Value notI(OpBuilder &b, Location loc, Value x) {
  return arith::XOrIOp::create(b, loc, x, boolConst(b, loc, true));
}
Value select(OpBuilder &b, Location loc, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}

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

class TileDecisionEmitter {
public:
  TileDecisionEmitter(OpBuilder &b, Location loc, const TileMaskEnv &env)
      : b(b), loc(loc), env(env) {}

  FailureOr<TileTruth> emitMask(Value mask) {
    auto known = memo.find(mask);
    if (known != memo.end())
      return known->second;
    Operation *op = mask.getDefiningOp();
    if (!op)
      return emitError(loc) << "tile decisions need masks defined by mask ops";
    FailureOr<TileTruth> result =
        llvm::TypeSwitch<Operation *, FailureOr<TileTruth>>(op)
            .Case([&](FullOp) { return constant(true); })
            .Case([&](EmptyOp) { return constant(false); })
            .Case([&](TailQueriesOp t) -> FailureOr<TileTruth> {
              Value first = sub(b, loc, env.lk, cst(b, loc, t.getCount()));
              return TileTruth{cmp(b, loc, CmpIPredicate::sge, env.qHi, first),
                               cmp(b, loc, CmpIPredicate::sge, env.qLo, first)};
            })
            .Case([&](UnionOp u) { return combine(u.getInputs(), false); })
            .Case([&](IntersectOp i) { return combine(i.getInputs(), true); })
            .Case([&](ComplementOp c) -> FailureOr<TileTruth> {
              FailureOr<TileTruth> in = emitMask(c.getInput());
              if (failed(in))
                return failure();
              return TileTruth{notI(b, loc, in->must), notI(b, loc, in->may)};
            })
            .Case([&](PerHeadOp p) { return perHead(p); })
            .Case([&](PredicateOp p) { return predicate(p); })
            .Default([&](Operation *other) -> FailureOr<TileTruth> {
              return other->emitError()
                     << "cannot decide tiles of '" << other->getName()
                     << "' (expand named patterns first; dynamic patterns "
                        "need their estimator)";
            });
    if (succeeded(result))
      memo[mask] = *result;
    return result;
  }

private:
  TileTruth constant(bool v) {
    return TileTruth{boolConst(b, loc, v), boolConst(b, loc, v)};
  }
  TileTruth unknown() {
    return TileTruth{boolConst(b, loc, true), boolConst(b, loc, false)};
  }
  Interval point(Value v) { return Interval{v, v, boolConst(b, loc, false)}; }
  Interval unbounded() {
    return Interval{cst(b, loc, 0), cst(b, loc, 0), boolConst(b, loc, true)};
  }

  /// Intersection: all of `inputs` keep a pair. Union: one of them does
  /// (its `must` is sound, not exact: halves kept by two inputs leave the
  /// tile undecided).
  FailureOr<TileTruth> combine(ValueRange inputs, bool intersect) {
    TileTruth acc = constant(intersect);
    for (Value in : inputs) {
      FailureOr<TileTruth> t = emitMask(in);
      if (failed(t))
        return failure();
      if (intersect)
        acc = {andI(b, loc, acc.may, t->may), andI(b, loc, acc.must, t->must)};
      else
        acc = {orI(b, loc, acc.may, t->may), orI(b, loc, acc.must, t->must)};
    }
    return acc;
  }

  FailureOr<TileTruth> perHead(PerHeadOp op) {
    ArrayRef<int64_t> assign = op.getAssignment();
    if (assign.empty())
      return op.emitError("per_head assigns no head");
    FailureOr<TileTruth> acc = emitMask(op.getInputs()[assign.back()]);
    if (failed(acc))
      return failure();
    TileTruth result = *acc;
    for (int64_t h = static_cast<int64_t>(assign.size()) - 2; h >= 0; --h) {
      FailureOr<TileTruth> t = emitMask(op.getInputs()[assign[h]]);
      if (failed(t))
        return failure();
      Value isHead = cmp(b, loc, CmpIPredicate::eq, env.h, cst(b, loc, h));
      result = {select(b, loc, isHead, t->may, result.may),
                select(b, loc, isHead, t->must, result.must)};
    }
    return result;
  }

  //===--------------------------------------------------------------------===//
  // Predicate bodies
  //===--------------------------------------------------------------------===//

  FailureOr<TileTruth> predicate(PredicateOp op) {
    ints.clear();
    bools.clear();
    Block &body = op.getBody().front();
    ints[body.getArgument(0)] = point(env.b);
    ints[body.getArgument(1)] = point(env.h);
    ints[body.getArgument(2)] = Interval{env.qLo, env.qHi, boolConst(b, loc, false)};
    ints[body.getArgument(3)] = Interval{env.kLo, env.kHi, boolConst(b, loc, false)};
    for (Operation &inner : body.without_terminator()) {
      if (inner.getNumRegions() != 0)
        return inner.emitError("ops with regions are not allowed in "
                               "predicate bodies");
      if (auto lookup = dyn_cast<LookupOp>(inner)) {
        if (failed(emitLookup(lookup)))
          return failure();
        continue;
      }
      for (Value result : inner.getResults()) {
        if (result.getType().isInteger(1))
          bools[result] = boolRule(inner);
        else
          ints[result] = intRule(inner);
      }
    }
    auto yield = cast<mask::YieldOp>(body.getTerminator());
    return getBool(yield.getCondition());
  }

  Interval getInt(Value v) {
    auto it = ints.find(v);
    return it != ints.end() ? it->second : unbounded();
  }
  TileTruth getBool(Value v) {
    auto it = bools.find(v);
    return it != bools.end() ? it->second : unknown();
  }
  static std::optional<int64_t> constantOf(Value v) {
    APInt c;
    if (matchPattern(v, m_ConstantInt(&c)))
      return c.getSExtValue();
    return std::nullopt;
  }

  Interval intRule(Operation &op) {
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      auto attr = dyn_cast<IntegerAttr>(c.getValue());
      if (!attr || !c.getType().isIndex())
        return unbounded();
      return point(cst(b, loc, attr.getInt()));
    }
    if (!llvm::all_of(op.getResultTypes(),
                      [](Type t) { return t.isIndex(); }))
      return unbounded();
    if (auto add = dyn_cast<arith::AddIOp>(op))
      return addSub(getInt(add.getLhs()), getInt(add.getRhs()), false);
    if (auto s = dyn_cast<arith::SubIOp>(op))
      return addSub(getInt(s.getLhs()), getInt(s.getRhs()), true);
    if (auto m = dyn_cast<arith::MulIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(m.getRhs()))
        return mulConstant(getInt(m.getLhs()), *c);
      if (std::optional<int64_t> c = constantOf(m.getLhs()))
        return mulConstant(getInt(m.getRhs()), *c);
      return unbounded();
    }
    if (isa<arith::DivSIOp, arith::FloorDivSIOp, arith::CeilDivSIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(op.getOperand(1)))
        return divConstant(op, getInt(op.getOperand(0)), *c);
      return unbounded();
    }
    if (isa<arith::RemSIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(op.getOperand(1)))
        return remConstant(getInt(op.getOperand(0)), *c);
      return unbounded();
    }
    if (auto a = dyn_cast<math::AbsIOp>(op))
      return absolute(getInt(a.getOperand()));
    if (isa<arith::MinSIOp, arith::MaxSIOp>(op)) {
      Interval x = getInt(op.getOperand(0)), y = getInt(op.getOperand(1));
      bool isMin = isa<arith::MinSIOp>(op);
      auto pick = [&](Value u, Value v) {
        return isMin ? min(b, loc, u, v) : max(b, loc, u, v);
      };
      return Interval{pick(x.lo, y.lo), pick(x.hi, y.hi),
                      orI(b, loc, x.unbounded, y.unbounded)};
    }
    if (auto s = dyn_cast<arith::SelectOp>(op)) {
      TileTruth c = getBool(s.getCondition());
      Interval x = getInt(s.getTrueValue()), y = getInt(s.getFalseValue());
      Interval hull{min(b, loc, x.lo, y.lo), max(b, loc, x.hi, y.hi),
                    orI(b, loc, x.unbounded, y.unbounded)};
      Value onlyFalse = notI(b, loc, c.may);
      auto choose = [&](Value fromX, Value fromY, Value fromHull) {
        return select(b, loc, c.must, fromX,
                      select(b, loc, onlyFalse, fromY, fromHull));
      };
      return Interval{choose(x.lo, y.lo, hull.lo), choose(x.hi, y.hi, hull.hi),
                      choose(x.unbounded, y.unbounded, hull.unbounded)};
    }
    return unbounded();
  }

  Interval addSub(Interval x, Interval y, bool subtract) {
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
    return Interval{lo, hi,
                    orI(b, loc, ov, orI(b, loc, x.unbounded, y.unbounded))};
  }

  /// x * c: a product wraps exactly when dividing it by c does not give x
  /// back (c = -1: when x is the most negative value).
  Interval mulConstant(Interval x, int64_t c) {
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
    return c > 0 ? Interval{pl, ph, unb} : Interval{ph, pl, unb};
  }

  /// Division by a constant is monotone (non-increasing for c < 0); by 0
  /// it yields 0 and by -1 it negates, wrapping on the most negative value.
  Interval divConstant(Operation &op, Interval x, int64_t c) {
    if (c == 0)
      return point(cst(b, loc, 0));
    if (c == -1) {
      Value ov = orI(b, loc, negationWraps(b, loc, x.lo), negationWraps(b, loc, x.hi));
      return Interval{sub(b, loc, cst(b, loc, 0), x.hi),
                      sub(b, loc, cst(b, loc, 0), x.lo),
                      orI(b, loc, ov, x.unbounded)};
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
    return c > 0 ? Interval{l, h, x.unbounded} : Interval{h, l, x.unbounded};
  }

  /// Truncated remainder by a constant: exact within one period of a
  /// non-negative or non-positive range, else the remainder's full range.
  Interval remConstant(Interval x, int64_t c) {
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
    Value signConstant = orI(b, loc, nonNeg, nonPos);
    Value exact = andI(b, loc, samePeriod, signConstant);
    Value top = cst(b, loc, a - 1), bottom = cst(b, loc, 1 - a);
    Value lo = select(b, loc, exact, rem(b, loc, x.lo, av),
                      select(b, loc, nonNeg, zero, bottom));
    Value hi = select(b, loc, exact, rem(b, loc, x.hi, av),
                      select(b, loc, nonPos, zero, top));
    return Interval{lo, hi, x.unbounded};
  }

  Interval absolute(Interval x) {
    Value zero = cst(b, loc, 0);
    Value nonNeg = cmp(b, loc, CmpIPredicate::sge, x.lo, zero);
    Value nonPos = cmp(b, loc, CmpIPredicate::sle, x.hi, zero);
    Value negLo = sub(b, loc, zero, x.lo), negHi = sub(b, loc, zero, x.hi);
    Value lo = select(b, loc, nonNeg, x.lo, select(b, loc, nonPos, negHi, zero));
    Value hi = select(b, loc, nonNeg, x.hi,
                      select(b, loc, nonPos, negLo, max(b, loc, negLo, x.hi)));
    return Interval{lo, hi, orI(b, loc, x.unbounded, negationWraps(b, loc, x.lo))};
  }

  TileTruth boolRule(Operation &op) {
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      auto attr = dyn_cast<IntegerAttr>(c.getValue());
      return attr ? constant(attr.getValue().getBoolValue()) : unknown();
    }
    if (isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op)) {
      TileTruth x = getBool(op.getOperand(0)), y = getBool(op.getOperand(1));
      if (isa<arith::AndIOp>(op))
        return {andI(b, loc, x.may, y.may), andI(b, loc, x.must, y.must)};
      if (isa<arith::OrIOp>(op))
        return {orI(b, loc, x.may, y.may), orI(b, loc, x.must, y.must)};
      // xor: decided only where both operands are.
      Value xDecided = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, x.may, x.must);
      Value yDecided = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, y.may, y.must);
      Value decided = andI(b, loc, xDecided, yDecided);
      Value value = arith::XOrIOp::create(b, loc, x.must, y.must);
      return {orI(b, loc, notI(b, loc, decided), value), andI(b, loc, decided, value)};
    }
    if (auto s = dyn_cast<arith::SelectOp>(op)) {
      TileTruth c = getBool(s.getCondition());
      TileTruth x = getBool(s.getTrueValue()), y = getBool(s.getFalseValue());
      Value onlyFalse = notI(b, loc, c.may);
      auto choose = [&](Value fromX, Value fromY, Value fromEither) {
        return select(b, loc, c.must, fromX,
                      select(b, loc, onlyFalse, fromY, fromEither));
      };
      return {choose(x.may, y.may, orI(b, loc, x.may, y.may)),
              choose(x.must, y.must, andI(b, loc, x.must, y.must))};
    }
    if (auto c = dyn_cast<arith::CmpIOp>(op)) {
      if (!c.getLhs().getType().isIndex())
        return unknown();
      return compare(c.getPredicate(), getInt(c.getLhs()), getInt(c.getRhs()));
    }
    return unknown();
  }

  TileTruth compare(CmpIPredicate pred, Interval x, Interval y) {
    Value zero = cst(b, loc, 0);
    Value bounded = notI(b, loc, orI(b, loc, x.unbounded, y.unbounded));
    // Unsigned orders agree with the signed ones on non-negative ranges.
    switch (pred) {
    case CmpIPredicate::ult:
    case CmpIPredicate::ule:
    case CmpIPredicate::ugt:
    case CmpIPredicate::uge: {
      Value nonNeg = andI(b, loc, cmp(b, loc, CmpIPredicate::sge, x.lo, zero),
                          cmp(b, loc, CmpIPredicate::sge, y.lo, zero));
      bounded = andI(b, loc, bounded, nonNeg);
      pred = pred == CmpIPredicate::ult   ? CmpIPredicate::slt
             : pred == CmpIPredicate::ule ? CmpIPredicate::sle
             : pred == CmpIPredicate::ugt ? CmpIPredicate::sgt
                                          : CmpIPredicate::sge;
      break;
    }
    default:
      break;
    }
    Value may, must;
    switch (pred) {
    case CmpIPredicate::slt: // x < y
      must = cmp(b, loc, CmpIPredicate::slt, x.hi, y.lo);
      may = cmp(b, loc, CmpIPredicate::slt, x.lo, y.hi);
      break;
    case CmpIPredicate::sle:
      must = cmp(b, loc, CmpIPredicate::sle, x.hi, y.lo);
      may = cmp(b, loc, CmpIPredicate::sle, x.lo, y.hi);
      break;
    case CmpIPredicate::sgt:
      must = cmp(b, loc, CmpIPredicate::sgt, x.lo, y.hi);
      may = cmp(b, loc, CmpIPredicate::sgt, x.hi, y.lo);
      break;
    case CmpIPredicate::sge:
      must = cmp(b, loc, CmpIPredicate::sge, x.lo, y.hi);
      may = cmp(b, loc, CmpIPredicate::sge, x.hi, y.lo);
      break;
    case CmpIPredicate::eq:
    case CmpIPredicate::ne: {
      Value disjoint = orI(b, loc, cmp(b, loc, CmpIPredicate::slt, x.hi, y.lo),
                           cmp(b, loc, CmpIPredicate::slt, y.hi, x.lo));
      Value allEqual =
          andI(b, loc,
               andI(b, loc, cmp(b, loc, CmpIPredicate::eq, x.lo, x.hi),
                    cmp(b, loc, CmpIPredicate::eq, y.lo, y.hi)),
               cmp(b, loc, CmpIPredicate::eq, x.lo, y.lo));
      if (pred == CmpIPredicate::eq) {
        must = allEqual;
        may = notI(b, loc, disjoint);
      } else {
        must = disjoint;
        may = notI(b, loc, allEqual);
      }
      break;
    }
    default:
      return unknown();
    }
    return {orI(b, loc, notI(b, loc, bounded), may), andI(b, loc, bounded, must)};
  }

  //===--------------------------------------------------------------------===//
  // Table reads
  //===--------------------------------------------------------------------===//

  /// The minimum and maximum of the table over the box the index intervals
  /// span (clipped to the table; a box reaching outside it also reads the
  /// 0 that out-of-range lookups give). Boxes over kTileLookupCap elements,
  /// and unbounded indices, are unknown.
  LogicalResult emitLookup(LookupOp lookup) {
    auto it = env.tables.find(lookup.getTable());
    if (it == env.tables.end())
      return lookup.emitError() << "no buffer bound for table @"
                                << lookup.getTable();
    const TableBinding &table = it->second;
    if (lookup.getIndices().size() != table.extents.size())
      return lookup.emitError() << "lookup has " << lookup.getIndices().size()
                                << " indices but table @" << lookup.getTable()
                                << " has " << table.extents.size()
                                << " dimensions";
    Value zero = cst(b, loc, 0), one = cst(b, loc, 1);
    Value outside = boolConst(b, loc, false), empty = boolConst(b, loc, false);
    Value tooBig = boolConst(b, loc, false), count = one;
    SmallVector<Value, 3> los, ends;
    for (auto [index, extent] : llvm::zip_equal(lookup.getIndices(), table.extents)) {
      Interval i = getInt(index);
      tooBig = orI(b, loc, tooBig, i.unbounded);
      outside = orI(b, loc, outside,
                    orI(b, loc, cmp(b, loc, CmpIPredicate::slt, i.lo, zero),
                        cmp(b, loc, CmpIPredicate::sge, i.hi, extent)));
      Value lo = max(b, loc, i.lo, zero);
      Value end = min(b, loc, add(b, loc, i.hi, one), extent);
      Value n = sub(b, loc, end, lo);
      empty = orI(b, loc, empty, cmp(b, loc, CmpIPredicate::sle, n, zero));
      tooBig = orI(b, loc, tooBig,
                   cmp(b, loc, CmpIPredicate::sgt, n, cst(b, loc, kTileLookupCap)));
      // Each factor is at most the cap here (or the box is too big anyway),
      // so the product of three cannot wrap.
      count = mul(b, loc, count, min(b, loc, max(b, loc, n, zero),
                                     cst(b, loc, kTileLookupCap)));
      los.push_back(lo);
      ends.push_back(end);
    }
    tooBig = orI(b, loc, tooBig,
                 cmp(b, loc, CmpIPredicate::sgt, count, cst(b, loc, kTileLookupCap)));
    Value scan = andI(b, loc, notI(b, loc, tooBig), notI(b, loc, empty));
    bool isBool = lookup.getResult().getType().isInteger(1);

    auto ifOp = scf::IfOp::create(
        b, loc, TypeRange{b.getIndexType(), b.getIndexType(), b.getI1Type()}, scan,
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      scf::YieldOp::create(b, loc, scanBox(table, lookup.getTable(), los, ends, isBool));
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(b, loc, ValueRange{zero, zero, boolConst(b, loc, false)});
    }
    Value lo = ifOp.getResult(0), hi = ifOp.getResult(1);
    tooBig = orI(b, loc, tooBig, ifOp.getResult(2));
    // Out-of-range reads give 0; an empty box reads nothing else.
    Value withZero = orI(b, loc, outside, empty);
    lo = select(b, loc, empty, zero,
                select(b, loc, withZero, min(b, loc, lo, zero), lo));
    hi = select(b, loc, empty, zero,
                select(b, loc, withZero, max(b, loc, hi, zero), hi));
    if (isBool) {
      TileTruth t{cmp(b, loc, CmpIPredicate::ne, hi, zero),
                  cmp(b, loc, CmpIPredicate::ne, lo, zero)};
      bools[lookup.getResult()] = {orI(b, loc, tooBig, t.may),
                                   andI(b, loc, notI(b, loc, tooBig), t.must)};
    } else {
      ints[lookup.getResult()] = Interval{lo, hi, tooBig};
    }
    return success();
  }

  /// A table entry as the element mask reads it, as an index: the value
  /// (cast like emitTableLookup casts it) or, for bool tables, 0 / 1.
  static Value entryValue(OpBuilder &b, Location loc, Value raw, bool isBool) {
    if (isBool) {
      Value nonZero = arith::CmpIOp::create(
          b, loc, CmpIPredicate::ne, raw,
          arith::ConstantIntOp::create(b, loc, 0, 64));
      raw = arith::ExtUIOp::create(b, loc, b.getI64Type(), nonZero);
    }
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  }

  /// Nested loops over the box [los, ends) reducing (min, max, unknown):
  /// rows of the innermost dimension are read entry by entry, or, with
  /// chunk summaries, entry by entry only at their unaligned ends and a
  /// summary per whole chunk between. `unknown` is set when a summary's
  /// values do not survive the cast to index unchanged.
  SmallVector<Value> scanBox(const TableBinding &table, StringRef name,
                             ArrayRef<Value> los, ArrayRef<Value> ends, bool isBool) {
    Value base = env.summaries ? env.summaryBase.lookup(name) : Value();
    auto rawRange = [&](OpBuilder &nb, Value from, Value to, ValueRange acc) {
      return reduceUnrolled(
          nb, loc, from, to, 8, acc,
          [&](OpBuilder &ib, Location il, Value iv, ValueRange carried) {
            Value raw = memref::LoadOp::create(ib, il, table.buffer, iv);
            Value v = entryValue(ib, il, raw, isBool);
            return SmallVector<Value>{min(ib, il, carried[0], v), max(ib, il, carried[1], v),
                                      carried[2]};
          });
    };
    auto chunkRange = [&](OpBuilder &nb, Value from, Value to, ValueRange acc) {
      auto loop = scf::ForOp::create(
          nb, loc, from, to, cst(nb, loc, 1), acc,
          [&](OpBuilder &ib, Location il, Value chunk, ValueRange carried) {
            Value slot = mul(ib, il, add(ib, il, base, chunk), cst(ib, il, 2));
            Value mn = memref::LoadOp::create(ib, il, env.summaries, slot);
            Value mx = memref::LoadOp::create(ib, il, env.summaries,
                                              add(ib, il, slot, cst(ib, il, 1)));
            Value vMin, vMax, lost = carried[2];
            if (isBool) {
              // Every entry nonzero when the range excludes 0; some
              // nonzero unless all are 0 (others: unknown, which is sound).
              Value zero64 = arith::ConstantIntOp::create(ib, il, 0, 64);
              Value allNonZero = orI(ib, il, cmp64(ib, il, CmpIPredicate::sgt, mn, zero64),
                                     cmp64(ib, il, CmpIPredicate::slt, mx, zero64));
              Value allZero = andI(ib, il, cmp64(ib, il, CmpIPredicate::eq, mn, zero64),
                                   cmp64(ib, il, CmpIPredicate::eq, mx, zero64));
              vMin = select(ib, il, allNonZero, cst(ib, il, 1), cst(ib, il, 0));
              vMax = select(ib, il, allZero, cst(ib, il, 0), cst(ib, il, 1));
            } else {
              vMin = arith::IndexCastOp::create(ib, il, ib.getIndexType(), mn);
              vMax = arith::IndexCastOp::create(ib, il, ib.getIndexType(), mx);
              auto changes = [&](Value idx, Value raw) {
                Value back = arith::IndexCastOp::create(ib, il, ib.getI64Type(), idx);
                return cmp64(ib, il, CmpIPredicate::ne, back, raw);
              };
              lost = orI(ib, il, lost, orI(ib, il, changes(vMin, mn), changes(vMax, mx)));
            }
            scf::YieldOp::create(ib, il, ValueRange{min(ib, il, carried[0], vMin),
                                                    max(ib, il, carried[1], vMax), lost});
          });
      return SmallVector<Value>(loop.getResults());
    };
    std::function<SmallVector<Value>(OpBuilder &, unsigned, Value, ValueRange)> level =
        [&](OpBuilder &nb, unsigned d, Value linear, ValueRange acc) -> SmallVector<Value> {
      Value rowBase = mul(nb, loc, linear, table.extents[d]);
      if (d + 1 == los.size()) {
        Value a = add(nb, loc, rowBase, los[d]), e = add(nb, loc, rowBase, ends[d]);
        if (!base)
          return rawRange(nb, a, e, acc);
        Value chunk = cst(nb, loc, abi::kSummaryChunk);
        Value headEnd = min(nb, loc, mul(nb, loc, ceilDiv(nb, loc, a, abi::kSummaryChunk), chunk), e);
        Value tailStart = max(nb, loc, mul(nb, loc, div(nb, loc, e, chunk), chunk), headEnd);
        SmallVector<Value> r = rawRange(nb, a, headEnd, acc);
        r = chunkRange(nb, div(nb, loc, headEnd, chunk), div(nb, loc, tailStart, chunk), r);
        return rawRange(nb, tailStart, e, r);
      }
      auto loop = scf::ForOp::create(
          nb, loc, los[d], ends[d], cst(nb, loc, 1), acc,
          [&](OpBuilder &ib, Location il, Value iv, ValueRange carried) {
            scf::YieldOp::create(ib, il, level(ib, d + 1, add(ib, il, rowBase, iv), carried));
          });
      return SmallVector<Value>(loop.getResults());
    };
    // Start from the first element so that no sentinel extreme is needed.
    Value first = cst(b, loc, 0);
    for (auto [d, lo] : llvm::enumerate(los))
      first = add(b, loc, mul(b, loc, first, table.extents[d]), lo);
    Value raw = memref::LoadOp::create(b, loc, table.buffer, first);
    Value v0 = entryValue(b, loc, raw, isBool);
    return level(b, 0, cst(b, loc, 0), ValueRange{v0, v0, boolConst(b, loc, false)});
  }

  static Value cmp64(OpBuilder &b, Location loc, CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }

  OpBuilder &b;
  Location loc;
  const TileMaskEnv &env;
  llvm::DenseMap<Value, TileTruth> memo;
  llvm::DenseMap<Value, Interval> ints;
  llvm::DenseMap<Value, TileTruth> bools;
};

} // namespace

FailureOr<TileTruth> sattn::emitTileDecision(OpBuilder &builder, Location loc,
                                             Value mask, const TileMaskEnv &env) {
  TileDecisionEmitter emitter(builder, loc, env);
  return emitter.emitMask(mask);
}
