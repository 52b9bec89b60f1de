//===- PTX.h - PTX for sattn kernels, and ptxas checks --------*- C++ -*-===//
//
// The library entry point of the GPU path: from a module of sattn kernels
// to PTX text per kernel plus everything needed to launch it
// (LaunchInfo.h), and a ptxas wrapper that reports registers, spills and
// shared memory. ptxas is optional: where it is not installed, runPtxas
// says so and callers skip the check.
//
//   sattn::GPUCompileOptions options;          // chip = sm_90, tiles auto
//   auto kernels = sattn::target::compileKernelsToPTX(module, options);
//   for (auto &k : *kernels)
//     write(k.launch.entryName + ".ptx", k.ptx);
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TARGET_PTX_H
#define SATTN_TARGET_PTX_H

#include "sattn/Pipelines/GPUPipeline.h"
#include "sattn/Target/LaunchInfo.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace sattn::target {

using GPUOptions = sattn::GPUCompileOptions;

struct CompiledKernel {
  LaunchInfo launch;
  /// PTX text of the module holding the kernel (one .entry).
  std::string ptx;
};

/// Called with each pass manager compileKernelsToPTX builds, before it runs:
/// a place for instrumentation (IR dumps after every pass, timing).
using PassManagerHook = std::function<void(mlir::PassManager &)>;

/// Compiles every `sattn.kernel` of `module` (left unchanged: the pipeline
/// runs on a clone) to PTX for `options.chip`. Diagnostics go to the
/// module's context. Kernels are returned in module order.
mlir::FailureOr<std::vector<CompiledKernel>>
compileKernelsToPTX(mlir::ModuleOp module, const GPUOptions &options,
                    const PassManagerHook &hook = nullptr);

/// The same, as kernel name (the sattn.kernel symbol) -> PTX text.
mlir::FailureOr<std::map<std::string, std::string>>
compileToPTX(mlir::ModuleOp module, const GPUOptions &options);

/// The PTX of every `gpu.binary` in `module` that holds an object in
/// assembly format: binary name -> text. Fails (with a diagnostic) on a
/// binary with no such object.
mlir::FailureOr<std::map<std::string, std::string>>
extractPTX(mlir::ModuleOp module);

/// Registers what the GPU pipeline needs beyond the dialects it lowers
/// from: the gpu/nvgpu/nvvm/vector dialects, their conversions to LLVM, and
/// the LLVM IR translations plus the NVVM target used by
/// gpu-module-to-binary.
void registerGPUCompilationDialects(mlir::DialectRegistry &registry);

/// ptxas as found on PATH or in /usr/local/cuda/bin, if any. The
/// environment variable SATTN_PTXAS overrides the search: a path to use,
/// or empty for "no ptxas".
std::optional<std::string> findPtxas();

/// Resource usage of one .entry as `ptxas -v` reports it.
struct PtxasFunctionInfo {
  std::string name;
  int64_t registers = 0;
  int64_t stackFrameBytes = 0, spillStoreBytes = 0, spillLoadBytes = 0;
  int64_t sharedMemoryBytes = 0; // static shared memory
  int64_t barriers = 0;
};

struct PtxasReport {
  /// False when no ptxas was found; nothing else is meaningful then.
  bool available = false;
  /// ptxas ran and accepted the PTX.
  bool succeeded = false;
  std::string ptxasPath;
  /// ptxas's complete output (info lines, warnings, errors).
  std::string log;
  std::vector<PtxasFunctionInfo> functions;
  /// The cubin, when asked for with PtxasOptions::keepCubin.
  std::string cubin;
};

struct PtxasOptions {
  /// Overrides the search for ptxas.
  std::optional<std::string> ptxasPath;
  /// ptxas's -O level (0-3); ptxas's default (3) when unset.
  std::optional<unsigned> optLevel;
  /// Return the cubin in PtxasReport::cubin.
  bool keepCubin = false;
};

/// Assembles `ptx` for `arch` (e.g. "sm_90") with `ptxas -v` and parses the
/// resource usage of every entry.
PtxasReport runPtxas(llvm::StringRef ptx, llvm::StringRef arch,
                     const PtxasOptions &options = {});

/// Parses the `-v` output of ptxas (exposed for tests).
std::vector<PtxasFunctionInfo> parsePtxasLog(llvm::StringRef log);

/// Registers `sattn-dump-ptx`, which writes the PTX of every gpu.binary to
/// DIR/NAME.ptx (for tests and for looking at the code).
void registerSattnTargetPasses();

} // namespace sattn::target

#endif // SATTN_TARGET_PTX_H
