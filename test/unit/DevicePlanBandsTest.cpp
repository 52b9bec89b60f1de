//===- DevicePlanBandsTest.cpp - diagonal bands in device plans -----------===//
//
// Device plans of kernels that read Gather segments gather the bands of a
// diagonal term's kept diagonals (`slash[h, q - k]`) as Gather segments of
// period 1 instead of visiting every tile a diagonal crosses as a PARTIAL
// Range tile (docs/DEVICE_PLANS.md, "Diagonal bands"). Why this file: such
// plans no longer equal the host planner's Range-only plans, so
// @NAME_plan_cpu's plans are checked pair by pair against the reference
// evaluator (DevicePlanCheckSupport.h: every kept pair visited exactly
// once, FULL segments hold kept pairs only), attention on some of them
// against dense fp64, and their tile visits against the host planner's
// plans with gathers and its Range-only plans.
//
//===----------------------------------------------------------------------===//

#include "DevicePlanCheckSupport.h"

#include "sattn/Conversion/DevicePlan.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;
using namespace sattn::cpu_attention_test;
using namespace sattn::device_plan_check;

namespace {

/// `%s` = slash[ROW, q - k] in a predicate yielding `yield`.
std::string slashPredicate(const std::string &row, const std::string &ops,
                           const std::string &yield, const char *name = "%p") {
  return std::string(name) +
         " = mask.predicate(%b, %h, %q, %k) {\n"
         "  %c1 = arith.constant 1 : index\n  %c3 = arith.constant 3 : index\n"
         "  %c96 = arith.constant 96 : index\n"
         "  %d = arith.subi %q, %k : index\n"
         "  %s = mask.lookup @slash[" +
         row + ", %d] : i1\n" + ops + "  mask.yield " + yield + "\n}\n";
}

struct BandCase {
  std::string name, body;
  /// Whether the device plan gathers bands (else: column lists or Range
  /// tiles, as before bands).
  bool bands = true;
};

std::vector<BandCase> bandCases() {
  return {
      {"causal_slash", "%c = mask.causal\n" + slashPredicate("%h", "", "%s") +
                           "%m = mask.intersect %c, %p"},
      // Without causal: offsets below 0 read outside the table (no diagonal).
      {"slash_alone", slashPredicate("%h", "", "%s", "%m")},
      // A window in the rest: its tiles are Range tiles, bands avoid them.
      {"slash_or_window", "%c = mask.causal\n%w = mask.window 3\n" +
                              slashPredicate("%h", "", "%s") +
                              "%u = mask.union %w, %p\n%m = mask.intersect %c, %u"},
      // One table row for every head (one class per batch element).
      {"shared_row", "%c = mask.causal\n" + slashPredicate("%c1", "", "%s") +
                         "%m = mask.intersect %c, %p"},
      // Documents: classes per batch element, tiles across documents that
      // the whole mask cannot keep are neither visited nor gathered.
      {"slash_documents", "%c = mask.causal\n%doc = mask.document @doc\n" +
                              slashPredicate("%h", "", "%s") +
                              "%m = mask.intersect %c, %doc, %p"},
      // Inside the predicate: (slash | q - k < 3) & q - k <= 96.
      {"slash_in_predicate",
       slashPredicate("%h",
                      "  %near = arith.cmpi slt, %d, %c3 : index\n"
                      "  %o = arith.ori %s, %near : i1\n"
                      "  %close = arith.cmpi sle, %d, %c96 : index\n"
                      "  %y = arith.andi %o, %close : i1\n",
                      "%y", "%m")},
      // vertical_slash: the column term takes precedence (column lists,
      // the diagonals stay in the rest: PARTIAL Range tiles).
      {"vertical_slash",
       "%c = mask.causal\n" +
           slashPredicate("%h", "  %v = mask.lookup @vcol[%h, %k] : i1\n"
                                "  %y = arith.ori %v, %s : i1\n",
                          "%y") +
           "%m = mask.intersect %c, %p",
       false},
      // Diagonals as a point set of q - k (37 == q - k, either order).
      {"diagonal_points",
       "%c = mask.causal\n%m0 = mask.predicate(%b, %h, %q, %k) {\n"
       "  %c37 = arith.constant 37 : index\n  %c90 = arith.constant 90 : index\n"
       "  %d = arith.subi %q, %k : index\n"
       "  %a = arith.cmpi eq, %c37, %d : index\n  %e = arith.cmpi eq, %d, %c90 : index\n"
       "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}\n%m = mask.intersect %c, %m0"},
      // The planner tests' points on both sides of the diagonal: q - k == 0
      // and q - k == 5 are the point set, k - q == 9 stays in the rest.
      {"points_both_sides", patternCase("diagonal_points")->body},
      // Reached through a complement: not monotone (Range tiles).
      {"complement", "%c = mask.causal\n" + slashPredicate("%h", "", "%s") +
                         "%n = mask.complement %p\n%m = mask.intersect %c, %n",
       false},
  };
}

/// The slash table's variants: randomInputs' (the first two diagonals of
/// each head and one in nine), none, all, one per head, a run of adjacent
/// diagonals with a few random ones, and the highest offsets (bands clipped
/// at key 0, up to Lk - 1).
enum class Diagonals { Random, None, All, One, Adjacent, Highest, Count };

void fillSlash(MaskInputs &in, Diagonals kind, std::mt19937 &rng) {
  TableData &t = in.tables["slash"];
  int64_t lk = in.lk;
  if (kind == Diagonals::Random)
    return;
  std::fill(t.values.begin(), t.values.end(), kind == Diagonals::All ? 1 : 0);
  for (int64_t h = 0; h < 4; ++h) {
    int64_t *row = &t.values[h * lk];
    if (kind == Diagonals::One) {
      row[rng() % lk] = 1;
    } else if (kind == Diagonals::Adjacent) {
      int64_t first = rng() % lk;
      for (int64_t d = first; d < std::min(lk, first + 5); ++d)
        row[d] = 1;
      for (int i = 0; i < 3; ++i)
        row[rng() % lk] = 1;
    } else if (kind == Diagonals::Highest) {
      for (int64_t d = std::max<int64_t>(0, lk - 20); d < lk; d += 1 + rng() % 4)
        row[d] = 1;
      row[lk - 1] = 1;
    }
  }
}

/// The sum of `f(b, h, m)` over every (batch, head, query tile).
template <typename PerQueryTile>
int64_t sumOverQueryTiles(int64_t batch, int64_t heads, int64_t queryTiles, PerQueryTile f) {
  int64_t n = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t m = 0; m < queryTiles; ++m)
        n += f(b, h, m);
  return n;
}

/// The most segment rows a query tile of `p` takes (at most N, the KV
/// tiles per row, whatever its bands).
int64_t mostRowsPerQueryTile(const FlatPlan &p) {
  int64_t most = 0;
  for (int64_t c = 0; c < p.numClasses; ++c)
    for (int64_t m = 0; m < p.numQueryTiles; ++m)
      most = std::max(most, p.offsets[c * (p.numQueryTiles + 1) + m + 1] -
                                p.offsets[c * (p.numQueryTiles + 1) + m]);
  return most;
}

TEST(DevicePlanBands, DiagonalBandsAreGatheredExactlyOnce) {
  std::mt19937 rng(17);
  // BM below, equal to and above BN; rows of up to 75 KV tiles (three
  // pieces of abi::kRunChunk for count and write).
  static const int64_t kTiles[][2] = {{16, 8}, {8, 16}, {32, 32}, {16, 4}, {64, 64}};
  int64_t plans = 0;
  for (const BandCase &g : bandCases()) {
    SCOPED_TRACE(g.name);
    PatternCase pattern{g.name.c_str(), g.body.c_str(), false};
    PatternKernel k(pattern);
    ASSERT_TRUE(k.ok());
    int64_t heads = k.kernel.getHeads();
    EXPECT_EQ(deviceplan::hasDiagonalBands(k.kernel, true), g.bands);
    EXPECT_FALSE(deviceplan::hasDiagonalBands(k.kernel, false));
    // A query tile's segment rows: at most N, and its List segment.
    int64_t listRows = deviceplan::listKeyCapacity(k.kernel, true) > 0;
    PlanTally tally;
    int64_t device = 0, deviceRangeOnly = 0, host = 0, rangeOnly = 0, fewerThanHost = 0,
            moreThanHost = 0, moreThanRangeOnly = 0;
    for (const auto &tiles : kTiles) {
      int64_t bm = tiles[0], bn = tiles[1];
      auto cpu = compileWithPlans(k.kernel, bm, bn, /*lists=*/true);
      ASSERT_TRUE(mlir::succeeded(cpu));
      // The device's Range-only plans (for masks without bands, the plans
      // with gathers are compared with the host's only).
      mlir::FailureOr<CpuAttention> cpuRangeOnly = mlir::failure();
      if (g.bands) {
        cpuRangeOnly = compileWithPlans(k.kernel, bm, bn, /*lists=*/false);
        ASSERT_TRUE(mlir::succeeded(cpuRangeOnly));
      }
      auto planner = TilePlanner::build(k.kernel, PlanOptions{bm, bn, true});
      ASSERT_TRUE(mlir::succeeded(planner));
      auto rangePlanner = TilePlanner::build(k.kernel, PlanOptions{bm, bn, false});
      ASSERT_TRUE(mlir::succeeded(rangePlanner));
      for (int variant = 0; variant < int(Diagonals::Count); ++variant) {
        // Lk not a multiple of the tile (mostly), Lq < Lk every other time.
        int64_t lk = 1 + rng() % (bn >= 32 ? 250 : 200);
        int64_t lq = variant % 2 == 1 ? 1 + rng() % lk : lk;
        MaskInputs in = randomInputs(rng, lq, lk);
        fillSlash(in, Diagonals(variant), rng);
        SCOPED_TRACE("variant=" + std::to_string(variant) + " lq=" + std::to_string(lq) +
                     " lk=" + std::to_string(lk) + " BM=" + std::to_string(bm) +
                     " BN=" + std::to_string(bn));
        std::string error;
        auto plan = cpu->buildDevicePlan(k.kernel.getSymName(), in, error);
        ASSERT_TRUE(mlir::succeeded(plan)) << error;
        ++plans;
        ASSERT_NO_FATAL_FAILURE(checkCoverage(*plan, *k.eval, in, heads, bm, bn, tally));
        EXPECT_LE(mostRowsPerQueryTile(*plan), (lk + bn - 1) / bn + listRows);
        FlatPlan rangeOnlyPlan = *plan;
        if (g.bands) {
          auto built = cpuRangeOnly->buildDevicePlan(k.kernel.getSymName(), in, error);
          ASSERT_TRUE(mlir::succeeded(built)) << error;
          rangeOnlyPlan = std::move(*built);
        }
        if (variant == int(Diagonals::Random) || variant == int(Diagonals::Adjacent))
          ASSERT_NO_FATAL_FAILURE(checkAttention(*cpu, k.kernel, *k.eval, in, *plan, rng));
        auto hostPlan = planner->plan(in, error);
        ASSERT_TRUE(mlir::succeeded(hostPlan)) << error;
        auto rangePlan = rangePlanner->plan(in, error);
        ASSERT_TRUE(mlir::succeeded(rangePlan)) << error;
        for (int64_t b = 0; b < in.batch; ++b)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t m = 0; m < hostPlan->numQueryTiles; ++m) {
              int64_t d = deviceVisits(*plan, heads, b, h, m, bn, lk);
              int64_t w = hostVisits(*hostPlan, b, h, m, bn, lk);
              int64_t r = deviceVisits(rangeOnlyPlan, heads, b, h, m, bn, lk);
              device += d;
              deviceRangeOnly += r;
              host += w;
              rangeOnly += hostVisits(*rangePlan, b, h, m, bn, lk);
              fewerThanHost += d < w;
              moreThanHost += d > w;
              // Bands replace tiles only where they save visits (a tile
              // whose kept diagonals the rest of the mask may drop, at a
              // document edge, is resolved as in a Range-only plan).
              if (g.bands)
                EXPECT_LE(d, r) << "b=" << b << " h=" << h << " m=" << m;
              moreThanRangeOnly += d > r;
            }
      }
    }
    std::cerr << "[ info ] " << g.name << ": " << tally.queryTiles << " query tiles, "
              << tally.gathers << " gathers, " << tally.gatheredKeys << " gathered keys, "
              << tally.rangeTiles << " range tiles (" << tally.fullTiles
              << " full); tile visits device " << device << ", device Range-only "
              << (g.bands ? std::to_string(deviceRangeOnly) : std::string("-"))
              << ", host with gathers " << host << ", host Range-only " << rangeOnly
              << "; query tiles where the device visits "
              << "fewer than the host " << fewerThanHost << ", more " << moreThanHost
              << (g.bands ? ", more than Range-only " + std::to_string(moreThanRangeOnly) : "")
              << "\n";
    if (g.bands) {
      EXPECT_GT(tally.gathers, 0);
      EXPECT_EQ(tally.fullGathers, 0) << "bands are masked";
      EXPECT_LT(device, deviceRangeOnly) << "bands save no tile visit";
    } else {
      EXPECT_EQ(tally.gathers, 0);
    }
  }
  std::cerr << "[ info ] diagonal bands: " << bandCases().size() << " masks, " << plans
            << " plans\n";
}

/// causal & slash with random diagonals per head (and the main diagonal):
/// 200 at Lk around 2-4K (a diagonal every 10 to 20 keys: the bands of a
/// query tile overlap into one that covers its row, so neither planner
/// saves a tile), 25 at 4K and 200 at 16K (one in 80 to 160 keys, as 200
/// to 400 at 32K): every kept pair exactly once (up to 2.5K), at most N rows
/// per query tile, and the tile visits of device plans with bands against
/// the device's Range-only plans and the host's plans with gathers.
TEST(DevicePlanBands, RandomDiagonalsAtLength) {
  const BandCase causalSlash = bandCases().front();
  PatternCase pattern{causalSlash.name.c_str(), causalSlash.body.c_str(), false};
  PatternKernel k(pattern);
  ASSERT_TRUE(k.ok());
  int64_t heads = k.kernel.getHeads();
  std::mt19937 rng(23);
  struct Problem {
    int64_t lq, lk, tile, diagonals;
  };
  // Plan builders with bands and Range-only, per tile size.
  std::map<int64_t, std::pair<CpuAttention, CpuAttention>> builders;
  for (int64_t tile : {64, 128}) {
    auto withBands = compileWithPlans(k.kernel, tile, tile, /*lists=*/true);
    auto rangeOnly = compileWithPlans(k.kernel, tile, tile, /*lists=*/false);
    ASSERT_TRUE(mlir::succeeded(withBands) && mlir::succeeded(rangeOnly));
    builders.emplace(tile, std::make_pair(std::move(*withBands), std::move(*rangeOnly)));
  }
  for (Problem problem :
       {Problem{2048, 2048, 64, 200}, Problem{1500, 2500, 128, 200}, Problem{4096, 4096, 64, 200},
        Problem{4096, 4096, 64, 25}, Problem{4096, 4096, 128, 25}, Problem{16384, 16384, 64, 200},
        Problem{16384, 16384, 128, 200}}) {
    int64_t tile = problem.tile, lk = problem.lk;
    SCOPED_TRACE("lq=" + std::to_string(problem.lq) + " lk=" + std::to_string(lk) +
                 " tile=" + std::to_string(tile) + " diagonals=" +
                 std::to_string(problem.diagonals));
    CpuAttention *cpu = &builders.at(tile).first, *cpuRangeOnly = &builders.at(tile).second;
    MaskInputs in = randomInputs(rng, problem.lq, lk);
    TableData &slash = in.tables["slash"];
    std::fill(slash.values.begin(), slash.values.end(), 0);
    for (int64_t h = 0; h < heads; ++h) {
      slash.values[h * lk] = 1;
      for (int i = 0; i < problem.diagonals; ++i)
        slash.values[h * lk + rng() % lk] = 1;
    }
    std::string error;
    auto plan = cpu->buildDevicePlan(k.kernel.getSymName(), in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    auto rangeOnlyPlan = cpuRangeOnly->buildDevicePlan(k.kernel.getSymName(), in, error);
    ASSERT_TRUE(mlir::succeeded(rangeOnlyPlan)) << error;
    PlanTally tally;
    if (lk <= 2500) // pair by pair (seconds at these lengths)
      ASSERT_NO_FATAL_FAILURE(checkCoverage(*plan, *k.eval, in, heads, tile, tile, tally));
    EXPECT_LE(mostRowsPerQueryTile(*plan), (lk + tile - 1) / tile);
    auto planner = TilePlanner::build(k.kernel, PlanOptions{tile, tile, true});
    ASSERT_TRUE(mlir::succeeded(planner));
    auto hostPlan = planner->plan(in, error);
    ASSERT_TRUE(mlir::succeeded(hostPlan)) << error;
    int64_t device =
        sumOverQueryTiles(in.batch, heads, plan->numQueryTiles, [&](auto b, auto h, auto m) {
          return deviceVisits(*plan, heads, b, h, m, tile, lk);
        });
    int64_t rangeOnly =
        sumOverQueryTiles(in.batch, heads, plan->numQueryTiles, [&](auto b, auto h, auto m) {
          return deviceVisits(*rangeOnlyPlan, heads, b, h, m, tile, lk);
        });
    int64_t host =
        sumOverQueryTiles(in.batch, heads, plan->numQueryTiles, [&](auto b, auto h, auto m) {
          return hostVisits(*hostPlan, b, h, m, tile, lk);
        });
    int64_t bands =
        sumOverQueryTiles(in.batch, heads, plan->numQueryTiles, [&](auto b, auto h, auto m) {
          return llvm::count_if(flatSegmentsOf(*plan, heads, b, h, m),
                                [](const Segment &s) { return s.kind == Segment::Gather; });
        });
    std::cerr << "[ info ] causal & slash, " << problem.diagonals
              << " random diagonals per head, lq=" << problem.lq << " lk=" << lk << " tiles "
              << tile << "x" << tile << ": tile visits device " << device << " ("
              << bands << " bands), device Range-only " << rangeOnly
              << ", host with gathers " << host << "\n";
    EXPECT_LE(device, rangeOnly);
    // Sparse diagonals: a saving within 5 % of the host planner's visits.
    if (problem.diagonals * 40 <= lk) {
      EXPECT_LT(device, rangeOnly - rangeOnly / 20) << "bands save under 5 %";
      EXPECT_LE(device, host + host / 20);
    }
  }
}

} // namespace
