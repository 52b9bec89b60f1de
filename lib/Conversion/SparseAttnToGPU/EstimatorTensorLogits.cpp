//===- EstimatorTensorLogits.cpp - estimator logits on tensor cores -------===//
//
// The GPU form of a logit tile stage's logit phase over query rows
// (estimator::TileRunner::tensorLogits): the rows and the key window sit in
// shared memory in their input type (bf16 or f16), so their products are
// the m16n8k16 mma.sync's, exact, summed in f32. Each warp takes 16 x 8
// blocks of the tile in turn and hands every (row, key, dot) it holds to
// the stage. Why: summed in f64 on CUDA cores, these phases bound the
// estimators (vertical_slash's lines, the stripe's anchors, XAttention's
// pool and score run at a few TFLOP/s); the tensor cores' products come in
// 2048 multiply-adds per instruction. Rows are padded like keys (2
// elements), so fragment elements are read as 16-bit pairs, 4-byte aligned.
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

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

namespace {

constexpr int64_t kWarpSize = 32, kMmaRows = 16, kMmaKeys = 8, kMmaDepth = 16;

/// The 16-bit pair at entries `at`, `at + 1` of `buffer` as one register.
Value loadPair(OpBuilder &b, Location loc, Type element, Value buffer, Value at) {
  Value x = memref::LoadOp::create(b, loc, buffer, ValueRange{at});
  Value y = memref::LoadOp::create(b, loc, buffer, ValueRange{add(b, loc, at, cst(b, loc, 1))});
  return vector::FromElementsOp::create(b, loc, VectorType::get({2}, element), ValueRange{x, y});
}

} // namespace

void sattn::gpucodegen::emitEstimatorTensorLogits(OpBuilder &b, Location loc, Type element,
                                                  Value buffer,
                                                  const estimator::TensorLogitBlock &block,
                                                  estimator::TensorLogitUse use) {
  int64_t rowBlocks = (block.rows + kMmaRows - 1) / kMmaRows;
  int64_t keyBlocks = (block.keys + kMmaKeys - 1) / kMmaKeys;
  int64_t warps = abi::kEstimatorThreads / kWarpSize;
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value warp = div(b, loc, thread, cst(b, loc, kWarpSize));
  Value lane = rem(b, loc, thread, cst(b, loc, kWarpSize));
  Value group = div(b, loc, lane, cst(b, loc, 4)), quad = rem(b, loc, lane, cst(b, loc, 4));
  Value pairColumn = mul(b, loc, quad, cst(b, loc, 2));
  Value stride = cst(b, loc, block.stride);
  // Entry of element `column` of row `index` (clamped to the last one: a
  // block's rows and keys past the tile only feed results nobody uses).
  auto entry = [&](OpBuilder &nb, Location nl, int64_t at, int64_t count, Value index,
                   Value column) {
    Value row = min(nb, nl, index, cst(nb, nl, count - 1));
    return add(nb, nl, cst(nb, nl, at), add(nb, nl, mul(nb, nl, row, stride), column));
  };
  scf::ForOp::create(
      b, loc, warp, cst(b, loc, rowBlocks * keyBlocks), cst(b, loc, warps), ValueRange{},
      [&](OpBuilder &ib, Location il, Value item, ValueRange) {
        Value row0 = add(ib, il, mul(ib, il, div(ib, il, item, cst(ib, il, keyBlocks)),
                                     cst(ib, il, kMmaRows)),
                         group);
        Value row8 = add(ib, il, row0, cst(ib, il, 8));
        Value keyBase = mul(ib, il, rem(ib, il, item, cst(ib, il, keyBlocks)), cst(ib, il, kMmaKeys));
        Value key = add(ib, il, keyBase, group);
        Value zero = arith::ConstantOp::create(ib, il, ib.getF32FloatAttr(0.0));
        // The k steps as a loop carrying the accumulators (LLVM unrolls it:
        // 8 mma.sync per tile at head_dim 128, their pairs of 16-bit
        // elements read as ld.shared.b32).
        auto steps = scf::ForOp::create(
            ib, il, cst(ib, il, 0), cst(ib, il, block.depth), cst(ib, il, kMmaDepth),
            ValueRange{zero, zero, zero, zero},
            [&](OpBuilder &kb, Location kl, Value k0, ValueRange carried) {
              Value low = add(kb, kl, k0, pairColumn);
              Value high = add(kb, kl, low, cst(kb, kl, 8));
              auto rowPair = [&](Value row, Value column) {
                return loadPair(kb, kl, element, buffer,
                                entry(kb, kl, block.rowsAt, block.rows, row, column));
              };
              auto keyPair = [&](Value column) {
                return loadPair(kb, kl, element, buffer,
                                entry(kb, kl, block.keysAt, block.keys, key, column));
              };
              SmallVector<Value, 4> a{rowPair(row0, low), rowPair(row8, low),
                                      rowPair(row0, high), rowPair(row8, high)};
              SmallVector<Value, 2> bFrag{keyPair(low), keyPair(high)};
              scf::YieldOp::create(kb, kl, emitMma16816(kb, kl, element, a, bFrag, carried));
            });
        SmallVector<Value, 4> acc(steps.getResults());
        for (int64_t e = 0; e < 4; ++e) {
          Value row = e < 2 ? row0 : row8;
          Value k = add(ib, il, keyBase, add(ib, il, pairColumn, cst(ib, il, e % 2)));
          Value held = arith::AndIOp::create(
              ib, il, cmp(ib, il, arith::CmpIPredicate::slt, row, cst(ib, il, block.rows)),
              cmp(ib, il, arith::CmpIPredicate::slt, k, cst(ib, il, block.keys)));
          scf::IfOp::create(ib, il, held, [&](OpBuilder &ub, Location ul) {
            use(ub, ul, row, k, acc[e]);
            scf::YieldOp::create(ub, ul);
          });
        }
        scf::YieldOp::create(ib, il);
      });
  gpu::BarrierOp::create(b, loc);
}
