//===- TrigF64.cpp - sin, cos and pow in f64 from arithmetic alone --------===//
//
// Implements estimator::emitSinCosF64 and estimator::emitPowF64
// (sattn/Conversion/Estimators.h) for the GPU's estimator stages: the
// gate's rotary embedding turns its features by pos * base^(-2i / F), and
// a GPU has no f64 sin, cos or pow instruction (sattn links no libdevice).
// The CPU's stages call libm, as the reference does; these are within a
// few ulp of it (test/unit/ExpF64Test.cpp checks them against libm).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Estimators.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/ADT/bit.h"

#include <cmath>
#include <cstdint>

using namespace mlir;
using namespace sattn;

namespace {

/// pi / 2 in four parts (fdlibm's split): the first three hold 33
/// significant bits each, so k times them is exact for |k| < 2^20.
constexpr uint64_t kHalfPiParts[] = {0x3FF921FB54400000ull, 0x3DD0B4611A600000ull,
                                     0x3BA3198A2E000000ull, 0x397B839A252049C1ull};

} // namespace

std::pair<Value, Value> estimator::emitSinCosF64(OpBuilder &b, Location loc, Value x) {
  auto c = [&](double v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
  };
  auto mul = [&](Value u, Value v) -> Value { return arith::MulFOp::create(b, loc, u, v); };
  auto add = [&](Value u, Value v) -> Value { return arith::AddFOp::create(b, loc, u, v); };
  auto sub = [&](Value u, Value v) -> Value { return arith::SubFOp::create(b, loc, u, v); };
  auto neg = [&](Value u) -> Value { return arith::NegFOp::create(b, loc, u); };
  auto select = [&](Value cond, Value u, Value v) -> Value {
    return arith::SelectOp::create(b, loc, cond, u, v);
  };
  Type i64 = b.getI64Type();
  // x = k pi/2 + r, |r| <= pi/4 (k rounded to nearest; |x| < 2^20 pi/2
  // keeps the reduction exact, far above any rotary angle of a table).
  Value scaled = mul(x, c(0.63661977236758134308)); // 2 / pi
  Value half = select(arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, scaled, c(0.0)),
                      c(0.5), c(-0.5));
  Value k = arith::FPToSIOp::create(b, loc, i64, add(scaled, half));
  Value kf = arith::SIToFPOp::create(b, loc, b.getF64Type(), k);
  Value r = x;
  for (uint64_t part : kHalfPiParts)
    r = sub(r, mul(kf, c(llvm::bit_cast<double>(part))));
  // Taylor series in r^2 (|r| <= pi/4: the first omitted terms are below
  // 1e-20): sin to r^19, cos to r^20.
  Value r2 = mul(r, r);
  auto series = [&](int first) {
    // Horner over (-1)^m / (first + 2m)!, m = 9 down to 0.
    double coefficient[10];
    double factorial = 1;
    for (int n = 2; n <= first; ++n)
      factorial *= n;
    for (int m = 0; m < 10; ++m) {
      coefficient[m] = (m % 2 ? -1.0 : 1.0) / factorial;
      factorial *= double(first + 2 * m + 1) * double(first + 2 * m + 2);
    }
    Value poly = c(coefficient[9]);
    for (int m = 8; m >= 0; --m)
      poly = add(mul(poly, r2), c(coefficient[m]));
    return poly;
  };
  Value sinR = mul(r, series(1));
  // cos r = 1 - r^2 (1/2! - r^2/4! + ...).
  Value cosR = sub(c(1.0), mul(r2, series(2)));
  // The quadrant k mod 4 (two's complement: also for negative k).
  Value quadrant =
      arith::AndIOp::create(b, loc, k, arith::ConstantIntOp::create(b, loc, 3, 64));
  auto is = [&](int64_t q) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, quadrant,
                                 arith::ConstantIntOp::create(b, loc, q, 64));
  };
  Value sine = select(is(0), sinR, select(is(1), cosR, select(is(2), neg(sinR), neg(cosR))));
  Value cosine = select(is(0), cosR, select(is(1), neg(sinR), select(is(2), neg(cosR), sinR)));
  return {sine, cosine};
}

Value estimator::emitPowF64(OpBuilder &b, Location loc, double base, Value exponent) {
  // exp(e ln(base)) with ln(base) and the product rounded to doubles loses
  // about |e ln(base)| ulp (9 for base 10000): ln(base) is taken as a
  // double plus its residual (from long double), the product exactly as p
  // + error by Dekker's splitting, and exp(p + error) = exp(p) (1 + error).
  auto c = [&](double v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
  };
  auto mul = [&](Value u, Value v) -> Value { return arith::MulFOp::create(b, loc, u, v); };
  auto add = [&](Value u, Value v) -> Value { return arith::AddFOp::create(b, loc, u, v); };
  auto sub = [&](Value u, Value v) -> Value { return arith::SubFOp::create(b, loc, u, v); };
  constexpr double kSplitter = 134217729.0; // 2^27 + 1
  long double exactLog = std::log(static_cast<long double>(base));
  double logBase = static_cast<double>(exactLog);
  double logResidual = static_cast<double>(exactLog - logBase);
  double split = kSplitter * logBase;
  double logHigh = split - (split - logBase), logLow = logBase - logHigh;
  Value t = mul(c(kSplitter), exponent);
  Value high = sub(t, sub(t, exponent));
  Value low = sub(exponent, high);
  Value product = mul(exponent, c(logBase));
  Value error = add(add(add(add(sub(mul(high, c(logHigh)), product), mul(high, c(logLow))),
                            mul(low, c(logHigh))),
                        mul(low, c(logLow))),
                    mul(exponent, c(logResidual)));
  Value power = emitExpF64(b, loc, product);
  return add(power, mul(power, error));
}
