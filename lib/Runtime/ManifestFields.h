//===- ManifestFields.h - typed reads of manifest members -------*- C++ -*-===//
//
// The manifest reader's helpers, shared by ManifestReader.cpp (the kernel's
// own keys) and Backward.cpp (the optional "backward" record): typed access
// to an object's members whose messages name the key, the object it sits
// in and the byte offset of the value, as docs/MANIFEST.md promises.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_MANIFESTFIELDS_H
#define SATTN_LIB_RUNTIME_MANIFESTFIELDS_H

#include "sattn/Core/Json.h"

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace sattn::rt::manifest {

using json::Value;

/// `[A-Za-z_][A-Za-z0-9_]*`: names and entry symbols.
inline bool isIdentifier(const std::string &s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

/// Typed access to the members of one JSON object, with messages that name
/// the key, where it is and what was found.
class Fields {
public:
  Fields(const Value &object, std::string context, std::string &error)
      : object(object), context(std::move(context)), error(error) {}

  const Value *get(const char *key, Value::Kind kind) {
    const Value *v = object.find(key);
    if (!v) {
      error = "manifest: missing key \"" + std::string(key) + "\"" + where();
      return nullptr;
    }
    if (v->kind != kind) {
      error = "manifest: key \"" + std::string(key) + "\"" + where() +
              " must be " + Value::kindName(kind) + ", found " +
              Value::kindName(v->kind) + at(*v);
      return nullptr;
    }
    return v;
  }

  bool string(const char *key, std::string &out) {
    const Value *v = get(key, Value::String);
    if (!v)
      return false;
    out = v->string;
    return true;
  }

  bool boolean(const char *key, bool &out) {
    const Value *v = get(key, Value::Bool);
    if (!v)
      return false;
    out = v->boolean;
    return true;
  }

  bool number(const char *key, double &out) {
    const Value *v = get(key, Value::Number);
    if (!v)
      return false;
    if (!std::isfinite(v->number))
      return bad(key, *v, "must be finite");
    out = v->number;
    return true;
  }

  /// An integer in [lo, hi].
  bool integer(const char *key, int64_t &out, int64_t lo, int64_t hi) {
    const Value *v = get(key, Value::Number);
    if (!v)
      return false;
    if (v->isIntegral && !v->isInteger)
      return bad(key, *v, "is out of the int64 range");
    if (!v->isInteger)
      return bad(key, *v, "must be an integer (no fraction or exponent)");
    if (v->integer < lo || v->integer > hi)
      return bad(key, *v,
                 "is " + std::to_string(v->integer) + ", expected a value in [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "]");
    out = v->integer;
    return true;
  }

  bool bad(const char *key, const Value &v, const std::string &why) {
    error = "manifest: key \"" + std::string(key) + "\"" + where() + " " + why +
            at(v);
    return false;
  }

  static std::string at(const Value &v) {
    return " (at byte " + std::to_string(v.offset) + ")";
  }

private:
  const Value &object;
  std::string context;
  std::string &error;

  std::string where() const { return context.empty() ? "" : " of " + context; }
};

/// Checks the "params" array `params` of `f`'s object against the names
/// this runtime packs, in order; the first difference is reported as
/// "differs from this runtime's `abi`: parameter i is X, expected Y". A
/// kernel compiled against another parameter list would read garbage, so
/// it is refused at load rather than launched.
inline bool checkParamNames(Fields &f, const Value &params,
                            const std::vector<std::string> &expected, const std::string &abi) {
  const std::vector<Value> &names = params.elements;
  for (size_t i = 0; i < std::max(names.size(), expected.size()); ++i) {
    std::string found = i < names.size() && names[i].kind == Value::String ? names[i].string
                        : i < names.size()                                 ? "a non-string"
                                                                           : "nothing";
    std::string want = i < expected.size() ? expected[i] : "nothing";
    if (found != want)
      return f.bad("params", i < names.size() ? names[i] : params,
                   "differs from this runtime's " + abi + ": parameter " + std::to_string(i) +
                       " is " + found + ", expected " + want);
  }
  return true;
}

} // namespace sattn::rt::manifest

#endif // SATTN_LIB_RUNTIME_MANIFESTFIELDS_H
