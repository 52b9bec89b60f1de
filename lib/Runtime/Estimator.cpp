//===- Estimator.cpp - a kernel's compiled estimator on the GPU -----------===//
//
// sattn_estimator_workspace, sattn_estimator_table, sattn_estimator_weights,
// sattn_estimator_run and sattn_estimator_run_weighted: the kernel's
// generated estimator (docs/ESTIMATORS.md, "Compiled estimators"; its stage
// entries are in the manifest's "estimator") run on the caller's stream. It
// reads Q and K (and, for a gate, the learned weights the caller owns) and
// writes the table the kernel's mask reads; the device plan builder and the
// attention kernel then take that table like any other. The scratch is
// sized from the shapes before launch, so a run enqueues its launches
// (three for block_topk, four for gate, 21 for vertical_slash) and returns:
// no host synchronisation, no allocation, capturable in a CUDA graph.
// Weights are an argument of every run rather than state of the kernel so
// that one loaded kernel serves every layer of a model, each with its own
// gate.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "Kernel.h"
#include "LastError.h"
#include "Validate.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::rt;
using namespace sattn::rt::cuda;

namespace {

constexpr size_t kAlign = 256;

sattn_status needsEstimator(const Manifest &m, std::string &message) {
  if (!m.estimator.entries.empty())
    return SATTN_OK;
  message = "kernel '" + m.name +
            "' has no compiled estimator (its manifest has no \"estimator\": its mask is "
            "not a dynamic pattern, or it was compiled by an older sattn-compile)";
  return SATTN_ERROR_INVALID_ARGUMENT;
}

size_t scratchBytes(const Manifest &m, int64_t batch, int64_t lk) {
  int64_t entries = m.estimatorShape(batch, lk).scratchEntries();
  return (std::max<size_t>(size_t(entries) * 8, 8) + kAlign - 1) / kAlign * kAlign;
}

sattn_status run(const sattn_kernel &kernel, const sattn_tensor *q, const sattn_tensor *k,
                 const sattn_tensor *weights, const sattn_tensor *table, void *workspace,
                 size_t workspaceBytes, void *stream, std::string &message) {
  const Manifest &m = kernel.manifest;
  sattn_status status = needsEstimator(m, message);
  if (status != SATTN_OK)
    return status;
  LaunchShape shape;
  if ((status = validateEstimate(m, q, k, weights, table, shape, message)) != SATTN_OK)
    return status;
  size_t needed = scratchBytes(m, shape.batch, shape.lk);
  if (!workspace || reinterpret_cast<uintptr_t>(workspace) % kAlign != 0) {
    message = "the workspace must be a device pointer aligned to 256 bytes";
    return SATTN_ERROR_ALIGNMENT;
  }
  if (workspaceBytes < needed) {
    message = "the workspace holds " + std::to_string(workspaceBytes) + " bytes, " +
              std::to_string(needed) + " needed (sattn_estimator_workspace)";
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  const Driver *d = nullptr;
  sattn_kernel::Module module;
  if ((status = kernel.currentModule(d, module, message)) != SATTN_OK)
    return status;
  CUdevice device = 0;
  if (d->cuCtxGetDevice(&device) == CUDA_SUCCESS) {
    const std::pair<const char *, const void *> pointers[] = {
        {"q", q->data},
        {"k", k->data},
        {"the weights", weights ? weights->data : nullptr},
        {"the table", table->data},
        {"the workspace", workspace}};
    for (auto [name, pointer] : pointers)
      if ((status = checkPointer(*d, device, name, pointer, message)) != SATTN_OK)
        return status;
  }

  uint64_t slots[] = {reinterpret_cast<uintptr_t>(q->data),
                      reinterpret_cast<uintptr_t>(k->data),
                      uint64_t(q->strides[0]),
                      uint64_t(q->strides[1]),
                      uint64_t(q->strides[2]),
                      uint64_t(k->strides[0]),
                      uint64_t(k->strides[1]),
                      uint64_t(k->strides[2]),
                      uint64_t(shape.lq),
                      uint64_t(shape.lk),
                      uint64_t(shape.batch),
                      reinterpret_cast<uintptr_t>(workspace),
                      reinterpret_cast<uintptr_t>(table->data),
                      reinterpret_cast<uintptr_t>(weights ? weights->data : nullptr)};
  static_assert(std::size(slots) == abi::kNumEstimatorParams, "one slot per parameter");
  void *params[std::size(slots)];
  for (size_t i = 0; i < std::size(slots); ++i)
    params[i] = &slots[i];
  abi::EstimatorShape sizes = m.estimatorShape(shape.batch, shape.lk);
  constexpr int64_t kMaxBlocks = 4096; // grid-stride loops cover the rest
  CUstream s = static_cast<CUstream>(stream);
  for (int i : sizes.launches()) {
    int64_t threads = m.estimator.threads;
    int64_t grid =
        std::clamp<int64_t>((sizes.stageItems(i) + threads - 1) / threads, 1, kMaxBlocks);
    CUresult r = d->cuLaunchKernel(module.estimatorStages[i], unsigned(grid), 1, 1,
                                   unsigned(threads), 1, 1, 0, s, params, nullptr);
    if (r != CUDA_SUCCESS)
      return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                           "launching estimator stage '" + m.estimator.entries[i] +
                               "' of kernel '" + m.name + "'",
                           message);
  }
  return SATTN_OK;
}

} // namespace

extern "C" {

sattn_status sattn_estimator_table(const sattn_kernel *kernel, int32_t *index) {
  return guarded([&] {
    if (!kernel || !index)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_estimator_table: kernel or index is NULL");
    *index = -1;
    std::string message;
    sattn_status status = needsEstimator(kernel->manifest, message);
    if (status == SATTN_OK)
      *index = int32_t(kernel->manifest.estimator.table);
    return finish(status, "sattn_estimator_table: " + message);
  });
}

sattn_status sattn_estimator_workspace(const sattn_kernel *kernel, int64_t batch, int64_t lk,
                                       size_t *bytes) {
  return guarded([&] {
    if (!kernel || !bytes)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_estimator_workspace: kernel or bytes is NULL");
    *bytes = 0;
    std::string message;
    sattn_status status = needsEstimator(kernel->manifest, message);
    if (status == SATTN_OK && (batch < 1 || batch > 65535 || lk < 1 || lk >= (int64_t(1) << 30))) {
      message = "need 1 <= batch <= 65535 and 1 <= Lk < 2^30 (got batch = " +
                std::to_string(batch) + ", Lk = " + std::to_string(lk) + ")";
      status = SATTN_ERROR_SHAPE;
    }
    if (status == SATTN_OK)
      *bytes = scratchBytes(kernel->manifest, batch, lk);
    return finish(status, "sattn_estimator_workspace: " + message);
  });
}

sattn_status sattn_estimator_weights(const sattn_kernel *kernel, int64_t shape[3]) {
  return guarded([&] {
    if (!kernel || !shape)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_estimator_weights: kernel or shape is NULL");
    shape[0] = shape[1] = shape[2] = 0;
    const Manifest &m = kernel->manifest;
    std::string message;
    sattn_status status = needsEstimator(m, message);
    if (status == SATTN_OK && !m.estimator.takesWeights()) {
      message = m.estimator.kind == "nsa"
                    ? "the nsa estimator of kernel '" + m.name +
                          "' takes no learned weights; its optional compressed keys "
                          "(sattn_estimator_run_weighted) are (batch, kv_heads, compressed "
                          "blocks of Lk, head_dim), a shape of the call"
                    : "the " + m.estimator.kind + " estimator of kernel '" + m.name +
                          "' takes no weights (only gate's does): run it with "
                          "sattn_estimator_run";
      status = SATTN_ERROR_INVALID_ARGUMENT;
    }
    if (status == SATTN_OK) {
      shape[0] = m.heads;
      shape[1] = 4 * m.headDim;
      shape[2] = m.estimator.hidden;
    }
    return finish(status, "sattn_estimator_weights: " + message);
  });
}

sattn_status sattn_estimator_run(const sattn_kernel *kernel, const sattn_tensor *q,
                                 const sattn_tensor *k, const sattn_tensor *table,
                                 void *workspace, size_t workspace_bytes, void *stream) {
  return guarded([&] {
    if (!kernel)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_estimator_run: kernel is NULL");
    std::string message;
    sattn_status status =
        run(*kernel, q, k, nullptr, table, workspace, workspace_bytes, stream, message);
    return finish(status, "sattn_estimator_run: " + message);
  });
}

sattn_status sattn_estimator_run_weighted(const sattn_kernel *kernel, const sattn_tensor *q,
                                          const sattn_tensor *k, const sattn_tensor *weights,
                                          const sattn_tensor *table, void *workspace,
                                          size_t workspace_bytes, void *stream) {
  return guarded([&] {
    if (!kernel)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_estimator_run_weighted: kernel is NULL");
    std::string message;
    sattn_status status =
        run(*kernel, q, k, weights, table, workspace, workspace_bytes, stream, message);
    return finish(status, "sattn_estimator_run_weighted: " + message);
  });
}

} // extern "C"
