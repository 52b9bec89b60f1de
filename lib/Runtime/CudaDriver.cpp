//===- CudaDriver.cpp - the CUDA driver API, opened with dlopen -----------===//
//
// Opening happens once, in a function-local static (thread-safe since
// C++11), and the handle is never closed: modules loaded through it live as
// long as their kernels, which may be as long as the process. A missing
// library or symbol is SATTN_ERROR_NO_DRIVER; a driver present but with no
// usable device (cuInit failing with NO_DEVICE, say) is SATTN_ERROR_NO_DEVICE.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>

namespace sattn::rt::cuda {

std::string Driver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(result, &name);
  cuGetErrorString(result, &text);
  std::string out = name ? name : "CUDA error " + std::to_string(result);
  if (text)
    out += std::string(" (") + text + ")";
  return out;
}

namespace {

struct Loaded {
  Driver driver{};
  sattn_status status = SATTN_OK;
  std::string message;
};

template <typename Fn> bool resolve(void *handle, const char *name, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  return fn != nullptr;
}

Loaded open() {
  Loaded out;
  const char *override = std::getenv("SATTN_LIBCUDA");
  const char *path = override && *override ? override : "libcuda.so.1";
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    out.status = SATTN_ERROR_NO_DRIVER;
    out.message = std::string("the CUDA driver (") + path +
                  ") could not be opened: " + (why ? why : "unknown error") +
                  "; is an NVIDIA driver installed?";
    return out;
  }
  Driver &d = out.driver;
  const char *missing = nullptr;
#define SATTN_RESOLVE(fn)                                                      \
  if (!missing && !resolve(handle, #fn, d.fn))                                 \
    missing = #fn;
  SATTN_RESOLVE(cuInit)
  SATTN_RESOLVE(cuDeviceGet)
  SATTN_RESOLVE(cuCtxGetCurrent)
  SATTN_RESOLVE(cuCtxSetCurrent)
  SATTN_RESOLVE(cuCtxGetDevice)
  SATTN_RESOLVE(cuDevicePrimaryCtxRetain)
  SATTN_RESOLVE(cuDeviceGetAttribute)
  SATTN_RESOLVE(cuModuleLoadDataEx)
  SATTN_RESOLVE(cuModuleGetFunction)
  SATTN_RESOLVE(cuModuleUnload)
  SATTN_RESOLVE(cuFuncSetAttribute)
  SATTN_RESOLVE(cuLaunchKernel)
  SATTN_RESOLVE(cuGetErrorString)
#undef SATTN_RESOLVE
  if (missing) {
    out.status = SATTN_ERROR_NO_DRIVER;
    out.message = std::string("the CUDA driver (") + path + ") has no entry point " +
                  missing + "; it is too old or not the CUDA driver";
    return out;
  }
  resolve(handle, "cuGetErrorName", d.cuGetErrorName);
  resolve(handle, "cuPointerGetAttribute", d.cuPointerGetAttribute);
  resolve(handle, "cuMemAlloc_v2", d.cuMemAlloc_v2);
  resolve(handle, "cuMemsetD32Async", d.cuMemsetD32Async);
  resolve(handle, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD_v2);
  resolve(handle, "cuMemFree_v2", d.cuMemFree_v2);
  resolve(handle, "cuTensorMapEncodeTiled", d.cuTensorMapEncodeTiled);

  CUresult result = d.cuInit(0);
  if (result != CUDA_SUCCESS) {
    // The toolkit's stub libcuda, or a kernel module that does not match
    // the user-space driver, mean no usable driver rather than no device.
    bool noDriver = result == CUDA_ERROR_STUB_LIBRARY ||
                    result == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH ||
                    result == CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE;
    out.status = noDriver ? SATTN_ERROR_NO_DRIVER : SATTN_ERROR_NO_DEVICE;
    out.message = std::string("cuInit failed: ") + d.describe(result);
  }
  return out;
}

} // namespace

const Driver *driver(sattn_status &status, std::string &message) {
  // Never destroyed: kernels released by other static destructors at exit
  // still unload their modules through it.
  static const Loaded *loaded = new Loaded(open());
  if (loaded->status != SATTN_OK) {
    status = loaded->status;
    message = loaded->message;
    return nullptr;
  }
  status = SATTN_OK;
  return &loaded->driver;
}

sattn_status driverFailure(const Driver &d, CUresult result, sattn_status status,
                           const std::string &what, std::string &message) {
  if (result == CUDA_ERROR_OUT_OF_MEMORY)
    status = SATTN_ERROR_OUT_OF_MEMORY;
  message = what + ": " + d.describe(result);
  return status;
}

/// The calling thread's current context; without one, device 0's primary
/// context is retained and made current, as the CUDA runtime would.
sattn_status currentContext(const Driver &d, CUcontext &context,
                            std::string &message) {
  context = nullptr;
  CUresult r = d.cuCtxGetCurrent(&context);
  if (r != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE, "cuCtxGetCurrent failed", message);
  if (context)
    return SATTN_OK;
  CUdevice device;
  r = d.cuDeviceGet(&device, 0);
  if (r != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE,
                         "no current CUDA context and no device 0", message);
  r = d.cuDevicePrimaryCtxRetain(&context, device);
  if (r != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE,
                         "cannot retain the primary context of device 0", message);
  r = d.cuCtxSetCurrent(context);
  if (r != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE,
                         "cannot make device 0's primary context current", message);
  return SATTN_OK;
}

} // namespace sattn::rt::cuda
