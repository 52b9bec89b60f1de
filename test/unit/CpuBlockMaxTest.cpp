//===- CpuBlockMaxTest.cpp - block maxima of planned attention vs fp64 ----===//
//
// A kernel compiled with `block_max` writes, next to O, the largest
// attention probability P[i, j] = exp(s_ij - LSE_i) of every (query tile,
// KV tile): the training target of a learned block gate. `@NAME_cpu`
// computes it the way the GPU kernel does (per-row tile maxima during the
// pass, the rows' LSE at the end); this test compares it with the maxima
// of P computed in fp64 from the definition, and checks that tiles without
// a kept pair hold exactly 0, that O is still right, and that every entry
// of block_max is written (it starts as NaN). Bands and sinks, a strided
// pattern (planned Range-only: a block is a KV tile), a document table,
// block tables, a complement with empty rows, GQA and MQA, Lq < Lk, batch
// 2, padded strides and several tile shapes.
//
//===----------------------------------------------------------------------===//

#include "PlannedCasesTestSupport.h"

#include <iostream>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::cpu_attention_test;

namespace {

std::string moduleText() {
  // The same causal kernel without block_max, for the argument checks.
  return plannedCasesModule("return_lse block_max") +
         "sattn.kernel @plain(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, "
         "scale = 0.125) {\n%m = mask.causal\nsattn.yield %m\n}\n";
}

/// max over the kept pairs (i, j) of query tile m and KV tile n of
/// exp(s_ij - LSE_i), in fp64 from the definition; -1 where the tile keeps
/// no pair. Indexed [((b * H + h) * T + m) * N + n].
std::vector<double> referenceBlockMax(const CompiledMask &eval, const MaskInputs &in,
                                      const Shape &s, const Tensor &q, const Tensor &k,
                                      TileSize tiles) {
  int64_t queryTiles = (s.lq + tiles[0] - 1) / tiles[0];
  int64_t kvTiles = (s.lk + tiles[1] - 1) / tiles[1];
  std::vector<double> best(s.batch * s.heads * queryTiles * kvTiles, -1.0);
  std::vector<int64_t> kept;
  std::vector<double> scores;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.lq; ++i) {
        double mx = keptScores(eval, in, s, q, k, b, h, i, kept, scores);
        double sum = 0;
        for (double x : scores)
          sum += std::exp(x - mx);
        double lse = mx + std::log(sum);
        for (size_t j = 0; j < kept.size(); ++j) {
          double &entry =
              best[((b * s.heads + h) * queryTiles + i / tiles[0]) * kvTiles + kept[j] / tiles[1]];
          entry = std::max(entry, std::exp(scores[j] - lse));
        }
      }
  return best;
}

class CpuBlockMax : public PlannedCasesTest {
protected:
  static void SetUpTestSuite() { setUpModule(moduleText()); }
  static void TearDownTestSuite() { tearDownModule(); }
};

TEST_F(CpuBlockMax, MatchesDenseProbabilityMaximaInFp64) {
  ASSERT_TRUE(module()) << "module failed to parse";
  std::mt19937 rng(20261207);
  int64_t keptTiles = 0, emptyTiles = 0, emptyRows = 0;
  double worstRel = 0;
  forEachPlannedShape(rng, false, [&](const PlannedCase &c, const CompiledMask &eval,
                                     TileSize tiles, const Shape &shape, bool padded,
                                     const CpuAttention &cpu) {
    KernelOp k = kernel(c.name);
    std::string error;
    MaskInputs in = randomPlannedInputs(rng, shape.batch, shape.heads, shape.lq, shape.lk);
    // Range-only plans, as the manifest of a block_max kernel says.
    auto planner = TilePlanner::build(k, PlanOptions{tiles[0], tiles[1], /*gathers=*/false});
    ASSERT_TRUE(mlir::succeeded(planner));
    auto plan = planner->plan(in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;

    int64_t d = shape.headDim, b = shape.batch, h = shape.heads, kvh = shape.kvHeads,
            lq = shape.lq, lk = shape.lk;
    int64_t queryTiles = plan->numQueryTiles, kvTiles = (lk + tiles[1] - 1) / tiles[1];
    Tensor q({b, h, lq, d}, padded), kt({b, kvh, lk, d}, padded), v({b, kvh, lk, d}, padded),
        o({b, h, lq, d}, padded), lse({b, h, lq}, padded), rowMax({b, h, kvTiles, lq}, padded),
        blockMax({b, h, queryTiles, kvTiles}, padded);
    // Scores spread wide enough that block maxima range over decades.
    q.fillRandom(rng, -3, 3);
    kt.fillRandom(rng, -3, 3);
    v.fillRandom(rng, -1, 1);
    blockMax.forEach([&](llvm::ArrayRef<int64_t> idx) {
      blockMax.at(idx) = std::numeric_limits<float>::quiet_NaN();
    });
    CpuAttentionArgs args{q.view, kt.view, v.view, o.view, lse.view, rowMax.view,
                          blockMax.view};
    ASSERT_TRUE(mlir::succeeded(cpu.run(c.name, args, *plan, in, error))) << error;

    std::vector<double> ref = referenceBlockMax(eval, in, shape, q, kt, tiles);
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t m = 0; m < queryTiles; ++m)
          for (int64_t n = 0; n < kvTiles; ++n) {
            float got = blockMax.at({bi, hi, m, n});
            double want = ref[((bi * h + hi) * queryTiles + m) * kvTiles + n];
            if (want < 0) {
              ++emptyTiles;
              EXPECT_EQ(got, 0.0f) << "tile without a kept pair: b=" << bi << " h=" << hi
                                   << " m=" << m << " n=" << n;
              continue;
            }
            ++keptTiles;
            double rel = std::abs(got - want) / want;
            worstRel = std::max(worstRel, rel);
            EXPECT_LT(rel, 1e-5) << "b=" << bi << " h=" << hi << " m=" << m << " n=" << n
                                 << ": " << got << " vs " << want;
          }
    EXPECT_EQ(blockMax.clobberedPadding(), 0) << "block_max written outside its view";
    EXPECT_EQ(rowMax.clobberedPadding(), 0) << "row_max written outside its view";

    // O is the same attention as without block maxima.
    std::vector<double> refO, refLse;
    referenceAttention(eval, in, shape, q, kt, v, refO, refLse);
    double err2 = 0, ref2 = 0;
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t i = 0; i < lq; ++i) {
          int64_t row = (bi * h + hi) * lq + i;
          emptyRows += std::isinf(refLse[row]);
          for (int64_t x = 0; x < d; ++x) {
            double diff = o.at({bi, hi, i, x}) - refO[row * d + x];
            err2 += diff * diff;
            ref2 += refO[row * d + x] * refO[row * d + x];
          }
        }
    EXPECT_LT(std::sqrt(err2 / std::max(ref2, 1e-300)), 1e-5);
  });
  // The shapes covered tiles with and without kept pairs, and empty rows.
  EXPECT_GT(keptTiles, 500);
  EXPECT_GT(emptyTiles, 100);
  EXPECT_GT(emptyRows, 0);
  std::cout << "block maxima: " << keptTiles << " kept tiles, " << emptyTiles
            << " without a kept pair, worst relative error " << worstRel << "\n";
}

TEST_F(CpuBlockMax, OutputsAreCheckedAgainstTheKernel) {
  ASSERT_TRUE(module()) << "module failed to parse";
  std::string error;
  TileSize tiles = {16, 16};
  std::mt19937 rng(7);
  MaskInputs in = randomPlannedInputs(rng, 1, 4, 40, 40);
  Shape shape;
  shape.heads = 4;
  shape.kvHeads = 2;
  shape.lq = shape.lk = 40;
  int64_t d = shape.headDim;
  Tensor q({1, 4, 40, d}, false), k({1, 2, 40, d}, false), v({1, 2, 40, d}, false),
      o({1, 4, 40, d}, false), lse({1, 4, 40}, false), rowMax({1, 4, 3, 40}, false),
      blockMax({1, 4, 3, 3}, false), wrong({1, 4, 3, 2}, false);
  for (Tensor *t : {&q, &k, &v})
    t->forEach([&](llvm::ArrayRef<int64_t> idx) { t->at(idx) = 0.5f; });

  const CpuAttention *withMax = get("causal", tiles, /*backward=*/false, error);
  ASSERT_TRUE(withMax) << error;
  auto planner = TilePlanner::build(kernel("causal"), PlanOptions{16, 16, false});
  ASSERT_TRUE(mlir::succeeded(planner));
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  // A block_max kernel needs both outputs, in their shapes.
  CpuAttentionArgs missing{q.view, k.view, v.view, o.view, lse.view};
  EXPECT_TRUE(mlir::failed(withMax->run("causal", missing, *plan, in, error)));
  EXPECT_NE(error.find("row_max"), std::string::npos) << error;
  CpuAttentionArgs badShape{q.view, k.view, v.view, o.view, lse.view, rowMax.view, wrong.view};
  EXPECT_TRUE(mlir::failed(withMax->run("causal", badShape, *plan, in, error)));
  EXPECT_NE(error.find("block_max"), std::string::npos) << error;
  CpuAttentionArgs good{q.view, k.view, v.view, o.view, lse.view, rowMax.view, blockMax.view};
  EXPECT_TRUE(mlir::succeeded(withMax->run("causal", good, *plan, in, error))) << error;
  // Equal keys and queries: row i's probabilities are 1 / (i + 1), so the
  // maximum of a tile on or below the diagonal is that of its first row.
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 3; ++n) {
      double want = n > m ? 0.0 : 1.0 / double(16 * m + 1);
      EXPECT_NEAR(blockMax.at({0, 1, m, n}), want, 1e-6 * want) << "m=" << m << " n=" << n;
    }

  // A kernel without block_max refuses them.
  const CpuAttention *plain = get("plain", tiles, /*backward=*/false, error);
  ASSERT_TRUE(plain) << error;
  auto plainPlanner = TilePlanner::build(kernel("plain"), PlanOptions{16, 16});
  ASSERT_TRUE(mlir::succeeded(plainPlanner));
  auto plainPlan = plainPlanner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plainPlan)) << error;
  EXPECT_TRUE(mlir::failed(plain->run("plain", good, *plainPlan, in, error)));
  EXPECT_NE(error.find("without block_max"), std::string::npos) << error;
}

} // namespace
