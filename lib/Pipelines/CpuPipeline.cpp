//===- CpuPipeline.cpp - sattn-cpu-pipeline -------------------------------===//
//
// From sattn kernels to LLVM-dialect functions the MLIR ExecutionEngine can
// JIT. The CPU lowering emits scf/memref/arith/math only, so the upstream
// tail is the standard one; arith-expand is needed for the floor/ceil
// divisions that mask predicates use, which have no direct LLVM lowering.
//
//===----------------------------------------------------------------------===//

#include "sattn/Pipelines/Pipelines.h"

#include "sattn/Conversion/Passes.h"

#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void sattn::buildCpuPipeline(OpPassManager &pm, int64_t blockM,
                             int64_t blockN, bool devicePlans, bool backward,
                             int64_t estimatorLaunches, bool devicePlanLists,
                             bool tensorEstimators) {
  ConvertSparseAttnToCPUOptions lowering;
  lowering.estimatorLaunches = estimatorLaunches;
  lowering.blockM = blockM;
  lowering.blockN = blockN;
  lowering.devicePlans = devicePlans;
  lowering.devicePlanLists = devicePlanLists;
  lowering.backward = backward;
  lowering.tensorEstimators = tensorEstimators;
  lowering.eraseKernels = true;
  pm.addPass(createLowerEstimators());
  pm.addPass(createConvertSparseAttnToCPU(lowering));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void sattn::buildCpuPipeline(OpPassManager &pm,
                             const CpuPipelineOptions &options) {
  buildCpuPipeline(pm, options.blockM, options.blockN);
}

void sattn::registerSattnPipelines() {
  PassPipelineRegistration<CpuPipelineOptions>(
      "sattn-cpu-pipeline",
      "Lower sattn kernels to LLVM-dialect @NAME_cpu functions (fp32 "
      "reference attention over a tile plan)",
      [](OpPassManager &pm, const CpuPipelineOptions &options) {
        buildCpuPipeline(pm, options);
      });
}
