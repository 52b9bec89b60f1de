//===- DumpPTX.cpp - sattn-dump-ptx ---------------------------------------===//
//
// A pass that writes the PTX held by each gpu.binary to DIR/NAME.ptx. It is
// how lit tests hand generated code to ptxas without any text scraping of
// the printed module, and a quick way to look at the PTX of a spec. With
// `ptxas-arch` it also assembles each file (runPtxas) and reports the
// resource usage as a remark on the binary.
//
//===----------------------------------------------------------------------===//

#include "sattn/Target/PTX.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace sattn::target;

namespace {

struct DumpPTXPass : public PassWrapper<DumpPTXPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DumpPTXPass)

  DumpPTXPass() = default;
  DumpPTXPass(const DumpPTXPass &other) : PassWrapper(other) {}

  StringRef getArgument() const final { return "sattn-dump-ptx"; }
  StringRef getDescription() const final {
    return "Write the PTX of every gpu.binary to <dir>/<binary name>.ptx "
           "and/or report ptxas resource usage";
  }

  void runOnOperation() override {
    if (dir.empty() && ptxasArch.empty()) {
      getOperation().emitError(
          "sattn-dump-ptx needs dir=<directory> or ptxas-arch=<sm_XX>");
      return signalPassFailure();
    }
    FailureOr<std::map<std::string, std::string>> ptx =
        extractPTX(getOperation());
    if (failed(ptx))
      return signalPassFailure();
    if (!dir.empty())
      if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
        getOperation().emitError()
            << "cannot create '" << dir << "': " << ec.message();
        return signalPassFailure();
      }
    for (const auto &[name, text] : *ptx) {
      if (!ptxasArch.empty())
        reportPtxas(name, text);
      if (dir.empty())
        continue;
      llvm::SmallString<128> path(dir);
      llvm::sys::path::append(path, name + ".ptx");
      std::error_code ec;
      llvm::raw_fd_ostream os(path, ec);
      if (ec) {
        getOperation().emitError()
            << "cannot write '" << path << "': " << ec.message();
        return signalPassFailure();
      }
      os << text;
    }
  }

  /// Assembles `text` and reports registers and spills on the binary.
  void reportPtxas(StringRef name, StringRef text) {
    auto binary = getOperation().lookupSymbol(name);
    PtxasReport report = runPtxas(text, ptxasArch);
    if (!report.available) {
      binary->emitRemark() << "ptxas not found, not assembled";
      return;
    }
    if (!report.succeeded) {
      binary->emitError() << "ptxas rejected the PTX:\n" << report.log;
      return signalPassFailure();
    }
    for (const PtxasFunctionInfo &f : report.functions)
      binary->emitRemark() << "ptxas " << ptxasArch << ": " << f.name << ": "
                           << f.registers << " registers, " << f.spillStoreBytes
                           << " bytes spill stores, " << f.spillLoadBytes
                           << " bytes spill loads, " << f.stackFrameBytes
                           << " bytes stack frame";
  }

  Option<std::string> dir{*this, "dir",
                          llvm::cl::desc("Directory for the .ptx files")};
  Option<std::string> ptxasArch{
      *this, "ptxas-arch",
      llvm::cl::desc("Also assemble with ptxas for this architecture (e.g. "
                     "sm_90) and report resource usage as remarks")};
};

} // namespace

void sattn::target::registerSattnTargetPasses() {
  PassRegistration<DumpPTXPass>();
}
