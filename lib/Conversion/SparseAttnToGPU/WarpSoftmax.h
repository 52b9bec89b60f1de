//===- WarpSoftmax.h - online softmax on accumulator fragments -*- C++ -*-===//
//
// The FlashAttention-2 softmax steps applied to a warp's 16 x N tile held
// in m16n8 accumulator layout. Each thread holds two rows (group and
// group + 8) and, per 8-column tile, two columns of each; a row is spread
// over the four lanes of a quad. Row maxima are reduced across the quad on
// every tile (they decide the exponent), row sums stay per-thread partial
// sums until the epilogue (every lane of a quad rescales by the same
// factor, so summing at the end is exact).
//
// The scalar steps themselves (rescale factor, probability, epilogue with
// empty rows) come from sattn/Conversion/OnlineSoftmax.h, shared with the
// CPU reference.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPSOFTMAX_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPSOFTMAX_H

#include "sattn/Conversion/OnlineSoftmax.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <array>

namespace sattn::gpucodegen {

/// Element e of an accumulator tile belongs to row half e / 2 (row
/// group + 8 * (e / 2)) and column 2 * quad + e % 2 of its 8-column tile.
inline int64_t rowHalfOf(int64_t e) { return e / 2; }
inline int64_t columnInPairOf(int64_t e) { return e % 2; }

/// Running softmax state of the two rows a thread holds. `max` is the
/// quad-wide maximum of base-2 logits (-inf until a key is kept); `sum` the
/// thread's partial sum over its own columns.
struct RowState {
  std::array<mlir::Value, 2> max, sum;
};

/// The initial state: max = -inf, sum = 0.
RowState emitInitialRowState(mlir::OpBuilder &b, mlir::Location loc);

/// Maximum / sum of `x` over the four lanes of the caller's quad.
/// With `fastMax` the maximum ignores NaN operands (max.f32, one
/// instruction) instead of propagating them (a compare-and-select
/// sequence); a NaN score still makes its row NaN through its exponential.
mlir::Value emitQuadMax(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                        bool fastMax = false);
mlir::Value emitQuadSum(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);
/// Maximum of `x` over the 32 lanes of the warp (NaN-propagating).
mlir::Value emitWarpMax(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// Replaces the scores whose `keep(e, tile)` is false by -inf. `keep`
/// returns an i1, or a null Value for "always kept".
void emitMaskScores(
    mlir::OpBuilder &b, mlir::Location loc,
    llvm::MutableArrayRef<mlir::Value> scores,
    llvm::function_ref<mlir::Value(int64_t tile, int64_t e)> keep);

/// One online-softmax step over a tile of raw scores q.k (masked ones
/// -inf): turns `scores` into probabilities in place and returns the new
/// state together with the factor each row half's accumulators must be
/// multiplied by. `log2Scale` (> 0, the verifier requires a positive scale)
/// converts scores to base-2 logits; it is folded into the exponent,
/// p = exp2(s * log2Scale - max), one FFMA per element instead of a
/// multiply and a subtract, and row maxima are taken over raw scores.
struct SoftmaxStep {
  RowState state;
  std::array<mlir::Value, 2> alpha;
  /// The tile's largest base-2 logit of each row half (quad-wide; -inf
  /// where the tile keeps no key of the row).
  std::array<mlir::Value, 2> tileMax;
};
/// `fastMax` (the sm_90a kernel): NaN-ignoring maxima, reduced as a tree
/// rather than a chain.
SoftmaxStep emitSoftmaxStep(mlir::OpBuilder &b, mlir::Location loc,
                            llvm::MutableArrayRef<mlir::Value> scores,
                            const RowState &old, mlir::Value log2Scale,
                            bool fastMax = false);

/// acc *= alpha[row half] for a flattened [tile][4] accumulator.
void emitRescaleAccumulators(mlir::OpBuilder &b, mlir::Location loc,
                             llvm::MutableArrayRef<mlir::Value> acc,
                             const std::array<mlir::Value, 2> &alpha);

/// Final per-row values (quad-reduces the partial sums).
std::array<RowEpilogue, 2>
emitRowEpilogues(mlir::OpBuilder &b, mlir::Location loc, const RowState &state);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPSOFTMAX_H
