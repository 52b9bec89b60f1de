//===- LogitTiles.h - logits of tile rows against a key window --*- C++ -*-===//
//
// The two phases every logit tile stage runs (vertical_slash's row_chunks
// and lines, stripe's anchors and compare, the antidiagonal scorer's pool
// and score): a block loads a few rows (query rows in their own type next
// to the keys, computed rows such as pooled means as f64) and a window of
// keys (in their own type) into shared memory once, and each thread
// computes a small column of logits from there, every dot product summed
// over the head dimension in order, as the references do. Why shared: item
// by item, each logit re-read its rows from global memory (32 different key
// rows per warp load), 10-100x slower. Where the runner has tensor cores
// (TileRunner::tensorLogits, GPU kernels compiled without exact
// estimators) the logits of query rows come from mma.sync instead: exact
// products, sums in f32 (docs/ESTIMATORS.md, "Exact and tensor-core
// logits").
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_ESTIMATORS_LOGITTILES_H
#define SATTN_LIB_CONVERSION_ESTIMATORS_LOGITTILES_H

#include "StageBuilders.h"

namespace sattn::estimator::stages {

/// The fewest rows a tile computes on tensor cores: tiles of a few rows (the
/// antidiagonal scorer's row at a time) keep the f64 sums, since an m16
/// block would mostly multiply padding (and its registers spilled there).
constexpr int64_t kTensorRowsAtLeast = 8;

/// A tile's sizes: `rows` rows against a window of `keys` keys, each thread
/// item a column of `microRows` rows by one key. Rows in the key buffer are
/// `keyStride` entries apart: padded for the f64 sums' column reads, or, in
/// a kernel whose estimator computes tensor logits and a tile with enough
/// rows, for the mma fragments' reads (abi::kEstimatorTensorKeyPad).
struct LogitTile {
  int64_t rows, keys, headDim, keyStride, microRows;
  /// Computed f64 rows (pooled means) go to tensor cores too, each as two
  /// rows of the input type, hi = round(v) and lo = round(v - hi), whose
  /// products with a key are summed (about 16 significant bits per row
  /// element instead of 8); the stage reserves their room. Without it such
  /// rows keep the f64 sums.
  bool splitRows = false;
  LogitTile(abi::EstimatorTile t, int64_t headDim, bool tensorLogits);
  /// f64 buffer: the rows (rows x headDim) first, then the stage's own.
  int64_t rowEntries() const { return rows * headDim; }
  /// The key buffer's entries of the keys.
  int64_t keyEntries() const { return keys * keyStride; }
  /// Whether, in a kernel whose estimator computes tensor logits, the tile's
  /// input rows are multiplied on tensor cores (enough rows).
  bool tensorRows(bool tensorLogits) const { return tensorLogits && rows >= kTensorRowsAtLeast; }
  /// Such rows follow the keys in the key buffer, in the input type, padded
  /// as keys are.
  int64_t inputRowsAt() const { return keyEntries(); }
  /// The block of logits of the rows on tensor cores against the keys.
  TensorLogitBlock tensorBlock() const {
    TensorLogitBlock block{rows, keys, headDim, keyStride, inputRowsAt(), 0};
    if (splitRows)
      block.loRowsAt = inputRowsAt() + rows * keyStride;
    return block;
  }
  /// The key buffer's entries: keys, then the rows on tensor cores (twice
  /// as many with splitRows: hi rows, then lo rows).
  int64_t keyBufferEntries(bool tensorLogits) const {
    int64_t copies = tensorRows(tensorLogits) ? (splitRows ? 2 : 1) : 0;
    return keyEntries() + copies * rows * keyStride;
  }
};

/// The (batch, head) slice of a tile, and the KV head it reads.
struct TileSlice {
  Value index, batch, head, kvHead;
  TileSlice(OpBuilder &b, Location loc, const EstimatorEnv &env, Value slice);
};

/// Element `column` of tile row `row` as f64 (0 for a row that does not
/// exist); null: the phase loads no rows.
using TileRowValue = function_ref<Value(OpBuilder &, Location, Value row, Value column)>;

/// A phase that loads the tile's computed f64 rows (if `rowValue`: pooled
/// means, say) into the f64 buffer (on tensor cores with `ts.splitRows`: as
/// hi and lo rows of the input type after the keys) and keys [k0, k0 +
/// keys) of the slice's KV head (if `keys`) into the key buffer; keys
/// outside the sequence are 0. With `keyStep`, window key w is key k0 + w *
/// keyStep.
void emitTileLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                       const LogitTile &ts, const TileSlice &sl, TileRowValue rowValue, Value k0,
                       bool keys = true, int64_t keyStep = 1);

/// The same with a window of query rows instead of keys (nsa's tiles, whose
/// rows are compressed keys): window entry w is query row `firstRow + w` of
/// the slice's head, zeros past lq. The logits are then those of the rows
/// against these queries.
void emitTileQueryWindowLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                                  const TileRunner &run, const LogitTile &ts, const TileSlice &sl,
                                  TileRowValue rowValue, Value firstRow);

/// Where tile row `r` of a query tile reads: query row `row` of the slice
/// (a valid row either way), or zeros where `inside` is false.
struct QueryRowRef {
  Value row, inside;
};
using TileQueryRow = function_ref<QueryRowRef(OpBuilder &, Location, Value tileRow)>;

/// The same for rows that are query rows (inputs): as f64 for the in-order
/// sums, or in the input type after the keys for tensor cores (16-byte
/// loads of whole row pieces where the runner and the launch allow).
void emitTileQueryLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                            const TileRunner &run, const LogitTile &ts, const TileSlice &sl,
                            TileQueryRow queryRow, Value k0, bool keys = true,
                            int64_t keyStep = 1);

/// The f64 of query row `row` of the slice's head, column `column`, or 0
/// when `inside` is false (`row` must be a valid row either way).
Value queryValue(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileSlice &sl,
                 Value row, Value inside, Value column);

/// A phase computing the logits scale * row_r . k_w of the loaded tile: each
/// item is `microRows` rows by one window key, its dot product summed over
/// the head dimension in order; `use(row in tile, w, logit)` consumes them.
/// `inputRows`: the rows were loaded as inputs (their products with a key
/// are exact in f64, so a fused multiply-add rounds as multiply then add);
/// false for computed f64 rows (pooled means), whose products round. Where
/// the runner has tensor cores and the tile enough rows, the sums are f32
/// instead (computed rows only with `ts.splitRows`, as hi + lo rows).
/// `scaled` false: `use` gets the plain dot products.
void emitTileLogitPhase(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                        const LogitTile &ts, bool inputRows,
                        function_ref<void(OpBuilder &, Location, Value, Value, Value)> use,
                        bool scaled = true);

/// Entries between rows of a tile's dot products in the f64 buffer where
/// there is room: one more than the keys. An mma hand-over's 32 lanes
/// store rows g < 8 at key pairs 2c (c < 4); rows of 64 f64 entries are 0
/// modulo 32 banks apart, which puts 8 lanes on a bank pair, rows of 65
/// at most 2 in a half-warp's store.
inline int64_t paddedDotRow(int64_t keys) { return keys + 1; }

/// The loaded tile's plain dot products row_r . k_w (as emitTileLogitPhase
/// sums them) left in the f64 buffer at entry `dotsAt + r * rowStride + w`.
/// On tensor cores the lanes holding the sums store them there themselves
/// (no landing area in the row space, no second phase to hand them over).
void emitTileDotPhase(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                      const LogitTile &ts, bool inputRows, int64_t dotsAt, int64_t rowStride);

} // namespace sattn::estimator::stages

#endif // SATTN_LIB_CONVERSION_ESTIMATORS_LOGITTILES_H
