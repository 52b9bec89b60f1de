//===- CompileToPTX.cpp - sattn kernels to PTX as a library ---------------===//
//
// Runs the GPU pipeline (sattn/Pipelines/GPUPipeline.h) on a clone of the
// caller's module, in its two halves: after `convert-sattn-to-gpu` the
// launch attributes are read off each gpu.func (the lowering recorded
// them), after `gpu-module-to-binary` the PTX text is read off each
// gpu.binary. The caller's module is never modified.
//
//===----------------------------------------------------------------------===//

#include "sattn/Target/PTX.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::target;

void sattn::target::registerGPUCompilationDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, cf::ControlFlowDialect, gpu::GPUDialect,
                  index::IndexDialect, LLVM::LLVMDialect, math::MathDialect,
                  memref::MemRefDialect, NVVM::NVVMDialect, nvgpu::NVGPUDialect,
                  scf::SCFDialect, ub::UBDialect, vector::VectorDialect>();
  // convert-gpu-to-nvvm lowers the other dialects of a kernel through their
  // ConvertToLLVM interfaces.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  vector::registerConvertVectorToLLVMInterface(registry);
  // gpu-module-to-binary translates to LLVM IR and runs the NVPTX backend.
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

FailureOr<std::map<std::string, std::string>>
sattn::target::extractPTX(ModuleOp module) {
  std::map<std::string, std::string> result;
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    std::optional<std::string> ptx;
    for (Attribute attr : binary.getObjects()) {
      auto object = dyn_cast<gpu::ObjectAttr>(attr);
      if (object && object.getFormat() == gpu::CompilationTarget::Assembly) {
        ptx = object.getObject().getValue().str();
        break;
      }
    }
    if (!ptx)
      return binary.emitError()
             << "holds no PTX (run gpu-module-to-binary{format=isa})";
    result[binary.getSymName().str()] = std::move(*ptx);
  }
  return result;
}

namespace {
/// Runs the first half of the GPU pipeline on `work` (in place) and reads
/// the launch configuration each kernel of `module` got.
FailureOr<std::vector<LaunchInfo>>
lowerToGPU(ModuleOp module, ModuleOp work, const GPUOptions &options,
           const PassManagerHook &hook) {
  MLIRContext *ctx = module.getContext();
  DialectRegistry registry;
  registerGPUCompilationDialects(registry);
  ctx->appendDialectRegistry(registry);

  PassManager lower(ctx, ModuleOp::getOperationName());
  buildSattnToGPUPasses(lower, options);
  if (hook)
    hook(lower);
  if (failed(lower.run(work)))
    return failure();

  std::vector<LaunchInfo> launches;
  for (KernelOp kernel : module.getOps<KernelOp>()) {
    std::string entry = gpuEntryName(kernel.getSymName());
    auto gpuModule = work.lookupSymbol<gpu::GPUModuleOp>(entry);
    auto func = gpuModule ? gpuModule.lookupSymbol<gpu::GPUFuncOp>(entry)
                          : gpu::GPUFuncOp();
    if (!func)
      return kernel.emitError() << "the GPU lowering produced no @" << entry;
    FailureOr<LaunchInfo> launch = readLaunchInfo(func);
    if (failed(launch))
      return failure();
    launches.push_back(std::move(*launch));
  }
  return launches;
}
} // namespace

FailureOr<std::vector<CompiledKernel>>
sattn::target::compileKernelsToPTX(ModuleOp module, const GPUOptions &options,
                                   const PassManagerHook &hook) {
  MLIRContext *ctx = module.getContext();
  OwningOpRef<ModuleOp> work(module.clone());
  FailureOr<std::vector<LaunchInfo>> launches =
      lowerToGPU(module, *work, options, hook);
  if (failed(launches))
    return failure();
  std::vector<CompiledKernel> kernels;
  for (LaunchInfo &launch : *launches)
    kernels.push_back({std::move(launch), std::string()});

  PassManager toPTX(ctx, ModuleOp::getOperationName());
  buildGPUToPTXPasses(toPTX, options);
  if (hook)
    hook(toPTX);
  if (failed(toPTX.run(*work)))
    return failure();
  FailureOr<std::map<std::string, std::string>> ptx = extractPTX(*work);
  if (failed(ptx))
    return failure();
  for (CompiledKernel &k : kernels) {
    auto it = ptx->find(k.launch.entryName);
    if (it == ptx->end())
      return module.emitError() << "no PTX for @" << k.launch.entryName;
    k.ptx = std::move(it->second);
  }
  return kernels;
}

FailureOr<std::map<std::string, std::string>>
sattn::target::compileToPTX(ModuleOp module, const GPUOptions &options) {
  FailureOr<std::vector<CompiledKernel>> kernels =
      compileKernelsToPTX(module, options);
  if (failed(kernels))
    return failure();
  std::map<std::string, std::string> result;
  for (CompiledKernel &k : *kernels)
    result[k.launch.kernelName] = std::move(k.ptx);
  return result;
}
