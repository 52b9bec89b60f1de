//===- Version.cpp - what sattn's tools say they are ----------------------===//
//
// Only this file includes the generated VersionInfo.inc, so a new commit
// recompiles one file and relinks the tools, nothing else.
//
//===----------------------------------------------------------------------===//

#include "sattn/Version.h"

#include "VersionInfo.inc"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

llvm::StringRef sattn::version() { return SATTN_VERSION_STRING; }

llvm::StringRef sattn::gitDescribe() { return SATTN_GIT_DESCRIBE; }

std::string sattn::toolIdentity(llvm::StringRef tool) {
  return (tool + " " + version() + " (" + gitDescribe() + ")").str();
}

void sattn::printVersion(llvm::raw_ostream &os, llvm::StringRef tool) {
  os << tool << " (sattn) " << version() << "\n"
     << "  commit: " << gitDescribe() << "\n"
     << "  LLVM/MLIR: " << LLVM_VERSION_STRING << "\n";
}

void sattn::setVersionPrinter(llvm::StringRef tool) {
  std::string name = tool.str();
  llvm::cl::SetVersionPrinter(
      [name](llvm::raw_ostream &os) { printVersion(os, name); });
}
