//===- OnlineSoftmax.cpp - FlashAttention-2 softmax steps -----------------===//
//
// Implements the scalar online-softmax builders of
// sattn/Conversion/OnlineSoftmax.h. They are value-level on purpose: the
// CPU reference applies them to memref elements, the GPU kernels to
// register fragments.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/OnlineSoftmax.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace sattn;

static Value f32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(static_cast<float>(v)));
}

Value sattn::emitLog2Scale(OpBuilder &b, Location loc, double scale) {
  // Rounded to f32 once, from the exact double product.
  return f32(b, loc, scale * M_LOG2E);
}

Value sattn::emitNegInf(OpBuilder &b, Location loc) {
  return f32(b, loc, -std::numeric_limits<double>::infinity());
}

RowRescale sattn::emitRowRescale(OpBuilder &b, Location loc, Value oldMax,
                                 Value tileMax) {
  RowRescale r;
  r.newMax = arith::MaximumFOp::create(b, loc, oldMax, tileMax);
  Value nothingKept = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            r.newMax, emitNegInf(b, loc));
  r.safeMax =
      arith::SelectOp::create(b, loc, nothingKept, f32(b, loc, 0.0), r.newMax);
  r.alpha = math::Exp2Op::create(
      b, loc, arith::SubFOp::create(b, loc, oldMax, r.safeMax));
  return r;
}

Value sattn::emitProbability(OpBuilder &b, Location loc, Value logit,
                             Value safeMax) {
  return math::Exp2Op::create(b, loc,
                              arith::SubFOp::create(b, loc, logit, safeMax));
}

RowEpilogue sattn::emitRowEpilogue(OpBuilder &b, Location loc, Value rowMax,
                                   Value rowSum) {
  RowEpilogue r;
  Value zero = f32(b, loc, 0.0);
  r.empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowSum,
                                  zero);
  // 1 / 0 is computed for empty rows but never selected.
  Value inv = arith::DivFOp::create(b, loc, f32(b, loc, 1.0), rowSum);
  r.invSum = arith::SelectOp::create(b, loc, r.empty, zero, inv);
  // ln(sum_k e^s_k) = ln(2^m * sum) = m * ln 2 + ln(sum), m in base-2 units.
  Value lse = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, rowMax, f32(b, loc, M_LN2)),
      math::LogOp::create(b, loc, rowSum));
  r.lse = arith::SelectOp::create(b, loc, r.empty, emitNegInf(b, loc), lse);
  return r;
}

Value sattn::emitOutputElement(OpBuilder &b, Location loc,
                               const RowEpilogue &row, Value acc) {
  Value scaled = arith::MulFOp::create(b, loc, acc, row.invSum);
  return arith::SelectOp::create(b, loc, row.empty, f32(b, loc, 0.0), scaled);
}
