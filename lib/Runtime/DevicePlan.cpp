//===- DevicePlan.cpp - plans built on the GPU by the kernel's builder ----===//
//
// sattn_device_plan_workspace and sattn_device_plan_build: the kernel's
// generated plan builder (docs/DEVICE_PLANS.md; its stage entries are in
// the manifest's "device_plan") run on the caller's stream into a caller
// workspace. Every buffer is sized from the tile grid before launch, so a
// build enqueues a memset and five launches and returns: no host
// synchronisation, no allocation, capturable in a CUDA graph.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "Kernel.h"
#include "LastError.h"
#include "Validate.h"

#include <algorithm>
#include <climits>

using namespace sattn;
using namespace sattn::rt;
using namespace sattn::rt::cuda;

namespace {

/// Where the builder's buffers live in the workspace (byte offsets, each
/// 256-byte aligned), and the plan's sizes.
struct Layout {
  int64_t tiles = 0, keyTiles = 0, classes = 0, classHeads = 0;
  int64_t chunks = 0; // table summary chunks, all tables
  abi::DevicePlanSizes sizes;
  size_t status = 0, work = 0, counts = 0, offsets = 0, segments = 0,
         classIndex = 0, summaries = 0, total = 0;
};

constexpr size_t kAlign = 256;

sattn_status layoutFor(const Manifest &m, int64_t batch, int64_t lq, int64_t lk,
                       Layout &l, std::string &message) {
  if (m.devicePlan.entries.empty()) {
    message = "kernel '" + m.name +
              "' has no device plan builder (its manifest has no \"device_plan\"; "
              "recompile it with this version of sattn-compile)";
    return SATTN_ERROR_MANIFEST;
  }
  if (batch < 1 || batch > 65535 || lq < 0 || lk < lq || lk >= (int64_t(1) << 30)) {
    message = "need 1 <= batch <= 65535 and 0 <= Lq <= Lk < 2^30 (got batch = " +
              std::to_string(batch) + ", Lq = " + std::to_string(lq) +
              ", Lk = " + std::to_string(lk) + ")";
    return SATTN_ERROR_SHAPE;
  }
  l.tiles = (lq + m.blockM - 1) / m.blockM;
  l.keyTiles = (lk + m.blockN - 1) / m.blockN;
  l.classHeads = m.devicePlan.byHead ? m.heads : 1;
  l.classes = (m.devicePlan.byBatch ? batch : 1) * l.classHeads;
  // The stage kernels index buffers in 32 bits: the segment buffer's words
  // (7 per tile of the grid) must fit.
  int64_t grid = l.classes * l.tiles * l.keyTiles;
  l.sizes = abi::devicePlanSizes(l.classes, l.tiles, l.keyTiles, m.blockN, lk,
                                 m.devicePlan.listKeys, m.devicePlan.listUnitRows);
  if (grid > INT32_MAX / 7 || l.sizes.segmentRows * 7 + l.sizes.listWords > INT32_MAX) {
    message = "a device plan of " + std::to_string(l.classes) + " classes x " +
              std::to_string(l.tiles) + " x " + std::to_string(l.keyTiles) +
              " tiles is beyond the plan builder's 32-bit indexing";
    return SATTN_ERROR_SHAPE;
  }
  size_t at = 0;
  auto place = [&](size_t bytes) {
    size_t start = at;
    at += (std::max<size_t>(bytes, 8) + kAlign - 1) / kAlign * kAlign;
    return start;
  };
  l.status = place(size_t(grid) * 4);
  l.work = place(size_t(grid + 1) * 8);
  l.counts = place(size_t(l.sizes.countsWords) * 8);
  l.offsets = place(size_t(l.classes * (l.tiles + 1)) * 8);
  l.segments = place(size_t(l.sizes.segmentRows * 7 + l.sizes.listWords) * 8);
  l.classIndex = place(size_t(batch * m.heads) * 8);
  for (const TableSpec &table : m.tables) {
    int64_t numel = 1;
    for (const sattn::rt::TableDim &dim : table.dims)
      numel *= dim.extent(batch, m.heads, lk);
    l.chunks += (numel + abi::kSummaryChunk - 1) / abi::kSummaryChunk;
  }
  l.summaries = place(size_t(l.chunks) * 16);
  l.total = at;
  return SATTN_OK;
}

/// The plan whose buffers lie in a workspace at address `base` laid out as `l`.
sattn_plan planAt(const Manifest &m, const Layout &l, uintptr_t base) {
  auto at = [&](size_t offset) { return reinterpret_cast<int64_t *>(base + offset); };
  sattn_plan out{};
  out.segments = at(l.segments);
  out.num_segments = l.sizes.segmentRows + l.sizes.listWords / 7;
  out.offsets = at(l.offsets);
  out.num_classes = l.classes;
  out.class_index = at(l.classIndex);
  out.num_query_tiles = l.tiles;
  out.block_m = m.blockM;
  out.block_n = m.blockN;
  return out;
}

sattn_status build(const sattn_kernel &kernel, int64_t batch, int64_t lq, int64_t lk,
                   const sattn_tensor *tables, int32_t numTables, void *workspace,
                   size_t workspaceBytes, void *stream, sattn_plan &out,
                   std::string &message) {
  const Manifest &m = kernel.manifest;
  Layout l;
  sattn_status status = layoutFor(m, batch, lq, lk, l, message);
  if (status != SATTN_OK)
    return status;
  LaunchShape shape{batch, lq, lk};
  if ((status = validateTables(m, tables, numTables, shape, message)) != SATTN_OK)
    return status;
  if (!workspace || reinterpret_cast<uintptr_t>(workspace) % kAlign != 0) {
    message = "the workspace must be a device pointer aligned to 256 bytes";
    return SATTN_ERROR_ALIGNMENT;
  }
  if (workspaceBytes < l.total) {
    message = "the workspace holds " + std::to_string(workspaceBytes) + " bytes, " +
              std::to_string(l.total) + " needed (sattn_device_plan_workspace)";
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  auto base = reinterpret_cast<uintptr_t>(workspace);
  out = planAt(m, l, base);
  if (l.tiles == 0)
    return SATTN_OK; // nothing to plan; the launch of an empty problem is a no-op

  const Driver *d = nullptr;
  sattn_kernel::Module module;
  if ((status = kernel.currentModule(d, module, message)) != SATTN_OK)
    return status;
  if (!d->cuMemsetD32Async) {
    message = "the CUDA driver has no cuMemsetD32Async";
    return SATTN_ERROR_NO_DRIVER;
  }

  CUdevice device = 0;
  if (d->cuCtxGetDevice(&device) == CUDA_SUCCESS) {
    if ((status = checkPointer(*d, device, "the workspace", workspace, message)) != SATTN_OK)
      return status;
    for (int32_t i = 0; i < numTables; ++i) {
      std::string name = "table " + std::to_string(i) + " (\"" + m.tables[i].name + "\")";
      if ((status = checkPointer(*d, device, name.c_str(), tables[i].data, message)) !=
          SATTN_OK)
        return status;
    }
  }

  CUstream s = static_cast<CUstream>(stream);
  CUresult r = d->cuMemsetD32Async(base + l.work, 0, 2, s);
  if (r == CUDA_SUCCESS && m.devicePlan.listKeys)
    r = d->cuMemsetD32Async(base + l.counts + size_t(l.sizes.columnBounds) * 8, 0,
                            size_t(l.classes * l.tiles) * 2, s);
  if (r != CUDA_SUCCESS)
    return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                         "resetting the plan builder's work counter and column bounds",
                         message);
  std::vector<uint64_t> slots = {uint64_t(lq),         uint64_t(lk),         uint64_t(batch),
                                 uint64_t(l.classes),  uint64_t(l.classHeads),
                                 base + l.status,      base + l.work,        base + l.counts,
                                 base + l.offsets,     base + l.segments,    base + l.classIndex,
                                 base + l.summaries};
  for (int32_t i = 0; i < numTables; ++i)
    slots.push_back(reinterpret_cast<uintptr_t>(tables[i].data));
  std::vector<void *> params(slots.size());
  for (size_t i = 0; i < slots.size(); ++i)
    params[i] = &slots[i];
  int64_t grid = l.classes * l.tiles * l.keyTiles;
  // summarize also counts the columns of every (class, KV tile).
  int64_t summarize =
      m.devicePlan.listKeys ? std::max(l.chunks, l.sizes.columnTiles) : l.chunks;
  int64_t pieceItems = l.classes * l.tiles * l.sizes.pieces;
  const int64_t items[abi::kNumDevicePlanStages] = {summarize, grid,      grid * m.blockM,
                                                    pieceItems, l.classes, pieceItems};
  // Grid-stride loops: a grid of a few blocks per SM covers any count.
  constexpr int64_t kMaxBlocks = 4096;
  for (int i = 0; i < abi::kNumDevicePlanStages; ++i) {
    int64_t threads = m.devicePlan.threads;
    int64_t blocks = std::clamp<int64_t>((items[i] + threads - 1) / threads, 1, kMaxBlocks);
    r = d->cuLaunchKernel(module.planStages[i], unsigned(blocks), 1, 1, unsigned(threads), 1,
                          1, 0, s, params.data(), nullptr);
    if (r != CUDA_SUCCESS)
      return driverFailure(*d, r, SATTN_ERROR_LAUNCH,
                           "launching plan builder stage '" + m.devicePlan.entries[i] +
                               "' of kernel '" + m.name + "'",
                           message);
  }
  return SATTN_OK;
}

/// The layout of (batch, lq, lk) handed to `use`, for the C entry points
/// that answer from it alone (`what` names the entry point in errors;
/// `out` is its output pointer, checked for NULL).
template <typename Use>
sattn_status withLayout(const char *what, const sattn_kernel *kernel, const void *out,
                        int64_t batch, int64_t lq, int64_t lk, Use use) {
  return guarded([&] {
    if (!kernel || !out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  std::string(what) + ": kernel or its output pointer is NULL");
    Layout l;
    std::string message;
    sattn_status status = layoutFor(kernel->manifest, batch, lq, lk, l, message);
    if (status == SATTN_OK)
      use(l);
    return finish(status, std::string(what) + ": " + message);
  });
}

} // namespace

extern "C" {

sattn_status sattn_device_plan_workspace(const sattn_kernel *kernel, int64_t batch,
                                         int64_t lq, int64_t lk, size_t *bytes) {
  if (bytes)
    *bytes = 0;
  return withLayout("sattn_device_plan_workspace", kernel, bytes, batch, lq, lk,
                    [&](const Layout &l) { *bytes = l.total; });
}

sattn_status sattn_device_plan_layout(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                                      int64_t lk, sattn_plan *out) {
  if (out)
    *out = sattn_plan{};
  return withLayout("sattn_device_plan_layout", kernel, out, batch, lq, lk,
                    [&](const Layout &l) { *out = planAt(kernel->manifest, l, 0); });
}

sattn_status sattn_device_plan_build(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                                     int64_t lk, const sattn_tensor *tables,
                                     int32_t num_tables, void *workspace,
                                     size_t workspace_bytes, void *stream, sattn_plan *out) {
  return guarded([&] {
    if (!kernel || !out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_device_plan_build: kernel or out is NULL");
    *out = sattn_plan{};
    std::string message;
    sattn_status status = build(*kernel, batch, lq, lk, tables, num_tables, workspace,
                                workspace_bytes, stream, *out, message);
    return finish(status, "sattn_device_plan_build: " + message);
  });
}

} // extern "C"
