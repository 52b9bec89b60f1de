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

#include "sattn/Analysis/MaskEvaluator.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlan.h"

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
                     "mask.table @glob : i1 [\"k\"]\n") +
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
  return in;
}

/// Keys visited by one segment.
std::vector<int64_t> segmentKeys(const Segment &s, int64_t bn, int64_t lk) {
  std::vector<int64_t> keys;
  if (s.kind == Segment::Range) {
    for (int64_t k = s.lo * bn; k < std::min(s.hi * bn, lk); ++k)
      keys.push_back(k);
  } else {
    int64_t n = s.numKeys(bn, lk);
    for (int64_t j = 0; j < n; ++j)
      keys.push_back(s.gatheredKey(j));
  }
  return keys;
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
  auto evaluator = MaskEvaluator::build(kernel);
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
    for (int64_t b = 0; b < in.batch; ++b)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t m = 0; m < plan->numQueryTiles; ++m) {
          auto [qa, qb] = plan->queryRange(m);
          std::vector<int> visits(lk, 0);
          for (const Segment &s : plan->segments(b, h, m)) {
            auto keys = segmentKeys(s, opts.blockN, lk);
            bool anyKept = false;
            for (int64_t k : keys) {
              ASSERT_GE(k, 0);
              ASSERT_LT(k, lk);
              ++visits[k];
              bool keptBySomeRow = false;
              for (int64_t q = qa; q <= qb; ++q) {
                bool kept = evaluator->keep(in, b, h, q, k);
                keptBySomeRow |= kept;
                if (s.full)
                  ASSERT_TRUE(kept) << "FULL segment holds dropped pair q=" << q
                                    << " k=" << k << " h=" << h;
              }
              anyKept |= keptBySomeRow;
              if (c.minimal && s.kind == Segment::Gather)
                EXPECT_TRUE(keptBySomeRow)
                    << "gathered key " << k << " is kept by no row, h=" << h;
            }
            if (c.minimal && s.kind == Segment::Range)
              for (int64_t t = s.lo; t < s.hi; ++t) {
                bool tileKept = false;
                for (int64_t k = t * opts.blockN;
                     k < std::min((t + 1) * opts.blockN, lk) && !tileKept; ++k)
                  for (int64_t q = qa; q <= qb && !tileKept; ++q)
                    tileKept = evaluator->keep(in, b, h, q, k);
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
              ASSERT_FALSE(evaluator->keep(in, b, h, q, k))
                  << "kept pair skipped: q=" << q << " k=" << k << " h=" << h
                  << " b=" << b;
          }
        }
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
