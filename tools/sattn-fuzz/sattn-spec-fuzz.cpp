//===- sattn-spec-fuzz.cpp - libFuzzer target for the spec compiler -------===//
//
// Feeds arbitrary bytes through compileSpec (parse, check, emit, verify).
// Besides "never crash", it checks three properties a fuzzer can decide:
//   * every rejected input produced at least one diagnostic, and no input
//     is reported as an internal compiler error;
//   * every accepted input round-trips: the printed module parses back and
//     verifies (what `sattn-compile --emit=mlir | sparse-opt` relies on);
//   * the canonical spec printer agrees with the parser: compiling the
//     `--emit=spec` form of an accepted input gives the same module.
// A violated property aborts, which libFuzzer records as a crash.
//
//===----------------------------------------------------------------------===//

#include "SpecInput.h"

#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Spec/Summary.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {
[[noreturn]] void fail(const char *property, llvm::StringRef detail) {
  std::fprintf(stderr, "sattn-spec-fuzz: property violated: %s\n%.*s\n",
               property, static_cast<int>(detail.size()), detail.data());
  std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Linking only the dialects (not sattn's passes) keeps this build small:
  // compileSpec loads the dialects it emits, which is all the re-parse needs.
  mlir::MLIRContext &context = sattn::fuzz::fuzzContext(4096);
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  sattn::spec::SpecCompilation compilation =
      sattn::fuzz::compileInput(data, size, sourceMgr, context, diagnostics);

  if (compilation.status == sattn::spec::SpecStatus::InternalError)
    fail("no internal errors", diagnostics);
  if (compilation.status != sattn::spec::SpecStatus::Success) {
    if (diagnostics.find(": error: ") == std::string::npos)
      fail("every rejected input is diagnosed", diagnostics);
    return 0;
  }

  // Exercise the summary printer too; its output is not checked.
  std::string summary;
  llvm::raw_string_ostream summaryOS(summary);
  std::string canonical;
  llvm::raw_string_ostream canonicalOS(canonical);
  for (const auto &kernel : compilation.ast->kernels) {
    sattn::spec::printKernelSummary(*kernel, summaryOS);
    sattn::spec::printKernelSpec(*kernel, canonicalOS);
  }

  std::string printed;
  llvm::raw_string_ostream printedOS(printed);
  compilation.module->print(printedOS);

  {
    llvm::SourceMgr canonicalMgr;
    canonicalMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(canonical, "canonical.sattn"),
        llvm::SMLoc());
    std::string canonicalDiagnostics;
    llvm::raw_string_ostream canonicalDiagOS(canonicalDiagnostics);
    sattn::spec::SpecCompilation again =
        sattn::spec::compileSpec(canonicalMgr, context, canonicalDiagOS);
    if (again.status != sattn::spec::SpecStatus::Success)
      fail("the canonical spec compiles",
           canonical + "\n" + canonicalDiagnostics);
    std::string reprinted;
    llvm::raw_string_ostream reprintedOS(reprinted);
    again.module->print(reprintedOS);
    if (reprinted != printed)
      fail("the canonical spec gives the same module",
           canonical + "\n" + printed + "\n" + reprinted);
  }

  std::string reparseErrors;
  {
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
      reparseErrors += d.str() + "\n";
      return mlir::success();
    });
    mlir::ParserConfig config(&context);
    auto reparsed = mlir::parseSourceString<mlir::ModuleOp>(printed, config);
    if (!reparsed || failed(mlir::verify(*reparsed)))
      fail("the printed module parses and verifies",
           printed + "\n" + reparseErrors);
  }
  return 0;
}
