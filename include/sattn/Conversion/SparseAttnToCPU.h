//===- SparseAttnToCPU.h - the CPU reference lowering ---------*- C++ -*-===//
//
// The calling convention of the functions `convert-sattn-to-cpu` generates
// (shared with the JIT wrapper, sattn/ExecutionEngine/CpuAttention.h, so
// the two cannot drift apart) and the builder of one such function.
//
// `@NAME_cpu(Q, K, V, O, LSE, segments, offsets, classIndex, tables...)`
// computes planned, masked attention in fp32: FlashAttention-2 over query
// tiles of BM rows and KV tiles of BN keys as the tile plan dictates.
// `@NAME_bwd_cpu(Q, K, V, O, LSE, dO, dQ, dK, dV, segments, offsets,
// classIndex, tables...)` computes its gradients over the same plan.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_SPARSEATTNTOCPU_H
#define SATTN_CONVERSION_SPARSEATTNTOCPU_H

#include "Mask/IR/MaskOps.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace sattn {
class KernelOp;

namespace cpu {

/// Argument positions of a generated `@NAME_cpu`; table buffers follow.
enum ArgIndex : unsigned {
  kArgQ = 0,
  kArgK,
  kArgV,
  kArgO,
  kArgLse,
  kArgSegments,
  kArgOffsets,
  kArgClassIndex,
  kNumFixedArgs,
};

/// Argument positions of a generated `@NAME_bwd_cpu`; table buffers follow.
enum BackwardArgIndex : unsigned {
  kBwdArgQ = 0,
  kBwdArgK,
  kBwdArgV,
  kBwdArgO,
  kBwdArgLse,
  kBwdArgDO,
  kBwdArgDQ,
  kBwdArgDK,
  kBwdArgDV,
  kBwdArgSegments,
  kBwdArgOffsets,
  kBwdArgClassIndex,
  kNumFixedBwdArgs,
};

/// "NAME_cpu" for kernel @NAME.
std::string entryName(llvm::StringRef kernelName);

/// The runtime tables of `kernel` in declaration order: the order of the
/// table arguments.
llvm::SmallVector<mask::TableOp> kernelTables(KernelOp kernel);

/// The type of `@NAME_cpu` for a kernel with `numTables` tables; a
/// `block_max` kernel takes row_max (B, H, N, Lq) and block_max (B, H, T, N)
/// after them, f32 like O (docs/KERNEL_ABI.md, "Block maxima").
mlir::FunctionType entryType(mlir::MLIRContext *context, unsigned numTables,
                             bool blockMax = false);

struct CpuLoweringOptions {
  int64_t blockM = 64;
  int64_t blockN = 64;
  /// Device plans list column keys and gather lattice keys (the CPU kernel
  /// reads List and Gather segments).
  bool devicePlanLists = true;
};

/// "NAME_bwd_cpu" for kernel @NAME.
std::string backwardEntryName(llvm::StringRef kernelName);

/// The type of `@NAME_bwd_cpu` for a kernel with `numTables` tables: Q, K,
/// V, O (rank 4), LSE (rank 3), dO, dQ, dK, dV (rank 4), the plan buffers,
/// the tables, with the memref types of `@NAME_cpu`.
mlir::FunctionType backwardEntryType(mlir::MLIRContext *context,
                                     unsigned numTables);

/// Builds `@NAME_bwd_cpu` for `kernel` (its mask expanded as for
/// buildCpuEntry): dQ, dK and dV of the planned attention from Q, K, V,
/// the forward's O and LSE and the output gradient dO, over the same plan
/// the forward ran. dK and dV sum over the query heads of a KV head.
mlir::FailureOr<mlir::func::FuncOp>
buildCpuBackwardEntry(mlir::OpBuilder &builder, KernelOp kernel,
                      const CpuLoweringOptions &options);

/// "NAME_plan_cpu" for kernel @NAME.
std::string planEntryName(llvm::StringRef kernelName);

/// The type of `@NAME_plan_cpu` for a kernel with `numTables` tables: the
/// device plan builder's parameters (abi::kDevicePlanParams: i64 scalars,
/// then the buffers, status of i32 and the others of i64), then the tables.
mlir::FunctionType planEntryType(mlir::MLIRContext *context,
                                 unsigned numTables);

/// Builds `@NAME_plan_cpu`, the device plan builder's stages as loops
/// (sattn/Conversion/DevicePlan.h), for the plan tiles of `options`.
mlir::FailureOr<mlir::func::FuncOp>
buildCpuPlanEntry(mlir::OpBuilder &builder, KernelOp kernel,
                  const CpuLoweringOptions &options);

/// "NAME_estimate_cpu" for kernel @NAME.
std::string estimatorEntryName(llvm::StringRef kernelName);

/// The type of `@NAME_estimate_cpu`: the estimator's parameters
/// (abi::kEstimatorParams) with Q and K as flat f32 memrefs, the scratch as
/// an f64 memref and the table as an i64 memref.
mlir::FunctionType estimatorEntryType(mlir::MLIRContext *context);

/// Builds `@NAME_estimate_cpu`, the kernel's estimator stages as loops
/// (sattn/Conversion/Estimators.h); with `launches` >= 0 only the first
/// `launches` of them (tests: the scores before the selection).
mlir::FailureOr<mlir::func::FuncOp>
buildCpuEstimatorEntry(mlir::OpBuilder &builder, KernelOp kernel,
                       const plan::EstimatorSpec &spec, int64_t launches = -1);

/// Builds `@NAME_cpu` for `kernel` at the builder's insertion point (in a
/// module). The kernel's mask must already be in the form the element-mask
/// emitter handles (named patterns expanded); errors are reported on the
/// offending op.
mlir::FailureOr<mlir::func::FuncOp>
buildCpuEntry(mlir::OpBuilder &builder, KernelOp kernel,
              const CpuLoweringOptions &options);

} // namespace cpu
} // namespace sattn

#endif // SATTN_CONVERSION_SPARSEATTNTOCPU_H
