//===- SpecCompiler.cpp - .sattn text to verified MLIR --------------------===//
//
// Runs parse -> check -> emit -> verify and turns MLIR verifier diagnostics
// into spec diagnostics. A verifier failure on an op built for a named
// pattern (its location is a NameLoc) is the user's: a parameter out of the
// range the dialect accepts, reported at the pattern as
// "invalid 'window': 'size' must be positive, got 0". Any other verifier
// failure means the emitter built bad IR, and is reported as an internal
// error so that it is never mistaken for a spec mistake.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/Emitter.h"
#include "sattn/Spec/Parser.h"
#include "sattn/Spec/Sema.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace sattn::spec;

/// Drops the "'mask.window' op " prefix of an op verifier message: the spec
/// author knows the pattern, not the op.
static std::string stripOpPrefix(llvm::StringRef message) {
  if (message.starts_with("'")) {
    size_t close = message.find("' op ");
    if (close != llvm::StringRef::npos)
      return message.drop_front(close + 5).str();
  }
  return message.str();
}

namespace {
/// Reports MLIR diagnostics in the spec format while it is alive.
class VerifierDiagnosticBridge {
public:
  VerifierDiagnosticBridge(MLIRContext &context, SpecDiagnostics &diag)
      : context(context), diag(diag),
        savedPrintOp(context.shouldPrintOpOnDiagnostic()),
        savedPrintStack(context.shouldPrintStackTraceOnDiagnostic()) {
    // The op dump and stack trace notes are noise for a spec author.
    context.printOpOnDiagnostic(false);
    context.printStackTraceOnDiagnostic(false);
    handlerId = context.getDiagEngine().registerHandler(
        [this](Diagnostic &d) { return handle(d); });
  }
  ~VerifierDiagnosticBridge() {
    context.getDiagEngine().eraseHandler(handlerId);
    context.printOpOnDiagnostic(savedPrintOp);
    context.printStackTraceOnDiagnostic(savedPrintStack);
  }

  bool sawUserError = false;
  bool sawInternalError = false;

private:
  llvm::SMLoc toSpecLoc(Location loc) {
    if (auto fileLoc = loc->findInstanceOf<FileLineColLoc>()) {
      llvm::SMLoc specLoc = diag.getLoc(fileLoc.getLine(), fileLoc.getColumn());
      if (specLoc.isValid())
        return specLoc;
    }
    return diag.getBufferStart();
  }

  LogicalResult handle(Diagnostic &d) {
    llvm::SMLoc loc = toSpecLoc(d.getLocation());
    std::string message = d.str();
    if (d.getSeverity() == DiagnosticSeverity::Error) {
      if (auto name = d.getLocation()->findInstanceOf<NameLoc>()) {
        sawUserError = true;
        diag.error(loc, "invalid '" + name.getName().getValue() +
                            "': " + stripOpPrefix(message));
      } else {
        sawInternalError = true;
        diag.error(loc, "internal error: the emitted IR does not verify: " +
                            message);
      }
    } else {
      diag.note(loc, message);
    }
    for (Diagnostic &note : d.getNotes())
      diag.note(toSpecLoc(note.getLocation()), note.str());
    return success();
  }

  MLIRContext &context;
  SpecDiagnostics &diag;
  bool savedPrintOp, savedPrintStack;
  DiagnosticEngine::HandlerID handlerId;
};
} // namespace

SpecCompilation sattn::spec::compileSpec(llvm::SourceMgr &sourceMgr,
                                         MLIRContext &context,
                                         llvm::raw_ostream &diagOS,
                                         llvm::StringRef onlyKernel) {
  SpecCompilation result;
  SpecDiagnostics diag(sourceMgr, diagOS);
  llvm::StringRef buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())->getBuffer();

  // Every failing stage must have said why; if one did not, that is a bug
  // in the compiler, and the user still gets a message.
  auto fail = [&](llvm::StringRef stage) {
    if (!diag.hadError()) {
      diag.error(diag.getBufferStart(),
                 "internal error: " + stage + " failed without a diagnostic");
      result.status = SpecStatus::InternalError;
    }
    return std::move(result);
  };

  result.ast = parseSpec(buffer, diag);
  if (!result.ast)
    return fail("parsing");
  if (failed(checkSpec(*result.ast, diag)))
    return fail("checking");

  if (!onlyKernel.empty() &&
      llvm::none_of(result.ast->kernels,
                    [&](const auto &k) { return k->name == onlyKernel; })) {
    diagOS << diag.getFilename() << ": error: no kernel named '" << onlyKernel
           << "' (the file declares ";
    llvm::interleaveComma(result.ast->kernels, diagOS, [&](const auto &k) {
      diagOS << "'" << k->name << "'";
    });
    diagOS << ")\n";
    result.status = SpecStatus::InputError;
    return result;
  }

  OwningOpRef<ModuleOp> module =
      emitSpec(*result.ast, context, diag, onlyKernel);
  if (!module) {
    result.status = SpecStatus::InternalError;
    return fail("emission");
  }

  {
    VerifierDiagnosticBridge bridge(context, diag);
    if (failed(verify(*module))) {
      result.status = bridge.sawInternalError || !bridge.sawUserError
                          ? SpecStatus::InternalError
                          : SpecStatus::InputError;
      if (!bridge.sawUserError && !bridge.sawInternalError)
        diag.error(diag.getBufferStart(),
                   "internal error: verification failed without a diagnostic");
      return result;
    }
  }
  result.module = std::move(module);
  result.status = SpecStatus::Success;
  return result;
}
