//===- ExpF64Test.cpp - the GPU estimators' f64 functions against libm ----===//
//
// A GPU has no f64 exp instruction and sattn links no libdevice, so the
// estimator stages on the GPU compute exp with estimator::emitExpF64
// (arithmetic only). Here that code is JIT-compiled for the host and
// compared with std::exp: within 1 ulp on arguments across the whole
// range the estimators use (softmax arguments <= 0 and beyond), exact on
// the special values (0, NaN, +-inf, overflow to +inf, underflow to 0
// through subnormals). The same for the gate's sin, cos and pow
// (estimator::emitSinCosF64, emitPowF64). And the f32 route of tensor-core
// builds (estimator::emitExpThroughF32; the host's exp2f stands in for the
// GPU's ex2.approx): within the error of its f32 argument.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Estimators.h"
#include "sattn/InitAll.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace mlir;

namespace {

/// Distance in units in the last place between two finite doubles of one sign.
int64_t ulps(double a, double b) {
  int64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  return x > y ? x - y : y - x;
}

/// `build`(x) applied to every element of a vector, JIT-compiled for the
/// host: func @apply(%in, %out: memref<?xf64>).
class Jit {
public:
  explicit Jit(function_ref<Value(OpBuilder &, Location, Value)> build) {
    sattn::registerAllDialects(registry);
    registerBuiltinDialectTranslation(registry);
    registerLLVMDialectTranslation(registry);
    context = std::make_unique<MLIRContext>(registry);
    context->loadAllAvailableDialects();
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(context.get()));
    OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
    Location loc = b.getUnknownLoc();
    auto vec = MemRefType::get({ShapedType::kDynamic}, b.getF64Type());
    auto func = func::FuncOp::create(b, loc, "apply", b.getFunctionType({vec, vec}, {}));
    func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    Block *entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value n = memref::DimOp::create(b, loc, entry->getArgument(0), zero);
    scf::ForOp::create(b, loc, zero, n, arith::ConstantIndexOp::create(b, loc, 1), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                         Value x = memref::LoadOp::create(nb, nl, entry->getArgument(0), i);
                         memref::StoreOp::create(nb, nl, build(nb, nl, x),
                                                 entry->getArgument(1), i);
                         scf::YieldOp::create(nb, nl);
                       });
    func::ReturnOp::create(b, loc);
    PassManager pm(context.get());
    pm.addPass(createSCFToControlFlowPass());
    pm.addPass(createConvertMathToLLVMPass());
    pm.addPass(createArithToLLVMConversionPass());
    pm.addPass(createFinalizeMemRefToLLVMConversionPass());
    pm.addPass(createConvertFuncToLLVMPass());
    pm.addPass(createConvertControlFlowToLLVMPass());
    pm.addPass(createReconcileUnrealizedCastsPass());
    if (failed(pm.run(*module))) {
      error = "lowering failed";
      return;
    }
    auto created = ExecutionEngine::create(*module);
    if (!created) {
      error = llvm::toString(created.takeError());
      return;
    }
    engine = std::move(*created);
    auto found = engine->lookupPacked("_mlir_ciface_apply");
    if (!found) {
      error = llvm::toString(found.takeError());
      return;
    }
    fn = *found;
  }
  std::vector<double> operator()(std::vector<double> in) const {
    std::vector<double> out(in.size(), -1.0);
    StridedMemRefType<double, 1> inDesc{in.data(), in.data(), 0, {int64_t(in.size())}, {1}};
    StridedMemRefType<double, 1> outDesc{out.data(), out.data(), 0, {int64_t(out.size())}, {1}};
    void *inPtr = &inDesc, *outPtr = &outDesc;
    void *args[] = {&inPtr, &outPtr};
    fn(args);
    return out;
  }
  std::string error;

private:
  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<ExecutionEngine> engine;
  void (*fn)(void **) = nullptr;
};

TEST(ExpF64, MatchesLibmWithinOneUlp) {
  Jit exp(sattn::estimator::emitExpF64);
  ASSERT_TRUE(exp.error.empty()) << exp.error;
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<double> in = {0.0,  -0.0, 1.0,    -1.0,   0.5,     -745.0, -744.4, -740.0,
                            -708.5, 709.0, 709.7, 709.79, 710.0,  1e300,  -1e300, inf,
                            -inf,   1e-300, -1e-20, 0.34657359, -0.34657359};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> wide(-745.0, 709.0), softmax(-40.0, 0.0);
  for (int i = 0; i < 20000; ++i)
    in.push_back(wide(rng));
  for (int i = 0; i < 20000; ++i)
    in.push_back(softmax(rng));
  in.push_back(std::numeric_limits<double>::quiet_NaN());
  std::vector<double> out = exp(in);

  int64_t worst = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    double want = std::exp(in[i]), got = out[i];
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "exp(" << in[i] << ")";
      continue;
    }
    if (std::isinf(want) || want == 0.0) {
      EXPECT_EQ(got, want) << "exp(" << in[i] << ")";
      continue;
    }
    // Subnormal results carry fewer bits: compare those absolutely.
    if (want < std::numeric_limits<double>::min()) {
      EXPECT_LE(std::abs(got - want), 2 * std::numeric_limits<double>::denorm_min())
          << "exp(" << in[i] << ")";
      continue;
    }
    int64_t u = ulps(got, want);
    worst = std::max(worst, u);
    EXPECT_LE(u, 1) << "exp(" << in[i] << ") = " << got << ", libm " << want;
  }
  EXPECT_EQ(out[0], 1.0);
  std::cout << "[ info ] emitExpF64 against libm: worst " << worst << " ulp over " << in.size()
            << " arguments\n";
}

// Tensor-core builds' exp: f32 exp2 of the f32-rounded argument times
// log2(e), widened. Its relative error is that of the argument's rounding
// (|x| 2^-24, times the exp's growth), log2(e)'s and the product's in f32,
// and exp2f's: within 2^-21 (1 + |x|) on softmax arguments; exactly 1 at 0
// and 0 at -inf (a masked logit).
TEST(ExpF64, ThroughF32IsWithinItsArgumentsRounding) {
  Jit exp(sattn::estimator::emitExpThroughF32);
  ASSERT_TRUE(exp.error.empty()) << exp.error;
  std::vector<double> in = {0.0, -1.0, -0.5, -40.0, -87.0,
                            -std::numeric_limits<double>::infinity()};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> softmax(-40.0, 0.0);
  for (int i = 0; i < 20000; ++i)
    in.push_back(softmax(rng));
  std::vector<double> out = exp(in);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[5], 0.0);
  double worst = 0;
  for (size_t i = 1; i + 1 < in.size(); ++i) {
    if (i == 5)
      continue;
    double want = std::exp(in[i]), rel = std::abs(out[i] - want) / want;
    worst = std::max(worst, rel / (1 + std::abs(in[i])));
    EXPECT_LE(rel, std::ldexp(1.0, -21) * (1 + std::abs(in[i])))
        << "exp(" << in[i] << ") = " << out[i] << ", libm " << want;
  }
  std::cout << "[ info ] emitExpThroughF32 against libm: worst " << worst
            << " relative error per (1 + |x|)\n";
}

// The gate's rotary embedding on the GPU: sin and cos of angles pos *
// base^(-2i / F) (pos a block index below 8192), and that power of a
// constant base. Near zero a sine's ulp shrinks, so sin and cos are held to
// 2^-52 absolutely (the reduction's error) or 2 ulp, whichever is larger.
TEST(TrigF64, MatchesLibm) {
  Jit sine([](OpBuilder &b, Location loc, Value x) {
    return sattn::estimator::emitSinCosF64(b, loc, x).first;
  });
  Jit cosine([](OpBuilder &b, Location loc, Value x) {
    return sattn::estimator::emitSinCosF64(b, loc, x).second;
  });
  Jit power([](OpBuilder &b, Location loc, Value x) {
    return sattn::estimator::emitPowF64(b, loc, 10000.0, x);
  });
  ASSERT_TRUE(sine.error.empty() && cosine.error.empty() && power.error.empty())
      << sine.error << cosine.error << power.error;
  std::vector<double> angles = {0.0, -0.0, 1e-300, 1e-8, 0.5, 0.7853981633974483,
                                1.5707963267948966, 3.141592653589793, 4.71238898038469,
                                6.283185307179586, 100.0, 1000.0, 8191.0, -2.5, -7000.25};
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> wide(-1.0, 8192.0), small(-4.0, 4.0);
  for (int i = 0; i < 20000; ++i)
    angles.push_back(wide(rng));
  for (int i = 0; i < 5000; ++i)
    angles.push_back(small(rng));
  std::vector<double> gotSin = sine(angles), gotCos = cosine(angles);
  double worst = 0;
  for (size_t i = 0; i < angles.size(); ++i)
    for (auto [got, want] : {std::pair{gotSin[i], std::sin(angles[i])},
                             std::pair{gotCos[i], std::cos(angles[i])}}) {
      double allowed = std::max(0x1p-52, 2 * std::abs(want) * 0x1p-52);
      worst = std::max(worst, std::abs(got - want) / allowed);
      EXPECT_LE(std::abs(got - want), allowed)
          << "angle " << angles[i] << ": " << got << ", libm " << want;
    }
  EXPECT_EQ(gotSin[0], 0.0);
  EXPECT_EQ(gotCos[0], 1.0);
  // Exponents -2i / F of the rotary pairs, i < F / 2.
  std::vector<double> exponents;
  for (int f : {2, 8, 64, 128, 4096})
    for (int i = 0; i < f / 2; ++i)
      exponents.push_back(-2.0 * double(i) / double(f));
  std::vector<double> gotPow = power(exponents);
  int64_t worstPow = 0;
  for (size_t i = 0; i < exponents.size(); ++i) {
    double want = std::pow(10000.0, exponents[i]);
    int64_t u = ulps(gotPow[i], want);
    worstPow = std::max(worstPow, u);
    EXPECT_LE(u, 2) << "10000^" << exponents[i] << " = " << gotPow[i] << ", libm " << want;
  }
  std::cout << "[ info ] emitSinCosF64 against libm: worst " << worst
            << " of the allowed error over " << angles.size() << " angles; emitPowF64: worst "
            << worstPow << " ulp\n";
}

} // namespace
