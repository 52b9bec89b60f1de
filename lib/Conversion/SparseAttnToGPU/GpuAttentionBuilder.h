//===- GpuAttentionBuilder.h - one planned attention kernel on sm_80+ -*- C++
//-*-//
//
// The kernel signature of docs/KERNEL_ABI.md as gpu.func arguments, and
// the builder that emits a whole mma.sync FlashAttention-2 kernel from the
// building blocks of this directory (TileCopy, WarpMma, WarpSoftmax) and
// the shared ones of sattn/Conversion (TileIteration, MaskToArith,
// OnlineSoftmax).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDER_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDER_H

#include "KernelConfig.h"

#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace sattn {
class KernelOp;

namespace gpucodegen {

/// Argument positions of a generated kernel, from the ABI table
/// (sattn/Core/KernelAbi.h); one i64 table pointer per `mask.table` follows,
/// in declaration order. Pointers are bare pointers (0-d memrefs lowered
/// with the bare-pointer calling convention), strides and lengths are i64.
enum ArgIndex : unsigned {
  kArgQ = abi::Q,
  kArgK = abi::K,
  kArgV = abi::V,
  kArgO = abi::O,
  kArgLse = abi::Lse,
  kArgQStrides = abi::QStrideBatch, // batch, head, row: 3 arguments
  kArgKStrides = abi::KStrideBatch,
  kArgVStrides = abi::VStrideBatch,
  kArgOStrides = abi::OStrideBatch,
  kArgLseStrides = abi::LseStrideBatch, // batch, head: 2 arguments
  kArgLq = abi::Lq,
  kArgLk = abi::Lk,
  kArgSegments = abi::Segments,
  kArgOffsets = abi::Offsets,
  kArgClassIndex = abi::ClassIndex,
  kArgNumQueryTiles = abi::NumQueryTiles,
  kNumFixedArgs = abi::kNumFixedParams,
};

/// Where the lengths, the plan buffers and the first table sit among a
/// kernel's arguments: the forward's positions by default; the backward
/// kernel's (abi::BackwardParamId) differ.
struct ArgPositions {
  unsigned lq = kArgLq, lk = kArgLk, numQueryTiles = kArgNumQueryTiles;
  unsigned segments = kArgSegments, offsets = kArgOffsets,
           classIndex = kArgClassIndex, firstTable = kNumFixedArgs;
};

/// Names of the fixed arguments (the ABI table), then "table_<symbol>",
/// then the tensor maps of a Hopper kernel.
llvm::SmallVector<std::string> kernelArgNames(KernelOp kernel,
                                              abi::KernelFamily family);
/// The gpu.func type of the ABI: pointers as 0-d memrefs of their element
/// type (one bare pointer each), integers as i64, tensor maps as
/// `!llvm.ptr` (made by-value parameters after convert-gpu-to-nvvm).
mlir::FunctionType kernelSignature(KernelOp kernel, mlir::Type elementType,
                                   abi::KernelFamily family);
/// Where a CTA is in the launch grid (ceil(Lq / BM), heads, batch) and the
/// lengths of the ABI, as index values: the first values both kernels
/// build from their arguments.
struct GridCoordinates {
  mlir::Value threadId, tileIdx, headIdx, batchIdx, batchCount, kvHead;
  mlir::Value lq, lk, numQueryTiles;
};
GridCoordinates emitGridCoordinates(mlir::OpBuilder &b, mlir::Location loc,
                                    KernelOp kernel, mlir::Block &entry,
                                    const ArgPositions &positions = {});
/// A view of the buffer behind a 0-d memref argument `ptr`: `shape` with
/// at most one dynamic dimension, sized by `extent`, rebased by `offset`
/// elements when given (rank 1 only; the base may pass 2^31 elements).
mlir::Value emitBufferView(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value ptr, mlir::Type element,
                           llvm::ArrayRef<int64_t> shape, mlir::Value extent,
                           mlir::Value offset = {});
/// A grid-stride loop over the i64 items [0, items) of a 1-D launch: the
/// loop of the generated helper kernels (device plan stages, estimator
/// stages), so that any grid covers any item count.
void emitGridStrideLoop(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value items,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value)> body);
/// The plan buffers and runtime tables of the ABI as views. The kernel does
/// not know how long they are (their readers bound every index), so their
/// dynamic sizes are a placeholder that no access reads.
struct PlanViews {
  mlir::Value segments, offsets, classIndex;
  llvm::StringMap<TableBinding> tables;
};
PlanViews emitPlanViews(mlir::OpBuilder &b, mlir::Location loc,
                        KernelOp kernel, mlir::Block &entry,
                        const GridCoordinates &grid,
                        const ArgPositions &positions = {});
/// Rows [first, last) of the segment table (`offsets`, `classIndex`: the
/// plan views) for query tile `tile` of (batch, head):
/// offsets[c * (T + 1) + tile] and the next, c the plan class of (batch,
/// head), T = numQueryTiles.
std::pair<mlir::Value, mlir::Value>
emitSegmentRows(mlir::OpBuilder &b, mlir::Location loc, KernelOp kernel,
                mlir::Value offsets, mlir::Value classIndex, mlir::Value batch,
                mlir::Value head, mlir::Value numQueryTiles, mlir::Value tile);
/// Lets ptxas use the registers the kernel's code needs (.minnctapersm 1).
void setRegisterBudget(mlir::gpu::GPUFuncOp func);
/// Records the launch information of sattn/Target/LaunchInfo.h on `func`
/// (and the register budget).
void setLaunchAttributes(mlir::gpu::GPUFuncOp func, KernelOp kernel,
                         const KernelConfig &config);
/// Builds the sm_90a kernel (HopperAttentionBuilder.cpp); same contract as
/// buildGpuAttentionKernel.
mlir::FailureOr<mlir::gpu::GPUFuncOp>
buildHopperAttentionKernel(mlir::OpBuilder &builder, KernelOp kernel,
                           const KernelConfig &config, llvm::StringRef name);

/// Adds the device plan builder's stage kernels (DevicePlanKernels.cpp)
/// after `attention` and records sattn.device_plan on it.
mlir::LogicalResult buildDevicePlanKernels(mlir::OpBuilder &builder,
                                           KernelOp kernel,
                                           const KernelConfig &config,
                                           mlir::gpu::GPUFuncOp attention);

/// For a kernel with a compiled estimator (`sattn.estimator`), adds its
/// stage kernels (EstimatorKernels.cpp) after `attention` and copies the
/// estimator's record onto it (target::kEstimatorAttr); nothing otherwise.
/// Logits of query rows are summed on tensor cores (recorded as `logits =
/// "tensor"`) unless `exactLogits`: then in f64, as the references do.
mlir::LogicalResult buildEstimatorKernels(mlir::OpBuilder &builder, KernelOp kernel,
                                          mlir::gpu::GPUFuncOp attention, bool exactLogits);

/// Builds `gpu.func @name` (a kernel) for `kernel` at the builder's
/// insertion point, which must be in a gpu.module. The kernel's mask must
/// already be in the form the element-mask emitter handles. The launch
/// attributes of sattn/Target/LaunchInfo.h are set on the function.
mlir::FailureOr<mlir::gpu::GPUFuncOp>
buildGpuAttentionKernel(mlir::OpBuilder &builder, KernelOp kernel,
                        const KernelConfig &config, llvm::StringRef name);

/// Builds the backward kernel `gpu.func @<attention>_bwd`
/// (GpuBackwardBuilder.cpp) over the plan of `attention`, whose forward
/// configuration is `forward`, and records target::kBackwardAttr on
/// `attention`. Fails with a diagnostic where no backward can be built
/// (head_dim above 128).
mlir::FailureOr<mlir::gpu::GPUFuncOp>
buildGpuBackwardKernel(mlir::OpBuilder &builder, KernelOp kernel,
                       const KernelConfig &forward,
                       mlir::gpu::GPUFuncOp attention);

} // namespace gpucodegen
} // namespace sattn

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDER_H
