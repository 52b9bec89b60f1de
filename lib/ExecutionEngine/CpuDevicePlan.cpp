//===- CpuDevicePlan.cpp - the device plan builder run on the CPU ---------===//
//
// Implements CpuAttention::buildDevicePlan: sizes the plan builder's
// buffers the way libsattn_runtime sizes its device workspace (from the
// tile grid, before anything runs), calls @NAME_plan_cpu and trims the
// result into a FlatPlan. Tests compare it with the host planner.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionImpl.h"

#include "sattn/Conversion/SparseAttnToCPU.h"
#include "sattn/Core/KernelAbi.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpuexec;

FailureOr<plan::FlatPlan>
CpuAttention::buildDevicePlan(StringRef name, const MaskInputs &inputs,
                              std::string &error,
                              int64_t *undecidedTiles) const {
  auto it = impl->kernels.find(name);
  if (it == impl->kernels.end()) {
    error = "no compiled kernel named '" + name.str() + "'";
    return failure();
  }
  const KernelInfo &kernel = it->second;
  if (!kernel.planEntry) {
    error = "kernel '" + kernel.name +
            "' was compiled without device plans (CpuAttentionOptions::"
            "devicePlans)";
    return failure();
  }
  int64_t batch = inputs.batch, lq = inputs.lq, lk = inputs.lk;
  if (batch < 1 || lq < 0 || lk < lq) {
    error = "need batch >= 1 and 0 <= Lq <= Lk (got batch = " +
            std::to_string(batch) + ", Lq = " + std::to_string(lq) +
            ", Lk = " + std::to_string(lk) + ")";
    return failure();
  }
  SmallVector<StridedMemRefType<int64_t, 1>> tableDescs;
  if (failed(tableDescriptors(kernel, inputs, batch, kernel.heads, lk,
                              tableDescs, error)))
    return failure();

  int64_t bm = impl->options.blockM, bn = impl->options.blockN;
  int64_t tiles = (lq + bm - 1) / bm, keyTiles = (lk + bn - 1) / bn;
  int64_t classHeads = kernel.classByHead ? kernel.heads : 1;
  int64_t numClasses = (kernel.classByBatch ? batch : 1) * classHeads;
  int64_t grid = numClasses * tiles * keyTiles;
  constexpr int64_t fields = plan::FlatPlan::kSegmentFields;
  // As libsattn_runtime lays them out: with column lists, N + 1 rows per
  // query tile, the list keys after all rows, more counts.
  int64_t listKeys = kernel.listKeys;
  abi::DevicePlanSizes sizes = abi::devicePlanSizes(numClasses, tiles, keyTiles, bn, lk,
                                                    listKeys, kernel.listUnitRows);
  int64_t segmentRows = sizes.segmentRows, listRows = sizes.listWords / fields;
  // Every buffer holds at least one element so that no descriptor is null.
  std::vector<int32_t> status(std::max<int64_t>(grid, 1));
  std::vector<int64_t> work(grid + 1), counts(std::max<int64_t>(sizes.countsWords, 1));
  plan::FlatPlan plan;
  plan.numQueryTiles = tiles;
  plan.numClasses = numClasses;
  plan.offsets.assign(numClasses * (tiles + 1), 0);
  plan.segments.assign(std::max<int64_t>(segmentRows + listRows, 1) * fields, 0);
  // Rows no query tile uses (between classes) read as empty Range segments,
  // so that the plan passes the CPU kernel's checks of every row.
  for (int64_t row = 0; row < segmentRows; ++row)
    plan.segments[row * fields + 5] = plan.segments[row * fields + 6] = 1;
  plan.classIndex.assign(batch * kernel.heads, -1);
  int64_t chunks = 0;
  for (const auto &t : tableDescs)
    chunks += (t.sizes[0] + abi::kSummaryChunk - 1) / abi::kSummaryChunk;
  std::vector<int64_t> summaries(std::max<int64_t>(2 * chunks, 1));

  auto vec = [](auto &v) {
    using T = std::remove_reference_t<decltype(v[0])>;
    return descriptor<T, 1>(v.data(), {static_cast<int64_t>(v.size())}, {1});
  };
  auto statusDesc = vec(status);
  auto workDesc = vec(work), countsDesc = vec(counts), offsetsDesc = vec(plan.offsets);
  auto classDesc = vec(plan.classIndex);
  auto summariesDesc = vec(summaries);
  auto segmentsDesc = descriptor<int64_t, 2>(
      plan.segments.data(), {std::max<int64_t>(segmentRows + listRows, 1), fields}, {fields, 1});
  int64_t scalars[abi::kNumDevicePlanScalars] = {lq, lk, batch, numClasses,
                                              classHeads};
  SmallVector<void *> pointers;
  for (int64_t &v : scalars)
    pointers.push_back(&v);
  SmallVector<void *> descs{&statusDesc,   &workDesc,  &countsDesc,   &offsetsDesc,
                            &segmentsDesc, &classDesc, &summariesDesc};
  for (auto &d : tableDescs)
    descs.push_back(&d);
  // Scalars are passed by pointer; memrefs by a pointer to their descriptor
  // pointer (the packed C interface).
  SmallVector<void *> packed(pointers.begin(), pointers.end());
  for (void *&d : descs)
    packed.push_back(&d);
  kernel.planEntry(packed.data());

  if (undecidedTiles)
    *undecidedTiles = work[0];
  // Rows up to the last class's end; classes start at c * T * N, so rows
  // between them are unused (zero: empty Range segments nothing reads).
  // List keys lie after every class's rows: such plans keep the buffer.
  if (listKeys) {
    plan.numSegments = segmentRows; // then the key pool
    return plan;
  }
  plan.numSegments = plan.offsets.empty() ? 0 : plan.offsets.back();
  plan.segments.resize(plan.numSegments * fields);
  return plan;
}
