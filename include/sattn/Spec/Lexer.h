//===- Lexer.h - tokens of the .sattn spec language -----------*- C++ -*-===//
//
// A hand-written lexer for `.sattn` files. It never reports diagnostics
// itself: a malformed character or literal becomes an `error` token that
// carries its message, and the parser reports it at the point where it
// would have consumed the token. That keeps errors in source order even
// though the parser looks up to two tokens ahead.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_LEXER_H
#define SATTN_SPEC_LEXER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

#include <deque>
#include <string>

namespace sattn::spec {

struct Token {
  enum Kind {
    eof,
    error,      // malformed input; `message` says why
    identifier, // [A-Za-z_][A-Za-z0-9_]*
    integer,    // [0-9]+
    floating,   // [0-9]+ '.' [0-9]* exponent? | [0-9]+ exponent
    l_brace,
    r_brace,
    l_square,
    r_square,
    l_paren,
    r_paren,
    comma,
    colon,
    assign, // =
    eq,     // ==
    ne,     // !=
    lt,
    le,
    gt,
    ge,
    plus,
    minus,
    star,
    slash,
    percent,
    amp,
    pipe,
    bang,
  };

  Kind kind = eof;
  llvm::StringRef spelling;
  std::string message; // for `error` tokens only

  bool is(Kind k) const { return kind == k; }
  bool isIdentifier(llvm::StringRef name) const {
    return kind == identifier && spelling == name;
  }
  llvm::SMLoc getLoc() const {
    return llvm::SMLoc::getFromPointer(spelling.data());
  }
  /// A short human description: "'{'", "identifier 'foo'", "end of file".
  std::string describe() const;
};

/// Spelling of a punctuation kind for "expected ..." messages.
llvm::StringRef getTokenSpelling(Token::Kind kind);

class Lexer {
public:
  /// `buffer` must stay alive as long as the tokens: their spellings point
  /// into it.
  explicit Lexer(llvm::StringRef buffer);

  /// The token `n` positions ahead (0 is the current one).
  const Token &peek(unsigned n = 0);
  /// Consumes and returns the current token. The end-of-file and error
  /// tokens are sticky: consuming them does not advance past them.
  Token consume();

private:
  Token lexToken();
  Token makeToken(Token::Kind kind, const char *start);
  Token makeError(const char *start, const char *end, std::string message);
  Token lexNumber(const char *start);
  Token lexIdentifier(const char *start);
  void skipWhitespaceAndComments();

  llvm::StringRef buffer;
  const char *cur;
  std::deque<Token> lookahead;
};

} // namespace sattn::spec

#endif // SATTN_SPEC_LEXER_H
