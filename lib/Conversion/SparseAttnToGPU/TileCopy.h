//===- TileCopy.h - global to shared tiles with cp.async ------*- C++ -*-===//
//
// Builders that move row tiles (Q, K, V) from global to shared memory with
// 16-byte `cp.async` copies spread evenly over the block. Where a tile row
// comes from is a callback, which is what lets one copy routine serve
// contiguous KV ranges, strided gathers (a row per gathered key) and the
// query tile alike. Rows without a source (past Lq or Lk, or past the end
// of a gather) are zero-filled without touching global memory, so padded
// K rows score 0 (and are masked) and padded V rows contribute exactly 0.
//
// Copies are grouped with commit/wait-group so a kernel can keep several
// tiles in flight (see the pipelining in GpuAttentionBuilder.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_TILECOPY_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_TILECOPY_H

#include "KernelConfig.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace sattn::gpucodegen {

/// How the calling thread takes part in copying a rows x headDim tile: it
/// copies 16-byte chunk `column / 8` of tile rows firstRow + i * rowsPerPass
/// for i in [0, passes). Row offsets are compile-time constants on purpose:
/// addresses then differ by immediates, instead of per-row registers that
/// LLVM would hoist out of the KV loop and keep live through the MMAs.
struct TileCopySlots {
  mlir::Value firstRow, column; // index
  int64_t rowsPerPass = 0, passes = 0;
};
TileCopySlots emitTileCopySlots(mlir::OpBuilder &b, mlir::Location loc,
                                const KernelConfig &config,
                                mlir::Value threadId, int64_t rows);

/// One destination of a row-tile copy: `global` is a rows x headDim view
/// (memref<?xDxT, strided<[?, 1], offset: ?>>); `shared` a rank-1 shared
/// memref and `sharedTile` the element index of the tile's row 0 in it
/// (rows are KernelConfig::rowStride() elements apart).
struct TileCopyOperand {
  mlir::Value global;
  mlir::Value shared, sharedTile;
};

/// Where the row of pass i comes from: the global row, and an i1 that is
/// false when the row has no source (then it is zero-filled and the global
/// row is not read; it must still be a valid index, e.g. 0).
struct RowSource {
  mlir::Value globalRow, valid;
};

/// Issues the copies of the thread's rows, pass i from `sources[i]`, into
/// every operand (operands share the row mapping, e.g. K and V of one KV
/// tile). Does not commit the group.
void emitAsyncTileCopy(mlir::OpBuilder &b, mlir::Location loc,
                       const KernelConfig &config, const TileCopySlots &slots,
                       llvm::ArrayRef<RowSource> sources,
                       llvm::ArrayRef<TileCopyOperand> operands);

/// Closes the current group of async copies.
void emitCommitGroup(mlir::OpBuilder &b, mlir::Location loc);

/// Waits until at most `pending` committed groups are still in flight.
void emitWaitGroups(mlir::OpBuilder &b, mlir::Location loc, int64_t pending);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_TILECOPY_H
