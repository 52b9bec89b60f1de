//===- IntegerSemantics.h - integer corner cases of masks -----*- C++ -*-===//
//
// All integer arithmetic of masks (patterns, predicates, affine head offsets)
// goes through these helpers, which define the contract's corner cases
// (wrap-around, division by zero yields 0) without undefined behaviour. The
// front end uses them to fold constants, the evaluator to run programs.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_INTEGERSEMANTICS_H
#define SATTN_CORE_INTEGERSEMANTICS_H

#include <cstdint>
#include <limits>

namespace sattn::ints {

/// Wrap-around arithmetic: computed on uint64_t so that overflow is defined.
inline int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
inline int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
inline int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

// Signed division family. Division or remainder by zero yields 0; the one
// overflowing quotient (INT64_MIN / -1) wraps to INT64_MIN like every other
// overflow, and its remainder is 0.
inline int64_t divSigned(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return wrapSub(0, a);
  return a / b;
}
inline int64_t remSigned(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  return a % b;
}
inline int64_t floorDivSigned(int64_t a, int64_t b) {
  int64_t q = divSigned(a, b);
  if (remSigned(a, b) != 0 && ((a < 0) != (b < 0)))
    --q;
  return q;
}
inline int64_t ceilDivSigned(int64_t a, int64_t b) {
  int64_t q = divSigned(a, b);
  if (remSigned(a, b) != 0 && ((a < 0) == (b < 0)))
    ++q;
  return q;
}
/// a - b * floor(a / b): for b > 0 the result lies in [0, b).
inline int64_t floorModSigned(int64_t a, int64_t b) {
  int64_t r = remSigned(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}
inline uint64_t divUnsigned(uint64_t a, uint64_t b) { return b == 0 ? 0 : a / b; }
inline uint64_t remUnsigned(uint64_t a, uint64_t b) { return b == 0 ? 0 : a % b; }

/// The low `width` bits of `v`: the canonical (zero-extended) form in which
/// the predicate program stores an iN value.
inline uint64_t truncateTo(uint64_t v, unsigned width) {
  return width >= 64 ? v : v & ((uint64_t(1) << width) - 1);
}
/// Reads a canonical iN value as a signed 64-bit integer.
inline int64_t signExtendFrom(uint64_t v, unsigned width) {
  if (width >= 64)
    return static_cast<int64_t>(v);
  uint64_t signBit = uint64_t(1) << (width - 1);
  v = truncateTo(v, width);
  return static_cast<int64_t>((v ^ signBit) - signBit);
}

/// a * b, saturated at INT64_MAX; used for window spans of non-negative
/// parameters so that huge attributes mean "unbounded", not a wrapped span.
inline int64_t saturatingMul(int64_t a, int64_t b) {
  int64_t result;
  if (__builtin_mul_overflow(a, b, &result))
    return std::numeric_limits<int64_t>::max();
  return result;
}

} // namespace sattn::ints

#endif // SATTN_CORE_INTEGERSEMANTICS_H
