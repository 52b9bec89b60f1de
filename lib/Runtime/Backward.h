//===- Backward.h - the backward kernel's manifest record -------*- C++ -*-===//
//
// Kernels compiled with `sattn-compile --backward` carry a second entry,
// `<entry>_bwd`, computing dQ, dK and dV over the forward's tile plan
// (docs/KERNEL_ABI.md, "Backward kernel"). Its manifest record is read
// here; its validation is in Validate.cpp and its launch in Backward.cpp
// (sattn_kernel::launchBackward).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_BACKWARD_H
#define SATTN_LIB_RUNTIME_BACKWARD_H

#include "Manifest.h"
#include "sattn/Core/Json.h"

#include <string>

namespace sattn::rt {

/// "backward" (optional): the backward entry, its launch configuration and
/// its parameter names, which must be abi::backwardParamNames of the
/// kernel's tables. A kernel with a backward pass must return LSE (the
/// backward reads it). False with `error` for a malformed record.
bool readBackward(const json::Value &root, Manifest &m, std::string &error);

/// "kernel 'NAME' was compiled without a backward pass (...)".
std::string noBackwardMessage(const Manifest &m);

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_BACKWARD_H
