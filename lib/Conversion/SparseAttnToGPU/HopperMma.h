//===- HopperMma.h - wgmma operands and issue for sm_90a ---------*- C++ -*-===//
//
// The warpgroup matrix multiply of the Hopper kernel: shared-memory matrix
// descriptors for tiles in the 128-byte swizzled layout TMA writes, the
// shared x shared form (S = Q K^T; MLIR's nvvm.wgmma.mma_async) and the
// register x shared form (O += P V with P still in registers, which MLIR 22
// has no op for: one PTX instruction in inline assembly), and the "pin"
// that keeps ordinary instructions on accumulators and operands on the
// right side of the asynchronous wgmma fence and wait.
//
// Fragment layout: an m64nN accumulator holds N / 2 f32 per thread, value
// 4j + 2i + e at row 16 * warp + group + 8i, column 8j + 2 * quad + e: the
// same order as N / 8 mma.sync m16n8 tiles, so the warp-level softmax and
// packing of WarpSoftmax.h and WarpMma.h apply unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERMMA_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERMMA_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace sattn::gpucodegen::hopper {

/// Rows of one wgmma (a warpgroup) and its k step for 16-bit inputs.
constexpr int64_t kWgmmaRows = 64, kWgmmaK = 16;
/// Bytes of one row of a 128-byte swizzled box and of its 8-row atom.
constexpr int64_t kSwizzleBytes = 128, kSwizzleAtomBytes = 1024;

/// The `!llvm.struct` of `n` f32 that nvvm.wgmma.mma_async accumulates in.
mlir::Type accumulatorType(mlir::MLIRContext *ctx, int64_t n);
mlir::Value emitPackStruct(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Type structType, mlir::ValueRange values);
llvm::SmallVector<mlir::Value> emitUnpackStruct(mlir::OpBuilder &b,
                                                mlir::Location loc,
                                                mlir::Value st);

/// An empty asm statement with side effects that takes `values` (all f32
/// or all i32) in registers and returns them (CUTLASS's
/// warpgroup_fence_operand). Emits no instruction; LLVM keeps it ordered
/// with the wgmma fence/commit/wait intrinsics, so values computed into it
/// are ready before a fence and values read from it wait for a wait.
llvm::SmallVector<mlir::Value> emitPin(mlir::OpBuilder &b, mlir::Location loc,
                                       mlir::ValueRange values);

/// The 64-bit matrix descriptor of the 128-byte swizzled tile at `smem`
/// (`!llvm.ptr<3>`, 1024-byte aligned atoms): start address, leading and
/// stride byte offsets, layout type 1.
mlir::Value emitSharedDescriptor(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::Value smem, int64_t leadingBytes,
                                 int64_t strideBytes);
/// `desc` with its start address moved by `bytes` (a multiple of 16).
mlir::Value emitDescriptorAdvance(mlir::OpBuilder &b, mlir::Location loc,
                                  mlir::Value desc, int64_t bytes);

/// One m64nNk16 wgmma with both operands in shared memory: A K-major,
/// B K-major (`bMajorN` false: K tiles of Q K^T) or N-major (V of P V).
/// `accumulate` false overwrites the accumulator struct `acc`.
mlir::Value emitWgmmaShared(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Type elementType, int64_t n, mlir::Value acc,
                            mlir::Value descA, mlir::Value descB,
                            bool accumulate, bool bMajorN);
/// One m64nNk16 wgmma with A in registers (4 x i32: the packed pairs of
/// an m64k16 fragment) and an N-major B in shared memory, accumulating
/// into `acc` (N / 2 f32). Returns the new accumulators.
llvm::SmallVector<mlir::Value>
emitWgmmaRegisterA(mlir::OpBuilder &b, mlir::Location loc,
                   mlir::Type elementType, mlir::ValueRange acc,
                   mlir::ValueRange a, mlir::Value descB);

void emitWgmmaFence(mlir::OpBuilder &b, mlir::Location loc);
void emitWgmmaCommit(mlir::OpBuilder &b, mlir::Location loc);
/// Waits until at most `pending` committed wgmma groups are in flight.
void emitWgmmaWait(mlir::OpBuilder &b, mlir::Location loc, int64_t pending);

} // namespace sattn::gpucodegen::hopper

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERMMA_H
