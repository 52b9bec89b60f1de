//===- PlanSegments.h - statuses to segments (private) --------*- C++ -*-===//
//
// The count, scan and write stages of the device plan builder, and the
// helpers the stages share (writing segment rows, a gathered run's Gather
// segments). Private to lib/Conversion/DevicePlan.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H
#define SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace sattn::deviceplan::stages {

inline mlir::Value i32(mlir::OpBuilder &b, mlir::Location loc, int32_t v) {
  return mlir::arith::ConstantIntOp::create(b, loc, v, 32);
}
/// An i64 buffer element as an index, and back.
inline mlir::Value loadIndex(mlir::OpBuilder &b, mlir::Location loc, mlir::Value memref,
                             mlir::Value at) {
  return indexarith::toIndex(b, loc, mlir::memref::LoadOp::create(b, loc, memref, at));
}
inline void storeIndex(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       mlir::Value memref, mlir::Value at) {
  mlir::memref::StoreOp::create(
      b, loc, mlir::arith::IndexCastOp::create(b, loc, b.getI64Type(), v), memref, at);
}

/// Writes segment row `row`: [kind, full, lo, hi, start, period, width]
/// (`full` an i1, the rest index values).
void storeSegmentRow(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                     mlir::Value row, int64_t kind, mlir::Value full, mlir::Value lo,
                     mlir::Value hi, mlir::Value start, mlir::Value period, mlir::Value width);

/// The Gather segments of a run of gathered KV tiles (lattice gathers)
/// that closes before tile `end`, over keys [lo, hi), whose tiles before
/// `fullEnd` have kLatticeFull or kLatticeNone (LatticeGathers.cpp says
/// which): the rows it takes (0, 1 or 2, an index), written from `row` on
/// with `write`.
mlir::Value emitGatheredRun(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                            const LatticeParams &l, mlir::Value lo, mlir::Value hi,
                            mlir::Value end, mlir::Value fullEnd, mlir::Value row, bool write);

/// The Gather segments of period 1 (diagonal bands) of a run of gathered
/// KV tiles [firstTile, endTile) of class `c` and query tile `m`, over keys
/// [lo, hi): the bands of the kept diagonals that cross those keys
/// (DiagonalBands.cpp), or one PARTIAL Range segment of the run's tiles
/// where the bands would visit more tiles than it has. The rows it takes
/// (an index, at most endTile - firstTile), written from `row` on with
/// `write`.
mlir::Value emitBandRun(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                        mlir::Value c, mlir::Value m, mlir::Value firstTile,
                        mlir::Value endTile, mlir::Value lo, mlir::Value hi, mlir::Value row,
                        bool write);

/// Whether the rest of the mask skips a tile or leaves it undecided (its
/// `status`, an i1): the tiles whose column or band bits classify computes.
mlir::Value restLeavesOpen(mlir::OpBuilder &b, mlir::Location loc, mlir::Value status);
/// Where `open` holds, the i32 that `emit` computes from the whole mask's
/// bounds of the tile of `tenv` and whether they keep the whole tile (an
/// i1: every pair kept, and the tile within Lk: a FULL tile); 0 elsewhere.
/// Fails where the bounds or `emit` do.
mlir::FailureOr<mlir::Value> emitFromWholeBounds(
    mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env, const TileMaskEnv &tenv,
    mlir::Value open,
    llvm::function_ref<mlir::FailureOr<mlir::Value>(mlir::OpBuilder &, mlir::Location,
                                                    const TileTruth &whole,
                                                    mlir::Value wholeFull)>
        emit);

/// The absolute query positions [qLo, qHi] (inclusive) of query tile `m`.
std::pair<mlir::Value, mlir::Value> queryTileSpan(mlir::OpBuilder &b, mlir::Location loc,
                                                  const PlanBuilderEnv &env, mlir::Value m);

/// With column lists, where `counts` holds the listed keys (after the
/// column bounds): a count per piece (C * T * P), then a total per row
/// (C * T, zeroed by classify).
mlir::Value pieceColumnsBase(mlir::OpBuilder &b, mlir::Location loc,
                             const PlanBuilderEnv &env);
mlir::Value rowColumnsBase(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env);

/// Count item (class, query tile, piece): the segments starting in the
/// piece, stored and added to the query tile's total.
void emitCountItem(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                   mlir::Value item);
/// Scan item (class): its class index entries and offsets.
void emitScan(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
              mlir::Value c);
/// Write item (class, query tile, piece): the segments starting in the piece.
void emitWriteItem(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                   mlir::Value item);

} // namespace sattn::deviceplan::stages

#endif // SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H
