//===- KernelConfig.cpp - the static shape of one GPU kernel --------------===//
//
// What the building blocks derive from a tile configuration: registers
// decide whether Q fragments stay resident, whether the last KV tile of a
// segment prefetches the next one and how far the mask loop unrolls.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include <cassert>

using namespace mlir;
using namespace sattn::gpucodegen;

KernelConfig sattn::gpucodegen::kernelConfigFor(const plan::TileConfig &tile,
                                                int64_t headDim,
                                                Type elementType) {
  KernelConfig c;
  static_cast<plan::TileConfig &>(c) = tile;
  c.headDim = headDim;
  c.elementType = elementType;
  // Two m16 tiles double the accumulators (head_dim f32 per thread at 32
  // rows): Q fragments stay in registers only where they still fit. At
  // head_dim 256 the accumulator alone takes 128 registers per thread, so Q
  // fragments are reloaded from shared memory per tile.
  c.qInRegisters = headDim * c.mTiles() <= 128;
  c.prefetchAcrossSegments = c.mTiles() == 1;
  // Two m16 tiles leave no registers for unrolled mask code (ptxas spills).
  c.maskUnroll = c.mTiles() == 1 ? 8 : 1;
  assert(c.sharedMemoryBytes() == tile.sharedMemoryBytes(headDim) &&
         "the shared-memory layout and the tile check disagree");
  return c;
}
