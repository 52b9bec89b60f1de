//===- CpuAttentionImpl.h - CpuAttention's compiled state -----*- C++ -*-===//
//
// What CpuAttention keeps per JIT-compiled kernel, and the argument
// helpers its attention runs (CpuAttention.cpp) and plan builds
// (CpuDevicePlan.cpp) share: table shapes, the checks of caller tables and
// the memref descriptors the generated code takes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_EXECUTIONENGINE_CPUATTENTIONIMPL_H
#define SATTN_LIB_EXECUTIONENGINE_CPUATTENTIONIMPL_H

#include "sattn/ExecutionEngine/CpuAttention.h"

#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "llvm/ADT/StringMap.h"

namespace sattn::cpuexec {

struct TableInfo {
  std::string name;
  llvm::SmallVector<TableDim, 3> dims;
  llvm::SmallVector<std::string, 3> dimTexts;
};

/// What `run` and `buildDevicePlan` need to know about one compiled kernel.
struct KernelInfo {
  std::string name;
  int64_t heads = 0, kvHeads = 0, headDim = 0;
  /// Compiled with `block_max`: the entry also writes row_max and block_max.
  bool blockMax = false;
  llvm::SmallVector<TableInfo> tables;
  void (*entry)(void **) = nullptr;
  /// @NAME_plan_cpu, when compiled with device plans.
  void (*planEntry)(void **) = nullptr;
  /// @NAME_bwd_cpu, when compiled with the backward.
  void (*backwardEntry)(void **) = nullptr;
  /// @NAME_estimate_cpu and what it estimates, for a kernel with a
  /// compiled estimator.
  void (*estimatorEntry)(void **) = nullptr;
  std::optional<plan::EstimatorSpec> estimator;
  /// Whether the mask's plans differ by batch element / by head.
  bool classByBatch = false, classByHead = false;
  /// Keys per query tile's column list in device plans (0: none).
  int64_t listKeys = 0, listUnitRows = 0;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  double seconds = 0;
};

/// Expected shape of one table given this call's batch, heads and Lk.
llvm::SmallVector<int64_t, 3> tableShape(const TableInfo &t, int64_t batch,
                                         int64_t heads, int64_t lk);

template <typename T, int N>
StridedMemRefType<T, N> descriptor(T *data, llvm::ArrayRef<int64_t> sizes,
                                   llvm::ArrayRef<int64_t> strides) {
  StridedMemRefType<T, N> d;
  d.basePtr = d.data = data;
  d.offset = 0;
  for (int i = 0; i < N; ++i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = strides[i];
  }
  return d;
}

/// Descriptors of the kernel's tables from `inputs`, in declaration order,
/// each checked against its declared shape.
mlir::LogicalResult
tableDescriptors(const KernelInfo &kernel, const MaskInputs &inputs,
                 int64_t batch, int64_t heads, int64_t lk,
                 llvm::SmallVectorImpl<StridedMemRefType<int64_t, 1>> &descs,
                 std::string &error);

/// Checks rank, sizes, strides and data of one tensor against `expected`.
mlir::LogicalResult checkTensor(const char *what, const CpuTensor &t,
                                llvm::ArrayRef<int64_t> expected,
                                std::string &error);

/// The generated code indexes offsets, segments and K/V rows with plan
/// values, so they must be consistent with this call's shapes.
mlir::LogicalResult checkPlan(const plan::FlatPlan &plan, int64_t batch,
                              int64_t heads, int64_t lq, int64_t lk,
                              int64_t blockM, std::string &error);

/// The sizes of one call, from Q (B, H, Lq, D) and K (KV_H, Lk).
struct CallShape {
  int64_t batch = 0, heads = 0, kvHeads = 0, lq = 0, lk = 0, headDim = 0;
};

} // namespace sattn::cpuexec

struct sattn::CpuAttention::Impl {
  CpuAttentionOptions options;
  llvm::StringMap<cpuexec::KernelInfo> kernels;
  llvm::SmallVector<std::string> names;
  double seconds = 0;
};

namespace sattn::cpuexec {

/// The compiled kernel `name`.
mlir::FailureOr<const KernelInfo *>
findKernel(const CpuAttention::Impl &impl, llvm::StringRef name,
           std::string &error);

/// Checks Q, K, V and O of `args` (not LSE) against `kernel` and each
/// other, `inputs` and `plan` against them, and the tables, whose
/// descriptors it appends to `tableDescs`.
mlir::LogicalResult
checkCall(const CpuAttention::Impl &impl, const KernelInfo &kernel,
          const CpuAttentionArgs &args, const plan::FlatPlan &plan,
          const MaskInputs &inputs, CallShape &shape,
          llvm::SmallVectorImpl<StridedMemRefType<int64_t, 1>> &tableDescs,
          std::string &error);

/// The descriptors of a flat plan's buffers (which must outlive the call).
struct PlanDescriptors {
  explicit PlanDescriptors(const plan::FlatPlan &plan);
  /// Appends the addresses of the segments, offsets and classes
  /// descriptors, in the generated functions' order.
  void append(llvm::SmallVectorImpl<void *> &pointers);
  StridedMemRefType<int64_t, 2> segments;
  StridedMemRefType<int64_t, 1> offsets, classes;
};

/// Calls a packed C-interface entry with the descriptors at `pointers`,
/// then those of `tables`, then the ones at `trailing` (a block_max
/// kernel's outputs).
void invoke(void (*entry)(void **), llvm::SmallVectorImpl<void *> &pointers,
            llvm::SmallVectorImpl<StridedMemRefType<int64_t, 1>> &tables,
            llvm::ArrayRef<void *> trailing = {});

} // namespace sattn::cpuexec

#endif // SATTN_LIB_EXECUTIONENGINE_CPUATTENTIONIMPL_H
