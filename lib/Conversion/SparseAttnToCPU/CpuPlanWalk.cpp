//===- CpuPlanWalk.cpp - the plan walk of the CPU functions ---------------===//
//
// Implements CpuPlanWalk.h: the loops over tiles and segments and the score
// loops shared by the forward and backward CPU functions.
//
//===----------------------------------------------------------------------===//

#include "CpuPlanWalk.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"
#include "sattn/Conversion/SparseAttnToCPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

Value cpu::reduce(OpBuilder &b, Location loc, Value n, Value init,
                  function_ref<Value(OpBuilder &, Location, Value, Value)> body) {
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, 1), ValueRange{init},
      [&](OpBuilder &nb, Location nl, Value iv, ValueRange carried) {
        scf::YieldOp::create(nb, nl, body(nb, nl, iv, carried.front()));
      });
  return loop.getResult(0);
}

Value cpu::emitDot(OpBuilder &b, Location loc, Value headDim, Value x,
                   ValueRange xAt, Value y, ValueRange yAt) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  return reduce(b, loc, headDim, zero,
                [&](OpBuilder &b, Location loc, Value d, Value sum) -> Value {
                  SmallVector<Value, 4> xi(xAt), yi(yAt);
                  xi.push_back(d);
                  yi.push_back(d);
                  Value a = memref::LoadOp::create(b, loc, x, xi);
                  Value c = memref::LoadOp::create(b, loc, y, yi);
                  return arith::AddFOp::create(
                      b, loc, sum, arith::MulFOp::create(b, loc, a, c));
                });
}

ProblemSizes cpu::emitProblemSizes(OpBuilder &b, Location loc, Value q,
                                   Value k, int64_t blockM) {
  ProblemSizes s;
  s.batch = memref::DimOp::create(b, loc, q, 0);
  s.heads = memref::DimOp::create(b, loc, q, 1);
  s.lq = memref::DimOp::create(b, loc, q, 2);
  s.headDim = memref::DimOp::create(b, loc, q, 3);
  s.kvHeads = memref::DimOp::create(b, loc, k, 1);
  s.lk = memref::DimOp::create(b, loc, k, 2);
  s.group = arith::DivSIOp::create(b, loc, s.heads, s.kvHeads);
  s.numQueryTiles = arith::DivSIOp::create(
      b, loc, arith::AddIOp::create(b, loc, s.lq, cst(b, loc, blockM - 1)),
      cst(b, loc, blockM));
  // Row i of the query block has absolute position i + (Lk - Lq).
  s.queryShift = arith::SubIOp::create(b, loc, s.lk, s.lq);
  return s;
}

llvm::StringMap<TableBinding> cpu::bindTables(OpBuilder &b, Location loc,
                                              KernelOp kernel, Block &entry,
                                              unsigned firstTableArg,
                                              const ProblemSizes &sizes) {
  llvm::StringMap<TableBinding> tables;
  for (auto [i, table] : llvm::enumerate(kernelTables(kernel))) {
    TableBinding binding;
    binding.buffer = entry.getArgument(firstTableArg + i);
    binding.extents =
        emitTableExtents(b, loc, table, sizes.batch, sizes.heads, sizes.lk);
    tables[table.getSymName()] = binding;
  }
  return tables;
}

void cpu::emitQueryTileLoops(
    OpBuilder &b, Location loc, const ProblemSizes &sizes, Value classIndex,
    int64_t blockM,
    function_ref<void(OpBuilder &, Location, const TileContext &, Value, Value)>
        body) {
  forEach(b, loc, sizes.batch, [&](OpBuilder &b, Location loc, Value bi) {
    forEach(b, loc, sizes.heads, [&](OpBuilder &b, Location loc, Value h) {
      TileContext tile;
      tile.b = bi;
      tile.h = h;
      tile.kvh = arith::DivSIOp::create(b, loc, h, sizes.group);
      Value flat = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, bi, sizes.heads), h);
      Value cls = arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          memref::LoadOp::create(b, loc, classIndex, flat));
      forEach(b, loc, sizes.numQueryTiles, [&](OpBuilder &b, Location loc, Value m) {
        tile.row0 = arith::MulIOp::create(b, loc, m, cst(b, loc, blockM));
        tile.rows = arith::MinSIOp::create(
            b, loc, cst(b, loc, blockM),
            arith::SubIOp::create(b, loc, sizes.lq, tile.row0));
        body(b, loc, tile, cls, m);
      });
    });
  });
}

void cpu::emitSegmentLoop(
    OpBuilder &b, Location loc, const ProblemSizes &sizes, Value segments,
    Value offsets, Value cls, Value m, int64_t blockN,
    function_ref<void(OpBuilder &, Location, const SegmentRecord &,
                      const SegmentTiles &, bool)>
        body) {
  // Segments of (class, m): rows [offsets[c*(T+1) + m], offsets[... + 1]).
  Value slot = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(
          b, loc, cls,
          arith::AddIOp::create(b, loc, sizes.numQueryTiles, cst(b, loc, 1))),
      m);
  auto offsetAt = [&](Value i) -> Value {
    Value raw = memref::LoadOp::create(b, loc, offsets, i);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
  };
  Value first = offsetAt(slot);
  Value last = offsetAt(arith::AddIOp::create(b, loc, slot, cst(b, loc, 1)));
  scf::ForOp::create(
      b, loc, first, last, cst(b, loc, 1), ValueRange{},
      [&](OpBuilder &b, Location loc, Value s, ValueRange) {
        SegmentRecord seg = emitLoadSegment(b, loc, segments, s);
        SegmentTiles tiles = emitSegmentTiles(b, loc, seg, sizes.lk, blockN);
        // FULL segments hold only kept pairs: their tiles carry no mask code.
        auto variant = [&](bool partial) {
          return [&, partial](OpBuilder &b, Location loc) {
            body(b, loc, seg, tiles, partial);
            scf::YieldOp::create(b, loc);
          };
        };
        scf::IfOp::create(b, loc, seg.isFull, variant(false), variant(true));
        scf::YieldOp::create(b, loc);
      });
}

LogicalResult cpu::emitTileScores(OpBuilder &b, Location loc,
                                  const TileScoreOperands &ops,
                                  const TileContext &tile, Value numKeys,
                                  bool partial) {
  bool failedMask = false;
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value row = arith::AddIOp::create(b, loc, tile.row0, i);
    Value qPos = arith::AddIOp::create(b, loc, row, ops.queryShift);
    forEach(b, loc, numKeys, [&](OpBuilder &b, Location loc, Value j) {
      Value key = memref::LoadOp::create(b, loc, ops.keys, j);
      Value dot = emitDot(b, loc, ops.headDim, ops.q, {tile.b, tile.h, row},
                          ops.k, {tile.b, tile.kvh, key});
      Value logit = arith::MulFOp::create(b, loc, dot, ops.log2Scale);
      if (partial) {
        ElementMaskEnv env{tile.b, tile.h, qPos, key, ops.lk, *ops.tables};
        FailureOr<Value> keep =
            emitElementMask(b, loc, KernelOp(ops.kernel).getMask(), env);
        if (failed(keep)) {
          failedMask = true;
        } else {
          // Keys past Lk never appear on the CPU (tiles are clipped), but
          // the GPU's fixed-size tiles rely on this guard; keep them equal.
          Value inRange = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::slt, key, ops.lk);
          Value kept = arith::AndIOp::create(b, loc, *keep, inRange);
          logit = arith::SelectOp::create(b, loc, kept, logit,
                                          emitNegInf(b, loc));
        }
      }
      memref::StoreOp::create(b, loc, logit, ops.scores, ValueRange{i, j});
    });
  });
  return failure(failedMask);
}
