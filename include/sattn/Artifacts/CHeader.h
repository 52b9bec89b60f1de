//===- CHeader.h - a kernel embedded in a C header ------------*- C++ -*-===//
//
// Writes NAME.h: a C99 (and C++) header holding a kernel's manifest and
// image (cubin or PTX) as byte arrays plus a `sattn_NAME_load` wrapper
// around sattn_kernel_load, so that a program can carry its kernels without
// reading files at run time (docs/MANIFEST.md, "The generated header").
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_ARTIFACTS_CHEADER_H
#define SATTN_ARTIFACTS_CHEADER_H

#include "llvm/ADT/StringRef.h"

#include <string>
#include <utility>
#include <vector>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace sattn {

struct CHeaderContents {
  /// The kernel's name, a C identifier; arrays are `sattn_<name>_...`.
  std::string name;
  /// The manifest's JSON text (embedded with a terminating NUL).
  llvm::StringRef manifest;
  /// The kernel image: cubin bytes or PTX text.
  llvm::StringRef image;
  /// "cubin" or "PTX", for the comment block.
  llvm::StringRef imageKind;
  /// Lines for the comment block ("dtype: bf16", ...) and the kernel's spec
  /// text, shown there verbatim.
  std::vector<std::pair<std::string, std::string>> facts;
  std::string spec;
};

/// Writes the header for `contents` to `os`.
void writeCHeader(const CHeaderContents &contents, llvm::raw_ostream &os);

} // namespace sattn

#endif // SATTN_ARTIFACTS_CHEADER_H
