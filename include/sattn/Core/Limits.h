//===- Limits.h - the one set of size limits sattn enforces ----*- C++ -*-===//
//
// Every size a user controls (heads, head_dim, sequence lengths, batch,
// pattern constants, table declarations, mask nesting and mask size) is
// bounded here once. The spec front end, the IR verifiers, the mask-program
// verifier (programs read from manifests) and libsattn_runtime all check
// against these constants with the messages below, so a value is rejected
// the same way wherever it enters. The bounds also make the planner's
// arithmetic safe: positions stay below 2^30 and pattern constants at most
// 2^30, so a product of two such values and a few sums stay far from int64
// overflow (the planner still checks the products it forms).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_LIMITS_H
#define SATTN_CORE_LIMITS_H

#include <cstdint>
#include <string>
#include <string_view>

namespace sattn::limits {

/// Sequence lengths Lq and Lk: kernels index keys with 32-bit arithmetic
/// and plans store positions in int64 with headroom for closed forms.
constexpr int64_t kMaxLength = (int64_t(1) << 30) - 1;
/// Batch: the launch grid's z dimension.
constexpr int64_t kMaxBatch = 65535;
/// Query and KV heads: bounds per-head evaluation and plan classes.
constexpr int64_t kMaxHeads = 4096;
/// Integer arguments of named patterns (window sizes, strides, blocks,
/// counts, offsets): a sequence is shorter than this, so a larger window or
/// stride would mean nothing more.
constexpr int64_t kMaxPatternValue = int64_t(1) << 30;
/// Runtime tables: rank (the C API's sattn_tensor holds 4 extents) and
/// elements (int64 buffers the kernel indexes with 32 bits).
constexpr int kMaxTableRank = 4;
constexpr int64_t kMaxTableElements = (int64_t(1) << 31) - 1;
/// Mask graphs: nesting depth (evaluation and planning recurse over it),
/// distinct mask nodes, and predicate instructions of one kernel. Planning
/// visits every node for every query tile, so the node count bounds it.
constexpr int kMaxMaskDepth = 512;
constexpr int64_t kMaxMaskNodes = 4096;
constexpr int64_t kMaxPredicateInstructions = 65536;
/// Head expressions of strided patterns (postfix evaluation stack).
constexpr int kMaxAffineDepth = 64;

/// "`what` must be in [lo, hi], got value", or "" when lo <= value <= hi.
std::string checkRange(std::string_view what, int64_t value, int64_t lo,
                       int64_t hi);

/// Heads and kv_heads of a kernel ("" when valid).
std::string checkHeads(int64_t heads, int64_t kvHeads);
/// A pattern argument: `lo` is 0 or 1 (non-negative or positive); offsets
/// may be negative (lo = -kMaxPatternValue).
std::string checkPatternValue(std::string_view what, int64_t value,
                              int64_t lo);

/// a * b, or false when the product overflows int64.
inline bool checkedMul(int64_t a, int64_t b, int64_t &out) {
  return !__builtin_mul_overflow(a, b, &out);
}
inline bool checkedAdd(int64_t a, int64_t b, int64_t &out) {
  return !__builtin_add_overflow(a, b, &out);
}

} // namespace sattn::limits

#endif // SATTN_CORE_LIMITS_H
