//===- LaunchInfo.h - how to launch a generated GPU kernel ----*- C++ -*-===//
//
// Everything a caller needs to launch a kernel of `convert-sattn-to-gpu`
// besides its PTX: the parameter list of docs/KERNEL_ABI.md, the block size,
// the dynamic shared memory and the tile configuration the plan must be
// built with. The lowering records it as attributes on the `gpu.func`
// (names below) at the moment it chooses the configuration, and the PTX
// library reads it back from there, so the two cannot disagree.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TARGET_LAUNCHINFO_H
#define SATTN_TARGET_LAUNCHINFO_H

#include "sattn/Core/KernelAbi.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class Operation;
} // namespace mlir

namespace sattn::target {

/// Attributes of a generated `gpu.func` (integers are i64).
constexpr llvm::StringLiteral kKernelNameAttr = "sattn.kernel"; // string
constexpr llvm::StringLiteral kBlockMAttr = "sattn.block_m";
constexpr llvm::StringLiteral kBlockNAttr = "sattn.block_n";
constexpr llvm::StringLiteral kWarpsAttr = "sattn.warps";
constexpr llvm::StringLiteral kStagesAttr = "sattn.stages";
constexpr llvm::StringLiteral kSharedMemoryAttr = "sattn.dynamic_shared_memory";
/// The kernel family, "mma_sync" or "wgmma" (abi::familyName; string).
constexpr llvm::StringLiteral kKernelFamilyAttr = "sattn.kernel_family";
/// Whether the kernel reads Gather and List plan segments (bool); absent
/// means yes for "mma_sync" and no for "wgmma" kernels.
constexpr llvm::StringLiteral kPlanGathersAttr = "sattn.plan_gathers";
/// Positions of the parameters that are CUtensorMaps passed by value (i64
/// array): they are `!llvm.ptr` in the gpu.func, and
/// sattn-tensor-map-params gives them byval/grid_constant once it is an
/// llvm.func (gpu.func arguments cannot carry those attributes).
constexpr llvm::StringLiteral kTensorMapArgsAttr = "sattn.tensor_map_args";
/// Parameter names, one string per kernel argument (KERNEL_ABI.md).
constexpr llvm::StringLiteral kParamNamesAttr = "sattn.params";
/// On a kernel whose gpu.module also holds the device plan builder
/// (sattn/Conversion/DevicePlan.h): {class_by_batch, class_by_head} (bool).
constexpr llvm::StringLiteral kDevicePlanAttr = "sattn.device_plan";

/// On a kernel whose gpu.module also holds its estimator's stages
/// (sattn/Conversion/Estimators.h): the kernel's `sattn.estimator` record
/// (sattn/Plan/EstimatorSpec.h).
constexpr llvm::StringLiteral kEstimatorAttr = plan::kEstimatorAttrName;

/// On a kernel whose gpu.module also holds its backward kernel
/// (convert-sattn-to-gpu{backward}): {entry, warps, stages, shared_bytes}.
constexpr llvm::StringLiteral kBackwardAttr = "sattn.backward";

/// Entry name of the backward kernel of the kernel entry `entry`.
inline std::string backwardEntryName(llvm::StringRef entry) {
  return entry.str() + "_bwd";
}

/// Entry name of an estimator stage of the kernel entry `entry`.
inline std::string estimatorEntryName(llvm::StringRef entry, llvm::StringRef stage) {
  return entry.str() + "_estimate_" + stage.str();
}

/// Entry name of a device plan stage of the kernel entry `entry`.
inline std::string devicePlanEntryName(llvm::StringRef entry,
                                       llvm::StringRef stage) {
  return entry.str() + "_plan_" + stage.str();
}

/// Entry-point name of the kernel for `sattn.kernel @name` (also the name
/// of the gpu.module, and later the gpu.binary, that holds it).
inline std::string gpuEntryName(llvm::StringRef kernelName) {
  return "sattn_" + kernelName.str();
}

struct KernelParam {
  enum class Kind { Pointer, Int64, TensorMap };
  std::string name;
  Kind kind = Kind::Int64;
  /// Pointers: the element type pointed to ("bf16", "f16", "f32", "i64").
  std::string elementType;
};

struct LaunchInfo {
  std::string kernelName; // the sattn.kernel symbol
  std::string entryName;  // the PTX .entry
  abi::KernelFamily family = abi::KernelFamily::MmaSync;
  /// Its plans may hold Gather and List segments ("plan_gathers").
  bool planGathers = true;
  int64_t blockM = 0, blockN = 0, warps = 0, stages = 0;
  /// Threads per block (x only): 32 * warps.
  int64_t threadsPerBlock = 0;
  /// Dynamic shared memory per block, bytes. Above 48 KiB the caller must
  /// raise CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first.
  int64_t dynamicSharedMemoryBytes = 0;
  std::vector<KernelParam> params;
  /// Whether the module holds the device plan builder, and the (batch,
  /// head) axes its plan classes distinguish.
  bool devicePlan = false, planClassByBatch = false, planClassByHead = false;
  /// Keys per query tile's column list in device plans (0: none).
  int64_t planListKeys = 0;
  /// U of a column term indexed by the query unit q / U (0: none).
  int64_t planListUnitRows = 0;
  /// The compiled estimator's record, when the module holds one.
  std::optional<plan::EstimatorSpec> estimator;
  /// The backward kernel, when the module holds one: it reads the same
  /// plan (block_m, block_n) with its own block and shared memory.
  struct Backward {
    std::string entryName;
    int64_t warps = 0, stages = 0, dynamicSharedMemoryBytes = 0;
  };
  std::optional<Backward> backward;

  /// The grid is (numQueryTiles, heads, batch) with
  /// numQueryTiles = ceil(lq / blockM), as KERNEL_ABI.md says.
  int64_t numQueryTiles(int64_t lq) const { return (lq + blockM - 1) / blockM; }
  static constexpr const char *kGridFormula =
      "(ceil(lq / block_m), heads, batch)";
};

/// Reads the launch information recorded on a generated `gpu.func`.
/// Reports (and fails on) missing attributes.
mlir::FailureOr<LaunchInfo> readLaunchInfo(mlir::Operation *gpuFunc);

} // namespace sattn::target

#endif // SATTN_TARGET_LAUNCHINFO_H
