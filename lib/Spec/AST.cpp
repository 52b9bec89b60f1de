//===- AST.cpp - spec syntax tree helpers and printer ---------------------===//
//
// Node constructors (which compute tree depth), name tables for enums, and
// the expression printer used by the summary: spec syntax with minimal
// parentheses, and patterns with their parameters resolved so that the
// summary shows the defaults a spec relied on.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/AST.h"
#include "sattn/Spec/PatternTable.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Casting.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace sattn::spec;
using llvm::cast;
using llvm::dyn_cast;

llvm::StringRef sattn::spec::getTypeName(ValueType type) {
  switch (type) {
  case ValueType::Unknown:
    return "unknown";
  case ValueType::Int:
    return "int";
  case ValueType::Bool:
    return "bool";
  case ValueType::Mask:
    return "mask";
  case ValueType::Float:
    return "float";
  }
  return "unknown";
}

llvm::StringRef sattn::spec::getVarName(IndexVar var) {
  switch (var) {
  case IndexVar::B:
    return "b";
  case IndexVar::H:
    return "h";
  case IndexVar::Q:
    return "q";
  case IndexVar::K:
    return "k";
  }
  return "?";
}

llvm::StringRef sattn::spec::getOpSpelling(BinaryExpr::Op op) {
  switch (op) {
  case BinaryExpr::Op::Add:
    return "+";
  case BinaryExpr::Op::Sub:
    return "-";
  case BinaryExpr::Op::Mul:
    return "*";
  case BinaryExpr::Op::Div:
    return "/";
  case BinaryExpr::Op::Mod:
    return "%";
  case BinaryExpr::Op::Eq:
    return "==";
  case BinaryExpr::Op::Ne:
    return "!=";
  case BinaryExpr::Op::Lt:
    return "<";
  case BinaryExpr::Op::Le:
    return "<=";
  case BinaryExpr::Op::Gt:
    return ">";
  case BinaryExpr::Op::Ge:
    return ">=";
  }
  return "?";
}

llvm::StringRef sattn::spec::getElementTypeName(ElementType type) {
  switch (type) {
  case ElementType::Bool:
    return "bool";
  case ElementType::I32:
    return "i32";
  case ElementType::I64:
    return "i64";
  }
  return "?";
}

llvm::StringRef sattn::spec::getDTypeName(DType dtype) {
  return dtype == DType::BF16 ? "bf16" : "fp16";
}

//===----------------------------------------------------------------------===//
// Nodes
//===----------------------------------------------------------------------===//

template <typename Range> static unsigned maxDepth(const Range &exprs) {
  unsigned depth = 0;
  for (const ExprPtr &e : exprs)
    depth = std::max(depth, e->getDepth());
  return depth;
}

BinaryExpr::BinaryExpr(Op op, llvm::SMLoc opLoc, ExprPtr lhs, ExprPtr rhs)
    : Expr(Kind::Binary, lhs->getLoc(),
           std::max(lhs->getDepth(), rhs->getDepth()) + 1),
      op(op), opLoc(opLoc), lhs(std::move(lhs)), rhs(std::move(rhs)) {}

LogicalExpr::LogicalExpr(Op op, llvm::SMLoc opLoc,
                         std::vector<ExprPtr> operands)
    : Expr(Kind::Logical, operands.front()->getLoc(), maxDepth(operands) + 1),
      op(op), opLoc(opLoc), operands(std::move(operands)) {}

static unsigned maxArgDepth(const std::vector<Argument> &args) {
  unsigned depth = 0;
  for (const Argument &arg : args)
    depth = std::max(depth, arg.value->getDepth());
  return depth;
}

CallExpr::CallExpr(llvm::SMLoc loc, llvm::StringRef callee, bool hasParens,
                   std::vector<Argument> args)
    : Expr(Kind::Call, loc, maxArgDepth(args) + 1), callee(callee),
      parens(hasParens), args(std::move(args)) {}

IndexExpr::IndexExpr(llvm::SMLoc loc, llvm::StringRef table,
                     std::vector<ExprPtr> indices)
    : Expr(Kind::Index, loc, maxDepth(indices) + 1), tableName(table),
      indices(std::move(indices)) {}

const TableDecl *KernelDecl::lookupTable(llvm::StringRef tableName) const {
  for (const auto &table : tables)
    if (table->name == tableName)
      return table.get();
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Printer
//===----------------------------------------------------------------------===//

namespace {
/// Binding strength, weakest first; mirrors the parser's precedence levels.
enum Precedence {
  PrecOr = 1,
  PrecAnd,
  PrecNot,
  PrecCompare,
  PrecAdd,
  PrecMul,
  PrecNeg,
  PrecPrimary
};

class ExprPrinter {
public:
  explicit ExprPrinter(llvm::raw_ostream &os) : os(os) {}

  void print(const Expr &expr, int minPrec) {
    int prec = getPrecedence(expr);
    bool parens = prec < minPrec;
    if (parens)
      os << '(';
    printUnparenthesized(expr);
    if (parens)
      os << ')';
  }

private:
  static int getPrecedence(const Expr &expr) {
    if (auto *unary = dyn_cast<UnaryExpr>(&expr))
      return unary->getOp() == UnaryExpr::Op::Not ? PrecNot : PrecNeg;
    if (auto *binary = dyn_cast<BinaryExpr>(&expr)) {
      switch (binary->getOp()) {
      case BinaryExpr::Op::Add:
      case BinaryExpr::Op::Sub:
        return PrecAdd;
      case BinaryExpr::Op::Mul:
      case BinaryExpr::Op::Div:
      case BinaryExpr::Op::Mod:
        return PrecMul;
      default:
        return PrecCompare;
      }
    }
    if (auto *logical = dyn_cast<LogicalExpr>(&expr))
      return logical->getOp() == LogicalExpr::Op::Or ? PrecOr : PrecAnd;
    // A negative literal prints with its sign and must bind like a negation.
    if (auto *lit = dyn_cast<IntLiteralExpr>(&expr))
      return lit->getValue() < 0 ? PrecNeg : PrecPrimary;
    return PrecPrimary;
  }

  void printUnparenthesized(const Expr &expr) {
    switch (expr.getKind()) {
    case Expr::Kind::IntLiteral:
      os << cast<IntLiteralExpr>(expr).getValue();
      return;
    case Expr::Kind::FloatLiteral:
      os << cast<FloatLiteralExpr>(expr).getSpelling();
      return;
    case Expr::Kind::BoolLiteral:
      os << (cast<BoolLiteralExpr>(expr).getValue() ? "true" : "false");
      return;
    case Expr::Kind::Var:
      os << getVarName(cast<VarExpr>(expr).getVar());
      return;
    case Expr::Kind::Unary: {
      auto &unary = cast<UnaryExpr>(expr);
      bool isNot = unary.getOp() == UnaryExpr::Op::Not;
      os << (isNot ? "!" : "-");
      // `!q < k` parses as `!(q < k)`, but reads as `(!q) < k`; keep the
      // parentheses unless the operand is a primary or another `!`.
      const Expr &operand = unary.getOperand();
      bool nestedNot = isNot && getPrecedence(operand) == PrecNot;
      print(operand, nestedNot ? PrecNot : PrecNeg);
      return;
    }
    case Expr::Kind::Binary: {
      auto &binary = cast<BinaryExpr>(expr);
      int prec = getPrecedence(expr);
      // Left-associative: the right operand needs one level more. The
      // comparisons are non-associative, so both sides need one more.
      print(binary.getLhs(), prec == PrecCompare ? prec + 1 : prec);
      os << ' ' << getOpSpelling(binary.getOp()) << ' ';
      print(binary.getRhs(), prec + 1);
      return;
    }
    case Expr::Kind::Logical: {
      auto &logical = cast<LogicalExpr>(expr);
      bool isOr = logical.getOp() == LogicalExpr::Op::Or;
      llvm::interleave(
          logical.getOperands(), os,
          [&](const ExprPtr &operand) {
            print(*operand, isOr ? PrecAnd : PrecNot);
          },
          isOr ? " | " : " & ");
      return;
    }
    case Expr::Kind::Call:
      printCall(cast<CallExpr>(expr));
      return;
    case Expr::Kind::Index: {
      auto &index = cast<IndexExpr>(expr);
      os << index.getTableName() << '[';
      llvm::interleaveComma(index.getIndices(), os,
                            [&](const ExprPtr &e) { print(*e, 0); });
      os << ']';
      return;
    }
    }
  }

  void printCall(const CallExpr &call) {
    if (!call.pattern)
      return printCallAsWritten(call);
    const PatternInfo &info = *call.pattern;
    os << info.name;
    if (info.isPerHead) {
      os << '(';
      if (call.selector)
        print(*call.selector, 0);
      for (const Expr *mask : call.maskOperands) {
        os << ", ";
        print(*mask, 0);
      }
      os << ')';
      return;
    }
    std::vector<std::string> parts;
    for (auto [param, value] : llvm::zip(info.params, call.params)) {
      if (!value.present)
        continue;
      // A false flag is the plain form of the pattern; leave it out.
      if (param.kind == ParamKind::Bool && !value.boolValue)
        continue;
      std::string text;
      llvm::raw_string_ostream textOS(text);
      if (param.defaultKind != ParamInfo::Default::Required)
        textOS << param.name << " = ";
      switch (param.kind) {
      case ParamKind::Int:
        // INT64_MIN has no literal spelling: 9223372036854775808 overflows.
        if (value.intValue == std::numeric_limits<int64_t>::min())
          textOS << "(-9223372036854775807 - 1)";
        else
          textOS << value.intValue;
        break;
      case ParamKind::Float:
        textOS << formatSpecFloat(value.floatValue);
        break;
      case ParamKind::Bool:
        textOS << (value.boolValue ? "true" : "false");
        break;
      case ParamKind::Table:
        textOS << value.tableName;
        break;
      case ParamKind::HeadOffset:
        if (value.expr)
          ExprPrinter(textOS).print(*value.expr, 0);
        else
          textOS << "h";
        break;
      }
      parts.push_back(std::move(text));
    }
    if (parts.empty())
      return;
    os << '(';
    llvm::interleaveComma(parts, os);
    os << ')';
  }

  void printCallAsWritten(const CallExpr &call) {
    os << call.getCallee();
    if (!call.hasParens())
      return;
    os << '(';
    llvm::interleaveComma(call.getArgs(), os, [&](const Argument &arg) {
      if (!arg.name.empty())
        os << arg.name << " = ";
      print(*arg.value, 0);
    });
    os << ')';
  }

  llvm::raw_ostream &os;
};
} // namespace

std::string sattn::spec::formatSpecFloat(double value) {
  std::string text;
  for (int precision = 1; precision <= 17; ++precision) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    text = buffer;
    if (std::strtod(text.c_str(), nullptr) == value)
      break;
  }
  // Keep it a float literal for the lexer ("12" would lex as an integer).
  if (text.find_first_of(".eEn") == std::string::npos)
    text += ".0";
  return text;
}

void sattn::spec::printExpr(const Expr &expr, llvm::raw_ostream &os) {
  ExprPrinter(os).print(expr, 0);
}
