//===- CpuEstimator.cpp - a compiled estimator run on the CPU -------------===//
//
// Implements CpuAttention::runEstimator: checks Q and K, sizes the scratch
// the way libsattn_runtime sizes its device workspace, and calls
// @NAME_estimate_cpu, whose table the tests compare with the reference
// estimators and feed to the planner and the attention.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionImpl.h"

#include "sattn/Core/KernelAbi.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpuexec;

FailureOr<std::vector<int64_t>> CpuAttention::runEstimator(StringRef name,
                                                            const CpuTensor &q,
                                                            const CpuTensor &k,
                                                            std::string &table,
                                                            std::string &error,
                                                            const CpuTensor *weights) const {
  FailureOr<const KernelInfo *> found = findKernel(*impl, name, error);
  if (failed(found))
    return failure();
  const KernelInfo &kernel = **found;
  if (!kernel.estimatorEntry) {
    error = "kernel '" + kernel.name + "' has no compiled estimator";
    return failure();
  }
  if (q.sizes.size() != 4 || k.sizes.size() != 4) {
    error = "q and k must have rank 4 (B, H, L, D)";
    return failure();
  }
  int64_t batch = q.sizes[0], lq = q.sizes[2], lk = k.sizes[2];
  if (batch < 1 || lq < 1 || lk < lq) {
    error = "need batch >= 1 and 1 <= Lq <= Lk (got batch = " + std::to_string(batch) +
            ", Lq = " + std::to_string(lq) + ", Lk = " + std::to_string(lk) + ")";
    return failure();
  }
  if (failed(checkTensor("q", q, {batch, kernel.heads, lq, kernel.headDim}, error)) ||
      failed(checkTensor("k", k, {batch, kernel.kvHeads, lk, kernel.headDim}, error)))
    return failure();
  const plan::EstimatorSpec &spec = *kernel.estimator;
  abi::EstimatorShape sizes{batch, kernel.heads, kernel.kvHeads, kernel.headDim,
                            lk,    spec.block,   spec.stride};
  spec.setKindFields(sizes);
  // gate needs its learned weights; nsa takes a caller's compressed keys in
  // their place (optional: without them, the blocks' means); others none.
  if (sizes.gate() && !weights) {
    error = "the gate estimator of kernel '" + kernel.name + "' needs its weights";
    return failure();
  }
  if (weights && !sizes.gate() && !spec.isNsa()) {
    error = "kernel '" + kernel.name + "''s estimator takes no weights";
    return failure();
  }
  if (weights && sizes.gate()) {
    if (failed(checkTensor("weights", *weights,
                           {kernel.heads, 4 * kernel.headDim, spec.hidden}, error)))
      return failure();
    if (weights->strides[2] != 1 || weights->strides[1] != spec.hidden ||
        weights->strides[0] != 4 * kernel.headDim * spec.hidden) {
      error = "the gate's weights must be contiguous (H, 4 D, hidden)";
      return failure();
    }
  }
  if (weights && spec.isNsa()) {
    int64_t compressed = sizes.compressedBlocks();
    if (failed(checkTensor("compressed keys", *weights,
                           {batch, kernel.kvHeads, compressed, kernel.headDim}, error)))
      return failure();
    bool contiguous = weights->strides[3] == 1 && weights->strides[2] == kernel.headDim &&
                      weights->strides[1] == compressed * kernel.headDim &&
                      weights->strides[0] == kernel.kvHeads * compressed * kernel.headDim;
    if (compressed > 0 && !contiguous) {
      error = "the compressed keys must be contiguous (B, KV, compressed blocks, D)";
      return failure();
    }
  }
  // The table: [B, H, blocks, blocks] (block_topk, gate), [B, H, 2, Lk]
  // (vertical_slash), [B, H, units, Lk] (stripe) or [B, KV, Lk, blocks]
  // (nsa: a row per GQA group).
  int64_t perSlice = spec.isNsa()     ? lk * sizes.blocks()
                     : spec.isStripe() ? sizes.units() * lk
                     : spec.isLines() ? 2 * lk
                                      : sizes.blocks() * sizes.blocks();
  int64_t slices = batch * (spec.isNsa() ? kernel.kvHeads : kernel.heads);
  std::vector<int64_t> out(slices * perSlice, 0);
  std::vector<double> pooled(std::max<int64_t>(sizes.scratchEntries(), 1));
  // Q and K as flat buffers spanning their last element.
  auto span = [](const CpuTensor &t) {
    int64_t last = 0;
    for (size_t i = 0; i < t.sizes.size(); ++i)
      last += (t.sizes[i] - 1) * t.strides[i];
    return last + 1;
  };
  auto qDesc = descriptor<float, 1>(q.data, {span(q)}, {1});
  auto kDesc = descriptor<float, 1>(k.data, {span(k)}, {1});
  auto pooledDesc =
      descriptor<double, 1>(pooled.data(), {static_cast<int64_t>(pooled.size())}, {1});
  auto tableDesc = descriptor<int64_t, 1>(out.data(), {static_cast<int64_t>(out.size())}, {1});
  // No weights: a null pointer, which nsa's compress stage reads as "the
  // blocks' means".
  auto weightsDesc =
      weights ? descriptor<float, 1>(weights->data, {std::max<int64_t>(span(*weights), 0)}, {1})
              : descriptor<float, 1>(nullptr, {0}, {1});
  int64_t scalars[] = {q.strides[0], q.strides[1], q.strides[2], k.strides[0],
                       k.strides[1], k.strides[2], lq,           lk,
                       batch};
  static_assert(std::size(scalars) == abi::kNumEstimatorParams - 5,
                "the scalars between K and the scratch");
  void *descs[] = {&qDesc, &kDesc, &pooledDesc, &tableDesc, &weightsDesc};
  SmallVector<void *> packed{&descs[0], &descs[1]};
  for (int64_t &v : scalars)
    packed.push_back(&v);
  packed.push_back(&descs[2]);
  packed.push_back(&descs[3]);
  packed.push_back(&descs[4]);
  kernel.estimatorEntry(packed.data());
  table = spec.table;
  return out;
}
