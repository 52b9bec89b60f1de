//===- StageBuilders.h - shared builders of the estimator stages -*- C++ -*-===//
//
// The scalar f64 / i64 code, slice sizes and loops that every estimator
// stage writes (BlockSelectStages.cpp: mean pool and selection;
// AntidiagonalStages.cpp: XAttention's scorer), so that the stage files
// spell them the same way.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_ESTIMATORS_STAGEBUILDERS_H
#define SATTN_LIB_CONVERSION_ESTIMATORS_STAGEBUILDERS_H

#include "sattn/Conversion/Estimators.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

namespace sattn::estimator::stages {

using namespace mlir;
using namespace sattn::indexarith;
using arith::CmpFPredicate;
using arith::CmpIPredicate;

/// Builders of the f64 and i64 scalar code of the stages.
struct Scalar {
  OpBuilder &b;
  Location loc;

  Value f64(double v) { return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v)); }
  Value i64(int64_t v) { return arith::ConstantIntOp::create(b, loc, v, 64); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value fcmp(CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value icmp(CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value toF64(Value index) {
    return arith::SIToFPOp::create(
        b, loc, b.getF64Type(), arith::IndexCastOp::create(b, loc, b.getI64Type(), index));
  }
  Value bitsOf(Value f) { return arith::BitcastOp::create(b, loc, b.getI64Type(), f); }
  Value doubleOf(Value bits) { return arith::BitcastOp::create(b, loc, b.getF64Type(), bits); }
  Value loadAt(Value buffer, Value index) {
    return memref::LoadOp::create(b, loc, buffer, ValueRange{index});
  }
  void storeAt(Value v, Value buffer, Value index) {
    memref::StoreOp::create(b, loc, v, buffer, ValueRange{index});
  }

  /// An unsigned 64-bit integer in the order of the rank key `x`: NaN ranks
  /// below every number (as -inf) and -0 equals +0, as in the reference.
  Value orderCode(Value x) {
    Value isNan = fcmp(CmpFPredicate::UNO, x, x);
    Value key = fadd(select(isNan, f64(-std::numeric_limits<double>::infinity()), x),
                     f64(0.0));
    Value bits = bitsOf(key);
    Value negative = icmp(CmpIPredicate::slt, bits, i64(0));
    Value signedOrder = select(
        negative, arith::XOrIOp::create(b, loc, bits, i64(std::numeric_limits<int64_t>::max())),
        bits);
    return arith::XOrIOp::create(b, loc, signedOrder, i64(std::numeric_limits<int64_t>::min()));
  }
  /// The rank key back from its code.
  Value keyOf(Value code) {
    Value signedOrder =
        arith::XOrIOp::create(b, loc, code, i64(std::numeric_limits<int64_t>::min()));
    Value negative = icmp(CmpIPredicate::slt, signedOrder, i64(0));
    return doubleOf(select(
        negative,
        arith::XOrIOp::create(b, loc, signedOrder, i64(std::numeric_limits<int64_t>::max())),
        signedOrder));
  }
};

/// Sizes of a kernel's slices as index constants and values.
struct Shape {
  Value heads, kvHeads, group, headDim, block, shift, pooledKeysAt;
  Shape(OpBuilder &b, Location loc, const EstimatorEnv &env) {
    KernelOp k = env.kernel;
    heads = cst(b, loc, k.getHeads());
    kvHeads = cst(b, loc, k.getKvHeads());
    group = cst(b, loc, k.getHeads() / k.getKvHeads());
    headDim = cst(b, loc, k.getHeadDim());
    block = cst(b, loc, env.spec.block);
    shift = sub(b, loc, env.lk, env.lq);
    pooledKeysAt = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, heads), env.blocks), headDim);
  }
};

/// Splits `index` into digits of the given radices, least significant first;
/// the last digit takes the rest.
inline SmallVector<Value> unflatten(OpBuilder &b, Location loc, Value index, ArrayRef<Value> radices) {
  SmallVector<Value> digits;
  for (Value r : radices) {
    digits.push_back(rem(b, loc, index, r));
    index = div(b, loc, index, r);
  }
  digits.push_back(index);
  return digits;
}

/// Values an iteration of an unrolled in-order fold (innermost folds over
/// loads: their loads issue together, the fold still takes them one by one;
/// LLVM's NVPTX backend unrolls such loops by itself at -O3, the CPU's may
/// not).
constexpr int64_t kFoldUnroll = 8;

/// Folds f64 `value(i)` for i in [lo, hi) in increasing i into `init` with
/// `step(acc, x)`, `unroll` values an iteration (value is emitted unroll + 1
/// times: keep unrolled folds innermost).
inline Value foldInOrder(OpBuilder &b, Location loc, Value lo, Value hi, Value init,
                         int64_t unroll,
                         function_ref<Value(OpBuilder &, Location, Value)> value,
                         function_ref<Value(Scalar &, Value, Value)> step) {
  Value end = max(b, loc, lo, hi);
  Value unrolledEnd = lo, acc = init;
  if (unroll > 1) {
    Value count = div(b, loc, sub(b, loc, end, lo), cst(b, loc, unroll));
    unrolledEnd = add(b, loc, lo, mul(b, loc, count, cst(b, loc, unroll)));
    auto unrolled = scf::ForOp::create(
        b, loc, lo, unrolledEnd, cst(b, loc, unroll), ValueRange{init},
        [&](OpBuilder &nb, Location nl, Value i, ValueRange carried) {
          Scalar ns{nb, nl};
          SmallVector<Value, kFoldUnroll> xs;
          for (int64_t u = 0; u < unroll; ++u)
            xs.push_back(value(nb, nl, add(nb, nl, i, cst(nb, nl, u))));
          Value folded = carried[0];
          for (Value x : xs)
            folded = step(ns, folded, x);
          scf::YieldOp::create(nb, nl, ValueRange{folded});
        });
    acc = unrolled.getResult(0);
  }
  auto rest = scf::ForOp::create(
      b, loc, unrolledEnd, end, cst(b, loc, 1), ValueRange{acc},
      [&](OpBuilder &nb, Location nl, Value i, ValueRange carried) {
        Scalar ns{nb, nl};
        scf::YieldOp::create(nb, nl, ValueRange{step(ns, carried[0], value(nb, nl, i))});
      });
  return rest.getResult(0);
}

/// Sum of f64 `value(i)` over i in [lo, hi), in increasing i.
inline Value sumOver(OpBuilder &b, Location loc, Value lo, Value hi,
                     function_ref<Value(OpBuilder &, Location, Value)> value,
                     int64_t unroll = 1) {
  Scalar s{b, loc};
  return foldInOrder(b, loc, lo, hi, s.f64(0.0), unroll, value,
                     [](Scalar &ns, Value acc, Value x) { return ns.fadd(acc, x); });
}

/// The maximum of f64 `value(i)` over i in [lo, hi), folded as std::max
/// (x replaces the maximum when the maximum < x), so that NaNs after the
/// first value are skipped as in the reference; -inf when empty.
inline Value maxOver(OpBuilder &b, Location loc, Value lo, Value hi,
                     function_ref<Value(OpBuilder &, Location, Value)> value,
                     int64_t unroll = 1) {
  Scalar s{b, loc};
  return foldInOrder(b, loc, lo, hi, s.f64(-std::numeric_limits<double>::infinity()), unroll,
                     value,
                     [](Scalar &ns, Value acc, Value x) {
                       return ns.select(ns.fcmp(CmpFPredicate::OLT, acc, x), x, acc);
                     });
}

/// Rows [first, last) of Q holding the queries of block `queryBlock`: the
/// positions [I*B, (I+1)*B) that exist (query row = position - shift).
struct QueryBlockRows {
  Value first, last;
  QueryBlockRows(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                 Value queryBlock) {
    Value blockStart = mul(b, loc, queryBlock, sh.block);
    first = sub(b, loc, max(b, loc, blockStart, sh.shift), sh.shift);
    last = sub(b, loc, min(b, loc, add(b, loc, blockStart, sh.block), env.lk), sh.shift);
  }
};

/// The mean of column `column` of Q (`key` false) or K over rows [first,
/// last), summed in row order; 0 for no rows.
inline Value columnMean(OpBuilder &b, Location loc, const EstimatorEnv &env, bool key,
                        Value bIdx, Value h, Value column, Value first, Value last) {
  Scalar s{b, loc};
  Value sum = sumOver(b, loc, first, last, [&](OpBuilder &lb, Location ll, Value row) {
    return env.load(lb, ll, key, bIdx, h, row, column);
  });
  Value count = sub(b, loc, last, first);
  return s.select(cmp(b, loc, CmpIPredicate::sgt, count, cst(b, loc, 0)),
                  s.fdiv(sum, s.toF64(count)), s.f64(0.0));
}

/// A pool item below Shape::pooledKeysAt, item = ((b * heads + h) * blocks
/// + I) * head_dim + x: the mean of column x of query block I of (b, h),
/// stored at pooled[item] (mean pool and gate pool queries alike).
inline void storeQueryBlockMean(OpBuilder &b, Location loc, const EstimatorEnv &env,
                                const Shape &sh, Value item) {
  auto d = unflatten(b, loc, item, {sh.headDim, env.blocks, sh.heads});
  QueryBlockRows rows(b, loc, env, sh, d[1]);
  Scalar s{b, loc};
  s.storeAt(columnMean(b, loc, env, false, d[3], d[2], d[0], rows.first, rows.last), env.pooled,
            item);
}

/// Whether query block `queryBlock` holds a query (positions past the
/// shift: a block before it has none when Lq < Lk).
inline Value blockHoldsQuery(OpBuilder &b, Location loc, const Shape &sh, Value queryBlock) {
  return cmp(b, loc, CmpIPredicate::sgt,
             mul(b, loc, add(b, loc, queryBlock, cst(b, loc, 1)), sh.block), sh.shift);
}

/// The blocks selection by count keeps in row `queryBlock` (f64), forced
/// ones counted: block_topk's top_k; gate's ceil(top_ratio * (I + 1)), and
/// every block of the last row (SeerAttention keeps it dense).
Value rowKeepCount(Scalar &s, const EstimatorEnv &env, Value queryBlock);

/// block_topk's stages (abi::kBlockEstimatorStages; BlockSelectStages.cpp).
enum BlockStage : int { kPool, kScore, kSelect };
Value emitBlockItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
void emitBlockItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value item);
/// select by count (top_k) as a tile stage, a query block row per tile
/// (BlockCountSelect.cpp).
TileBuffers blockSelectTileBuffers();
void emitBlockSelectTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                         const TileRunner &run);

/// vertical_slash's stages (abi::kLineEstimatorStages): the scores
/// (VerticalSlashStages.cpp) and the radix selection (RadixSelectStages.cpp).
enum LineStage : int {
  kRowChunks,
  kRowStats,
  kLines,
  kRadixCount,
  kRadixDecide,
  kTieCount,
  kLineSelect
};
Value emitLineItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
void emitRowStats(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item);
/// The tile stages row_chunks and lines (LineTileStages.cpp): their tiles,
/// buffer sizes and phases.
Value emitLineTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
TileBuffers lineTileBuffers(int stage, int64_t headDim, bool tensorLogits);
void emitRowChunkTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                      const TileRunner &run);
void emitLineTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                  const TileRunner &run);
void emitRadixCount(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item);
void emitRadixDecide(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item);
void emitTieCount(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item);
void emitLineSelect(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item);

/// Radix selection of the k-th largest 64-bit order code, 8 bits a pass,
/// most significant first (RadixSelectStages.cpp; vertical_slash's lines and
/// block_topk's rows by count). Pass `pass` (an index) reads bits
/// [56 - 8 pass, 64 - 8 pass): digitShift is that shift (i64), digitOf the
/// digit of `code`, samePrefix whether `code` agrees with the decided
/// `prefix` on the bits above it.
Value digitShift(Scalar &s, Value pass);
Value digitOf(Scalar &s, Value code, Value pass);
Value samePrefix(Scalar &s, Value code, Value prefix, Value pass);
/// The digit holding the k-th largest code (k = `rank`, f64) from the
/// histogram's 256 bins at `histogramAt` of f64 buffer `histogram`: the
/// highest bin whose count, with the bins above it, reaches the rank; and
/// the rank within that bin. Clears the bins. With a rank above every
/// count: digit 0 and the rank less all counts (every code is kept).
struct RadixDigit {
  Value digit, rank;
};
RadixDigit emitRadixWalk(OpBuilder &b, Location loc, Value histogram, Value histogramAt,
                         Value rank);

/// The fold both radix walks make over counts taken from the highest bin
/// down (emitRadixWalk; block_topk's group walk, BlockCountSelect.cpp):
/// whether a bin reached the rank yet, the rank left (within that bin once
/// found), that bin's index and count (0 until found). All i64 but `found`.
struct RankWalk {
  Value found, left, index, count;
  static RankWalk start(Scalar &s, Value rank) {
    return {arith::ConstantIntOp::create(s.b, s.loc, 0, 1), rank, s.i64(0), s.i64(0)};
  }
  /// The state after bin `index` (i64) holding `count`.
  RankWalk step(Scalar &s, Value count, Value binIndex) const {
    Value takeHere = arith::AndIOp::create(
        s.b, s.loc, s.icmp(CmpIPredicate::sge, count, left),
        arith::XOrIOp::create(s.b, s.loc, found,
                              arith::ConstantIntOp::create(s.b, s.loc, 1, 1)));
    Value nowFound = arith::OrIOp::create(s.b, s.loc, found, takeHere);
    return {nowFound, s.select(nowFound, left, arith::SubIOp::create(s.b, s.loc, left, count)),
            s.select(takeHere, binIndex, index), s.select(takeHere, count, this->count)};
  }
};

/// vertical_slash's sizes and scratch offsets (abi::EstimatorShape::
/// lineScratch), as index values.
struct LineShape {
  Value slices, lastQ, rows, chunks, chunk;
  Value chunkStatsAt, rowStatsAt, radixStateAt, histogramAt, tiesAt;
  LineShape(OpBuilder &b, Location loc, const EstimatorEnv &env);
  /// Scratch index of the (maximum, sum) pair of chunk c of last row r of a
  /// (batch, head) slice, and of that row's softmax (maximum, sum).
  Value chunkStats(OpBuilder &b, Location loc, Value slice, Value r, Value c) const;
  Value rowStats(OpBuilder &b, Location loc, Value slice, Value r) const;
  /// Kept entries of `line` (0: columns, 1: diagonals), clamped to lk, and
  /// the forced ones among them, as index values.
  Value kept(OpBuilder &b, Location loc, const EstimatorEnv &env, Value line) const;
  Value forced(OpBuilder &b, Location loc, const EstimatorEnv &env, Value line) const;
};

/// Last row r of the `rows` last ones is query row lq - rows + r at
/// position lk - rows + r (bottom-right aligned, as the kernel's causal
/// mask).
struct LastRow {
  Value queryRow, position;
  LastRow(OpBuilder &b, Location loc, const EstimatorEnv &env, const LineShape &ls, Value r) {
    queryRow = add(b, loc, sub(b, loc, env.lq, ls.rows), r);
    position = add(b, loc, sub(b, loc, env.lk, ls.rows), r);
  }
};

/// stripe's stages (abi::kStripeEstimatorStages; StripeStages.cpp).
enum StripeStage : int { kAnchors, kStripePool, kCompare };
Value emitStripeItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
void emitStripeItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value item);
/// anchors and compare are tile stages (abi::stripeTile).
Value emitStripeTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
TileBuffers stripeTileBuffers(int stage, int64_t headDim, bool tensorLogits);
void emitStripeTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value tile,
                    const TileRunner &run);

/// gate's stages (abi::kGateEstimatorStages; GateStages.cpp); its select by
/// count is block_topk's tile stage (emitBlockSelectTile).
enum GateStage : int { kGatePool, kGateProject, kGateLogits, kGateScore, kGateSelect };
Value emitGateItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
void emitGateItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value item);

/// nsa's stages (abi::kNsaEstimatorStages): compress and select item by
/// item (NsaStages.cpp).
enum NsaStage : int { kNsaCompress, kNsaStats, kNsaImportance, kNsaSelect };
Value emitNsaItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
void emitNsaItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value item);
/// stats and importance are tile stages (NsaTileStages.cpp; abi::nsaTile).
Value emitNsaTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
TileBuffers nsaTileBuffers(int stage, const plan::EstimatorSpec &spec, int64_t headDim);
void emitNsaTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env, Value tile,
                 const TileRunner &run);

/// The antidiagonal scorer's pool and score, tile stages
/// (AntidiagonalStages.cpp; abi::antidiagonalMassTile).
Value emitAntidiagonalTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env);
TileBuffers antidiagonalTileBuffers(int stage, const plan::EstimatorSpec &spec, int64_t headDim);
void emitAntidiagonalTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                          Value tile, const TileRunner &run);

} // namespace sattn::estimator::stages

#endif // SATTN_LIB_CONVERSION_ESTIMATORS_STAGEBUILDERS_H
