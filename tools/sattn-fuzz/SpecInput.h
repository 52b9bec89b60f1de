//===- SpecInput.h - fuzz input as a spec, shared by the spec targets -*- C++ -*-===//
//
// The two targets that read spec text (sattn-spec-fuzz, sattn-plan-fuzz)
// compile each input the same way: in one long-lived context (creating a
// context per input would dominate the run time), rebuilt now and then so
// that interned attributes from earlier inputs do not accumulate without
// bound, from a source buffer named fuzz.sattn.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TOOLS_FUZZ_SPECINPUT_H
#define SATTN_TOOLS_FUZZ_SPECINPUT_H

#include "sattn/Spec/SpecCompiler.h"

#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <memory>
#include <string>

namespace sattn::fuzz {

/// The context inputs are compiled in, renewed every `renewEvery` inputs.
inline mlir::MLIRContext &fuzzContext(unsigned renewEvery) {
  static std::unique_ptr<mlir::MLIRContext> context;
  static unsigned uses = 0;
  if (!context || ++uses % renewEvery == 0)
    context = std::make_unique<mlir::MLIRContext>(
        mlir::MLIRContext::Threading::DISABLED);
  return *context;
}

/// Compiles the input bytes as a spec held by `sourceMgr`, which must
/// outlive the result (the AST refers to the buffer); diagnostics go to
/// `diagnostics`.
inline spec::SpecCompilation compileInput(const uint8_t *data, size_t size,
                                          llvm::SourceMgr &sourceMgr,
                                          mlir::MLIRContext &context,
                                          std::string &diagnostics) {
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz.sattn"),
      llvm::SMLoc());
  llvm::raw_string_ostream diagOS(diagnostics);
  return spec::compileSpec(sourceMgr, context, diagOS);
}

} // namespace sattn::fuzz

#endif // SATTN_TOOLS_FUZZ_SPECINPUT_H
