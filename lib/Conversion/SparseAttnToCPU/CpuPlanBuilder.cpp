//===- CpuPlanBuilder.cpp - the device plan builder as a CPU function -----===//
//
// Builds `@NAME_plan_cpu`: the stages of sattn/Conversion/DevicePlan.h one
// after the other, each a loop over its items. This is the same code the
// GPU runs one thread per item, so CI checks the device plan builder by
// comparing this function's plans with the host planner's.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/SparseAttnToCPU.h"

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

std::string cpu::planEntryName(StringRef kernelName) {
  return (kernelName + "_plan_cpu").str();
}

FunctionType cpu::planEntryType(MLIRContext *ctx, unsigned numTables) {
  constexpr int64_t dyn = ShapedType::kDynamic;
  Type i64 = IntegerType::get(ctx, 64), i32 = IntegerType::get(ctx, 32);
  auto vector = MemRefType::get({dyn}, i64);
  SmallVector<Type> inputs(abi::kNumDevicePlanScalars, i64);
  // status, work, counts, offsets, segments, class index, summaries.
  inputs.append({MemRefType::get({dyn}, i32), vector, vector, vector,
                 MemRefType::get({dyn, 7}, i64), vector, vector});
  static_assert(abi::kNumDevicePlanBuffers == 7, "one type per buffer above");
  inputs.append(numTables, vector);
  return FunctionType::get(ctx, inputs, {});
}

FailureOr<func::FuncOp> cpu::buildCpuPlanEntry(OpBuilder &builder,
                                               KernelOp kernel,
                                               const CpuLoweringOptions &options) {
  Location loc = kernel.getLoc();
  SmallVector<mask::TableOp> tables = kernelTables(kernel);
  auto func = func::FuncOp::create(
      builder, loc, planEntryName(kernel.getSymName()),
      planEntryType(builder.getContext(), tables.size()));
  func->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  Block *entry = func.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);

  ValueRange args = entry->getArguments();
  unsigned buffers = abi::kNumDevicePlanScalars;
  unsigned firstTable = buffers + abi::kNumDevicePlanBuffers;
  deviceplan::PlanBuilderEnv env = deviceplan::bindPlanParams(
      b, loc, kernel, options.blockM, options.blockN,
      options.devicePlanLists, args.take_front(buffers), args.slice(buffers, abi::kNumDevicePlanBuffers),
      args.drop_front(firstTable));

  memref::StoreOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 64),
                          env.work, ValueRange{cst(b, loc, 0)});
  bool failedStage = false;
  for (deviceplan::Stage stage : deviceplan::kStages) {
    Value items = deviceplan::emitStageItems(b, loc, stage, env);
    scf::ForOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 64), items,
                       arith::ConstantIntOp::create(b, loc, 1, 64), ValueRange{},
                       [&](OpBuilder &ib, Location il, Value item, ValueRange) {
                         failedStage |=
                             failed(deviceplan::emitStageItem(ib, il, stage, env, item));
                         scf::YieldOp::create(ib, il);
                       });
  }
  func::ReturnOp::create(b, loc);
  if (failedStage) {
    func.erase();
    return failure();
  }
  return func;
}
