//===- Pipelines.h - sattn pass pipelines ---------------------*- C++ -*-===//
//
// Named pipelines from sattn kernels to something executable. They are
// registered with the global registry (sparse-opt --sattn-cpu-pipeline) and
// also built directly by the JIT wrapper, so tools and tests run the same
// sequence of passes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PIPELINES_PIPELINES_H
#define SATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace sattn {

struct CpuPipelineOptions
    : public mlir::PassPipelineOptions<CpuPipelineOptions> {
  Option<int64_t> blockM{*this, "block-m",
                         llvm::cl::desc("Query rows per tile (the plan's BM)"),
                         llvm::cl::init(64)};
  Option<int64_t> blockN{*this, "block-n",
                         llvm::cl::desc("Keys per KV tile (the plan's BN)"),
                         llvm::cl::init(64)};
};

/// sattn kernels -> `@NAME_cpu` functions in the LLVM dialect (the kernels
/// are erased): convert-sattn-to-cpu, then the upstream conversions of scf,
/// arith, math, memref, cf and func to LLVM.
void buildCpuPipeline(mlir::OpPassManager &pm,
                      const CpuPipelineOptions &options);
void buildCpuPipeline(mlir::OpPassManager &pm, int64_t blockM, int64_t blockN,
                      bool devicePlans = false, bool backward = false,
                      int64_t estimatorLaunches = -1, bool devicePlanLists = true,
                      bool tensorEstimators = false);

/// Registers `sattn-cpu-pipeline`.
void registerSattnPipelines();

} // namespace sattn

#endif // SATTN_PIPELINES_PIPELINES_H
