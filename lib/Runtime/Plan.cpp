//===- Plan.cpp - tile plans built and uploaded by the runtime ------------===//
//
// sattn_plan_build runs the core planner (lib/Core, the code the compiler
// plans with) on the mask program the manifest carries, so that a kernel
// shipped without MLIR can still get plans for any (batch, Lq, Lk) and any
// table contents. Every input is checked first and reported with a status;
// sattn_plan_upload copies the flat buffers to device memory through the
// lazily opened driver.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "Kernel.h"
#include "LastError.h"

#include "sattn/Core/Limits.h"
#include "sattn/Core/Planner.h"

#include <algorithm>
#include <memory>
#include <optional>

using namespace sattn;
using namespace sattn::rt;
using namespace sattn::rt::cuda;

struct sattn_host_plan {
  plan::FlatPlan flat;
  int64_t blockM = 0, blockN = 0;
  int64_t visitedTiles = 0, denseTiles = 0;
};

struct sattn_device_plan {
  sattn_plan view{};
  CUcontext context = nullptr;
  CUdeviceptr buffers[3] = {0, 0, 0};

  ~sattn_device_plan();
};

namespace {

/// Sizes beyond these are rejected before planning: the launch limits
/// (grid z = batch, 32-bit positions), so that no plan is built that no
/// launch can use (planning at 2^30 took 32 s and 3.5 GB).
constexpr int64_t kMaxLength = sattn::limits::kMaxLength;
constexpr int64_t kMaxBatch = sattn::limits::kMaxBatch;

std::string str(int64_t v) { return std::to_string(v); }

/// Points `data` at host table `i` (borrowed, not copied: the planner reads
/// it only during sattn_plan_build) after checking it against the
/// manifest's declaration for (batch, lk).
sattn_status readTable(const Manifest &m, int32_t i, const sattn_tensor &t,
                       int64_t batch, int64_t lk, TableData &data,
                       std::string &message) {
  const TableSpec &spec = m.tables[i];
  std::string name = "table " + str(i) + " (\"" + spec.name + "\")";
  if (dtypeCode(t) != SATTN_DTYPE_I64) {
    message = name + " must be int64 (SATTN_DTYPE_I64), got " + dtypeName(dtypeCode(t));
    return SATTN_ERROR_TABLE;
  }
  if (t.rank != static_cast<int32_t>(spec.dims.size())) {
    message = name + " has rank " + str(t.rank) + ", expected " +
              str(static_cast<int64_t>(spec.dims.size()));
    return SATTN_ERROR_TABLE;
  }
  int64_t elements = 1;
  for (int32_t d = 0; d < t.rank; ++d) {
    int64_t expected = spec.dims[d].extent(batch, m.heads, lk);
    if (t.shape[d] != expected) {
      message = name + " dimension " + str(d) + " (\"" + spec.dims[d].text +
                "\") has extent " + str(t.shape[d]) + ", expected " + str(expected);
      return SATTN_ERROR_TABLE;
    }
    if (__builtin_mul_overflow(elements, expected, &elements)) {
      message = name + " is too large for (batch " + str(batch) + ", lk " + str(lk) + ")";
      return SATTN_ERROR_TABLE;
    }
  }
  // Contiguous row-major: dimensions of extent 1 may have any stride.
  int64_t stride = 1;
  for (int32_t d = t.rank - 1; d >= 0; --d) {
    if (t.shape[d] != 1 && t.strides[d] != stride) {
      message = name + " must be contiguous row-major: stride " + str(d) + " is " +
                str(t.strides[d]) + ", expected " + str(stride);
      return SATTN_ERROR_TABLE;
    }
    stride *= t.shape[d];
  }
  if (elements > 0 && !t.data) {
    message = name + " has no data (NULL)";
    return SATTN_ERROR_TABLE;
  }
  data.shape.assign(t.shape, t.shape + t.rank);
  data.borrowed = static_cast<const int64_t *>(t.data);
  data.borrowedSize = static_cast<size_t>(elements);
  return SATTN_OK;
}

sattn_status build(const sattn_kernel &kernel, int64_t batch, int64_t lq, int64_t lk,
                   const sattn_tensor *tables, int32_t numTables,
                   sattn_host_plan *&out, std::string &message) {
  const Manifest &m = kernel.manifest;
  if (!m.planner) {
    message = m.planError;
    return SATTN_ERROR_MANIFEST;
  }
  if (batch <= 0 || batch > kMaxBatch) {
    message = "batch must be in [1, " + str(kMaxBatch) + "], got " + str(batch);
    return SATTN_ERROR_SHAPE;
  }
  if (lq < 0 || lq > lk || lk > kMaxLength) {
    message = "lengths must satisfy 0 <= lq <= lk <= " + str(kMaxLength) +
              ", got lq = " + str(lq) + ", lk = " + str(lk);
    return SATTN_ERROR_SHAPE;
  }
  int32_t declared = static_cast<int32_t>(m.tables.size());
  if (numTables != declared || (numTables > 0 && !tables)) {
    message = "the kernel declares " + str(declared) + " table(s), got " +
              str(numTables) + (numTables > 0 && !tables ? " (host_tables is NULL)" : "");
    return SATTN_ERROR_TABLE;
  }
  MaskInputs inputs;
  inputs.batch = batch;
  inputs.lq = lq;
  inputs.lk = lk;
  for (int32_t i = 0; i < numTables; ++i) {
    sattn_status s = readTable(m, i, tables[i], batch, lk,
                               inputs.tables[m.tables[i].name], message);
    if (s != SATTN_OK)
      return s;
  }
  std::string error;
  std::optional<plan::TilePlan> built = m.planner->plan(inputs, error);
  if (!built) {
    message = "cannot build the plan: " + error;
    return SATTN_ERROR_TABLE;
  }
  auto result = std::make_unique<sattn_host_plan>();
  plan::PlanStats stats = built->stats();
  result->visitedTiles = stats.visitedTiles();
  result->denseTiles = stats.denseTiles;
  result->blockM = built->blockM;
  result->blockN = built->blockN;
  result->flat = built->flatten();
  out = result.release();
  return SATTN_OK;
}

/// The host buffers of a plan, in the order of sattn_device_plan::buffers.
const std::vector<int64_t> *hostBuffers(const sattn_host_plan &p, int i) {
  const std::vector<int64_t> *buffers[] = {&p.flat.segments, &p.flat.offsets,
                                           &p.flat.classIndex};
  return buffers[i];
}

sattn_status upload(const sattn_host_plan &host, sattn_device_plan &dev,
                    std::string &message) {
  sattn_status status;
  const Driver *d = driver(status, message);
  if (!d)
    return status;
  if (!d->cuMemAlloc_v2 || !d->cuMemcpyHtoD_v2 || !d->cuMemFree_v2) {
    message = "the CUDA driver has no cuMemAlloc_v2/cuMemcpyHtoD_v2/cuMemFree_v2";
    return SATTN_ERROR_NO_DRIVER;
  }
  if ((status = currentContext(*d, dev.context, message)) != SATTN_OK)
    return status;
  static const char *const kNames[] = {"segments", "offsets", "class_index"};
  for (int i = 0; i < 3; ++i) {
    const std::vector<int64_t> &buffer = *hostBuffers(host, i);
    size_t bytes = buffer.size() * sizeof(int64_t);
    // Never a NULL buffer, even for an empty plan: launches check pointers.
    CUresult r = d->cuMemAlloc_v2(&dev.buffers[i], std::max<size_t>(bytes, 16));
    if (r != CUDA_SUCCESS) {
      dev.buffers[i] = 0;
      return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                           std::string("cuMemAlloc of plan.") + kNames[i], message);
    }
    if (bytes && (r = d->cuMemcpyHtoD_v2(dev.buffers[i], buffer.data(), bytes)) !=
                     CUDA_SUCCESS)
      return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                           std::string("cuMemcpyHtoD of plan.") + kNames[i], message);
  }
  sattn_host_plan_view(&host, &dev.view);
  dev.view.segments = reinterpret_cast<const int64_t *>(dev.buffers[0]);
  dev.view.offsets = reinterpret_cast<const int64_t *>(dev.buffers[1]);
  dev.view.class_index = reinterpret_cast<const int64_t *>(dev.buffers[2]);
  return SATTN_OK;
}

} // namespace

sattn_device_plan::~sattn_device_plan() {
  if (!buffers[0] && !buffers[1] && !buffers[2])
    return;
  sattn_status status;
  std::string ignored;
  const Driver *d = driver(status, ignored);
  if (!d || !d->cuMemFree_v2)
    return;
  // Free in the context the buffers were allocated in, as module unloading does.
  CUcontext previous = nullptr;
  d->cuCtxGetCurrent(&previous);
  bool switched = previous != context && d->cuCtxSetCurrent(context) == CUDA_SUCCESS;
  for (CUdeviceptr buffer : buffers)
    if (buffer)
      d->cuMemFree_v2(buffer);
  if (switched)
    d->cuCtxSetCurrent(previous);
}

extern "C" {

sattn_status sattn_plan_build(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                              int64_t lk, const sattn_tensor *host_tables,
                              int32_t num_tables, sattn_host_plan **out) {
  return guarded([&] {
    if (!out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_plan_build: out is NULL");
    *out = nullptr;
    if (!kernel)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_plan_build: kernel is NULL");
    std::string message;
    sattn_status status =
        build(*kernel, batch, lq, lk, host_tables, num_tables, *out, message);
    return finish(status, status == SATTN_OK ? message : "sattn_plan_build: " + message);
  });
}

void sattn_host_plan_view(const sattn_host_plan *plan, sattn_plan *view) {
  if (!view)
    return;
  *view = sattn_plan{};
  if (!plan)
    return;
  const plan::FlatPlan &f = plan->flat;
  view->segments = f.segments.data();
  view->num_segments =
      static_cast<int64_t>(f.segments.size()) / plan::FlatPlan::kSegmentFields;
  view->offsets = f.offsets.data();
  view->num_classes = f.numClasses;
  view->class_index = f.classIndex.data();
  view->num_query_tiles = f.numQueryTiles;
  view->block_m = plan->blockM;
  view->block_n = plan->blockN;
}

void sattn_host_plan_stats(const sattn_host_plan *plan, int64_t *visited_tiles,
                           int64_t *dense_tiles) {
  if (visited_tiles)
    *visited_tiles = plan ? plan->visitedTiles : 0;
  if (dense_tiles)
    *dense_tiles = plan ? plan->denseTiles : 0;
}

void sattn_host_plan_destroy(sattn_host_plan *plan) { delete plan; }

sattn_status sattn_plan_upload(const sattn_host_plan *plan, sattn_device_plan **out) {
  return guarded([&] {
    if (!out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_plan_upload: out is NULL");
    *out = nullptr;
    if (!plan)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_plan_upload: plan is NULL");
    auto dev = std::make_unique<sattn_device_plan>();
    std::string message;
    sattn_status status = upload(*plan, *dev, message);
    if (status != SATTN_OK)
      return fail(status, "sattn_plan_upload: " + message); // dev frees what it got
    *out = dev.release();
    return succeed();
  });
}

const sattn_plan *sattn_device_plan_get(const sattn_device_plan *plan) {
  return plan ? &plan->view : nullptr;
}

void sattn_device_plan_destroy(sattn_device_plan *plan) { delete plan; }

} // extern "C"
