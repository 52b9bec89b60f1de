//===- ExpF64Test.cpp - the GPU estimators' f64 exp against libm ----------===//
//
// A GPU has no f64 exp instruction and sattn links no libdevice, so the
// estimator stages on the GPU compute exp with estimator::emitExpF64
// (arithmetic only). Here that code is JIT-compiled for the host and
// compared with std::exp: within 1 ulp on arguments across the whole
// range the estimators use (softmax arguments <= 0 and beyond), exact on
// the special values (0, NaN, +-inf, overflow to +inf, underflow to 0
// through subnormals).
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

TEST(ExpF64, MatchesLibmWithinOneUlp) {
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  // func @exp_all(%in, %out: memref<?xf64>): out[i] = emitExpF64(in[i]).
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
  OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
  Location loc = b.getUnknownLoc();
  auto vec = MemRefType::get({ShapedType::kDynamic}, b.getF64Type());
  auto func = func::FuncOp::create(b, loc, "exp_all", b.getFunctionType({vec, vec}, {}));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value n = memref::DimOp::create(b, loc, entry->getArgument(0), zero);
  scf::ForOp::create(b, loc, zero, n, arith::ConstantIndexOp::create(b, loc, 1), ValueRange{},
                     [&](OpBuilder &nb, Location nl, Value i, ValueRange) {
                       Value x = memref::LoadOp::create(nb, nl, entry->getArgument(0), i);
                       memref::StoreOp::create(nb, nl, sattn::estimator::emitExpF64(nb, nl, x),
                                               entry->getArgument(1), i);
                       scf::YieldOp::create(nb, nl);
                     });
  func::ReturnOp::create(b, loc);

  PassManager pm(&context);
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  auto engine = ExecutionEngine::create(*module);
  ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
  auto fn = (*engine)->lookupPacked("_mlir_ciface_exp_all");
  ASSERT_TRUE(bool(fn)) << llvm::toString(fn.takeError());

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
  std::vector<double> out(in.size(), -1.0);
  StridedMemRefType<double, 1> inDesc{in.data(), in.data(), 0, {int64_t(in.size())}, {1}};
  StridedMemRefType<double, 1> outDesc{out.data(), out.data(), 0, {int64_t(out.size())}, {1}};
  void *inPtr = &inDesc, *outPtr = &outDesc;
  void *args[] = {&inPtr, &outPtr};
  (*fn)(args);

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

} // namespace
