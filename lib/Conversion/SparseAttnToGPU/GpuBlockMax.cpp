//===- GpuBlockMax.cpp - block maxima of the attention probabilities ------===//
//
// A kernel compiled with `block_max` also writes, for every (query tile,
// KV tile), the largest attention probability P[i, j] = exp(s_ij - LSE_i)
// among the tile's pairs: the training target of a learned block gate,
// which otherwise needs a dense pass that materialises P. A probability
// needs the row's final LSE, known only after the last tile, so the work is
// split where the data is:
//
//   per KV tile:  the row's largest base-2 logit of the tile, which the
//                 online softmax computes anyway, is stored to row_max
//                 (one lane per quad: a float per row and tile; row_max is
//                 tile-major, so a warp's 16 rows are 64 contiguous bytes);
//   epilogue:     the rows' LSE go to shared memory; one warp per KV tile
//                 of the plan reads the tile's rows of row_max (lanes over
//                 rows: coalesced), keeps max_i exp2(row_max[i] - LSE_i *
//                 log2 e) and reduces it across the warp.
//
// The CTA owns its row of block_max: it writes 0 everywhere first, then the
// visited tiles, so no memset and no atomics are needed. The plan is
// Range-only (TileRequest::blockMax), so a KV tile is one block of keys.
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilderImpl.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

void GpuAttentionBuilder::emitBlockMaxViews(OpBuilder &b, Location loc,
                                            Block &entry) {
  unsigned first = kNumFixedArgs + kernelTables(kernel).size();
  Type i64 = b.getI64Type(), f32 = b.getF32Type();
  auto wide = [&](Value v) { return arith::IndexCastUIOp::create(b, loc, i64, v); };
  kvTileCount = ceilDiv(b, loc, lk, cfg.blockN);
  // (b * H + h): the slice of both outputs; the products are i64 (a slice
  // of row_max is N * Lq elements, the whole buffer may pass 2^31).
  Value slice = add(b, loc, mul(b, loc, wide(batchIdx), wide(cst(b, loc, kernel.getHeads()))),
                    wide(headIdx));
  Value rows = mul(b, loc, wide(lq), wide(kvTileCount));
  rowMaxSlice = emitBufferView(b, loc, entry.getArgument(first), f32, {kDynamic},
                               mul(b, loc, kvTileCount, lq), mul(b, loc, slice, rows));
  Value blockRow = add(b, loc, mul(b, loc, slice, wide(numQueryTiles)), wide(tileIdx));
  blockMaxRow = emitBufferView(b, loc, entry.getArgument(first + 1), f32, {kDynamic},
                               kvTileCount, mul(b, loc, blockRow, wide(kvTileCount)));
}

void GpuAttentionBuilder::emitStoreTileRowMax(OpBuilder &b, Location loc,
                                              const TileKeys &keys, int64_t mt,
                                              const std::array<Value, 2> &tileMax) {
  Value tile = div(b, loc, keys.k0, cst(b, loc, cfg.blockN));
  Value writer = cmp(b, loc, arith::CmpIPredicate::eq, lanes.quad, cst(b, loc, 0));
  for (int half = 0; half < 2; ++half) {
    Value row = queryRow[mt][half];
    Value store = arith::AndIOp::create(
        b, loc, writer, cmp(b, loc, arith::CmpIPredicate::ult, row, lq));
    scf::IfOp::create(b, loc, store, [&](OpBuilder &b, Location loc) {
      Value at = add(b, loc, mul(b, loc, tile, lq), row);
      memref::StoreOp::create(b, loc, tileMax[half], rowMaxSlice, at);
      scf::YieldOp::create(b, loc);
    });
  }
}

void GpuAttentionBuilder::emitBlockMaxEpilogue(OpBuilder &b, Location loc,
                                               ArrayRef<std::array<RowEpilogue, 2>> rows) {
  Type f32 = b.getF32Type();
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value negInf = emitNegInf(b, loc);
  Value tileRow0 = mul(b, loc, tileIdx, cst(b, loc, cfg.blockM));
  // Every warp is past its last KV tile before the K stages hold LSEs.
  gpu::BarrierOp::create(b, loc);
  Value lse2 = emitSharedView(b, loc, cfg.kOffset(), {cfg.blockM}, f32);
  Value log2e = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(M_LOG2E)));
  Value writer = cmp(b, loc, arith::CmpIPredicate::eq, lanes.quad, cst(b, loc, 0));
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    for (int half = 0; half < 2; ++half) {
      scf::IfOp::create(b, loc, writer, [&](OpBuilder &b, Location loc) {
        Value scaled = arith::MulFOp::create(b, loc, rows[mt][half].lse, log2e);
        memref::StoreOp::create(b, loc, scaled, lse2,
                                sub(b, loc, queryRow[mt][half], tileRow0));
        scf::YieldOp::create(b, loc);
      });
    }
  }
  // Iterations `worker`, `worker + step`, ... below `end`.
  auto strided = [&](OpBuilder &b, Location loc, Value worker, Value end, int64_t step,
                     function_ref<void(OpBuilder &, Location, Value)> body) {
    scf::ForOp::create(b, loc, worker, end, cst(b, loc, step), ValueRange{},
                       [&](OpBuilder &b, Location loc, Value i, ValueRange) {
                         body(b, loc, i);
                         scf::YieldOp::create(b, loc);
                       });
  };
  strided(b, loc, threadId, kvTileCount, cfg.threads(),
          [&](OpBuilder &b, Location loc, Value n) {
            memref::StoreOp::create(b, loc, zero, blockMaxRow, n);
          });
  gpu::BarrierOp::create(b, loc);
  Value warp = div(b, loc, threadId, cst(b, loc, 32));
  Value lane = rem(b, loc, threadId, cst(b, loc, 32));
  Value firstLane = cmp(b, loc, arith::CmpIPredicate::eq, lane, cst(b, loc, 0));

  Value tileRows = min(b, loc, cst(b, loc, cfg.blockM), sub(b, loc, lq, tileRow0));
  auto [first, last] = emitSegmentRows(b, loc, kernel, offsets, classIndex, batchIdx,
                                       headIdx, numQueryTiles, tileIdx);
  scf::ForOp::create(
      b, loc, first, last, cst(b, loc, 1), ValueRange{},
      [&](OpBuilder &b, Location loc, Value s, ValueRange) {
        SegmentRecord seg = emitLoadSegment(b, loc, segments, s);
        SegmentTiles tiles = emitSegmentTiles(b, loc, seg, lk, cfg.blockN);
        strided(b, loc, warp, tiles.numTiles, cfg.warps, [&](OpBuilder &b, Location loc,
                                                              Value t) {
          Value n = add(b, loc, seg.lo, t);
          Value column = mul(b, loc, n, lq); // row_max[n, row]
          // Lane l takes rows l, l + 32, ... of the tile.
          auto rows = scf::ForOp::create(
              b, loc, lane, tileRows, cst(b, loc, 32), ValueRange{zero},
              [&](OpBuilder &b, Location loc, Value i, ValueRange best) {
                Value at = add(b, loc, column, add(b, loc, tileRow0, i));
                Value logit = memref::LoadOp::create(b, loc, rowMaxSlice, at);
                Value lse = memref::LoadOp::create(b, loc, lse2, i);
                Value p = math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, logit, lse));
                // A row the tile keeps no key of (logit -inf; also every
                // key of an empty row, whose LSE is -inf) adds nothing.
                Value kept =
                    arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, logit, negInf);
                p = arith::SelectOp::create(b, loc, kept, p, zero);
                scf::YieldOp::create(b, loc,
                                     ValueRange{arith::MaximumFOp::create(b, loc, best[0], p)});
              });
          Value best = emitWarpMax(b, loc, rows.getResult(0));
          scf::IfOp::create(b, loc, firstLane, [&](OpBuilder &b, Location loc) {
            memref::StoreOp::create(b, loc, best, blockMaxRow, n);
            scf::YieldOp::create(b, loc);
          });
        });
        scf::YieldOp::create(b, loc);
      });

}
