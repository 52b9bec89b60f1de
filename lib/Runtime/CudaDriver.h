//===- CudaDriver.h - the CUDA driver API, opened with dlopen ---*- C++ -*-===//
//
// The runtime must load on machines without a GPU, so it never links
// libcuda: the driver is opened with dlopen on first use and the few entry
// points the launch path needs are resolved by name. The handful of driver
// types and constants are declared here (their values are fixed by the
// driver's ABI; CudaAbiCheck.cpp compares them with cuda.h where that header
// exists) so that building the runtime needs no CUDA toolkit either.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_CUDADRIVER_H
#define SATTN_LIB_RUNTIME_CUDADRIVER_H

#include "sattn/runtime.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace sattn::rt::cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUdeviceptr = unsigned long long;

enum : int {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_STUB_LIBRARY = 34,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
  CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
};

enum : int {
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
  CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9,
  CU_JIT_ERROR_LOG_BUFFER = 5,
  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

// cuTensorMapEncodeTiled's enumerators, for the sm_90a kernels' TMA maps.
enum : int {
  CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6,
  CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9,
  CU_TENSOR_MAP_INTERLEAVE_NONE = 0,
  CU_TENSOR_MAP_SWIZZLE_128B = 3,
  CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3,
  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0,
};

/// cuda.h's CU_TENSOR_MAP_NUM_QWORDS (a macro there).
constexpr int kTensorMapQwords = 16;

/// An encoded tensor map (CUtensorMap): 128 opaque bytes, passed to a
/// kernel by value. The driver needs 64-byte alignment to encode one.
struct alignas(64) CUtensorMap {
  uint64_t opaque[kTensorMapQwords];
};

/// Dynamic shared memory a kernel may use without opting in.
constexpr long kDefaultSharedLimit = 48 * 1024;

/// The resolved entry points. Optional ones may be null.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuCtxGetCurrent)(CUcontext *);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxGetDevice)(CUdevice *);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **, void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuGetErrorName)(CUresult, const char **);             // optional
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);     // optional
  // Plan uploads (sattn_plan_upload); optional so that launching works with
  // drivers (or test doubles) that lack them.
  CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);                 // optional
  CUresult (*cuMemcpyHtoD_v2)(CUdeviceptr, const void *, size_t);   // optional
  CUresult (*cuMemFree_v2)(CUdeviceptr);                            // optional
  // Device plans (sattn_device_plan_build) reset their work counter.
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream); // optional
  // Tensor maps of sm_90a kernels (CUDA 12.0 drivers and newer); optional
  // so that mma.sync kernels launch with older drivers.
  CUresult (*cuTensorMapEncodeTiled)(CUtensorMap *, int, uint32_t, void *,
                                     const uint64_t *, const uint64_t *,
                                     const uint32_t *, const uint32_t *, int,
                                     int, int, int); // optional

  /// "CUDA_ERROR_X (text)" for messages.
  std::string describe(CUresult result) const;
};

/// Opens the driver and runs cuInit once per process (thread-safe). Returns
/// the entry points, or null with `status` (NO_DRIVER or NO_DEVICE) and
/// `message`; the outcome is cached, so later calls answer the same.
/// SATTN_LIBCUDA names another library to open instead of libcuda.so.1.
const Driver *driver(sattn_status &status, std::string &message);

/// Sets `message` to "what: CUDA_ERROR_X (text)" and returns `status`
/// (SATTN_ERROR_OUT_OF_MEMORY when the driver ran out of memory).
sattn_status driverFailure(const Driver &d, CUresult result, sattn_status status,
                           const std::string &what, std::string &message);

/// The calling thread's current context; without one, device 0's primary
/// context is retained and made current, as the CUDA runtime would.
sattn_status currentContext(const Driver &d, CUcontext &context,
                            std::string &message);

} // namespace sattn::rt::cuda

#endif // SATTN_LIB_RUNTIME_CUDADRIVER_H
