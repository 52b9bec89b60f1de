//===- Parser.cpp - recursive-descent parser for .sattn files -------------===//
//
// Grammar (examples/*.sattn has examples; Sema.cpp the typing rules):
//
//   file     := kernel*
//   kernel   := 'kernel' IDENT '{' item* '}'
//   item     := 'table' IDENT ':' elemtype '[' dim (',' dim)* ']'
//             | KEY '=' value
//   expr     := and ('|' and)*
//   and      := not ('&' not)*
//   not      := '!' not | compare
//   compare  := add (('=='|'!='|'<'|'<='|'>'|'>=') add)?
//   add      := mul (('+'|'-') mul)*
//   mul      := unary (('*'|'/'|'%') unary)*
//   unary    := '-' unary | primary
//   primary  := INT | FLOAT | 'true' | 'false' | IDENT
//             | IDENT '(' [arg (',' arg)*] ')' | IDENT '[' expr (',' expr)* ']'
//             | '(' expr ')'
//   arg      := [IDENT '='] expr
//
// Items need no separator: an expression ends at the first token that cannot
// continue it. The parser stops at the first error. Recursion is bounded by
// kMaxExprDepth, both in nesting (parentheses, prefix operators, call
// arguments) and in the height of the tree built by left-associative chains.
//
//===----------------------------------------------------------------------===//

#include "ParserImpl.h"

#include "sattn/Core/Limits.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/Lexer.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

using namespace sattn::spec;
using sattn::spec::detail::Parser;

static const llvm::StringRef kKeys[] = {
    "dtype", "head_dim", "heads", "kv_heads", "scale", "return_lse", "block_max", "mask"};

std::optional<int64_t> Parser::parseIntegerToken(const Token &tok) {
  uint64_t value;
  if (tok.spelling.getAsInteger(10, value) ||
      value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    diag.error(tok.getLoc(),
               "integer literal '" + tok.spelling +
                   "' is too large (the maximum is " +
                   llvm::Twine(std::numeric_limits<int64_t>::max()) + ")");
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

std::unique_ptr<SpecFile> Parser::parseFile() {
  auto file = std::make_unique<SpecFile>();
  while (!cur().is(Token::eof)) {
    if (!cur().isIdentifier("kernel")) {
      reportUnexpected(cur(), "expected 'kernel'");
      return nullptr;
    }
    auto kernel = parseKernel();
    if (!kernel)
      return nullptr;
    file->kernels.push_back(std::move(kernel));
  }
  if (file->kernels.empty()) {
    diag.error(diag.getBufferStart(),
               "no kernels in file: expected 'kernel NAME { ... }'");
    return nullptr;
  }
  return file;
}

std::unique_ptr<KernelDecl> Parser::parseKernel() {
  lex.consume(); // 'kernel'
  auto kernel = std::make_unique<KernelDecl>();
  if (!cur().is(Token::identifier)) {
    reportUnexpected(cur(), "expected a kernel name after 'kernel'");
    return nullptr;
  }
  Token name = lex.consume();
  kernel->name = name.spelling;
  kernel->loc = name.getLoc();
  kernel->lbraceLoc = cur().getLoc();
  if (!expect(Token::l_brace, "after the kernel name"))
    return nullptr;

  bool lastItemWasMask = false;
  while (true) {
    const Token &tok = cur();
    if (tok.is(Token::r_brace)) {
      lex.consume();
      return kernel;
    }
    if (tok.is(Token::eof)) {
      diag.error(kernel->lbraceLoc, "unterminated kernel block '" +
                                        kernel->name +
                                        "': no '}' before the end of file");
      return nullptr;
    }
    // `kernel NAME` inside a block: the previous block lacks its '}'.
    if (tok.isIdentifier("kernel") && lex.peek(1).is(Token::identifier)) {
      diag.error(kernel->lbraceLoc, "unterminated kernel block '" +
                                        kernel->name +
                                        "': no '}' before the next kernel");
      diag.note(tok.getLoc(), "the next kernel starts here");
      return nullptr;
    }
    if (tok.isIdentifier("table") && lex.peek(1).is(Token::identifier)) {
      if (!parseTableDecl(*kernel))
        return nullptr;
      lastItemWasMask = false;
      continue;
    }
    if (tok.is(Token::identifier) && lex.peek(1).is(Token::assign)) {
      lastItemWasMask = tok.spelling == "mask";
      if (!parseSetting(*kernel))
        return nullptr;
      continue;
    }
    if (tok.is(Token::identifier) && lastItemWasMask) {
      diag.error(tok.getLoc(),
                 "unexpected " + tok.describe() +
                     " after the mask expression; is an operator ('&' or "
                     "'|') missing?");
      return nullptr;
    }
    reportUnexpected(tok, "expected 'KEY = value', 'table NAME : TYPE[...]' "
                          "or '}'");
    return nullptr;
  }
}

bool Parser::parseTableDecl(KernelDecl &kernel) {
  lex.consume(); // 'table'
  Token name = lex.consume();
  auto table = std::make_unique<TableDecl>();
  table->name = name.spelling;
  table->loc = name.getLoc();
  if (!expect(Token::colon, "after the table name"))
    return false;

  const Token &type = cur();
  std::optional<ElementType> elementType;
  if (type.is(Token::identifier))
    elementType = llvm::StringSwitch<std::optional<ElementType>>(type.spelling)
                      .Case("bool", ElementType::Bool)
                      .Case("i32", ElementType::I32)
                      .Case("i64", ElementType::I64)
                      .Default(std::nullopt);
  if (!elementType) {
    if (type.is(Token::identifier) || type.is(Token::integer))
      diag.error(type.getLoc(), "invalid table element type '" + type.spelling +
                                    "': expected bool, i32 or i64");
    else
      reportUnexpected(type,
                       "expected a table element type (bool, i32 or i64)");
    return false;
  }
  table->elementType = *elementType;
  lex.consume();

  if (!expect(Token::l_square, "before the table dimensions"))
    return false;
  do {
    if (!parseTableDim(*table))
      return false;
  } while (consumeIf(Token::comma));
  if (!expect(Token::r_square, "after the table dimensions"))
    return false;
  kernel.tables.push_back(std::move(table));
  return true;
}

bool Parser::parseTableDim(TableDecl &table) {
  const Token &tok = cur();
  llvm::SMLoc loc = tok.getLoc();
  auto badDim = [&](const llvm::Twine &text, const llvm::Twine &why) {
    diag.error(loc, "bad table dimension '" + text + "': " + why);
    return false;
  };
  llvm::StringRef expectedDims =
      "expected b, h, q, k, q/N, k/N or a positive integer";

  if (tok.is(Token::integer)) {
    Token number = lex.consume();
    std::optional<int64_t> extent = parseIntegerToken(number);
    if (!extent)
      return false;
    if (*extent <= 0 || *extent > sattn::limits::kMaxPatternValue)
      return badDim(number.spelling,
                    "a fixed extent must be between 1 and " +
                        llvm::Twine(sattn::limits::kMaxPatternValue));
    table.dims.push_back({std::to_string(*extent), loc});
    return true;
  }
  if (!tok.is(Token::identifier)) {
    reportUnexpected(tok, llvm::Twine("expected a table dimension (") +
                              expectedDims.substr(9) + ")");
    return false;
  }
  llvm::StringRef name = tok.spelling;
  if (name == "b" || name == "h") {
    lex.consume();
    table.dims.push_back({name.str(), loc});
    return true;
  }
  if (name != "q" && name != "k")
    return badDim(name, expectedDims);
  lex.consume();
  if (!consumeIf(Token::slash)) {
    table.dims.push_back({name.str(), loc});
    return true;
  }
  if (!cur().is(Token::integer)) {
    reportUnexpected(cur(), "expected a block size after '" + name + "/'");
    return false;
  }
  Token number = lex.consume();
  std::optional<int64_t> block = parseIntegerToken(number);
  if (!block)
    return false;
  if (*block <= 0 || *block > sattn::limits::kMaxPatternValue)
    return badDim(name + "/" + number.spelling,
                  "the block size must be between 1 and " +
                      llvm::Twine(sattn::limits::kMaxPatternValue));
  table.dims.push_back({(name + "/" + llvm::Twine(*block)).str(), loc});
  return true;
}

template <typename T>
bool Parser::checkNotSet(const Setting<T> &setting, const Token &key) {
  if (!setting.isSet())
    return true;
  diag.error(key.getLoc(), "duplicate key '" + key.spelling + "'");
  diag.note(setting.keyLoc, "'" + key.spelling + "' was first set here");
  return false;
}

bool Parser::parseIntSetting(Setting<int64_t> &setting, const Token &key) {
  const Token &value = cur();
  if (!value.is(Token::integer)) {
    reportUnexpected(value,
                     "expected an integer value for '" + key.spelling + "'");
    return false;
  }
  Token number = lex.consume();
  std::optional<int64_t> parsed = parseIntegerToken(number);
  if (!parsed)
    return false;
  setting.value = *parsed;
  setting.keyLoc = key.getLoc();
  setting.valueLoc = number.getLoc();
  return true;
}

bool Parser::parseSetting(KernelDecl &kernel) {
  Token key = lex.consume();
  lex.consume(); // '='
  llvm::StringRef name = key.spelling;
  const Token &value = cur();
  llvm::SMLoc valueLoc = value.getLoc();

  if (name == "dtype") {
    if (!checkNotSet(kernel.dtype, key))
      return false;
    std::optional<DType> dtype;
    if (value.isIdentifier("bf16"))
      dtype = DType::BF16;
    else if (value.isIdentifier("fp16"))
      dtype = DType::FP16;
    if (!dtype) {
      if (value.is(Token::identifier) || value.is(Token::integer) ||
          value.is(Token::floating))
        diag.error(valueLoc, "invalid dtype '" + value.spelling +
                                 "': expected bf16 or fp16");
      else
        reportUnexpected(value, "expected a dtype (bf16 or fp16)");
      return false;
    }
    lex.consume();
    kernel.dtype = {dtype, key.getLoc(), valueLoc};
    return true;
  }
  if (name == "head_dim") {
    if (!checkNotSet(kernel.headDim, key) ||
        !parseIntSetting(kernel.headDim, key))
      return false;
    int64_t dim = *kernel.headDim.value;
    if (dim != 64 && dim != 128 && dim != 256) {
      diag.error(valueLoc, "invalid head_dim " + llvm::Twine(dim) +
                               ": expected 64, 128 or 256");
      return false;
    }
    return true;
  }
  if (name == "heads")
    return checkNotSet(kernel.heads, key) && parseIntSetting(kernel.heads, key);
  if (name == "kv_heads")
    return checkNotSet(kernel.kvHeads, key) &&
           parseIntSetting(kernel.kvHeads, key);
  if (name == "scale") {
    if (!checkNotSet(kernel.scale, key))
      return false;
    bool negative = consumeIf(Token::minus);
    const Token &number = cur();
    double scale;
    if (number.is(Token::integer) || number.is(Token::floating)) {
      if (number.spelling.getAsDouble(scale) || !std::isfinite(scale)) {
        diag.error(number.getLoc(),
                   "scale '" + number.spelling + "' is not a finite number");
        return false;
      }
    } else {
      reportUnexpected(number, "expected a number for 'scale'");
      return false;
    }
    lex.consume();
    kernel.scale = {negative ? -scale : scale, key.getLoc(), valueLoc};
    return true;
  }
  if (name == "return_lse" || name == "block_max") {
    Setting<bool> &setting = name == "return_lse" ? kernel.returnLse : kernel.blockMax;
    if (!checkNotSet(setting, key))
      return false;
    if (!value.isIdentifier("true") && !value.isIdentifier("false")) {
      reportUnexpected(value, "expected true or false for '" + name.str() + "'");
      return false;
    }
    setting = {value.spelling == "true", key.getLoc(), valueLoc};
    lex.consume();
    return true;
  }
  if (name == "mask") {
    if (kernel.mask) {
      diag.error(key.getLoc(), "duplicate key 'mask'");
      diag.note(kernel.maskKeyLoc, "'mask' was first set here");
      return false;
    }
    ExprPtr mask = parseExpr();
    if (!mask)
      return false;
    kernel.mask = std::move(mask);
    kernel.maskKeyLoc = key.getLoc();
    return true;
  }

  llvm::SmallVector<llvm::StringRef> candidates(std::begin(kKeys),
                                                std::end(kKeys));
  candidates.push_back("table");
  diag.error(key.getLoc(),
             "unknown key '" + name + "'" + didYouMean(name, candidates));
  return false;
}

std::unique_ptr<SpecFile> sattn::spec::parseSpec(llvm::StringRef buffer,
                                                 SpecDiagnostics &diag) {
  return Parser(buffer, diag).parseFile();
}
