//===- WarpMma.h - m16n8k16 tensor-core fragments of one warp -*- C++ -*-===//
//
// Builders for the register side of mma.sync attention: where each lane
// reads its part of a 16x16 shared-memory block (ldmatrix), the
// m16n8k16 multiply-accumulate itself, and repacking fp32 accumulators into
// the 16-bit A operand of the next multiply (P of P.V stays in registers).
//
// Fragment layouts (PTX ISA, mma.m16n8k16 with .bf16 / .f16), with
// group = lane / 4 and quad = lane % 4:
//   A (16x16, 4 registers of 2 elements): a0 = (group, 2quad..+1),
//     a1 = (group + 8, 2quad..), a2 = (group, 8 + 2quad..), a3 = (group + 8,
//     8 + 2quad..);
//   B (16x8, 2 registers): b0 = (rows 2quad..+1, column group), b1 = rows
//     8 + 2quad..;
//   C/D (16x8, 4 f32): c0, c1 = (group, 2quad, 2quad + 1), c2, c3 = the same
//     columns of row group + 8.
// Registers are `vector<2xT>` values; accumulators are f32 scalars.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPMMA_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPMMA_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace sattn::gpucodegen {

/// The calling thread's place in its warp, and the per-lane offsets of the
/// two ldmatrix orders below. Computed once per kernel.
struct WarpLanes {
  mlir::Value lane, group, quad; // index
  /// ldmatrix row/column offsets inside a 16x16 block, row halves first.
  mlir::Value rowsFirstRow, rowsFirstCol;
  /// The same with column halves first.
  mlir::Value colsFirstRow, colsFirstCol;
};
WarpLanes emitWarpLanes(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::Value threadId);

/// The order in which the four 8x8 matrices of an x4 ldmatrix cover a 16x16
/// block, i.e. which register ends up holding which quarter.
enum class LdMatrixOrder {
  /// (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15),
  /// (rows 8-15, cols 8-15): an A fragment, or with transpose the B
  /// fragments of two 8-column tiles of a row-major K x N operand (V).
  RowHalvesFirst,
  /// (rows 0-7, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 0-7),
  /// (rows 8-15, cols 8-15): the B fragments of two 8-column tiles of an
  /// N x K row-major operand (K in Q.K^T), registers [b0, b1] per tile.
  ColHalvesFirst,
};

/// ldmatrix.x4 of the 16x16 block at (row0, col0) of `smem` (a shared
/// memref whose last two dimensions are rows and columns; `leading` indexes
/// the others). Returns four `vector<2xT>` registers.
llvm::SmallVector<mlir::Value, 4>
emitLdMatrix16x16(mlir::OpBuilder &b, mlir::Location loc, mlir::Value smem,
                  mlir::ValueRange leading, mlir::Value row0, mlir::Value col0,
                  const WarpLanes &lanes, LdMatrixOrder order, bool transpose);

/// d = a * b + c for one m16n8k16 tile: `a` 4 registers, `bFrag` 2, `c` 4
/// f32. Returns the 4 f32 of d.
llvm::SmallVector<mlir::Value, 4>
emitMma16816(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elementType,
             mlir::ValueRange a, mlir::ValueRange bFrag, mlir::ValueRange c);

/// Rounds two f32 to `elementType` and packs them into one register.
mlir::Value emitPackPair(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Type elementType, mlir::Value x, mlir::Value y);

/// The A fragment of k-step `kk` of an m16 x N product from the accumulator
/// tiles 2kk and 2kk+1 of a 16 x N result (flattened [tile][4]): the
/// FlashAttention-2 reuse of P as the left operand of P.V.
llvm::SmallVector<mlir::Value, 4>
emitAccumulatorAsA(mlir::OpBuilder &b, mlir::Location loc,
                   mlir::Type elementType, mlir::ValueRange acc, int64_t kk);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPMMA_H
