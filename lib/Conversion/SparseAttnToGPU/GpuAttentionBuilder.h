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

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace sattn {
class KernelOp;

namespace gpucodegen {

/// Argument positions of a generated kernel; one i64 table pointer per
/// `mask.table` follows, in declaration order. Pointers are bare pointers
/// (0-d memrefs lowered with the bare-pointer calling convention), strides
/// and lengths are i64.
enum ArgIndex : unsigned {
  kArgQ = 0,
  kArgK,
  kArgV,
  kArgO,
  kArgLse,
  kArgQStrides, // batch, head, row: 3 arguments
  kArgKStrides = kArgQStrides + 3,
  kArgVStrides = kArgKStrides + 3,
  kArgOStrides = kArgVStrides + 3,
  kArgLseStrides = kArgOStrides + 3, // batch, head: 2 arguments
  kArgLq = kArgLseStrides + 2,
  kArgLk,
  kArgSegments,
  kArgOffsets,
  kArgClassIndex,
  kArgNumQueryTiles,
  kNumFixedArgs,
};

/// Names of the fixed arguments (KERNEL_ABI.md), then "table_<symbol>".
llvm::SmallVector<std::string> kernelArgNames(KernelOp kernel);

/// Builds `gpu.func @name` (a kernel) for `kernel` at the builder's
/// insertion point, which must be in a gpu.module. The kernel's mask must
/// already be in the form the element-mask emitter handles. The launch
/// attributes of sattn/Target/LaunchInfo.h are set on the function.
mlir::FailureOr<mlir::gpu::GPUFuncOp>
buildGpuAttentionKernel(mlir::OpBuilder &builder, KernelOp kernel,
                        const KernelConfig &config, llvm::StringRef name);

} // namespace gpucodegen
} // namespace sattn

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDER_H
