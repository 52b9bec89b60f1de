//===- KernelConfig.h - tile shape and shared memory of a GPU kernel -*- C++
//-*-//
//
// The static shape of one generated attention kernel: tile sizes, warps,
// pipeline depth and where each operand lives in dynamic shared memory.
// Chosen once per kernel from (head_dim, dtype) with user overrides, then
// read by every building block, so that the register fragments, the async
// copies and the manifest agree on one set of numbers.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H

#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>

namespace sattn::gpucodegen {

/// Requested values; 0 means "let the lowering choose".
struct TileOverrides {
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0, rowsPerWarp = 0;
};

struct KernelConfig {
  /// Rows of a query tile; every warp owns rowsPerWarp of them.
  int64_t blockM = 64;
  /// Query rows per warp: 16 (one m16 MMA tile) or 32 (two m16 tiles that
  /// share every K and V fragment a warp reads from shared memory, as in
  /// FlashAttention-2; TileShapePolicy picks it where it pays).
  int64_t rowsPerWarp = 16;
  /// Keys of a KV tile.
  int64_t blockN = 64;
  int64_t warps = 4;
  /// KV tiles in flight: tile t + stages - 1 is loaded while t computes.
  int64_t stages = 2;
  int64_t headDim = 128;
  /// bf16 or f16.
  mlir::Type elementType;
  /// Keep the Q operand fragments of a warp in registers for the whole
  /// kernel (FlashAttention-2) instead of reloading them per KV tile.
  bool qInRegisters = true;
  /// The last KV tile of a segment prefetches the first of the next, so
  /// that short segments overlap loads with math. Off with two m16 tiles
  /// per warp: their 128-register accumulators leave no room for the extra
  /// issue path (ptxas spills), and the masks they suit have long segments.
  bool prefetchAcrossSegments = true;
  /// Elements per iteration of the PARTIAL-tile mask loop (1: rolled):
  /// table reads of neighbouring elements then overlap.
  int64_t maskUnroll = 8;

  int64_t threads() const { return 32 * warps; }
  /// m16 MMA tiles per warp.
  int64_t mTiles() const { return rowsPerWarp / 16; }
  /// Shared-memory rows are padded by 16 bytes so that the eight rows one
  /// ldmatrix reads start in different bank groups (no conflicts).
  int64_t rowStride() const { return headDim + 8; }
  int64_t elementBytes() const { return 2; }
  int64_t rowBytes() const { return rowStride() * elementBytes(); }
  /// Byte offsets of the Q tile, the K stages, the V stages and the key
  /// positions of each stage's tile (i32, written for gathered tiles so
  /// that element masks read a key instead of recomputing the lattice).
  int64_t qOffset() const { return 0; }
  int64_t kOffset() const { return blockM * rowBytes(); }
  int64_t vOffset() const { return kOffset() + stages * blockN * rowBytes(); }
  int64_t keysOffset() const {
    return vOffset() + stages * blockN * rowBytes();
  }
  int64_t sharedMemoryBytes() const {
    return keysOffset() + stages * blockN * 4;
  }
  /// 16-byte chunks (8 elements) per row, and per K or V tile.
  int64_t chunksPerRow() const { return headDim / 8; }
  int64_t chunksPerTile() const { return blockN * chunksPerRow(); }
};

/// The configuration for a kernel of `headDim` and `elementType`, with
/// `overrides` applied. Returns an explanation in `error` for shapes the
/// building blocks cannot emit.
mlir::FailureOr<KernelConfig> chooseKernelConfig(int64_t headDim,
                                                 mlir::Type elementType,
                                                 const TileOverrides &overrides,
                                                 std::string &error);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H
