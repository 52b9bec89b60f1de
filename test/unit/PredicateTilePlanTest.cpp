//===- PredicateTilePlanTest.cpp - exact tiles of predicates and tables ---===//
//
// The planner's fast paths for free-form predicates (PredicateTiles.cpp:
// probe pairs, query rows halved by intervals, k-only reevaluation), for
// block tables (rows read straight from the table) and for tables borrowed
// from the runtime's caller must keep plans exact and minimal. Range-only
// plans (the sm_90a form) make that checkable tile by tile against a
// brute-force classification: a KV tile is visited iff some pair in it is
// kept, and FULL iff every pair is kept and the tile is not clipped at Lk.
// Shapes cover clamped neighbourhood centres, tiles clipped at Lq and Lk,
// Lq < Lk, per-head tables and empty / all-ones tables; predicates cover
// tiles intervals cannot decide that are FULL, empty or mixed.
//
//===----------------------------------------------------------------------===//

#include "TilePlanTestSupport.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;

namespace {

/// A 5 x 5 neighbourhood on a grid 16 wide, centres clamped two cells
/// inside (rows [2, 5], columns [2, 13]), with floor division and floor
/// modulo written as sattn-compile emits them.
const PatternCase kClampedNeighbourhood = {
    "clamped_neighbourhood",
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %w = arith.constant 16 : index\n  %c0 = arith.constant 0 : index\n"
    "  %c2 = arith.constant 2 : index\n  %c5 = arith.constant 5 : index\n"
    "  %c13 = arith.constant 13 : index\n"
    "  %kr = arith.floordivsi %k, %w : index\n"
    "  %qr = arith.floordivsi %q, %w : index\n"
    "  %rlo = arith.maxsi %qr, %c2 : index\n"
    "  %rc = arith.minsi %rlo, %c5 : index\n"
    "  %dr = arith.subi %kr, %rc : index\n  %ar = math.absi %dr : index\n"
    "  %nr = arith.cmpi sle, %ar, %c2 : index\n"
    "  %k1 = arith.remsi %k, %w : index\n"
    "  %k2 = arith.cmpi slt, %k1, %c0 : index\n"
    "  %k3 = arith.addi %k1, %w : index\n"
    "  %kc = arith.select %k2, %k3, %k1 : index\n"
    "  %q1 = arith.remsi %q, %w : index\n"
    "  %q2 = arith.cmpi slt, %q1, %c0 : index\n"
    "  %q3 = arith.addi %q1, %w : index\n"
    "  %q4 = arith.select %q2, %q3, %q1 : index\n"
    "  %clo = arith.maxsi %q4, %c2 : index\n"
    "  %cc = arith.minsi %clo, %c13 : index\n"
    "  %dc = arith.subi %kc, %cc : index\n  %ac = math.absi %dc : index\n"
    "  %nc = arith.cmpi sle, %ac, %c2 : index\n"
    "  %y = arith.andi %nr, %nc : i1\n  mask.yield %y\n}",
    true};

/// Causal block table (8-token blocks, per head) or the diagonal blocks.
const PatternCase kBlockTableOrDiagonal = {
    "block_table_or_diagonal",
    "%c = mask.causal\n%t = mask.block_table @keep block 8\n"
    "%p = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c8 = arith.constant 8 : index\n"
    "  %qb = arith.floordivsi %q, %c8 : index\n"
    "  %kb = arith.floordivsi %k, %c8 : index\n"
    "  %y = arith.cmpi eq, %qb, %kb : index\n  mask.yield %y\n}\n"
    "%u = mask.union %t, %p\n%m = mask.intersect %c, %u",
    true};

/// The same with the diagonal blocks shifted by h % 2: a predicate of h,
/// whose sets differ between the classes of one plan (never shared). Its
/// diagonal blocks lie below the causal edge, where a tile of two blocks can
/// be kept whole by the table in one block and the predicate in the other:
/// the predicate's sets are exact per KV tile only (its tiers see whole
/// tiles), so their union leaves such a tile PARTIAL, as it always has.
const PatternCase kBlockTableOrHeadDiagonal = {
    "block_table_or_head_diagonal",
    "%c = mask.causal\n%t = mask.block_table @keep block 8\n"
    "%p = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c8 = arith.constant 8 : index\n  %c2 = arith.constant 2 : index\n"
    "  %qb = arith.floordivsi %q, %c8 : index\n"
    "  %kb = arith.floordivsi %k, %c8 : index\n"
    "  %hs = arith.remsi %h, %c2 : index\n"
    "  %ks = arith.addi %kb, %hs : index\n"
    "  %y = arith.cmpi eq, %qb, %ks : index\n  mask.yield %y\n}\n"
    "%u = mask.union %t, %p\n%m = mask.intersect %c, %u",
    true};

/// `q %u 4 <u 4` is always true, but intervals cannot see it (unsigned
/// remainders have no interval rule): tiles inside `k % 16 < 11` are FULL,
/// tiles outside it empty, and neither is decided without looking at every
/// pair. `q % 3 == 0` rows add tiles whose rows differ.
const PatternCase kOpaqueColumns = {
    "opaque_columns",
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c0 = arith.constant 0 : index\n  %c4 = arith.constant 4 : index\n"
    "  %c3 = arith.constant 3 : index\n  %c11 = arith.constant 11 : index\n"
    "  %c16 = arith.constant 16 : index\n"
    "  %r = arith.remui %q, %c4 : index\n"
    "  %t = arith.cmpi ult, %r, %c4 : index\n"
    "  %kc = arith.remsi %k, %c16 : index\n"
    "  %in = arith.cmpi slt, %kc, %c11 : index\n"
    "  %q3 = arith.remsi %q, %c3 : index\n"
    "  %row = arith.cmpi eq, %q3, %c0 : index\n"
    "  %a = arith.andi %t, %in : i1\n  %y = arith.ori %a, %row : i1\n"
    "  mask.yield %y\n}",
    true};

/// Tiles a brute-force classification of every pair gives, compared with
/// the Range-only plan's segments of every (b, h, query tile). FULL tiles
/// must hold kept pairs only, and with `exactFull` every other tile must
/// hold a dropped pair or be clipped at Lk.
void checkExactRangePlan(const TilePlan &plan, const CompiledMask &evaluator,
                         const MaskInputs &in, int64_t bn, bool exactFull) {
  int64_t lk = in.lk, tiles = (lk + bn - 1) / bn;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < plan.heads; ++h)
      for (int64_t m = 0; m < plan.numQueryTiles; ++m) {
        auto [qa, qb] = plan.queryRange(m);
        std::vector<int> visited(tiles, 0), full(tiles, 0);
        for (const Segment &s : plan.segments(b, h, m)) {
          ASSERT_EQ(s.kind, Segment::Range);
          for (int64_t t = s.lo; t < s.hi; ++t) {
            ASSERT_GE(t, 0);
            ASSERT_LT(t, tiles);
            ++visited[t];
            full[t] = s.full;
          }
        }
        for (int64_t t = 0; t < tiles; ++t) {
          bool any = false, all = true;
          for (int64_t q = qa; q <= qb; ++q)
            for (int64_t k = t * bn; k < std::min((t + 1) * bn, lk); ++k) {
              bool kept = evaluator.keep(in, b, h, q, k);
              any |= kept;
              all &= kept;
            }
          bool clipped = (t + 1) * bn > lk;
          ASSERT_LE(visited[t], 1) << "tile " << t << " visited twice";
          EXPECT_EQ(visited[t] == 1, any)
              << "b=" << b << " h=" << h << " m=" << m << " tile " << t;
          if (exactFull || full[t])
            EXPECT_EQ(full[t] == 1, any && all && !clipped)
                << "b=" << b << " h=" << h << " m=" << m << " tile " << t;
        }
      }
}

/// Plans `c` for `in` in both plan forms: Range-only plans are checked
/// tile by tile, plans with gathers by the properties every plan has.
void checkBothForms(const PatternCase &c, PatternKernel &kernel,
                    const MaskInputs &in, int64_t bm, int64_t bn,
                    bool exactFull = true) {
  for (bool gathers : {false, true}) {
    SCOPED_TRACE(gathers ? "gathers" : "range only");
    auto planner = TilePlanner::build(kernel.kernel, PlanOptions{bm, bn, gathers});
    ASSERT_TRUE(mlir::succeeded(planner));
    std::string error;
    auto plan = planner->plan(in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    if (gathers)
      ASSERT_NO_FATAL_FAILURE(
          checkPlanProperties(*plan, *kernel.eval, in, bn, c.minimal));
    else
      ASSERT_NO_FATAL_FAILURE(
          checkExactRangePlan(*plan, *kernel.eval, in, bn, exactFull));
  }
}

/// A shape of the fixed-shape tests: lengths and tile sizes.
struct Shape {
  int64_t lq, lk, blockM, blockN;
  std::string trace() const {
    return "lq=" + std::to_string(lq) + " lk=" + std::to_string(lk) + " tile " +
           std::to_string(blockM) + "x" + std::to_string(blockN);
  }
};

/// A pattern of the random-shape test, and whether its FULL tiles are
/// exact (checkExactRangePlan).
struct ExactCase {
  PatternCase pattern;
  bool exactFull;
};

class PredicateTilePlan : public ::testing::TestWithParam<ExactCase> {};

TEST_P(PredicateTilePlan, ExactOnRandomShapes) {
  const PatternCase &c = GetParam().pattern;
  PatternKernel kernel(c);
  ASSERT_TRUE(kernel.ok());
  std::mt19937 rng(4321);
  for (int iter = 0; iter < 40; ++iter) {
    RandomProblem p = randomProblem(rng, iter, c.name);
    SCOPED_TRACE(p.trace);
    ASSERT_NO_FATAL_FAILURE(checkBothForms(c, kernel, p.in, p.blockM, p.blockN,
                                           GetParam().exactFull));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Predicates, PredicateTilePlan,
    ::testing::Values(ExactCase{kClampedNeighbourhood, true},
                      ExactCase{kBlockTableOrDiagonal, true},
                      ExactCase{kBlockTableOrHeadDiagonal, false},
                      ExactCase{kOpaqueColumns, true}),
    [](const ::testing::TestParamInfo<ExactCase> &info) {
      return std::string(info.param.pattern.name);
    });

/// The neighbourhood on whole grids (rows of 16 keys, clamped at both
/// ends) with tiles that straddle grid rows, and tiles clipped at Lq / Lk.
TEST(PredicateTilePlan, ClampedNeighbourhoodAtGridShapes) {
  PatternKernel kernel(kClampedNeighbourhood);
  ASSERT_TRUE(kernel.ok());
  std::mt19937 rng(7);
  const Shape kShapes[] = {{128, 128, 16, 16}, {128, 128, 8, 8},
                           {128, 128, 12, 20}, {100, 128, 16, 16},
                           {128, 130, 32, 24}, {37, 160, 7, 9}};
  for (const Shape &s : kShapes) {
    SCOPED_TRACE(s.trace());
    MaskInputs in = randomInputs(rng, s.lq, s.lk);
    ASSERT_NO_FATAL_FAILURE(checkBothForms(kClampedNeighbourhood, kernel, in,
                                           s.blockM, s.blockN));
  }
}

/// Block tables read row by row: empty, all-ones and per-head tables of
/// different densities, tiles of one block and of several, Lq < Lk.
TEST(PredicateTilePlan, BlockTablesOfAnyContents) {
  PatternKernel kernel(kBlockTableOrDiagonal);
  ASSERT_TRUE(kernel.ok());
  std::mt19937 rng(11);
  const Shape kShapes[] = {{96, 96, 8, 8},
                           {96, 96, 16, 16},
                           {90, 101, 8, 16},
                           {101, 101, 24, 8},
                           {13, 77, 16, 32}};
  for (const Shape &s : kShapes)
    for (int contents = 0; contents < 3; ++contents) {
      SCOPED_TRACE(s.trace() + " contents " + std::to_string(contents));
      MaskInputs in = randomInputs(rng, s.lq, s.lk);
      TableData &keep = in.tables["keep"];
      int64_t perHead = keep.values.size() / 4;
      for (size_t i = 0; i < keep.values.size(); ++i)
        keep.values[i] = contents == 0   ? 0
                         : contents == 1 ? 1
                                         : int64_t(rng() % 8) < int64_t(i / perHead) * 2;
      ASSERT_NO_FATAL_FAILURE(checkBothForms(kBlockTableOrDiagonal, kernel, in,
                                             s.blockM, s.blockN));
    }
}

/// libsattn_runtime plans from borrowed tables (TableData::borrowed): every
/// table reader must see them as it sees owned ones, so the plans agree
/// buffer for buffer, for tables of every kind (documents, block tables,
/// columns, diagonals, lookups in predicates).
TEST(PredicateTilePlan, BorrowedTablesPlanLikeOwnedOnes) {
  std::mt19937 rng(5);
  for (const char *name : {"document", "block_table", "longformer",
                           "vertical_slash", "band_or_global_pairs"}) {
    SCOPED_TRACE(name);
    const PatternCase *c = patternCase(name);
    ASSERT_TRUE(c);
    PatternKernel kernel(*c);
    ASSERT_TRUE(kernel.ok());
    MaskInputs owned = randomInputs(rng, 90, 120);
    MaskInputs borrowed = owned;
    for (auto &[tableName, data] : borrowed.tables) {
      const TableData &source = owned.tables.at(tableName);
      data.values.assign(data.values.size(), 7); // must not be read
      data.borrowed = source.values.data();
      data.borrowedSize = source.values.size();
    }
    auto planner = TilePlanner::build(kernel.kernel, PlanOptions{16, 8});
    ASSERT_TRUE(mlir::succeeded(planner));
    std::string error;
    auto fromOwned = planner->plan(owned, error);
    ASSERT_TRUE(mlir::succeeded(fromOwned)) << error;
    auto fromBorrowed = planner->plan(borrowed, error);
    ASSERT_TRUE(mlir::succeeded(fromBorrowed)) << error;
    FlatPlan a = fromOwned->flatten(), b = fromBorrowed->flatten();
    EXPECT_EQ(a.segments, b.segments);
    EXPECT_EQ(a.offsets, b.offsets);
    EXPECT_EQ(a.classIndex, b.classIndex);
    for (int64_t q = 0; q < owned.lk; q += 7)
      for (int64_t k = 0; k < owned.lk; k += 5)
        ASSERT_EQ(kernel.eval->keep(owned, 1, 3, q, k),
                  kernel.eval->keep(borrowed, 1, 3, q, k))
            << "q=" << q << " k=" << k;
  }
}

} // namespace
