//===- CpuCallArgs.cpp - checked arguments of the JIT'd CPU functions -----===//
//
// What every call into generated CPU code (@NAME_cpu, @NAME_bwd_cpu) checks
// before it runs, and how its arguments are packed: tensors against the
// kernel's heads and head_dim and each other, the plan against this call's
// shapes, the tables against their declared shapes; then memref
// descriptors, passed through the packed C interface.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionImpl.h"

#include <string>

using namespace mlir;
using namespace sattn;
using namespace sattn::cpuexec;

static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, v] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(v);
  return s + "]";
}

LogicalResult cpuexec::checkTensor(const char *what, const CpuTensor &t,
                          ArrayRef<int64_t> expected, std::string &error) {
  if (!t.data) {
    error = std::string(what) + ": null data pointer";
    return failure();
  }
  if (t.sizes.size() != expected.size() || t.strides.size() != expected.size()) {
    error = std::string(what) + ": expected rank " +
            std::to_string(expected.size()) + " sizes and strides, got " +
            std::to_string(t.sizes.size()) + " sizes and " +
            std::to_string(t.strides.size()) + " strides";
    return failure();
  }
  if (ArrayRef<int64_t>(t.sizes) != expected) {
    error = std::string(what) + ": shape " + formatShape(t.sizes) +
            ", expected " + formatShape(expected);
    return failure();
  }
  if (t.strides.back() != 1) {
    error = std::string(what) + ": innermost stride must be 1, got " +
            std::to_string(t.strides.back());
    return failure();
  }
  for (int64_t s : t.strides)
    if (s < 0) {
      error = std::string(what) + ": negative strides are not supported";
      return failure();
    }
  return success();
}

LogicalResult cpuexec::checkPlan(const plan::FlatPlan &plan, int64_t batch,
                        int64_t heads, int64_t lq, int64_t lk, int64_t blockM,
                        std::string &error) {
  constexpr int64_t fields = plan::FlatPlan::kSegmentFields;
  int64_t tiles = (lq + blockM - 1) / blockM;
  if (plan.numQueryTiles != tiles) {
    error = "plan has " + std::to_string(plan.numQueryTiles) +
            " query tiles, but Lq = " + std::to_string(lq) +
            " with block-m = " + std::to_string(blockM) + " needs " +
            std::to_string(tiles);
    return failure();
  }
  if (plan.segments.size() % fields != 0) {
    error = "plan segment table size " + std::to_string(plan.segments.size()) +
            " is not a multiple of " + std::to_string(fields);
    return failure();
  }
  int64_t rows = plan.segments.size() / fields;
  int64_t numSegments = plan.numSegments;
  if (numSegments < 0 || numSegments > rows) {
    error = "plan has " + std::to_string(numSegments) +
            " segments but its segment buffer holds " + std::to_string(rows) +
            " rows";
    return failure();
  }
  if (static_cast<int64_t>(plan.classIndex.size()) != batch * heads) {
    error = "plan class index has " + std::to_string(plan.classIndex.size()) +
            " entries, expected batch * heads = " +
            std::to_string(batch * heads);
    return failure();
  }
  for (int64_t c : plan.classIndex)
    if (c < 0 || c >= plan.numClasses) {
      error = "plan class index " + std::to_string(c) + " is out of range [0, " +
              std::to_string(plan.numClasses) + ")";
      return failure();
    }
  if (static_cast<int64_t>(plan.offsets.size()) !=
      plan.numClasses * (tiles + 1)) {
    error = "plan offsets have " + std::to_string(plan.offsets.size()) +
            " entries, expected classes * (query tiles + 1) = " +
            std::to_string(plan.numClasses * (tiles + 1));
    return failure();
  }
  for (int64_t c = 0; c < plan.numClasses; ++c)
    for (int64_t m = 0; m < tiles; ++m) {
      int64_t a = plan.offsets[c * (tiles + 1) + m];
      int64_t b = plan.offsets[c * (tiles + 1) + m + 1];
      if (a < 0 || a > b || b > numSegments) {
        error = "plan offsets of class " + std::to_string(c) + ", query tile " +
                std::to_string(m) + " are not a range within the " +
                std::to_string(numSegments) + " segments";
        return failure();
      }
    }
  int64_t poolBegin = numSegments * fields;
  for (int64_t s = 0; s < numSegments; ++s) {
    const int64_t *f = &plan.segments[s * fields];
    bool ok = f[0] >= 0 && f[0] <= 2 && (f[1] == 0 || f[1] == 1) &&
              f[2] >= 0 && f[5] >= 1 && f[6] >= 1 && f[6] <= f[5];
    if (ok && f[0] == 2) {
      // A key list: [lo, hi) within the pool, every key within [0, lk).
      ok = poolBegin <= f[2] && f[2] <= f[3] &&
           f[3] <= static_cast<int64_t>(plan.segments.size());
      for (int64_t i = f[2]; ok && i < f[3]; ++i)
        ok = plan.segments[i] >= 0 && plan.segments[i] < lk;
    }
    if (!ok) {
      error = "plan segment " + std::to_string(s) +
              " is malformed (needs kind in {0, 1, 2}, full in {0, 1}, "
              "lo >= 0, period >= 1, 1 <= width <= period, key lists within "
              "the key pool and [0, Lk))";
      return failure();
    }
  }
  return success();
}


FailureOr<const KernelInfo *>
cpuexec::findKernel(const CpuAttention::Impl &impl, StringRef name,
                    std::string &error) {
  auto it = impl.kernels.find(name);
  if (it == impl.kernels.end()) {
    error = "no compiled kernel named '" + name.str() + "'";
    return failure();
  }
  return &it->second;
}

LogicalResult
cpuexec::checkCall(const CpuAttention::Impl &impl, const KernelInfo &kernel,
                   const CpuAttentionArgs &args, const plan::FlatPlan &plan,
                   const MaskInputs &inputs, CallShape &shape,
                   SmallVectorImpl<StridedMemRefType<int64_t, 1>> &tableDescs,
                   std::string &error) {
  // Shapes: Q fixes B, H, Lq, D; K fixes KV_H and Lk.
  if (args.q.sizes.size() != 4 || args.k.sizes.size() != 4) {
    error = "q and k must have rank 4";
    return failure();
  }
  int64_t batch = args.q.sizes[0], heads = args.q.sizes[1],
          lq = args.q.sizes[2], headDim = args.q.sizes[3];
  int64_t kvHeads = args.k.sizes[1], lk = args.k.sizes[2];
  if (heads != kernel.heads || kvHeads != kernel.kvHeads ||
      headDim != kernel.headDim) {
    error = "kernel '" + kernel.name + "' has heads = " +
            std::to_string(kernel.heads) +
            ", kv_heads = " + std::to_string(kernel.kvHeads) +
            ", head_dim = " + std::to_string(kernel.headDim) +
            "; the tensors have " + std::to_string(heads) + ", " +
            std::to_string(kvHeads) + ", " + std::to_string(headDim);
    return failure();
  }
  if (batch < 1 || lq < 0 || lk < lq) {
    error = "need batch >= 1 and 0 <= Lq <= Lk (got batch = " +
            std::to_string(batch) + ", Lq = " + std::to_string(lq) +
            ", Lk = " + std::to_string(lk) + ")";
    return failure();
  }
  if (failed(checkTensor("q", args.q, {batch, heads, lq, headDim}, error)) ||
      failed(checkTensor("k", args.k, {batch, kvHeads, lk, headDim}, error)) ||
      failed(checkTensor("v", args.v, {batch, kvHeads, lk, headDim}, error)) ||
      failed(checkTensor("o", args.o, {batch, heads, lq, headDim}, error)))
    return failure();
  if (inputs.batch != batch || inputs.lq != lq || inputs.lk != lk) {
    error = "mask inputs describe batch = " + std::to_string(inputs.batch) +
            ", Lq = " + std::to_string(inputs.lq) +
            ", Lk = " + std::to_string(inputs.lk) +
            " but the tensors have " + std::to_string(batch) + ", " +
            std::to_string(lq) + ", " + std::to_string(lk);
    return failure();
  }
  if (failed(checkPlan(plan, batch, heads, lq, lk, impl.options.blockM, error)))
    return failure();

  if (failed(tableDescriptors(kernel, inputs, batch, heads, lk, tableDescs,
                              error)))
    return failure();
  shape = CallShape{batch, heads, kvHeads, lq, lk, headDim};
  return success();

}

PlanDescriptors::PlanDescriptors(const plan::FlatPlan &plan) {
  int64_t numSegments =
      plan.segments.size() / plan::FlatPlan::kSegmentFields;
  segments = descriptor<int64_t, 2>(
      const_cast<int64_t *>(plan.segments.data()),
      {numSegments, plan::FlatPlan::kSegmentFields},
      {plan::FlatPlan::kSegmentFields, 1});
  offsets = descriptor<int64_t, 1>(
      const_cast<int64_t *>(plan.offsets.data()),
      {static_cast<int64_t>(plan.offsets.size())}, {1});
  classes = descriptor<int64_t, 1>(
      const_cast<int64_t *>(plan.classIndex.data()),
      {static_cast<int64_t>(plan.classIndex.size())}, {1});
}

void PlanDescriptors::append(SmallVectorImpl<void *> &pointers) {
  pointers.append({&segments, &offsets, &classes});
}

void cpuexec::invoke(void (*entry)(void **), SmallVectorImpl<void *> &pointers,
                     SmallVectorImpl<StridedMemRefType<int64_t, 1>> &tables,
                     ArrayRef<void *> trailing) {
  // The C interface takes a pointer to each descriptor; the packed wrapper
  // takes a pointer to each of those pointers.
  for (auto &d : tables)
    pointers.push_back(&d);
  pointers.append(trailing.begin(), trailing.end());
  SmallVector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  entry(packed.data());
}
