//===- CompiledTensorLogitsTest.cpp - the tensor-core form of estimators --===//
//
// GPU builds compute the estimators' logits of query rows on tensor cores
// by default (docs/ESTIMATORS.md, "Exact and tensor-core logits"): f32 sums
// of exact products, handed to the stage's f64 code through its tile
// buffer. The CPU lowering builds the same form on request
// (convert-sattn-to-cpu{tensor-estimators}: the f32 sums as loops), so the
// form's stage code — rows kept in the input type after the keys, the
// hand-over, tiles of few rows falling back to f64 — runs in CI:
//   - its scores (the estimators stopped before the selection: vertical_
//     slash's column and diagonal scores, XAttention's block masses, nsa's
//     importances) are
//     within 1e-5 of the exact form's, and not all equal to them (the f32
//     sums are really taken);
//   - its tables agree with the reference estimators' (lib/Core) except for
//     near ties: at most 0.1 % of the kept entries plus 2 per case differ,
//     as the GPU test allows.
// Inputs are rounded to bf16, as a GPU kernel's are, so that the products
// are exact in f32.
//
//===----------------------------------------------------------------------===//

#include "CompiledEstimatorTestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sattn;
using namespace sattn::cpu_attention_test;

namespace {

// Tiles of 8 and 16 rows (vertical_slash's row_chunks and lines, the
// stripe's anchors, XAttention's pool and its score with 16 groups per
// block, nsa's stats and importance: 16 compressed keys as hi + lo rows)
// take the tensor form; `xattn_thin`'s score tiles (4 groups per
// block) keep f64 sums next to a tensor pool.
const char *kKernels = R"mlir(
sattn.kernel @xattn(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 64 {stride = 4 : i64, tau = 0.8 : f64}
  sattn.yield %m
}
sattn.kernel @xattn_thin(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.block_topk antidiagonal block 16 {stride = 4 : i64, top_k = 3 : i64}
  sattn.yield %m
}
sattn.kernel @vs(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088) {
  %m = mask.vertical_slash vertical 12 slash 10 last_q 24 forced(2, 3) block 16
  sattn.yield %m
}
sattn.kernel @stripe(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.stripe group 32 block 4 step 2 theta 1.0
  sattn.yield %m
}
sattn.kernel @nsa(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.nsa compress (8, 4) select (8, 4) window 0 local 1
  sattn.yield %m
}
)mlir";

struct Fixtures {
  LoweredKernels exact{kKernels, -1}, tensor{kKernels, -1, /*tensor=*/true};
  // Stopped before the selection: vertical_slash after row_chunks,
  // row_stats and lines (scores as order codes), nsa after compress, stats
  // and importance, block_topk after pool and score (importances and
  // masses as f64 bits).
  LoweredKernels exactScores3{kKernels, 3}, tensorScores3{kKernels, 3, true};
  LoweredKernels exactScores2{kKernels, 2}, tensorScores2{kKernels, 2, true};
};
Fixtures &fixtures() {
  static Fixtures f;
  return f;
}

/// Rounds to the nearest bf16 (ties to even), as a GPU kernel's inputs are.
float roundToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x7fff + ((bits >> 16) & 1);
  bits &= 0xffff0000u;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

struct Inputs {
  Tensor q, k;
};
Inputs inputsFor(KernelOp kernel, int64_t batch, int64_t lq, int64_t lk, std::mt19937 &rng) {
  Shape s = shapeOf(kernel, batch, lq, lk);
  Inputs in{Tensor({s.batch, s.heads, s.lq, s.headDim}, false),
            Tensor({s.batch, s.kvHeads, s.lk, s.headDim}, false)};
  for (Tensor *t : {&in.q, &in.k}) {
    t->fillRandom(rng, -2, 2);
    t->forEach([&](llvm::ArrayRef<int64_t> idx) { t->at(idx) = roundToBf16(t->at(idx)); });
  }
  return in;
}

/// f64 value of a score entry: an order code (vertical_slash) or f64 bits.
double scoreOf(int64_t entry, bool orderCode) {
  uint64_t bits = uint64_t(entry);
  if (orderCode) {
    int64_t signedOrder = int64_t(bits ^ (uint64_t(1) << 63));
    bits = uint64_t(signedOrder < 0 ? signedOrder ^ std::numeric_limits<int64_t>::max()
                                    : signedOrder);
  }
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

TEST(CompiledTensorLogits, ScoresAreTheExactOnesRoundedInF32) {
  Fixtures &f = fixtures();
  for (LoweredKernels *k : {&f.exactScores3, &f.tensorScores3, &f.exactScores2, &f.tensorScores2})
    ASSERT_TRUE(k->cpu) << k->error;
  std::mt19937 rng(31);
  struct ScoreCase {
    const char *kernel;
    bool lines;
    int64_t launches, batch, lq, lk;
  };
  for (const ScoreCase &c :
       {ScoreCase{"vs", true, 3, 2, 90, 90}, ScoreCase{"vs", true, 3, 1, 50, 130},
        ScoreCase{"xattn", false, 2, 2, 200, 200}, ScoreCase{"xattn_thin", false, 2, 1, 100, 140},
        ScoreCase{"nsa", false, 3, 2, 150, 150}, ScoreCase{"nsa", false, 3, 1, 60, 130}}) {
    SCOPED_TRACE(std::string(c.kernel) + " Lq=" + std::to_string(c.lq));
    LoweredKernels &exact = c.launches == 3 ? f.exactScores3 : f.exactScores2;
    LoweredKernels &tensor = c.launches == 3 ? f.tensorScores3 : f.tensorScores2;
    Inputs in = inputsFor(exact.kernel(c.kernel), c.batch, c.lq, c.lk, rng);
    std::string error, name;
    auto a = exact.cpu->runEstimator(c.kernel, in.q.view, in.k.view, name, error);
    auto b = tensor.cpu->runEstimator(c.kernel, in.q.view, in.k.view, name, error);
    ASSERT_TRUE(mlir::succeeded(a) && mlir::succeeded(b)) << error;
    ASSERT_EQ(a->size(), b->size());
    int64_t differ = 0, compared = 0;
    double worst = 0;
    for (size_t i = 0; i < a->size(); ++i) {
      double x = scoreOf((*a)[i], c.lines), y = scoreOf((*b)[i], c.lines);
      if (!std::isfinite(x) || x == 0)
        continue; // entries the stages did not score (past the causal edge)
      ++compared;
      differ += x != y;
      worst = std::max(worst, std::fabs(x - y) / std::fabs(x));
    }
    EXPECT_GT(compared, 0);
    EXPECT_LT(worst, 1e-5) << "scores of the tensor form far from the exact ones";
    EXPECT_GT(differ, 0) << "the tensor form computed every score exactly: f32 sums not taken?";
  }
}

TEST(CompiledTensorLogits, TablesMatchTheReferenceUpToNearTies) {
  Fixtures &f = fixtures();
  ASSERT_TRUE(f.tensor.cpu) << f.tensor.error;
  std::mt19937 rng(32);
  struct TableCase {
    const char *kernel;
    int64_t batch, lq, lk;
  };
  int64_t tables = 0, differing = 0;
  for (const TableCase &c : {TableCase{"xattn", 2, 200, 200}, TableCase{"xattn", 1, 130, 257},
                             TableCase{"xattn_thin", 2, 100, 100}, TableCase{"vs", 2, 90, 90},
                             TableCase{"vs", 1, 60, 200}, TableCase{"stripe", 2, 70, 70},
                             TableCase{"stripe", 1, 90, 130}}) {
    SCOPED_TRACE(std::string(c.kernel) + " Lq=" + std::to_string(c.lq));
    KernelOp kernel = f.tensor.kernel(c.kernel);
    auto spec = plan::readEstimator(kernel);
    ASSERT_TRUE(mlir::succeeded(spec) && *spec);
    Shape s = shapeOf(kernel, c.batch, c.lq, c.lk);
    Inputs in = inputsFor(kernel, c.batch, c.lq, c.lk, rng);
    std::string error, name;
    auto table = f.tensor.cpu->runEstimator(c.kernel, in.q.view, in.k.view, name, error);
    ASSERT_TRUE(mlir::succeeded(table)) << error;
    int64_t perSlice = int64_t(table->size()) / (s.batch * s.heads), kept = 0, wrong = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.heads; ++h) {
        std::vector<uint8_t> ref = referenceEntries(in.q, in.k, b, h, h / (s.heads / s.kvHeads),
                                                    kernel.getScale().convertToDouble(), **spec);
        ASSERT_EQ(int64_t(ref.size()), perSlice);
        for (int64_t i = 0; i < perSlice; ++i) {
          kept += ref[i];
          wrong += (*table)[(b * s.heads + h) * perSlice + i] != ref[i];
        }
      }
    EXPECT_GT(kept, 0);
    EXPECT_LE(wrong, kept / 1000 + 2);
    ++tables;
    differing += wrong;
  }
  std::cerr << "[ info ] tensor-form tables: " << tables << ", entries differing from the "
            << "reference: " << differing << "\n";
}

/// nsa's table in the tensor form (its rows per GQA group and position)
/// against the reference selection: equal up to near ties, as above.
TEST(CompiledTensorLogits, NsaSelectionMatchesTheReferenceUpToNearTies) {
  Fixtures &f = fixtures();
  ASSERT_TRUE(f.tensor.cpu) << f.tensor.error;
  std::mt19937 rng(33);
  KernelOp kernel = f.tensor.kernel("nsa");
  auto spec = plan::readEstimator(kernel);
  ASSERT_TRUE(mlir::succeeded(spec) && *spec);
  for (auto [batch, lq, lk] : {std::tuple<int64_t, int64_t, int64_t>{2, 150, 150},
                               std::tuple<int64_t, int64_t, int64_t>{1, 100, 230}}) {
    SCOPED_TRACE("Lq=" + std::to_string(lq) + " Lk=" + std::to_string(lk));
    Shape s = shapeOf(kernel, batch, lq, lk);
    int64_t group = s.heads / s.kvHeads;
    Inputs in = inputsFor(kernel, batch, lq, lk, rng);
    std::string error, name;
    auto table = f.tensor.cpu->runEstimator("nsa", in.q.view, in.k.view, name, error);
    ASSERT_TRUE(mlir::succeeded(table)) << error;
    int64_t perGroup = int64_t(table->size()) / (s.batch * s.kvHeads), kept = 0, wrong = 0;
    std::vector<float> gates(lq * 3, 0.0f);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t g = 0; g < s.kvHeads; ++g) {
        estimate::NsaOutput ref =
            nsaReference(in.q, in.k, in.k, b, g, group,
                         std::vector<const float *>(group, gates.data()),
                         kernel.getScale().convertToDouble(), **spec);
        std::vector<uint8_t> want = nsaSelectionRows(ref, lq, lk, (*spec)->selectCount);
        ASSERT_EQ(int64_t(want.size()), perGroup);
        for (int64_t i = 0; i < perGroup; ++i) {
          kept += want[i];
          wrong += (*table)[(b * s.kvHeads + g) * perGroup + i] != want[i];
        }
      }
    EXPECT_GT(kept, 0);
    EXPECT_LE(wrong, kept / 1000 + 2);
  }
}

} // namespace
