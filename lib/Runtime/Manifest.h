//===- Manifest.h - the kernel manifest sattn-compile writes ----*- C++ -*-===//
//
// The manifest (docs/MANIFEST.md) is the runtime's only source of truth
// about a compiled kernel: its dtype and shapes, its launch configuration
// and its runtime tables. It is checked completely when a kernel is loaded,
// so that a launch never has to second-guess it.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_MANIFEST_H
#define SATTN_LIB_RUNTIME_MANIFEST_H

#include "sattn/Core/KernelAbi.h"
#include "sattn/Core/Planner.h"
#include "sattn/runtime.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sattn::rt {

constexpr const char *kManifestFormat = "sattn.kernel-manifest/1";

/// One dimension of a runtime table, as the spec declared it.
struct TableDim {
  enum Kind { Batch, Heads, Keys, KeyBlocks, Fixed };
  Kind kind = Fixed;
  /// Block size for KeyBlocks (ceil(Lk / value)) and Heads (ceil(heads /
  /// value): a GQA group's heads per entry), extent for Fixed.
  int64_t value = 0;
  /// The spelling in the manifest, for messages.
  std::string text;

  int64_t extent(int64_t batch, int64_t heads, int64_t lk) const;
};

struct TableSpec {
  std::string name;
  /// Declared element type of the values ("i1", "i32", ...); the buffers the
  /// kernel reads are int64 whatever this says (docs/KERNEL_ABI.md).
  std::string element;
  std::vector<TableDim> dims;
};

struct Manifest {
  std::string name, entry, target;
  sattn_dtype dtype = SATTN_DTYPE_BF16;
  int64_t headDim = 0, heads = 0, kvHeads = 0;
  double scale = 0;
  bool returnLse = false;
  /// "block_max": the kernel also writes row_max and block_max (the last
  /// two parameters).
  bool blockMax = false;
  int64_t minComputeCapability = 0;
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0, threads = 0;
  int64_t sharedBytes = 0;
  std::vector<TableSpec> tables;
  /// "kernel": which kernel family the image holds; it decides the
  /// parameter list (a "wgmma" kernel takes Q/K/V tensor maps after its
  /// tables) and the launch's packing.
  abi::KernelFamily family = abi::KernelFamily::MmaSync;
  /// "plan_gathers": whether the kernel reads Gather and List segments; the
  /// planner is built with it (false: Range segments only).
  bool planGathers = true;
  /// The tile planner of the embedded mask program (built at load, with
  /// block_m/block_n), or null: then `planError` says why plans cannot be
  /// built here (no "mask_program", as for dynamic masks, or an invalid one).
  /// Loading succeeds either way; sattn_plan_build reports the error.
  std::shared_ptr<const plan::Planner> planner;
  std::string planError;
  /// "device_plan": the plan builder's stage entries in launch order (empty
  /// when the image holds none), their block size, and whether plan classes
  /// split by batch element and by head (docs/DEVICE_PLANS.md).
  struct DevicePlan {
    std::vector<std::string> entries;
    int64_t threads = 0;
    bool byBatch = false, byHead = false;
    /// "list_keys": keys per query tile's column list (0: Range-only plans).
    int64_t listKeys = 0;
    /// "list_unit_rows": U of a column term read at the query unit q / U
    /// (0: the same columns for every query row).
    int64_t listUnitRows = 0;
  } devicePlan;
  /// "estimator": the compiled estimator's stage entries in launch order
  /// (empty when the kernel has none), their block size, what it selects
  /// and the table it writes (an index into `tables`). A gate's selection
  /// depends on learned weights that the caller passes with every run
  /// (sattn_estimator_run_weighted), so `hidden` also says whether a run
  /// needs them.
  struct Estimator {
    std::vector<std::string> entries;
    int64_t threads = 0;
    std::string kind, scorer;
    int64_t block = 0, topK = 0, stride = 0;
    double tau = 0;
    int64_t vertical = 0, slash = 0, forcedVertical = 0, forcedSlash = 0;
    int64_t lastQ = 0; // > 0: vertical_slash
    int64_t group = 0, step = 0; // > 0: stripe
    double theta = 0;
    int64_t hidden = 0; // > 0: gate
    double threshold = 0, topRatio = 0, ropeBase = 0;
    // > 0: nsa (block is the selection block).
    int64_t compressBlock = 0, compressStride = 0, selectCount = 0, localBlocks = 0, window = 0;
    size_t table = 0;
    /// "logits": "tensor" (the logits of query rows on tensor cores; the
    /// antidiagonal pool's tiles depend on it) or "exact"/absent.
    bool tensorLogits = false;
    /// Whether a run reads the f32 weights (heads, 4 head_dim, hidden).
    bool takesWeights() const { return hidden > 0; }
  } estimator;
  /// "backward": the backward kernel in the same image (docs/KERNEL_ABI.md,
  /// "Backward kernel"), or an empty entry when the kernel has none. It runs
  /// over the forward's plans (same block_m / block_n) with its own launch
  /// configuration.
  struct Backward {
    std::string entry;
    int64_t threads = 0, warps = 0, stages = 0, sharedBytes = 0;
  } backward;
  bool hasBackward() const { return !backward.entry.empty(); }

  /// The estimator's sizes for a call with this batch and key length.
  abi::EstimatorShape estimatorShape(int64_t batch, int64_t lk) const {
    abi::EstimatorShape shape{batch, heads, kvHeads, headDim, lk, estimator.block,
                              estimator.stride};
    shape.lastQ = estimator.lastQ;
    shape.topK = estimator.lastQ > 0 || estimator.hidden > 0 || estimator.compressBlock > 0
                     ? 0
                     : estimator.topK;
    shape.group = estimator.group;
    shape.step = estimator.step;
    shape.hidden = estimator.hidden;
    shape.topRatio = estimator.topRatio;
    shape.compressBlock = estimator.compressBlock;
    shape.compressStride = estimator.compressStride;
    shape.tensorLogits = estimator.tensorLogits;
    shape.selectCount = estimator.selectCount;
    shape.localBlocks = estimator.localBlocks;
    return shape;
  }
};

/// Parses and checks `text`. On failure returns false with `error` naming
/// the problem (and the byte offset for syntax errors and bad values).
bool parseManifest(std::string_view text, Manifest &out, std::string &error);

/// The integer a caller stored in an enum field of the C API. Read through
/// memcpy: a C caller may store any int there, and loading a value outside
/// the enumerators as the C++ enum type is undefined behaviour.
template <typename Enum> int32_t enumCode(const Enum &value) {
  static_assert(sizeof(Enum) == sizeof(int32_t), "C enums are int-sized");
  int32_t code;
  std::memcpy(&code, &value, sizeof code);
  return code;
}
inline int32_t dtypeCode(const sattn_tensor &t) { return enumCode(t.dtype); }

/// The one compute capability (10 * major + minor) an arch-specific target
/// ("sm_90a": 90) runs on, or 0 for targets that run on every newer device.
int64_t exactComputeCapability(const std::string &target);

/// Element size in bytes of a runtime dtype code, 0 for an unknown one.
int64_t dtypeSize(int32_t dtype);
const char *dtypeName(int32_t dtype);

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_MANIFEST_H
