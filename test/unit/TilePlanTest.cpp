//===- TilePlanTest.cpp - brute-force properties of tile plans ------------===//
//
// For every named pattern (and a few combinations and predicates), random
// shapes (ragged lengths, Lq < Lk, GQA, batch 2) and several tile sizes,
// the plan is compared with the reference evaluator pair by pair
// (checkPlanProperties, TilePlanTestSupport.h): no kept pair skipped, FULL
// segments hold only kept pairs, and for named patterns the plan is
// minimal. Then the segment kinds a few patterns must be planned with.
//
//===----------------------------------------------------------------------===//

#include "TilePlanTestSupport.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;

namespace {

class TilePlanProperties : public ::testing::TestWithParam<PatternCase> {};

TEST_P(TilePlanProperties, HoldOnRandomShapes) {
  const PatternCase &c = GetParam();
  PatternKernel pattern(c);
  ASSERT_TRUE(pattern.ok());
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 60; ++iter) {
    RandomProblem p = randomProblem(rng, iter, c.name);
    SCOPED_TRACE(p.trace);
    auto planner = TilePlanner::build(pattern.kernel, PlanOptions{p.blockM, p.blockN});
    ASSERT_TRUE(mlir::succeeded(planner));
    std::string error;
    auto plan = planner->plan(p.in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    ASSERT_NO_FATAL_FAILURE(
        checkPlanProperties(*plan, *pattern.eval, p.in, p.blockN, c.minimal));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, TilePlanProperties, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

TEST(TilePlan, StridedPatternsGatherInsteadOfMasking) {
  // S2 token strides at 8 visit about 1/8 of the dense tiles.
  PatternKernel pattern({"s", "%c = mask.causal\n%s = mask.strided stride 8 offset "
                              "affine_map<(h) -> (h mod 8)>\n%m = mask.intersect %c, %s",
                         true});
  ASSERT_TRUE(pattern.ok());
  auto planner = TilePlanner::build(pattern.kernel, PlanOptions{64, 64});
  ASSERT_TRUE(mlir::succeeded(planner));
  MaskInputs in;
  in.lq = in.lk = 4096;
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  PlanStats s = plan->stats();
  EXPECT_GT(s.gatherTiles, 0);
  EXPECT_EQ(s.rangeTiles, 0);
  // Causal at 64x64 tiles visits about half the tiles; strided-8 gathers
  // about 1/8 of that.
  double ratio = double(s.visitedTiles()) / double(s.denseTiles);
  EXPECT_LT(ratio, 0.5 / 8 * 1.3);
  EXPECT_GT(ratio, 0.5 / 8 * 0.9);
  EXPECT_EQ(plan->numClasses(), 4); // offsets h mod 8 for 4 heads
}

TEST(TilePlan, VerticalSlashGathersColumnsAndBands) {
  // MInference-like tables at L = 2048 with 64x64 tiles: 40 columns and 12
  // diagonals per head (the first 8 of each forced). Columns become key
  // lists and diagonals bands of one tile each, so the plan visits far
  // fewer tiles than causal attention would, and still covers every kept
  // pair exactly once.
  const PatternCase *vs = patternCase("vertical_slash");
  ASSERT_TRUE(vs);
  PatternKernel pattern(*vs);
  ASSERT_TRUE(pattern.ok());
  auto planner = TilePlanner::build(pattern.kernel, PlanOptions{64, 64});
  ASSERT_TRUE(mlir::succeeded(planner));
  std::mt19937 rng(99);
  const int64_t lk = 2048;
  MaskInputs in = randomInputs(rng, lk, lk);
  sparseColumnsAndDiagonals(in, 8, 40, 12, rng);
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  int64_t lists = 0, bands = 0;
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t m = 0; m < plan->numQueryTiles; ++m)
      for (const Segment &s : plan->segments(0, h, m)) {
        lists += s.kind == Segment::List;
        bands += s.kind == Segment::Gather && s.period == 1;
      }
  EXPECT_GT(lists, 0);
  EXPECT_GT(bands, 0);
  PlanStats stats = plan->stats();
  // Causal visits 528 of 1024 tiles per head. Here a query tile visits one
  // band per diagonal at or below it (6 on average), 2 tiles for the forced
  // diagonals and 1-2 list tiles: about 0.27 of the dense tiles. Visiting
  // every tile a column or diagonal crosses would be nearly causal.
  EXPECT_LT(double(stats.visitedTiles()) / double(stats.denseTiles), 0.3);
  ASSERT_NO_FATAL_FAILURE(checkPlanProperties(*plan, *pattern.eval, in, 64, true));
  // The flat form carries the key pool after the segment rows.
  FlatPlan flat = plan->flatten();
  EXPECT_EQ(flat.segments.size() % FlatPlan::kSegmentFields, 0u);
  EXPECT_GT(int64_t(flat.segments.size()),
            flat.numSegments * FlatPlan::kSegmentFields);
  for (int64_t r = 0; r < flat.numSegments; ++r) {
    const int64_t *f = &flat.segments[r * FlatPlan::kSegmentFields];
    if (f[0] != Segment::List)
      continue;
    ASSERT_GE(f[2], flat.numSegments * FlatPlan::kSegmentFields);
    for (int64_t i = f[2]; i < f[3]; ++i)
      ASSERT_LT(flat.segments[i], lk);
  }
}

TEST(TilePlan, StripesGatherEachUnitsKeys) {
  // AnchorAttention's stripes at L = 2048 with 64x64 tiles, anchor groups
  // of 256 and units of 64 rows: per unit 1 key in 20 of those between the
  // two anchor regions. Each query tile lies in one unit, so its stripe
  // keys are one exact key list: the plan visits the anchor regions and a
  // list tile or two, where visiting every tile a stripe key crosses would
  // be nearly causal.
  PatternKernel pattern(
      {"stripes_256",
       "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
       "  %g = arith.constant 256 : index\n  %u = arith.constant 64 : index\n"
       "  %first = arith.cmpi slt, %k, %g : index\n"
       "  %qg = arith.floordivsi %q, %g : index\n  %gs = arith.muli %qg, %g : index\n"
       "  %own = arith.cmpi sge, %k, %gs : index\n  %qu = arith.floordivsi %q, %u : index\n"
       "  %v = mask.lookup @sel[%b, %h, %qu, %k] : i1\n"
       "  %a = arith.ori %first, %own : i1\n  %y = arith.ori %a, %v : i1\n"
       "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
       true});
  ASSERT_TRUE(pattern.ok());
  auto planner = TilePlanner::build(pattern.kernel, PlanOptions{64, 64});
  ASSERT_TRUE(mlir::succeeded(planner));
  const int64_t lk = 2048, units = lk / 64;
  std::mt19937 rng(7);
  MaskInputs in = randomInputs(rng, lk, lk);
  TableData sel{{2, 4, units, lk}, std::vector<int64_t>(2 * 4 * units * lk, 0)};
  for (int64_t bh = 0; bh < 2 * 4; ++bh)
    for (int64_t u = 0; u < units; ++u)
      for (int64_t k = 256; k < u * 64 / 256 * 256; ++k)
        sel.values[(bh * units + u) * lk + k] = rng() % 20 == 0;
  in.tables["sel"] = sel;
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  int64_t lists = 0;
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t m = 0; m < plan->numQueryTiles; ++m)
      for (const Segment &s : plan->segments(1, h, m))
        lists += s.kind == Segment::List;
  EXPECT_GT(lists, 0);
  // Causal visits 528 of 1024 tiles per head (0.52). Here a query tile
  // visits the first group's tiles, its own group's up to itself and the
  // list tiles of its unit's keys: about 0.22 of the dense tiles. Visiting
  // every tile a stripe key crosses (three keys in each 64-key tile between
  // the regions) would be causal.
  PlanStats stats = plan->stats();
  EXPECT_LT(double(stats.visitedTiles()) / double(stats.denseTiles), 0.25);
  ASSERT_NO_FATAL_FAILURE(checkPlanProperties(*plan, *pattern.eval, in, 64, true));
}

TEST(TilePlan, CausalSplitsFullAndPartialTiles) {
  PatternKernel pattern({"c", "%m = mask.causal", true});
  ASSERT_TRUE(pattern.ok());
  auto planner = TilePlanner::build(pattern.kernel, PlanOptions{128, 128});
  ASSERT_TRUE(mlir::succeeded(planner));
  MaskInputs in;
  in.lq = in.lk = 1024;
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan));
  EXPECT_EQ(plan->numClasses(), 1);
  // Query tile 3: tiles 0..2 FULL as one segment, tile 3 PARTIAL.
  auto segs = plan->segments(0, 0, 3);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_TRUE(segs[0].full);
  EXPECT_EQ(segs[0].lo, 0);
  EXPECT_EQ(segs[0].hi, 3);
  EXPECT_FALSE(segs[1].full);
  EXPECT_EQ(segs[1].lo, 3);
  EXPECT_EQ(segs[1].hi, 4);
  PlanStats s = plan->stats();
  EXPECT_EQ(s.partialTiles, 8 * 4); // one diagonal tile per query tile, 4 heads
  EXPECT_EQ(s.visitedTiles(), 36 * 4);
}

} // namespace
