//===- ExpF64.cpp - exp in f64 from arithmetic alone ----------------------===//
//
// Implements estimator::emitExpF64 (sattn/Conversion/Estimators.h): a GPU
// has no f64 exp instruction and sattn links no libdevice, so the GPU's
// estimator stages build exp from arith ops (test/unit/ExpF64Test.cpp
// checks it against libm); and estimator::emitExpThroughF32, the exp of
// tensor-core builds (f32 exp2, which the GPU lowering makes ex2.approx).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Estimators.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace sattn;

Value estimator::emitExpF64(OpBuilder &b, Location loc, Value x) {
  auto c = [&](double v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
  };
  auto mul = [&](Value u, Value v) -> Value { return arith::MulFOp::create(b, loc, u, v); };
  auto add = [&](Value u, Value v) -> Value { return arith::AddFOp::create(b, loc, u, v); };
  auto sub = [&](Value u, Value v) -> Value { return arith::SubFOp::create(b, loc, u, v); };
  Type i64 = b.getI64Type();
  // Clamped so that k fits; results beyond the clamp are +inf and 0 anyway.
  Value xc = arith::MinimumFOp::create(b, loc, arith::MaximumFOp::create(b, loc, x, c(-746.0)),
                                       c(710.0));
  Value scaled = mul(xc, c(1.4426950408889634)); // log2(e)
  Value half = arith::SelectOp::create(
      b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, scaled, c(0.0)), c(0.5),
      c(-0.5));
  Value k = arith::FPToSIOp::create(b, loc, i64, add(scaled, half));
  Value kf = arith::SIToFPOp::create(b, loc, b.getF64Type(), k);
  Value r = sub(sub(xc, mul(kf, c(6.93147180369123816490e-01))),
                mul(kf, c(1.90821492927058770002e-10)));
  // Horner over 1/n!, n = 13 down to 0.
  double inverseFactorial[14];
  inverseFactorial[0] = 1.0;
  for (int n = 1; n < 14; ++n)
    inverseFactorial[n] = inverseFactorial[n - 1] / n;
  Value poly = c(inverseFactorial[13]);
  for (int n = 12; n >= 0; --n)
    poly = add(mul(poly, r), c(inverseFactorial[n]));
  // 2^k as two powers of two, each a normal number.
  auto powerOfTwo = [&](Value e) -> Value {
    Value bits = arith::ShLIOp::create(
        b, loc, arith::AddIOp::create(b, loc, e, arith::ConstantIntOp::create(b, loc, 1023, 64)),
        arith::ConstantIntOp::create(b, loc, 52, 64));
    return arith::BitcastOp::create(b, loc, b.getF64Type(), bits);
  };
  Value k1 = arith::ShRSIOp::create(b, loc, k, arith::ConstantIntOp::create(b, loc, 1, 64));
  Value k2 = arith::SubIOp::create(b, loc, k, k1);
  Value result = mul(mul(poly, powerOfTwo(k1)), powerOfTwo(k2));
  Value isNan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  Value overflow = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                         c(709.782712893383973096));
  result = arith::SelectOp::create(b, loc, overflow,
                                   c(std::numeric_limits<double>::infinity()), result);
  return arith::SelectOp::create(b, loc, isNan, x, result);
}

Value estimator::emitExpThroughF32(OpBuilder &b, Location loc, Value x) {
  Value narrow = arith::TruncFOp::create(b, loc, b.getF32Type(), x);
  Value log2e = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.4426950408889634f));
  Value power = math::Exp2Op::create(b, loc, arith::MulFOp::create(b, loc, narrow, log2e));
  return arith::ExtFOp::create(b, loc, b.getF64Type(), power);
}
