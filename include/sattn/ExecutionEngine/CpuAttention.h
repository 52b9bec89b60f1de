//===- CpuAttention.h - JIT-compiled CPU reference attention --*- C++ -*-===//
//
// Compiles the sattn kernels of a module once through `sattn-cpu-pipeline`
// with the MLIR ExecutionEngine and runs `@NAME_cpu` on caller memory, a
// tile plan and the mask's runtime tables. This is how tests (and anyone
// without a GPU) execute planned sparse attention. Inputs are fp32 whatever
// the kernel's dtype: this is the reference path.
//
// Every argument is checked before the generated code runs (shapes against
// the kernel's configuration, strides, plan consistency, table shapes);
// problems come back as a message, never as an abort or an out-of-bounds
// access.
//
// Destroy CpuAttention objects before the process exits (not from static
// destructors): tearing a JIT down runs LLVM code, which cannot race with
// LLVM's own static destructors. Doing so hung or printed bogus codegen
// errors about one exit in four.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_EXECUTIONENGINE_CPUATTENTION_H
#define SATTN_EXECUTIONENGINE_CPUATTENTION_H

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Plan/TilePlanner.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"

#include <memory>
#include <string>

namespace sattn {

/// An fp32 tensor in caller memory. Sizes and strides count elements; the
/// innermost stride must be 1, the others may pad (non-contiguous views).
struct CpuTensor {
  float *data = nullptr;
  llvm::SmallVector<int64_t, 4> sizes, strides;

  /// A densely packed row-major tensor.
  static CpuTensor contiguous(float *data, llvm::ArrayRef<int64_t> sizes);
};

/// Operands of one attention call.
struct CpuAttentionArgs {
  CpuTensor q;   // (B, H, Lq, D)
  CpuTensor k;   // (B, KV_H, Lk, D)
  CpuTensor v;   // (B, KV_H, Lk, D)
  CpuTensor o;   // (B, H, Lq, D), written
  CpuTensor lse; // (B, H, Lq), written; leave `data` null when not wanted
  /// Kernels compiled with `block_max` only (docs/KERNEL_ABI.md, "Block
  /// maxima"): (B, H, N, Lq) scratch and (B, H, T, N) output, N the KV tiles
  /// and T the query tiles of the plan.
  CpuTensor rowMax = {}, blockMax = {};
};

struct CpuAttentionOptions {
  /// Tile sizes; plans passed to `run` must be built with the same.
  int64_t blockM = 64;
  int64_t blockN = 64;
  /// LLVM optimisation level of the generated code (0 to 3).
  unsigned optLevel = 2;
  /// Also compile each kernel's device plan builder (`buildDevicePlan`).
  bool devicePlans = false;
  /// Device plans list the key columns of a column term and gather the keys
  /// of a lattice term (docs/DEVICE_PLANS.md, "Column lists", "Lattice
  /// gathers"); false: the Range-only plans the host planner builds with
  /// PlanOptions::gathers = false.
  bool devicePlanLists = true;
  /// Also compile each kernel's gradients (`runBackward`).
  bool backward = false;
  /// Compile only the first N launches of each estimator (-1: all), so that
  /// `runEstimator` returns what the stages before the selection wrote
  /// (tests of the scores).
  int64_t estimatorLaunches = -1;
  /// Estimators in their tensor-core form (convert-sattn-to-cpu{tensor-estimators}).
  bool tensorEstimators = false;
};

/// Operands of one backward call: the forward's inputs and outputs (LSE
/// required, as the forward wrote it), the output gradient, and the input
/// gradients it writes (overwritten, not accumulated into).
struct CpuAttentionBackwardArgs {
  CpuAttentionArgs forward; // q, k, v, o, lse: read
  CpuTensor dO;             // (B, H, Lq, D)
  CpuTensor dQ;             // (B, H, Lq, D), written
  CpuTensor dK, dV;         // (B, KV_H, Lk, D), written
};

class CpuAttention {
public:
  /// Lowers and JIT-compiles every sattn.kernel of `module` (which is not
  /// modified), each into its own JIT'd code. Fails with a message in
  /// `error` (diagnostics included).
  static mlir::FailureOr<CpuAttention>
  compile(mlir::ModuleOp module, const CpuAttentionOptions &options,
          std::string &error);

  /// Runs kernel `name` on `args` with a flat plan built for this call's
  /// shapes and the mask's runtime tables (`inputs` also carries batch, Lq
  /// and Lk, which must match the tensors). Calls may run concurrently:
  /// each allocates its own scratch.
  mlir::LogicalResult run(llvm::StringRef name, const CpuAttentionArgs &args,
                          const plan::FlatPlan &plan, const MaskInputs &inputs,
                          std::string &error) const;
  /// The same with a plan object, whose tile sizes and lengths are checked
  /// too.
  mlir::LogicalResult run(llvm::StringRef name, const CpuAttentionArgs &args,
                          const plan::TilePlan &plan, const MaskInputs &inputs,
                          std::string &error) const;

  /// dQ, dK and dV of kernel `name` (compiled with `backward`) over the
  /// plan its forward ran with. Rows without a kept key get no gradient.
  mlir::LogicalResult runBackward(llvm::StringRef name,
                                  const CpuAttentionBackwardArgs &args,
                                  const plan::FlatPlan &plan,
                                  const MaskInputs &inputs,
                                  std::string &error) const;

  /// Runs kernel `name`'s device plan builder (compiled with
  /// `devicePlans`) for `inputs`: the Range-only plan of the compiled tile
  /// sizes that the GPU builds with the same code. Classes are the (batch,
  /// head) combinations the mask tells apart, not merged by contents.
  /// `undecidedTiles`, when given, receives the number of tiles that
  /// neither the interval bounds nor the probes decided (the tiles resolved
  /// pair by pair).
  mlir::FailureOr<plan::FlatPlan>
  buildDevicePlan(llvm::StringRef name, const MaskInputs &inputs,
                  std::string &error, int64_t *undecidedTiles = nullptr) const;
  /// Runs kernel `name`'s compiled estimator (a kernel whose dynamic
  /// pattern sattn-lower-estimators turned into a table) on Q (B, H, Lq, D)
  /// and K (B, KV_H, Lk, D): the table it writes, row-major int64 in the
  /// table's declared shape; `table` receives its name. The same code the
  /// GPU runs a thread per item. A gate's estimator also reads its learned
  /// weights: `weights`, f32 (H, 4 D, hidden), contiguous
  /// (abi::kEstimatorParams). nsa's takes a caller's compression there,
  /// optionally: f32 compressed keys (B, KV_H, compressed blocks, D),
  /// contiguous, used instead of the blocks' means. The others take none.
  mlir::FailureOr<std::vector<int64_t>>
  runEstimator(llvm::StringRef name, const CpuTensor &q, const CpuTensor &k,
               std::string &table, std::string &error,
               const CpuTensor *weights = nullptr) const;
  /// Wall-clock seconds spent lowering and JIT-compiling the module, and
  /// one kernel of it (0 for unknown names).
  double compileSeconds() const;
  double compileSeconds(llvm::StringRef kernel) const;
  const CpuAttentionOptions &options() const;
  /// Names of the kernels compiled.
  llvm::SmallVector<std::string> kernelNames() const;

  CpuAttention(CpuAttention &&);
  CpuAttention &operator=(CpuAttention &&);
  ~CpuAttention();

  struct Impl;

private:
  explicit CpuAttention(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace sattn

#endif // SATTN_EXECUTIONENGINE_CPUATTENTION_H
