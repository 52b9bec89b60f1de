//===- Emitter.h - lowering of checked specs to MLIR ----------*- C++ -*-===//
//
// Emits a builtin.module with one `sattn.kernel` per spec kernel, the mask
// expressed in the mask dialect. Every op carries the FileLineColLoc of the
// spec text it comes from; ops built for a named pattern carry a NameLoc
// with the pattern's name around it, which is how verifier failures are
// traced back to the pattern the user wrote.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_EMITTER_H
#define SATTN_SPEC_EMITTER_H

#include "sattn/Spec/AST.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace sattn::spec {

class SpecDiagnostics;

/// Emits the kernels of a checked `file` (only `onlyKernel` when non-empty)
/// into a new module. Loads the dialects it needs into `context`. Returns
/// null only on an internal inconsistency, reported through `diag`.
mlir::OwningOpRef<mlir::ModuleOp> emitSpec(const SpecFile &file,
                                           mlir::MLIRContext &context,
                                           SpecDiagnostics &diag,
                                           llvm::StringRef onlyKernel = {});

} // namespace sattn::spec

#endif // SATTN_SPEC_EMITTER_H
