//===- SparseAttnToGPU.cpp - convert-sattn-to-gpu -------------------------===//
//
// The pass that adds `gpu.module @sattn_NAME { gpu.func @sattn_NAME }` for
// every `sattn.kernel @NAME`, in the tile configuration sattn-plan-tiles
// recorded on the kernel (the conversion decides nothing about tiles): the
// portable mma.sync kernel, or the sm_90a kernel where the record says
// `kernel = "wgmma"`. As in
// the CPU lowering, named mask patterns
// are expanded on a private copy of each kernel, so the kernel keeps the
// named patterns that the tile planner's closed forms (and the manifest)
// rely on while the element-mask emitter sees only predicates.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Passes.h"

#include "GpuAttentionBuilder.h"
#include "KernelConfig.h"
#include "NativeMath.h"

#include "sattn/Plan/TileConfig.h"
#include "sattn/Target/LaunchInfo.h"

#include "sattn/Conversion/MaskToArith.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace sattn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOGPU
#include "sattn/Conversion/Passes.h.inc"
} // namespace sattn

using namespace mlir;
using namespace sattn;

namespace {

/// The data layout of LLVM's 64-bit NVPTX target. Without one, MLIR's
/// translation gives i64 loads the default 4-byte alignment and the backend
/// splits every 8-byte plan or table read in two.
constexpr llvm::StringLiteral kNvptxDataLayout =
    "e-p6:32:32-i64:64-i128:128-i256:256-v16:16-v32:32-n16:32:64";

struct ConvertSparseAttnToGPUPass
    : public sattn::impl::ConvertSparseAttnToGPUBase<
          ConvertSparseAttnToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<KernelOp> kernels(module.getOps<KernelOp>());
    if (kernels.empty())
      return;
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(&getContext()));
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    for (KernelOp kernel : kernels) {
      std::string name = target::gpuEntryName(kernel.getSymName());
      if (module.lookupSymbol(name)) {
        kernel.emitError() << "cannot add @" << name
                           << ": the symbol already exists";
        return signalPassFailure();
      }
      FailureOr<plan::TileConfig> tile = plan::readTilePlan(kernel);
      if (failed(tile))
        return signalPassFailure();
      gpucodegen::KernelConfig config = gpucodegen::kernelConfigFor(
          *tile, kernel.getHeadDim(), kernel.getDtype());

      FailureOr<ExpandedKernel> copy = expandKernelCopy(kernel);
      if (failed(copy))
        return signalPassFailure();

      auto gpuModule = gpu::GPUModuleOp::create(builder, kernel.getLoc(), name);
      gpuModule->setAttr(LLVM::LLVMDialect::getDataLayoutAttrName(),
                         builder.getStringAttr(kNvptxDataLayout));
      OpBuilder inner = OpBuilder::atBlockBegin(gpuModule.getBody());
      FailureOr<gpu::GPUFuncOp> func =
          config.family == abi::KernelFamily::Wgmma
              ? gpucodegen::buildHopperAttentionKernel(inner, copy->kernel(),
                                                       config, name)
              : gpucodegen::buildGpuAttentionKernel(inner, copy->kernel(),
                                                    config, name);
      if (failed(func))
        return signalPassFailure();
      // Every kernel's plan builder lives next to it (plans depend on the
      // lengths, and on the tables where the mask reads some).
      if (failed(gpucodegen::buildDevicePlanKernels(inner, copy->kernel(),
                                                    config, *func)) ||
          failed(gpucodegen::buildEstimatorKernels(inner, kernel, *func, exactEstimators)))
        return signalPassFailure();
      if (backward && failed(gpucodegen::buildGpuBackwardKernel(
                          inner, copy->kernel(), config, *func)))
        return signalPassFailure();
      // The whole module: the estimator stages of tensor-core builds take
      // their exp through f32 exp2 too (estimator::emitExpThroughF32).
      gpucodegen::lowerSoftmaxMathToNVPTX(
          gpuModule, /*flushSubnormals=*/config.family == abi::KernelFamily::Wgmma);
    }
  }
};

} // namespace
