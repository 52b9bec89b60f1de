//===- ParseExpressions.cpp - expressions of the .sattn grammar ----------===//
//
// The expression productions of the grammar in Parser.cpp (or, and, not,
// comparisons, arithmetic, primaries, calls and their arguments), with the
// depth bound that keeps recursion and the built tree's height below
// kMaxExprDepth. A file of its own because it is the part of the parser
// that grows with the language.
//
//===----------------------------------------------------------------------===//

#include "ParserImpl.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

using namespace sattn::spec;
using sattn::spec::detail::Parser;

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

ExprPtr Parser::checkDepth(ExprPtr expr) {
  if (expr && expr->getDepth() > kMaxExprDepth) {
    reportTooDeep(expr->getLoc());
    return nullptr;
  }
  return expr;
}

ExprPtr Parser::parseExpr() {
  NestingScope scope(*this);
  if (scope.tooDeep()) {
    reportTooDeep(cur().getLoc());
    return nullptr;
  }
  ExprPtr first = parseAnd();
  if (!first || !cur().is(Token::pipe))
    return first;
  llvm::SMLoc opLoc = cur().getLoc();
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(first));
  while (consumeIf(Token::pipe)) {
    ExprPtr next = parseAnd();
    if (!next)
      return nullptr;
    operands.push_back(std::move(next));
  }
  return checkDepth(std::make_unique<LogicalExpr>(LogicalExpr::Op::Or, opLoc,
                                                  std::move(operands)));
}

ExprPtr Parser::parseAnd() {
  ExprPtr first = parseNot();
  if (!first || !cur().is(Token::amp))
    return first;
  llvm::SMLoc opLoc = cur().getLoc();
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(first));
  while (consumeIf(Token::amp)) {
    ExprPtr next = parseNot();
    if (!next)
      return nullptr;
    operands.push_back(std::move(next));
  }
  return checkDepth(std::make_unique<LogicalExpr>(LogicalExpr::Op::And, opLoc,
                                                  std::move(operands)));
}

ExprPtr Parser::parseNot() {
  if (!cur().is(Token::bang))
    return parseComparison();
  NestingScope scope(*this);
  llvm::SMLoc loc = lex.consume().getLoc();
  if (scope.tooDeep()) {
    reportTooDeep(loc);
    return nullptr;
  }
  ExprPtr operand = parseNot();
  if (!operand)
    return nullptr;
  return checkDepth(
      std::make_unique<UnaryExpr>(loc, UnaryExpr::Op::Not, std::move(operand)));
}

static std::optional<BinaryExpr::Op> getComparisonOp(Token::Kind kind) {
  switch (kind) {
  case Token::eq:
    return BinaryExpr::Op::Eq;
  case Token::ne:
    return BinaryExpr::Op::Ne;
  case Token::lt:
    return BinaryExpr::Op::Lt;
  case Token::le:
    return BinaryExpr::Op::Le;
  case Token::gt:
    return BinaryExpr::Op::Gt;
  case Token::ge:
    return BinaryExpr::Op::Ge;
  default:
    return std::nullopt;
  }
}

ExprPtr Parser::parseComparison() {
  ExprPtr lhs = parseAdditive();
  if (!lhs)
    return nullptr;
  std::optional<BinaryExpr::Op> op = getComparisonOp(cur().kind);
  if (!op)
    return lhs;
  llvm::SMLoc opLoc = lex.consume().getLoc();
  ExprPtr rhs = parseAdditive();
  if (!rhs)
    return nullptr;
  if (getComparisonOp(cur().kind)) {
    diag.error(cur().getLoc(), "comparison operators cannot be chained; add "
                               "parentheses or combine with '&'");
    return nullptr;
  }
  return checkDepth(
      std::make_unique<BinaryExpr>(*op, opLoc, std::move(lhs), std::move(rhs)));
}

ExprPtr Parser::parseAdditive() {
  ExprPtr lhs = parseMultiplicative();
  while (lhs && (cur().is(Token::plus) || cur().is(Token::minus))) {
    auto op = cur().is(Token::plus) ? BinaryExpr::Op::Add : BinaryExpr::Op::Sub;
    llvm::SMLoc opLoc = lex.consume().getLoc();
    ExprPtr rhs = parseMultiplicative();
    if (!rhs)
      return nullptr;
    lhs = checkDepth(std::make_unique<BinaryExpr>(op, opLoc, std::move(lhs),
                                                  std::move(rhs)));
  }
  return lhs;
}

ExprPtr Parser::parseMultiplicative() {
  ExprPtr lhs = parseUnary();
  while (lhs) {
    BinaryExpr::Op op;
    if (cur().is(Token::star))
      op = BinaryExpr::Op::Mul;
    else if (cur().is(Token::slash))
      op = BinaryExpr::Op::Div;
    else if (cur().is(Token::percent))
      op = BinaryExpr::Op::Mod;
    else
      break;
    llvm::SMLoc opLoc = lex.consume().getLoc();
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    lhs = checkDepth(std::make_unique<BinaryExpr>(op, opLoc, std::move(lhs),
                                                  std::move(rhs)));
  }
  return lhs;
}

ExprPtr Parser::parseUnary() {
  if (!cur().is(Token::minus))
    return parsePrimary();
  NestingScope scope(*this);
  llvm::SMLoc loc = lex.consume().getLoc();
  if (scope.tooDeep()) {
    reportTooDeep(loc);
    return nullptr;
  }
  ExprPtr operand = parseUnary();
  if (!operand)
    return nullptr;
  return checkDepth(
      std::make_unique<UnaryExpr>(loc, UnaryExpr::Op::Neg, std::move(operand)));
}

ExprPtr Parser::parsePrimary() {
  const Token &tok = cur();
  llvm::SMLoc loc = tok.getLoc();
  switch (tok.kind) {
  case Token::integer: {
    Token number = lex.consume();
    std::optional<int64_t> value = parseIntegerToken(number);
    if (!value)
      return nullptr;
    return std::make_unique<IntLiteralExpr>(loc, *value);
  }
  case Token::floating: {
    Token number = lex.consume();
    double value;
    if (number.spelling.getAsDouble(value) || !std::isfinite(value)) {
      diag.error(loc, "number '" + number.spelling + "' is out of range");
      return nullptr;
    }
    return std::make_unique<FloatLiteralExpr>(loc, value, number.spelling);
  }
  case Token::identifier:
    return parseIdentifierExpr();
  case Token::l_paren: {
    lex.consume();
    ExprPtr inner = parseExpr();
    if (!inner)
      return nullptr;
    if (!cur().is(Token::r_paren)) {
      reportUnexpected(cur(), "expected ')'");
      diag.note(loc, "to match this '('");
      return nullptr;
    }
    lex.consume();
    return inner;
  }
  default:
    reportUnexpected(tok, "expected an expression");
    return nullptr;
  }
}

ExprPtr Parser::parseIdentifierExpr() {
  Token name = lex.consume();
  llvm::SMLoc loc = name.getLoc();
  llvm::StringRef text = name.spelling;
  if (text == "true" || text == "false")
    return std::make_unique<BoolLiteralExpr>(loc, text == "true");
  std::optional<IndexVar> var =
      llvm::StringSwitch<std::optional<IndexVar>>(text)
          .Case("b", IndexVar::B)
          .Case("h", IndexVar::H)
          .Case("q", IndexVar::Q)
          .Case("k", IndexVar::K)
          .Default(std::nullopt);
  if (var)
    return std::make_unique<VarExpr>(loc, *var);

  if (cur().is(Token::l_square)) {
    llvm::SMLoc open = lex.consume().getLoc();
    std::vector<ExprPtr> indices;
    do {
      ExprPtr index = parseExpr();
      if (!index)
        return nullptr;
      indices.push_back(std::move(index));
    } while (consumeIf(Token::comma));
    if (!cur().is(Token::r_square)) {
      reportUnexpected(cur(), "expected ',' or ']' in the lookup of table '" +
                                  text + "'");
      diag.note(open, "to match this '['");
      return nullptr;
    }
    lex.consume();
    return checkDepth(
        std::make_unique<IndexExpr>(loc, text, std::move(indices)));
  }

  std::vector<Argument> args;
  bool hasParens = cur().is(Token::l_paren);
  if (hasParens && !parseCallArgs(args))
    return nullptr;
  return checkDepth(
      std::make_unique<CallExpr>(loc, text, hasParens, std::move(args)));
}

bool Parser::parseCallArgs(std::vector<Argument> &args) {
  llvm::SMLoc open = lex.consume().getLoc(); // '('
  if (consumeIf(Token::r_paren))
    return true;
  do {
    Argument arg;
    if (cur().is(Token::identifier) && lex.peek(1).is(Token::assign)) {
      Token name = lex.consume();
      lex.consume(); // '='
      arg.name = name.spelling;
      arg.nameLoc = name.getLoc();
    } else {
      arg.nameLoc = cur().getLoc();
    }
    arg.value = parseExpr();
    if (!arg.value)
      return false;
    args.push_back(std::move(arg));
  } while (consumeIf(Token::comma));
  if (!cur().is(Token::r_paren)) {
    reportUnexpected(cur(), "expected ',' or ')' in the argument list");
    diag.note(open, "to match this '('");
    return false;
  }
  lex.consume();
  return true;
}
