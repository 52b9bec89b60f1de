//===- Kernel.cpp - a loaded sattn kernel and its launch ------------------===//
//
// The launch path: validate, find (or create) a CUDA context, load the
// module in it once (checking the device's compute capability and shared
// memory first, and raising the dynamic shared memory limit when the kernel
// needs more than the default 48 KiB), then marshal the parameters of
// docs/KERNEL_ABI.md in order and call cuLaunchKernel. A "wgmma" kernel
// takes three TMA tensor maps after its tables, encoded here by the driver
// from the geometry of TensorMaps.cpp. Every driver failure becomes a
// status plus a message that names the driver's error.
//
//===----------------------------------------------------------------------===//

#include "Kernel.h"
#include "TensorMaps.h"

#include "sattn/Core/KernelAbi.h"

#include <cstring>

using namespace sattn::rt;
namespace abi = sattn::abi;
using namespace sattn::rt::cuda;

Image Image::fromBytes(const void *data, size_t size) {
  Image image;
  const auto *bytes = static_cast<const unsigned char *>(data);
  image.bytes.assign(static_cast<const char *>(data), size);
  if (size >= 4 && bytes[0] == 0x7F && bytes[1] == 'E' && bytes[2] == 'L' &&
      bytes[3] == 'F') {
    image.kind = "cubin";
  } else if (size >= 4 && bytes[0] == 0x50 && bytes[1] == 0xED &&
             bytes[2] == 0x55 && bytes[3] == 0xBA) {
    image.kind = "fatbin";
  } else {
    image.kind = "PTX";
    if (image.bytes.empty() || image.bytes.back() != '\0')
      image.bytes.push_back('\0');
  }
  return image;
}

sattn_status sattn::rt::checkPointer(const Driver &d, CUdevice device, const char *name,
                          const void *pointer, std::string &message) {
  if (!d.cuPointerGetAttribute || !pointer)
    return SATTN_OK;
  int ordinal = -1;
  CUresult r = d.cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                                       reinterpret_cast<CUdeviceptr>(pointer));
  if (r == CUDA_ERROR_INVALID_VALUE) {
    message = std::string(name) + " data pointer is not memory the CUDA driver "
                                  "knows (a host pointer?); pass device memory";
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  if (r == CUDA_SUCCESS && ordinal >= 0 && ordinal != device) {
    message = std::string(name) + " lives on device " + std::to_string(ordinal) +
              " but the current CUDA context is on device " + std::to_string(device);
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  return SATTN_OK;
}

sattn_status sattn::rt::checkLaunchPointers(const Driver &d,
                                            std::initializer_list<NamedPointer> pointers,
                                            const sattn_tensor *tables, int32_t numTables,
                                            const std::vector<TableSpec> &tableNames,
                                            std::string &message) {
  CUdevice device = 0;
  if (d.cuCtxGetDevice(&device) != CUDA_SUCCESS)
    return SATTN_OK;
  sattn_status status;
  for (const NamedPointer &p : pointers)
    if ((status = checkPointer(d, device, p.name, p.pointer, message)) != SATTN_OK)
      return status;
  for (int32_t i = 0; i < numTables; ++i) {
    std::string name = "table " + std::to_string(i) + " (\"" + tableNames[i].name + "\")";
    if ((status = checkPointer(d, device, name.c_str(), tables[i].data, message)) != SATTN_OK)
      return status;
  }
  return SATTN_OK;
}

namespace {

static_assert(sizeof(CUtensorMap) == abi::kTensorMapBytes &&
                  alignof(CUtensorMap) == abi::kTensorMapAlign,
              "a tensor map parameter is 128 bytes, 64-byte aligned");

} // namespace

/// Encodes the Q, K and V maps of a "wgmma" launch (docs/KERNEL_ABI.md):
/// bf16/f16 elements, 128-byte swizzle, 256-byte L2 promotion, and zeros for
/// rows past the end (a last query or KV tile that is not whole).
sattn_status sattn_kernel::encodeTensorMaps(const Driver &d, const LaunchArgs &a,
                                            CUtensorMap (&maps)[3],
                                            std::string &message) const {
  TensorMapGeometry geometry[3];
  sattn_status status = launchTensorMaps(manifest, a, geometry, message);
  if (status != SATTN_OK)
    return status;
  if (!d.cuTensorMapEncodeTiled) {
    message = "the CUDA driver has no entry point cuTensorMapEncodeTiled, which kernel '" +
              manifest.name + "' (target " + manifest.target +
              ") needs for its TMA tensor maps; it needs a CUDA 12.0 or newer driver";
    return SATTN_ERROR_NO_DRIVER;
  }
  const char *names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    const TensorMapGeometry &g = geometry[i];
    CUresult r = d.cuTensorMapEncodeTiled(
        &maps[i], g.dataType, TensorMapGeometry::kRank, g.address, g.dims, g.strides,
        g.box, g.elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) {
      auto list = [](const auto &values, int n) {
        std::string out;
        for (int j = 0; j < n; ++j)
          out += (j ? ", " : "") + std::to_string(values[j]);
        return "{" + out + "}";
      };
      return driverFailure(
          d, r, SATTN_ERROR_LAUNCH,
          std::string("cuTensorMapEncodeTiled refused the tensor map of ") + names[i] +
              " of kernel '" + manifest.name + "' (dims " + list(g.dims, 4) +
              ", byte strides " + list(g.strides, 3) + ", box " + list(g.box, 4) + ")",
          message);
    }
  }
  return SATTN_OK;
}

sattn_kernel::~sattn_kernel() {
  if (modules.empty())
    return;
  sattn_status status;
  std::string message;
  const Driver *d = driver(status, message);
  if (!d)
    return;
  CUcontext previous = nullptr;
  d->cuCtxGetCurrent(&previous);
  bool switched = false;
  for (const Module &m : modules) {
    // cuModuleUnload acts on the current context. One destroyed before the
    // kernel took its modules with it; skip it.
    if (m.context != previous) {
      if (d->cuCtxSetCurrent(m.context) != CUDA_SUCCESS)
        continue;
      switched = true;
    }
    d->cuModuleUnload(m.module);
  }
  if (switched)
    d->cuCtxSetCurrent(previous);
}

sattn_status sattn_kernel::loadModule(const Driver &d, Module &out,
                                      std::string &message) const {
  CUdevice device;
  CUresult r = d.cuCtxGetDevice(&device);
  if (r != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE, "cuCtxGetDevice failed", message);

  int major = 0, minor = 0, optin = 0, maxThreads = 0;
  if ((r = d.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                  device)) != CUDA_SUCCESS ||
      (r = d.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                  device)) != CUDA_SUCCESS ||
      (r = d.cuDeviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                  device)) != CUDA_SUCCESS ||
      (r = d.cuDeviceGetAttribute(&maxThreads, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                  device)) != CUDA_SUCCESS)
    return driverFailure(d, r, SATTN_ERROR_NO_DEVICE,
                         "cannot query device " + std::to_string(device), message);
  const std::string kernel = "kernel '" + manifest.name + "' (target " + manifest.target + ")";
  const std::string dev = "device " + std::to_string(device);
  // The device must be able to run the kernel at all: compute capability,
  // shared memory and threads per block.
  auto refuse = [&](const std::string &has, const std::string &needs) {
    message = dev + " " + has + " but " + kernel + " needs " + needs;
    return SATTN_ERROR_COMPUTE_CAPABILITY;
  };
  // Arch-specific targets (sm_90a) run on their own architecture only;
  // the others on it and every newer one.
  const std::string capability = "has compute capability " + std::to_string(major) +
                                 "." + std::to_string(minor);
  auto version = [](int64_t cc) {
    return std::to_string(cc / 10) + "." + std::to_string(cc % 10);
  };
  if (int64_t exact = exactComputeCapability(manifest.target)) {
    if (major * 10 + minor != exact)
      return refuse(capability, "exactly " + version(exact) + " (arch-specific target)");
  } else if (major * 10 + minor < manifest.minComputeCapability) {
    return refuse(capability, "at least " + version(manifest.minComputeCapability));
  }
  if (manifest.sharedBytes > optin)
    return refuse("allows " + std::to_string(optin) + " bytes of shared memory per block",
                  std::to_string(manifest.sharedBytes));
  if (manifest.threads > maxThreads)
    return refuse("allows " + std::to_string(maxThreads) + " threads per block",
                  std::to_string(manifest.threads));

  // Cubin first (no JIT cost); PTX as the fallback the driver can JIT for
  // newer devices. The JIT error log is kept for the message.
  std::string failures;
  CUmodule module = nullptr;
  CUresult last = CUDA_SUCCESS;
  for (const Image &image : images) {
    char log[2048] = {0};
    int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[] = {log, reinterpret_cast<void *>(static_cast<uintptr_t>(sizeof log))};
    last = d.cuModuleLoadDataEx(&module, image.bytes.data(), 2, options, values);
    if (last == CUDA_SUCCESS)
      break;
    module = nullptr;
    log[sizeof log - 1] = '\0';
    failures += std::string(failures.empty() ? "" : "; ") + image.kind + ": " +
                d.describe(last) + (log[0] ? std::string(": ") + log : "");
  }
  if (!module) {
    message = "the driver could not load " + kernel + " on " + dev + ": " + failures;
    return last == CUDA_ERROR_OUT_OF_MEMORY ? SATTN_ERROR_OUT_OF_MEMORY
                                            : SATTN_ERROR_MODULE_LOAD;
  }
  CUfunction function = nullptr;
  r = d.cuModuleGetFunction(&function, module, manifest.entry.c_str());
  if (r != CUDA_SUCCESS) {
    d.cuModuleUnload(module);
    return driverFailure(d, r, SATTN_ERROR_MODULE_LOAD,
                         "the image of " + kernel + " has no kernel '" + manifest.entry + "'",
                         message);
  }
  if (manifest.sharedBytes > kDefaultSharedLimit) {
    r = d.cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                             static_cast<int>(manifest.sharedBytes));
    if (r != CUDA_SUCCESS) {
      d.cuModuleUnload(module);
      return driverFailure(d, r, SATTN_ERROR_LAUNCH,
                           "cannot raise the dynamic shared memory of " + kernel + " to " +
                               std::to_string(manifest.sharedBytes) + " bytes",
                           message);
    }
  }
  for (size_t i = 0; i < manifest.devicePlan.entries.size(); ++i) {
    const std::string &entry = manifest.devicePlan.entries[i];
    r = d.cuModuleGetFunction(&out.planStages[i], module, entry.c_str());
    if (r != CUDA_SUCCESS) {
      d.cuModuleUnload(module);
      return driverFailure(d, r, SATTN_ERROR_MODULE_LOAD,
                           "the image of " + kernel + " has no plan builder kernel '" +
                               entry + "' (the manifest's \"device_plan\" lists it)",
                           message);
    }
  }
  for (size_t i = 0; i < manifest.estimator.entries.size(); ++i) {
    const std::string &entry = manifest.estimator.entries[i];
    r = d.cuModuleGetFunction(&out.estimatorStages[i], module, entry.c_str());
    if (r != CUDA_SUCCESS) {
      d.cuModuleUnload(module);
      return driverFailure(d, r, SATTN_ERROR_MODULE_LOAD,
                           "the image of " + kernel + " has no estimator kernel '" + entry +
                               "' (the manifest's \"estimator\" lists it)",
                           message);
    }
  }
  sattn_status status;
  if (manifest.hasBackward() &&
      (status = prepareBackward(d, module, optin, maxThreads, out, message)) != SATTN_OK) {
    d.cuModuleUnload(module);
    return status;
  }
  out.module = module;
  out.function = function;
  return SATTN_OK;
}

sattn_status sattn_kernel::module(const Driver &d, CUcontext context, Module &out,
                                  std::string &message) const {
  std::lock_guard<std::mutex> lock(mutex);
  for (const Module &m : modules)
    if (m.context == context) {
      out = m;
      return SATTN_OK;
    }
  Module m;
  m.context = context;
  sattn_status status = loadModule(d, m, message);
  if (status != SATTN_OK)
    return status;
  modules.push_back(m);
  out = m;
  return SATTN_OK;
}

sattn_status sattn_kernel::currentModule(const Driver *&d, Module &out,
                                         std::string &message) const {
  sattn_status status = SATTN_OK;
  d = driver(status, message);
  if (!d)
    return status;
  CUcontext context;
  if ((status = currentContext(*d, context, message)) != SATTN_OK)
    return status;
  return module(*d, context, out, message);
}

sattn_status sattn_kernel::launch(const LaunchArgs &a, void *stream,
                                  std::string &message) const {
  LaunchShape shape;
  sattn_status status = validateLaunch(manifest, a, shape, message);
  if (status != SATTN_OK)
    return status;
  // An empty problem has nothing to compute; a zero-sized grid is a driver
  // error, so it is not launched.
  if (shape.batch == 0 || shape.lq == 0)
    return SATTN_OK;

  const Driver *d = nullptr;
  Module loaded;
  if ((status = currentModule(d, loaded, message)) != SATTN_OK)
    return status;
  CUfunction fn = loaded.function;

  if ((status = checkLaunchPointers(*d,
                                    {{"q", a.q->data},
                                     {"k", a.k->data},
                                     {"v", a.v->data},
                                     {"o", a.o->data},
                                     {"lse", a.lse ? a.lse->data : nullptr},
                                     {"row_max", a.rowMax ? a.rowMax->data : nullptr},
                                     {"block_max", a.blockMax ? a.blockMax->data : nullptr},
                                     {"plan.segments", a.plan->segments},
                                     {"plan.offsets", a.plan->offsets},
                                     {"plan.class_index", a.plan->class_index}},
                                    a.tables, a.numTables, manifest.tables, message)) !=
      SATTN_OK)
    return status;

  // Every parameter but the tensor maps is 8 bytes (a device pointer or an
  // int64), so they are staged in one array of 64-bit slots, in the order
  // of the ABI table; the maps follow the tables.
  auto slot = [&](abi::ParamId id) -> uint64_t {
    auto pointer = [](const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); };
    auto stride = [](const sattn_tensor *t, int dim) {
      return t ? static_cast<uint64_t>(t->strides[dim]) : uint64_t(0);
    };
    switch (id) {
    case abi::Q: return pointer(a.q->data);
    case abi::K: return pointer(a.k->data);
    case abi::V: return pointer(a.v->data);
    case abi::O: return pointer(a.o->data);
    case abi::Lse: return pointer(a.lse ? a.lse->data : nullptr);
    case abi::QStrideBatch: case abi::QStrideHead: case abi::QStrideRow:
      return stride(a.q, id - abi::QStrideBatch);
    case abi::KStrideBatch: case abi::KStrideHead: case abi::KStrideRow:
      return stride(a.k, id - abi::KStrideBatch);
    case abi::VStrideBatch: case abi::VStrideHead: case abi::VStrideRow:
      return stride(a.v, id - abi::VStrideBatch);
    case abi::OStrideBatch: case abi::OStrideHead: case abi::OStrideRow:
      return stride(a.o, id - abi::OStrideBatch);
    case abi::LseStrideBatch: case abi::LseStrideHead:
      return stride(a.lse, id - abi::LseStrideBatch);
    case abi::Lq: return static_cast<uint64_t>(shape.lq);
    case abi::Lk: return static_cast<uint64_t>(shape.lk);
    case abi::Segments: return pointer(a.plan->segments);
    case abi::Offsets: return pointer(a.plan->offsets);
    case abi::ClassIndex: return pointer(a.plan->class_index);
    case abi::NumQueryTiles: return static_cast<uint64_t>(a.plan->num_query_tiles);
    case abi::kNumFixedParams: break;
    }
    return 0;
  };
  std::vector<uint64_t> slots;
  slots.reserve(abi::paramCount(a.numTables, manifest.family, manifest.blockMax));
  for (const abi::Param &param : abi::kFixedParams)
    slots.push_back(slot(param.id));
  for (int32_t i = 0; i < a.numTables; ++i)
    slots.push_back(reinterpret_cast<uintptr_t>(a.tables[i].data));
  // A block_max kernel's outputs follow the tables (it has no tensor maps).
  if (manifest.blockMax)
    for (const sattn_tensor *output : {a.rowMax, a.blockMax})
      slots.push_back(reinterpret_cast<uintptr_t>(output->data));
  std::vector<void *> params(slots.size());
  for (size_t i = 0; i < slots.size(); ++i)
    params[i] = &slots[i];
  // The maps are passed by value: the driver copies the 128 bytes each
  // pointer addresses when the launch is enqueued, so they live here until
  // cuLaunchKernel returns.
  CUtensorMap maps[abi::kNumTensorMaps];
  if (manifest.family == abi::KernelFamily::Wgmma) {
    if ((status = encodeTensorMaps(*d, a, maps, message)) != SATTN_OK)
      return status;
    for (CUtensorMap &map : maps)
      params.push_back(&map);
  }

  CUresult r = d->cuLaunchKernel(
      fn, static_cast<unsigned>(a.plan->num_query_tiles),
      static_cast<unsigned>(manifest.heads), static_cast<unsigned>(shape.batch),
      static_cast<unsigned>(manifest.threads), 1, 1,
      static_cast<unsigned>(manifest.sharedBytes), static_cast<CUstream>(stream),
      params.data(), nullptr);
  if (r != CUDA_SUCCESS)
    return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                         "cuLaunchKernel of kernel '" + manifest.name + "' failed", message);
  return SATTN_OK;
}
