//===- Backward.cpp - the backward kernel: module entry and launch --------===//
//
// A kernel compiled with `sattn-compile --backward` has a second entry in
// its image, `<entry>_bwd`, that computes dQ, dK and dV over the forward's
// own plan (its manifest record is read in BackwardManifest.cpp). This file
// resolves the entry when the module is loaded (a device without room for
// it still runs the forward; only the backward launch is refused), and
// launches it: validate, zero the gradients on the stream
// (dK and dV are accumulated with atomics, float32 or, in the deterministic
// form, int64 fixed point; dQ is zeroed too, so no row the plan leaves
// unvisited keeps stale memory), then the parameters of
// abi::kBackwardParams in order.
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
#include "Kernel.h"

#include "sattn/Core/KernelAbi.h"

#include <algorithm>

using namespace sattn::rt;
using namespace sattn::rt::cuda;
namespace abi = sattn::abi;


sattn_status sattn_kernel::prepareBackward(const Driver &d, CUmodule module, int sharedOptin,
                                           int maxThreads, Module &out,
                                           std::string &message) const {
  const Manifest::Backward &b = manifest.backward;
  const std::string kernel = "kernel '" + manifest.name + "' (target " + manifest.target + ")";
  CUresult r = d.cuModuleGetFunction(&out.backward, module, b.entry.c_str());
  if (r != CUDA_SUCCESS) {
    out.backward = nullptr;
    return driverFailure(d, r, SATTN_ERROR_MODULE_LOAD,
                         "the image of " + kernel + " has no backward kernel '" + b.entry +
                             "' (the manifest's \"backward\" lists it)",
                         message);
  }
  CUdevice device = 0;
  d.cuCtxGetDevice(&device);
  auto refuse = [&](const std::string &has, const std::string &needs) {
    out.backward = nullptr;
    out.backwardRefusal = "device " + std::to_string(device) + " " + has +
                          " but the backward kernel of " + kernel + " needs " + needs;
    return SATTN_OK;
  };
  if (b.sharedBytes > sharedOptin)
    return refuse("allows " + std::to_string(sharedOptin) + " bytes of shared memory per block",
                  std::to_string(b.sharedBytes));
  if (b.threads > maxThreads)
    return refuse("allows " + std::to_string(maxThreads) + " threads per block",
                  std::to_string(b.threads));
  if (b.sharedBytes > kDefaultSharedLimit) {
    r = d.cuFuncSetAttribute(out.backward, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                             static_cast<int>(b.sharedBytes));
    if (r != CUDA_SUCCESS) {
      out.backward = nullptr;
      return driverFailure(d, r, SATTN_ERROR_LAUNCH,
                           "cannot raise the dynamic shared memory of the backward kernel of " +
                               kernel + " to " + std::to_string(b.sharedBytes) + " bytes",
                           message);
    }
  }
  return SATTN_OK;
}

namespace {

int64_t elements(const sattn_tensor &t) {
  int64_t n = 1;
  for (int d = 0; d < t.rank; ++d)
    n *= t.shape[d];
  return n;
}

} // namespace

sattn_status sattn_kernel::launchBackward(const BackwardArgs &a, void *stream,
                                          std::string &message) const {
  if (!manifest.hasBackward()) {
    message = noBackwardMessage(manifest);
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  LaunchShape shape;
  sattn_status status = validateBackward(manifest, a, shape, message);
  if (status != SATTN_OK)
    return status;
  // Nothing to compute for an empty batch; with Lq = 0 the gradients of K
  // and V are zero, which the memsets below write.
  if (shape.batch == 0)
    return SATTN_OK;

  const Driver *d = nullptr;
  Module loaded;
  if ((status = currentModule(d, loaded, message)) != SATTN_OK)
    return status;
  if (!loaded.backward) {
    message = loaded.backwardRefusal;
    return SATTN_ERROR_COMPUTE_CAPABILITY;
  }

  const LaunchArgs &f = a.forward;
  if ((status = checkLaunchPointers(*d,
                                    {{"q", f.q->data},
                                     {"k", f.k->data},
                                     {"v", f.v->data},
                                     {"o", f.o->data},
                                     {"lse", f.lse->data},
                                     {"d_o", a.dO->data},
                                     {"d_q", a.dQ->data},
                                     {"d_k", a.dK->data},
                                     {"d_v", a.dV->data},
                                     {"dkv_scales", a.dkvScales ? a.dkvScales->data : nullptr},
                                     {"plan.segments", f.plan->segments},
                                     {"plan.offsets", f.plan->offsets},
                                     {"plan.class_index", f.plan->class_index}},
                                    f.tables, f.numTables, manifest.tables, message)) !=
      SATTN_OK)
    return status;

  // The gradients start at zero: dK and dV collect every query tile's share
  // with atomic adds.
  if (!d->cuMemsetD32Async) {
    message = "the CUDA driver has no entry point cuMemsetD32Async, which the backward "
              "pass of kernel '" + manifest.name + "' needs to zero its gradients";
    return SATTN_ERROR_NO_DRIVER;
  }
  for (const auto &[name, t] : {std::pair<const char *, const sattn_tensor *>{"d_q", a.dQ},
                                {"d_k", a.dK},
                                {"d_v", a.dV}}) {
    // In 32-bit words: the deterministic backward's dK and dV are int64.
    int64_t count = elements(*t) * (t->dtype == SATTN_DTYPE_I64 ? 2 : 1);
    if (count == 0)
      continue;
    CUresult r = d->cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(t->data), 0,
                                      static_cast<size_t>(count), static_cast<CUstream>(stream));
    if (r != CUDA_SUCCESS)
      return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                           std::string("cuMemsetD32Async of ") + name + " (the backward pass of "
                               "kernel '" + manifest.name + "') failed",
                           message);
  }
  if (shape.lq == 0)
    return SATTN_OK;

  // Every parameter is 8 bytes: a device pointer or an int64, in the order
  // of abi::kBackwardParams, then one pointer per table.
  auto pointer = [](const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); };
  auto strides = [](std::vector<uint64_t> &out, const sattn_tensor *t, int n) {
    for (int dim = 0; dim < n; ++dim)
      out.push_back(static_cast<uint64_t>(t->strides[dim]));
  };
  std::vector<uint64_t> slots;
  slots.reserve(abi::kNumBackwardParams + f.numTables);
  // Each group starts at its position in the ABI table.
  bool inOrder = true;
  auto at = [&](abi::BackwardParamId id) { inOrder &= slots.size() == id; };
  at(abi::BwdQ);
  for (const sattn_tensor *t : {f.q, f.k, f.v, f.o, f.lse, a.dO, a.dQ, a.dK, a.dV})
    slots.push_back(pointer(t->data));
  at(abi::BwdQStrides);
  strides(slots, f.q, 3);
  at(abi::BwdKStrides);
  strides(slots, f.k, 3);
  at(abi::BwdVStrides);
  strides(slots, f.v, 3);
  at(abi::BwdOStrides);
  strides(slots, f.o, 3);
  at(abi::BwdLseStrides);
  strides(slots, f.lse, 2);
  at(abi::BwdDOStrides);
  strides(slots, a.dO, 3);
  at(abi::BwdLq);
  slots.push_back(static_cast<uint64_t>(shape.lq));
  slots.push_back(static_cast<uint64_t>(shape.lk));
  at(abi::BwdSegments);
  slots.push_back(pointer(f.plan->segments));
  slots.push_back(pointer(f.plan->offsets));
  slots.push_back(pointer(f.plan->class_index));
  at(abi::BwdNumQueryTiles);
  slots.push_back(static_cast<uint64_t>(f.plan->num_query_tiles));
  at(abi::BwdDkvScales);
  slots.push_back(pointer(a.dkvScales ? a.dkvScales->data : nullptr));
  if (!inOrder || slots.size() != size_t(abi::kNumBackwardParams)) {
    message = "internal error: the backward launch packs its parameters out of the ABI's "
              "order (sattn/Core/KernelAbi.h, kBackwardParams)";
    return SATTN_ERROR_LAUNCH;
  }
  for (int32_t i = 0; i < f.numTables; ++i)
    slots.push_back(pointer(f.tables[i].data));
  std::vector<void *> params(slots.size());
  for (size_t i = 0; i < slots.size(); ++i)
    params[i] = &slots[i];

  const Manifest::Backward &b = manifest.backward;
  CUresult r = d->cuLaunchKernel(
      loaded.backward, static_cast<unsigned>(f.plan->num_query_tiles),
      static_cast<unsigned>(manifest.heads), static_cast<unsigned>(shape.batch),
      static_cast<unsigned>(b.threads), 1, 1, static_cast<unsigned>(b.sharedBytes),
      static_cast<CUstream>(stream), params.data(), nullptr);
  if (r != CUDA_SUCCESS)
    return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                         "cuLaunchKernel of the backward kernel '" + b.entry + "' of kernel '" +
                             manifest.name + "' failed",
                         message);
  return SATTN_OK;
}
