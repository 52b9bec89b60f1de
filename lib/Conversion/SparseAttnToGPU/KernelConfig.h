//===- KernelConfig.h - the static shape of one GPU kernel -----*- C++ -*-===//
//
// The static shape of one generated attention kernel: the tile configuration
// sattn-plan-tiles recorded on the kernel (sattn/Plan/TileConfig.h), what
// the building blocks derive from it (register residency, unrolling) and
// where each operand lives in dynamic shared memory. Made once per kernel,
// then read by every building block, so that the register fragments, the
// async copies and the manifest agree on one set of numbers.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H

#include "sattn/Plan/TileConfig.h"

#include "mlir/IR/Types.h"

#include <cstdint>

namespace sattn::gpucodegen {

/// The tile configuration (block sizes, rows per warp, warps, stages) and
/// what the building blocks derive from it.
struct KernelConfig : plan::TileConfig {
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
    if (family == abi::KernelFamily::Wgmma)
      return TileConfig::sharedMemoryBytes(headDim);
    return keysOffset() + stages * blockN * 4;
  }
  /// 16-byte chunks (8 elements) per row, and per K or V tile.
  int64_t chunksPerRow() const { return headDim / 8; }
  int64_t chunksPerTile() const { return blockN * chunksPerRow(); }
};

/// The shape of a kernel of `headDim` and `elementType` (bf16 or f16) with
/// the tile configuration `tile`, which plan::checkTileConfig accepted.
KernelConfig kernelConfigFor(const plan::TileConfig &tile, int64_t headDim,
                             mlir::Type elementType);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_KERNELCONFIG_H
