//===- CpuAttentionTestSupport.h - helpers of the CPU attention tests -*- C++ -*-===//
//
// Strided tensors padded with NaN, the dense fp64 reference attention and
// the one-shape check (planned CPU attention against the reference) that
// CpuAttentionTest.cpp (every pattern on random shapes, argument checks)
// and CpuAttentionExamplesTest.cpp (every static example kernel) share.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_CPUATTENTIONTESTSUPPORT_H
#define SATTN_TEST_UNIT_CPUATTENTIONTESTSUPPORT_H

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/ExecutionEngine/CpuAttention.h"
#include "sattn/Plan/TilePlanner.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace sattn::cpu_attention_test {

using namespace sattn::plan;


constexpr int64_t kHeadDim = 64;
constexpr double kScale = 0.125;
/// LLVM optimisation level of the JIT'd kernels: O2 costs ~0.05 s more per
/// compile than O0 and runs the shapes here about as much faster.
constexpr unsigned kOptLevel = 2;

/// A tensor in a buffer, optionally with padding after every dimension.
/// Padding holds NaN: reading it poisons the output, writing it is caught.
struct Tensor {
  std::vector<float> storage;
  CpuTensor view;

  Tensor(llvm::ArrayRef<int64_t> sizes, bool padded) {
    view.sizes.assign(sizes.begin(), sizes.end());
    view.strides.resize(sizes.size());
    int64_t stride = 1;
    for (int64_t i = sizes.size() - 1; i >= 0; --i) {
      view.strides[i] = stride;
      stride *= sizes[i] + (padded ? (i == (int64_t)sizes.size() - 1 ? 3 : 1) : 0);
    }
    storage.assign(std::max<int64_t>(stride, 1),
                   std::numeric_limits<float>::quiet_NaN());
    view.data = storage.data();
  }
  int64_t index(llvm::ArrayRef<int64_t> idx) const {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i)
      off += idx[i] * view.strides[i];
    return off;
  }
  float &at(llvm::ArrayRef<int64_t> idx) { return storage[index(idx)]; }
  float at(llvm::ArrayRef<int64_t> idx) const { return storage[index(idx)]; }
  /// Uniform in [lo, hi) from 24 random bits (std::uniform_real_distribution
  /// computes a long-double logarithm per draw, which dominated the test).
  void fillRandom(std::mt19937 &rng, float lo, float hi) {
    forEach([&](llvm::ArrayRef<int64_t> idx) {
      at(idx) = lo + (hi - lo) * static_cast<float>(rng() >> 8) * 0x1p-24f;
    });
  }
  void forEach(llvm::function_ref<void(llvm::ArrayRef<int64_t>)> fn) const {
    llvm::SmallVector<int64_t, 4> idx(view.sizes.size(), 0);
    int64_t total = 1;
    for (int64_t s : view.sizes)
      total *= s;
    for (int64_t n = 0; n < total; ++n) {
      fn(idx);
      for (int64_t d = idx.size() - 1; d >= 0; --d) {
        if (++idx[d] < view.sizes[d])
          break;
        idx[d] = 0;
      }
    }
  }
  /// Number of padding elements that are no longer NaN.
  int64_t clobberedPadding() const {
    std::vector<bool> inside(storage.size(), false);
    forEach([&](llvm::ArrayRef<int64_t> idx) { inside[index(idx)] = true; });
    int64_t n = 0;
    for (size_t i = 0; i < storage.size(); ++i)
      n += !inside[i] && !std::isnan(storage[i]);
    return n;
  }
};

struct Shape {
  int64_t batch = 1, heads = 1, kvHeads = 1, lq = 0, lk = 0;
  int64_t headDim = kHeadDim;
  double scale = kScale;
};

/// Random Q, K, V (in that order from `rng`) and the O and LSE of a problem
/// of `shape`; not copyable (the views point into the tensors).
struct AttentionTensors {
  Tensor q, k, v, o, lse;
  AttentionTensors(const Shape &shape, bool padded, std::mt19937 &rng)
      : q({shape.batch, shape.heads, shape.lq, shape.headDim}, padded),
        k({shape.batch, shape.kvHeads, shape.lk, shape.headDim}, padded),
        v({shape.batch, shape.kvHeads, shape.lk, shape.headDim}, padded),
        o({shape.batch, shape.heads, shape.lq, shape.headDim}, padded),
        lse({shape.batch, shape.heads, shape.lq}, padded) {
    q.fillRandom(rng, -2, 2);
    k.fillRandom(rng, -2, 2);
    v.fillRandom(rng, -1, 1);
  }
  AttentionTensors(const AttentionTensors &) = delete;
  AttentionTensors &operator=(const AttentionTensors &) = delete;
  CpuAttentionArgs args() const { return {q.view, k.view, v.view, o.view, lse.view}; }
};

/// The shape of `kernel`'s problem of `batch` x `lq` queries x `lk` keys:
/// its heads, head dimension and scale.
inline Shape shapeOf(KernelOp kernel, int64_t batch, int64_t lq, int64_t lk) {
  Shape s;
  s.batch = batch;
  s.heads = kernel.getHeads();
  s.kvHeads = kernel.getKvHeads();
  s.lq = lq;
  s.lk = lk;
  s.headDim = kernel.getHeadDim();
  s.scale = kernel.getScale().convertToDouble();
  return s;
}

/// Document ids of a (batch, Lk) table: a new document after about one key
/// in 23.
inline TableData randomDocuments(std::mt19937 &rng, int64_t batch, int64_t lk) {
  TableData doc{{batch, lk}, std::vector<int64_t>(batch * lk)};
  for (int64_t b = 0; b < batch; ++b) {
    int64_t id = 0;
    for (int64_t k = 0; k < lk; ++k) {
      if (rng() % 23 == 0)
        ++id;
      doc.values[b * lk + k] = id;
    }
  }
  return doc;
}

/// A (heads, ceil(Lk / 8), ceil(Lk / 8)) block table keeping about a
/// quarter of the blocks.
inline TableData randomBlockKeep(std::mt19937 &rng, int64_t heads, int64_t lk) {
  int64_t nb = (lk + 7) / 8;
  TableData keep{{heads, nb, nb}, std::vector<int64_t>(heads * nb * nb)};
  for (auto &v : keep.values)
    v = rng() % 4 == 0;
  return keep;
}

/// The keys query row i of (b, h) keeps, in order, with their scores
/// scale * q . k in fp64; returns the largest score (-inf when none).
inline double keptScores(const CompiledMask &eval, const MaskInputs &in,
                         const Shape &s, const Tensor &q, const Tensor &k,
                         int64_t b, int64_t h, int64_t i,
                         std::vector<int64_t> &kept,
                         std::vector<double> &scores) {
  int64_t qPos = i + s.lk - s.lq, kvh = h / (s.heads / s.kvHeads);
  kept.clear();
  scores.clear();
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t key = 0; key < s.lk; ++key) {
    if (!eval.keep(in, b, h, qPos, key))
      continue;
    double dot = 0;
    for (int64_t x = 0; x < s.headDim; ++x)
      dot += double(q.at({b, h, i, x})) * double(k.at({b, kvh, key, x}));
    kept.push_back(key);
    scores.push_back(s.scale * dot);
    mx = std::max(mx, scores.back());
  }
  return mx;
}

/// Dense masked attention in fp64: the definition, no tiling.
inline void referenceAttention(const CompiledMask &eval, const MaskInputs &in,
                        const Shape &s, const Tensor &q, const Tensor &k,
                        const Tensor &v, std::vector<double> &o,
                        std::vector<double> &lse) {
  int64_t group = s.heads / s.kvHeads, d = s.headDim;
  o.assign(s.batch * s.heads * s.lq * d, 0.0);
  lse.assign(s.batch * s.heads * s.lq, -std::numeric_limits<double>::infinity());
  std::vector<double> scores;
  std::vector<int64_t> kept;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.lq; ++i) {
        int64_t kvh = h / group;
        double mx = keptScores(eval, in, s, q, k, b, h, i, kept, scores);
        if (kept.empty())
          continue;
        double sum = 0;
        double *row = &o[((b * s.heads + h) * s.lq + i) * d];
        for (size_t j = 0; j < kept.size(); ++j) {
          double p = std::exp(scores[j] - mx);
          sum += p;
          for (int64_t x = 0; x < d; ++x)
            row[x] += p * double(v.at({b, kvh, kept[j], x}));
        }
        for (int64_t x = 0; x < d; ++x)
          row[x] /= sum;
        lse[(b * s.heads + h) * s.lq + i] = mx + std::log(sum);
      }
}

struct Worst {
  double rel = 0, lse = 0;
};
inline Worst &worst() {
  static Worst w;
  return w;
}

/// What the random shapes exercised.
struct Coverage {
  int64_t emptyRows = 0, gatherTiles = 0, fullTiles = 0, partialTiles = 0;
  int64_t listSegments = 0, bandSegments = 0;
};

using TileSize = std::array<int64_t, 2>;

/// Plans, runs and checks kernel `name` on one shape against the fp64
/// reference: relative error of O and LSE below 1e-5, exact -inf LSE and
/// zero output on rows without kept keys, no NaN, nothing written outside
/// the (possibly padded) views.
inline void checkOneShape(const CpuAttention &cpu, KernelOp kernel,
                   const CompiledMask &eval, const Shape &shape,
                   TileSize tiles, const MaskInputs &in, bool padded,
                   std::mt19937 &rng, Coverage &counts) {
  std::string name = kernel.getSymName().str();
  SCOPED_TRACE(name + " B=" + std::to_string(shape.batch) +
               " Lq=" + std::to_string(shape.lq) +
               " Lk=" + std::to_string(shape.lk) + " BM=" +
               std::to_string(tiles[0]) + " BN=" + std::to_string(tiles[1]) +
               (padded ? " padded" : ""));
  auto planner = TilePlanner::build(kernel, PlanOptions{tiles[0], tiles[1]});
  ASSERT_TRUE(mlir::succeeded(planner));
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  PlanStats stats = plan->stats();
  counts.gatherTiles += stats.gatherTiles;
  counts.fullTiles += stats.fullTiles;
  counts.partialTiles += stats.partialTiles;
  for (int64_t b = 0; b < shape.batch; ++b)
    for (int64_t h = 0; h < shape.heads; ++h)
      for (int64_t m = 0; m < plan->numQueryTiles; ++m)
        for (const Segment &seg : plan->segments(b, h, m)) {
          counts.listSegments += seg.kind == Segment::List;
          counts.bandSegments += seg.kind == Segment::Gather && seg.period == 1;
        }

  int64_t d = shape.headDim;
  AttentionTensors tensors(shape, padded, rng);
  const Tensor &q = tensors.q, &k = tensors.k, &v = tensors.v, &o = tensors.o,
               &lse = tensors.lse;
  ASSERT_TRUE(mlir::succeeded(cpu.run(name, tensors.args(), *plan, in, error)))
      << error;

  std::vector<double> refO, refLse;
  referenceAttention(eval, in, shape, q, k, v, refO, refLse);

  double err2 = 0, ref2 = 0, lseErr = 0;
  int64_t nans = 0;
  for (int64_t b = 0; b < shape.batch; ++b)
    for (int64_t h = 0; h < shape.heads; ++h)
      for (int64_t i = 0; i < shape.lq; ++i) {
        int64_t row = (b * shape.heads + h) * shape.lq + i;
        float gotLse = lse.at({b, h, i});
        nans += std::isnan(gotLse);
        bool empty = std::isinf(refLse[row]);
        if (empty) {
          ++counts.emptyRows;
          EXPECT_TRUE(std::isinf(gotLse) && gotLse < 0)
              << "row without kept keys has LSE " << gotLse << " (b=" << b
              << " h=" << h << " i=" << i << ")";
        } else {
          double e = std::abs(gotLse - refLse[row]) /
                     std::max(1.0, std::abs(refLse[row]));
          lseErr = std::max(lseErr, e);
        }
        for (int64_t x = 0; x < d; ++x) {
          float got = o.at({b, h, i, x});
          nans += std::isnan(got);
          double ref = refO[row * d + x];
          if (empty)
            EXPECT_EQ(got, 0.0f) << "row without kept keys, b=" << b
                                 << " h=" << h << " i=" << i;
          err2 += (got - ref) * (got - ref);
          ref2 += ref * ref;
        }
      }
  EXPECT_EQ(nans, 0);
  double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  EXPECT_LT(rel, 1e-5);
  EXPECT_LT(lseErr, 1e-5);
  EXPECT_EQ(o.clobberedPadding(), 0) << "O written outside its view";
  EXPECT_EQ(lse.clobberedPadding(), 0) << "LSE written outside its view";
  worst().rel = std::max(worst().rel, rel);
  worst().lse = std::max(worst().lse, lseErr);
}

/// `kernel` compiled alone for the CPU with its device plan builder, for
/// tiles bm x bn. With `lists`, plans list the key columns of a column
/// term; without, they are Range-only, comparable with the host planner's.
inline mlir::FailureOr<CpuAttention> compileWithPlans(KernelOp kernel, int64_t bm, int64_t bn,
                                                      bool lists = false) {
  mlir::OwningOpRef<mlir::ModuleOp> single = mlir::ModuleOp::create(kernel.getLoc());
  single->push_back(kernel->clone());
  std::string error;
  CpuAttentionOptions options;
  options.blockM = bm;
  options.blockN = bn;
  options.optLevel = 0;
  options.devicePlans = true;
  options.devicePlanLists = lists;
  auto cpu = CpuAttention::compile(*single, options, error);
  EXPECT_TRUE(mlir::succeeded(cpu)) << error;
  return cpu;
}

} // namespace sattn::cpu_attention_test

#endif // SATTN_TEST_UNIT_CPUATTENTIONTESTSUPPORT_H
