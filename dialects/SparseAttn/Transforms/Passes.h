//===- Passes.h - sattn dialect passes ------------------------*- C++ -*-===//
//
// Declarations and registration of the sattn dialect's passes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPARSEATTN_TRANSFORMS_PASSES_H
#define SATTN_SPARSEATTN_TRANSFORMS_PASSES_H

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace sattn {
#define GEN_PASS_DECL
#include "SparseAttn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "SparseAttn/Transforms/Passes.h.inc"
} // namespace sattn

#endif // SATTN_SPARSEATTN_TRANSFORMS_PASSES_H
