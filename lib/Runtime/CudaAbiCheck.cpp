//===- CudaAbiCheck.cpp - CudaDriver.h against the real cuda.h ------------===//
//
// CudaDriver.h declares the driver's types and constants itself so that the
// runtime builds without a CUDA toolkit. Where cuda.h is available this file
// is compiled too and fails the build if any declared value or signature
// drifted from the driver's. It defines nothing.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include <cuda.h>

namespace rt = sattn::rt::cuda;

#define SATTN_SAME_VALUE(name)                                                 \
  static_assert(static_cast<int>(rt::name) == static_cast<int>(::name), #name);
SATTN_SAME_VALUE(CUDA_SUCCESS)
SATTN_SAME_VALUE(CUDA_ERROR_INVALID_VALUE)
SATTN_SAME_VALUE(CUDA_ERROR_OUT_OF_MEMORY)
SATTN_SAME_VALUE(CUDA_ERROR_STUB_LIBRARY)
SATTN_SAME_VALUE(CUDA_ERROR_NO_DEVICE)
SATTN_SAME_VALUE(CUDA_ERROR_INVALID_DEVICE)
SATTN_SAME_VALUE(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)
SATTN_SAME_VALUE(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE)
SATTN_SAME_VALUE(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
SATTN_SAME_VALUE(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
SATTN_SAME_VALUE(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
SATTN_SAME_VALUE(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
SATTN_SAME_VALUE(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
SATTN_SAME_VALUE(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
SATTN_SAME_VALUE(CU_JIT_ERROR_LOG_BUFFER)
SATTN_SAME_VALUE(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
SATTN_SAME_VALUE(CU_TENSOR_MAP_DATA_TYPE_FLOAT16)
SATTN_SAME_VALUE(CU_TENSOR_MAP_DATA_TYPE_BFLOAT16)
SATTN_SAME_VALUE(CU_TENSOR_MAP_INTERLEAVE_NONE)
SATTN_SAME_VALUE(CU_TENSOR_MAP_SWIZZLE_128B)
SATTN_SAME_VALUE(CU_TENSOR_MAP_L2_PROMOTION_L2_256B)
SATTN_SAME_VALUE(CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE)
static_assert(rt::kTensorMapQwords == CU_TENSOR_MAP_NUM_QWORDS);
static_assert(sizeof(rt::CUresult) == sizeof(::CUresult));
static_assert(sizeof(rt::CUdevice) == sizeof(::CUdevice));
static_assert(sizeof(rt::CUdeviceptr) == sizeof(::CUdeviceptr));

// The entry points are resolved by their unversioned names; cuda.h must not
// map any of them to a _v2 symbol, or dlsym would return an older ABI.
#define SATTN_STR(x) #x
#define SATTN_EXPANDED(x) SATTN_STR(x)
constexpr bool sameName(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}
#define SATTN_SAME_NAME(fn)                                                    \
  static_assert(sameName(#fn, SATTN_EXPANDED(fn)), #fn " is renamed by cuda.h");
SATTN_SAME_NAME(cuInit)
SATTN_SAME_NAME(cuDeviceGet)
SATTN_SAME_NAME(cuCtxGetCurrent)
SATTN_SAME_NAME(cuCtxSetCurrent)
SATTN_SAME_NAME(cuCtxGetDevice)
SATTN_SAME_NAME(cuDevicePrimaryCtxRetain)
SATTN_SAME_NAME(cuDeviceGetAttribute)
SATTN_SAME_NAME(cuModuleLoadDataEx)
SATTN_SAME_NAME(cuModuleGetFunction)
SATTN_SAME_NAME(cuModuleUnload)
SATTN_SAME_NAME(cuFuncSetAttribute)
SATTN_SAME_NAME(cuGetErrorString)
SATTN_SAME_NAME(cuGetErrorName)
SATTN_SAME_NAME(cuPointerGetAttribute)
SATTN_SAME_NAME(cuLaunchKernel)
SATTN_SAME_NAME(cuTensorMapEncodeTiled)

// Plan uploads resolve the _v2 symbols by name: cuda.h must map the
// unversioned names to exactly those (the current ABI), and the declared
// pointer types must have the driver's parameter count and sizes.
SATTN_SAME_NAME(cuMemAlloc_v2)
static_assert(sameName("cuMemAlloc_v2", SATTN_EXPANDED(cuMemAlloc)));
static_assert(sameName("cuMemcpyHtoD_v2", SATTN_EXPANDED(cuMemcpyHtoD)));
static_assert(sameName("cuMemFree_v2", SATTN_EXPANDED(cuMemFree)));
template <typename R1, typename... A1, typename R2, typename... A2>
constexpr bool sameShape(R1 (*)(A1...), R2 (*)(A2...)) {
  return sizeof(R1) == sizeof(R2) && sizeof...(A1) == sizeof...(A2) &&
         ((sizeof(A1) == sizeof(A2)) && ...);
}
#define SATTN_SAME_SHAPE(fn)                                                   \
  static_assert(sameShape(decltype(rt::Driver::fn)(nullptr), &::fn),          \
                #fn " differs from cuda.h");
SATTN_SAME_SHAPE(cuMemAlloc_v2)
SATTN_SAME_SHAPE(cuMemcpyHtoD_v2)
SATTN_SAME_SHAPE(cuMemFree_v2)

// Tensor maps: the declared pointer type has the driver's parameters, the
// map its size (the kernel parameter's 128 bytes), and the alignment at
// least the 64 bytes cuTensorMapEncodeTiled requires.
SATTN_SAME_SHAPE(cuTensorMapEncodeTiled)
static_assert(sizeof(rt::CUtensorMap) == sizeof(::CUtensorMap));
static_assert(alignof(rt::CUtensorMap) >= 64);
