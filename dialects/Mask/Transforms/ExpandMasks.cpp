//===- ExpandMasks.cpp - sattn-expand-masks -------------------------------===//
//
// Rewrites every static named pattern into the `mask.predicate` that spells
// out its definition from docs/MASK_SEMANTICS.md with arith/math ops and
// `mask.lookup`. Backends that only know how to run predicates can then
// execute any static mask, and the evaluator can check that each named
// pattern means exactly what its predicate says. The formulas below follow
// the reference evaluator operation by operation (same divisions, same
// floor-mod), so the two agree on every input, not only on valid positions.
//
// Not expanded: `mask.tail_queries` (its definition reads Lk, which a
// predicate cannot see), `mask.strided_blocks` outside a `sattn.kernel`
// (its step depends on the kernel's head counts), dynamic patterns,
// combinators and existing predicates.
//
//===----------------------------------------------------------------------===//

#include "Mask/Transforms/Passes.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>
#include <map>

namespace sattn::mask {
#define GEN_PASS_DEF_EXPANDMASKS
#include "Mask/Transforms/Passes.h.inc"
} // namespace sattn::mask

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;

namespace {

using arith::CmpIPredicate;

/// Builds one `mask.predicate` in front of the op it replaces. Helpers
/// create index arithmetic inside the predicate body; `finish` yields the
/// condition and returns the new mask value.
class PredicateBuilder {
public:
  PredicateBuilder(OpBuilder &outer, Location loc)
      : loc(loc), builder(outer.getContext()) {
    predicate = PredicateOp::create(outer, loc);
    builder.setInsertionPointToEnd(&predicate.getBody().front());
  }

  Value b() { return arg(0); }
  Value h() { return arg(1); }
  Value q() { return arg(2); }
  Value k() { return arg(3); }

  /// One constant op per value, grouped at the top of the body.
  Value constant(int64_t value) {
    Value &slot = constants[value];
    if (slot)
      return slot;
    OpBuilder::InsertionGuard guard(builder);
    if (lastConstant)
      builder.setInsertionPointAfter(lastConstant);
    else
      builder.setInsertionPointToStart(&predicate.getBody().front());
    auto op = arith::ConstantIndexOp::create(builder, loc, value);
    lastConstant = op;
    slot = op;
    return slot;
  }
  Value add(Value x, Value y) {
    return arith::AddIOp::create(builder, loc, x, y);
  }
  Value sub(Value x, Value y) {
    return arith::SubIOp::create(builder, loc, x, y);
  }
  Value mul(Value x, Value y) {
    return arith::MulIOp::create(builder, loc, x, y);
  }
  Value div(Value x, Value y) {
    return arith::DivSIOp::create(builder, loc, x, y);
  }
  Value floorDiv(Value x, Value y) {
    return arith::FloorDivSIOp::create(builder, loc, x, y);
  }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivSIOp::create(builder, loc, x, y);
  }
  Value rem(Value x, Value y) {
    return arith::RemSIOp::create(builder, loc, x, y);
  }
  Value abs(Value x) { return math::AbsIOp::create(builder, loc, x); }
  Value cmp(CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(builder, loc, predicate, x, y);
  }
  Value cmp(CmpIPredicate predicate, Value x, int64_t y) {
    return cmp(predicate, x, constant(y));
  }
  Value both(Value x, Value y) {
    return arith::AndIOp::create(builder, loc, x, y);
  }
  Value either(Value x, Value y) {
    return arith::OrIOp::create(builder, loc, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(builder, loc, c, x, y);
  }
  Value lookup(FlatSymbolRefAttr table, Type type, ValueRange indices) {
    return LookupOp::create(builder, loc, type, table, indices);
  }

  /// x - y * floor(x / y), the floor modulo of the contract (0 when y is 0):
  /// the truncated remainder, moved by y when its sign differs from y's.
  Value floorMod(Value x, Value y) {
    Value r = rem(x, y);
    Value zero = constant(0);
    Value inexact = cmp(CmpIPredicate::ne, r, zero);
    Value signsDiffer = cmp(CmpIPredicate::ne, cmp(CmpIPredicate::slt, r, zero),
                            cmp(CmpIPredicate::slt, y, zero));
    return select(both(inexact, signsDiffer), add(r, y), r);
  }
  /// The same for a constant divisor; a positive one (the common case) only
  /// needs to lift negative remainders.
  Value floorMod(Value x, int64_t y) {
    if (y <= 0)
      return floorMod(x, constant(y));
    Value r = rem(x, constant(y));
    return select(cmp(CmpIPredicate::slt, r, 0), add(r, constant(y)), r);
  }

  /// Evaluates an affine expression of the head `h` (d0) with the same
  /// semantics as the evaluator's affine interpreter.
  Value affine(AffineExpr expr, Value head) {
    if (auto c = dyn_cast<AffineConstantExpr>(expr))
      return constant(c.getValue());
    if (isa<AffineDimExpr>(expr))
      return head;
    auto binary = cast<AffineBinaryOpExpr>(expr);
    Value lhs = affine(binary.getLHS(), head);
    if (auto divisor = dyn_cast<AffineConstantExpr>(binary.getRHS());
        divisor && binary.getKind() == AffineExprKind::Mod)
      return floorMod(lhs, divisor.getValue());
    Value rhs = affine(binary.getRHS(), head);
    switch (binary.getKind()) {
    case AffineExprKind::Add:
      return add(lhs, rhs);
    case AffineExprKind::Mul:
      return mul(lhs, rhs);
    case AffineExprKind::Mod:
      return floorMod(lhs, rhs);
    case AffineExprKind::FloorDiv:
      return floorDiv(lhs, rhs);
    case AffineExprKind::CeilDiv:
      return ceilDiv(lhs, rhs);
    default:
      llvm_unreachable("symbols are rejected before expansion");
    }
  }

  Value finish(Value condition) {
    mask::YieldOp::create(builder, loc, condition);
    return predicate.getResult();
  }

private:
  Value arg(unsigned i) { return predicate.getBody().getArgument(i); }

  Location loc;
  /// Appends to the body; constants are hoisted above everything else.
  OpBuilder builder;
  Operation *lastConstant = nullptr;
  /// A std::map: DenseMap reserves INT64_MAX and INT64_MIN as its empty and
  /// tombstone keys, and both are valid constants here.
  std::map<int64_t, Value> constants;
  PredicateOp predicate;
};

// One function per pattern; each returns the condition of the predicate
// and mirrors the corresponding row of docs/MASK_SEMANTICS.md.

Value causal(PredicateBuilder &p) {
  return p.cmp(CmpIPredicate::sle, p.k(), p.q());
}

Value window(PredicateBuilder &p, WindowOp op) {
  int64_t size = op.getSize();
  if (op.getSymmetric()) // abs(q - k) <= R
    return p.cmp(CmpIPredicate::sle, p.abs(p.sub(p.q(), p.k())), size);
  // q - W < k <= q
  Value lower =
      p.cmp(CmpIPredicate::slt, p.sub(p.q(), p.constant(size)), p.k());
  return p.both(lower, causal(p));
}

Value strided(PredicateBuilder &p, StridedOp op) {
  int64_t stride = op.getStride();
  Value offset = p.affine(op.getOffset().getResult(0), p.h());
  return p.cmp(CmpIPredicate::eq, p.floorMod(p.k(), stride),
               p.floorMod(offset, stride));
}

Value stridedBlocks(PredicateBuilder &p, StridedBlocksOp op, int64_t heads,
                    int64_t kvHeads) {
  bool perGroup = op.getPerKvGroup();
  int64_t n = perGroup ? kvHeads : heads;
  int64_t vertStride = op.getVertStride();
  int64_t step = std::max<int64_t>(1, vertStride / n);
  Value hh = perGroup ? p.div(p.h(), p.constant(heads / kvHeads)) : p.h();
  Value dense = p.cmp(CmpIPredicate::sge, hh,
                      n - static_cast<int64_t>(op.getDenseHeads()));
  Value block = p.constant(op.getBlockSize());
  Value qBlock = p.div(p.q(), block), kBlock = p.div(p.k(), block);
  Value blockCausal = p.cmp(CmpIPredicate::sge, qBlock, kBlock);
  Value local = p.cmp(CmpIPredicate::slt, p.sub(qBlock, kBlock),
                      static_cast<int64_t>(op.getLocalBlocks()));
  Value column = p.add(p.add(kBlock, p.mul(hh, p.constant(step))),
                       p.constant(op.getOffset()));
  Value vertical = p.cmp(CmpIPredicate::eq, p.floorMod(column, vertStride), 0);
  Value sparse = p.both(blockCausal, p.either(local, vertical));
  return p.both(causal(p), p.either(dense, sparse));
}

Value dilated(PredicateBuilder &p, DilatedOp op) {
  int64_t dilation = op.getDilation();
  int64_t span;
  if (__builtin_mul_overflow(static_cast<int64_t>(op.getWindow()), dilation,
                             &span))
    span = std::numeric_limits<int64_t>::max();
  Value distance = p.sub(p.q(), p.k());
  Value inWindow = p.cmp(CmpIPredicate::slt, distance, span);
  Value onGrid =
      p.cmp(CmpIPredicate::eq, p.rem(distance, p.constant(dilation)), 0);
  return p.both(causal(p), p.both(inWindow, onGrid));
}

Value power(PredicateBuilder &p, PowerOp op) {
  Value block = p.constant(op.getBlockSize());
  Value qBlock = p.div(p.q(), block), kBlock = p.div(p.k(), block);
  Value d = p.sub(qBlock, kBlock);
  // d == 0 or d is a power of two  <=>  d >= 0 and d & (d - 1) == 0
  // (andi on index is the bitwise and).
  Value lowBitsClear =
      p.cmp(CmpIPredicate::eq, p.both(d, p.sub(d, p.constant(1))), 0);
  Value zeroOrPowerOfTwo =
      p.both(p.cmp(CmpIPredicate::sge, d, 0), lowBitsClear);
  Value near =
      p.cmp(CmpIPredicate::slt, d, static_cast<int64_t>(op.getWindowBlocks()));
  Value sink = p.cmp(CmpIPredicate::slt, kBlock,
                     static_cast<int64_t>(op.getSinkBlocks()));
  Value blockCausal = p.cmp(CmpIPredicate::sle, kBlock, qBlock);
  return p.both(p.both(causal(p), blockCausal),
                p.either(p.either(zeroOrPowerOfTwo, near), sink));
}

Value prefix(PredicateBuilder &p, PrefixOp op) {
  Value inPrefix =
      p.cmp(CmpIPredicate::slt, p.k(), static_cast<int64_t>(op.getLength()));
  return p.either(inPrefix, causal(p));
}

Value document(PredicateBuilder &p, DocumentOp op, TableOp table) {
  Type index = IndexType::get(op.getContext());
  FlatSymbolRefAttr ids = op.getTableAttr();
  if (table.getDims().size() == 1)
    return p.cmp(CmpIPredicate::eq, p.lookup(ids, index, {p.q()}),
                 p.lookup(ids, index, {p.k()}));
  return p.cmp(CmpIPredicate::eq, p.lookup(ids, index, {p.b(), p.q()}),
               p.lookup(ids, index, {p.b(), p.k()}));
}

Value blockTable(PredicateBuilder &p, BlockTableOp op) {
  Value block = p.constant(op.getBlockSize());
  return p.lookup(op.getTableAttr(), IntegerType::get(op.getContext(), 1),
                  {p.h(), p.div(p.q(), block), p.div(p.k(), block)});
}

/// Returns the predicate replacing the expandable pattern `op`, or null
/// when `op` must stay as it is.
Value expand(OpBuilder &outer, Operation *op) {
  auto kernel = op->getParentOfType<KernelOp>();
  if (isa<StridedBlocksOp>(op) && !kernel)
    return nullptr;
  if (auto strided = dyn_cast<StridedOp>(op)) {
    AffineMap map = strided.getOffset();
    if (map.getNumResults() != 1 || map.getNumSymbols() != 0 ||
        map.getNumDims() != 1)
      return nullptr;
  }
  TableOp documentTable;
  if (auto doc = dyn_cast<DocumentOp>(op)) {
    documentTable =
        SymbolTable::lookupNearestSymbolFrom<TableOp>(op, doc.getTableAttr());
    if (!documentTable)
      return nullptr;
  }
  PredicateBuilder p(outer, op->getLoc());
  Value condition =
      llvm::TypeSwitch<Operation *, Value>(op)
          .Case([&](CausalOp) { return causal(p); })
          .Case([&](WindowOp w) { return window(p, w); })
          .Case([&](SinkOp s) {
            return p.cmp(CmpIPredicate::slt, p.k(),
                         static_cast<int64_t>(s.getCount()));
          })
          .Case([&](StridedOp s) { return strided(p, s); })
          .Case([&](StridedBlocksOp s) {
            return stridedBlocks(p, s, kernel.getHeads(), kernel.getKvHeads());
          })
          .Case([&](DilatedOp d) { return dilated(p, d); })
          .Case([&](PowerOp pw) { return power(p, pw); })
          .Case([&](PrefixOp pr) { return prefix(p, pr); })
          .Case([&](DocumentOp d) { return document(p, d, documentTable); })
          .Case([&](BlockTableOp t) { return blockTable(p, t); });
  return p.finish(condition);
}

/// Rewrites one named pattern into its predicate; one instance per op.
template <typename PatternOp>
struct ExpandNamedPattern : public OpRewritePattern<PatternOp> {
  using OpRewritePattern<PatternOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(PatternOp op,
                                PatternRewriter &rewriter) const override {
    Value predicate = expand(rewriter, op);
    if (!predicate)
      return rewriter.notifyMatchFailure(op, "left as it is");
    rewriter.replaceOp(op, predicate);
    return success();
  }
};

struct ExpandMasksPass
    : public sattn::mask::impl::ExpandMasksBase<ExpandMasksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateExpandMaskPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void sattn::mask::populateExpandMaskPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandNamedPattern<CausalOp>, ExpandNamedPattern<WindowOp>,
               ExpandNamedPattern<SinkOp>, ExpandNamedPattern<StridedOp>,
               ExpandNamedPattern<StridedBlocksOp>,
               ExpandNamedPattern<DilatedOp>, ExpandNamedPattern<PowerOp>,
               ExpandNamedPattern<PrefixOp>, ExpandNamedPattern<DocumentOp>,
               ExpandNamedPattern<BlockTableOp>>(patterns.getContext());
}
