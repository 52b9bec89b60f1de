//===- MaskToArith.cpp - element masks as arith/math ops ------------------===//
//
// Implements the element-mask emitter of sattn/Conversion/MaskToArith.h.
// The emitted code must agree with the reference evaluator on every input,
// not only on well-formed ones, because the tests compare the two by brute
// force: hence the guarded divisions, the dropped poison flags and the
// bounds-checked table reads below.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/MaskToArith.h"

#include "Mask/IR/MaskOps.h"
#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;

namespace {

using arith::CmpIPredicate;

Value intConstant(OpBuilder &b, Location loc, Type type, int64_t value) {
  return arith::ConstantOp::create(b, loc, type, b.getIntegerAttr(type, value));
}

Value boolConstant(OpBuilder &b, Location loc, bool value) {
  return arith::ConstantIntOp::create(b, loc, value, 1);
}

bool isDivision(Operation *op) {
  return isa<arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp,
             arith::CeilDivSIOp, arith::RemSIOp, arith::RemUIOp>(op);
}

/// Clones a predicate-body op for execution. Overflow flags and `exact`
/// turn wrap-around or inexact results into poison, while the contract
/// defines them (wrap-around), so the clone drops them.
Operation *cloneWithoutPoison(OpBuilder &b, Operation &op, IRMapping &map) {
  Operation *clone = b.clone(op, map);
  if (auto flags = dyn_cast<arith::ArithIntegerOverflowFlagsInterface>(clone))
    clone->setAttr(flags.getIntegerOverflowAttrName(),
                   arith::IntegerOverflowFlagsAttr::get(
                       b.getContext(), arith::IntegerOverflowFlags::none));
  clone->removeAttr("isExact");
  return clone;
}

/// Emits a division-family op of a predicate body with the contract's
/// semantics: by 0 it yields 0; signed ops by -1 yield the wrapped negation
/// (remainder 0) instead of trapping on INT_MIN / -1. Divisors that are
/// constants other than 0 and -1 need no guard.
Value emitGuardedDivision(OpBuilder &b, Location loc, Operation &op,
                          IRMapping &map) {
  Value divisor = map.lookupOrDefault(op.getOperand(1));
  APInt constant;
  if (matchPattern(divisor, m_ConstantInt(&constant)) && !constant.isZero() &&
      !constant.isAllOnes())
    return cloneWithoutPoison(b, op, map)->getResult(0);

  Type type = divisor.getType();
  Value zero = intConstant(b, loc, type, 0);
  Value one = intConstant(b, loc, type, 1);
  Value byZero = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, divisor, zero);
  bool isSigned = !isa<arith::DivUIOp, arith::RemUIOp>(op);
  Value byMinusOne, unsafe = byZero;
  if (isSigned) {
    byMinusOne = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, divisor,
                                       intConstant(b, loc, type, -1));
    unsafe = arith::OrIOp::create(b, loc, byZero, byMinusOne);
  }
  Value safeDivisor = arith::SelectOp::create(b, loc, unsafe, one, divisor);
  Operation *clone = cloneWithoutPoison(b, op, map);
  clone->setOperand(1, safeDivisor);
  Value result = clone->getResult(0);
  if (isSigned) {
    Value dividend = map.lookupOrDefault(op.getOperand(0));
    // x / -1 (floor or ceil alike) is -x with wrap-around; x rem -1 is 0.
    Value negated =
        isa<arith::RemSIOp>(op)
            ? zero
            : arith::SubIOp::create(b, loc, zero, dividend).getResult();
    result = arith::SelectOp::create(b, loc, byMinusOne, negated, result);
  }
  return arith::SelectOp::create(b, loc, byZero, zero, result);
}

/// Emits masks op by op, remembering values so that a mask used twice in
/// the DAG (e.g. causal in both arms of a union) is computed once.
class MaskEmitter {
public:
  MaskEmitter(OpBuilder &builder, Location loc, const ElementMaskEnv &env)
      : b(builder), loc(loc), env(env) {}

  FailureOr<Value> emit(Value mask) {
    if (Value known = memo.lookup(mask))
      return known;
    Operation *op = mask.getDefiningOp();
    if (!op)
      return emitError(loc) << "element masks must be defined by mask ops";
    FailureOr<Value> result =
        llvm::TypeSwitch<Operation *, FailureOr<Value>>(op)
            .Case([&](FullOp) { return boolConstant(b, loc, true); })
            .Case([&](EmptyOp) { return boolConstant(b, loc, false); })
            .Case([&](TailQueriesOp t) { return tailQueries(t); })
            .Case([&](UnionOp u) {
              return fold<arith::OrIOp>(u.getInputs(), /*identity=*/false);
            })
            .Case([&](IntersectOp i) {
              return fold<arith::AndIOp>(i.getInputs(), /*identity=*/true);
            })
            .Case([&](ComplementOp c) -> FailureOr<Value> {
              FailureOr<Value> in = emit(c.getInput());
              if (failed(in))
                return failure();
              return arith::XOrIOp::create(b, loc, *in,
                                           boolConstant(b, loc, true))
                  .getResult();
            })
            .Case([&](PerHeadOp p) { return perHead(p); })
            .Case([&](PredicateOp p) {
              auto yield = cast<mask::YieldOp>(p.getBody().front().getTerminator());
              return predicateValue(p, yield.getCondition());
            })
            .Default([&](Operation *other) -> FailureOr<Value> {
              return other->emitError()
                     << "cannot emit element mask code for '"
                     << other->getName()
                     << "' (expand named patterns first; dynamic patterns "
                        "need their estimator)";
            });
    if (succeeded(result))
      memo[mask] = *result;
    return result;
  }

private:
  /// q >= Lk - N, on absolute query positions.
  Value tailQueries(TailQueriesOp op) {
    Value count = arith::ConstantIndexOp::create(b, loc, op.getCount());
    Value first = arith::SubIOp::create(b, loc, env.lk, count);
    return arith::CmpIOp::create(b, loc, CmpIPredicate::sge, env.q, first);
  }

  template <typename CombineOp>
  FailureOr<Value> fold(ValueRange inputs, bool identity) {
    Value acc;
    for (Value in : inputs) {
      FailureOr<Value> v = emit(in);
      if (failed(v))
        return failure();
      acc = acc ? CombineOp::create(b, loc, acc, *v).getResult() : *v;
    }
    return acc ? acc : boolConstant(b, loc, identity);
  }

  /// A select chain on the head index over the operand each head uses:
  /// branch-free, and with the head count known at compile time as short
  /// as a table lookup would be. Operands are emitted once each.
  FailureOr<Value> perHead(PerHeadOp op) {
    ArrayRef<int64_t> assign = op.getAssignment();
    if (assign.empty())
      return op.emitError("per_head assigns no head");
    SmallVector<Value> inputs(op.getInputs().size());
    auto input = [&](int64_t i) -> FailureOr<Value> {
      if (!inputs[i]) {
        FailureOr<Value> v = emit(op.getInputs()[i]);
        if (failed(v))
          return failure();
        inputs[i] = *v;
      }
      return inputs[i];
    };
    FailureOr<Value> acc = input(assign.back());
    if (failed(acc))
      return failure();
    Value result = *acc;
    for (int64_t h = static_cast<int64_t>(assign.size()) - 2; h >= 0; --h) {
      FailureOr<Value> v = input(assign[h]);
      if (failed(v))
        return failure();
      Value isHead = arith::CmpIOp::create(
          b, loc, CmpIPredicate::eq, env.h,
          arith::ConstantIndexOp::create(b, loc, h));
      result = arith::SelectOp::create(b, loc, isHead, *v, result);
    }
    return result;
  }

public:
  /// The clone of `target`, a value of `op`'s body, with b, h, q, k
  /// substituted (the whole body is cloned; what `target` does not use is
  /// dead code for the canonicalizer).
  FailureOr<Value> predicateValue(PredicateOp op, Value target) {
    Block &body = op.getBody().front();
    IRMapping map;
    map.map(body.getArgument(0), env.b);
    map.map(body.getArgument(1), env.h);
    map.map(body.getArgument(2), env.q);
    map.map(body.getArgument(3), env.k);
    for (Operation &inner : body.without_terminator()) {
      if (auto lookup = dyn_cast<LookupOp>(inner)) {
        auto it = env.tables.find(lookup.getTable());
        if (it == env.tables.end())
          return lookup.emitError() << "no buffer bound for table @"
                                    << lookup.getTable();
        SmallVector<Value> indices;
        for (Value i : lookup.getIndices())
          indices.push_back(map.lookupOrDefault(i));
        if (indices.size() != it->second.extents.size())
          return lookup.emitError()
                 << "lookup has " << indices.size() << " indices but table @"
                 << lookup.getTable() << " has " << it->second.extents.size()
                 << " dimensions";
        map.map(lookup.getResult(),
                emitTableLookup(b, loc, it->second, indices,
                                lookup.getResult().getType()));
        continue;
      }
      if (inner.getNumRegions() != 0)
        return inner.emitError("ops with regions are not allowed in "
                               "predicate bodies");
      if (isDivision(&inner)) {
        map.map(inner.getResult(0), emitGuardedDivision(b, loc, inner, map));
        continue;
      }
      cloneWithoutPoison(b, inner, map);
    }
    return map.lookupOrDefault(target);
  }

private:
  OpBuilder &b;
  Location loc;
  const ElementMaskEnv &env;
  llvm::DenseMap<Value, Value> memo;
};

} // namespace

LogicalResult sattn::verifyElementMaskLowerable(Value mask) {
  llvm::SmallPtrSet<Operation *, 16> seen;
  SmallVector<Value> work{mask};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    Operation *op = v.getDefiningOp();
    if (!op)
      return failure();
    if (!seen.insert(op).second)
      continue;
    if (isa<FullOp, EmptyOp, TailQueriesOp, PredicateOp>(op))
      continue;
    if (isa<UnionOp, IntersectOp, ComplementOp, PerHeadOp>(op)) {
      llvm::append_range(work, op->getOperands());
      continue;
    }
    return op->emitError() << "cannot emit element mask code for '"
                           << op->getName()
                           << "' (expand named patterns first; dynamic "
                              "patterns need their estimator)";
  }
  return success();
}

FailureOr<Value> sattn::emitElementMask(OpBuilder &builder, Location loc,
                                        Value mask,
                                        const ElementMaskEnv &env) {
  MaskEmitter emitter(builder, loc, env);
  return emitter.emit(mask);
}

FailureOr<Value> sattn::emitPredicateBodyValue(OpBuilder &builder,
                                               Location loc, PredicateOp op,
                                               Value inBody,
                                               const ElementMaskEnv &env) {
  MaskEmitter emitter(builder, loc, env);
  return emitter.predicateValue(op, inBody);
}

Value sattn::emitTableLookup(OpBuilder &b, Location loc,
                             const TableBinding &table, ValueRange indices,
                             Type resultType) {
  // An unsigned compare against the extent also rejects negative indices.
  Value inBounds = boolConstant(b, loc, true);
  Value linear = arith::ConstantIndexOp::create(b, loc, 0);
  for (auto [index, extent] : llvm::zip_equal(indices, table.extents)) {
    Value ok = arith::CmpIOp::create(b, loc, CmpIPredicate::ult, index, extent);
    inBounds = arith::AndIOp::create(b, loc, inBounds, ok);
    linear = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, linear, extent), index);
  }
  // Branch-free: an out-of-range read loads element 0 (every table holds
  // one once a kernel runs: its extents are at least 1) and discards it,
  // so that the reads of neighbouring elements can be in flight together.
  Type i64 = b.getI64Type();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value safe = arith::SelectOp::create(b, loc, inBounds, linear, zero);
  Value loaded = memref::LoadOp::create(b, loc, table.buffer, safe);
  Value value =
      arith::SelectOp::create(b, loc, inBounds, loaded, intConstant(b, loc, i64, 0));
  if (resultType.isInteger(1))
    return arith::CmpIOp::create(b, loc, CmpIPredicate::ne, value,
                                 intConstant(b, loc, i64, 0));
  return arith::IndexCastOp::create(b, loc, resultType, value);
}

SmallVector<Value, 3> sattn::emitTableExtents(OpBuilder &b, Location loc,
                                              TableOp table, Value batch,
                                              Value heads, Value lk) {
  SmallVector<Value, 3> extents;
  for (Attribute attr : table.getDims()) {
    TableDim dim;
    bool parsed = parseTableDim(cast<StringAttr>(attr).getValue(), dim);
    assert(parsed && "table dims are checked by the verifier");
    (void)parsed;
    switch (dim.kind) {
    case TableDim::Batch:
      extents.push_back(batch);
      break;
    case TableDim::Head:
      extents.push_back(dim.blockSize == 1
                            ? heads
                            : arith::CeilDivSIOp::create(
                                  b, loc, heads,
                                  arith::ConstantIndexOp::create(b, loc, dim.blockSize))
                                  .getResult());
      break;
    case TableDim::QueryPos:
    case TableDim::KeyPos:
      extents.push_back(
          dim.blockSize == 1
              ? lk
              : arith::CeilDivSIOp::create(
                    b, loc, lk,
                    arith::ConstantIndexOp::create(b, loc, dim.blockSize))
                    .getResult());
      break;
    case TableDim::Literal:
      extents.push_back(arith::ConstantIndexOp::create(b, loc, dim.extent));
      break;
    }
  }
  return extents;
}

//===----------------------------------------------------------------------===//
// Expanded kernel copies
//===----------------------------------------------------------------------===//

sattn::KernelOp sattn::ExpandedKernel::kernel() {
  return *owner->getOps<KernelOp>().begin();
}

mlir::FailureOr<sattn::ExpandedKernel>
sattn::expandKernelCopy(KernelOp kernel) {
  ExpandedKernel copy{mlir::ModuleOp::create(kernel.getLoc())};
  copy.owner->push_back(kernel->clone());
  mlir::RewritePatternSet patterns(kernel.getContext());
  mask::populateExpandMaskPatterns(patterns);
  mlir::walkAndApplyPatterns(*copy.owner, std::move(patterns));
  return copy;
}
