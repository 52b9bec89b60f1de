//===- ManifestWriter.h - kernel manifests for libsattn_runtime --*- C++ -*-===//
//
// Writes the JSON manifest (docs/MANIFEST.md) that travels with a kernel's
// PTX/cubin: configuration, launch metadata, declared tables and the
// compiled mask program. The runtime validates every launch against it.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_ARTIFACTS_MANIFESTWRITER_H
#define SATTN_ARTIFACTS_MANIFESTWRITER_H

#include "sattn/Target/LaunchInfo.h"

#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>

namespace sattn {
class KernelOp;
struct MaskProgram;

/// Informational keys (the runtime ignores them): how the image was built
/// and what ptxas reported. Unset fields are left out.
struct ManifestBuildInfo {
  std::optional<int64_t> optLevel;
  std::optional<int64_t> registers, spillStoreBytes, spillLoadBytes;
  std::optional<int64_t> compileMs;
  std::string compiler;
};

/// The manifest of `kernel`, whose mask compiled to `program`, compiled for
/// `chip` (e.g. "sm_90") with the launch metadata `launch`. Fails (with a
/// diagnostic) when the compiled kernel's parameters differ from the ABI.
mlir::FailureOr<std::string>
writeManifest(KernelOp kernel, const MaskProgram &program,
              const target::LaunchInfo &launch, llvm::StringRef chip,
              const ManifestBuildInfo &build = {});
} // namespace sattn

#endif // SATTN_ARTIFACTS_MANIFESTWRITER_H
