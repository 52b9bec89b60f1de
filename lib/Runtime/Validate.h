//===- Validate.h - checks of a launch against its manifest -----*- C++ -*-===//
//
// Everything that can be known about a launch without touching the GPU is
// checked here, before the driver is involved: a kernel launched with a
// wrong shape or stride reads or writes out of bounds, and on a GPU that
// corrupts memory silently or poisons the whole context. Each class of
// mistake has its own status and the message names the tensor, the
// dimension, the expected and the actual value.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_VALIDATE_H
#define SATTN_LIB_RUNTIME_VALIDATE_H

#include "Manifest.h"

#include <string>

namespace sattn::rt {

/// The sizes a valid launch was found to have.
struct LaunchShape {
  int64_t batch = 0, lq = 0, lk = 0;
};

struct LaunchArgs {
  const sattn_tensor *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
  const sattn_tensor *lse = nullptr;
  const sattn_plan *plan = nullptr;
  const sattn_tensor *tables = nullptr;
  int32_t numTables = 0;
  /// A block_max kernel's outputs (NULL for every other kernel).
  const sattn_tensor *rowMax = nullptr, *blockMax = nullptr;
};

/// A call of the backward kernel: the forward's arguments (LSE required),
/// the incoming gradient dO and the three f32 gradients it writes; with
/// `dkvScales` (the deterministic backward) dK and dV are int64 fixed-point
/// sums at the scales of that f32 pair.
struct BackwardArgs {
  LaunchArgs forward;
  const sattn_tensor *dO = nullptr, *dQ = nullptr, *dK = nullptr, *dV = nullptr;
  const sattn_tensor *dkvScales = nullptr;
};

/// Returns SATTN_OK and fills `shape`, or a failure status with `message`.
sattn_status validateLaunch(const Manifest &manifest, const LaunchArgs &args,
                            LaunchShape &shape, std::string &message);

/// A call of the backward kernel (docs/MANIFEST.md, "Launch checks"): the
/// forward's checks, then dO as O, then dQ, dK and dV: f32, the shapes of
/// Q, K and V, contiguous, 16-byte aligned. The manifest must have a
/// "backward" record (the caller says so first, with its own message).
sattn_status validateBackward(const Manifest &manifest, const BackwardArgs &args,
                              LaunchShape &shape, std::string &message);

/// The runtime tables of a call of `shape` (count, dtype, shape, layout),
/// checked as validateLaunch checks them.
sattn_status validateTables(const Manifest &manifest, const sattn_tensor *tables,
                            int32_t numTables, const LaunchShape &shape,
                            std::string &message);

/// Q and K of a call of the kernel's compiled estimator, its learned
/// weights (required exactly when the estimator takes them: gate's f32
/// (heads, 4 head_dim, hidden), contiguous; NULL otherwise) and the table it
/// writes (the kernel's table named by the manifest's "estimator").
sattn_status validateEstimate(const Manifest &manifest, const sattn_tensor *q,
                              const sattn_tensor *k, const sattn_tensor *weights,
                              const sattn_tensor *table, LaunchShape &shape,
                              std::string &message);

/// Alignment the kernel's vectorised loads and stores need for Q/K/V/O data
/// pointers and their batch, head and row strides (in bytes).
constexpr int64_t kTensorAlignment = 16;

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_VALIDATE_H
