//===- GPUPipeline.h - sattn kernels to PTX -------------------*- C++ -*-===//
//
// The GPU pipeline: `convert-sattn-to-gpu`, then the upstream lowering of
// gpu/nvgpu/nvvm to PTX (`gpu-module-to-binary{format=isa}`), leaving one
// `gpu.binary @sattn_NAME` with a `#gpu.object<..., assembly = PTX>` per
// kernel. Registered as `sattn-gpu-pipeline` and built directly by the PTX
// library (sattn/Target/PTX.h), in two halves so that the library can read
// the launch attributes between them.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PIPELINES_GPUPIPELINE_H
#define SATTN_PIPELINES_GPUPIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace sattn {

/// What a GPU compilation is for. Tile fields of 0 are chosen by the
/// lowering per head_dim.
struct GPUCompileOptions {
  /// Target architecture (sm_80, sm_90, ...) and PTX features (empty: by
  /// chip, see ptxFeaturesFor).
  std::string chip = "sm_90";
  std::string features;
  /// LLVM optimisation level of the NVPTX backend.
  unsigned optLevel = 3;
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0;
  /// Query rows per warp (16 or 32; 0: 16).
  int64_t rowsPerWarp = 0;
  /// Also build each kernel's backward kernel (convert-sattn-to-gpu{backward}).
  bool backward = false;
  /// Estimators' logits of query rows in f64 in the reference's order, not
  /// on tensor cores (convert-sattn-to-gpu{exact-estimators}).
  bool exactEstimators = false;
};

struct GPUPipelineOptions
    : public mlir::PassPipelineOptions<GPUPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("Target GPU architecture"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features (default: +ptx81 for "
                                              "sm_90a, +ptx80 otherwise)"),
                               llvm::cl::init("")};
  Option<unsigned> optLevel{*this, "opt-level",
                            llvm::cl::desc("NVPTX optimisation level"),
                            llvm::cl::init(3)};
  Option<int64_t> blockM{*this, "block-m",
                         llvm::cl::desc("Query rows per tile (0: chosen)"),
                         llvm::cl::init(0)};
  Option<int64_t> blockN{*this, "block-n",
                         llvm::cl::desc("Keys per KV tile (0: chosen)"),
                         llvm::cl::init(0)};
  Option<int64_t> warps{*this, "warps",
                        llvm::cl::desc("Warps per block (0: chosen)"),
                        llvm::cl::init(0)};
  Option<int64_t> stages{*this, "stages",
                         llvm::cl::desc("KV tiles in flight (0: chosen)"),
                         llvm::cl::init(0)};
  Option<int64_t> rowsPerWarp{
      *this, "rows-per-warp",
      llvm::cl::desc("Query rows per warp, 16 or 32 (0: 16)"),
      llvm::cl::init(0)};
  Option<bool> backward{*this, "backward",
                        llvm::cl::desc("Also build the backward kernels"),
                        llvm::cl::init(false)};
  Option<bool> exactEstimators{
      *this, "exact-estimators",
      llvm::cl::desc("Estimators' logits of query rows in f64, in the reference's order"),
      llvm::cl::init(false)};

  GPUCompileOptions toCompileOptions() const;
};

/// The PTX ISA a chip's kernels need: 8.1 on sm_90a (the backward kernel's
/// vector reductions, red.global.add.v2.f32), else 8.0.
inline std::string ptxFeaturesFor(llvm::StringRef chip) {
  return chip == "sm_90a" ? "+ptx81" : "+ptx80";
}

/// sattn.kernel ops -> gpu.module/gpu.func with gpu, nvgpu and nvvm ops.
void buildSattnToGPUPasses(mlir::OpPassManager &pm,
                           const GPUCompileOptions &options);
/// gpu.module (gpu/nvgpu/nvvm/arith/scf/memref/vector) -> gpu.binary with
/// PTX assembly.
void buildGPUToPTXPasses(mlir::OpPassManager &pm,
                         const GPUCompileOptions &options);
/// Both halves.
void buildGPUPipeline(mlir::OpPassManager &pm,
                      const GPUCompileOptions &options);

/// Registers `sattn-gpu-pipeline`.
void registerSattnGPUPipeline();

} // namespace sattn

#endif // SATTN_PIPELINES_GPUPIPELINE_H
