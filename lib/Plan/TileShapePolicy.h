//===- TileShapePolicy.h - tile shape of a kernel from its mask -*- C++ -*-===//
//
// Tile sizes depend on the mask, not only on head_dim: 128x32 tiles with
// two m16 tiles per warp (every K/V fragment a warp loads serves 32 query
// rows) run dense-like masks ~15% faster than 64x64 tiles with one, but
// visit many more keys of masks made of small blocks. The policy asks the
// planner which shape visits fewer tiles.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_PLAN_TILESHAPEPOLICY_H
#define SATTN_LIB_PLAN_TILESHAPEPOLICY_H

#include "sattn/Plan/TileConfig.h"

#include <cstdint>

namespace sattn {
struct MaskProgram;
} // namespace sattn

namespace sattn::plan {

/// Whether a kernel of `headDim` with the mask `program` that the user gave
/// no tile options gets 32 rows per warp and
/// 32-key tiles (128x32 with 4 warps) instead of the per-head_dim default:
/// head_dim 128 kernels whose mask combines at most five bands and sinks
/// (strides, larger masks, tables and predicates need registers the two m16
/// tiles leave no room for) when the 128x32 plan at L = 8192 visits at most
/// 10% more tiles than the 64x64 one.
bool prefersTallTiles(const MaskProgram &program, int64_t headDim);

/// How the sm_90a kernel would plan `program`, if it is expected to beat
/// the portable one (tiles of `portableTiles`, gathered keys).
enum class HopperPlanForm {
  /// The portable kernel: the Hopper plan covers more than 1.3x the pairs
  /// of the portable plan at L = 8192, even with gathers.
  None,
  /// Whole tiles of `hopperTiles` only (TMA boxes).
  Ranges,
  /// Gather and List segments too: gathered keys cut the Hopper plan's
  /// tiles by at least a tenth (token strides such as S2 and dilated,
  /// 64-token power blocks).
  Gathers,
};
/// Masks that read tables are planned at run time: they get the Hopper
/// kernel with Range plans, or with gathers where a predicate reads a
/// per-token table (global tokens, vertical columns: key lists).
/// `gathersFit`: the kernel's registers leave the producer room for
/// gathered copies (not at head_dim 256, whose consumers need 240).
HopperPlanForm chooseHopperPlanForm(const MaskProgram &program,
                                    const TileConfig &hopperTiles,
                                    const TileConfig &portableTiles,
                                    bool gathersFit);

} // namespace sattn::plan

#endif // SATTN_LIB_PLAN_TILESHAPEPOLICY_H
