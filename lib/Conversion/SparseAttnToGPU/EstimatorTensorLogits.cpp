//===- EstimatorTensorLogits.cpp - estimator logits on tensor cores -------===//
//
// The GPU form of a logit tile stage's logit phase over query rows
// (estimator::TileRunner::tensorLogits): the rows and the key window sit in
// shared memory in their input type (bf16 or f16), so their products are
// the m16n8k16 mma.sync's, exact, summed in f32. Each warp takes strips
// of 16 x 8 blocks in turn (one block, or up to 4 side by side sharing the
// rows' fragments where the tile has enough blocks for every warp) and
// hands every (row, key, dot) it holds to the stage; split rows (a
// computed row as hi and lo rows of the input type) add both rows'
// products into the same sums. Over several terms (XAttention's
// antidiagonal terms, TileRunner::tensorLogitTerms) each warp keeps the
// same strips' accumulators in registers while the terms' rows and keys
// are loaded in turn, and hands the sums over once. Why: summed in f64 on
// CUDA cores, these phases bound the estimators (vertical_slash's lines,
// the stripe's anchors, XAttention's pool and score run at a few TFLOP/s);
// the tensor cores' products come in 2048 multiply-adds per instruction.
// Rows are padded by abi::kEstimatorTensorKeyPad elements, so that a
// fragment's 32 lanes read 32 banks; its 16-bit pairs are read as 4-byte
// words.
//
//===----------------------------------------------------------------------===//

#include "EstimatorTensorLogits.h"

#include "WarpMma.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cassert>

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

namespace {

constexpr int64_t kWarpSize = 32, kMmaRows = 16, kMmaKeys = 8, kMmaDepth = 16;
/// The most 16 x 8 blocks a warp accumulates at once (4 f32 each): a strip
/// of them in one item, or the strips a warp keeps across terms.
[[maybe_unused]] constexpr int64_t kMostBlocksPerWarp = 8;
/// The most 16 x 8 blocks of a strip (an item sharing its row fragments).
constexpr int64_t kMostStripBlocks = 4;

/// The 16-bit pair at entries `at`, `at + 1` of `buffer` as one register.
Value loadPair(OpBuilder &b, Location loc, Type element, Value buffer, Value at) {
  Value x = memref::LoadOp::create(b, loc, buffer, ValueRange{at});
  Value y = memref::LoadOp::create(b, loc, buffer, ValueRange{add(b, loc, at, cst(b, loc, 1))});
  return vector::FromElementsOp::create(b, loc, VectorType::get({2}, element), ValueRange{x, y});
}

/// The block's warps and each thread's warp and lane.
constexpr int64_t kWarps = abi::kEstimatorThreads / kWarpSize;
Value warpOf(OpBuilder &b, Location loc) {
  return div(b, loc, gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x), cst(b, loc, kWarpSize));
}
Value laneOf(OpBuilder &b, Location loc) {
  return rem(b, loc, gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x), cst(b, loc, kWarpSize));
}

/// Blocks of a strip: as many 16 x 8 blocks side by side (a power of two,
/// at most kMostStripBlocks) as keep every warp of the block busy, so that
/// a warp reads a k step's row fragments once for the whole strip.
int64_t stripBlocksOf(int64_t rowBlocks, int64_t keyBlocks) {
  int64_t strip = 1;
  while (2 * strip <= kMostStripBlocks && 2 * strip <= keyBlocks &&
         rowBlocks * keyBlocks >= 2 * strip * kWarps)
    strip *= 2;
  return strip;
}

/// A warp's share of a TensorLogitBlock: items that are strips of 16 x 8
/// blocks in one row of blocks, their products (the k steps over the
/// block's depth; split rows' hi and lo fragments into the same sums) and
/// their hand-over to the stage.
struct WarpLogitBlocks {
  Type element;
  Value buffer;
  const estimator::TensorLogitBlock &block;
  int64_t keyBlocks, strip, stripsPerRow;
  Value stride, group, pairColumn;

  WarpLogitBlocks(OpBuilder &b, Location loc, Type element, Value buffer,
                  const estimator::TensorLogitBlock &block)
      : element(element), buffer(buffer), block(block),
        keyBlocks((block.keys + kMmaKeys - 1) / kMmaKeys),
        strip(stripBlocksOf(rowBlocks(), keyBlocks)),
        stripsPerRow((keyBlocks + strip - 1) / strip), stride(cst(b, loc, block.stride)) {
    Value lane = laneOf(b, loc);
    group = div(b, loc, lane, cst(b, loc, 4));
    pairColumn = mul(b, loc, rem(b, loc, lane, cst(b, loc, 4)), cst(b, loc, 2));
  }

  int64_t rowBlocks() const { return (block.rows + kMmaRows - 1) / kMmaRows; }
  int64_t count() const { return rowBlocks() * stripsPerRow; }
  /// The lane's first row (the other is 8 below) and the strip's first key.
  std::pair<Value, Value> origin(OpBuilder &ib, Location il, Value item) const {
    Value perRow = cst(ib, il, stripsPerRow);
    Value row0 =
        add(ib, il, mul(ib, il, div(ib, il, item, perRow), cst(ib, il, kMmaRows)), group);
    return {row0, mul(ib, il, rem(ib, il, item, perRow), cst(ib, il, strip * kMmaKeys))};
  }
  /// The products of strip `item` added to `acc` (four f32 accumulators per
  /// block). Rows and keys past the block are clamped to its last ones:
  /// they only feed results nobody uses (and items past the count are
  /// harmless).
  SmallVector<Value> products(OpBuilder &ib, Location il, Value item, ValueRange acc) const {
    std::pair<Value, Value> at = origin(ib, il, item);
    Value row0 = at.first, row8 = add(ib, il, row0, cst(ib, il, 8)), keyBase = at.second;
    auto entry = [&](OpBuilder &nb, Location nl, int64_t at, int64_t count, Value index,
                     Value column) {
      Value row = min(nb, nl, index, cst(nb, nl, count - 1));
      return add(nb, nl, cst(nb, nl, at), add(nb, nl, mul(nb, nl, row, stride), column));
    };
    // The k steps as a loop carrying the accumulators (LLVM unrolls it:
    // 8 k steps at head_dim 128, the pairs of 16-bit elements read as
    // ld.shared.b32).
    auto steps = scf::ForOp::create(
        ib, il, cst(ib, il, 0), cst(ib, il, block.depth), cst(ib, il, kMmaDepth), acc,
        [&](OpBuilder &kb, Location kl, Value k0, ValueRange carried) {
          Value low = add(kb, kl, k0, pairColumn);
          Value high = add(kb, kl, low, cst(kb, kl, 8));
          auto rowFragment = [&](int64_t rowsAt) {
            auto pair = [&](Value row, Value column) {
              return loadPair(kb, kl, element, buffer,
                              entry(kb, kl, rowsAt, block.rows, row, column));
            };
            return SmallVector<Value, 4>{pair(row0, low), pair(row8, low), pair(row0, high),
                                         pair(row8, high)};
          };
          SmallVector<Value, 4> hi = rowFragment(block.rowsAt), lo;
          if (block.loRowsAt >= 0)
            lo = rowFragment(block.loRowsAt);
          SmallVector<Value> next;
          for (int64_t j = 0; j < strip; ++j) {
            Value key = add(kb, kl, add(kb, kl, keyBase, cst(kb, kl, j * kMmaKeys)), group);
            auto keyPair = [&](Value column) {
              return loadPair(kb, kl, element, buffer,
                              entry(kb, kl, block.keysAt, block.keys, key, column));
            };
            SmallVector<Value, 2> bFrag{keyPair(low), keyPair(high)};
            SmallVector<Value> sums(emitMma16816(kb, kl, element, hi, bFrag,
                                                 carried.slice(4 * j, 4)));
            if (!lo.empty())
              sums = SmallVector<Value>(emitMma16816(kb, kl, element, lo, bFrag, sums));
            next.append(sums.begin(), sums.end());
          }
          scf::YieldOp::create(kb, kl, next);
        });
    return SmallVector<Value>(steps.getResults());
  }
  /// Hands the lane's four sums per block of strip `item` to `use`.
  void handOver(OpBuilder &ib, Location il, Value item, ValueRange acc,
                estimator::TensorLogitUse use) const {
    auto [row0, keyBase] = origin(ib, il, item);
    for (int64_t j = 0; j < strip; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        Value row = e < 2 ? row0 : add(ib, il, row0, cst(ib, il, 8));
        Value k = add(ib, il, keyBase,
                      add(ib, il, pairColumn, cst(ib, il, j * kMmaKeys + e % 2)));
        Value held = arith::AndIOp::create(
            ib, il, cmp(ib, il, arith::CmpIPredicate::slt, row, cst(ib, il, block.rows)),
            cmp(ib, il, arith::CmpIPredicate::slt, k, cst(ib, il, block.keys)));
        scf::IfOp::create(ib, il, held, [&](OpBuilder &ub, Location ul) {
          use(ub, ul, row, k, acc[4 * j + e]);
          scf::YieldOp::create(ub, ul);
        });
      }
  }
};

} // namespace

void sattn::gpucodegen::emitEstimatorTensorLogits(OpBuilder &b, Location loc, Type element,
                                                  Value buffer,
                                                  const estimator::TensorLogitBlock &block,
                                                  estimator::TensorLogitUse use) {
  Value warp = warpOf(b, loc);
  WarpLogitBlocks blocks(b, loc, element, buffer, block);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  SmallVector<Value> init(4 * blocks.strip, zero);
  scf::ForOp::create(b, loc, warp, cst(b, loc, blocks.count()), cst(b, loc, kWarps), ValueRange{},
                     [&](OpBuilder &ib, Location il, Value item, ValueRange) {
                       SmallVector<Value> acc = blocks.products(ib, il, item, init);
                       blocks.handOver(ib, il, item, acc, use);
                       scf::YieldOp::create(ib, il);
                     });
  gpu::BarrierOp::create(b, loc);
}

void sattn::gpucodegen::emitEstimatorTensorLogitTerms(OpBuilder &b, Location loc, Type element,
                                                      Value buffer,
                                                      const estimator::TensorLogitBlock &block,
                                                      int64_t terms,
                                                      estimator::TensorTermLoad load,
                                                      estimator::TensorLogitUse use) {
  Value warp = warpOf(b, loc);
  WarpLogitBlocks blocks(b, loc, element, buffer, block);
  // Each warp owns the same blocks in every term, so their accumulators
  // stay in registers across the terms' loads: a fixed count per warp
  // (items past the block count compute clamped, unused products).
  int64_t perWarp = (blocks.count() + kWarps - 1) / kWarps, width = 4 * blocks.strip;
  assert(perWarp * blocks.strip <= kMostBlocksPerWarp && "a warp's accumulators fit its registers");
  auto itemOf = [&](OpBuilder &ib, Location il, int64_t j) {
    return add(ib, il, warp, cst(ib, il, j * kWarps));
  };
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0));
  SmallVector<Value> init(width * perWarp, zero);
  auto sweep = scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, terms), cst(b, loc, 1), init,
      [&](OpBuilder &tb, Location tl, Value t, ValueRange carried) {
        load(tb, tl, t);
        SmallVector<Value> next;
        for (int64_t j = 0; j < perWarp; ++j) {
          SmallVector<Value> acc =
              blocks.products(tb, tl, itemOf(tb, tl, j), carried.slice(width * j, width));
          next.append(acc.begin(), acc.end());
        }
        // The next term's loads overwrite what this one's products read.
        gpu::BarrierOp::create(tb, tl);
        scf::YieldOp::create(tb, tl, next);
      });
  for (int64_t j = 0; j < perWarp; ++j)
    blocks.handOver(b, loc, itemOf(b, loc, j), sweep.getResults().slice(width * j, width), use);
  gpu::BarrierOp::create(b, loc);
}
