//===- MaskSeparation.h - masks as bitwise forms of 1-D terms --*- C++ -*-===//
//
// A PARTIAL tile evaluates its mask at every (q, k) pair it holds: 16,384
// evaluations for a 128 x 128 tile, each a table read for a mask such as
// `causal & (vcol[h, k] | slash[h, q - k])`. Most masks are bitwise
// combinations (and / or / xor / not, per-head choices) of terms that each
// depend on one quantity only: nothing, the query position q, the key
// position k, or the offset q - k. A term of k takes 128 values over the
// tile and a term of q - k at most 255 (143 over a warp's 16 rows), so a
// kernel can evaluate each term once per value, gather the answers into bit
// words and form every pair's bit with bitwise ops.
//
// separateMask finds that form by a dependence analysis of the mask and of
// the i1 values of predicate bodies; it answers nothing for masks with a
// term that mixes q and k otherwise (`q / 64 == k / 64`, documents), which
// keep the per-pair code. The analysis is conservative: a term it calls a
// function of q - k is one for every pair of positions below 2^40.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_MASKSEPARATION_H
#define SATTN_CONVERSION_MASKSEPARATION_H

#include "sattn/Conversion/MaskToArith.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace sattn {

/// The one quantity a term depends on.
enum class TermDependence { Invariant, Query, Key, Offset };

/// One node of a separated mask. Leaves are terms: a mask value whose
/// element mask depends on one quantity (`predicate` null), or an i1 value
/// of a predicate's body (`predicate` set, `value` inside its body).
struct SeparatedNode {
  enum class Kind { Term, And, Or, Xor, Not, PerHead };
  Kind kind = Kind::Term;
  TermDependence dependence = TermDependence::Invariant; // Term
  mlir::Value value;                                   // Term
  mask::PredicateOp predicate;                         // Term in a body
  llvm::SmallVector<unsigned, 2> children;             // node indices
  llvm::SmallVector<int64_t> headInputs; // PerHead: head h takes children[headInputs[h]]
};

/// A mask as a DAG of SeparatedNodes; `root` is the mask's node. Children
/// precede their parents in `nodes`.
struct SeparatedMask {
  llvm::SmallVector<SeparatedNode> nodes;
  unsigned root = 0;
  unsigned countTerms(TermDependence dependence) const;
  /// The one quantity node `n` depends on, when all its terms agree (or
  /// are invariant); nothing when they mix.
  std::optional<TermDependence> dependenceOf(unsigned n) const;
};

/// The separated form of an expanded mask (see emitElementMask), or nothing
/// when some term depends on q and k other than through q - k.
std::optional<SeparatedMask> separateMask(mlir::Value mask);

/// Emits node `n` of `mask` at env's (b, h, q, k): an i1, as
/// emitElementMask would compute that part of the mask there.
mlir::FailureOr<mlir::Value> emitSeparatedNode(mlir::OpBuilder &builder,
                                               mlir::Location loc,
                                               const SeparatedMask &mask,
                                               unsigned n,
                                               const ElementMaskEnv &env);

/// Combines the values of a non-term node's children (`inputs`, one per
/// child, of integer type `type`: i1 for one pair, a word for many) with the
/// node's op; `head` (index) selects a PerHead node's input.
mlir::Value emitSeparatedCombine(mlir::OpBuilder &builder, mlir::Location loc,
                                 const SeparatedNode &node,
                                 llvm::ArrayRef<mlir::Value> inputs,
                                 mlir::Value head, mlir::Type type);

} // namespace sattn

#endif // SATTN_CONVERSION_MASKSEPARATION_H
