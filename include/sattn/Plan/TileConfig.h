//===- TileConfig.h - the tile configuration of a kernel --------*- C++ -*-===//
//
// The compile-time decision that ties the plan to the kernel: how many query
// rows and keys a tile holds, and how the GPU kernel covers a tile (warps,
// rows per warp, KV tiles in flight). `sattn-plan-tiles` makes it once per
// kernel and records it in the IR as `sattn.tile_plan`; the GPU conversion
// reads it from there, the manifest carries it, and the runtime plans with
// the same block sizes. Keeping the decision in one place (not inside a
// conversion) is what lets every later stage agree without re-deriving it.
//
// Two kernel families sit behind the same record: the portable kernel
// (mma.sync m16n8k16, cp.async ring of K/V tiles in shared memory, any
// sm_80+ device) and the Hopper kernel (sm_90a: TMA boxes into an mbarrier
// ring, wgmma, one producer and two consumer warpgroups), which
// `sattn-plan-tiles{chip=sm_90a}` picks where it applies.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PLAN_TILECONFIG_H
#define SATTN_PLAN_TILECONFIG_H

#include "sattn/Core/KernelAbi.h"

#include "mlir/IR/Attributes.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sattn {
class KernelOp;
struct MaskProgram;
} // namespace sattn

namespace sattn::plan {

/// Values a user asks for; 0 means "let sattn-plan-tiles choose".
struct TileRequest {
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0, rowsPerWarp = 0;
  /// The target is sm_90a: use the Hopper kernel where it applies (head_dim
  /// 64, 128 or 256, no tile option other than `stages`, a mask it is
  /// expected to win on), the portable kernel elsewhere.
  bool hopper = false;
  /// The kernel also gets a backward pass, which plans with the forward's
  /// tiles: at head_dim 256 the Hopper forward's 128 x 64 tiles leave its
  /// backward no room in shared memory, so such kernels stay portable.
  bool backward = false;
  /// The kernel writes block maxima (`block_max`): the portable kernel over
  /// Range-only plans (a maximum per KV tile needs the tile's keys to be one
  /// block), in the default square tiles unless tile options say otherwise.
  bool blockMax = false;
  bool empty() const { return !stages && onlyStages(); }
  bool onlyStages() const {
    return !blockM && !blockN && !warps && !rowsPerWarp;
  }
};

/// One kernel's tile configuration.
struct TileConfig {
  abi::KernelFamily family = abi::KernelFamily::MmaSync;
  /// Query rows of a tile: rowsPerWarp rows for each of `warps` warps.
  int64_t blockM = 64;
  /// Keys of a KV tile.
  int64_t blockN = 64;
  /// 16 (one m16 MMA tile per warp) or 32 (two, sharing every K and V
  /// fragment the warp reads).
  int64_t rowsPerWarp = 16;
  int64_t warps = 4;
  /// KV tiles in flight in the shared-memory ring.
  int64_t stages = 2;
  /// The Hopper kernel only: its plans may hold Gather and List segments,
  /// whose keys the producer warpgroup loads row by row (cp.async) into the
  /// same ring the TMA boxes fill. Chosen where gathered keys shrink the
  /// plan (token strides, small power blocks); the portable kernel always
  /// reads them.
  bool gathers = false;
  /// The portable kernel of a `block_max` kernel: its plans hold Range
  /// segments only (TileRequest::blockMax).
  bool rangeOnly = false;

  /// Bytes of dynamic shared memory the portable kernel needs: the Q tile,
  /// `stages` K and V tiles with rows padded by 16 bytes (conflict-free
  /// ldmatrix), and one i32 key position per row of each stage.
  /// The Hopper kernel's layout: 1 KiB of slack to align the base to the
  /// 128-byte swizzle's 1024-byte atom, unpadded Q, K and V tiles (TMA
  /// boxes), and one 8-byte mbarrier for Q and four (K and V, full and
  /// empty) per stage, then with gathers one i32 key position per key of
  /// each stage.
  int64_t sharedMemoryBytes(int64_t headDim) const {
    if (family == abi::KernelFamily::Wgmma)
      return 1024 + (blockM + 2 * stages * blockN) * headDim * 2 +
             8 * (1 + 4 * stages) + (gathers ? 4 * stages * blockN : 0);
    int64_t rowBytes = (headDim + 8) * 2;
    return (blockM + 2 * stages * blockN) * rowBytes + stages * blockN * 4;
  }
  /// The plan form the kernel reads: Gather and List segments as well as
  /// Range ones, except for a Hopper kernel built without gathers (it loads
  /// KV tiles only as whole TMA boxes) and a range-only portable kernel.
  bool planGathers() const {
    return family == abi::KernelFamily::MmaSync ? !rangeOnly : gathers;
  }
};

/// The Hopper kernel's tiles at `headDim` (64, 128 or 256): 128 x 128
/// (128 x 64 at 256), two consumer warpgroups of 64 rows (16 per warp) and a
/// producer warpgroup, `stages` ring stages (0: the default, 2).
TileConfig hopperTileConfig(int64_t headDim, int64_t stages = 0);
/// The portable kernel's default tiles at `headDim`.
TileConfig portableTileConfig(int64_t headDim);

/// Most dynamic shared memory a block may opt into on sm_90 (227 KiB).
constexpr int64_t kMaxSharedMemoryBytes = 227 * 1024;

/// The configuration for a kernel of `headDim` whose mask compiled to
/// `program`, with `request` applied: per-head_dim defaults, refined from
/// the mask when the request is empty (tall 128x32 tiles where the mask's
/// plan visits barely more tiles than with 64x64; TileShapePolicy.cpp says
/// why), then checked against what the portable kernel can emit. Fails with
/// an explanation in `error`.
mlir::FailureOr<TileConfig> chooseTileConfig(int64_t headDim,
                                             const MaskProgram &program,
                                             const TileRequest &request,
                                             std::string &error);

/// Checks `config` against what its kernel family can emit for head_dim
/// `headDim`; returns an explanation, or "" when it can be emitted.
std::string checkTileConfig(const TileConfig &config, int64_t headDim);

/// The attribute sattn-plan-tiles writes on each kernel.
constexpr llvm::StringLiteral kTilePlanAttrName = "sattn.tile_plan";

/// Records `config` on `kernel` as `sattn.tile_plan`, with the planning
/// tiers the mask needs and its number of distinct per-head plans.
void recordTilePlan(KernelOp kernel, const TileConfig &config,
                    llvm::ArrayRef<std::string> tiers, int64_t headClasses);

/// The configuration recorded on `kernel`. Emits an error on the kernel when
/// there is none (sattn-plan-tiles did not run), or it is malformed or fails
/// checkTileConfig (IR written by hand).
mlir::FailureOr<TileConfig> readTilePlan(KernelOp kernel);

} // namespace sattn::plan

#endif // SATTN_PLAN_TILECONFIG_H
