//===- KernelConfig.cpp - tile shape and shared memory of a GPU kernel ----===//
//
// Default tile shapes per head dimension and the checks that keep user
// overrides within what the building blocks emit: whole m16 warp tiles
// (one or two per warp), KV tiles in multiples of the k16 MMA step, async
// copies that divide evenly among the threads, and shared memory an sm_80
// / sm_90 block can hold.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace sattn::gpucodegen;

/// Opt-in shared memory per block on sm_90 (227 KiB); sm_80 allows 163 KiB,
/// so the defaults stay below that.
static constexpr int64_t kMaxSharedMemoryBytes = 227 * 1024;

FailureOr<KernelConfig>
sattn::gpucodegen::chooseKernelConfig(int64_t headDim, Type elementType,
                                      const TileOverrides &overrides,
                                      std::string &error) {
  if (headDim != 64 && headDim != 128 && headDim != 256) {
    error = llvm::formatv("head_dim {0} is not supported (64, 128 or 256)",
                          headDim);
    return failure();
  }
  if (!elementType.isBF16() && !elementType.isF16()) {
    error = "only bf16 and f16 kernels have a GPU lowering";
    return failure();
  }
  KernelConfig c;
  c.headDim = headDim;
  c.elementType = elementType;
  // mma.sync needs the same tiles for bf16 and f16; only head_dim changes
  // the register budget. 64x64 tiles with 4 warps and 2 stages run two
  // blocks per SM and measured fastest on an H200 among 16-row shapes
  // (bench/RESULTS.md: 128x64 with 8 warps, or a third stage, lose 6-25%;
  // 64x128 spills). Masks that suit 32 rows per warp get 128x32 from
  // TileShapePolicy before this runs. At 256 the accumulator alone
  // takes 128 registers per thread, so Q fragments are reloaded from shared
  // memory per tile and KV tiles shrink to one k16 step (with 32 keys,
  // kernels whose masks read tables spill).
  c.warps = 4;
  c.blockN = headDim == 256 ? 16 : 64;
  c.stages = 2;

  if (overrides.warps < 0 || overrides.blockM < 0 || overrides.blockN < 0 ||
      overrides.stages < 0 || overrides.rowsPerWarp < 0) {
    error = "tile overrides must not be negative";
    return failure();
  }
  if (overrides.rowsPerWarp && overrides.rowsPerWarp != 16 &&
      overrides.rowsPerWarp != 32) {
    error = llvm::formatv("rows-per-warp {0} is not supported (16 or 32: "
                          "one or two m16 MMA tiles)",
                          overrides.rowsPerWarp);
    return failure();
  }
  if (overrides.rowsPerWarp)
    c.rowsPerWarp = overrides.rowsPerWarp;
  int64_t rows = c.rowsPerWarp;
  if (c.mTiles() > 1 && headDim > 128) {
    error = llvm::formatv("rows-per-warp {0} at head_dim {1} needs {1} f32 "
                          "accumulators per thread, more than fit in "
                          "registers",
                          rows, headDim);
    return failure();
  }
  // Two m16 tiles double the accumulators (head_dim f32 per thread at 32
  // rows): Q fragments stay in registers only where they still fit.
  c.qInRegisters = headDim * c.mTiles() <= 128;
  c.prefetchAcrossSegments = c.mTiles() == 1;
  // Two m16 tiles leave no registers for unrolled mask code (ptxas spills).
  c.maskUnroll = c.mTiles() == 1 ? 8 : 1;
  if (overrides.blockM && overrides.blockM % rows != 0) {
    error = llvm::formatv("block-m {0} is not a multiple of {1} (each warp "
                          "owns {1} query rows)",
                          overrides.blockM, rows);
    return failure();
  }
  if (overrides.blockM && overrides.warps &&
      overrides.blockM != rows * overrides.warps) {
    error = llvm::formatv("block-m {0} does not match {1} warps of {2} rows",
                          overrides.blockM, overrides.warps, rows);
    return failure();
  }
  if (overrides.warps)
    c.warps = overrides.warps;
  else if (overrides.blockM)
    c.warps = overrides.blockM / rows;
  c.blockM = rows * c.warps;
  if (c.warps > 16) {
    error =
        llvm::formatv("{0} warps exceed the 1024 threads of a block", c.warps);
    return failure();
  }
  if (overrides.blockN)
    c.blockN = overrides.blockN;
  if (c.blockN % 16 != 0) {
    error = llvm::formatv("block-n {0} is not a multiple of 16 (the k16 "
                          "step of mma.sync)",
                          c.blockN);
    return failure();
  }
  if (overrides.stages)
    c.stages = overrides.stages;
  if (c.stages > 8) {
    error = llvm::formatv("{0} stages are more than the 8 supported", c.stages);
    return failure();
  }
  if (c.chunksPerTile() % c.threads() != 0) {
    error = llvm::formatv("a {0}x{1} KV tile does not split evenly into "
                          "16-byte copies over {2} threads",
                          c.blockN, headDim, c.threads());
    return failure();
  }
  if (c.sharedMemoryBytes() > kMaxSharedMemoryBytes) {
    error = llvm::formatv("the tiles need {0} bytes of shared memory, more "
                          "than the {1} a block can have",
                          c.sharedMemoryBytes(), kMaxSharedMemoryBytes);
    return failure();
  }
  return c;
}
