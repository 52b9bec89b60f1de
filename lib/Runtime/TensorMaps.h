//===- TensorMaps.h - TMA tensor maps of the sm_90a kernels -----*- C++ -*-===//
//
// A "wgmma" kernel (docs/KERNEL_ABI.md, "sm_90a kernels") loads Q, K and V
// with TMA and takes one CUtensorMap per tensor after its tables. The
// geometry of each map (dimensions, byte strides, box) and every condition
// under which cuTensorMapEncodeTiled would refuse it are computed here
// without the driver, so that the checks give precise messages, run in
// sattn_validate, and are unit-tested on machines without a GPU; Kernel.cpp
// hands the geometry to the driver.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_TENSORMAPS_H
#define SATTN_LIB_RUNTIME_TENSORMAPS_H

#include "Validate.h"

#include <cstdint>
#include <string>

namespace sattn::rt {

/// cuTensorMapEncodeTiled's arguments for one tensor (a rank-4 map; the
/// interleave, swizzle, L2 promotion and fill modes are the same for all).
struct TensorMapGeometry {
  static constexpr int kRank = 4;
  /// cuda::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 or _FLOAT16.
  int dataType = 0;
  void *address = nullptr;
  /// Innermost first: {D, L, heads of the tensor, batch}.
  uint64_t dims[kRank] = {};
  /// Bytes between consecutive rows, heads and batches (dims 1 to 3).
  uint64_t strides[kRank - 1] = {};
  /// {kTensorMapBoxColumns, block rows, 1, 1}.
  uint32_t box[kRank] = {};
  uint32_t elementStrides[kRank] = {};
};

/// Largest byte stride (exclusive) and extent (inclusive) a map takes.
constexpr uint64_t kTensorMapStrideLimit = uint64_t(1) << 40;
constexpr uint64_t kTensorMapDimLimit = uint64_t(1) << 32;

/// The map of `t`, a (B, H_t, L, D) bf16 or f16 tensor (strides in
/// elements), read in boxes of `boxRows` rows; `name` ("q", "k", "v") names
/// it in messages. Fails, leaving `out` unchanged, on a data pointer
/// that is not 16-byte aligned or a byte stride that is not a multiple of
/// 16 (SATTN_ERROR_ALIGNMENT), a zero stride along an extent > 1 (TMA
/// cannot broadcast), a stride of 2^40 bytes or more or a non-contiguous
/// last dimension (SATTN_ERROR_STRIDE), a dimension outside [1, 2^32] or a
/// rank other than 4 (SATTN_ERROR_SHAPE), or another dtype
/// (SATTN_ERROR_DTYPE). Strides of extents of 1 are never used to address
/// memory, so any value is accepted there and replaced by a valid one.
sattn_status tensorMapGeometry(const char *name, const sattn_tensor &t,
                               int64_t boxRows, TensorMapGeometry &out,
                               std::string &message);

/// The maps of Q (boxes of block_m rows), K and V (block_n rows) of a
/// launch of a "wgmma" kernel, in parameter order.
sattn_status launchTensorMaps(const Manifest &manifest, const LaunchArgs &args,
                              TensorMapGeometry (&out)[3], std::string &message);

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_TENSORMAPS_H
