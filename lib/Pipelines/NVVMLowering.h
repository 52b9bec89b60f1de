//===- NVVMLowering.h - sattn's passes around convert-gpu-to-nvvm -*- C++ -*-===//
//
// Internal to lib/Pipelines. What the GPU pipeline needs on top of the
// upstream NVVM passes to lower kernels with a 32-bit index (see
// GPUPipeline.cpp for where each runs).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_PIPELINES_NVVMLOWERING_H
#define SATTN_LIB_PIPELINES_NVVMLOWERING_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace sattn::pipeline {

/// convert-nvgpu-to-nvvm with an index of `indexBitwidth` bits.
std::unique_ptr<mlir::Pass> createNVGPUToNVVMPass(unsigned indexBitwidth);
/// math.absi rewritten as arith (no libdevice __nv_abs).
std::unique_ptr<mlir::Pass> createExpandIntegerAbsPass();
/// memref -> !llvm.ptr casts resolved to the bare-pointer descriptor's
/// aligned pointer.
std::unique_ptr<mlir::Pass> createFoldMemRefToPointerCastsPass();
/// Sets the NVPTX backend's -nvptx-short-ptr (process-wide, idempotent).
void useShortNVPTXPointers();

} // namespace sattn::pipeline

#endif // SATTN_LIB_PIPELINES_NVVMLOWERING_H
