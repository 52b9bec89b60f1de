//===- DevicePlanKernels.cpp - the plan builder's stages as GPU kernels ---===//
//
// Adds, next to a kernel's attention gpu.func, one gpu.func per stage of
// the device plan builder (sattn/Conversion/DevicePlan.h):
// `@sattn_NAME_plan_{summarize,classify,resolve,count,scan,write}`. Each runs its
// stage's items over a grid-stride loop, so any 1-D launch covers them and
// the resolve stage, whose item count only the classify stage knows, needs
// no host round trip. All six take the same parameters
// (abi::kDevicePlanParams), so the runtime packs them once.
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilder.h"
#include "GpuAttentionBuilderImpl.h"

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Conversion/IndexArith.h"
#include "sattn/Target/LaunchInfo.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

namespace {

/// Parameter positions; tables follow.
enum PlanParam : unsigned {
  kLq,
  kLk,
  kBatch,
  kNumClasses,
  kClassHeads,
  kStatus,
  kWork,
  kCounts,
  kOffsets,
  kSegments,
  kClassIndex,
  kSummaries,
  kNumFixed,
};
static_assert(kStatus == abi::kNumDevicePlanScalars &&
                  kNumFixed == std::size(abi::kDevicePlanParams),
              "the positions of abi::kDevicePlanParams");

FunctionType planSignature(MLIRContext *ctx, unsigned numTables) {
  Type i64 = IntegerType::get(ctx, 64);
  auto ptrTo = [](Type t) { return MemRefType::get({}, t); };
  SmallVector<Type> inputs(kStatus, i64);
  inputs.push_back(ptrTo(IntegerType::get(ctx, 32)));
  inputs.append(kNumFixed - kWork + numTables, ptrTo(i64));
  return FunctionType::get(ctx, inputs, {});
}

LogicalResult buildStage(OpBuilder &builder, KernelOp kernel,
                         const KernelConfig &config, StringRef entry,
                         deviceplan::Stage stage) {
  Location loc = kernel.getLoc();
  SmallVector<mask::TableOp> tables = kernelTables(kernel);
  std::string name = target::devicePlanEntryName(entry, deviceplan::stageName(stage));
  auto func = gpu::GPUFuncOp::create(builder, loc, name,
                                     planSignature(builder.getContext(), tables.size()));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(abi::kDevicePlanThreads), 1, 1}));
  // classify and resolve evaluate the mask (intervals, elements): without
  // .minnctapersm 1 ptxas caps them at 48 registers for occupancy and a
  // mask with a 4-D table read (vertical_slash's estimated lines) spills;
  // with it, 72 and none. With diagonal bands count and write walk a run's
  // diagonals inside the unrolled tile walk: capped at 64 registers, count
  // spills.
  bool walksBands = (stage == deviceplan::Stage::Count || stage == deviceplan::Stage::Write) &&
                    deviceplan::hasDiagonalBands(kernel, config.planGathers());
  if (stage == deviceplan::Stage::Classify || stage == deviceplan::Stage::Resolve || walksBands)
    func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(), builder.getI32IntegerAttr(1));
  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  Type i64 = b.getI64Type();
  Value unknown = cst(b, loc, 0);

  auto view = [&](unsigned i, Type element, ArrayRef<int64_t> shape) {
    return emitBufferView(b, loc, arg(i), element, shape, unknown);
  };
  constexpr int64_t dyn = ShapedType::kDynamic;
  SmallVector<Value> scalars, buffers{view(kStatus, b.getI32Type(), {dyn}),
                                      view(kWork, i64, {dyn}), view(kCounts, i64, {dyn}),
                                      view(kOffsets, i64, {dyn}),
                                      view(kSegments, i64, {dyn, 7}),
                                      view(kClassIndex, i64, {dyn}),
                                      view(kSummaries, i64, {dyn})};
  for (unsigned i = kLq; i < kStatus; ++i)
    scalars.push_back(arg(i));
  SmallVector<Value> tableViews;
  for (unsigned i = 0; i < tables.size(); ++i)
    tableViews.push_back(view(kNumFixed + i, i64, {dyn}));
  deviceplan::PlanBuilderEnv env = deviceplan::bindPlanParams(
      b, loc, kernel, config.blockM, config.blockN, config.planGathers(), scalars, buffers,
      tableViews);

  // Grid-stride over the stage's items, in i64 (see emitStageItems).
  bool failedItem = false;
  emitGridStrideLoop(b, loc, deviceplan::emitStageItems(b, loc, stage, env),
                     [&](OpBuilder &ib, Location il, Value item) {
                       failedItem |= failed(deviceplan::emitStageItem(ib, il, stage, env, item));
                     });
  gpu::ReturnOp::create(b, loc);
  return failure(failedItem);
}

} // namespace

LogicalResult gpucodegen::buildDevicePlanKernels(OpBuilder &builder,
                                                 KernelOp kernel,
                                                 const KernelConfig &config,
                                                 gpu::GPUFuncOp attention) {
  for (deviceplan::Stage stage : deviceplan::kStages)
    if (failed(buildStage(builder, kernel, config, attention.getName(), stage)))
      return failure();
  deviceplan::ClassAxes axes = deviceplan::classAxes(kernel.getMask());
  Builder b(builder.getContext());
  attention->setAttr(target::kDevicePlanAttr,
                     b.getDictionaryAttr({
                         b.getNamedAttr("class_by_batch", b.getBoolAttr(axes.batch)),
                         b.getNamedAttr("class_by_head", b.getBoolAttr(axes.head)),
                         b.getNamedAttr("list_keys",
                                        b.getI64IntegerAttr(deviceplan::listKeyCapacity(
                                            kernel, config.planGathers()))),
                         b.getNamedAttr("list_unit_rows",
                                        b.getI64IntegerAttr(deviceplan::listUnitRows(kernel))),
                     }));
  return success();
}
