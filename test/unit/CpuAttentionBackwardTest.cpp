//===- CpuAttentionBackwardTest.cpp - planned gradients vs fp64 -----------===//
//
// The gradients that `@NAME_bwd_cpu` computes over the tile plan (from the
// CPU forward's O and LSE) match the gradients of dense masked attention
// derived in fp64 from the definition: P = softmax(scale Q K^T) over the
// kept keys, dV = P^T dO, dS = P * (dO V^T - rowsum(P * dO V^T)),
// dQ = scale dS K, dK = scale dS^T Q. Relative error of dQ, dK and dV below
// 1e-4; rows without a kept key get zero gradient; padding (NaN) around
// the views is never written. Bands and sinks, strided gathers, a document
// table, block tables and a complement with empty rows, GQA and MQA,
// Lq < Lk, batch 2 with padded strides and several tile sizes.
//
//===----------------------------------------------------------------------===//

#include "PlannedCasesTestSupport.h"

#include <iostream>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::cpu_attention_test;

namespace {

/// Gradients of dense masked attention in fp64, from the definition.
struct ReferenceGrads {
  std::vector<double> dq, dk, dv;
  int64_t emptyRows = 0;
};
ReferenceGrads referenceGradients(const CompiledMask &eval, const MaskInputs &in,
                                  const Shape &s, const Tensor &q,
                                  const Tensor &k, const Tensor &v,
                                  const Tensor &dO) {
  int64_t group = s.heads / s.kvHeads, d = s.headDim;
  ReferenceGrads g;
  g.dq.assign(s.batch * s.heads * s.lq * d, 0.0);
  g.dk.assign(s.batch * s.kvHeads * s.lk * d, 0.0);
  g.dv.assign(s.batch * s.kvHeads * s.lk * d, 0.0);
  std::vector<int64_t> kept;
  std::vector<double> p, dp;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.lq; ++i) {
        int64_t kvh = h / group;
        double mx = keptScores(eval, in, s, q, k, b, h, i, kept, p);
        if (kept.empty()) {
          ++g.emptyRows;
          continue;
        }
        double sum = 0;
        for (double &x : p)
          sum += (x = std::exp(x - mx));
        dp.assign(kept.size(), 0.0);
        double delta = 0;
        for (size_t j = 0; j < kept.size(); ++j) {
          p[j] /= sum;
          for (int64_t x = 0; x < d; ++x)
            dp[j] += double(dO.at({b, h, i, x})) * double(v.at({b, kvh, kept[j], x}));
          delta += p[j] * dp[j];
        }
        for (size_t j = 0; j < kept.size(); ++j) {
          double ds = s.scale * p[j] * (dp[j] - delta);
          int64_t kRow = ((b * s.kvHeads + kvh) * s.lk + kept[j]) * d;
          int64_t qRow = ((b * s.heads + h) * s.lq + i) * d;
          for (int64_t x = 0; x < d; ++x) {
            g.dv[kRow + x] += p[j] * double(dO.at({b, h, i, x}));
            g.dq[qRow + x] += ds * double(k.at({b, kvh, kept[j], x}));
            g.dk[kRow + x] += ds * double(q.at({b, h, i, x}));
          }
        }
      }
  return g;
}

/// ||got - ref|| / ||ref|| over a tensor's view (fp64 reference row-major).
double relativeError(const Tensor &got, const std::vector<double> &ref,
                     int64_t &nans) {
  double err2 = 0, ref2 = 0;
  int64_t n = 0;
  got.forEach([&](llvm::ArrayRef<int64_t> idx) {
    float x = got.at(idx);
    nans += std::isnan(x);
    double r = ref[n++];
    err2 += (x - r) * (x - r);
    ref2 += r * r;
  });
  return ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
}

class CpuAttentionBackward : public PlannedCasesTest {
protected:
  static void SetUpTestSuite() { setUpModule(plannedCasesModule()); }
  static void TearDownTestSuite() { tearDownModule(); }
};

TEST_F(CpuAttentionBackward, MatchesDenseGradientsInFp64) {
  ASSERT_TRUE(module()) << "module failed to parse";
  std::mt19937 rng(4242);
  int64_t emptyRows = 0, gatherTiles = 0, shapes = 0;
  double worstRel = 0;
  forEachPlannedShape(rng, true, [&](const PlannedCase &c, const CompiledMask &eval,
                                     TileSize tiles, const Shape &shape, bool padded,
                                     const CpuAttention &cpu) {
    KernelOp k = kernel(c.name);
    std::string error;
    MaskInputs in = randomPlannedInputs(rng, shape.batch, shape.heads, shape.lq, shape.lk);
    auto planner = TilePlanner::build(k, PlanOptions{tiles[0], tiles[1]});
    ASSERT_TRUE(mlir::succeeded(planner));
    auto plan = planner->plan(in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    gatherTiles += plan->stats().gatherTiles;

    int64_t d = shape.headDim, b = shape.batch, h = shape.heads,
            kvh = shape.kvHeads, lq = shape.lq, lk = shape.lk;
    Tensor q({b, h, lq, d}, padded), kt({b, kvh, lk, d}, padded),
        v({b, kvh, lk, d}, padded), o({b, h, lq, d}, padded),
        lse({b, h, lq}, padded), dO({b, h, lq, d}, padded),
        dQ({b, h, lq, d}, padded), dK({b, kvh, lk, d}, padded),
        dV({b, kvh, lk, d}, padded);
    q.fillRandom(rng, -2, 2);
    kt.fillRandom(rng, -2, 2);
    v.fillRandom(rng, -1, 1);
    dO.fillRandom(rng, -1, 1);
    // Gradients start as NaN inside the views too: the function
    // overwrites them.
    for (Tensor *g : {&dQ, &dK, &dV})
      g->forEach([&](llvm::ArrayRef<int64_t> idx) {
        g->at(idx) = std::numeric_limits<float>::quiet_NaN();
      });
    CpuAttentionArgs fwd{q.view, kt.view, v.view, o.view, lse.view};
    FlatPlan flat = plan->flatten();
    ASSERT_TRUE(mlir::succeeded(cpu.run(c.name, fwd, flat, in, error))) << error;
    CpuAttentionBackwardArgs bwd{fwd, dO.view, dQ.view, dK.view, dV.view};
    ASSERT_TRUE(mlir::succeeded(cpu.runBackward(c.name, bwd, flat, in, error)))
        << error;

    ReferenceGrads ref = referenceGradients(eval, in, shape, q, kt, v, dO);
    emptyRows += ref.emptyRows;
    int64_t nans = 0;
    double relQ = relativeError(dQ, ref.dq, nans);
    double relK = relativeError(dK, ref.dk, nans);
    double relV = relativeError(dV, ref.dv, nans);
    EXPECT_EQ(nans, 0);
    EXPECT_LT(relQ, 1e-4);
    EXPECT_LT(relK, 1e-4);
    EXPECT_LT(relV, 1e-4);
    for (Tensor *g : {&dQ, &dK, &dV})
      EXPECT_EQ(g->clobberedPadding(), 0) << "a gradient written outside its view";
    worstRel = std::max({worstRel, relQ, relK, relV});
    ++shapes;
  });
  EXPECT_GT(emptyRows, 0) << "no row without kept keys was exercised";
  EXPECT_GT(gatherTiles, 0) << "no gathered tile was exercised";
  std::cerr << "[ info ] " << shapes << " shapes; worst relative error of "
            << "dQ, dK, dV " << worstRel << "\n";
}

TEST_F(CpuAttentionBackward, RefusesWhatItCannotRun) {
  ASSERT_TRUE(module());
  std::string error;
  // Compiled without the backward: a clear message, no call.
  mlir::OwningOpRef<mlir::ModuleOp> single =
      mlir::ModuleOp::create(mlir::UnknownLoc::get(context().get()));
  single->push_back(kernel("causal")->clone());
  auto forwardOnly = CpuAttention::compile(*single, CpuAttentionOptions{16, 16, kOptLevel}, error);
  ASSERT_TRUE(mlir::succeeded(forwardOnly)) << error;
  const CpuAttention *cpu = get("causal", {16, 16}, /*backward=*/true, error);
  ASSERT_TRUE(cpu) << error;

  Shape s;
  s.heads = 4;
  s.kvHeads = 2;
  s.lq = s.lk = 20;
  std::mt19937 rng(1);
  MaskInputs in = randomPlannedInputs(rng, 1, 4, 20, 20);
  auto planner = TilePlanner::build(kernel("causal"), PlanOptions{16, 16});
  ASSERT_TRUE(mlir::succeeded(planner));
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan));
  FlatPlan flat = plan->flatten();
  Tensor q({1, 4, 20, 64}, false), k({1, 2, 20, 64}, false), v({1, 2, 20, 64}, false),
      o({1, 4, 20, 64}, false), lse({1, 4, 20}, false), dO({1, 4, 20, 64}, false),
      dQ({1, 4, 20, 64}, false), dK({1, 2, 20, 64}, false), dV({1, 2, 20, 64}, false);
  CpuAttentionBackwardArgs args{{q.view, k.view, v.view, o.view, lse.view},
                                dO.view, dQ.view, dK.view, dV.view};
  EXPECT_TRUE(mlir::failed(forwardOnly->runBackward("causal", args, flat, in, error)));
  EXPECT_NE(error.find("compiled without its backward"), std::string::npos) << error;

  auto expectError = [&](CpuAttentionBackwardArgs a, const char *needle) {
    error.clear();
    EXPECT_TRUE(mlir::failed(cpu->runBackward("causal", a, flat, in, error)));
    EXPECT_NE(error.find(needle), std::string::npos) << error;
  };
  CpuAttentionBackwardArgs noLse = args;
  noLse.forward.lse.data = nullptr;
  expectError(noLse, "lse: null data");
  CpuAttentionBackwardArgs badDk = args;
  badDk.dK.sizes[1] = 4;
  expectError(badDk, "dK: shape");
  CpuAttentionBackwardArgs badDo = args;
  badDo.dO.sizes[2] = 19;
  expectError(badDo, "dO: shape");
  error.clear();
  EXPECT_TRUE(mlir::failed(cpu->runBackward("nope", args, flat, in, error)));
  EXPECT_NE(error.find("no compiled kernel"), std::string::npos) << error;
}

} // namespace
