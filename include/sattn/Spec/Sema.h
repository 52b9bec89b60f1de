//===- Sema.h - name resolution and type checking of specs ----*- C++ -*-===//
//
// Checks a parsed SpecFile: kernel configuration values, table
// declarations, names, types (Int, Bool, Mask), pattern arguments, and the
// static evaluation the emitter depends on (constant pattern arguments,
// per-head selectors, strided offsets as affine functions of h). Everything
// a spec author can get wrong is reported here with a precise location, so
// that the emitter only sees well-formed input; the MLIR verifier run after
// emission adds the pattern-parameter range checks the dialect owns.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_SEMA_H
#define SATTN_SPEC_SEMA_H

#include "sattn/Core/Limits.h"
#include "sattn/Spec/AST.h"

#include "llvm/Support/LogicalResult.h"

namespace sattn::spec {

class SpecDiagnostics;

/// Largest `heads` a kernel may declare; bounds per-head evaluation.
using limits::kMaxHeads;

/// Checks and annotates `file`. Reports the first error and fails.
llvm::LogicalResult checkSpec(SpecFile &file, SpecDiagnostics &diag);

} // namespace sattn::spec

#endif // SATTN_SPEC_SEMA_H
