//===- ParserImpl.h - the .sattn recursive-descent parser ---------*- C++ -*-===//
//
// Private to lib/Spec. The parser's state and its productions, split into
// two files of one job: Parser.cpp (the grammar, files, kernels, tables and
// settings) and ParseExpressions.cpp (mask and argument expressions).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_SPEC_PARSERIMPL_H
#define SATTN_LIB_SPEC_PARSERIMPL_H

#include "sattn/Spec/Parser.h"

#include "sattn/Core/Limits.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/Lexer.h"

#include <optional>

namespace sattn::spec::detail {

class Parser {
public:
  Parser(llvm::StringRef buffer, SpecDiagnostics &diag)
      : lex(buffer), diag(diag) {}

  std::unique_ptr<SpecFile> parseFile();

private:
  //===--------------------------------------------------------------------===//
  // Token helpers
  //===--------------------------------------------------------------------===//

  const Token &cur() { return lex.peek(0); }

  bool consumeIf(Token::Kind kind) {
    if (!cur().is(kind))
      return false;
    lex.consume();
    return true;
  }

  /// Reports that `tok` is not what `expected` describes. A lexer error
  /// token reports its own message instead: that is the real problem.
  void reportUnexpected(const Token &tok, const llvm::Twine &expected) {
    if (tok.is(Token::error))
      diag.error(tok.getLoc(), tok.message);
    else
      diag.error(tok.getLoc(), expected + ", got " + tok.describe());
  }

  bool expect(Token::Kind kind, const llvm::Twine &context) {
    if (consumeIf(kind))
      return true;
    reportUnexpected(cur(),
                     "expected '" + getTokenSpelling(kind) + "' " + context);
    return false;
  }

  std::optional<int64_t> parseIntegerToken(const Token &tok);

  //===--------------------------------------------------------------------===//
  // Declarations
  //===--------------------------------------------------------------------===//

  std::unique_ptr<KernelDecl> parseKernel();
  bool parseTableDecl(KernelDecl &kernel);
  bool parseTableDim(TableDecl &table);
  bool parseSetting(KernelDecl &kernel);
  template <typename T>
  bool checkNotSet(const Setting<T> &setting, const Token &key);
  bool parseIntSetting(Setting<int64_t> &setting, const Token &key);

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  /// Rejects a node whose tree got taller than kMaxExprDepth.
  ExprPtr checkDepth(ExprPtr expr);

  /// Bounds recursion through parentheses, arguments and prefix operators.
  struct NestingScope {
    NestingScope(Parser &parser) : parser(parser) { ++parser.nesting; }
    ~NestingScope() { --parser.nesting; }
    bool tooDeep() const { return parser.nesting > kMaxExprDepth; }
    Parser &parser;
  };
  void reportTooDeep(llvm::SMLoc loc) {
    diag.error(loc, "expression is nested too deeply (the limit is " +
                        llvm::Twine(kMaxExprDepth) + " levels)");
  }

  ExprPtr parseExpr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseComparison();
  ExprPtr parseAdditive();
  ExprPtr parseMultiplicative();
  ExprPtr parseUnary();
  ExprPtr parsePrimary();
  ExprPtr parseIdentifierExpr();
  bool parseCallArgs(std::vector<Argument> &args);

  Lexer lex;
  SpecDiagnostics &diag;
  unsigned nesting = 0;
};

} // namespace sattn::spec::detail

#endif // SATTN_LIB_SPEC_PARSERIMPL_H
