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
#define GEN_PASS_DECL
#include "sattn/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sattn/Conversion/Passes.h.inc"
} // namespace sattn

#endif // SATTN_CONVERSION_PASSES_H
