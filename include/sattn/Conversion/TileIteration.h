//===- TileIteration.h - walking a flat tile plan in generated code -*- C++ -*-//
//
// Builders for the part of an attention kernel that reads the tile plan
// (`plan::FlatPlan`): loading one segment row, counting the KV tiles of a
// segment, and addressing the keys of one KV tile, for ranges of whole KV
// tiles, and for strided gathers and key lists packed BN keys at a time. The formulas
// mirror `plan::Segment` (numKeys, numTiles, gatheredKey) so the kernels
// visit exactly the keys the planner meant. The CPU reference and the GPU
// kernels share them; only where the keys go (a buffer, registers, async
// copies) differs.
//
// Keys never leave [0, Lk): ranges are clipped to ceil(Lk / BN) tiles (a
// ragged last tile has fewer than BN keys) and gathers to keys below Lk, so
// a plan built for another length cannot make a kernel read out of bounds
// as long as lo >= 0, period >= 1 and 1 <= width <= period. Key lists are
// read as they are: the planner writes keys below Lk, and the CPU path
// checks every list before it runs.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_TILEITERATION_H
#define SATTN_CONVERSION_TILEITERATION_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace sattn {

/// One row of the plan's segment table, as index values (flags as i1).
/// `isGather` holds for Gather and List segments (both pack keys into
/// tiles), `isList` for List segments only; `table` is the segment buffer,
/// which also holds the key pool of List segments.
struct SegmentRecord {
  mlir::Value isGather, isList, isFull;
  mlir::Value lo, hi, start, period, width;
  mlir::Value table;
};

/// Loads row `row` of `segments` (memref<?x7xi64>, fields in the order of
/// plan::FlatPlan: kind, full, lo, hi, start, period, width).
SegmentRecord emitLoadSegment(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value segments, mlir::Value row);

/// The lattice of a Gather segment, clipped to keys below Lk, in the form
/// `plan::Segment::gatheredKey` uses: `base` is the residue-0 key at or
/// below lo, `skip` the members in [base, lo), `count` the keys visited.
/// For a List segment `base` is the flat index of its first key in `pool`
/// (the segment buffer), `skip` 0 and `count` the list's length.
struct GatherCursor {
  mlir::Value base, skip, period, width, count;
  mlir::Value isList, pool;
};
GatherCursor emitGatherCursor(mlir::OpBuilder &b, mlir::Location loc,
                              const SegmentRecord &seg, mlir::Value lk);

/// Key position of the j-th gathered key of the segment.
mlir::Value emitGatheredKey(mlir::OpBuilder &b, mlir::Location loc,
                            const GatherCursor &cursor, mlir::Value j);

/// The KV tiles of a Range segment, clipped to ceil(Lk / BN) tiles
/// (meaningless for other kinds).
mlir::Value emitRangeTileCount(mlir::OpBuilder &b, mlir::Location loc,
                               const SegmentRecord &seg, mlir::Value lk,
                               int64_t blockN);

/// How a segment splits into KV tiles of BN keys: ranges clipped to
/// ceil(Lk / BN) tiles, gathers ceil(count / BN). Computed once per segment
/// so that the per-tile code (and the FULL path in particular) holds only
/// key arithmetic. `gather` is meaningful for Gather segments only.
struct SegmentTiles {
  mlir::Value numTiles;
  GatherCursor gather;
};
SegmentTiles emitSegmentTiles(mlir::OpBuilder &b, mlir::Location loc,
                              const SegmentRecord &seg, mlir::Value lk,
                              int64_t blockN);

/// Writes the key positions of KV tile `t` (0-based within the segment)
/// into `keys` (memref<BNxindex>) and returns how many there are (<= BN).
mlir::Value emitTileKeys(mlir::OpBuilder &b, mlir::Location loc,
                         const SegmentRecord &seg, const SegmentTiles &tiles,
                         mlir::Value t, mlir::Value lk, int64_t blockN,
                         mlir::Value keys);

} // namespace sattn

#endif // SATTN_CONVERSION_TILEITERATION_H
