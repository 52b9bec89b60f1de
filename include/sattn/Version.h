//===- Version.h - what sattn's tools say they are ------------*- C++ -*-===//
//
// One place for the version the tools print (`--version`) and record in the
// manifests and headers they write: the sattn version (cmake/SattnVersion.cmake,
// shared with libsattn_runtime and the Python package), the commit of the
// source tree and the LLVM/MLIR the tools were built against.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_VERSION_H
#define SATTN_VERSION_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace sattn {

/// The sattn version, e.g. "0.1.0".
llvm::StringRef version();

/// `git describe --always --dirty` of the source tree when the tool was
/// built, "unknown" outside a git checkout.
llvm::StringRef gitDescribe();

/// "TOOL VERSION (COMMIT)", e.g. "sattn-compile 0.1.0 (1c450aa)": what
/// manifests and generated headers record as their compiler.
std::string toolIdentity(llvm::StringRef tool);

/// The text of `TOOL --version`: tool, sattn version, commit, LLVM version.
void printVersion(llvm::raw_ostream &os, llvm::StringRef tool);

/// Makes `--version` of the calling tool print printVersion(tool) instead
/// of LLVM's text (call before parsing the command line).
void setVersionPrinter(llvm::StringRef tool);

} // namespace sattn

#endif // SATTN_VERSION_H
