//===- TensorMaps.cpp - TMA tensor maps of the sm_90a kernels -------------===//
//
// The sattn_tensor of Q, K or V is (B, H_t, L, D) with strides in elements;
// its map is {D, L, H_t, B}, innermost first, with byte strides, read in
// boxes of {64 columns, block rows, 1, 1} (docs/KERNEL_ABI.md). The driver
// answers a bad map with a bare CUDA_ERROR_INVALID_VALUE, so every rule of
// cuTensorMapEncodeTiled that a launch can break is checked here first and
// reported with the tensor, the dimension and the value. No driver call.
//
//===----------------------------------------------------------------------===//

#include "TensorMaps.h"

#include "CudaDriver.h"
#include "sattn/Core/KernelAbi.h"

#include <algorithm>
#include <cstdio>

namespace sattn::rt {

namespace {

const char *const kDimNames[4] = {"batch", "heads", "L", "head_dim"};
/// What one step along a dimension is, for messages.
const char *const kDimSteps[4] = {"batch", "head", "row", "column"};

std::string str(uint64_t v) { return std::to_string(v); }

} // namespace

sattn_status tensorMapGeometry(const char *name, const sattn_tensor &t,
                               int64_t boxRows, TensorMapGeometry &out,
                               std::string &message) {
  const std::string tensor(name);
  auto fail = [&](sattn_status status, const std::string &text) {
    message = text + " (the TMA tensor map of a \"wgmma\" kernel)";
    return status;
  };
  auto dim = [&](int d) {
    return tensor + " dimension " + std::to_string(d) + " (" + kDimNames[d] + ")";
  };

  TensorMapGeometry g;
  const int32_t dtype = dtypeCode(t);
  if (dtype == SATTN_DTYPE_BF16)
    g.dataType = cuda::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  else if (dtype == SATTN_DTYPE_F16)
    g.dataType = cuda::CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  else
    return fail(SATTN_ERROR_DTYPE,
                tensor + " has dtype " +
                    (dtype == SATTN_DTYPE_F32   ? std::string("f32")
                     : dtype == SATTN_DTYPE_I64 ? std::string("i64")
                                                : "code " + std::to_string(dtype)) +
                    ", expected bf16 or f16");
  const uint64_t elementBytes = 2;
  if (t.rank != 4)
    return fail(SATTN_ERROR_SHAPE, tensor + " has rank " + std::to_string(t.rank) +
                                       ", expected 4 (batch, heads, L, head_dim)");
  if (boxRows < 1 || boxRows > 256)
    return fail(SATTN_ERROR_INVALID_ARGUMENT,
                "boxes of " + std::to_string(boxRows) + " rows for " + tensor +
                    "; a TMA box has 1 to 256 rows");
  g.address = t.data;
  if (reinterpret_cast<uintptr_t>(t.data) % 16 != 0) {
    char pointer[32];
    std::snprintf(pointer, sizeof pointer, "%p", t.data);
    return fail(SATTN_ERROR_ALIGNMENT,
                tensor + " data pointer " + pointer + " is not 16-byte aligned");
  }
  for (int d = 0; d < 4; ++d) {
    if (t.shape[d] < 1 || static_cast<uint64_t>(t.shape[d]) > kTensorMapDimLimit)
      return fail(SATTN_ERROR_SHAPE, dim(d) + " is " + std::to_string(t.shape[d]) +
                                         "; a tensor map's dimensions are 1 to 2^32");
    if (t.strides[d] < 0)
      return fail(SATTN_ERROR_STRIDE, dim(d) + " has a negative stride (" +
                                          std::to_string(t.strides[d]) + ")");
    // Map dimension i is tensor dimension 3 - i.
    g.dims[3 - d] = static_cast<uint64_t>(t.shape[d]);
  }
  if (t.shape[3] > 1 && t.strides[3] != 1)
    return fail(SATTN_ERROR_STRIDE, dim(3) + " has stride " + std::to_string(t.strides[3]) +
                                        ", expected 1 (rows must be contiguous)");

  // `span`: the bytes the dimensions inside the current one cover. An
  // extent of 1 is never stepped over, so its stride only has to satisfy
  // the driver; the span is a valid one whatever the caller's stride was.
  uint64_t span = g.dims[0] * elementBytes;
  for (int i = 1; i < 4; ++i) {
    const int d = 3 - i;
    const uint64_t extent = g.dims[i];
    const uint64_t stride = static_cast<uint64_t>(t.strides[d]);
    uint64_t bytes;
    if (extent == 1) {
      bytes = (span + 15) / 16 * 16;
      if (bytes >= kTensorMapStrideLimit)
        return fail(SATTN_ERROR_STRIDE,
                    dim(d) + " has extent 1, but the dimensions inside it span " +
                        str(span) + " bytes, and a tensor map's strides stay below 2^40");
    } else {
      if (stride == 0)
        return fail(SATTN_ERROR_STRIDE,
                    dim(d) + " has stride 0 with extent " + str(extent) +
                        "; TMA cannot broadcast, pass a tensor that holds every " +
                        kDimSteps[d] + " (e.g. expand(...).contiguous())");
      if (stride >= kTensorMapStrideLimit / elementBytes)
        return fail(SATTN_ERROR_STRIDE,
                    dim(d) + " has stride " + str(stride) + " elements = " +
                        str(stride * elementBytes) +
                        " bytes; a tensor map's strides stay below 2^40 bytes");
      bytes = stride * elementBytes;
      if (bytes % 16 != 0)
        return fail(SATTN_ERROR_ALIGNMENT,
                    dim(d) + " has stride " + str(stride) + " elements = " + str(bytes) +
                        " bytes, not a multiple of 16");
    }
    g.strides[i - 1] = bytes;
    // bytes < 2^40 and extent <= 2^32: saturate instead of wrapping.
    uint64_t covered;
    if (__builtin_mul_overflow(bytes, extent, &covered))
      covered = UINT64_MAX;
    span = std::max(span, covered);
  }

  g.box[0] = static_cast<uint32_t>(abi::kTensorMapBoxColumns);
  g.box[1] = static_cast<uint32_t>(boxRows);
  g.box[2] = g.box[3] = 1;
  for (uint32_t &s : g.elementStrides)
    s = 1;
  out = g;
  return SATTN_OK;
}

sattn_status launchTensorMaps(const Manifest &manifest, const LaunchArgs &args,
                              TensorMapGeometry (&out)[3], std::string &message) {
  const struct {
    const char *name;
    const sattn_tensor *tensor;
    int64_t rows;
  } maps[3] = {{"q", args.q, manifest.blockM},
               {"k", args.k, manifest.blockN},
               {"v", args.v, manifest.blockN}};
  for (int i = 0; i < 3; ++i) {
    if (!maps[i].tensor) {
      message = std::string(maps[i].name) + " is NULL (a tensor descriptor is required)";
      return SATTN_ERROR_NULL_POINTER;
    }
    sattn_status status =
        tensorMapGeometry(maps[i].name, *maps[i].tensor, maps[i].rows, out[i], message);
    if (status != SATTN_OK)
      return status;
  }
  return SATTN_OK;
}

} // namespace sattn::rt
