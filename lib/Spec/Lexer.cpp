//===- Lexer.cpp - tokens of the .sattn spec language ---------------------===//
//
// Implements the spec lexer. Malformed input becomes an error token with a
// message (see Lexer.h for why the lexer does not report it directly).
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/Lexer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace sattn::spec;

static bool isIdentifierStart(char c) { return llvm::isAlpha(c) || c == '_'; }
static bool isIdentifierChar(char c) { return llvm::isAlnum(c) || c == '_'; }

/// Renders a byte for a message: printable ASCII as is, anything else as
/// \xNN so that a stray control or UTF-8 byte is visible.
static std::string renderChar(char c) {
  if (llvm::isPrint(c))
    return std::string(1, c);
  std::string text = "\\x";
  text += llvm::hexdigit((static_cast<unsigned char>(c) >> 4) & 0xf);
  text += llvm::hexdigit(static_cast<unsigned char>(c) & 0xf);
  return text;
}

llvm::StringRef sattn::spec::getTokenSpelling(Token::Kind kind) {
  switch (kind) {
  case Token::eof:
    return "end of file";
  case Token::error:
    return "invalid token";
  case Token::identifier:
    return "identifier";
  case Token::integer:
    return "integer";
  case Token::floating:
    return "number";
  case Token::l_brace:
    return "{";
  case Token::r_brace:
    return "}";
  case Token::l_square:
    return "[";
  case Token::r_square:
    return "]";
  case Token::l_paren:
    return "(";
  case Token::r_paren:
    return ")";
  case Token::comma:
    return ",";
  case Token::colon:
    return ":";
  case Token::assign:
    return "=";
  case Token::eq:
    return "==";
  case Token::ne:
    return "!=";
  case Token::lt:
    return "<";
  case Token::le:
    return "<=";
  case Token::gt:
    return ">";
  case Token::ge:
    return ">=";
  case Token::plus:
    return "+";
  case Token::minus:
    return "-";
  case Token::star:
    return "*";
  case Token::slash:
    return "/";
  case Token::percent:
    return "%";
  case Token::amp:
    return "&";
  case Token::pipe:
    return "|";
  case Token::bang:
    return "!";
  }
  return "token";
}

std::string Token::describe() const {
  switch (kind) {
  case eof:
    return "end of file";
  case error:
    return "invalid token";
  case identifier:
    return ("identifier '" + spelling + "'").str();
  case integer:
    return ("integer " + spelling).str();
  case floating:
    return ("number " + spelling).str();
  default:
    return ("'" + getTokenSpelling(kind) + "'").str();
  }
}

Lexer::Lexer(llvm::StringRef buffer) : buffer(buffer), cur(buffer.begin()) {}

const Token &Lexer::peek(unsigned n) {
  while (lookahead.size() <= n) {
    // Past an end-of-file or error token every further token is the same.
    if (!lookahead.empty() && (lookahead.back().is(Token::eof) ||
                               lookahead.back().is(Token::error))) {
      lookahead.push_back(lookahead.back());
      continue;
    }
    lookahead.push_back(lexToken());
  }
  return lookahead[n];
}

Token Lexer::consume() {
  peek(0);
  Token tok = lookahead.front();
  if (!tok.is(Token::eof) && !tok.is(Token::error))
    lookahead.pop_front();
  return tok;
}

Token Lexer::makeToken(Token::Kind kind, const char *start) {
  Token tok;
  tok.kind = kind;
  tok.spelling = llvm::StringRef(start, cur - start);
  return tok;
}

Token Lexer::makeError(const char *start, const char *end,
                       std::string message) {
  Token tok;
  tok.kind = Token::error;
  tok.spelling = llvm::StringRef(start, end - start);
  tok.message = std::move(message);
  cur = end;
  return tok;
}

void Lexer::skipWhitespaceAndComments() {
  const char *end = buffer.end();
  while (cur != end) {
    char c = *cur;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
        c == '\v') {
      ++cur;
      continue;
    }
    if (c == '#') {
      while (cur != end && *cur != '\n')
        ++cur;
      continue;
    }
    return;
  }
}

Token Lexer::lexToken() {
  skipWhitespaceAndComments();
  const char *start = cur;
  if (cur == buffer.end())
    return makeToken(Token::eof, start);

  char c = *cur++;
  auto next = [&](char expected) {
    if (cur != buffer.end() && *cur == expected) {
      ++cur;
      return true;
    }
    return false;
  };

  if (isIdentifierStart(c))
    return lexIdentifier(start);
  if (llvm::isDigit(c))
    return lexNumber(start);

  switch (c) {
  case '{':
    return makeToken(Token::l_brace, start);
  case '}':
    return makeToken(Token::r_brace, start);
  case '[':
    return makeToken(Token::l_square, start);
  case ']':
    return makeToken(Token::r_square, start);
  case '(':
    return makeToken(Token::l_paren, start);
  case ')':
    return makeToken(Token::r_paren, start);
  case ',':
    return makeToken(Token::comma, start);
  case ':':
    return makeToken(Token::colon, start);
  case '+':
    return makeToken(Token::plus, start);
  case '-':
    return makeToken(Token::minus, start);
  case '*':
    return makeToken(Token::star, start);
  case '/':
    return makeToken(Token::slash, start);
  case '%':
    return makeToken(Token::percent, start);
  case '=':
    return makeToken(next('=') ? Token::eq : Token::assign, start);
  case '!':
    return makeToken(next('=') ? Token::ne : Token::bang, start);
  case '<':
    return makeToken(next('=') ? Token::le : Token::lt, start);
  case '>':
    return makeToken(next('=') ? Token::ge : Token::gt, start);
  case '&':
    // C habits: '&&' reads as two '&' tokens and would give a confusing
    // "expected an expression" error, so name the mistake instead.
    if (next('&'))
      return makeError(start, cur, "unexpected '&&': use '&' for 'and'");
    return makeToken(Token::amp, start);
  case '|':
    if (next('|'))
      return makeError(start, cur, "unexpected '||': use '|' for 'or'");
    return makeToken(Token::pipe, start);
  case '\'':
    return makeError(start, start + 1, "unexpected character \"'\"");
  default:
    return makeError(start, start + 1,
                     "unexpected character '" + renderChar(c) + "'");
  }
}

Token Lexer::lexIdentifier(const char *start) {
  while (cur != buffer.end() && isIdentifierChar(*cur))
    ++cur;
  return makeToken(Token::identifier, start);
}

Token Lexer::lexNumber(const char *start) {
  const char *end = buffer.end();
  auto skipDigits = [&] {
    while (cur != end && llvm::isDigit(*cur))
      ++cur;
  };
  skipDigits();
  bool isFloat = false;
  if (cur != end && *cur == '.') {
    isFloat = true;
    ++cur;
    skipDigits();
  }
  if (cur != end && (*cur == 'e' || *cur == 'E')) {
    const char *exponent = cur + 1;
    if (exponent != end && (*exponent == '+' || *exponent == '-'))
      ++exponent;
    if (exponent != end && llvm::isDigit(*exponent)) {
      isFloat = true;
      cur = exponent;
      skipDigits();
    }
  }
  // "12abc" or "1.5e" is one malformed literal, not a number followed by a
  // name; say so rather than complaining about the name.
  if (cur != end && (isIdentifierChar(*cur) || *cur == '.')) {
    while (cur != end && (isIdentifierChar(*cur) || *cur == '.'))
      ++cur;
    return makeError(start, cur,
                     "invalid number '" +
                         llvm::StringRef(start, cur - start).str() + "'");
  }
  return makeToken(isFloat ? Token::floating : Token::integer, start);
}
