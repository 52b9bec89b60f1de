//===- CpuAttentionBackward.cpp - planned attention's gradients on the CPU ===//
//
// Builds `@NAME_bwd_cpu`: FlashAttention-2's backward over the forward's
// tile plan, the reference that CI checks the gradients of every mask
// with. The forward's LSE gives each probability back without a second
// softmax pass:
//
//   dQ, dK, dV = 0
//   for b, h; query tile m of (class of (b, h)):
//     D_i = dO_i . O_i                                 per row of the tile
//     for segment s of (class, m); KV tile of s: keys, scores (the
//     forward's, masked on PARTIAL tiles: CpuTileScores.h)
//       P_ij  = 2^(S_ij - LSE_i log2 e)                 0 on empty rows
//       dV_j += P_ij dO_i
//       dS_ij = P_ij (dO_i . V_j - D_i)
//       dQ_i += scale dS_ij K_j,   dK_j += scale dS_ij Q_i
//
// A sequential loop needs no transposed plan: dK and dV accumulate in
// place, over query tiles and over the query sizes.heads of a KV head (GQA).
// The GPU backward walks the plan from the KV side instead
// (lib/Core/TransposedPlan).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/SparseAttnToCPU.h"

#include "CpuPlanWalk.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"
#include "sattn/Conversion/TileIteration.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

std::string cpu::backwardEntryName(StringRef kernelName) {
  return (kernelName + "_bwd_cpu").str();
}

FunctionType cpu::backwardEntryType(MLIRContext *ctx, unsigned numTables) {
  // The forward's Q, K, V, O, LSE; then dO, dQ, dK, dV like O; then the
  // plan and the tables.
  FunctionType forward = entryType(ctx, numTables);
  ArrayRef<Type> in = forward.getInputs();
  SmallVector<Type> inputs(in.begin(), in.begin() + kArgSegments);
  inputs.append(4, in[kArgO]);
  inputs.append(in.begin() + kArgSegments, in.end());
  return FunctionType::get(ctx, inputs, {});
}

namespace {

class CpuBackwardBuilder {
public:
  CpuBackwardBuilder(KernelOp kernel, const CpuLoweringOptions &options)
      : kernel(kernel), blockM(options.blockM), blockN(options.blockN) {}

  FailureOr<func::FuncOp> build(OpBuilder &builder);

private:
  void emitPrologue(OpBuilder &b, Location loc, Block &entry);
  void emitZeroGradients(OpBuilder &b, Location loc);
  void emitQueryTile(OpBuilder &b, Location loc, const TileContext &tile,
                     Value cls, Value m);
  void emitKvTile(OpBuilder &b, Location loc, const TileContext &tile,
                  Value numKeys, bool partial);

  Value f32(OpBuilder &b, Location loc, double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value dot(OpBuilder &b, Location loc, Value x, ValueRange xAt, Value y,
            ValueRange yAt) {
    return emitDot(b, loc, sizes.headDim, x, xAt, y, yAt);
  }

  KernelOp kernel;
  int64_t blockM, blockN;
  bool failedMask = false;

  Value q, k, v, o, lse, dO, dQ, dK, dV, segments, offsets, classIndex;
  ProblemSizes sizes; // runtime sizes (index)
  Value scale, log2Scale;
  // Scratch: the tile's scores (BM x BN), key positions (BN), D per row.
  Value scores, keys, rowDelta;
  llvm::StringMap<TableBinding> tables;
};

void CpuBackwardBuilder::emitPrologue(OpBuilder &b, Location loc,
                                      Block &entry) {
  auto arg = [&](unsigned i) { return entry.getArgument(i); };
  q = arg(kBwdArgQ);
  k = arg(kBwdArgK);
  v = arg(kBwdArgV);
  o = arg(kBwdArgO);
  lse = arg(kBwdArgLse);
  dO = arg(kBwdArgDO);
  dQ = arg(kBwdArgDQ);
  dK = arg(kBwdArgDK);
  dV = arg(kBwdArgDV);
  segments = arg(kBwdArgSegments);
  offsets = arg(kBwdArgOffsets);
  classIndex = arg(kBwdArgClassIndex);

  sizes = emitProblemSizes(b, loc, q, k, blockM);
  double softmaxScale = kernel.getScale().convertToDouble();
  scale = f32(b, loc, softmaxScale);
  log2Scale = emitLog2Scale(b, loc, softmaxScale);

  Type f32Type = b.getF32Type();
  scores = memref::AllocOp::create(b, loc,
                                   MemRefType::get({blockM, blockN}, f32Type));
  keys = memref::AllocOp::create(
      b, loc, MemRefType::get({blockN}, b.getIndexType()));
  rowDelta = memref::AllocOp::create(b, loc, MemRefType::get({blockM}, f32Type));

  tables = bindTables(b, loc, kernel, entry, kNumFixedBwdArgs, sizes);
}

void CpuBackwardBuilder::emitZeroGradients(OpBuilder &b, Location loc) {
  std::pair<Value, Value> grads[] = {{dQ, sizes.heads}, {dK, sizes.kvHeads}, {dV, sizes.kvHeads}};
  for (auto [gradient, gradientHeads] : grads) {
    Value grad = gradient, numHeads = gradientHeads;
    Value length = grad == dQ ? sizes.lq : sizes.lk;
    Value zero = f32(b, loc, 0);
    forEach(b, loc, sizes.batch, [&](OpBuilder &b, Location loc, Value bi) {
      forEach(b, loc, numHeads, [&](OpBuilder &b, Location loc, Value h) {
        forEach(b, loc, length, [&](OpBuilder &b, Location loc, Value r) {
          forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
            memref::StoreOp::create(b, loc, zero, grad, ValueRange{bi, h, r, d});
          });
        });
      });
    });
  }
}

void CpuBackwardBuilder::emitKvTile(OpBuilder &b, Location loc,
                                    const TileContext &tile, Value numKeys,
                                    bool partial) {
  TileScoreOperands ops{kernel, q, k, sizes.lk, sizes.headDim, sizes.queryShift, log2Scale,
                        scores, keys, &tables};
  if (failed(emitTileScores(b, loc, ops, tile, numKeys, partial)))
    failedMask = true;
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value row = arith::AddIOp::create(b, loc, tile.row0, i);
    Value rowLse = memref::LoadOp::create(b, loc, lse, ValueRange{tile.b, tile.h, row});
    // A row without kept keys has LSE = -inf and no gradient.
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                        rowLse, emitNegInf(b, loc));
    Value safeLse = arith::SelectOp::create(b, loc, empty, f32(b, loc, 0), rowLse);
    Value lse2 = arith::MulFOp::create(b, loc, safeLse, f32(b, loc, M_LOG2E));
    Value delta = memref::LoadOp::create(b, loc, rowDelta, i);
    forEach(b, loc, numKeys, [&](OpBuilder &b, Location loc, Value j) {
      Value key = memref::LoadOp::create(b, loc, keys, j);
      Value s = memref::LoadOp::create(b, loc, scores, ValueRange{i, j});
      Value p = math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, s, lse2));
      p = arith::SelectOp::create(b, loc, empty, f32(b, loc, 0), p);
      Value dp = dot(b, loc, dO, {tile.b, tile.h, row}, v, {tile.b, tile.kvh, key});
      Value ds = arith::MulFOp::create(
          b, loc, scale,
          arith::MulFOp::create(b, loc, p, arith::SubFOp::create(b, loc, dp, delta)));
      forEach(b, loc, sizes.headDim, [&](OpBuilder &b, Location loc, Value d) {
        SmallVector<Value, 4> qAt{tile.b, tile.h, row, d}, kAt{tile.b, tile.kvh, key, d};
        auto accumulate = [&](Value grad, ValueRange at, Value factor, Value x) {
          Value old = memref::LoadOp::create(b, loc, grad, at);
          Value add = arith::MulFOp::create(b, loc, factor, x);
          memref::StoreOp::create(b, loc, arith::AddFOp::create(b, loc, old, add),
                                  grad, at);
        };
        accumulate(dV, kAt, p, memref::LoadOp::create(b, loc, dO, qAt));
        accumulate(dQ, qAt, ds, memref::LoadOp::create(b, loc, k, kAt));
        accumulate(dK, kAt, ds, memref::LoadOp::create(b, loc, q, qAt));
      });
    });
  });
}

void CpuBackwardBuilder::emitQueryTile(OpBuilder &b, Location loc,
                                       const TileContext &tile, Value cls,
                                       Value m) {
  forEach(b, loc, tile.rows, [&](OpBuilder &b, Location loc, Value i) {
    Value row = arith::AddIOp::create(b, loc, tile.row0, i);
    SmallVector<Value, 3> at{tile.b, tile.h, row};
    memref::StoreOp::create(b, loc, dot(b, loc, dO, at, o, at), rowDelta, i);
  });
  emitSegmentLoop(
      b, loc, sizes, segments, offsets, cls, m, blockN,
      [&](OpBuilder &b, Location loc, const SegmentRecord &seg,
          const SegmentTiles &tiles, bool partial) {
        forEach(b, loc, tiles.numTiles, [&](OpBuilder &b, Location loc, Value t) {
          Value numKeys =
              emitTileKeys(b, loc, seg, tiles, t, sizes.lk, blockN, keys);
          emitKvTile(b, loc, tile, numKeys, partial);
        });
      });
}

FailureOr<func::FuncOp> CpuBackwardBuilder::build(OpBuilder &builder) {
  if (blockM <= 0 || blockN <= 0)
    return kernel.emitError("CPU lowering needs positive block sizes");
  if (failed(verifyElementMaskLowerable(kernel.getMask())))
    return failure();
  Location loc = kernel.getLoc();
  MLIRContext *ctx = builder.getContext();
  auto fn = func::FuncOp::create(builder, loc,
                                 backwardEntryName(kernel.getSymName()),
                                 backwardEntryType(ctx, kernelTables(kernel).size()));
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  Block *entry = fn.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);

  emitPrologue(b, loc, *entry);
  emitZeroGradients(b, loc);
  emitQueryTileLoops(b, loc, sizes, classIndex, blockM,
                     [&](OpBuilder &b, Location loc, const TileContext &tile,
                         Value cls, Value m) { emitQueryTile(b, loc, tile, cls, m); });
  for (Value buffer : {scores, keys, rowDelta})
    memref::DeallocOp::create(b, loc, buffer);
  func::ReturnOp::create(b, loc);

  if (failedMask) {
    fn.erase();
    return failure();
  }
  return fn;
}

} // namespace

FailureOr<func::FuncOp>
cpu::buildCpuBackwardEntry(OpBuilder &builder, KernelOp kernel,
                           const CpuLoweringOptions &options) {
  CpuBackwardBuilder b(kernel, options);
  return b.build(builder);
}
