//===- WarpSoftmax.cpp - online softmax on accumulator fragments ----------===//
//
// Implements WarpSoftmax.h. Everything is unrolled over the fragment: the
// values live in registers, and an index into them must be static.
//
//===----------------------------------------------------------------------===//

#include "WarpSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;

static Value f32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

RowState sattn::gpucodegen::emitInitialRowState(OpBuilder &b, Location loc) {
  RowState s;
  for (int half = 0; half < 2; ++half) {
    s.max[half] = emitNegInf(b, loc);
    s.sum[half] = f32(b, loc, 0.0f);
  }
  return s;
}

/// Butterfly over lanes xor each of `offsets`: {1, 2} reduces the four
/// lanes of a quad, {16, 8, 4, 2, 1} the whole warp.
template <typename CombineOp>
static Value butterflyReduce(OpBuilder &b, Location loc, Value x,
                             ArrayRef<int32_t> offsets) {
  for (int32_t offset : offsets) {
    Value other = gpu::ShuffleOp::create(b, loc, x, offset, /*width=*/32,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    x = CombineOp::create(b, loc, x, other);
  }
  return x;
}

template <typename CombineOp>
static Value quadReduce(OpBuilder &b, Location loc, Value x) {
  return butterflyReduce<CombineOp>(b, loc, x, {1, 2});
}

Value sattn::gpucodegen::emitWarpMax(OpBuilder &b, Location loc, Value x) {
  return butterflyReduce<arith::MaximumFOp>(b, loc, x, {16, 8, 4, 2, 1});
}

Value sattn::gpucodegen::emitQuadMax(OpBuilder &b, Location loc, Value x,
                                     bool fastMax) {
  if (fastMax)
    return quadReduce<arith::MaxNumFOp>(b, loc, x);
  return quadReduce<arith::MaximumFOp>(b, loc, x);
}

Value sattn::gpucodegen::emitQuadSum(OpBuilder &b, Location loc, Value x) {
  return quadReduce<arith::AddFOp>(b, loc, x);
}

void sattn::gpucodegen::emitMaskScores(
    OpBuilder &b, Location loc, MutableArrayRef<Value> scores,
    function_ref<Value(int64_t tile, int64_t e)> keep) {
  Value negInf = emitNegInf(b, loc);
  for (int64_t i = 0, e = scores.size(); i < e; ++i) {
    Value kept = keep(i / 4, i % 4);
    if (kept)
      scores[i] = arith::SelectOp::create(b, loc, kept, scores[i], negInf);
  }
}

SoftmaxStep sattn::gpucodegen::emitSoftmaxStep(OpBuilder &b, Location loc,
                                               MutableArrayRef<Value> scores,
                                               const RowState &old,
                                               Value log2Scale, bool fastMax) {
  std::array<Value, 2> tileMax = {emitNegInf(b, loc), emitNegInf(b, loc)};
  if (fastMax) {
    // A tree over each row's values: log2 of the chain's dependent steps.
    for (int half = 0; half < 2; ++half) {
      SmallVector<Value> level;
      for (int64_t i = 0, e = scores.size(); i < e; ++i)
        if (rowHalfOf(i % 4) == half)
          level.push_back(scores[i]);
      while (level.size() > 1) {
        SmallVector<Value> next;
        for (size_t i = 0; i + 1 < level.size(); i += 2)
          next.push_back(arith::MaxNumFOp::create(b, loc, level[i], level[i + 1]));
        if (level.size() % 2)
          next.push_back(level.back());
        level = std::move(next);
      }
      if (!level.empty())
        tileMax[half] = level.front();
    }
  } else {
    for (int64_t i = 0, e = scores.size(); i < e; ++i) {
      Value &m = tileMax[rowHalfOf(i % 4)];
      m = arith::MaximumFOp::create(b, loc, m, scores[i]);
    }
  }
  SoftmaxStep step;
  std::array<RowRescale, 2> rescale;
  for (int half = 0; half < 2; ++half) {
    // max(s) * c == max(s * c) for c > 0, also for -inf.
    Value logitMax = arith::MulFOp::create(
        b, loc, emitQuadMax(b, loc, tileMax[half], fastMax), log2Scale);
    step.tileMax[half] = logitMax;
    rescale[half] = emitRowRescale(b, loc, old.max[half], logitMax);
    step.state.max[half] = rescale[half].newMax;
    step.alpha[half] = rescale[half].alpha;
  }
  std::array<Value, 2> negMax;
  for (int half = 0; half < 2; ++half)
    negMax[half] = arith::NegFOp::create(b, loc, rescale[half].safeMax);
  std::array<Value, 2> tileSum = {f32(b, loc, 0.0f), f32(b, loc, 0.0f)};
  for (int64_t i = 0, e = scores.size(); i < e; ++i) {
    int64_t half = rowHalfOf(i % 4);
    // -inf * c - max = -inf for masked scores: exp2 gives 0.
    scores[i] = math::Exp2Op::create(
        b, loc, math::FmaOp::create(b, loc, scores[i], log2Scale, negMax[half]));
    tileSum[half] = arith::AddFOp::create(b, loc, tileSum[half], scores[i]);
  }
  for (int half = 0; half < 2; ++half) {
    Value scaled =
        arith::MulFOp::create(b, loc, old.sum[half], step.alpha[half]);
    step.state.sum[half] = arith::AddFOp::create(b, loc, scaled, tileSum[half]);
  }
  return step;
}

void sattn::gpucodegen::emitRescaleAccumulators(
    OpBuilder &b, Location loc, MutableArrayRef<Value> acc,
    const std::array<Value, 2> &alpha) {
  for (int64_t i = 0, e = acc.size(); i < e; ++i)
    acc[i] = arith::MulFOp::create(b, loc, acc[i], alpha[rowHalfOf(i % 4)]);
}

std::array<RowEpilogue, 2>
sattn::gpucodegen::emitRowEpilogues(OpBuilder &b, Location loc,
                                    const RowState &state) {
  std::array<RowEpilogue, 2> rows;
  for (int half = 0; half < 2; ++half)
    rows[half] = emitRowEpilogue(b, loc, state.max[half],
                                 emitQuadSum(b, loc, state.sum[half]));
  return rows;
}
