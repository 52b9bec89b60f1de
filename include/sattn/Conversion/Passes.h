//===- Passes.h - sattn conversion passes ---------------------*- C++ -*-===//
//
// Declarations and registration of the passes that lower sattn kernels to
// upstream dialects (generated from Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_PASSES_H
#define SATTN_CONVERSION_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace sattn {
/// Width of `index` in the lowered GPU kernels (convert-nvgpu-to-nvvm and
/// convert-gpu-to-nvvm of sattn-gpu-pipeline). Index values are in-CTA
/// quantities: rows, columns, shared offsets, and global element offsets
/// inside one (batch, head) slice, which the runtime bounds below 2^31. The
/// lowering folds the 64-bit (batch, head) base offsets into the tile
/// pointers itself and builds the views' descriptors with this width.
constexpr unsigned kGpuIndexBitwidth = 32;

#define GEN_PASS_DECL
#include "sattn/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sattn/Conversion/Passes.h.inc"
} // namespace sattn

#endif // SATTN_CONVERSION_PASSES_H
