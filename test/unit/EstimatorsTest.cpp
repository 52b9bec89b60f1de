//===- EstimatorsTest.cpp - reference estimators vs the papers' recipes ---===//
//
// The core estimators (sattn/Core/Estimators.h) against an independent
// implementation written here the way the methods' papers and official code
// state them: a dense probability matrix, forced entries raised to +inf
// before one sort (MInference), antidiagonal scores from literally
// concatenated, reversed query vectors (XAttention), cumulative mass over a
// list with the forced blocks placed first. Then the indices are turned
// into the runtime tables of each pattern's table form, and the compiled
// table-form mask keeps exactly the pairs the reference says.
//
//===----------------------------------------------------------------------===//

#include "EstimatorTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/Estimators.h"
#include "sattn/InitAll.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

using namespace sattn;
using namespace sattn::estimate;
using namespace sattn::estimator_test;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double dotRows(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += double(a[i]) * double(b[i]);
  return s;
}

/// Softmax over a row by log-sum-exp.
std::vector<double> softmaxRow(const std::vector<double> &x) {
  double mx = *std::max_element(x.begin(), x.end());
  double lse = 0;
  for (double v : x)
    lse += std::exp(v - mx);
  lse = mx + std::log(lse);
  std::vector<double> p;
  for (double v : x)
    p.push_back(std::exp(v - lse));
  return p;
}

/// MInference's recipe: forced entries set to +inf, then the first `count`
/// of one sort by (score desc, index asc); returned ascending.
std::vector<int64_t> topkForcedInf(std::vector<double> score, int64_t count,
                                   const std::set<int64_t> &forced) {
  std::vector<std::pair<double, int64_t>> ranked;
  for (int64_t i = 0; i < (int64_t)score.size(); ++i)
    ranked.push_back({forced.count(i) ? kInf : score[i], i});
  std::sort(ranked.begin(), ranked.end(), [](auto a, auto b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  std::vector<int64_t> out;
  for (int64_t i = 0; i < std::min<int64_t>(count, ranked.size()); ++i)
    out.push_back(ranked[i].second);
  std::sort(out.begin(), out.end());
  return out;
}

VerticalSlashIndices referenceVerticalSlash(const Slice &q, const Slice &k,
                                            double scale,
                                            const VerticalSlashParams &p) {
  int64_t lq = q.rows, lk = k.rows;
  int64_t n = std::min(p.lastQ, lq);
  // The probability matrix of the last n queries, causal, dense.
  std::vector<std::vector<double>> prob(n, std::vector<double>(lk, 0.0));
  for (int64_t r = 0; r < n; ++r) {
    int64_t row = lq - n + r, pos = row + lk - lq;
    std::vector<double> logits;
    for (int64_t j = 0; j <= pos; ++j)
      logits.push_back(scale * dotRows(q.row(row), k.row(j), q.dim));
    std::vector<double> pr = softmaxRow(logits);
    std::copy(pr.begin(), pr.end(), prob[r].begin());
  }
  std::vector<double> columns(lk, 0.0), diagonals(lk, 0.0);
  for (int64_t j = 0; j < lk; ++j)
    for (int64_t r = 0; r < n; ++r)
      columns[j] += prob[r][j];
  for (int64_t o = 0; o < lk; ++o)
    for (int64_t r = 0; r < n; ++r) {
      int64_t pos = lq - n + r + lk - lq, j = pos - o;
      if (j >= 0)
        diagonals[o] += prob[r][j];
    }
  std::set<int64_t> forcedColumns, forcedOffsets;
  for (int64_t j = 0; j < p.forcedVertical; ++j)
    forcedColumns.insert(j);
  for (int64_t o = 0; o < p.forcedSlash; ++o)
    forcedOffsets.insert(o);
  return {topkForcedInf(columns, p.vertical, forcedColumns),
          topkForcedInf(diagonals, p.slash, forcedOffsets)};
}

/// Block scores per (I, J) of absolute-position blocks, the paper's way.
std::vector<std::vector<double>> referenceBlockScores(const Slice &q,
                                                      const Slice &k,
                                                      double scale,
                                                      const BlockSelectParams &p,
                                                      int64_t blocks) {
  int64_t lq = q.rows, lk = k.rows, shift = lk - lq, d = q.dim;
  std::vector<std::vector<double>> score(blocks, std::vector<double>(blocks, 0.0));
  if (p.scorer == BlockScorer::MeanPool) {
    auto pool = [&](const Slice &s, int64_t offset, int64_t block) {
      std::vector<double> sum(d, 0.0);
      int64_t count = 0;
      for (int64_t a = block * p.block; a < (block + 1) * p.block; ++a)
        if (a - offset >= 0 && a - offset < s.rows) {
          for (int64_t x = 0; x < d; ++x)
            sum[x] += s.row(a - offset)[x];
          ++count;
        }
      for (double &v : sum)
        v = count ? v / count : 0.0;
      return sum;
    };
    for (int64_t i = 0; i < blocks; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        std::vector<double> a = pool(q, shift, i), b = pool(k, 0, j);
        double s = 0;
        for (int64_t x = 0; x < d; ++x)
          s += a[x] * b[x];
        score[i][j] = scale * s;
      }
    return score;
  }
  // Antidiagonal: Q~_p = [q_{pS+S-1}, ..., q_{pS}], K~_r = [k_{rS}, ...,
  // k_{rS+S-1}] as concatenated vectors (zeros outside the sequence).
  int64_t stride = p.stride, groups = (lk + stride - 1) / stride;
  auto concat = [&](const Slice &s, int64_t offset, int64_t group, bool reverse) {
    std::vector<double> v(stride * d, 0.0);
    for (int64_t t = 0; t < stride; ++t) {
      int64_t a = group * stride + (reverse ? stride - 1 - t : t);
      if (a - offset >= 0 && a - offset < s.rows)
        for (int64_t x = 0; x < d; ++x)
          v[t * d + x] = s.row(a - offset)[x];
    }
    return v;
  };
  for (int64_t pg = 0; pg < groups; ++pg) {
    bool hasQuery = false;
    for (int64_t a = pg * stride; a < (pg + 1) * stride; ++a)
      hasQuery |= a >= shift && a < lk;
    if (!hasQuery)
      continue;
    std::vector<double> qt = concat(q, shift, pg, true), logits;
    for (int64_t r = 0; r <= pg; ++r) {
      std::vector<double> kt = concat(k, 0, r, false);
      double s = 0;
      for (size_t x = 0; x < qt.size(); ++x)
        s += qt[x] * kt[x];
      logits.push_back(s * scale / double(stride));
    }
    std::vector<double> pr = softmaxRow(logits);
    for (int64_t r = 0; r <= pg; ++r)
      score[pg * stride / p.block][r * stride / p.block] += pr[r];
  }
  return score;
}

/// Kept blocks (I, J) by the paper's selection: top-k with forced blocks at
/// +inf, or the forced blocks first, then by mass, cut where the cumulative
/// mass first reaches tau.
std::set<std::pair<int64_t, int64_t>>
referenceSelect(const Slice &q, const Slice &k, double scale,
                const BlockSelectParams &p) {
  int64_t lk = k.rows, shift = lk - q.rows;
  int64_t blocks = (lk + p.block - 1) / p.block;
  auto score = referenceBlockScores(q, k, scale, p, blocks);
  std::set<std::pair<int64_t, int64_t>> kept;
  for (int64_t i = shift / p.block; i < blocks; ++i) {
    std::vector<double> row(score[i].begin(), score[i].begin() + i + 1);
    std::set<int64_t> forced{0, i};
    if (p.topK > 0) {
      for (int64_t j : topkForcedInf(row, std::max<int64_t>(p.topK, forced.size()), forced))
        kept.insert({i, j});
      continue;
    }
    std::vector<double> mass = row;
    if (p.scorer == BlockScorer::MeanPool) {
      mass = softmaxRow(row);
    } else {
      double total = 0;
      for (double m : mass)
        total += m;
      for (double &m : mass)
        m /= total;
    }
    std::vector<std::pair<double, int64_t>> order;
    for (int64_t j = 0; j <= i; ++j)
      order.push_back({forced.count(j) ? kInf : mass[j], j});
    std::sort(order.begin(), order.end(), [](auto a, auto b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    double cumulative = 0;
    for (auto [key, j] : order) {
      if (!forced.count(j) && cumulative >= p.tau)
        break;
      kept.insert({i, j});
      cumulative += mass[j];
    }
  }
  return kept;
}

struct ShapeCase {
  int64_t lq, lk, dim;
};

const ShapeCase kShapes[] = {{40, 40, 16}, {29, 53, 8}, {1, 17, 8}, {64, 64, 4}};

TEST(Estimators, VerticalSlashMatchesMInferenceRecipe) {
  std::mt19937 rng(11);
  const VerticalSlashParams params[] = {
      {6, 5, 8, 2, 3}, {1, 1, 64, 0, 0}, {100, 200, 3, 30, 100}, {10, 4, 1, 10, 4}};
  int checked = 0;
  for (const ShapeCase &s : kShapes)
    for (const VerticalSlashParams &p : params) {
      Slice q = randomSlice(rng, s.lq, s.dim, false);
      Slice k = randomSlice(rng, s.lk, s.dim, true);
      double scale = 1.0 / std::sqrt(double(s.dim));
      std::string error;
      VerticalSlashIndices got = verticalSlash(q.view(), k.view(), scale, p, error);
      ASSERT_EQ(error, "");
      VerticalSlashIndices want = referenceVerticalSlash(q, k, scale, p);
      SCOPED_TRACE("lq=" + std::to_string(s.lq) + " lk=" + std::to_string(s.lk) +
                   " vertical=" + std::to_string(p.vertical));
      EXPECT_EQ(got.columns, want.columns);
      EXPECT_EQ(got.offsets, want.offsets);
      EXPECT_EQ((int64_t)got.columns.size(), std::min(p.vertical, s.lk));
      for (int64_t j = 0; j < std::min(p.forcedVertical, s.lk); ++j)
        EXPECT_TRUE(std::binary_search(got.columns.begin(), got.columns.end(), j));
      ++checked;
    }
  EXPECT_EQ(checked, 16);
}

TEST(Estimators, TiesGoToTheLowerIndex) {
  // Identical keys: every column and every reachable offset scores the
  // same, so the lowest indices win (docs/ESTIMATORS.md).
  Slice q{4, 2, std::vector<float>(8, 1.0f)}, k{6, 2, std::vector<float>(12, 1.0f)};
  std::string error;
  VerticalSlashIndices got = verticalSlash(q.view(), k.view(), 1.0, {3, 2, 4, 0, 0}, error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(got.columns, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(got.offsets, (std::vector<int64_t>{0, 1}));
  BlockSelection blocks = selectBlocks(q.view(), k.view(), 1.0,
                                       {BlockScorer::MeanPool, 1, 3, 0, 0}, error);
  ASSERT_EQ(error, "");
  // Query block 5 (the last query): blocks 0 and 5 forced, then block 1.
  EXPECT_TRUE(blocks.at(5, 0) && blocks.at(5, 5) && blocks.at(5, 1));
  EXPECT_FALSE(blocks.at(5, 2) || blocks.at(5, 3) || blocks.at(5, 4));
  // Query blocks 0 and 1 hold no query (lq = 4 < lk = 6).
  EXPECT_FALSE(blocks.at(1, 0) || blocks.at(1, 1));
}

TEST(Estimators, BlockSelectionMatchesPaperRecipes) {
  std::mt19937 rng(12);
  const BlockSelectParams params[] = {
      {BlockScorer::MeanPool, 8, 3, 0, 0},
      {BlockScorer::MeanPool, 5, 0, 0.7, 0},
      {BlockScorer::Antidiagonal, 8, 0, 0.9, 4},
      {BlockScorer::Antidiagonal, 6, 2, 0, 3},
      {BlockScorer::Antidiagonal, 4, 0, 0.5, 1},
  };
  int64_t keptBlocks = 0, allowedBlocks = 0;
  for (const ShapeCase &s : kShapes)
    for (const BlockSelectParams &p : params) {
      Slice q = randomSlice(rng, s.lq, s.dim, true);
      Slice k = randomSlice(rng, s.lk, s.dim, true);
      double scale = 1.0 / std::sqrt(double(s.dim));
      std::string error;
      BlockSelection got = selectBlocks(q.view(), k.view(), scale, p, error);
      ASSERT_EQ(error, "");
      auto want = referenceSelect(q, k, scale, p);
      SCOPED_TRACE("lq=" + std::to_string(s.lq) + " lk=" + std::to_string(s.lk) +
                   " block=" + std::to_string(p.block));
      for (int64_t i = 0; i < got.blocks; ++i)
        for (int64_t j = 0; j < got.blocks; ++j) {
          EXPECT_EQ(got.at(i, j), want.count({i, j}) == 1) << "block " << i << ", " << j;
          keptBlocks += got.at(i, j);
          allowedBlocks += j <= i && (i + 1) * p.block > s.lk - s.lq;
        }
    }
  // The selections are neither empty nor everything.
  EXPECT_GT(keptBlocks, 0);
  EXPECT_LT(keptBlocks, allowedBlocks);
}

TEST(Estimators, RejectsBadInputsWithMessages) {
  Slice q{4, 2, std::vector<float>(8, 1.0f)}, k{3, 2, std::vector<float>(6, 1.0f)};
  std::string error;
  verticalSlash(q.view(), k.view(), 1.0, {1, 1, 1, 0, 0}, error);
  EXPECT_EQ(error, "need 1 <= lq <= lk");
  verticalSlash(k.view(), q.view(), 1.0, {1, 1, 1, 2, 0}, error);
  EXPECT_NE(error.find("forced"), std::string::npos) << error;
  selectBlocks(k.view(), q.view(), 1.0, {BlockScorer::MeanPool, 2, 1, 0.5, 0}, error);
  EXPECT_EQ(error, "give exactly one of top_k and tau");
  selectBlocks(k.view(), q.view(), 1.0, {BlockScorer::Antidiagonal, 6, 1, 0, 4}, error);
  EXPECT_EQ(error, "the antidiagonal scorer needs a stride that divides block");
  selectBlocks(k.view(), q.view(), 1.0, {BlockScorer::MeanPool, 2, 1, 0, 3}, error);
  EXPECT_EQ(error, "the mean_pool scorer takes no stride");
  // A block table too large to hold is refused before anything is allocated.
  Slice longK{20000, 1, std::vector<float>(20000, 1.0f)};
  Slice oneQ{1, 1, std::vector<float>(1, 1.0f)};
  selectBlocks(oneQ.view(), longK.view(), 1.0, {BlockScorer::MeanPool, 2, 1, 0, 0}, error);
  EXPECT_NE(error.find("more than 8192 blocks per side"), std::string::npos) << error;
}

// The gate's fixed rules (its scores are checked against NumPy in
// test/Runtime/check_estimators.py): block 0, the diagonal and the whole last
// row are kept whatever the weights; a ratio of 1 keeps every causal block;
// probabilities of a row sum to 1; bad parameters are refused with a message.
TEST(Estimators, GateKeepsForcedBlocksAndRefusesBadParameters) {
  std::mt19937 rng(21);
  int64_t lq = 50, lk = 70, dim = 8, hidden = 6, block = 8, n = (lk + block - 1) / block;
  Slice q = randomSlice(rng, lq, dim, true), k = randomSlice(rng, lk, dim, true);
  Slice wq = randomSlice(rng, dim, hidden, false), wk = randomSlice(rng, 3 * dim, hidden, false);
  GateWeights w{wq.data.data(), wk.data.data()};
  std::string error;
  GateParams strict{block, hidden, 0.5, 0, 10000};
  BlockSelection kept = gate(q.view(), k.view(), w, strict, error);
  ASSERT_EQ(error, "");
  std::vector<double> strictProbs = gateScores(q.view(), k.view(), w, strict, error);
  int64_t first = (lk - lq) / block, forcedOnly = 0; // first: the first block with a query
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      bool forced = j == 0 || j == i || i == n - 1;
      bool expected = i >= first && j <= i && (forced || strictProbs[i * n + j] > 0.5);
      EXPECT_EQ(kept.at(i, j), expected) << "block " << i << ", " << j;
      forcedOnly += i >= first && j <= i && !forced && !kept.at(i, j);
    }
  EXPECT_GT(forcedOnly, 0) << "a threshold of 0.5 drops some blocks";
  GateParams all{block, hidden, 0, 1.0, 10000};
  kept = gate(q.view(), k.view(), w, all, error);
  ASSERT_EQ(error, "");
  for (int64_t i = first; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_EQ(kept.at(i, j), j <= i) << "block " << i << ", " << j;
  std::vector<double> probs = gateScores(q.view(), k.view(), w, all, error);
  for (int64_t i = first; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j)
      sum += probs[i * n + j];
    EXPECT_NEAR(sum, 1.0, 1e-12) << "row " << i;
  }
  gate(q.view(), k.view(), w, {block, hidden, 0.1, 0.5, 10000}, error);
  EXPECT_EQ(error, "give exactly one of threshold and top_ratio");
  gate(q.view(), k.view(), w, {block, 5, 0.1, 0, 10000}, error);
  EXPECT_NE(error.find("must be even and at least 2"), std::string::npos) << error;
  gate(q.view(), k.view(), w, {block, hidden, 1.5, 0, 10000}, error);
  EXPECT_EQ(error, "threshold must be in (0, 1) and top_ratio in (0, 1]");
  gate(q.view(), k.view(), w, {block, hidden, 0.1, 0, 1.0}, error);
  EXPECT_EQ(error, "the RoPE base must be above 1");
  gate(q.view(), k.view(), GateWeights{nullptr, wk.data.data()}, strict, error);
  EXPECT_EQ(error, "the gate's weights must not be null");
}

/// The estimator's indices as the tables of the pattern's table form: the
/// compiled table-form masks keep exactly the reference's pairs.
TEST(Estimators, IndicesAreTheTablesOfTheTableForms) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  const char *kernelText =
      "sattn.kernel @vs(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {\n"
      "  mask.table @vcol : i1 [\"h\", \"k\"]\n"
      "  mask.table @slash : i1 [\"h\", \"k\"]\n"
      "  %c = mask.causal\n"
      "  %p = mask.predicate(%b, %h, %q, %k) {\n"
      "    %v = mask.lookup @vcol[%h, %k] : i1\n"
      "    %d = arith.subi %q, %k : index\n"
      "    %s = mask.lookup @slash[%h, %d] : i1\n"
      "    %y = arith.ori %v, %s : i1\n"
      "    mask.yield %y\n"
      "  }\n"
      "  %m = mask.intersect %c, %p\n"
      "  sattn.yield %m\n"
      "}\n"
      "sattn.kernel @blocks(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {\n"
      "  mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n"
      "  %c = mask.causal\n"
      "  %b = mask.block_table @keep block 8\n"
      "  %m = mask.intersect %c, %b\n"
      "  sattn.yield %m\n"
      "}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kernelText, &context);
  ASSERT_TRUE(module);
  auto kernels = module->getOps<KernelOp>();
  auto vs = CompiledMask::compile(*kernels.begin());
  auto bt = CompiledMask::compile(*std::next(kernels.begin()));
  ASSERT_TRUE(mlir::succeeded(vs) && mlir::succeeded(bt));

  std::mt19937 rng(13);
  int64_t lq = 37, lk = 45, d = 8;
  Slice q = randomSlice(rng, lq, d, false), k = randomSlice(rng, lk, d, true);
  double scale = 0.3;
  std::string error;
  VerticalSlashParams vsParams{7, 6, 9, 2, 2};
  VerticalSlashIndices idx = verticalSlash(q.view(), k.view(), scale, vsParams, error);
  BlockSelectParams blockParams{BlockScorer::Antidiagonal, 8, 0, 0.8, 4};
  BlockSelection sel = selectBlocks(q.view(), k.view(), scale, blockParams, error);
  ASSERT_EQ(error, "");

  MaskInputs vsIn, btIn;
  vsIn.lq = btIn.lq = lq;
  vsIn.lk = btIn.lk = lk;
  TableData vcol{{1, lk}, std::vector<int64_t>(lk, 0)};
  TableData slash{{1, lk}, std::vector<int64_t>(lk, 0)};
  for (int64_t j : idx.columns)
    vcol.values[j] = 1;
  for (int64_t o : idx.offsets)
    slash.values[o] = 1;
  vsIn.tables["vcol"] = vcol;
  vsIn.tables["slash"] = slash;
  btIn.tables["keep"] = TableData{{1, sel.blocks, sel.blocks},
                                  std::vector<int64_t>(sel.kept.begin(), sel.kept.end())};

  VerticalSlashIndices wantIdx = referenceVerticalSlash(q, k, scale, vsParams);
  auto wantBlocks = referenceSelect(q, k, scale, blockParams);
  std::set<int64_t> columns(wantIdx.columns.begin(), wantIdx.columns.end());
  std::set<int64_t> offsets(wantIdx.offsets.begin(), wantIdx.offsets.end());
  int64_t keptVs = 0, keptBt = 0;
  for (int64_t i = 0; i < lq; ++i) {
    int64_t pos = i + lk - lq;
    for (int64_t j = 0; j < lk; ++j) {
      bool wantVs = j <= pos && (columns.count(j) || offsets.count(pos - j));
      bool wantBt = j <= pos && wantBlocks.count({pos / 8, j / 8});
      ASSERT_EQ(vs->keep(vsIn, 0, 0, pos, j), wantVs) << pos << ", " << j;
      ASSERT_EQ(bt->keep(btIn, 0, 0, pos, j), wantBt) << pos << ", " << j;
      keptVs += wantVs;
      keptBt += wantBt;
    }
  }
  EXPECT_GT(keptVs, 0);
  EXPECT_GT(keptBt, 0);
}

} // namespace
