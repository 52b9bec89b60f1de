//===- Json.h - strict, dependency-free JSON reader -------------*- C++ -*-===//
//
// The runtime reads the kernel manifest and the mask program inside it, and
// must link nothing but libc, so the core carries its own small JSON reader
// instead of LLVM's; the compiler reads mask programs with the same one. The
// reader is strict (RFC 8259 only: no comments, no trailing
// commas, no NaN, no duplicate keys, valid UTF-8) because a manifest that a
// lenient reader accepts and the compiler never wrote is a bug worth
// reporting, and every error names the byte offset where reading stopped.
// Nesting is bounded so that a hostile document cannot exhaust the stack.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_JSON_H
#define SATTN_CORE_JSON_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sattn::json {

/// Deepest nesting of arrays and objects a document may have.
constexpr int kMaxDepth = 64;

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Null;
  /// Byte offset of the value's first character in the document, so that
  /// semantic errors can point at the value as syntax errors do.
  size_t offset = 0;
  bool boolean = false;
  double number = 0;
  /// True when the number was written without fraction or exponent.
  bool isIntegral = false;
  /// True when it is integral and fits in int64; `integer` then holds it.
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<Value> elements;
  /// Members in document order; keys are unique.
  std::vector<std::pair<std::string, Value>> members;

  /// The member named `key`, or null.
  const Value *find(std::string_view key) const;
  static const char *kindName(Kind kind);
};

/// Parses `text` as one JSON value. On failure returns false and sets `error`
/// to "invalid JSON at byte N: what was expected".
bool parse(std::string_view text, Value &out, std::string &error);

} // namespace sattn::json

#endif // SATTN_CORE_JSON_H
