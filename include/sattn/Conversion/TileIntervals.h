//===- TileIntervals.h - a mask decided for a whole tile ------*- C++ -*-===//
//
// Emits code that decides a mask for every pair of a tile at once, from
// interval bounds rather than from its elements: for query positions
// [qLo, qHi] and key positions [kLo, kHi] of one (batch, head), whether
// some pair may be kept and whether every pair is kept, and where it can
// tell, whether some pair surely is kept or dropped. Integer values of
// predicate bodies become intervals (with overflow making them unbounded,
// so that the wrap-around of the mask contract is never reasoned about),
// table reads become the minimum and maximum of the table over the box the
// index intervals span (read element by element up to a cap), and every op
// the emitter has no rule for is "unknown". The answer is therefore always
// sound, never wrong, and exact wherever the tile is decided; the device
// plan builder resolves the undecided tiles element by element.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_TILEINTERVALS_H
#define SATTN_CONVERSION_TILEINTERVALS_H

#include "sattn/Conversion/MaskToArith.h"

namespace sattn {

/// The tile a mask is decided on (index values) and what it may read.
struct TileMaskEnv {
  mlir::Value b, h;        // one batch element and query head
  mlir::Value qLo, qHi;    // absolute query positions, inclusive, qLo <= qHi
  mlir::Value kLo, kHi;    // key positions, inclusive, kLo <= kHi
  mlir::Value lk;          // the key length (tail_queries)
  llvm::StringMap<TableBinding> tables;
  /// Optional: chunk summaries (i64 memref of (min, max) pairs per
  /// abi::kSummaryChunk entries) and, per table, the index of its first
  /// chunk. With them a long table range costs a few reads.
  mlir::Value summaries;
  llvm::StringMap<mlir::Value> summaryBase;
};

/// What the emitted code knows about the tile (i1 values): `may` is false
/// only if no pair of the tile is kept, `must` true only if every pair is;
/// `someKept` true only if some pair is kept, `someDropped` only if some
/// pair is dropped (a tile with both is PARTIAL, whatever its other pairs).
struct TileTruth {
  mlir::Value may, must, someKept, someDropped;
};

/// Table boxes larger than this many elements are not read: their lookups
/// are unknown.
constexpr int64_t kTileLookupCap = 4096;

/// Emits the decision of `mask` (an expanded `!mask.mask`, as for
/// emitElementMask) over the tile of `env`.
mlir::FailureOr<TileTruth> emitTileDecision(mlir::OpBuilder &builder,
                                            mlir::Location loc,
                                            mlir::Value mask,
                                            const TileMaskEnv &env);

} // namespace sattn

#endif // SATTN_CONVERSION_TILEINTERVALS_H
