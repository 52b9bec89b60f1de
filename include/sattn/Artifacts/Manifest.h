//===- Manifest.h - kernel manifests for libsattn_runtime -----*- C++ -*-===//
//
// Writes the JSON manifest (docs/MANIFEST.md) that travels with a kernel's
// PTX/cubin: configuration, launch metadata, declared tables and the
// compiled mask program. The runtime validates every launch against it.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_ARTIFACTS_MANIFEST_H
#define SATTN_ARTIFACTS_MANIFEST_H

#include "sattn/Target/LaunchInfo.h"

#include "mlir/Support/LLVM.h"

#include <string>

namespace sattn {
class KernelOp;

/// The manifest of `kernel` compiled for `chip` (e.g. "sm_90") with the
/// launch metadata `launch`. Fails (with a diagnostic) for masks without a
/// static program.
mlir::FailureOr<std::string> writeManifest(KernelOp kernel,
                                           const target::LaunchInfo &launch,
                                           llvm::StringRef chip);
} // namespace sattn

#endif // SATTN_ARTIFACTS_MANIFEST_H
