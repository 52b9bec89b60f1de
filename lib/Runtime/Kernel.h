//===- Kernel.h - a loaded sattn kernel and its launch ----------*- C++ -*-===//
//
// A sattn_kernel is a checked manifest plus the kernel image(s), and a
// per-context cache of driver modules. Loading touches no driver, so a
// program can load and validate kernels on a machine without a GPU; the
// module is loaded in a CUDA context the first time the kernel is launched
// there (one kernel object can serve several devices or contexts).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_KERNEL_H
#define SATTN_LIB_RUNTIME_KERNEL_H

#include "CudaDriver.h"
#include "Manifest.h"
#include "Validate.h"

#include <mutex>
#include <string>
#include <vector>

namespace sattn::rt {

struct Image {
  /// "cubin", "fatbin" or "PTX", for messages.
  const char *kind = "PTX";
  /// The bytes, NUL-terminated for PTX as the driver requires.
  std::string bytes;

  static Image fromBytes(const void *data, size_t size);
};


/// Rejects pointers the driver does not know (host memory, typically) and
/// device memory of another device than the current context's: either
/// would fault inside a kernel and poison the context for every later
/// call. Skipped when the driver lacks cuPointerGetAttribute.
sattn_status checkPointer(const sattn::rt::cuda::Driver &d,
                          sattn::rt::cuda::CUdevice device, const char *name,
                          const void *pointer, std::string &message);

/// A launch's pointer named for messages.
struct NamedPointer {
  const char *name;
  const void *pointer;
};
/// checkPointer on each of `pointers` and on the tables' data (named after
/// `tableNames` of the manifest), on the current context's device; nothing
/// when the context has no device.
sattn_status checkLaunchPointers(const sattn::rt::cuda::Driver &d,
                                 std::initializer_list<NamedPointer> pointers,
                                 const sattn_tensor *tables, int32_t numTables,
                                 const std::vector<TableSpec> &tableNames,
                                 std::string &message);

} // namespace sattn::rt

struct sattn_kernel {
  sattn::rt::Manifest manifest;
  /// Tried in order at the first launch in a context (cubin before PTX).
  std::vector<sattn::rt::Image> images;

  struct Module {
    sattn::rt::cuda::CUcontext context = nullptr;
    sattn::rt::cuda::CUmodule module = nullptr;
    sattn::rt::cuda::CUfunction function = nullptr;
    /// The device plan builder's stages, when the manifest lists them.
    sattn::rt::cuda::CUfunction planStages[sattn::abi::kNumDevicePlanStages] = {};
    /// The compiled estimator's stages, when the manifest lists them.
    sattn::rt::cuda::CUfunction estimatorStages[sattn::abi::kMaxEstimatorStages] = {};
    /// The backward kernel, when the manifest has one and the device can
    /// run it; otherwise null and `backwardRefusal` says why (the forward
    /// still runs on a device without room for the backward).
    sattn::rt::cuda::CUfunction backward = nullptr;
    std::string backwardRefusal;
  };
  mutable std::mutex mutex;
  mutable std::vector<Module> modules;

  ~sattn_kernel();

  /// Validates, then launches on `stream` in the current context.
  sattn_status launch(const sattn::rt::LaunchArgs &args, void *stream,
                      std::string &message) const;

  /// Validates, zeroes dQ, dK and dV on `stream`, then launches the
  /// backward kernel there (Backward.cpp).
  sattn_status launchBackward(const sattn::rt::BackwardArgs &args, void *stream,
                              std::string &message) const;

  /// The driver and the kernel's module in the current context (loaded at
  /// the first use there): what every entry point that launches needs.
  sattn_status currentModule(const sattn::rt::cuda::Driver *&driver, Module &out,
                             std::string &message) const;

  /// The kernel's module in `context` (loaded at the first use there).
  sattn_status module(const sattn::rt::cuda::Driver &d,
                      sattn::rt::cuda::CUcontext context, Module &out,
                      std::string &message) const;

private:
  sattn_status loadModule(const sattn::rt::cuda::Driver &d, Module &out,
                          std::string &message) const;
  /// Resolves the backward entry in a module being loaded and raises its
  /// shared memory limit (Backward.cpp).
  sattn_status prepareBackward(const sattn::rt::cuda::Driver &d, sattn::rt::cuda::CUmodule module,
                               int sharedOptin, int maxThreads, Module &out,
                               std::string &message) const;
  sattn_status encodeTensorMaps(const sattn::rt::cuda::Driver &d,
                                const sattn::rt::LaunchArgs &args,
                                sattn::rt::cuda::CUtensorMap (&maps)[3],
                                std::string &message) const;
};

#endif // SATTN_LIB_RUNTIME_KERNEL_H
