//===- ConstantEval.h - compile-time evaluation of Int exprs --*- C++ -*-===//
//
// Pattern arguments (`window(4 * 1024)`), per-head selectors (`h % 4`) and
// the constant parts of strided offsets are evaluated at compile time with
// the same semantics the emitted predicates have at run time: floor
// division and floor modulo (Python semantics), and `x / 0 == x % 0 == 0`.
// Unlike run time, overflow is an error here instead of wrapping.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_CONSTANTEVAL_H
#define SATTN_SPEC_CONSTANTEVAL_H

#include "sattn/Spec/AST.h"

#include <optional>
#include <string>

namespace sattn::spec {

struct EvalError {
  llvm::SMLoc loc;
  /// Completes "must be ...: " in the caller's message, e.g. "it uses 'q'".
  std::string reason;
  /// True when the expression uses a variable or table, as opposed to a
  /// failure (overflow) of an otherwise constant expression.
  bool isNonConstant = false;
};

/// Evaluates a type-checked Int expression. `head` binds the variable h;
/// when absent, h is not a constant. Returns nullopt and fills `error` when
/// the expression is not constant or overflows.
std::optional<int64_t>
evaluateInt(const Expr &expr, std::optional<int64_t> head, EvalError &error);

/// Floor division and floor modulo with the spec's semantics (x / 0 = 0,
/// x % 0 = 0). Return nullopt on overflow (INT64_MIN / -1).
std::optional<int64_t> floorDivide(int64_t a, int64_t b);
int64_t floorModulo(int64_t a, int64_t b);

} // namespace sattn::spec

#endif // SATTN_SPEC_CONSTANTEVAL_H
