//===- HopperSync.h - TMA copies and mbarriers for sm_90a --------*- C++ -*-===//
//
// The data movement and synchronisation of the Hopper kernel: the dynamic
// shared memory as a 1024-byte aligned `!llvm.ptr<3>` (the 128-byte
// swizzle repeats every 1024 bytes, and wgmma descriptors assume aligned
// atoms), mbarriers (init, arrive, arrive with an expected transaction
// count, a spin wait on a phase parity), TMA box copies from a tensor map
// into shared memory, completed on an mbarrier, and the row copies of
// gathered keys (cp.async, tracked by an mbarrier, a named barrier among
// the producer's warps, the proxy fence before wgmma reads them).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERSYNC_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERSYNC_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir::gpu {
class GPUModuleOp;
} // namespace mlir::gpu

namespace sattn::gpucodegen::hopper {

/// i32 constant (the NVVM ops take i32 operands).
mlir::Value i32Const(mlir::OpBuilder &b, mlir::Location loc, int64_t value);

/// Declares the module's dynamic shared memory symbol (once per module).
void declareDynamicSharedMemory(mlir::OpBuilder &moduleBuilder,
                                mlir::Location loc);
/// The dynamic shared memory rounded up to 1024 bytes (the launch asks for
/// 1 KiB more than the layout needs).
mlir::Value emitAlignedSharedBase(mlir::OpBuilder &b, mlir::Location loc);
/// `base` + `bytes` (constant or i32 value) as `!llvm.ptr<3>`.
mlir::Value emitSharedOffset(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Value base, int64_t bytes);
mlir::Value emitSharedOffset(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Value base, mlir::Value bytes);

void emitMbarrierInit(mlir::OpBuilder &b, mlir::Location loc,
                      mlir::Value barrier, int64_t count);
void emitMbarrierArrive(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::Value barrier);
/// Arrives and announces `bytes` of TMA transactions for the phase.
void emitMbarrierExpectBytes(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Value barrier, int64_t bytes);
/// Spins until the phase of parity `parity` (i32 0 or 1) has completed. A
/// fresh barrier counts the phase before phase 0 (parity 1) as complete.
void emitMbarrierWait(mlir::OpBuilder &b, mlir::Location loc,
                      mlir::Value barrier, mlir::Value parity);

/// TMA copy of the box at `coordinates` (i32, innermost first) of the
/// tensor map `tensorMap` (generic pointer to a CUtensorMap) to `dst`; its
/// bytes count towards the transactions `barrier` expects.
void emitTmaLoad(mlir::OpBuilder &b, mlir::Location loc, mlir::Value dst,
                 mlir::Value tensorMap, mlir::ValueRange coordinates,
                 mlir::Value barrier);

/// cp.async.cg of 16 bytes from `src` (`!llvm.ptr<1>`) to `dst`
/// (`!llvm.ptr<3>`), reading `srcBytes` (i32, 0 or 16) and filling the rest
/// with zeros.
void emitAsyncCopy16(mlir::OpBuilder &b, mlir::Location loc, mlir::Value dst,
                     mlir::Value src, mlir::Value srcBytes);
/// One arrival on `barrier` once this thread's cp.async copies issued so
/// far have landed (cp.async.mbarrier.arrive.noinc: the barrier's expected
/// count includes it).
void emitAsyncCopiesArrive(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value barrier);
/// bar.sync `id`, `threads`: a barrier of some warps of the CTA.
void emitNamedBarrier(mlir::OpBuilder &b, mlir::Location loc, int64_t id,
                      int64_t threads);
/// fence.proxy.async.shared::cta: orders this thread's view of shared
/// memory written through the generic proxy (st.shared, cp.async) before
/// its later asynchronous-proxy reads (wgmma operands).
void emitAsyncProxyFence(mlir::OpBuilder &b, mlir::Location loc);

} // namespace sattn::gpucodegen::hopper

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERSYNC_H
