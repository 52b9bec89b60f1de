//===- TransposedPlanTest.cpp - the plan seen from the KV side ------------===//
//
// transpose() (sattn/Core/TransposedPlan.h) on the plans of every pattern
// of TilePlanTestSupport.h, on random shapes (Lq <= Lk, ragged lengths,
// batch 2, per-head tables), with and without gathers:
//   1. each KV tile's visits are in strictly increasing query tile order;
//   2. the visits are exactly the forward plan's Range tiles, FULL or
//      PARTIAL as there, and the scattered groups exactly its Gather and
//      List segments, in plan order;
//   3. from the key side, by brute force against the reference evaluator:
//      every kept pair (q, k) is covered, by a visit of q's query tile to
//      k's KV tile or by a scattered group of q's tile holding k, and a
//      FULL visit holds kept pairs only.
// Strided, dilated and sparse-column masks produce scattered groups when
// gathers are allowed, so that part is not vacuous.
//
//===----------------------------------------------------------------------===//

#include "TilePlanTestSupport.h"

#include "sattn/Core/TransposedPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;

namespace {

struct Counts {
  int64_t visits = 0, groups = 0;
};

/// Properties 1 and 2 for every class.
void checkAgainstForward(const TilePlan &plan, const TransposedPlan &t) {
  ASSERT_EQ(t.classes.size(), plan.classes.size());
  ASSERT_EQ(t.numKvTiles, (plan.lk + plan.blockN - 1) / plan.blockN);
  for (size_t c = 0; c < plan.classes.size(); ++c) {
    const TilePlan::Class &forward = plan.classes[c];
    std::vector<std::tuple<int64_t, int64_t, bool>> expected, got; // (n, m, full)
    std::vector<std::pair<int64_t, int64_t>> expectedGroups, gotGroups;
    for (int64_t m = 0; m < plan.numQueryTiles; ++m)
      for (int64_t i = forward.offsets[m]; i < forward.offsets[m + 1]; ++i) {
        const Segment &s = forward.segments[i];
        if (s.kind != Segment::Range) {
          expectedGroups.push_back({m, i});
          continue;
        }
        ASSERT_LE(s.hi, t.numKvTiles) << "a Range segment past the key axis";
        for (int64_t n = s.lo; n < s.hi; ++n)
          expected.push_back({n, m, s.full});
      }
    std::sort(expected.begin(), expected.end());
    const TransposedPlan::Class &cls = t.classes[c];
    ASSERT_EQ(cls.offsets.size(), size_t(t.numKvTiles + 1));
    for (int64_t n = 0; n < t.numKvTiles; ++n) {
      int64_t previous = -1;
      for (const TransposedPlan::Visit &v : t.visitsOf(c, n)) {
        EXPECT_GT(v.queryTile, previous) << "KV tile " << n << " class " << c;
        previous = v.queryTile;
        got.push_back({n, v.queryTile, v.full});
      }
    }
    EXPECT_EQ(got, expected) << "class " << c;
    for (const TransposedPlan::ScatteredGroup &g : cls.groups)
      gotGroups.push_back({g.queryTile, g.segment});
    EXPECT_EQ(gotGroups, expectedGroups) << "class " << c;
  }
}

/// Property 3 for every (b, h) and key.
void checkKeySide(const TilePlan &plan, const TransposedPlan &t,
                  const CompiledMask &eval, const MaskInputs &in) {
  const int64_t bn = plan.blockN, lk = in.lk, shift = in.lk - in.lq;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < plan.heads; ++h) {
      int64_t c = plan.classOf(b, h);
      // Keys each query tile gathers.
      std::vector<std::set<int64_t>> gathered(plan.numQueryTiles);
      for (const TransposedPlan::ScatteredGroup &g : t.classes[c].groups) {
        const Segment &s = plan.classes[c].segments[g.segment];
        for (int64_t k : segmentKeys(plan, b, h, s, bn, lk))
          gathered[g.queryTile].insert(k);
      }
      for (int64_t k = 0; k < lk; ++k) {
        std::vector<char> visited(plan.numQueryTiles, 0);
        for (const TransposedPlan::Visit &v : t.visitsOf(c, k / bn)) {
          visited[v.queryTile] = 1;
          if (!v.full)
            continue;
          auto [qa, qb] = plan.queryRange(v.queryTile);
          for (int64_t q = qa; q <= qb; ++q)
            ASSERT_TRUE(eval.keep(in, b, h, q, k))
                << "FULL visit holds a dropped pair q=" << q << " k=" << k << " h=" << h;
        }
        for (int64_t row = 0; row < in.lq; ++row) {
          int64_t m = row / plan.blockM;
          if (visited[m] || gathered[m].count(k))
            continue;
          ASSERT_FALSE(eval.keep(in, b, h, row + shift, k))
              << "kept pair not covered: q=" << row + shift << " k=" << k << " h=" << h
              << " b=" << b;
        }
      }
    }
}

const std::set<std::string> kGathered = {"strided", "s2_token", "dilated", "vertical_slash"};

class TransposedPlans : public ::testing::TestWithParam<PatternCase> {};

TEST_P(TransposedPlans, MatchTheForwardPlanAndCoverEveryKeptPair) {
  const PatternCase &c = GetParam();
  PatternKernel pattern(c);
  ASSERT_TRUE(pattern.ok());
  std::mt19937 rng(2468);
  Counts counts;
  for (int iter = 0; iter < 12; ++iter) {
    RandomProblem p = randomProblem(rng, iter, c.name);
    for (bool gathers : {true, false}) {
      SCOPED_TRACE(p.trace + (gathers ? " gathers" : " ranges only"));
      auto planner = TilePlanner::build(pattern.kernel, PlanOptions{p.blockM, p.blockN, gathers});
      ASSERT_TRUE(mlir::succeeded(planner));
      std::string error;
      auto plan = planner->plan(p.in, error);
      ASSERT_TRUE(mlir::succeeded(plan)) << error;
      TransposedPlan t = transpose(*plan);
      ASSERT_NO_FATAL_FAILURE(checkAgainstForward(*plan, t));
      ASSERT_NO_FATAL_FAILURE(checkKeySide(*plan, t, *pattern.eval, p.in));
      for (const TransposedPlan::Class &cls : t.classes) {
        counts.visits += cls.visits.size();
        if (gathers)
          counts.groups += cls.groups.size();
        else
          EXPECT_TRUE(cls.groups.empty()) << "scattered groups in a Range-only plan";
      }
    }
  }
  EXPECT_GT(counts.visits, 0) << c.name;
  if (kGathered.count(c.name))
    EXPECT_GT(counts.groups, 0) << c.name << " has no scattered group when gathers are allowed";
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, TransposedPlans, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

TEST(TransposedPlan, EmptyKeyAxisAndOneTile) {
  TilePlan plan;
  plan.blockM = plan.blockN = 64;
  plan.lq = plan.lk = 100;
  plan.batch = plan.heads = 1;
  plan.numQueryTiles = 2;
  plan.classIndex = {0};
  TilePlan::Class cls;
  // Query tile 0: KV tile 0 PARTIAL; query tile 1: KV tiles [0, 2), FULL.
  cls.offsets = {0, 1, 2};
  Segment a, b;
  a.lo = 0, a.hi = 1, a.full = false;
  b.lo = 0, b.hi = 2, b.full = true;
  cls.segments = {a, b};
  plan.classes = {cls};
  TransposedPlan t = transpose(plan);
  ASSERT_EQ(t.numKvTiles, 2);
  auto first = t.visitsOf(0, 0), second = t.visitsOf(0, 1);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE((first[0] == TransposedPlan::Visit{0, false}));
  EXPECT_TRUE((first[1] == TransposedPlan::Visit{1, true}));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE((second[0] == TransposedPlan::Visit{1, true}));

  plan.lk = 0;
  plan.classes[0].segments.clear();
  plan.classes[0].offsets = {0, 0, 0};
  t = transpose(plan);
  EXPECT_EQ(t.numKvTiles, 0);
  EXPECT_TRUE(t.classes[0].visits.empty());
}

} // namespace
