//===- NsaReferenceTest.cpp - Native Sparse Attention's reference ---------===//
//
// estimate::nsa against rules that follow from docs/ESTIMATORS.md "nsa"
// without re-deriving the selection: each gate isolates one branch, so a
// sliding-only output is windowed causal attention, a selected-only output
// with every block selectable is causal attention, and a compressed-only
// output attends to the blocks' means; block 0 and the local blocks are
// always selected and the group shares one selection. The NumPy reference
// of test/Runtime/check_estimators.py checks the selections themselves.
//
//===----------------------------------------------------------------------===//

#include "EstimatorTestSupport.h"

#include "sattn/Core/Nsa.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

using namespace sattn::estimate;
using namespace sattn::estimator_test;

namespace {

/// Softmax attention of query `qi` over keys [first, last] of k / v.
std::vector<double> attention(const Slice &q, int64_t qi, const Slice &k, const Slice &v,
                              int64_t first, int64_t last, double scale) {
  std::vector<double> logits;
  double mx = -INFINITY;
  for (int64_t j = first; j <= last; ++j) {
    double s = 0;
    for (int64_t x = 0; x < q.dim; ++x)
      s += double(q.row(qi)[x]) * double(k.row(j)[x]);
    logits.push_back(scale * s);
    mx = std::max(mx, logits.back());
  }
  double sum = 0;
  for (double &l : logits)
    sum += l = std::exp(l - mx);
  std::vector<double> out(v.dim, 0.0);
  for (int64_t j = first; j <= last; ++j)
    for (int64_t x = 0; x < v.dim; ++x)
      out[x] += logits[j - first] / sum * double(v.row(j)[x]);
  return out;
}

struct Fixture {
  std::mt19937 rng{31};
  int64_t lq = 40, lk = 57, d = 8, heads = 2;
  std::vector<Slice> q;
  Slice k = randomSlice(rng, lk, d), v = randomSlice(rng, lk, d);
  std::vector<std::vector<float>> gates;

  Fixture() {
    for (int64_t h = 0; h < heads; ++h)
      q.push_back(randomSlice(rng, lq, d));
  }
  /// Runs nsa with every row's gates set to `gate`.
  NsaOutput run(const NsaParams &p, std::array<float, 3> gate, std::string &error) {
    NsaGroup g;
    g.k = k.view();
    g.v = v.view();
    gates.assign(heads, {});
    for (int64_t h = 0; h < heads; ++h) {
      g.q.push_back(q[h].view());
      for (int64_t i = 0; i < lq; ++i)
        gates[h].insert(gates[h].end(), gate.begin(), gate.end());
      g.gates.push_back(gates[h].data());
    }
    return nsa(g, 0.3, p, error);
  }
  void expectOutput(const NsaOutput &out, int64_t h, int64_t i, const std::vector<double> &want) {
    for (int64_t x = 0; x < d; ++x)
      EXPECT_NEAR(out.out[(h * lq + i) * d + x], want[x], 1e-12) << h << ", " << i << ", " << x;
  }
};

TEST(NsaReference, EachGateIsolatesItsBranch) {
  Fixture f;
  std::string error;
  int64_t shift = f.lk - f.lq;
  NsaOutput sliding = f.run({8, 4, 8, 3, 5, 1}, {0, 0, 1}, error);
  ASSERT_EQ(error, "");
  // Every block selectable: the selected branch is causal attention.
  NsaOutput selected = f.run({8, 4, 8, 8, 0, 1}, {0, 1, 0}, error);
  ASSERT_EQ(error, "");
  NsaOutput compressed = f.run({8, 4, 8, 3, 0, 1}, {1, 0, 0}, error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(compressed.compressedBlocks, (f.lk - 8) / 4 + 1);
  Slice means{compressed.compressedBlocks, f.d,
              std::vector<float>(compressed.compressedBlocks * f.d)};
  Slice meansV = means;
  for (int64_t c = 0; c < means.rows; ++c)
    for (int64_t x = 0; x < f.d; ++x) {
      double sk = 0, sv = 0;
      for (int64_t r = c * 4; r < c * 4 + 8; ++r) {
        sk += f.k.row(r)[x];
        sv += f.v.row(r)[x];
      }
      means.data[c * f.d + x] = float(sk / 8);
      meansV.data[c * f.d + x] = float(sv / 8);
    }
  for (int64_t h = 0; h < f.heads; ++h)
    for (int64_t i = 0; i < f.lq; ++i) {
      int64_t pos = i + shift;
      f.expectOutput(sliding, h, i,
                     attention(f.q[h], i, f.k, f.v, std::max<int64_t>(0, pos - 4), pos, 0.3));
      f.expectOutput(selected, h, i, attention(f.q[h], i, f.k, f.v, 0, pos, 0.3));
      // Compressed blocks that end at or before the query.
      int64_t last = (pos - 7) / 4;
      if (pos >= 7)
        f.expectOutput(compressed, h, i, attention(f.q[h], i, means, meansV, 0, last, 0.3));
      else
        f.expectOutput(compressed, h, i, std::vector<double>(f.d, 0.0));
    }
}

TEST(NsaReference, ForcedBlocksAreAlwaysSelected) {
  Fixture f;
  std::string error;
  NsaParams p{8, 4, 8, 4, 0, 2};
  NsaOutput out = f.run(p, {0, 1, 0}, error);
  ASSERT_EQ(error, "");
  int64_t shift = f.lk - f.lq;
  for (int64_t i = 0; i < f.lq; ++i) {
    int64_t own = (i + shift) / 8;
    const int64_t *row = out.selected.data() + i * p.selectCount;
    std::vector<int64_t> blocks;
    for (int64_t t = 0; t < p.selectCount && row[t] >= 0; ++t)
      blocks.push_back(row[t]);
    EXPECT_EQ(int64_t(blocks.size()), std::min(p.selectCount, own + 1)) << i;
    EXPECT_TRUE(std::is_sorted(blocks.begin(), blocks.end())) << i;
    for (int64_t forced : {int64_t(0), own, std::max<int64_t>(own - 1, 0)})
      EXPECT_NE(std::find(blocks.begin(), blocks.end(), forced), blocks.end()) << i;
    EXPECT_LE(blocks.back(), own) << i;
  }
}

TEST(NsaReference, RefusesBadInputsWithMessages) {
  Fixture f;
  std::string error;
  f.run({4, 8, 8, 3, 0, 1}, {1, 1, 1}, error);
  EXPECT_EQ(error, "the compress stride must not exceed the compress block");
  f.run({8, 4, 6, 3, 0, 1}, {1, 1, 1}, error);
  EXPECT_EQ(error, "the select block must be a multiple of the compress stride");
  f.run({8, 4, 8, 2, 0, 2}, {1, 1, 1}, error);
  EXPECT_EQ(error, "the select count must cover block 0 and the local blocks");
  NsaGroup g;
  g.k = f.k.view();
  g.v = f.v.view();
  EXPECT_TRUE(nsa(g, 0.3, {}, error).out.empty());
  EXPECT_EQ(error, "nsa needs at least one query head and gates for each");
}

} // namespace
