//===- Json.cpp - strict, dependency-free JSON reader ---------------------===//
//
// A recursive-descent reader over the RFC 8259 grammar. Recursion depth is
// counted and capped (kMaxDepth), numbers are converted in the "C" locale so
// that the process locale cannot change what "0.5" means, and strings are
// checked to be well-formed UTF-8 (no overlong forms, no surrogates) with
// \u escapes decoded, surrogate pairs included.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Json.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <locale.h>

namespace sattn::json {

const Value *Value::find(std::string_view key) const {
  for (const auto &member : members)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *Value::kindName(Kind kind) {
  switch (kind) {
  case Null:
    return "null";
  case Bool:
    return "a boolean";
  case Number:
    return "a number";
  case String:
    return "a string";
  case Array:
    return "an array";
  case Object:
    return "an object";
  }
  return "a value";
}

namespace {

class Reader {
public:
  Reader(std::string_view text, std::string &error) : text(text), error(error) {}

  bool document(Value &out) {
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
        static_cast<unsigned char>(text[1]) == 0xBB &&
        static_cast<unsigned char>(text[2]) == 0xBF)
      return fail("a byte order mark is not allowed");
    skipSpace();
    if (atEnd())
      return fail("expected a value, found the end of the input");
    if (!value(out, 0))
      return false;
    skipSpace();
    if (!atEnd())
      return fail("unexpected " + describe(pos) + " after the top-level value");
    return true;
  }

private:
  std::string_view text;
  std::string &error;
  size_t pos = 0;

  bool atEnd() const { return pos >= text.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text[pos]); }

  bool failAt(size_t at, const std::string &what) {
    error = "invalid JSON at byte " + std::to_string(at) + ": " + what;
    return false;
  }
  bool fail(const std::string &what) { return failAt(pos, what); }

  /// "'x'", "byte 0x07" or "the end of the input", for messages.
  std::string describe(size_t at) const {
    if (at >= text.size())
      return "the end of the input";
    unsigned char c = static_cast<unsigned char>(text[at]);
    if (c >= 0x20 && c < 0x7F)
      return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    return buf;
  }

  void skipSpace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        return;
      ++pos;
    }
  }

  bool literal(std::string_view word) {
    if (text.substr(pos, word.size()) != word)
      return fail("expected a value, found " + describe(pos));
    pos += word.size();
    return true;
  }

  bool value(Value &out, int depth) {
    out.offset = pos;
    switch (peek()) {
    case '{':
      return object(out, depth + 1);
    case '[':
      return array(out, depth + 1);
    case '"':
      out.kind = Value::String;
      return string(out.string);
    case 't':
      out.kind = Value::Bool;
      out.boolean = true;
      return literal("true");
    case 'f':
      out.kind = Value::Bool;
      out.boolean = false;
      return literal("false");
    case 'n':
      out.kind = Value::Null;
      return literal("null");
    default:
      if (peek() == '-' || (peek() >= '0' && peek() <= '9'))
        return number(out);
      return fail("expected a value, found " + describe(pos));
    }
  }

  bool enter(int depth) {
    if (depth > kMaxDepth)
      return fail("arrays and objects nested deeper than " +
                  std::to_string(kMaxDepth) + " levels");
    return true;
  }

  bool object(Value &out, int depth) {
    if (!enter(depth))
      return false;
    out.kind = Value::Object;
    ++pos; // '{'
    skipSpace();
    if (!atEnd() && peek() == '}') {
      ++pos;
      return true;
    }
    while (true) {
      skipSpace();
      if (atEnd() || peek() != '"')
        return fail("expected a string key in object, found " + describe(pos));
      size_t keyOffset = pos;
      std::string key;
      if (!string(key))
        return false;
      if (out.find(key))
        return failAt(keyOffset, "duplicate key \"" + key + "\"");
      skipSpace();
      if (atEnd() || peek() != ':')
        return fail("expected ':' after object key, found " + describe(pos));
      ++pos;
      skipSpace();
      if (atEnd())
        return fail("expected a value, found the end of the input");
      out.members.emplace_back(std::move(key), Value());
      if (!value(out.members.back().second, depth))
        return false;
      skipSpace();
      if (!atEnd() && peek() == ',') {
        ++pos;
        continue;
      }
      if (!atEnd() && peek() == '}') {
        ++pos;
        return true;
      }
      return fail("expected ',' or '}' in object, found " + describe(pos));
    }
  }

  bool array(Value &out, int depth) {
    if (!enter(depth))
      return false;
    out.kind = Value::Array;
    ++pos; // '['
    skipSpace();
    if (!atEnd() && peek() == ']') {
      ++pos;
      return true;
    }
    while (true) {
      skipSpace();
      if (atEnd())
        return fail("expected a value, found the end of the input");
      out.elements.emplace_back();
      if (!value(out.elements.back(), depth))
        return false;
      skipSpace();
      if (!atEnd() && peek() == ',') {
        ++pos;
        continue;
      }
      if (!atEnd() && peek() == ']') {
        ++pos;
        return true;
      }
      return fail("expected ',' or ']' in array, found " + describe(pos));
    }
  }

  bool number(Value &out) {
    size_t start = pos;
    bool integral = true;
    if (peek() == '-')
      ++pos;
    if (atEnd() || !isDigit(peek()))
      return fail("expected a digit, found " + describe(pos));
    if (peek() == '0') {
      ++pos;
      if (!atEnd() && isDigit(peek()))
        return fail("leading zeros are not allowed in numbers");
    } else {
      while (!atEnd() && isDigit(peek()))
        ++pos;
    }
    if (!atEnd() && peek() == '.') {
      integral = false;
      ++pos;
      if (atEnd() || !isDigit(peek()))
        return fail("expected a digit after '.', found " + describe(pos));
      while (!atEnd() && isDigit(peek()))
        ++pos;
    }
    if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++pos;
      if (!atEnd() && (peek() == '+' || peek() == '-'))
        ++pos;
      if (atEnd() || !isDigit(peek()))
        return fail("expected a digit in the exponent, found " + describe(pos));
      while (!atEnd() && isDigit(peek()))
        ++pos;
    }
    const char *first = text.data() + start;
    const char *last = text.data() + pos;
    out.kind = Value::Number;
    out.isIntegral = integral;
    if (integral) {
      auto [ptr, ec] = std::from_chars(first, last, out.integer);
      out.isInteger = ec == std::errc() && ptr == last;
    }
    // strtod_l with the "C" locale: the grammar was checked above, and the
    // process locale must not change what "0.5" means. (std::from_chars for
    // double would pull libm into the runtime's dependencies.)
    static locale_t cLocale = newlocale(LC_ALL_MASK, "C", nullptr);
    std::string digits(first, last);
    char *end = nullptr;
    errno = 0;
    out.number = strtod_l(digits.c_str(), &end, cLocale);
    if (end != digits.c_str() + digits.size())
      return failAt(start, "malformed number");
    if (errno == ERANGE && std::abs(out.number) > 1.0)
      return failAt(start, "number out of the range of a double");
    return true;
  }

  static bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }

  static int hexValue(unsigned char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  bool hex4(unsigned &code) {
    code = 0;
    for (int i = 0; i < 4; ++i) {
      if (atEnd())
        return fail("expected 4 hex digits after \\u, found the end of the input");
      int digit = hexValue(peek());
      if (digit < 0)
        return fail("expected 4 hex digits after \\u, found " + describe(pos));
      code = code * 16 + static_cast<unsigned>(digit);
      ++pos;
    }
    return true;
  }

  static void appendUtf8(std::string &out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  bool escape(std::string &out) {
    size_t start = pos - 1; // the backslash
    if (atEnd())
      return fail("unterminated escape sequence");
    char c = text[pos++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u': {
      unsigned code;
      if (!hex4(code))
        return false;
      if (code >= 0xDC00 && code <= 0xDFFF)
        return failAt(start, "unpaired low surrogate in \\u escape");
      if (code >= 0xD800 && code <= 0xDBFF) {
        if (text.substr(pos, 2) != "\\u")
          return failAt(start, "high surrogate not followed by a low surrogate");
        pos += 2;
        unsigned low;
        if (!hex4(low))
          return false;
        if (low < 0xDC00 || low > 0xDFFF)
          return failAt(start, "high surrogate not followed by a low surrogate");
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
      }
      appendUtf8(out, code);
      return true;
    }
    default:
      return failAt(start, "invalid escape sequence \\" + describe(pos - 1));
    }
  }

  /// Copies one well-formed UTF-8 sequence starting at a byte >= 0x80.
  bool utf8(std::string &out) {
    size_t start = pos;
    unsigned char lead = peek();
    int extra;
    unsigned code, min;
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1, code = lead & 0x1F, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2, code = lead & 0x0F, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3, code = lead & 0x07, min = 0x10000;
    } else {
      return fail("invalid UTF-8 byte " + describe(pos).substr(5) + " in string");
    }
    ++pos;
    for (int i = 0; i < extra; ++i) {
      if (atEnd() || (peek() & 0xC0) != 0x80)
        return failAt(start, "truncated UTF-8 sequence in string");
      code = (code << 6) | (peek() & 0x3F);
      ++pos;
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return failAt(start, "invalid UTF-8 sequence in string");
    out.append(text.data() + start, pos - start);
    return true;
  }

  bool string(std::string &out) {
    size_t start = pos;
    ++pos; // opening quote
    while (true) {
      if (atEnd())
        return failAt(start, "unterminated string");
      unsigned char c = peek();
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character " + describe(pos) +
                    " in string (escape it)");
      if (c == '\\') {
        ++pos;
        if (!escape(out))
          return false;
      } else if (c >= 0x80) {
        if (!utf8(out))
          return false;
      } else {
        out += static_cast<char>(c);
        ++pos;
      }
    }
  }
};

} // namespace

bool parse(std::string_view text, Value &out, std::string &error) {
  out = Value();
  return Reader(text, error).document(out);
}

} // namespace sattn::json
