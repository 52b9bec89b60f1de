//===- Emitter.cpp - lowering of checked specs to MLIR --------------------===//
//
// Walks the annotated AST and builds sattn/mask IR. Masks become pattern ops
// and set combinators; every maximal Bool operand group becomes one
// `mask.predicate` whose body computes the expression with arith/math ops on
// index values: `/` is arith.floordivsi and `%` a floor modulo built from
// arith.remsi (result takes the divisor's sign), so predicates agree with
// Python and with the compile-time evaluator. Division or modulo by zero
// gives 0, per the mask semantics contract (docs/MASK_SEMANTICS.md).
//
// The emitter trusts Sema: what it cannot handle is reported as an internal
// error rather than asserted, so a checker bug shows up as a diagnostic.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/Emitter.h"
#include "sattn/Spec/ConstantEval.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/PatternTable.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"

#include "llvm/Support/Casting.h"

#include <array>

using namespace mlir;
using namespace sattn::spec;
using llvm::cast;
using llvm::dyn_cast;

namespace {

class Emitter {
public:
  Emitter(MLIRContext &context, SpecDiagnostics &diag)
      : context(context), builder(&context), diag(diag),
        filename(StringAttr::get(&context, diag.getFilename())) {}

  OwningOpRef<ModuleOp> emitFile(const SpecFile &file,
                                 llvm::StringRef onlyKernel);

private:
  Location getLoc(llvm::SMLoc loc) {
    auto [line, column] = diag.getLineAndColumn(loc);
    return FileLineColLoc::get(filename, line, column);
  }
  /// Pattern ops carry the pattern's name so that verifier messages can be
  /// attributed to what the user wrote.
  Location getPatternLoc(const CallExpr &call) {
    return NameLoc::get(StringAttr::get(&context, call.getCallee()),
                        getLoc(call.getLoc()));
  }
  LogicalResult internalError(llvm::SMLoc loc, const llvm::Twine &message) {
    diag.error(loc, "internal error: " + message);
    return failure();
  }

  LogicalResult emitKernel(const KernelDecl &kernel);
  FailureOr<Value> emitMask(const Expr &expr);
  FailureOr<Value> emitLogicalMask(const LogicalExpr &logical);
  FailureOr<Value> emitPattern(const CallExpr &call);
  FailureOr<Value> emitPredicate(llvm::ArrayRef<const Expr *> conditions,
                                 LogicalExpr::Op combine, Location loc);
  FailureOr<Value> emitScalar(const Expr &expr);
  FailureOr<Value> emitBinary(const BinaryExpr &binary);
  FailureOr<Value> emitBuiltin(const CallExpr &call);
  Value emitFloorMod(Value lhs, Value rhs, Location loc);
  FailureOr<AffineExpr> buildHeadAffine(const Expr &expr);

  MLIRContext &context;
  OpBuilder builder;
  SpecDiagnostics &diag;
  StringAttr filename;
  const KernelDecl *kernel = nullptr;
  /// The (b, h, q, k) arguments of the predicate being emitted, if any.
  std::optional<std::array<Value, 4>> indexArgs;
};

} // namespace

OwningOpRef<ModuleOp> Emitter::emitFile(const SpecFile &file,
                                        llvm::StringRef onlyKernel) {
  context.loadDialect<sattn::SparseAttnDialect, sattn::mask::MaskDialect,
                      arith::ArithDialect, math::MathDialect>();
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(getLoc(diag.getBufferStart()));
  builder.setInsertionPointToEnd(module->getBody());
  for (const auto &decl : file.kernels) {
    if (!onlyKernel.empty() && decl->name != onlyKernel)
      continue;
    if (failed(emitKernel(*decl)))
      return nullptr;
  }
  return module;
}

LogicalResult Emitter::emitKernel(const KernelDecl &decl) {
  kernel = &decl;
  const KernelConfig &config = decl.config;
  Type dtype = config.dtype == DType::BF16 ? Type(builder.getBF16Type())
                                           : Type(builder.getF16Type());
  auto op = sattn::KernelOp::create(
      builder, getLoc(decl.loc), decl.name, dtype, config.headDim, config.heads,
      config.kvHeads, llvm::APFloat(config.scale), config.returnLse, config.blockMax);
  Block &body = op.getBody().emplaceBlock();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&body);

  for (const auto &table : decl.tables) {
    Type element;
    switch (table->elementType) {
    case ElementType::Bool:
      element = builder.getI1Type();
      break;
    case ElementType::I32:
      element = builder.getI32Type();
      break;
    case ElementType::I64:
      element = builder.getI64Type();
      break;
    }
    llvm::SmallVector<llvm::StringRef> dims;
    for (const TableDim &dim : table->dims)
      dims.push_back(dim.text);
    sattn::mask::TableOp::create(builder, getLoc(table->loc), table->name,
                                 element, builder.getStrArrayAttr(dims));
  }

  if (!decl.mask)
    return internalError(decl.loc, "kernel without a mask reached the emitter");
  FailureOr<Value> mask = emitMask(*decl.mask);
  if (failed(mask))
    return failure();
  sattn::YieldOp::create(builder, getLoc(decl.maskKeyLoc), *mask);
  return success();
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

FailureOr<Value> Emitter::emitMask(const Expr &expr) {
  if (expr.getType() == ValueType::Bool)
    return emitPredicate({&expr}, LogicalExpr::Op::And, getLoc(expr.getLoc()));
  if (expr.getType() != ValueType::Mask)
    return internalError(expr.getLoc(), "expected a mask expression, got " +
                                            getTypeName(expr.getType()));

  if (auto *call = dyn_cast<CallExpr>(&expr))
    return emitPattern(*call);
  if (auto *logical = dyn_cast<LogicalExpr>(&expr))
    return emitLogicalMask(*logical);
  if (auto *unary = dyn_cast<UnaryExpr>(&expr);
      unary && unary->getOp() == UnaryExpr::Op::Not) {
    FailureOr<Value> operand = emitMask(unary->getOperand());
    if (failed(operand))
      return failure();
    return sattn::mask::ComplementOp::create(builder, getLoc(unary->getLoc()),
                                             *operand)
        .getResult();
  }
  return internalError(expr.getLoc(), "unexpected mask expression");
}

FailureOr<Value> Emitter::emitLogicalMask(const LogicalExpr &logical) {
  // All Bool operands of one chain go into a single predicate, emitted where
  // the first of them appears; the chain's operator combines them inside it.
  llvm::SmallVector<const Expr *> conditions;
  for (const ExprPtr &operand : logical.getOperands())
    if (operand->getType() == ValueType::Bool)
      conditions.push_back(operand.get());

  llvm::SmallVector<Value> operands;
  bool predicateEmitted = false;
  for (const ExprPtr &operand : logical.getOperands()) {
    FailureOr<Value> value;
    if (operand->getType() != ValueType::Bool) {
      value = emitMask(*operand);
    } else if (!predicateEmitted) {
      predicateEmitted = true;
      value =
          emitPredicate(conditions, logical.getOp(), getLoc(operand->getLoc()));
    } else {
      continue;
    }
    if (failed(value))
      return failure();
    operands.push_back(*value);
  }
  Location loc = getLoc(logical.getOpLoc());
  if (logical.getOp() == LogicalExpr::Op::And)
    return sattn::mask::IntersectOp::create(builder, loc, operands).getResult();
  return sattn::mask::UnionOp::create(builder, loc, operands).getResult();
}

FailureOr<Value> Emitter::emitPattern(const CallExpr &call) {
  if (!call.pattern)
    return internalError(call.getLoc(),
                         "unresolved pattern '" + call.getCallee() + "'");
  const PatternInfo &info = *call.pattern;
  if (!info.isPerHead && call.params.size() != info.params.size())
    return internalError(call.getLoc(),
                         "unbound parameters of '" + info.name + "'");
  Location loc = getPatternLoc(call);
  auto intParam = [&](size_t i) {
    return builder.getI64IntegerAttr(call.params[i].intValue);
  };
  auto floatParam = [&](size_t i) -> FloatAttr {
    if (!call.params[i].present)
      return {};
    return builder.getF64FloatAttr(call.params[i].floatValue);
  };
  auto symbol = [&](size_t i) {
    return FlatSymbolRefAttr::get(&context, call.params[i].tableName);
  };
  namespace mask = sattn::mask;

  switch (info.kind) {
  case PatternKind::Causal:
    return mask::CausalOp::create(builder, loc).getResult();
  case PatternKind::Full:
    return mask::FullOp::create(builder, loc).getResult();
  case PatternKind::Empty:
    return mask::EmptyOp::create(builder, loc).getResult();
  case PatternKind::Window:
    return mask::WindowOp::create(
               builder, loc, intParam(0),
               call.params[1].boolValue ? builder.getUnitAttr() : UnitAttr())
        .getResult();
  case PatternKind::Sink:
    return mask::SinkOp::create(builder, loc, intParam(0)).getResult();
  case PatternKind::Prefix:
    return mask::PrefixOp::create(builder, loc, intParam(0)).getResult();
  case PatternKind::TailQueries:
    return mask::TailQueriesOp::create(builder, loc, intParam(0)).getResult();
  case PatternKind::AShape:
  case PatternKind::TriShape: {
    // A-shape: causal & (sink | window(local)); tri-shape adds the dense
    // last rows: a_shape | (causal & tail_queries(last)).
    Value causal = mask::CausalOp::create(builder, loc);
    Value sink = mask::SinkOp::create(builder, loc, intParam(0));
    Value window =
        mask::WindowOp::create(builder, loc, intParam(1), UnitAttr());
    Value band = mask::UnionOp::create(builder, loc, ValueRange{sink, window});
    Value aShape =
        mask::IntersectOp::create(builder, loc, ValueRange{causal, band});
    if (info.kind == PatternKind::AShape)
      return aShape;
    Value tail = mask::TailQueriesOp::create(builder, loc, intParam(2));
    Value lastRows =
        mask::IntersectOp::create(builder, loc, ValueRange{causal, tail});
    return mask::UnionOp::create(builder, loc, ValueRange{aShape, lastRows})
        .getResult();
  }
  case PatternKind::Strided: {
    AffineExpr offset = getAffineDimExpr(0, &context);
    if (const Expr *expr = call.params[1].expr) {
      FailureOr<AffineExpr> built = buildHeadAffine(*expr);
      if (failed(built))
        return failure();
      offset = *built;
    }
    auto map = AffineMap::get(/*dimCount=*/1, /*symbolCount=*/0, offset);
    return mask::StridedOp::create(builder, loc, intParam(0),
                                   AffineMapAttr::get(map))
        .getResult();
  }
  case PatternKind::StridedBlocks: {
    // Under GQA the heads of one KV group share the pattern (DKernel), so
    // that one KV load serves the whole group.
    bool perGroup = kernel->config.kvHeads != kernel->config.heads;
    return mask::StridedBlocksOp::create(
               builder, loc, intParam(0), intParam(1), intParam(2), intParam(3),
               intParam(4), perGroup ? builder.getUnitAttr() : UnitAttr())
        .getResult();
  }
  case PatternKind::Dilated:
    return mask::DilatedOp::create(builder, loc, intParam(0), intParam(1))
        .getResult();
  case PatternKind::Power:
    return mask::PowerOp::create(builder, loc, intParam(0), intParam(1),
                                 intParam(2))
        .getResult();
  case PatternKind::Document:
    return mask::DocumentOp::create(builder, loc, symbol(0)).getResult();
  case PatternKind::BlockTable:
    return mask::BlockTableOp::create(builder, loc, symbol(0), intParam(1))
        .getResult();
  case PatternKind::PerHead: {
    llvm::SmallVector<Value> masks;
    for (const Expr *operand : call.maskOperands) {
      FailureOr<Value> value = emitMask(*operand);
      if (failed(value))
        return failure();
      masks.push_back(*value);
    }
    return mask::PerHeadOp::create(
               builder, loc, masks,
               builder.getDenseI64ArrayAttr(call.assignment))
        .getResult();
  }
  case PatternKind::VerticalSlash:
    return mask::VerticalSlashOp::create(builder, loc, intParam(0), intParam(1),
                                         intParam(2), intParam(3), intParam(4),
                                         intParam(5))
        .getResult();
  case PatternKind::BlockTopK:
    return mask::BlockTopKOp::create(
               builder, loc,
               mask::BlockScorerAttr::get(&context,
                                          mask::BlockScorer::mean_pool),
               intParam(1), /*top_k=*/intParam(0), /*tau=*/FloatAttr(),
               /*stride=*/IntegerAttr())
        .getResult();
  case PatternKind::XAttention:
    return mask::BlockTopKOp::create(
               builder, loc,
               mask::BlockScorerAttr::get(&context,
                                          mask::BlockScorer::antidiagonal),
               intParam(2), /*top_k=*/IntegerAttr(), /*tau=*/floatParam(1),
               /*stride=*/intParam(0))
        .getResult();
  case PatternKind::Gate:
    return mask::GateOp::create(builder, loc, intParam(2), intParam(3),
                                floatParam(0), floatParam(1))
        .getResult();
  case PatternKind::Stripe:
    return mask::StripeOp::create(builder, loc, intParam(0), intParam(1),
                                  intParam(2), floatParam(3))
        .getResult();
  case PatternKind::Nsa:
    return mask::NsaOp::create(builder, loc, intParam(0), intParam(1),
                               intParam(2), intParam(3), intParam(4),
                               intParam(5))
        .getResult();
  }
  return internalError(call.getLoc(),
                       "no lowering for pattern '" + info.name + "'");
}

FailureOr<AffineExpr> Emitter::buildHeadAffine(const Expr &expr) {
  EvalError error;
  if (std::optional<int64_t> constant = evaluateInt(expr, std::nullopt, error))
    return getAffineConstantExpr(*constant, &context);
  if (auto *var = dyn_cast<VarExpr>(&expr); var && var->getVar() == IndexVar::H)
    return getAffineDimExpr(0, &context);
  if (auto *unary = dyn_cast<UnaryExpr>(&expr);
      unary && unary->getOp() == UnaryExpr::Op::Neg) {
    FailureOr<AffineExpr> operand = buildHeadAffine(unary->getOperand());
    if (failed(operand))
      return failure();
    return -*operand;
  }
  if (auto *binary = dyn_cast<BinaryExpr>(&expr)) {
    FailureOr<AffineExpr> lhs = buildHeadAffine(binary->getLhs());
    FailureOr<AffineExpr> rhs = buildHeadAffine(binary->getRhs());
    if (failed(lhs) || failed(rhs))
      return failure();
    auto divisor = dyn_cast<AffineConstantExpr>(*rhs);
    switch (binary->getOp()) {
    case BinaryExpr::Op::Add:
      return *lhs + *rhs;
    case BinaryExpr::Op::Sub:
      return *lhs - *rhs;
    case BinaryExpr::Op::Mul:
      if (!isa<AffineConstantExpr>(*lhs) && !isa<AffineConstantExpr>(*rhs))
        break;
      return *lhs * *rhs;
    case BinaryExpr::Op::Div:
      if (!divisor || divisor.getValue() <= 0)
        break;
      return lhs->floorDiv(divisor.getValue());
    case BinaryExpr::Op::Mod:
      if (!divisor || divisor.getValue() <= 0)
        break;
      return *lhs % divisor.getValue();
    default:
      break;
    }
  }
  (void)internalError(expr.getLoc(), "offset is not an affine function of h");
  return failure();
}

//===----------------------------------------------------------------------===//
// Predicates
//===----------------------------------------------------------------------===//

FailureOr<Value> Emitter::emitPredicate(llvm::ArrayRef<const Expr *> conditions,
                                        LogicalExpr::Op combine, Location loc) {
  auto predicate = sattn::mask::PredicateOp::create(builder, loc);
  Block &body = predicate.getBody().front();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&body);
  indexArgs = {body.getArgument(0), body.getArgument(1), body.getArgument(2),
               body.getArgument(3)};
  Value result;
  for (const Expr *condition : conditions) {
    FailureOr<Value> value = emitScalar(*condition);
    if (failed(value)) {
      indexArgs.reset();
      return failure();
    }
    if (!result) {
      result = *value;
      continue;
    }
    Location opLoc = getLoc(condition->getLoc());
    if (combine == LogicalExpr::Op::And)
      result = arith::AndIOp::create(builder, opLoc, result, *value);
    else
      result = arith::OrIOp::create(builder, opLoc, result, *value);
  }
  indexArgs.reset();
  sattn::mask::YieldOp::create(builder, loc, result);
  return predicate.getResult();
}

FailureOr<Value> Emitter::emitScalar(const Expr &expr) {
  Location loc = getLoc(expr.getLoc());
  if (!indexArgs)
    return internalError(expr.getLoc(),
                         "scalar expression outside a predicate");
  switch (expr.getKind()) {
  case Expr::Kind::IntLiteral:
    return arith::ConstantIndexOp::create(builder, loc,
                                          cast<IntLiteralExpr>(expr).getValue())
        .getResult();
  case Expr::Kind::BoolLiteral:
    return arith::ConstantIntOp::create(
               builder, loc, cast<BoolLiteralExpr>(expr).getValue(), 1)
        .getResult();
  case Expr::Kind::Var:
    return (*indexArgs)[static_cast<size_t>(cast<VarExpr>(expr).getVar())];
  case Expr::Kind::Unary: {
    auto &unary = cast<UnaryExpr>(expr);
    FailureOr<Value> operand = emitScalar(unary.getOperand());
    if (failed(operand))
      return failure();
    if (unary.getOp() == UnaryExpr::Op::Neg) {
      Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
      return arith::SubIOp::create(builder, loc, zero, *operand).getResult();
    }
    Value trueValue = arith::ConstantIntOp::create(builder, loc, 1, 1);
    return arith::XOrIOp::create(builder, loc, *operand, trueValue).getResult();
  }
  case Expr::Kind::Binary:
    return emitBinary(cast<BinaryExpr>(expr));
  case Expr::Kind::Logical: {
    auto &logical = cast<LogicalExpr>(expr);
    Value result;
    for (const ExprPtr &operand : logical.getOperands()) {
      FailureOr<Value> value = emitScalar(*operand);
      if (failed(value))
        return failure();
      if (!result)
        result = *value;
      else if (logical.getOp() == LogicalExpr::Op::And)
        result = arith::AndIOp::create(builder, getLoc(logical.getOpLoc()),
                                       result, *value);
      else
        result = arith::OrIOp::create(builder, getLoc(logical.getOpLoc()),
                                      result, *value);
    }
    return result;
  }
  case Expr::Kind::Call:
    return emitBuiltin(cast<CallExpr>(expr));
  case Expr::Kind::Index: {
    auto &index = cast<IndexExpr>(expr);
    if (!index.table)
      return internalError(expr.getLoc(), "unresolved table lookup");
    llvm::SmallVector<Value> indices;
    for (const ExprPtr &indexExpr : index.getIndices()) {
      FailureOr<Value> value = emitScalar(*indexExpr);
      if (failed(value))
        return failure();
      indices.push_back(*value);
    }
    Type result = index.table->elementType == ElementType::Bool
                      ? Type(builder.getI1Type())
                      : Type(builder.getIndexType());
    return sattn::mask::LookupOp::create(
               builder, loc, result,
               FlatSymbolRefAttr::get(&context, index.getTableName()), indices)
        .getResult();
  }
  case Expr::Kind::FloatLiteral:
    break;
  }
  return internalError(expr.getLoc(), "unexpected " +
                                          getTypeName(expr.getType()) +
                                          " expression in a predicate");
}

Value Emitter::emitFloorMod(Value lhs, Value rhs, Location loc) {
  // r = lhs rem rhs truncates toward zero; floor modulo adds rhs when r is
  // non-zero and its sign differs from rhs's. rem by 0 is 0 by contract,
  // which this keeps.
  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  Value rem = arith::RemSIOp::create(builder, loc, lhs, rhs);
  Value remNonZero =
      arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ne, rem, zero);
  Value remNegative =
      arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::slt, rem, zero);
  Value rhsNegative =
      arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::slt, rhs, zero);
  Value signsDiffer =
      arith::XOrIOp::create(builder, loc, remNegative, rhsNegative);
  Value adjust = arith::AndIOp::create(builder, loc, remNonZero, signsDiffer);
  Value adjusted = arith::AddIOp::create(builder, loc, rem, rhs);
  return arith::SelectOp::create(builder, loc, adjust, adjusted, rem);
}

static arith::CmpIPredicate getCmpPredicate(BinaryExpr::Op op) {
  switch (op) {
  case BinaryExpr::Op::Eq:
    return arith::CmpIPredicate::eq;
  case BinaryExpr::Op::Ne:
    return arith::CmpIPredicate::ne;
  case BinaryExpr::Op::Lt:
    return arith::CmpIPredicate::slt;
  case BinaryExpr::Op::Le:
    return arith::CmpIPredicate::sle;
  case BinaryExpr::Op::Gt:
    return arith::CmpIPredicate::sgt;
  default:
    return arith::CmpIPredicate::sge;
  }
}

FailureOr<Value> Emitter::emitBinary(const BinaryExpr &binary) {
  FailureOr<Value> lhs = emitScalar(binary.getLhs());
  if (failed(lhs))
    return failure();
  FailureOr<Value> rhs = emitScalar(binary.getRhs());
  if (failed(rhs))
    return failure();
  Location loc = getLoc(binary.getOpLoc());
  switch (binary.getOp()) {
  case BinaryExpr::Op::Add:
    return arith::AddIOp::create(builder, loc, *lhs, *rhs).getResult();
  case BinaryExpr::Op::Sub:
    return arith::SubIOp::create(builder, loc, *lhs, *rhs).getResult();
  case BinaryExpr::Op::Mul:
    return arith::MulIOp::create(builder, loc, *lhs, *rhs).getResult();
  case BinaryExpr::Op::Div:
    return arith::FloorDivSIOp::create(builder, loc, *lhs, *rhs).getResult();
  case BinaryExpr::Op::Mod: {
    // The common `x % 64`: with a positive divisor only a negative remainder
    // needs fixing up.
    auto *literal = dyn_cast<IntLiteralExpr>(&binary.getRhs());
    if (!literal || literal->getValue() <= 0)
      return emitFloorMod(*lhs, *rhs, loc);
    Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
    Value rem = arith::RemSIOp::create(builder, loc, *lhs, *rhs);
    Value negative = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::slt, rem, zero);
    Value adjusted = arith::AddIOp::create(builder, loc, rem, *rhs);
    return arith::SelectOp::create(builder, loc, negative, adjusted, rem)
        .getResult();
  }
  default:
    return arith::CmpIOp::create(builder, loc, getCmpPredicate(binary.getOp()),
                                 *lhs, *rhs)
        .getResult();
  }
}

FailureOr<Value> Emitter::emitBuiltin(const CallExpr &call) {
  if (call.builtin == Builtin::None)
    return internalError(call.getLoc(), "pattern '" + call.getCallee() +
                                            "' inside a predicate");
  llvm::SmallVector<Value, 3> args;
  for (const Argument &arg : call.getArgs()) {
    FailureOr<Value> value = emitScalar(*arg.value);
    if (failed(value))
      return failure();
    args.push_back(*value);
  }
  Location loc = getLoc(call.getLoc());
  switch (call.builtin) {
  case Builtin::Abs:
    if (args.size() == 1)
      return math::AbsIOp::create(builder, loc, args[0]).getResult();
    break;
  case Builtin::Min:
    if (args.size() == 2)
      return arith::MinSIOp::create(builder, loc, args[0], args[1]).getResult();
    break;
  case Builtin::Max:
    if (args.size() == 2)
      return arith::MaxSIOp::create(builder, loc, args[0], args[1]).getResult();
    break;
  case Builtin::Clamp:
    if (args.size() == 3) {
      Value atLeastLow = arith::MaxSIOp::create(builder, loc, args[0], args[1]);
      return arith::MinSIOp::create(builder, loc, atLeastLow, args[2])
          .getResult();
    }
    break;
  case Builtin::None:
    break;
  }
  return internalError(call.getLoc(),
                       "bad arity for '" + call.getCallee() + "'");
}

OwningOpRef<ModuleOp> sattn::spec::emitSpec(const SpecFile &file,
                                            MLIRContext &context,
                                            SpecDiagnostics &diag,
                                            llvm::StringRef onlyKernel) {
  return Emitter(context, diag).emitFile(file, onlyKernel);
}
