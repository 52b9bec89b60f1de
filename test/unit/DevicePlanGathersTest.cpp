//===- DevicePlanGathersTest.cpp - lattice gathers in device plans --------===//
//
// Device plans of kernels that read Gather segments gather the keys of a
// lattice term ((k - s) floormod P < W: strided patterns, predicates of
// that form) instead of visiting their tiles as PARTIAL Range tiles
// (docs/DEVICE_PLANS.md, "Lattice gathers"). Why this file: such plans no
// longer equal the host planner's Range-only plans, so @NAME_plan_cpu's
// plans are checked pair by pair against the reference evaluator
// (DevicePlanCheckSupport.h: every kept pair visited exactly once, FULL
// segments hold kept pairs only), attention on them against dense fp64,
// and their tile visits against the host planner's plans with gathers.
//
//===----------------------------------------------------------------------===//

#include "DevicePlanCheckSupport.h"

#include "sattn/Conversion/DevicePlan.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;
using namespace sattn::cpu_attention_test;
using namespace sattn::device_plan_check;

namespace {

/// `%out = x floormod p` as the spec emitter and ExpandMasks spell it for a
/// positive constant p (remsi, then + p where negative).
#define SATTN_FLOORMOD(x, p, out)                                                    \
  "  %r" out " = arith.remsi " x ", " p " : index\n"                              \
  "  %n" out " = arith.cmpi slt, %r" out ", %c0 : index\n"                          \
  "  %a" out " = arith.addi %r" out ", " p " : index\n"                             \
  "  %" out " = arith.select %n" out ", %a" out ", %r" out " : index\n"

const char *const kConstants = "  %c0 = arith.constant 0 : index\n"
                               "  %c1 = arith.constant 1 : index\n"
                               "  %c3 = arith.constant 3 : index\n"
                               "  %c4 = arith.constant 4 : index\n"
                               "  %c5 = arith.constant 5 : index\n"
                               "  %c12 = arith.constant 12 : index\n"
                               "  %c16 = arith.constant 16 : index\n"
                               "  %c24 = arith.constant 24 : index\n";

struct GatherCase {
  std::string name, body;
  /// Whether the mask has a lattice term (else the plan is Range-only).
  bool lattice = true;
  /// Whether the device plan visits as many tiles as the host plan with
  /// gathers in every query tile. Where not, it visits fewer (the host
  /// gathers only named strides: predicate lattices such as W = 4 of 16 are
  /// PARTIAL Range tiles there) or, with documents, up to one more BN-key
  /// tile per query tile: a gathered tile's bounds (the minimum and maximum
  /// document id of its keys) may say a lattice key of another document
  /// than the query tile's can be kept, where the host reads the exact runs
  /// of the table.
  bool sameAsHost = false;
  /// A lattice term whose shift is out of the range the stages compute
  /// exactly (kLatticeShiftLimit): Range tiles only.
  bool fallsBack = false;
};

std::vector<GatherCase> gatherCases() {
  std::string c = kConstants;
  auto predicate = [&](const std::string &ops, const char *name = "%p") {
    return std::string(name) + " = mask.predicate(%b, %h, %q, %k) {\n" + c + ops + "}\n";
  };
  return {
      {"strided_alone", "%m = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>", true,
       true},
      {"causal_strided",
       "%c = mask.causal\n%s = mask.strided stride 8 offset affine_map<(h) -> (h * 3 + 1)>\n"
       "%m = mask.intersect %c, %s",
       true, true},
      {"s2_token",
       "%c = mask.causal\n%w = mask.window 6\n"
       "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
       "%u = mask.union %w, %s\n%m = mask.intersect %c, %u",
       true, true},
      // S2-Attention on packed documents (the mask, scaled down).
      {"s2_documents",
       "%c = mask.causal\n%d = mask.document @doc\n"
       "%s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>\n%w = mask.window 12\n"
       "%u = mask.union %s, %w\n%m = mask.intersect %c, %d, %u"},
      // Period at least the tile (40), and one not dividing it (12).
      {"wide_period",
       "%c = mask.causal\n%s = mask.strided stride 40 offset affine_map<(h) -> (h * 7)>\n"
       "%m = mask.intersect %c, %s",
       true, true},
      {"period_12",
       "%w = mask.window 5\n%s = mask.strided stride 12 offset affine_map<(h) -> (h * 5 + 11)>\n"
       "%m = mask.union %w, %s",
       true, true},
      // Dilated width: (k - 3) floormod 16 < 4, and causal.
      {"dilated_width", "%c = mask.causal\n" +
                            predicate("  %x = arith.subi %k, %c3 : index\n" SATTN_FLOORMOD(
                                "%x", "%c16", "f") "  %y = arith.cmpi slt, %f, %c4 : index\n"
                                                   "  mask.yield %y\n") +
                            "%m = mask.intersect %c, %p"},
      // h + 2 >= (k + h) floormod 12 (the lattice on the right, <=), per
      // head, or'ed with a window inside the predicate, and'ed with causal.
      {"per_head_width",
       predicate("  %x = arith.addi %k, %h : index\n" SATTN_FLOORMOD("%x", "%c12", "f")
                 "  %w = arith.addi %h, %c1 : index\n"
                 "  %w2 = arith.addi %w, %c1 : index\n"
                 "  %l = arith.cmpi sge, %w2, %f : index\n"
                 "  %d = arith.subi %q, %k : index\n"
                 "  %near = arith.cmpi sle, %d, %c5 : index\n"
                 "  %o = arith.ori %l, %near : i1\n"
                 "  %cz = arith.cmpi sle, %k, %q : index\n"
                 "  %y = arith.andi %o, %cz : i1\n  mask.yield %y\n",
                 "%m")},
      // k floormod 3 == h: head 3 keeps no lattice key; or a window.
      {"equal_out_of_range",
       "%w = mask.window 5\n" +
           predicate(SATTN_FLOORMOD("%k", "%c3", "f") "  %y = arith.cmpi eq, %f, %h : index\n"
                                                      "  mask.yield %y\n") +
           "%m = mask.union %w, %p"},
      // The last offset of a period (k rem 24 == 23: the key's plain
      // remainder).
      {"last_offset",
       "%c = mask.causal\n" +
           predicate("  %r = arith.remsi %k, %c24 : index\n"
                     "  %c23 = arith.constant 23 : index\n"
                     "  %y = arith.cmpi eq, %r, %c23 : index\n  mask.yield %y\n") +
           "%m = mask.intersect %c, %p"},
      // The batch in the shift ((k - b) floormod 5 < 1), with documents.
      {"per_batch",
       "%c = mask.causal\n%d = mask.document @doc\n" +
           predicate("  %x = arith.subi %k, %b : index\n" SATTN_FLOORMOD("%x", "%c5", "f")
                     "  %y = arith.cmpi slt, %f, %c1 : index\n  mask.yield %y\n") +
           "%w = mask.window 4\n%u = mask.union %p, %w\n%m = mask.intersect %c, %d, %u"},
      // The shift read from a table per batch element ((k - doc[b, 24])
      // floormod 8 < 1), or a window.
      {"table_shift",
       "%c = mask.causal\n" +
           predicate("  %s = mask.lookup @doc[%b, %c24] : index\n"
                     "  %c8 = arith.constant 8 : index\n"
                     "  %x = arith.subi %k, %s : index\n" SATTN_FLOORMOD("%x", "%c8", "f")
                     "  %l = arith.cmpi slt, %f, %c1 : index\n"
                     "  %d = arith.subi %q, %k : index\n"
                     "  %near = arith.cmpi slt, %d, %c4 : index\n"
                     "  %y = arith.ori %l, %near : i1\n  mask.yield %y\n") +
           "%m = mask.intersect %c, %p"},
      // k + (2^63 - 8) wraps for k >= 8, and 12 does not divide 2^64: the
      // shift is out of range, the plan falls back to PARTIAL Range tiles.
      {"huge_shift",
       "%c = mask.causal\n" +
           predicate("  %big = arith.constant 9223372036854775800 : index\n"
                     "  %x = arith.addi %big, %k : index\n" SATTN_FLOORMOD("%x", "%c12", "f")
                     "  %y = arith.cmpi slt, %f, %c5 : index\n  mask.yield %y\n") +
           "%m = mask.intersect %c, %p",
       true, false, true},
      // Reached through a complement: not a lattice term (Range tiles).
      {"complement",
       "%c = mask.causal\n%s = mask.strided stride 4 offset affine_map<(h) -> (h)>\n"
       "%n = mask.complement %s\n%m = mask.intersect %c, %n",
       false},
  };
}

TEST(DevicePlanGathers, LatticeKeysAreGatheredExactlyOnce) {
  std::mt19937 rng(5);
  // Tiles: BN below, equal to and above the periods; rows of up to 75 KV
  // tiles (three pieces of abi::kRunChunk for count and write).
  static const int64_t kTiles[][2] = {{16, 8}, {8, 16}, {32, 32}, {16, 4}, {64, 64}};
  int64_t masks = 0, plans = 0;
  for (const GatherCase &g : gatherCases()) {
    SCOPED_TRACE(g.name);
    PatternCase pattern{g.name.c_str(), g.body.c_str(), false};
    PatternKernel k(pattern);
    ASSERT_TRUE(k.ok());
    int64_t heads = k.kernel.getHeads();
    // Named patterns are lattice terms once expanded (the CPU pipeline
    // expands them); predicates are as written.
    if (g.body.find("mask.predicate") != std::string::npos)
      EXPECT_EQ(deviceplan::hasLatticeGathers(k.kernel, true), g.lattice);
    EXPECT_FALSE(deviceplan::hasLatticeGathers(k.kernel, false));
    ++masks;
    PlanTally tally;
    int64_t device = 0, host = 0, fewer = 0, more = 0, rangeOnly = 0;
    for (const auto &tiles : kTiles) {
      int64_t bm = tiles[0], bn = tiles[1];
      auto cpu = compileWithPlans(k.kernel, bm, bn, /*lists=*/true);
      ASSERT_TRUE(mlir::succeeded(cpu));
      auto planner = TilePlanner::build(k.kernel, PlanOptions{bm, bn, true});
      ASSERT_TRUE(mlir::succeeded(planner));
      for (int iter = 0; iter < 3; ++iter) {
        // Lk not a multiple of the tile (mostly), Lq < Lk every other time.
        int64_t lk = 1 + rng() % (bn >= 32 ? 400 : 200);
        int64_t lq = iter == 1 ? 1 + rng() % lk : lk;
        MaskInputs in = randomInputs(rng, lq, lk);
        SCOPED_TRACE("lq=" + std::to_string(lq) + " lk=" + std::to_string(lk) +
                     " BM=" + std::to_string(bm) + " BN=" + std::to_string(bn));
        std::string error;
        auto plan = cpu->buildDevicePlan(k.kernel.getSymName(), in, error);
        ASSERT_TRUE(mlir::succeeded(plan)) << error;
        ++plans;
        ASSERT_NO_FATAL_FAILURE(
            checkCoverage(*plan, *k.eval, in, heads, bm, bn, tally));
        if (iter == 1)
          ASSERT_NO_FATAL_FAILURE(checkAttention(*cpu, k.kernel, *k.eval, in, *plan, rng));
        auto hostPlan = planner->plan(in, error);
        ASSERT_TRUE(mlir::succeeded(hostPlan)) << error;
        for (int64_t b = 0; b < in.batch; ++b)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t m = 0; m < hostPlan->numQueryTiles; ++m) {
              int64_t d = deviceVisits(*plan, heads, b, h, m, bn, lk);
              int64_t w = hostVisits(*hostPlan, b, h, m, bn, lk);
              device += d;
              host += w;
              fewer += d < w;
              more += d > w;
              if (!g.lattice || g.fallsBack)
                continue; // Range-only plans (host plans may gather bands)
              if (g.sameAsHost)
                EXPECT_EQ(d, w) << "b=" << b << " h=" << h << " m=" << m;
              else
                EXPECT_LE(d, w + 1) << "b=" << b << " h=" << h << " m=" << m;
            }
        // The Range-only plan of the same problem, for the saving.
        auto rangePlanner = TilePlanner::build(k.kernel, PlanOptions{bm, bn, false});
        ASSERT_TRUE(mlir::succeeded(rangePlanner));
        auto rangePlan = rangePlanner->plan(in, error);
        ASSERT_TRUE(mlir::succeeded(rangePlan)) << error;
        for (int64_t b = 0; b < in.batch; ++b)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t m = 0; m < rangePlan->numQueryTiles; ++m)
              rangeOnly += hostVisits(*rangePlan, b, h, m, bn, lk);
      }
    }
    std::cerr << "[ info ] " << g.name << ": " << tally.queryTiles << " query tiles, "
              << tally.gathers << " gathers (" << tally.fullGathers << " full), "
              << tally.gatheredKeys << " gathered keys, " << tally.rangeTiles
              << " range tiles; tile visits device " << device << ", host with gathers "
              << host << ", Range-only " << rangeOnly << "; query tiles where the device "
              << "visits fewer " << fewer << ", more " << more << "\n";
    if (g.lattice && !g.fallsBack) {
      EXPECT_GT(tally.gathers, 0);
      EXPECT_LT(device, rangeOnly) << "gathers save no tile visit";
    } else {
      EXPECT_EQ(tally.gathers, 0);
      if (!g.fallsBack) // fallen back, tiles the whole mask may keep are PARTIAL
        EXPECT_EQ(device, rangeOnly);
    }
  }
  std::cerr << "[ info ] lattice gathers: " << masks << " masks, " << plans << " plans\n";
}

} // namespace
