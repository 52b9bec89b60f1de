//===- CompiledGateTest.cpp - the compiled gate estimator vs the reference ===//
//
// A kernel whose mask is `gate` (SeerAttention's AttnGate) compiles to an
// estimator whose learned weights are a runtime input (abi::kEstimatorParams'
// "weights"). Its CPU lowering (@NAME_estimate_cpu: the GPU's stages as
// loops, with libm's exp, sin, cos and pow as the reference's) must write
// exactly the reference's block probabilities and table
// (lib/Core/Estimators.cpp, estimate::gateScores and estimate::gate), for
// threshold and top_ratio, GQA, Lq < Lk (query blocks without queries),
// padded Q and K, ties (constant inputs), and examples/dynamic.sattn's
// seer_gate; calls without weights, or with weights for an estimator that
// takes none, are refused by name.
//
//===----------------------------------------------------------------------===//

#include "CompiledEstimatorTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Core/Estimators.h"
#include "sattn/Plan/EstimatorSpec.h"

#include <cstring>

using namespace sattn;
using namespace sattn::cpu_attention_test;

namespace {

constexpr const char *kKernels = R"mlir(
sattn.kernel @gate_threshold(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.gate block 16 hidden 8 {threshold = 0.05 : f64}
  sattn.yield %m
}
sattn.kernel @gate_ratio(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.gate block 16 hidden 16 {top_ratio = 0.4 : f64}
  sattn.yield %m
}
sattn.kernel @gate_wide(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.gate block 32 hidden 32 {threshold = 0.02 : f64}
  sattn.yield %m
}
sattn.kernel @topk(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk mean_pool block 16 {top_k = 4 : i64}
  sattn.yield %m
}
)mlir";

/// The kernels above; `launches` >= 0 stops the estimators after that many.
struct Fixture : LoweredKernels {
  explicit Fixture(int64_t launches) : LoweredKernels(kKernels, launches) {}
};

Fixture &tables() {
  static Fixture f(-1);
  return f;
}
/// Stopped after pool, project, logits and score: the probabilities as f64
/// bits.
Fixture &probabilities() {
  static Fixture f(4);
  return f;
}

struct Case {
  std::string kernel;
  int64_t batch, lq, lk;
  bool padded, constant;
};

/// Q, K and the weights of one case, and what the compiled estimator wrote.
struct GateRun {
  Tensor q, k, weights;
  std::vector<int64_t> table;
  plan::EstimatorSpec spec;

  GateRun(const CpuAttention &cpu, KernelOp kernel, const Case &c, std::mt19937 &rng)
      : q({c.batch, int64_t(kernel.getHeads()), c.lq, int64_t(kernel.getHeadDim())}, c.padded),
        k({c.batch, int64_t(kernel.getKvHeads()), c.lk, int64_t(kernel.getHeadDim())},
          c.padded),
        weights({int64_t(kernel.getHeads()), 4 * int64_t(kernel.getHeadDim()), hiddenOf(kernel)},
                false) {
    spec = **plan::readEstimator(kernel);
    if (c.constant) {
      // Every block pools alike: every probability of a row ties.
      q.forEach([&](llvm::ArrayRef<int64_t> idx) { q.at(idx) = 0.5f; });
      k.forEach([&](llvm::ArrayRef<int64_t> idx) { k.at(idx) = 0.5f; });
    } else {
      q.fillRandom(rng, -2, 2);
      k.fillRandom(rng, -2, 2);
    }
    weights.fillRandom(rng, -0.5f, 0.5f);
    std::string error, name;
    auto estimated = cpu.runEstimator(c.kernel, q.view, k.view, name, error, &weights.view);
    EXPECT_TRUE(mlir::succeeded(estimated)) << error;
    if (mlir::succeeded(estimated))
      table = std::move(*estimated);
    EXPECT_EQ(name, spec.table);
  }
  static int64_t hiddenOf(KernelOp kernel) {
    auto spec = plan::readEstimator(kernel);
    return mlir::succeeded(spec) && *spec ? (*spec)->hidden : 0;
  }
  /// Head h's wq and wk.
  estimate::GateWeights headWeights(int64_t h) const {
    int64_t d = q.view.sizes[3], f = spec.hidden;
    const float *wq = weights.view.data + h * 4 * d * f;
    return {wq, wq + d * f};
  }
  estimate::GateParams params() const {
    estimate::GateParams p;
    p.block = spec.block;
    p.hidden = spec.hidden;
    p.threshold = spec.threshold;
    p.topRatio = spec.topRatio;
    p.ropeBase = spec.ropeBase;
    return p;
  }
};

/// The table of every (b, h) equals the reference's; returns the kept blocks.
int64_t checkTable(const CpuAttention &cpu, KernelOp kernel, const Case &c, std::mt19937 &rng) {
  SCOPED_TRACE(c.kernel + " B=" + std::to_string(c.batch) + " Lq=" + std::to_string(c.lq) +
               " Lk=" + std::to_string(c.lk) + (c.padded ? " padded" : "") +
               (c.constant ? " constant" : ""));
  GateRun run(cpu, kernel, c, rng);
  int64_t heads = kernel.getHeads(), group = heads / kernel.getKvHeads();
  int64_t n = (c.lk + run.spec.block - 1) / run.spec.block, kept = 0, mismatches = 0;
  EXPECT_EQ((int64_t)run.table.size(), c.batch * heads * n * n);
  if ((int64_t)run.table.size() != c.batch * heads * n * n)
    return 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      std::string error;
      estimate::BlockSelection ref = estimate::gate(sliceRows(run.q, b, h),
                                                    sliceRows(run.k, b, h / group),
                                                    run.headWeights(h), run.params(), error);
      EXPECT_TRUE(error.empty()) << error;
      for (int64_t i = 0; i < n * n; ++i) {
        int64_t got = run.table[(b * heads + h) * n * n + i];
        kept += got;
        if (got != ref.kept[i] && ++mismatches <= 5)
          ADD_FAILURE() << "b=" << b << " h=" << h << " block (" << i / n << ", " << i % n
                        << "): estimated " << got << ", reference " << int(ref.kept[i]);
      }
    }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(run.q.clobberedPadding() + run.k.clobberedPadding(), 0);
  return kept;
}

TEST(CompiledGate, TablesMatchReference) {
  Fixture &f = tables();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(20261206);
  int64_t kept = 0;
  for (const Case &c : {Case{"gate_threshold", 2, 150, 150, false, false},
                        Case{"gate_threshold", 1, 70, 203, true, false},
                        Case{"gate_threshold", 1, 64, 64, false, true},
                        Case{"gate_ratio", 2, 160, 160, false, false},
                        Case{"gate_ratio", 1, 45, 161, true, false},
                        Case{"gate_ratio", 1, 128, 128, false, true},
                        Case{"gate_wide", 1, 200, 230, false, false}})
    kept += checkTable(*f.cpu, f.kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

// The probabilities themselves, bit for bit: a projection, a rotation or a
// softmax sum taken in another order would round differently and still
// select the same blocks almost always.
TEST(CompiledGate, ProbabilitiesMatchReferenceBitForBit) {
  Fixture &f = probabilities();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(6);
  int64_t compared = 0, mismatches = 0;
  for (const Case &c : {Case{"gate_threshold", 2, 150, 170, true, false},
                        Case{"gate_ratio", 1, 160, 160, false, false},
                        Case{"gate_wide", 1, 200, 230, false, false}}) {
    SCOPED_TRACE(c.kernel);
    KernelOp kernel = f.kernel(c.kernel);
    ASSERT_TRUE(kernel);
    GateRun run(*f.cpu, kernel, c, rng);
    int64_t heads = kernel.getHeads(), group = heads / kernel.getKvHeads();
    int64_t block = run.spec.block, n = (c.lk + block - 1) / block, shift = c.lk - c.lq;
    ASSERT_EQ((int64_t)run.table.size(), c.batch * heads * n * n);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t h = 0; h < heads; ++h) {
        std::string error;
        std::vector<double> ref =
            estimate::gateScores(sliceRows(run.q, b, h), sliceRows(run.k, b, h / group),
                                 run.headWeights(h), run.params(), error);
        ASSERT_TRUE(error.empty()) << error;
        compareBlockBits(run.table, b, h, heads, n, shift / block, ref, compared, mismatches);
      }
  }
  EXPECT_EQ(mismatches, 0);
  std::printf("[ info ] gate probabilities: %lld equal to the reference bit for bit\n",
              (long long)compared);
}

TEST(CompiledGate, ExampleKernelMatchesReference) {
  // examples/dynamic.sattn's seer_gate (28 / 4 heads, head_dim 128, hidden
  // 128, blocks of 64), from the spec file, at a small shape.
  mlir::OwningOpRef<mlir::ModuleOp> single = dynamicExample(*tables().context, "seer_gate");
  ASSERT_TRUE(single) << "no seer_gate in examples/dynamic.sattn";
  std::string error;
  auto cpu = compileForEstimatorTests(*single, error);
  ASSERT_TRUE(mlir::succeeded(cpu)) << error;
  std::mt19937 rng(3);
  int64_t kept = checkTable(*cpu, *single->getOps<KernelOp>().begin(),
                            Case{"seer_gate", 2, 169, 209, true, false}, rng);
  EXPECT_GT(kept, 0);
}

TEST(CompiledGate, RefusesMissingAndUnexpectedWeights) {
  Fixture &f = tables();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(1);
  Tensor q({1, 4, 32, kHeadDim}, false), k({1, 2, 32, kHeadDim}, false);
  q.fillRandom(rng, -1, 1);
  k.fillRandom(rng, -1, 1);
  std::string error, table;
  EXPECT_TRUE(mlir::failed(f.cpu->runEstimator("gate_threshold", q.view, k.view, table, error)));
  EXPECT_NE(error.find("needs its weights"), std::string::npos) << error;
  Tensor weights({4, 4 * kHeadDim, 8}, false);
  weights.fillRandom(rng, -1, 1);
  EXPECT_TRUE(mlir::failed(
      f.cpu->runEstimator("topk", q.view, k.view, table, error, &weights.view)));
  EXPECT_NE(error.find("takes no weights"), std::string::npos) << error;
  Tensor wrong({4, 4 * kHeadDim, 6}, false);
  EXPECT_TRUE(mlir::failed(
      f.cpu->runEstimator("gate_threshold", q.view, k.view, table, error, &wrong.view)));
  EXPECT_NE(error.find("weights"), std::string::npos) << error;
}

} // namespace
