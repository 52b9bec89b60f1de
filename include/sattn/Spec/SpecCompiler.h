//===- SpecCompiler.h - .sattn text to verified MLIR ----------*- C++ -*-===//
//
// The one entry point tools use (sattn-compile, the fuzzer, the Python
// bindings): parse, check, emit and verify a spec buffer, with every
// diagnostic printed in the spec format and a status that tells bad input
// apart from a compiler bug.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_SPECCOMPILER_H
#define SATTN_SPEC_SPECCOMPILER_H

#include "sattn/Spec/AST.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace sattn::spec {

enum class SpecStatus {
  Success,
  InputError,    // the spec is wrong; diagnostics say where
  InternalError, // the compiler produced IR it cannot verify
};

struct SpecCompilation {
  SpecStatus status = SpecStatus::InputError;
  /// The checked AST (null when parsing failed).
  std::unique_ptr<SpecFile> ast;
  /// The verified module (null unless status is Success).
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

/// Compiles the main buffer of `sourceMgr`, printing diagnostics to
/// `diagOS`. `onlyKernel`, when non-empty, selects the kernel to emit; an
/// unknown name is an input error. The context must outlive the module.
SpecCompilation compileSpec(llvm::SourceMgr &sourceMgr,
                            mlir::MLIRContext &context,
                            llvm::raw_ostream &diagOS,
                            llvm::StringRef onlyKernel = {});

} // namespace sattn::spec

#endif // SATTN_SPEC_SPECCOMPILER_H
