//===- CpuPlanWalk.h - the plan walk of the CPU functions -------*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToCPU. The forward (@NAME_cpu) and
// backward (@NAME_bwd_cpu) CPU functions walk the tile plan the same way
// (batch, head, query tile, then the segments of the tile's class) and
// compute the scores of a query tile against a KV tile the same way, so
// that the backward recomputes exactly the probabilities the forward
// normalised: log2(e) * scale * q . k per pair, -inf where a PARTIAL
// tile's element mask drops the pair.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOCPU_CPUPLANWALK_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOCPU_CPUPLANWALK_H

#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/TileIteration.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"

namespace sattn::cpu {

/// scf.for over [0, n) carrying one value; `body` returns its next value.
mlir::Value
reduce(mlir::OpBuilder &b, mlir::Location loc, mlir::Value n, mlir::Value init,
       llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                      mlir::Value, mlir::Value)>
           body);

/// sum over d < headDim of x[xAt..., d] * y[yAt..., d] (f32).
mlir::Value emitDot(mlir::OpBuilder &b, mlir::Location loc, mlir::Value headDim,
                    mlir::Value x, mlir::ValueRange xAt, mlir::Value y,
                    mlir::ValueRange yAt);

/// The (batch, head, query tile) a tile body works on: rows
/// [row0, row0 + rows) of head h, whose KV head is kvh.
struct TileContext {
  mlir::Value b, h, kvh, row0, rows;
};

/// The sizes of one call (index values), read from Q (B, H, Lq, D) and K
/// (KV_H, Lk): query heads per KV head, ceil(Lq / BM) query tiles, and the
/// shift Lk - Lq from a query row to its absolute position.
struct ProblemSizes {
  mlir::Value batch, heads, lq, headDim, kvHeads, lk, group, numQueryTiles,
      queryShift;
};
ProblemSizes emitProblemSizes(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value q, mlir::Value k, int64_t blockM);

/// The kernel's tables, bound to the entry block's arguments from
/// `firstTableArg` on, with their extents for this call.
llvm::StringMap<TableBinding> bindTables(mlir::OpBuilder &b, mlir::Location loc,
                                         KernelOp kernel, mlir::Block &entry,
                                         unsigned firstTableArg,
                                         const ProblemSizes &sizes);

/// for b, for h, for query tile m: `body(tile, class of (b, h), m)`, the
/// class read from `classIndex`.
void emitQueryTileLoops(
    mlir::OpBuilder &b, mlir::Location loc, const ProblemSizes &sizes,
    mlir::Value classIndex, int64_t blockM,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location,
                            const TileContext &, mlir::Value, mlir::Value)>
        body);

/// for each segment of (class `cls`, query tile `m`): `body(segment, its
/// tiles)`, within an scf.if on FULL (`partial` false) or PARTIAL.
void emitSegmentLoop(
    mlir::OpBuilder &b, mlir::Location loc, const ProblemSizes &sizes,
    mlir::Value segments, mlir::Value offsets, mlir::Value cls, mlir::Value m,
    int64_t blockN,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location,
                            const SegmentRecord &, const SegmentTiles &, bool)>
        body);

/// What the score loops read: Q and K (fp32 memrefs), Lk and head_dim
/// (index), the query position shift Lk - Lq, log2(e) * scale (f32), the
/// mask's tables, and the scratch they write: `scores` (BM x BN f32) for
/// the key positions in `keys` (BN index).
struct TileScoreOperands {
  KernelOp kernel;
  mlir::Value q, k, lk, headDim, queryShift, log2Scale;
  mlir::Value scores, keys;
  const llvm::StringMap<TableBinding> *tables = nullptr;
};

/// scores[i, j] for the tile's rows and the first `numKeys` keys; with
/// `partial` the element mask sends dropped pairs to -inf. Fails when the
/// mask cannot be emitted (reported on the mask op).
mlir::LogicalResult emitTileScores(mlir::OpBuilder &b, mlir::Location loc,
                                   const TileScoreOperands &ops,
                                   const TileContext &tile,
                                   mlir::Value numKeys, bool partial);

} // namespace sattn::cpu

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOCPU_CPUPLANWALK_H
