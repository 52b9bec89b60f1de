//===- Estimators.h - compiled estimators of the dynamic masks -*- C++ -*-===//
//
// A kernel's estimator as generated code, for the GPU (stage kernels next
// to the attention kernel, launched by libsattn_runtime before the device
// plan) and for the CPU (run by the tests against the reference of
// sattn/Core/Estimators.h). It reads Q and K and writes the runtime table
// that sattn-lower-estimators put in place of the dynamic pattern.
//
// Every stage is a loop over independent items, so that a GPU runs one
// thread per item and the CPU a plain loop (as the device plan builder's
// stages); stages are numbered in the order of their kind's names
// (abi::kBlockEstimatorStages, abi::kLineEstimatorStages) and run in the
// order of abi::EstimatorShape::launches().
//
// block_topk runs three stages. With the mean-pool scorer:
//   pool   (batch, head, block, column): the mean of the block's rows of
//          Q (query heads) or K (KV heads) in that column, in f64
//   score  (batch, head, 8 query blocks, key block): the scaled dot
//          products of pooled queries and keys for key blocks at or before
//          each query block, stored as f64 bits in the table's entries
// With the antidiagonal scorer (stride S):
//   pool   (batch, head, query group): the softmax maximum and sum of the
//          group's row of antidiagonal logits
//   score  (batch, head, block pair): the block's attention mass, the
//          group rows' probabilities summed over the groups inside it
// Both:
//   select (batch, head, query block): the selection of docs/ESTIMATORS.md
//          over the row's scores or masses; the row becomes 0 / 1. By count
//          a tile stage (a row per tile, radix passes as vertical_slash's);
//          by mass one item per row
//
// The selection keeps forced blocks (0 and the diagonal), then the others
// in order of rank key (score for top_k, softmax mass for tau), highest
// first and ties to the lower block, while the kept count (mass) is below
// top_k (tau). That order is found without sorting: keys become 64-bit
// integers in the same order and the least key T whose strictly-higher
// keys still leave room is found (by count: eight radix passes; by mass: a
// bisection over the integers, O(64 * blocks) per row); every key above T
// is kept and keys equal to T are taken in block order while room remains.
//
// vertical_slash (VerticalSlashStages.cpp, RadixSelectStages.cpp) scores
// up to Lk columns and Lk diagonals per head, too many for one thread per
// row, so its selection is a radix select spread over keys:
//   row_chunks   tiles (batch, head, rows, chunk of 256 keys): for each
//                row, the maximum and the sum of exp(logit - maximum) of
//                the chunk
//   row_stats    (batch, head, last row): the row's softmax maximum and sum
//   lines        tiles (batch, head, line, keys): the column (line 0) or
//                diagonal (line 1) scores, summed over the last rows, as
//                order codes
//   radix_count  (batch, head, line, key), 8 times: the histogram of the
//                next 8 bits of the codes that share the decided prefix
//   radix_decide (batch, head, line), 8 times: the digit holding the k-th
//                largest code; after 8 passes the threshold code T and how
//                many codes equal to T are still to take
//   tie_count    (batch, head, line, chunk): codes equal to T per chunk
//   select       (batch, head, line, chunk): forced entries, codes above
//                T, and codes equal to T in key order while room remains;
//                the row becomes 0 / 1
//
// stripe (StripeStages.cpp) runs anchors (batch, head, key position), pool
// (batch, head, unit, query block) and compare (batch, head, unit, key).
//
// gate (GateStages.cpp) runs pool (batch, head, block, column: query
// means; key maxima, minima and means), project (side, batch, head, block,
// rotary pair: the weights' projection turned by the rotary embedding),
// logits (batch, head, block pair), score (batch, head, query block: the
// row's softmax) and select (by threshold one item per row; by top_ratio
// block_topk's count selection).
//
// nsa (NsaStages.cpp, NsaTileStages.cpp) runs compress (batch, KV head,
// compressed block, column), stats (tiles: batch, head, window of query
// rows against chunks of compressed keys), importance (tiles: batch, KV
// head, window of query rows, range of selection blocks) and select
// (batch, KV head, position: the group's row of a [B, KV, Lk, blocks]
// table).
//
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_ESTIMATORS_H
#define SATTN_CONVERSION_ESTIMATORS_H

#include "sattn/Plan/EstimatorSpec.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/Builders.h"

#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace sattn::estimator {

/// The stage names of the estimator's kind, and the stage indices in launch
/// order (a stage may run more than once).
llvm::ArrayRef<std::string_view> stageNames(const plan::EstimatorSpec &spec);
std::vector<int> launchOrder(const plan::EstimatorSpec &spec);

/// Reads element (b, h, row, column) of Q (`key` false, h a query head) or
/// K (`key` true, h a KV head) as f64: each target addresses its inputs
/// its own way (GPU: pointers rebased per slice in 64 bits; CPU: memrefs).
using InputLoader = std::function<mlir::Value(
    mlir::OpBuilder &, mlir::Location, bool key, mlir::Value b, mlir::Value h,
    mlir::Value row, mlir::Value column)>;

/// exp of an f64 value: the CPU has libm's; a GPU has no f64 exp
/// instruction, and libdevice is not linked, so it gets emitExpF64.
using ExpBuilder =
    std::function<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::Value)>;

/// exp(x) in f64 from arithmetic alone, within 1 ulp: x = k ln2 + r with
/// |r| <= ln2 / 2 (ln2 split in two parts), exp(r) by its Taylor series to
/// degree 13 (truncation below 1e-17), times 2^k in two steps so that every
/// k of a finite result is exact; NaN stays NaN, overflow gives +inf and
/// underflow 0 through subnormals.
mlir::Value emitExpF64(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// exp(x) of an f64 value through f32: exp2 of round(x) * log2(e) in f32
/// (the GPU lowers it to ex2.approx, relative error about 2^-22), widened
/// back. For estimators whose logits are f32 sums already (tensor-core
/// builds), where emitExpF64's 1 ulp buys nothing and costs its f64
/// arithmetic in every probability.
mlir::Value emitExpThroughF32(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// sin(x) and cos(x) in f64 from arithmetic alone (the GPU's; the CPU uses
/// libm's): x = k pi/2 + r by a four-part Cody-Waite reduction (exact for
/// |x| < 2^20 pi/2), Taylor series of r to degree 19 / 20, the quadrant
/// from k. Returns {sin, cos}.
std::pair<mlir::Value, mlir::Value> emitSinCosF64(mlir::OpBuilder &b, mlir::Location loc,
                                                  mlir::Value x);
/// base^exponent for a constant base > 0, as exp(exponent * ln(base)) with
/// ln(base) and the product carried in two doubles (within 2 ulp of libm's
/// pow for the rotary exponents).
mlir::Value emitPowF64(mlir::OpBuilder &b, mlir::Location loc, double base,
                       mlir::Value exponent);

/// The f64 functions a stage may call beyond arithmetic, per target: exp
/// for the softmax, and for the gate's rotary embedding sin and cos
/// ({sin, cos} of an angle) and pow of a constant base.
struct F64Functions {
  ExpBuilder exp;
  std::function<std::pair<mlir::Value, mlir::Value>(mlir::OpBuilder &, mlir::Location,
                                                    mlir::Value)>
      sinCos;
  std::function<mlir::Value(mlir::OpBuilder &, mlir::Location, double base,
                            mlir::Value exponent)>
      pow;
};

/// What a stage reads (index values unless noted).
struct EstimatorEnv {
  KernelOp kernel;
  plan::EstimatorSpec spec;
  double scale = 0; // the kernel's softmax scale
  mlir::Value lq, lk, batch, blocks;
  InputLoader load;
  /// The same element in the target's input type (`inputType`: the
  /// kernel's dtype on the GPU, f32 on the CPU), for tile buffers.
  InputLoader loadElement;
  mlir::Type inputType;
  ExpBuilder exp;
  std::function<std::pair<mlir::Value, mlir::Value>(mlir::OpBuilder &, mlir::Location,
                                                    mlir::Value)>
      sinCos;
  std::function<mlir::Value(mlir::OpBuilder &, mlir::Location, double, mlir::Value)> pow;
  /// pooled: f64 scratch (abi::EstimatorShape::scratchEntries); table: i64,
  /// the estimated table ([batch, heads, blocks, blocks] for block_topk and
  /// gate, [batch, heads, 2, lk] for vertical_slash, [batch, kv_heads, lk,
  /// blocks] for nsa); weights: f32, the
  /// gate's learned weights (abi::kEstimatorParams), unused by the others.
  mlir::Value pooled, table, weights;
};

/// The environment from the stage parameters' scalars lq, lk, batch (i64),
/// the loaders (`loadElement` gives elements of `inputType`), the target's
/// f64 functions and the three buffers.
EstimatorEnv bindEstimatorParams(mlir::OpBuilder &b, mlir::Location loc,
                                 KernelOp kernel, const plan::EstimatorSpec &spec,
                                 mlir::Value lq, mlir::Value lk, mlir::Value batch,
                                 InputLoader loadElement, mlir::Type inputType,
                                 F64Functions functions, mlir::Value pooled,
                                 mlir::Value table, mlir::Value weights);

/// The number of items of stage `stage` (an index into stageNames), an i64.
mlir::Value emitStageItems(mlir::OpBuilder &b, mlir::Location loc, int stage,
                           const EstimatorEnv &env);

/// Emits the work of `item` (an i64 below emitStageItems) of `stage`.
void emitStageItem(mlir::OpBuilder &b, mlir::Location loc, int stage,
                   const EstimatorEnv &env, mlir::Value item);

/// Tile stages (vertical_slash's row_chunks and lines) are not a loop over
/// independent items: a tile is a sequence of phases that share two tile
/// buffers, each phase a loop over independent items. A GPU runs a tile
/// per block (its threads stride over a phase's items, a barrier ends the
/// phase); the CPU runs the same phases as loops. The buffers are `shared`
/// (f64), `keys` (elements of EstimatorEnv::inputType) and `counts` (i32),
/// of the sizes tileBufferEntries gives.
/// A block of logits for TileRunner::tensorLogits: rows [0, rows) starting
/// at entry `rowsAt` of the key buffer times keys [0, keys) starting at
/// `keysAt`, both `stride` entries apart, summed over `depth` elements.
/// With `loRowsAt` >= 0 the rows are split computed rows (hi at `rowsAt`,
/// lo at `loRowsAt`): each logit sums both rows' products with the key.
struct TensorLogitBlock {
  int64_t rows, keys, depth, stride, rowsAt, keysAt;
  int64_t loRowsAt = -1;
};
/// Receives (row, key, f32 dot product) of a TensorLogitBlock.
using TensorLogitUse = llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value row,
                                               mlir::Value key, mlir::Value dot)>;
/// Fills a TensorLogitBlock's rows and keys for term `t` (an index): phases
/// of the tile, ending at a barrier.
using TensorTermLoad =
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value t)>;
struct TileRunner {
  mlir::Value shared, keys, counts;
  std::function<void(mlir::OpBuilder &, mlir::Location, mlir::Value count,
                     llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value)>)>
      phase;
  /// A phase computing a TensorLogitBlock on tensor cores (mma.sync, f32
  /// sums, each product exact), `use` called once per (row, key) by the
  /// thread that holds it; on the CPU's tensor form
  /// (convert-sattn-to-cpu{tensor-estimators}) the same f32 sums as loops,
  /// in order. Null in exact builds (the default on the CPU,
  /// --exact-estimators on the GPU): the logit phase then sums in f64, in
  /// order, as the references do.
  std::function<void(mlir::OpBuilder &, mlir::Location, const TensorLogitBlock &, TensorLogitUse)>
      tensorLogits;
  /// With tensorLogits: a TensorLogitBlock summed over `terms` loads of its
  /// rows and keys (XAttention's S antidiagonal terms): `load(t)` fills the
  /// buffers for term t, and the terms' products accumulate in f32 (a GPU
  /// keeps them in the mma accumulators across the loads, so the stage
  /// gets each (row, key) once per block rather than once per term).
  std::function<void(mlir::OpBuilder &, mlir::Location, const TensorLogitBlock &, int64_t terms,
                     TensorTermLoad load, TensorLogitUse use)>
      tensorLogitTerms;
  /// With tensorLogits: elements [column, column + kInputVector) of a row of
  /// Q or K (as InputLoader addresses them) as one vector of the input type,
  /// in one 16-byte load; only where `vectorsAligned` (an i1, the same for
  /// the whole launch) says the tensors' addresses and strides allow it.
  InputLoader loadVector;
  mlir::Value vectorsAligned;
};
/// Elements of one TileRunner::loadVector load.
constexpr int64_t kInputVector = 8;
bool isTileStage(const plan::EstimatorSpec &spec, int stage);
/// Entries of a tile stage's buffers (static: the GPU allocates them in
/// shared memory); a buffer of 0 entries is not allocated.
struct TileBuffers {
  int64_t f64Entries = 0, keyEntries = 0, countEntries = 0;
};
/// The buffers of tile stage `stage` for head dimension `headDim`.
TileBuffers tileBufferEntries(const plan::EstimatorSpec &spec, int stage, int64_t headDim);
/// The number of tiles of a tile stage (an i64), and the phases of one.
mlir::Value emitStageTiles(mlir::OpBuilder &b, mlir::Location loc, int stage,
                           const EstimatorEnv &env);
void emitStageTile(mlir::OpBuilder &b, mlir::Location loc, int stage, const EstimatorEnv &env,
                   mlir::Value tile, const TileRunner &run);

} // namespace sattn::estimator

#endif // SATTN_CONVERSION_ESTIMATORS_H
