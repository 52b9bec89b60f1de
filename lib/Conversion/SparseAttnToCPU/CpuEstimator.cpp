//===- CpuEstimator.cpp - a kernel's estimator as a CPU function ----------===//
//
// Builds `@NAME_estimate_cpu`: the estimator stages of
// sattn/Conversion/Estimators.h in their launch order, each a loop over its
// items. This is the code the GPU runs a thread per item, so CI checks the
// compiled estimator by comparing this function's tables with the
// reference estimators (lib/Core/Estimators.cpp).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/SparseAttnToCPU.h"

#include "sattn/Conversion/Estimators.h"
#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

std::string cpu::estimatorEntryName(StringRef kernelName) {
  return (kernelName + "_estimate_cpu").str();
}

FunctionType cpu::estimatorEntryType(MLIRContext *ctx) {
  constexpr int64_t dyn = ShapedType::kDynamic;
  Type i64 = IntegerType::get(ctx, 64);
  auto f32s = MemRefType::get({dyn}, Float32Type::get(ctx));
  SmallVector<Type> inputs{f32s, f32s};
  inputs.append(abi::kNumEstimatorParams - 4, i64); // strides, lq, lk, batch
  inputs.append({MemRefType::get({dyn}, Float64Type::get(ctx)), MemRefType::get({dyn}, i64)});
  return FunctionType::get(ctx, inputs, {});
}

FailureOr<func::FuncOp> cpu::buildCpuEstimatorEntry(OpBuilder &builder, KernelOp kernel,
                                                    const plan::EstimatorSpec &spec) {
  Location loc = kernel.getLoc();
  auto func = func::FuncOp::create(builder, loc, estimatorEntryName(kernel.getSymName()),
                                   estimatorEntryType(builder.getContext()));
  func->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  Block *entry = func.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  ValueRange args = entry->getArguments();
  // q, k, q_sb, q_sh, q_ss, k_sb, k_sh, k_ss, lq, lk, batch, pooled, table.
  auto strides = [&](unsigned first) {
    return SmallVector<Value>{toIndex(b, loc, args[first]), toIndex(b, loc, args[first + 1]),
                              toIndex(b, loc, args[first + 2])};
  };
  SmallVector<Value> qStrides = strides(2), kStrides = strides(5);
  Value q = args[0], k = args[1];
  estimator::InputLoader load = [=](OpBuilder &lb, Location ll, bool key, Value bIdx,
                                    Value h, Value row, Value column) -> Value {
    ArrayRef<Value> s = key ? kStrides : qStrides;
    Value at = add(lb, ll,
                   add(lb, ll, add(lb, ll, mul(lb, ll, bIdx, s[0]), mul(lb, ll, h, s[1])),
                       mul(lb, ll, row, s[2])),
                   column);
    Value x = memref::LoadOp::create(lb, ll, key ? k : q, ValueRange{at});
    return arith::ExtFOp::create(lb, ll, lb.getF64Type(), x);
  };
  estimator::ExpBuilder exp = [](OpBuilder &eb, Location el, Value x) -> Value {
    return math::ExpOp::create(eb, el, x); // libm's exp, as the reference uses
  };
  estimator::EstimatorEnv env = estimator::bindEstimatorParams(
      b, loc, kernel, spec, args[8], args[9], args[10], load, exp, args[11], args[12]);
  for (int stage : estimator::launchOrder(spec)) {
    Value items = estimator::emitStageItems(b, loc, stage, env);
    scf::ForOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 64), items,
                       arith::ConstantIntOp::create(b, loc, 1, 64), ValueRange{},
                       [&](OpBuilder &ib, Location il, Value item, ValueRange) {
                         estimator::emitStageItem(ib, il, stage, env, item);
                         scf::YieldOp::create(ib, il);
                       });
  }
  func::ReturnOp::create(b, loc);
  return func;
}
