//===- OnlineSoftmax.h - FlashAttention-2 softmax steps -------*- C++ -*-===//
//
// Scalar builders for the online softmax of FlashAttention-2, shared by the
// CPU reference and the GPU kernels (which apply them per register
// fragment). Logits are pre-scaled by scale * log2(e) so that every
// exponential is an `exp2`; running maxima and sums are fp32.
//
// Rows that have seen no kept key keep max = -inf and sum = 0. Every step
// substitutes 0 for a -inf maximum before subtracting it, so such rows
// produce exp2(-inf) = 0 instead of exp2(-inf + inf) = NaN, and the epilogue
// turns them into O = 0 and LSE = -inf.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_ONLINESOFTMAX_H
#define SATTN_CONVERSION_ONLINESOFTMAX_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace sattn {

/// f32 constant scale * log2(e): multiplies q.k to give base-2 logits.
mlir::Value emitLog2Scale(mlir::OpBuilder &b, mlir::Location loc,
                          double scale);

/// f32 -inf, the logit of a dropped pair and the initial row maximum.
mlir::Value emitNegInf(mlir::OpBuilder &b, mlir::Location loc);

/// Combines the running maximum with the maximum of a new tile's logits.
struct RowRescale {
  mlir::Value newMax;  // max(oldMax, tileMax), -inf while nothing is kept
  mlir::Value safeMax; // newMax, or 0 when it is -inf: subtract this one
  mlir::Value alpha;   // exp2(oldMax - safeMax): rescales sum and acc
};
RowRescale emitRowRescale(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value oldMax, mlir::Value tileMax);

/// p = exp2(logit - safeMax); 0 for dropped pairs (logit = -inf).
mlir::Value emitProbability(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value logit, mlir::Value safeMax);

/// Final values of one row from its running maximum (base-2 logits) and sum.
struct RowEpilogue {
  mlir::Value empty;  // i1: the row kept no key
  mlir::Value invSum; // 1 / sum, or 0 for an empty row
  mlir::Value lse;    // natural-log logsumexp of the scaled scores, or -inf
};
RowEpilogue emitRowEpilogue(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value rowMax, mlir::Value rowSum);

/// One output element: acc * invSum, and exactly 0 for an empty row (so
/// that non-finite values in V at dropped keys cannot leak out).
mlir::Value emitOutputElement(mlir::OpBuilder &b, mlir::Location loc,
                              const RowEpilogue &row, mlir::Value acc);

} // namespace sattn

#endif // SATTN_CONVERSION_ONLINESOFTMAX_H
