//===- GPUPipeline.cpp - sattn-gpu-pipeline -------------------------------===//
//
// From sattn kernels to PTX. The masks are brought to normal form first
// (sattn-normalize-masks), sattn-plan-tiles decides and records each
// kernel's tile configuration, then sattn's conversion (which reads it)
// stops at gpu/nvgpu/nvvm ops; everything after is upstream (plus three passes of ours around
// convert-gpu-to-nvvm), in the order that works for the ops the lowering
// emits:
//   - arith-expand: floor/ceil divisions of mask predicates have no LLVM
//     lowering of their own;
//   - convert-nvgpu-to-nvvm: ldmatrix and cp.async to NVVM (our copy of
//     the upstream pass, with a 32-bit index: kGpuIndexBitwidth);
//   - convert-scf-to-cf, math.absi to arith (an i32 absi would become a
//     libdevice call), then convert-gpu-to-nvvm with bare pointers (the
//     kernel ABI passes plain device pointers) and the same 32-bit index;
//     the rebased tile pointers' casts are resolved right after;
//   - convert-nvvm-to-llvm: the sm_90a kernel's NVVM ops that have no LLVM
//     intrinsic (wgmma.mma_async, the mbarrier waits) become inline PTX;
//     sattn-tensor-map-params makes its tensor maps by-value parameters;
//   - convert-math-to-llvm afterwards, for math ops convert-gpu-to-nvvm
//     leaves (the softmax's exp2/log/fma are already NVVM intrinsics);
//   - nvvm-attach-target, reconcile-unrealized-casts and
//     gpu-module-to-binary{format=isa}, which keeps the PTX text.
//
//===----------------------------------------------------------------------===//

#include "sattn/Pipelines/GPUPipeline.h"

#include "NVVMLowering.h"

#include "sattn/Conversion/Passes.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;


sattn::GPUCompileOptions sattn::GPUPipelineOptions::toCompileOptions() const {
  GPUCompileOptions o;
  o.chip = chip;
  o.features = features;
  o.optLevel = optLevel;
  o.blockM = blockM;
  o.blockN = blockN;
  o.warps = warps;
  o.stages = stages;
  o.rowsPerWarp = rowsPerWarp;
  o.backward = backward;
  o.exactEstimators = exactEstimators;
  return o;
}

void sattn::buildSattnToGPUPasses(OpPassManager &pm,
                                  const GPUCompileOptions &options) {
  PlanTilesOptions tiles;
  tiles.blockM = options.blockM;
  tiles.blockN = options.blockN;
  tiles.warps = options.warps;
  tiles.stages = options.stages;
  tiles.rowsPerWarp = options.rowsPerWarp;
  tiles.chip = options.chip;
  tiles.backward = options.backward;
  pm.addPass(createLowerEstimators());
  pm.addPass(mask::createNormalizeMasks());
  pm.addPass(createPlanTiles(tiles));
  ConvertSparseAttnToGPUOptions lowering;
  lowering.backward = options.backward;
  lowering.exactEstimators = options.exactEstimators;
  pm.addPass(createConvertSparseAttnToGPU(lowering));
}

void sattn::buildGPUToPTXPasses(OpPassManager &pm,
                                const GPUCompileOptions &options) {
  // The greedy driver's default top-down traversal costs 0.6 s of CPU on a
  // freshly lowered kernel (about 10k ops, two thirds of spec-to-PTX time);
  // bottom-up visits the same ops and reaches the same IR in 0.08 s
  // (bench/RESULTS.md, compile time).
  GreedyRewriteConfig bottomUp;
  bottomUp.setUseTopDownTraversal(false);
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createCanonicalizerPass(bottomUp));
  kernels.addPass(createCSEPass());
  kernels.addPass(arith::createArithExpandOpsPass());
  pipeline::NVGPUToNVVMIndexOptions nvgpu;
  nvgpu.indexBitwidth = kGpuIndexBitwidth;
  kernels.addPass(pipeline::createNVGPUToNVVMIndex(nvgpu));
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(pipeline::createExpandIntegerAbs());
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.useBarePtrCallConv = true;
  toNVVM.indexBitwidth = kGpuIndexBitwidth;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNVVM));
  kernels.addPass(pipeline::createFoldMemRefToPointerCasts());
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(pipeline::createTensorMapParams());
  kernels.addPass(createConvertMathToLLVMPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());

  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features.empty() ? ptxFeaturesFor(options.chip)
                                              : options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void sattn::buildGPUPipeline(OpPassManager &pm,
                             const GPUCompileOptions &options) {
  buildSattnToGPUPasses(pm, options);
  buildGPUToPTXPasses(pm, options);
}

void sattn::registerSattnGPUPipeline() {
  // Every pass the pipeline runs, so that the textual pipeline sattn-compile
  // prints (--emit=mlir -o DIR: NAME.pipeline) replays in sparse-opt.
  pipeline::registerSattnPipelinePasses();
  arith::registerArithExpandOpsPass();
  registerSCFToControlFlowPass();
  registerConvertGpuOpsToNVVMOps();
  registerConvertNVVMToLLVMPass();
  registerConvertMathToLLVMPass();
  registerReconcileUnrealizedCastsPass();
  registerGpuNVVMAttachTarget();
  registerGpuModuleToBinaryPass();
  PassPipelineRegistration<GPUPipelineOptions>(
      "sattn-gpu-pipeline",
      "Lower sattn kernels to PTX: gpu.binary @sattn_NAME ops holding "
      "#gpu.object<..., assembly = PTX> (mma.sync kernels for sm_80+; "
      "wgmma kernels where chip=sm_90a chooses them)",
      [](OpPassManager &pm, const GPUPipelineOptions &options) {
        buildGPUPipeline(pm, options.toCompileOptions());
      });
}
