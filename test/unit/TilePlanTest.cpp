//===- TilePlanTest.cpp - brute-force properties of tile plans ------------===//
//
// For every named pattern (and a few combinations and predicates), random
// shapes (ragged lengths, Lq < Lk, GQA, batch 2) and several tile sizes,
// the plan is compared with the reference evaluator pair by pair:
//   1. no kept pair is skipped and no key is visited twice in a tile;
//   2. FULL segments hold only kept pairs;
//   3. for named patterns the plan is minimal: every visited range tile and
//      every gathered key is kept by some row of the query tile.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;

namespace {

struct PatternCase {
  const char *name;
  const char *body; // ops of the kernel body; the last value is yielded as %m
  bool minimal;     // property 3 holds
};

const PatternCase kCases[] = {
    {"causal", "%m = mask.causal", true},
    {"dense", "%m = mask.full", true},
    {"window", "%m = mask.window 7", true},
    {"symmetric", "%m = mask.window 5 symmetric", true},
    {"sink", "%m = mask.sink 6", true},
    {"streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u",
     true},
    {"tri_shape",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%t = mask.tail_queries 5\n%u = mask.union %s, %w, %t\n"
     "%m = mask.intersect %c, %u",
     true},
    {"strided",
     "%c = mask.causal\n%s = mask.strided stride 4 offset affine_map<(h) -> (h mod 4)>\n"
     "%m = mask.intersect %c, %s",
     true},
    {"s2_token",
     "%c = mask.causal\n%w = mask.window 6\n"
     "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u",
     true},
    {"s2_blocks",
     "%m = mask.strided_blocks block 8 local 2 vert_stride 3 offset 1 "
     "dense_heads 1 per_kv_group",
     true},
    {"s2_blocks_per_head",
     "%m = mask.strided_blocks block 4 local 1 vert_stride 4 offset 0 dense_heads 0",
     true},
    {"dilated", "%m = mask.dilated window 4 dilation 3", true},
    {"power", "%m = mask.power block 8 window 2 sink 1", true},
    {"power_small_blocks", "%m = mask.power block 4 window 0 sink 0", true},
    {"prefix", "%m = mask.prefix 6", true},
    {"document", "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d", true},
    {"block_table",
     "%c = mask.causal\n%b = mask.block_table @keep block 8\n%m = mask.intersect %c, %b",
     true},
    {"per_head",
     "%c = mask.causal\n%w = mask.window 5\n%s = mask.sink 3\n"
     "%m = mask.per_head %c, %w, %s assign [0, 1, 2, 1]",
     true},
    {"neighborhood_2d",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c8 = arith.constant 8 : index\n  %c1 = arith.constant 1 : index\n"
     "  %qr = arith.floordivsi %q, %c8 : index\n  %kr = arith.floordivsi %k, %c8 : index\n"
     "  %qc = arith.remsi %q, %c8 : index\n  %kc = arith.remsi %k, %c8 : index\n"
     "  %dr = arith.subi %qr, %kr : index\n  %dc = arith.subi %qc, %kc : index\n"
     "  %ar = math.absi %dr : index\n  %ac = math.absi %dc : index\n"
     "  %r = arith.cmpi sle, %ar, %c1 : index\n  %cc = arith.cmpi sle, %ac, %c1 : index\n"
     "  %y = arith.andi %r, %cc : i1\n  mask.yield %y\n}",
     true},
    {"longformer",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c3 = arith.constant 3 : index\n  %d = arith.subi %q, %k : index\n"
     "  %a = math.absi %d : index\n  %near = arith.cmpi sle, %a, %c3 : index\n"
     "  %gk = mask.lookup @glob[%k] : i1\n  %gq = mask.lookup @glob[%q] : i1\n"
     "  %o = arith.ori %near, %gk : i1\n  %y = arith.ori %o, %gq : i1\n  mask.yield %y\n}",
     true},
    // Column and diagonal tables (MInference vertical-slash): planned from
    // the exact key sets of TableTerms, with key lists and bands.
    {"vertical_slash",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.ori %v, %s : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     true},
    {"columns_and_diagonals",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.andi %v, %s : i1\n"
     "  mask.yield %y\n}",
     true},
    {"columns", "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  mask.yield %v\n}",
     true},
    // Predicates of q - k alone: unions of diagonal bands (DiagonalBands),
    // planned from exact offset runs, including offsets on both sides of
    // the diagonal, periodic bands and a select on the offset.
    {"diagonal_points",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %d = arith.subi %q, %k : index\n  %e = arith.subi %k, %q : index\n"
     "  %c0 = arith.constant 0 : index\n  %c5 = arith.constant 5 : index\n"
     "  %c9 = arith.constant 9 : index\n"
     "  %a = arith.cmpi eq, %d, %c0 : index\n  %b5 = arith.cmpi eq, %d, %c5 : index\n"
     "  %n9 = arith.cmpi eq, %e, %c9 : index\n"
     "  %o = arith.ori %a, %b5 : i1\n  %y = arith.ori %o, %n9 : i1\n  mask.yield %y\n}",
     true},
    {"diagonal_periodic",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %d = arith.subi %q, %k : index\n  %c7 = arith.constant 7 : index\n"
     "  %c2 = arith.constant 2 : index\n  %c20 = arith.constant 20 : index\n"
     "  %r = arith.remsi %d, %c7 : index\n  %lt = arith.cmpi slt, %r, %c2 : index\n"
     "  %far = arith.cmpi sgt, %d, %c20 : index\n"
     "  %s = arith.select %far, %c2, %r : index\n"
     "  %y = arith.cmpi slt, %s, %c2 : index\n  %z = arith.andi %y, %lt : i1\n"
     "  mask.yield %z\n}\n%m = mask.intersect %c, %p",
     true},
    // Predicates of k alone (columns) and of q alone (rows).
    {"key_axis",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c5 = arith.constant 5 : index\n  %c1 = arith.constant 1 : index\n"
     "  %c3 = arith.constant 3 : index\n  %r = arith.remsi %k, %c5 : index\n"
     "  %a = arith.cmpi eq, %r, %c1 : index\n  %e = arith.cmpi eq, %k, %c3 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     true},
    {"query_axis",
     "%w = mask.window 6\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c4 = arith.constant 4 : index\n  %c0 = arith.constant 0 : index\n"
     "  %c3 = arith.constant 3 : index\n  %r = arith.remsi %q, %c4 : index\n"
     "  %a = arith.cmpi eq, %r, %c0 : index\n  %e = arith.cmpi slt, %q, %c3 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}\n%m = mask.union %w, %p",
     true},
    // Predicates that mix shapes: split at their top-level | into parts of
    // one axis each (PredicateSplit.cpp); an & inside a part stays whole.
    {"mixed_axes",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c7 = arith.constant 7 : index\n  %c3 = arith.constant 3 : index\n"
     "  %c5 = arith.constant 5 : index\n  %c0 = arith.constant 0 : index\n"
     "  %rk = arith.remsi %k, %c7 : index\n  %a = arith.cmpi eq, %rk, %c3 : index\n"
     "  %rq = arith.remsi %q, %c5 : index\n  %e = arith.cmpi eq, %rq, %c0 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}",
     true},
    {"band_or_global_pairs",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c4 = arith.constant 4 : index\n  %c0 = arith.constant 0 : index\n"
     "  %d = arith.subi %q, %k : index\n  %r = arith.remsi %d, %c4 : index\n"
     "  %a = arith.cmpi eq, %r, %c0 : index\n  %g = mask.lookup @glob[%k] : i1\n"
     "  %gq = mask.lookup @glob[%q] : i1\n  %o = arith.andi %g, %gq : i1\n"
     "  %y = arith.ori %a, %o : i1\n  mask.yield %y\n}",
     true},
    {"complement",
     "%c = mask.causal\n%w = mask.window 5\n%n = mask.complement %w\n"
     "%m = mask.intersect %c, %n",
     false},
};

std::string kernelText(const PatternCase &c) {
  return std::string("sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 4, "
                     "kv_heads = 2, scale = 0.125) {\n"
                     "mask.table @doc : i32 [\"b\", \"k\"]\n"
                     "mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n"
                     "mask.table @glob : i1 [\"k\"]\n"
                     "mask.table @vcol : i1 [\"h\", \"k\"]\n"
                     "mask.table @slash : i1 [\"h\", \"k\"]\n") +
         c.body + "\nsattn.yield %m\n}\n";
}

MaskInputs randomInputs(std::mt19937 &rng, int64_t lq, int64_t lk) {
  MaskInputs in;
  in.batch = 2;
  in.lq = lq;
  in.lk = lk;
  TableData doc{{2, lk}, std::vector<int64_t>(2 * lk)};
  for (int64_t b = 0; b < 2; ++b) {
    int64_t id = 0;
    for (int64_t k = 0; k < lk; ++k) {
      if (rng() % 23 == 0)
        ++id;
      doc.values[b * lk + k] = id;
    }
  }
  int64_t nb = (lk + 7) / 8;
  TableData keep{{4, nb, nb}, std::vector<int64_t>(4 * nb * nb)};
  for (auto &v : keep.values)
    v = rng() % 4 == 0;
  TableData glob{{lk}, std::vector<int64_t>(lk)};
  for (auto &v : glob.values)
    v = rng() % 17 == 0;
  in.tables["doc"] = doc;
  in.tables["keep"] = keep;
  in.tables["glob"] = glob;
  // Sparse columns and diagonals, the first two of each forced in.
  for (const char *name : {"vcol", "slash"}) {
    TableData t{{4, lk}, std::vector<int64_t>(4 * lk)};
    for (int64_t i = 0; i < 4 * lk; ++i)
      t.values[i] = i % lk < 2 || rng() % 9 == 0;
    in.tables[name] = t;
  }
  return in;
}

/// Keys visited by one segment of (b, h).
std::vector<int64_t> segmentKeys(const TilePlan &plan, int64_t b, int64_t h,
                                 const Segment &s, int64_t bn, int64_t lk) {
  std::vector<int64_t> keys;
  if (s.kind == Segment::Range) {
    for (int64_t k = s.lo * bn; k < std::min(s.hi * bn, lk); ++k)
      keys.push_back(k);
  } else {
    int64_t n = s.numKeys(bn, lk);
    for (int64_t j = 0; j < n; ++j)
      keys.push_back(plan.gatheredKey(b, h, s, j));
  }
  return keys;
}

/// Properties 1-3 of the file comment for every query tile of every (b, h).
void checkPlanProperties(const TilePlan &plan, const CompiledMask &evaluator,
                         const MaskInputs &in, int64_t bn, bool minimal) {
  int64_t lk = in.lk;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t m = 0; m < plan.numQueryTiles; ++m) {
        auto [qa, qb] = plan.queryRange(m);
        std::vector<int> visits(lk, 0);
        for (const Segment &s : plan.segments(b, h, m)) {
          auto keys = segmentKeys(plan, b, h, s, bn, lk);
          bool anyKept = false;
          for (int64_t k : keys) {
            ASSERT_GE(k, 0);
            ASSERT_LT(k, lk);
            ++visits[k];
            bool keptBySomeRow = false;
            for (int64_t q = qa; q <= qb; ++q) {
              bool kept = evaluator.keep(in, b, h, q, k);
              keptBySomeRow |= kept;
              if (s.full)
                ASSERT_TRUE(kept) << "FULL segment holds dropped pair q=" << q
                                  << " k=" << k << " h=" << h;
            }
            anyKept |= keptBySomeRow;
            if (minimal && s.kind != Segment::Range)
              EXPECT_TRUE(keptBySomeRow)
                  << "gathered key " << k << " is kept by no row, h=" << h;
          }
          if (minimal && s.kind == Segment::Range)
            for (int64_t t = s.lo; t < s.hi; ++t) {
              bool tileKept = false;
              for (int64_t k = t * bn;
                   k < std::min((t + 1) * bn, lk) && !tileKept; ++k)
                for (int64_t q = qa; q <= qb && !tileKept; ++q)
                  tileKept = evaluator.keep(in, b, h, q, k);
              EXPECT_TRUE(tileKept) << "visited tile " << t
                                    << " has no kept pair, h=" << h;
            }
          (void)anyKept;
        }
        for (int64_t k = 0; k < lk; ++k) {
          ASSERT_LE(visits[k], 1) << "key " << k << " visited twice";
          if (visits[k])
            continue;
          for (int64_t q = qa; q <= qb; ++q)
            ASSERT_FALSE(evaluator.keep(in, b, h, q, k))
                << "kept pair skipped: q=" << q << " k=" << k << " h=" << h
                << " b=" << b;
        }
      }
}

class TilePlanProperties : public ::testing::TestWithParam<PatternCase> {};

TEST_P(TilePlanProperties, HoldOnRandomShapes) {
  const PatternCase &c = GetParam();
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kernelText(c), &context);
  ASSERT_TRUE(module) << kernelText(c);
  auto kernel = *module->getOps<KernelOp>().begin();
  auto evaluator = CompiledMask::compile(kernel);
  ASSERT_TRUE(mlir::succeeded(evaluator));

  std::mt19937 rng(1234);
  const int64_t tileSizes[][2] = {{8, 8}, {16, 8}, {8, 16}, {32, 32}, {16, 4}};
  for (int iter = 0; iter < 60; ++iter) {
    int64_t lk = 1 + rng() % 150;
    int64_t lq = iter % 3 == 0 ? lk : 1 + rng() % lk;
    auto ts = tileSizes[iter % 5];
    PlanOptions opts{ts[0], ts[1]};
    auto planner = TilePlanner::build(kernel, opts);
    ASSERT_TRUE(mlir::succeeded(planner));
    MaskInputs in = randomInputs(rng, lq, lk);
    std::string error;
    auto plan = planner->plan(in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    SCOPED_TRACE(std::string(c.name) + " lq=" + std::to_string(lq) +
                 " lk=" + std::to_string(lk) + " BM=" + std::to_string(ts[0]) +
                 " BN=" + std::to_string(ts[1]));
    ASSERT_NO_FATAL_FAILURE(
        checkPlanProperties(*plan, *evaluator, in, opts.blockN, c.minimal));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, TilePlanProperties, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

TEST(TilePlan, StridedPatternsGatherInsteadOfMasking) {
  // S2 token strides at 8 visit about 1/8 of the dense tiles.
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  PatternCase c{"s", "%c = mask.causal\n%s = mask.strided stride 8 offset "
                     "affine_map<(h) -> (h mod 8)>\n%m = mask.intersect %c, %s",
                true};
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kernelText(c), &context);
  auto kernel = *module->getOps<KernelOp>().begin();
  auto planner = TilePlanner::build(kernel, PlanOptions{64, 64});
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
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  const PatternCase *vs = nullptr;
  for (const PatternCase &c : kCases)
    if (std::string(c.name) == "vertical_slash")
      vs = &c;
  ASSERT_TRUE(vs);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kernelText(*vs), &context);
  auto kernel = *module->getOps<KernelOp>().begin();
  auto evaluator = CompiledMask::compile(kernel);
  ASSERT_TRUE(mlir::succeeded(evaluator));
  auto planner = TilePlanner::build(kernel, PlanOptions{64, 64});
  ASSERT_TRUE(mlir::succeeded(planner));
  std::mt19937 rng(99);
  const int64_t lk = 2048;
  MaskInputs in = randomInputs(rng, lk, lk);
  for (auto [name, count] : {std::pair<const char *, int>{"vcol", 40}, {"slash", 12}}) {
    TableData &t = in.tables[name];
    std::fill(t.values.begin(), t.values.end(), 0);
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t i = 0; i < 8; ++i)
        t.values[h * lk + i] = 1;
      for (int i = 0; i < count; ++i)
        t.values[h * lk + rng() % lk] = 1;
    }
  }
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
  ASSERT_NO_FATAL_FAILURE(checkPlanProperties(*plan, *evaluator, in, 64, true));
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

TEST(TilePlan, CausalSplitsFullAndPartialTiles) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  PatternCase c{"c", "%m = mask.causal", true};
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kernelText(c), &context);
  auto kernel = *module->getOps<KernelOp>().begin();
  auto planner = TilePlanner::build(kernel, PlanOptions{128, 128});
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
