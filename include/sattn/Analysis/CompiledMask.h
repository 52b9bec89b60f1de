//===- CompiledMask.h - a kernel's mask compiled to a program ---*- C++ -*-===//
//
// The single source of truth for what a mask keeps. `CompiledMask` is the
// front end: it compiles a mask value (a tree of mask-dialect ops, predicates
// included) once into a MaskProgram (sattn/Core/MaskProgram.h, plain data)
// and answers keep(b, h, q, k) for absolute positions with the core's
// evaluator (sattn/Core/MaskEval.h). Every later stage (tile planning, CPU and GPU lowering) is
// tested against it by brute force at small sizes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_ANALYSIS_COMPILEDMASK_H
#define SATTN_ANALYSIS_COMPILEDMASK_H

#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"

#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>

namespace llvm::json {
class Value;
} // namespace llvm::json

namespace sattn {
class KernelOp;

/// `program` as a JSON document of format "sattn.mask-program/1" (what
/// CompiledMask::toJSON prints and manifests embed).
llvm::json::Value maskProgramToJSON(const MaskProgram &program);

class CompiledMask {
public:
  /// Compiles the mask yielded by `kernel`. Fails with a diagnostic on the
  /// kernel (e.g. for dynamic patterns, which have no static semantics).
  static mlir::FailureOr<CompiledMask> compile(KernelOp kernel);

  /// Compiles `mask` given the head configuration of its kernel.
  static mlir::FailureOr<CompiledMask> compile(mlir::Value mask, int64_t heads,
                                              int64_t kvHeads);

  /// Checks that `inputs` provides every table the mask reads with the shape
  /// implied by its declaration; returns a message, or "" when consistent.
  std::string checkInputs(const MaskInputs &inputs) const;

  /// True when the pair (q, k) of batch b and head h is kept. Positions are
  /// absolute. Tables missing from `inputs` or indices out of range read 0.
  bool keep(const MaskInputs &inputs, int64_t b, int64_t h, int64_t q,
            int64_t k) const;

  int64_t heads() const;
  int64_t kvHeads() const;

  /// The compiled mask program as JSON (format "sattn.mask-program/1"):
  /// nodes, operand lists, affine steps, predicate instructions and table
  /// declarations. It is self-contained: python/sattn/mask_program.py
  /// evaluates it on tensors (the PyTorch reference), and manifests embed it.
  std::string toJSON() const;

  /// The compiled program (what toJSON writes and the planner runs on).
  const MaskProgram &program() const { return compiled; }

private:
  explicit CompiledMask(MaskProgram program) : compiled(std::move(program)) {}
  MaskProgram compiled;
};

} // namespace sattn

#endif // SATTN_ANALYSIS_COMPILEDMASK_H
