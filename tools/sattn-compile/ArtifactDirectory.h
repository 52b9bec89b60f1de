//===- ArtifactDirectory.h - sattn-compile's directory mode ---*- C++ -*-===//
//
// `sattn-compile SPEC -o DIR`: every static kernel compiled to the artifacts
// named by --emit (NAME.ptx, .cubin, .h, .json, the IR after every stage,
// the tile map) plus a one-screen summary on stdout.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TOOLS_SATTN_COMPILE_ARTIFACTDIRECTORY_H
#define SATTN_TOOLS_SATTN_COMPILE_ARTIFACTDIRECTORY_H

#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Target/PTX.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace sattn::tool {

class TableFiles;

enum ExitCode { ExitSuccess = 0, ExitInputError = 1, ExitInternalError = 2 };

/// The files written per kernel.
struct ArtifactSet {
  bool ptx = false, cubin = false, header = false, manifest = false;
  bool mlir = false, tilemap = false;
};

/// Parses a comma list of ptx, cubin, header, manifest, mlir, tilemap.
/// The one-item list `ptx` keeps the meaning it had before lists existed
/// (ptx, cubin, manifest). Fails with a message naming the bad item.
std::optional<ArtifactSet> parseArtifactList(llvm::StringRef list,
                                             std::string &error);

struct DirectoryOptions {
  std::string dir;
  ArtifactSet emit;
  /// Chip, tile overrides and the NVPTX optimisation level.
  target::GPUOptions gpu;
  /// -O level handed to ptxas.
  unsigned optLevel = 3;
  /// Reference length of the summary and the tile map; head of the map.
  int64_t length = 32768;
  int64_t head = 0;
  /// The spec file, for the header's comment.
  std::string specFile;
  /// --kernel named the kernel: a dynamic one is then an error, not a skip.
  bool kernelSelected = false;
  /// Runtime tables for the plan of the summary and the tile map (--table);
  /// null: all zero.
  const TableFiles *tables = nullptr;
};

/// A copy of `module` holding only the kernel `name`: kernels are compiled
/// (and their launch configuration chosen) one at a time.
mlir::OwningOpRef<mlir::ModuleOp> moduleWithKernel(mlir::ModuleOp module,
                                                   llvm::StringRef name);

/// Writes the artifacts of every kernel of `compilation` and prints the
/// summary to stdout. Returns the process exit code.
int writeArtifactDirectory(const spec::SpecCompilation &compilation,
                           const DirectoryOptions &options);

} // namespace sattn::tool

#endif // SATTN_TOOLS_SATTN_COMPILE_ARTIFACTDIRECTORY_H
