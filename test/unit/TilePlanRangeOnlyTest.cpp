//===- TilePlanRangeOnlyTest.cpp - plans without Gather and List segments -===//
//
// The sm_90a ("wgmma") kernel loads KV tiles only as whole TMA boxes, so its
// plans are built with PlanOptions::gathers = false: narrow lattices and
// sparse tiles become PARTIAL Range tiles instead of Gather and List
// segments. For every pattern of TilePlanTestSupport.h on random shapes,
// for every static kernel of examples/*.sattn at several lengths, and for a
// sparse vertical-slash mask, such plans hold Range segments only, visit
// every kept pair exactly once and hold only kept pairs in FULL tiles (brute
// force against the reference evaluator). The same inputs planned with
// gathers do get Gather and List segments for the strided, dilated and
// sparse masks, so that the comparison is not vacuous.
//
//===----------------------------------------------------------------------===//

#include "TilePlanTestSupport.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;

namespace {

/// Segments of each kind over every (b, h, query tile) of a plan.
struct KindCounts {
  int64_t range = 0, gather = 0, list = 0;

  static KindCounts of(const TilePlan &plan) {
    KindCounts n;
    for (int64_t b = 0; b < plan.batch; ++b)
      for (int64_t h = 0; h < plan.heads; ++h)
        for (int64_t m = 0; m < plan.numQueryTiles; ++m)
          for (const Segment &s : plan.segments(b, h, m)) {
            n.range += s.kind == Segment::Range;
            n.gather += s.kind == Segment::Gather;
            n.list += s.kind == Segment::List;
          }
    return n;
  }
};

/// Plans `in` with and without gathers; checks the Range-only plan against
/// the evaluator and returns the kinds of both plans.
void planBothWays(KernelOp kernel, const CompiledMask &eval, const MaskInputs &in,
                  int64_t bm, int64_t bn, bool minimal, KindCounts &withGathers,
                  KindCounts &rangeOnly) {
  std::string error;
  auto gathering = TilePlanner::build(kernel, PlanOptions{bm, bn, true});
  auto ranges = TilePlanner::build(kernel, PlanOptions{bm, bn, false});
  ASSERT_TRUE(mlir::succeeded(gathering) && mlir::succeeded(ranges));
  EXPECT_FALSE(ranges->options().gathers);
  auto planWith = gathering->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(planWith)) << error;
  auto planWithout = ranges->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(planWithout)) << error;
  withGathers = KindCounts::of(*planWith);
  rangeOnly = KindCounts::of(*planWithout);
  EXPECT_EQ(rangeOnly.gather, 0) << "Gather segments in a plan without gathers";
  EXPECT_EQ(rangeOnly.list, 0) << "List segments in a plan without gathers";
  ASSERT_NO_FATAL_FAILURE(checkPlanProperties(*planWithout, eval, in, bn, minimal));
  // Without gathers a plan visits whole tiles, so never fewer than with.
  EXPECT_GE(planWithout->stats().visitedTiles(), planWith->stats().rangeTiles);
}

/// Patterns whose plans with gathers have Gather (or List) segments.
const std::set<std::string> kGathered = {"strided", "s2_token", "dilated", "vertical_slash"};

class RangeOnlyPlans : public ::testing::TestWithParam<PatternCase> {};

TEST_P(RangeOnlyPlans, HoldOnRandomShapes) {
  const PatternCase &c = GetParam();
  PatternKernel pattern(c);
  ASSERT_TRUE(pattern.ok());
  std::mt19937 rng(4321);
  KindCounts gathered;
  for (int iter = 0; iter < 30; ++iter) {
    RandomProblem p = randomProblem(rng, iter, c.name);
    SCOPED_TRACE(p.trace);
    KindCounts with, without;
    ASSERT_NO_FATAL_FAILURE(planBothWays(pattern.kernel, *pattern.eval, p.in, p.blockM,
                                         p.blockN, c.minimal, with, without));
    gathered.gather += with.gather;
    gathered.list += with.list;
  }
  if (kGathered.count(c.name))
    EXPECT_GT(gathered.gather + gathered.list, 0)
        << c.name << " is planned without gathers even when they are allowed";
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, RangeOnlyPlans, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

TEST(RangeOnlyPlans, EveryStaticExampleKernel) {
  mlir::MLIRContext context(allDialects());
  std::mt19937 rng(77);
  struct Shape {
    int64_t batch, lq, lk, bm, bn;
  };
  // Lengths past s2's window of 512 keys, so that its token-strided lattice
  // is gathered when gathers are allowed (a dilated window is not: the
  // rows of a query tile together keep every residue).
  const Shape shapes[] = {{1, 1, 1, 64, 64},
                          {2, 100, 257, 64, 64},
                          {1, 333, 900, 64, 128},
                          {1, 600, 600, 128, 64}};
  std::map<std::string, KindCounts> gathered;
  int kernels = 0;
  for (const std::string &file : exampleSpecFiles()) {
    SCOPED_TRACE(file);
    mlir::OwningOpRef<mlir::ModuleOp> module = compileSpecFile(file, context);
    ASSERT_TRUE(module);
    for (KernelOp kernel : module->getOps<KernelOp>()) {
      auto eval = staticEvaluator(kernel);
      if (mlir::failed(eval))
        continue; // dynamic masks have no static plan
      ++kernels;
      std::string name = kernel.getSymName().str();
      for (const Shape &s : shapes) {
        SCOPED_TRACE(name + " B=" + std::to_string(s.batch) + " lq=" + std::to_string(s.lq) +
                     " lk=" + std::to_string(s.lk) + " tiles " + std::to_string(s.bm) +
                     "x" + std::to_string(s.bn));
        MaskInputs in;
        in.batch = s.batch;
        in.lq = s.lq;
        in.lk = s.lk;
        for (mask::TableOp table : kernel.getBody().front().getOps<mask::TableOp>())
          in.tables[table.getSymName().str()] =
              randomTable(table, s.batch, kernel.getHeads(), s.lk, rng);
        KindCounts with, without;
        ASSERT_NO_FATAL_FAILURE(
            planBothWays(kernel, *eval, in, s.bm, s.bn, false, with, without));
        gathered[name].gather += with.gather;
        gathered[name].list += with.list;
      }
    }
  }
  EXPECT_GE(kernels, 10);
  std::string withGathers;
  for (const auto &[name, n] : gathered)
    if (n.gather + n.list)
      withGathers += " " + name + " (" + std::to_string(n.gather) + " gather, " +
                     std::to_string(n.list) + " list)";
  std::cerr << "[ info ] Range-only plans of " << kernels
            << " static example kernels checked; with gathers:" << withGathers << "\n";
  // Token-strided lattices are gathered when allowed.
  ASSERT_TRUE(gathered.count("s2")) << "no example kernel s2";
  EXPECT_GT(gathered["s2"].gather, 0);
}

TEST(RangeOnlyPlans, SparseColumnsAndDiagonals) {
  // TilePlanTest's vertical-slash case at L = 1024: with gathers the
  // columns become List segments and the diagonals bands (Gather, period
  // 1); without, the tiles they cross are visited whole.
  const PatternCase *vs = patternCase("vertical_slash");
  ASSERT_TRUE(vs);
  PatternKernel pattern(*vs);
  ASSERT_TRUE(pattern.ok());
  std::mt19937 rng(99);
  MaskInputs in = randomInputs(rng, 1024, 1024);
  sparseColumnsAndDiagonals(in, 4, 20, 6, rng);
  KindCounts with, without;
  ASSERT_NO_FATAL_FAILURE(
      planBothWays(pattern.kernel, *pattern.eval, in, 64, 64, true, with, without));
  EXPECT_GT(with.list, 0);
  EXPECT_GT(with.gather, 0);
  EXPECT_GT(without.range, 0);
}

} // namespace
