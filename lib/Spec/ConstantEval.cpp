//===- ConstantEval.cpp - compile-time evaluation of Int exprs ------------===//
//
// Implements the compile-time integer evaluator with checked arithmetic.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/ConstantEval.h"
#include "sattn/Spec/PatternTable.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Casting.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <limits>

using namespace sattn::spec;
using llvm::cast;

std::optional<int64_t> sattn::spec::floorDivide(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (a == std::numeric_limits<int64_t>::min() && b == -1)
    return std::nullopt;
  int64_t quotient = a / b;
  // C++ truncates toward zero; step down when the exact quotient is negative
  // and not an integer.
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --quotient;
  return quotient;
}

int64_t sattn::spec::floorModulo(int64_t a, int64_t b) {
  // x % -1 is always 0, and computing INT64_MIN % -1 in C++ would trap.
  if (b == 0 || b == -1)
    return 0;
  int64_t remainder = a % b;
  if (remainder != 0 && ((remainder < 0) != (b < 0)))
    remainder += b;
  return remainder;
}

namespace {
class Evaluator {
public:
  Evaluator(std::optional<int64_t> head, EvalError &error)
      : head(head), error(error) {}

  std::optional<int64_t> eval(const Expr &expr) {
    switch (expr.getKind()) {
    case Expr::Kind::IntLiteral:
      return cast<IntLiteralExpr>(expr).getValue();
    case Expr::Kind::Var: {
      IndexVar var = cast<VarExpr>(expr).getVar();
      if (var == IndexVar::H && head)
        return *head;
      return nonConstant(
          expr, (llvm::Twine("it uses '") + getVarName(var) + "'").str());
    }
    case Expr::Kind::Index:
      return nonConstant(expr, (llvm::Twine("it reads table '") +
                                cast<IndexExpr>(expr).getTableName() + "'")
                                   .str());
    case Expr::Kind::Unary: {
      auto &unary = cast<UnaryExpr>(expr);
      std::optional<int64_t> operand = eval(unary.getOperand());
      if (!operand)
        return std::nullopt;
      return checked(expr, llvm::checkedSub<int64_t>(0, *operand));
    }
    case Expr::Kind::Binary:
      return evalBinary(cast<BinaryExpr>(expr));
    case Expr::Kind::Call:
      return evalCall(cast<CallExpr>(expr));
    default:
      return nonConstant(expr, "it is not an integer expression");
    }
  }

private:
  std::optional<int64_t> nonConstant(const Expr &expr, std::string reason) {
    error.loc = expr.getLoc();
    error.reason = std::move(reason);
    error.isNonConstant = true;
    return std::nullopt;
  }

  std::optional<int64_t> checked(const Expr &expr,
                                 std::optional<int64_t> value) {
    if (!value) {
      error.loc = expr.getLoc();
      error.reason = "it overflows 64-bit integers";
      error.isNonConstant = false;
    }
    return value;
  }

  std::optional<int64_t> evalBinary(const BinaryExpr &binary) {
    std::optional<int64_t> lhs = eval(binary.getLhs());
    if (!lhs)
      return std::nullopt;
    std::optional<int64_t> rhs = eval(binary.getRhs());
    if (!rhs)
      return std::nullopt;
    switch (binary.getOp()) {
    case BinaryExpr::Op::Add:
      return checked(binary, llvm::checkedAdd(*lhs, *rhs));
    case BinaryExpr::Op::Sub:
      return checked(binary, llvm::checkedSub(*lhs, *rhs));
    case BinaryExpr::Op::Mul:
      return checked(binary, llvm::checkedMul(*lhs, *rhs));
    case BinaryExpr::Op::Div:
      return checked(binary, floorDivide(*lhs, *rhs));
    case BinaryExpr::Op::Mod:
      return floorModulo(*lhs, *rhs);
    default:
      return nonConstant(binary, "it is not an integer expression");
    }
  }

  std::optional<int64_t> evalCall(const CallExpr &call) {
    if (call.builtin == Builtin::None)
      return nonConstant(call, "it is not an integer expression");
    llvm::SmallVector<int64_t, 3> values;
    for (const Argument &arg : call.getArgs()) {
      std::optional<int64_t> value = eval(*arg.value);
      if (!value)
        return std::nullopt;
      values.push_back(*value);
    }
    switch (call.builtin) {
    case Builtin::Abs:
      if (values.size() != 1)
        break;
      if (values[0] >= 0)
        return values[0];
      return checked(call, llvm::checkedSub<int64_t>(0, values[0]));
    case Builtin::Min:
      if (values.size() != 2)
        break;
      return std::min(values[0], values[1]);
    case Builtin::Max:
      if (values.size() != 2)
        break;
      return std::max(values[0], values[1]);
    case Builtin::Clamp:
      // clamp(x, lo, hi) = min(max(x, lo), hi), exactly as emitted.
      if (values.size() != 3)
        break;
      return std::min(std::max(values[0], values[1]), values[2]);
    case Builtin::None:
      break;
    }
    return nonConstant(call, "it is not an integer expression");
  }

  std::optional<int64_t> head;
  EvalError &error;
};
} // namespace

std::optional<int64_t> sattn::spec::evaluateInt(const Expr &expr,
                                                std::optional<int64_t> head,
                                                EvalError &error) {
  return Evaluator(head, error).eval(expr);
}
