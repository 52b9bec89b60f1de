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

#include "IntervalRules.h"

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

using namespace sattn::tileintervals;

namespace {

using arith::CmpIPredicate;

class TileDecisionEmitter {
public:
  TileDecisionEmitter(OpBuilder &b, Location loc, const TileMaskEnv &env)
      : b(b), loc(loc), env(env), rules(b, loc) {}

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
              // Depends on the query position alone: exact.
              Value first = sub(b, loc, env.lk, cst(b, loc, t.getCount()));
              return exact(cmp(b, loc, CmpIPredicate::sge, env.qHi, first),
                           cmp(b, loc, CmpIPredicate::sge, env.qLo, first));
            })
            .Case([&](UnionOp u) { return combine(u.getInputs(), false); })
            .Case([&](IntersectOp i) { return combine(i.getInputs(), true); })
            .Case([&](ComplementOp c) -> FailureOr<TileTruth> {
              FailureOr<TileTruth> in = emitMask(c.getInput());
              if (failed(in))
                return failure();
              return TileTruth{notI(b, loc, in->must), notI(b, loc, in->may),
                               in->someDropped, in->someKept};
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
    return exact(boolConst(b, loc, v), boolConst(b, loc, v));
  }
  TileTruth unknown() {
    Value no = boolConst(b, loc, false);
    return TileTruth{boolConst(b, loc, true), no, no, no};
  }
  /// A truth whose may / must are exact: a pair is kept iff may, and one
  /// is dropped iff not must.
  TileTruth exact(Value may, Value must) {
    return TileTruth{may, must, may, notI(b, loc, must)};
  }
  static TileTruth both(OpBuilder &b, Location loc, const TileTruth &x, const TileTruth &y) {
    // Some pair keeps both when one keeps all pairs and the other some.
    return TileTruth{andI(b, loc, x.may, y.may), andI(b, loc, x.must, y.must),
                     orI(b, loc, andI(b, loc, x.someKept, y.must),
                         andI(b, loc, x.must, y.someKept)),
                     orI(b, loc, x.someDropped, y.someDropped)};
  }
  static TileTruth either(OpBuilder &b, Location loc, const TileTruth &x,
                          const TileTruth &y) {
    // Some pair drops both when one drops all pairs and the other some.
    return TileTruth{orI(b, loc, x.may, y.may), orI(b, loc, x.must, y.must),
                     orI(b, loc, x.someKept, y.someKept),
                     orI(b, loc, andI(b, loc, x.someDropped, notI(b, loc, y.may)),
                         andI(b, loc, notI(b, loc, x.may), y.someDropped))};
  }

  /// Intersection: all of `inputs` keep a pair. Union: one of them does
  /// (its `must` is sound, not exact: halves kept by two inputs leave the
  /// tile undecided). An input after the first is evaluated only where the
  /// ones before leave the answer open (a causal mask's upper triangle
  /// reads no table).
  FailureOr<TileTruth> combine(ValueRange inputs, bool intersect) {
    if (inputs.empty())
      return constant(intersect);
    FailureOr<TileTruth> first = emitMask(inputs.front());
    if (failed(first))
      return failure();
    TileTruth acc = *first;
    for (Value in : inputs.drop_front()) {
      Value open = intersect ? acc.may : notI(b, loc, acc.must);
      Type i1 = b.getI1Type();
      auto ifOp = scf::IfOp::create(b, loc, TypeRange{i1, i1, i1, i1}, open,
                                    /*withElseRegion=*/true);
      FailureOr<TileTruth> t;
      {
        OpBuilder::InsertionGuard guard(b);
        // Values made inside the branch do not dominate what follows it.
        auto outerMemo = memo;
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        t = emitMask(in);
        if (failed(t))
          return failure();
        scf::YieldOp::create(b, loc, ValueRange{t->may, t->must, t->someKept, t->someDropped});
        // Where the answer is settled the input is taken to be what does
        // not change it: nothing kept (intersection), everything (union).
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        TileTruth settled = intersect ? exact(boolConst(b, loc, false), boolConst(b, loc, false))
                            : exact(boolConst(b, loc, true), boolConst(b, loc, true));
        scf::YieldOp::create(b, loc, ValueRange{settled.may, settled.must, settled.someKept,
                                                settled.someDropped});
        memo = std::move(outerMemo);
      }
      TileTruth r{ifOp.getResult(0), ifOp.getResult(1), ifOp.getResult(2), ifOp.getResult(3)};
      acc = intersect ? both(b, loc, acc, r) : either(b, loc, acc, r);
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
                select(b, loc, isHead, t->must, result.must),
                select(b, loc, isHead, t->someKept, result.someKept),
                select(b, loc, isHead, t->someDropped, result.someDropped)};
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
    ints[body.getArgument(0)] = rules.point(env.b);
    ints[body.getArgument(1)] = rules.point(env.h);
    ints[body.getArgument(2)] = rules.position(env.qLo, env.qHi, kQueryPosition);
    ints[body.getArgument(3)] = rules.position(env.kLo, env.kHi, kKeyPosition);
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
    return it != ints.end() ? it->second : rules.unbounded();
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
        return rules.unbounded();
      return rules.point(cst(b, loc, attr.getInt()));
    }
    if (!llvm::all_of(op.getResultTypes(),
                      [](Type t) { return t.isIndex(); }))
      return rules.unbounded();
    if (auto add = dyn_cast<arith::AddIOp>(op))
      return rules.addSub(getInt(add.getLhs()), getInt(add.getRhs()), false);
    if (auto s = dyn_cast<arith::SubIOp>(op))
      return rules.addSub(getInt(s.getLhs()), getInt(s.getRhs()), true);
    if (auto m = dyn_cast<arith::MulIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(m.getRhs()))
        return rules.mulConstant(getInt(m.getLhs()), *c);
      if (std::optional<int64_t> c = constantOf(m.getLhs()))
        return rules.mulConstant(getInt(m.getRhs()), *c);
      return rules.unbounded();
    }
    if (isa<arith::DivSIOp, arith::FloorDivSIOp, arith::CeilDivSIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(op.getOperand(1)))
        return rules.divConstant(op, getInt(op.getOperand(0)), *c);
      return rules.unbounded();
    }
    if (isa<arith::RemSIOp>(op)) {
      if (std::optional<int64_t> c = constantOf(op.getOperand(1)))
        return rules.remConstant(getInt(op.getOperand(0)), *c);
      return rules.unbounded();
    }
    if (auto a = dyn_cast<math::AbsIOp>(op))
      return rules.absolute(getInt(a.getOperand()));
    if (isa<arith::MinSIOp, arith::MaxSIOp>(op))
      return rules.minMax(getInt(op.getOperand(0)), getInt(op.getOperand(1)),
                          isa<arith::MinSIOp>(op));
    if (auto s = dyn_cast<arith::SelectOp>(op)) {
      TileTruth c = getBool(s.getCondition());
      Interval x = getInt(s.getTrueValue()), y = getInt(s.getFalseValue());
      Interval h = rules.hull(x, y);
      Value onlyFalse = notI(b, loc, c.may);
      auto choose = [&](Value fromX, Value fromY, Value fromHull) {
        return select(b, loc, c.must, fromX,
                      select(b, loc, onlyFalse, fromY, fromHull));
      };
      return Interval{choose(x.lo, y.lo, h.lo), choose(x.hi, y.hi, h.hi),
                      choose(x.unbounded, y.unbounded, h.unbounded), h.tight, h.dense,
                      kQueryPosition | kKeyPosition};
    }
    return rules.unbounded();
  }

  TileTruth boolRule(Operation &op) {
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      auto attr = dyn_cast<IntegerAttr>(c.getValue());
      return attr ? constant(attr.getValue().getBoolValue()) : unknown();
    }
    if (isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op)) {
      TileTruth x = getBool(op.getOperand(0)), y = getBool(op.getOperand(1));
      if (isa<arith::AndIOp>(op))
        return both(b, loc, x, y);
      if (isa<arith::OrIOp>(op))
        return either(b, loc, x, y);
      // xor: decided only where both operands are.
      Value xDecided = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, x.may, x.must);
      Value yDecided = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, y.may, y.must);
      Value decided = andI(b, loc, xDecided, yDecided);
      Value value = arith::XOrIOp::create(b, loc, x.must, y.must);
      return {orI(b, loc, notI(b, loc, decided), value), andI(b, loc, decided, value),
              andI(b, loc, decided, value), andI(b, loc, decided, notI(b, loc, value))};
    }
    if (auto s = dyn_cast<arith::SelectOp>(op)) {
      TileTruth c = getBool(s.getCondition());
      TileTruth x = getBool(s.getTrueValue()), y = getBool(s.getFalseValue());
      Value onlyFalse = notI(b, loc, c.may);
      auto choose = [&](Value fromX, Value fromY, Value fromEither) {
        return select(b, loc, c.must, fromX,
                      select(b, loc, onlyFalse, fromY, fromEither));
      };
      Value no = boolConst(b, loc, false);
      return {choose(x.may, y.may, orI(b, loc, x.may, y.may)),
              choose(x.must, y.must, andI(b, loc, x.must, y.must)),
              choose(x.someKept, y.someKept, no), choose(x.someDropped, y.someDropped, no)};
    }
    if (auto c = dyn_cast<arith::CmpIOp>(op)) {
      if (!c.getLhs().getType().isIndex())
        return unknown();
      return compare(c.getPredicate(), getInt(c.getLhs()), getInt(c.getRhs()));
    }
    return unknown();
  }

  /// may / must from the bounds; someKept / someDropped where both sides'
  /// bounds are attained and vary independently (then an order that may
  /// hold holds for the pair at the ends, and equality holds where one
  /// side's value lies in the other's dense range or the ends meet).
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
    Value attained = independent(x, y) ? andI(b, loc, bounded, andI(b, loc, x.tight, y.tight))
                                       : boolConst(b, loc, false);
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
      Value someEqual = andI(b, loc, attained, equalSomewhere(x, y));
      Value someUnequal = andI(b, loc, attained, notI(b, loc, allEqual));
      bool isEq = pred == CmpIPredicate::eq;
      Value eqMay = notI(b, loc, disjoint);
      may = isEq ? eqMay : notI(b, loc, allEqual);
      must = isEq ? allEqual : disjoint;
      return {orI(b, loc, notI(b, loc, bounded), may), andI(b, loc, bounded, must),
              isEq ? someEqual : someUnequal, isEq ? someUnequal : someEqual};
    }
    default:
      return unknown();
    }
    return {orI(b, loc, notI(b, loc, bounded), may), andI(b, loc, bounded, must),
            andI(b, loc, attained, may), andI(b, loc, attained, notI(b, loc, must))};
  }

  /// Whether attained, independent x and y are equal for some pair: an end
  /// of one inside the other's dense range, or two ends equal.
  Value equalSomewhere(const Interval &x, const Interval &y) {
    auto inside = [&](Value v, const Interval &r) {
      return andI(b, loc, r.dense,
                  andI(b, loc, cmp(b, loc, CmpIPredicate::sle, r.lo, v),
                       cmp(b, loc, CmpIPredicate::sle, v, r.hi)));
    };
    auto eq = [&](Value u, Value v) { return cmp(b, loc, CmpIPredicate::eq, u, v); };
    Value ends = orI(b, loc, orI(b, loc, eq(x.lo, y.lo), eq(x.lo, y.hi)),
                     orI(b, loc, eq(x.hi, y.lo), eq(x.hi, y.hi)));
    return orI(b, loc, ends,
               orI(b, loc, orI(b, loc, inside(y.lo, x), inside(y.hi, x)),
                   orI(b, loc, inside(x.lo, y), inside(x.hi, y))));
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
    // The box's entries are all read by some pair when every index takes
    // every value of its range, independently of the others.
    Value everyEntry = boolConst(b, loc, true);
    unsigned positions = kNoPositions;
    bool apart = true;
    for (auto [index, extent] : llvm::zip_equal(lookup.getIndices(), table.extents)) {
      Interval i = getInt(index);
      apart = apart && (positions & i.positions) == 0;
      positions |= i.positions;
      everyEntry = andI(b, loc, everyEntry, i.dense);
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
    Value attained = apart ? andI(b, loc, notI(b, loc, tooBig), everyEntry)
                           : boolConst(b, loc, false);
    if (isBool) {
      Value some = cmp(b, loc, CmpIPredicate::ne, hi, zero);
      Value all = cmp(b, loc, CmpIPredicate::ne, lo, zero);
      bools[lookup.getResult()] = {orI(b, loc, tooBig, some),
                                   andI(b, loc, notI(b, loc, tooBig), all),
                                   andI(b, loc, attained, some),
                                   andI(b, loc, attained, notI(b, loc, all))};
    } else {
      ints[lookup.getResult()] =
          Interval{lo, hi, tooBig, attained, boolConst(b, loc, false), positions};
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
  IntervalRules rules;
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
