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

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "sattn/Pipelines/Passes.h.inc"

} // namespace sattn::pipeline

#endif // SATTN_LIB_PIPELINES_NVVMLOWERING_H
