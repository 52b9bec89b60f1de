//===- CpuAttentionBuilder.cpp - one planned attention kernel on the CPU --===//
//
// Builds `@NAME_cpu`: FlashAttention-2 over the tile plan, structured like
// the GPU kernels so that CI checks the same algorithm numerically:
//
//   for b, h:                                  kv head = h / (H / KV_H)
//     for query tile m (BM rows):              class = classIndex[b*H + h]
//       init running max / sum / accumulator
//       for segment s of (class, m):
//         if FULL:    for KV tile: keys, scores,       softmax update, P.V
//         else:       for KV tile: keys, scores, mask, softmax update, P.V
//       epilogue (O = acc / sum, LSE; empty rows O = 0, LSE = -inf)
//
// The pieces (plan walking, element masks, softmax steps) come from the
// shared builders in sattn/Conversion; this file only decides where values
// live on the CPU: small heap buffers for one tile's scores, keys and row
// state, reused by every tile.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/SparseAttnToCPU.h"

#include "CpuPlanWalk.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"
#include "sattn/Conversion/TileIteration.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

std::string cpu::entryName(StringRef kernelName) {
  return (kernelName + "_cpu").str();
}

SmallVector<mask::TableOp> cpu::kernelTables(KernelOp kernel) {
  return llvm::to_vector(kernel.getBody().front().getOps<mask::TableOp>());
}

FunctionType cpu::entryType(MLIRContext *ctx, unsigned numTables, bool blockMax) {
  constexpr int64_t dyn = ShapedType::kDynamic;
  Type f32 = Float32Type::get(ctx), i64 = IntegerType::get(ctx, 64);
  auto tensor4 = MemRefType::get(
      {dyn, dyn, dyn, dyn}, f32,
      StridedLayoutAttr::get(ctx, dyn, {dyn, dyn, dyn, 1}));
  auto tensor3 = MemRefType::get(
      {dyn, dyn, dyn}, f32, StridedLayoutAttr::get(ctx, dyn, {dyn, dyn, 1}));
  auto segments = MemRefType::get({dyn, 7}, i64);
  auto vector = MemRefType::get({dyn}, i64);
  SmallVector<Type> inputs{tensor4, tensor4, tensor4,  tensor4,
                           tensor3, segments, vector, vector};
  inputs.append(numTables, vector);
  if (blockMax)
    inputs.append(2, tensor4);
  return FunctionType::get(ctx, inputs, {});
}

namespace {

class CpuAttentionBuilder {
public:
  CpuAttentionBuilder(KernelOp kernel, const CpuLoweringOptions &options)
      : kernel(kernel), blockM(options.blockM), blockN(options.blockN) {}

  FailureOr<func::FuncOp> build(OpBuilder &builder);

private:
  void emitPrologue(OpBuilder &b, Location loc, Block &entry);
  void emitQueryTile(OpBuilder &b, Location loc, const TileContext &tile,
                     Value cls, Value m);
  void emitKvTiles(OpBuilder &b, Location loc, const TileContext &tile,
                   const SegmentRecord &seg, const SegmentTiles &tiles,
                   bool partial);
  void emitScores(OpBuilder &b, Location loc, const TileContext &tile,
                  Value numKeys, bool partial);
  /// `kvTile`: the KV tile's index when the kernel records block maxima.
  void emitSoftmaxUpdate(OpBuilder &b, Location loc, const TileContext &tile,
                         Value numKeys, Value kvTile);
  void emitEpilogue(OpBuilder &b, Location loc, const TileContext &tile);
  /// Block maxima of query tile `m`: 0 for every KV tile, then for the
  /// tiles of its segments max_i exp2(row_max[i] - LSE_i * log2 e).
  void emitBlockMaxima(OpBuilder &b, Location loc, const TileContext &tile, Value cls,
                       Value m);

  KernelOp kernel;
  int64_t blockM, blockN;
  /// Set when emitting a mask fails inside a loop-body callback.
  bool failedMask = false;

  // Arguments.
  Value q, k, v, o, lse, segments, offsets, classIndex;
  /// `block_max` kernels: the outputs, and N = ceil(Lk / BN).
  Value rowMaxOut, blockMaxOut, kvTileCount;
  ProblemSizes sizes; // runtime sizes (index)
  // Per-tile scratch: base-2 logits then probabilities (BM x BN), the key
  // positions of the KV tile (BN), running max and sum (BM), acc (BM x D).
  Value scores, keys, rowMax, rowSum, acc;
  Value log2Scale;
  llvm::StringMap<TableBinding> tables;
};

void CpuAttentionBuilder::emitPrologue(OpBuilder &b, Location loc,
                                       Block &entry) {
  q = entry.getArgument(kArgQ);
  k = entry.getArgument(kArgK);
  v = entry.getArgument(kArgV);
  o = entry.getArgument(kArgO);
  lse = entry.getArgument(kArgLse);
  segments = entry.getArgument(kArgSegments);
  offsets = entry.getArgument(kArgOffsets);
  classIndex = entry.getArgument(kArgClassIndex);

  sizes = emitProblemSizes(b, loc, q, k, blockM);

  Type f32 = b.getF32Type();
  scores = memref::AllocOp::create(b, loc, MemRefType::get({blockM, blockN}, f32));
  keys = memref::AllocOp::create(
      b, loc, MemRefType::get({blockN}, b.getIndexType()));
  rowMax = memref::AllocOp::create(b, loc, MemRefType::get({blockM}, f32));
  rowSum = memref::AllocOp::create(b, loc, MemRefType::get({blockM}, f32));
  acc = memref::AllocOp::create(
      b, loc, MemRefType::get({blockM, ShapedType::kDynamic}, f32),
      ValueRange{sizes.headDim});
  log2Scale = emitLog2Scale(b, loc, kernel.getScale().convertToDouble());

  tables = bindTables(b, loc, kernel, entry, kNumFixedArgs, sizes);
  if (kernel.getBlockMax()) {
    unsigned first = kNumFixedArgs + kernelTables(kernel).size();
    rowMaxOut = entry.getArgument(first);
    blockMaxOut = entry.getArgument(first + 1);
    kvTileCount = ceilDiv(b, loc, sizes.lk, blockN);
  }
}

void CpuAttentionBuilder::emitScores(OpBuilder &b, Location loc,
                                     const TileContext &tile, Value numKeys,
                                     bool partial) {
  TileScoreOperands ops{kernel, q, k, sizes.lk, sizes.headDim, sizes.queryShift, log2Scale,
                        scores, keys, &tables};
  if (failed(emitTileScores(b, loc, ops, tile, numKeys, partial)))
    failedMask = true;
}

void CpuAttentionBuilder::emitSoftmaxUpdate(OpBuilder &b, Location loc,
                                            const TileContext &tile,
                                            Value numKeys, Value kvTile) {
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value tileMax = reduce(
        b, loc, numKeys, emitNegInf(b, loc),
        [&](OpBuilder &b, Location loc, Value j, Value m) -> Value {
          Value s = memref::LoadOp::create(b, loc, scores, ValueRange{i, j});
          return arith::MaximumFOp::create(b, loc, m, s);
        });
    if (kvTile)
      memref::StoreOp::create(
          b, loc, tileMax, rowMaxOut,
          ValueRange{tile.b, tile.h, kvTile, arith::AddIOp::create(b, loc, tile.row0, i)});
    Value oldMax = memref::LoadOp::create(b, loc, rowMax, i);
    RowRescale r = emitRowRescale(b, loc, oldMax, tileMax);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    Value tileSum = reduce(
        b, loc, numKeys, zero,
        [&](OpBuilder &b, Location loc, Value j, Value sum) -> Value {
          Value s = memref::LoadOp::create(b, loc, scores, ValueRange{i, j});
          Value p = emitProbability(b, loc, s, r.safeMax);
          memref::StoreOp::create(b, loc, p, scores, ValueRange{i, j});
          return arith::AddFOp::create(b, loc, sum, p);
        });
    Value oldSum = memref::LoadOp::create(b, loc, rowSum, i);
    Value newSum = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, oldSum, r.alpha), tileSum);
    memref::StoreOp::create(b, loc, newSum, rowSum, i);
    memref::StoreOp::create(b, loc, r.newMax, rowMax, i);
    forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
      Value a = memref::LoadOp::create(b, loc, acc, ValueRange{i, d});
      memref::StoreOp::create(b, loc, arith::MulFOp::create(b, loc, a, r.alpha),
                              acc, ValueRange{i, d});
    });
    // acc[i, :] += P[i, j] * V[key_j, :]
    forEach(b, loc, numKeys, [&](OpBuilder &b, Location loc, Value j) {
      Value p = memref::LoadOp::create(b, loc, scores, ValueRange{i, j});
      Value key = memref::LoadOp::create(b, loc, keys, j);
      forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
        Value x = memref::LoadOp::create(b, loc, v,
                                         ValueRange{tile.b, tile.kvh, key, d});
        Value a = memref::LoadOp::create(b, loc, acc, ValueRange{i, d});
        Value sum = arith::AddFOp::create(b, loc, a,
                                          arith::MulFOp::create(b, loc, p, x));
        memref::StoreOp::create(b, loc, sum, acc, ValueRange{i, d});
      });
    });
  });
}

void CpuAttentionBuilder::emitKvTiles(OpBuilder &b, Location loc,
                                      const TileContext &tile,
                                      const SegmentRecord &seg,
                                      const SegmentTiles &tiles,
                                      bool partial) {
  forEach(b, loc, tiles.numTiles, [&](OpBuilder &b, Location loc, Value t) {
    Value numKeys = emitTileKeys(b, loc, seg, tiles, t, sizes.lk, blockN, keys);
    emitScores(b, loc, tile, numKeys, partial);
    // Range tiles only: a block_max kernel's plans hold no others.
    Value kvTile = rowMaxOut ? arith::AddIOp::create(b, loc, seg.lo, t) : Value();
    emitSoftmaxUpdate(b, loc, tile, numKeys, kvTile);
  });
}

void CpuAttentionBuilder::emitEpilogue(OpBuilder &b, Location loc,
                                       const TileContext &tile) {
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value m = memref::LoadOp::create(b, loc, rowMax, i);
    Value l = memref::LoadOp::create(b, loc, rowSum, i);
    RowEpilogue row = emitRowEpilogue(b, loc, m, l);
    Value r = arith::AddIOp::create(b, loc, tile.row0, i);
    forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
      Value a = memref::LoadOp::create(b, loc, acc, ValueRange{i, d});
      memref::StoreOp::create(b, loc, emitOutputElement(b, loc, row, a), o,
                              ValueRange{tile.b, tile.h, r, d});
    });
    memref::StoreOp::create(b, loc, row.lse, lse,
                            ValueRange{tile.b, tile.h, r});
  });
}

void CpuAttentionBuilder::emitQueryTile(OpBuilder &b, Location loc,
                                        const TileContext &tile, Value cls,
                                        Value m) {
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    memref::StoreOp::create(b, loc, emitNegInf(b, loc), rowMax, i);
    memref::StoreOp::create(b, loc, zero, rowSum, i);
    forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
      memref::StoreOp::create(b, loc, zero, acc, ValueRange{i, d});
    });
  });
  emitSegmentLoop(b, loc, sizes, segments, offsets, cls, m, blockN,
                  [&](OpBuilder &b, Location loc, const SegmentRecord &seg,
                      const SegmentTiles &tiles, bool partial) {
                    emitKvTiles(b, loc, tile, seg, tiles, partial);
                  });
  emitEpilogue(b, loc, tile);
  if (blockMaxOut)
    emitBlockMaxima(b, loc, tile, cls, m);
}

void CpuAttentionBuilder::emitBlockMaxima(OpBuilder &b, Location loc,
                                          const TileContext &tile, Value cls, Value m) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value negInf = emitNegInf(b, loc);
  Value log2e = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(M_LOG2E)));
  forEach(b, loc, kvTileCount, [&](OpBuilder &b, Location loc, Value n) {
    memref::StoreOp::create(b, loc, zero, blockMaxOut, ValueRange{tile.b, tile.h, m, n});
  });
  emitSegmentLoop(
      b, loc, sizes, segments, offsets, cls, m, blockN,
      [&](OpBuilder &b, Location loc, const SegmentRecord &seg, const SegmentTiles &tiles,
          bool) {
        forEach(b, loc, tiles.numTiles, [&](OpBuilder &b, Location loc, Value t) {
          Value n = arith::AddIOp::create(b, loc, seg.lo, t);
          Value best = reduce(
              b, loc, tile.rows, zero,
              [&](OpBuilder &b, Location loc, Value i, Value best) -> Value {
                Value row = arith::AddIOp::create(b, loc, tile.row0, i);
                Value logit = memref::LoadOp::create(b, loc, rowMaxOut,
                                                     ValueRange{tile.b, tile.h, n, row});
                Value l = memref::LoadOp::create(b, loc, lse, ValueRange{tile.b, tile.h, row});
                Value p = math::Exp2Op::create(
                    b, loc,
                    arith::SubFOp::create(b, loc, logit, arith::MulFOp::create(b, loc, l, log2e)));
                // Rows the tile keeps no key of (logit -inf) add nothing.
                Value kept =
                    arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, logit, negInf);
                p = arith::SelectOp::create(b, loc, kept, p, zero);
                return arith::MaximumFOp::create(b, loc, best, p);
              });
          memref::StoreOp::create(b, loc, best, blockMaxOut, ValueRange{tile.b, tile.h, m, n});
        });
      });
}

FailureOr<func::FuncOp> CpuAttentionBuilder::build(OpBuilder &builder) {
  if (blockM <= 0 || blockN <= 0)
    return kernel.emitError("CPU lowering needs positive block sizes");
  if (failed(verifyElementMaskLowerable(kernel.getMask())))
    return failure();
  Location loc = kernel.getLoc();
  MLIRContext *ctx = builder.getContext();
  auto fn = func::FuncOp::create(
      builder, loc, entryName(kernel.getSymName()),
      entryType(ctx, kernelTables(kernel).size(), kernel.getBlockMax()));
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  Block *entry = fn.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);

  emitPrologue(b, loc, *entry);
  emitQueryTileLoops(b, loc, sizes, classIndex, blockM,
                     [&](OpBuilder &b, Location loc, const TileContext &tile,
                         Value cls, Value m) { emitQueryTile(b, loc, tile, cls, m); });
  for (Value buffer : {scores, keys, rowMax, rowSum, acc})
    memref::DeallocOp::create(b, loc, buffer);
  func::ReturnOp::create(b, loc);

  if (failedMask) {
    fn.erase();
    return failure();
  }
  return fn;
}

} // namespace

FailureOr<func::FuncOp> cpu::buildCpuEntry(OpBuilder &builder, KernelOp kernel,
                                           const CpuLoweringOptions &options) {
  CpuAttentionBuilder b(kernel, options);
  return b.build(builder);
}
