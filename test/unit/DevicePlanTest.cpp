//===- DevicePlanTest.cpp - the generated plan builder against the host ---===//
//
// The device plan builder (sattn/Conversion/DevicePlan.h) is generated code
// that the GPU runs a thread per item; here its CPU lowering
// (@NAME_plan_cpu, the same stages as loops) builds plans that must equal
// the host planner's Range-only plans (PlanOptions::gathers = false)
// segment for segment, for every (batch, head, query tile), and classify
// every tile exactly as brute force over the reference evaluator does:
//   - every pattern of TilePlanTestSupport.h on random shapes and tiles,
//   - every static example kernel at several lengths (Lq < Lk included),
//   - the estimated tables of the compiled estimators (dynamic.sattn),
//   - table edge cases (one document, every token its own document, all or
//     no global tokens, batch elements with different tables),
//   - predicates whose bounds overflow (huge constants) or read tables out
//     of range,
//   - random predicates and ones aimed at each "some pair kept / dropped"
//     claim of the bounds (reads at indices that skip entries, equality of
//     sparse values).
//
//===----------------------------------------------------------------------===//

#include "DevicePlanCheckSupport.h"

#include "sattn/ExecutionEngine/CpuAttention.h"
#include "sattn/Plan/EstimatorSpec.h"



#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;
using sattn::cpu_attention_test::compileWithPlans;
using sattn::device_plan_check::flatSegmentsOf;

namespace {

struct Tally {
  int64_t plans = 0, segments = 0, full = 0, partial = 0;
  /// Query tiles whose device plan is tighter than the host planner's.
  int64_t tighterThanHost = 0;
};

std::string describe(const std::vector<Segment> &segs) {
  std::string s;
  for (const Segment &g : segs)
    s += "[" + std::to_string(g.kind) + (g.full ? " F " : " P ") +
         std::to_string(g.lo) + "," + std::to_string(g.hi) + ") ";
  return s.empty() ? "(none)" : s;
}

/// The exact status of a tile: 0 skip, 1 full, 2 partial.
int exactStatus(const CompiledMask &eval, const MaskInputs &in, int64_t b,
                int64_t h, int64_t m, int64_t n, int64_t bm, int64_t bn) {
  int64_t shift = in.lk - in.lq;
  bool kept = false, dropped = false;
  for (int64_t i = m * bm; i < std::min((m + 1) * bm, in.lq); ++i)
    for (int64_t k = n * bn; k < std::min((n + 1) * bn, in.lk); ++k)
      (eval.keep(in, b, h, i + shift, k) ? kept : dropped) = true;
  if (!kept)
    return 0;
  return dropped || (n + 1) * bn > in.lk ? 2 : 1;
}

/// Tile statuses (0 skip, 1 full, 2 partial) of a Range-only segment list.
std::vector<int> tileStatuses(const std::vector<Segment> &segs, int64_t keyTiles) {
  std::vector<int> status(keyTiles, 0);
  for (const Segment &s : segs) {
    EXPECT_EQ(s.kind, Segment::Range);
    EXPECT_TRUE(0 <= s.lo && s.lo < s.hi && s.hi <= keyTiles);
    for (int64_t n = std::max<int64_t>(s.lo, 0); n < std::min(s.hi, keyTiles); ++n)
      status[n] = s.full ? 1 : 2;
  }
  return status;
}

/// Builds the device plan and the host Range-only plan of `in`. The device
/// plan must classify every tile as brute force does. It must equal the
/// host plan segment for segment when `sameAsHost`; otherwise the host plan
/// may only be looser (a tile the device decides exactly, the host may mark
/// PARTIAL), and such query tiles are counted.
void compare(const CpuAttention &cpu, KernelOp kernel, const CompiledMask &eval,
             const MaskInputs &in, int64_t bm, int64_t bn, Tally &tally,
             bool sameAsHost = true) {
  std::string name = kernel.getSymName().str(), error;
  SCOPED_TRACE(name + " B=" + std::to_string(in.batch) + " Lq=" +
               std::to_string(in.lq) + " Lk=" + std::to_string(in.lk) +
               " BM=" + std::to_string(bm) + " BN=" + std::to_string(bn));
  mlir::FailureOr<FlatPlan> device = cpu.buildDevicePlan(name, in, error);
  ASSERT_TRUE(mlir::succeeded(device)) << error;
  auto planner = TilePlanner::build(kernel, PlanOptions{bm, bn, false});
  ASSERT_TRUE(mlir::succeeded(planner));
  auto host = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(host)) << error;
  ASSERT_EQ(device->numQueryTiles, host->numQueryTiles);
  for (int64_t c : device->classIndex) // written by the scan stage
    ASSERT_TRUE(0 <= c && c < device->numClasses) << "class index " << c;
  int64_t heads = kernel.getHeads(), keyTiles = (in.lk + bn - 1) / bn;
  ++tally.plans;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t m = 0; m < host->numQueryTiles; ++m) {
        std::vector<Segment> got = flatSegmentsOf(*device, heads, b, h, m);
        Span<Segment> want = host->segments(b, h, m);
        std::vector<Segment> expected(want.begin(), want.end());
        tally.segments += got.size();
        bool same = got.size() == expected.size();
        for (size_t i = 0; same && i < got.size(); ++i)
          same = got[i].kind == expected[i].kind && got[i].full == expected[i].full &&
                 got[i].lo == expected[i].lo && got[i].hi == expected[i].hi;
        std::vector<int> status = tileStatuses(got, keyTiles);
        std::vector<int> hostStatus = tileStatuses(expected, keyTiles);
        for (int64_t n = 0; n < keyTiles; ++n) {
          int exact = exactStatus(eval, in, b, h, m, n, bm, bn);
          tally.full += exact == 1;
          tally.partial += exact == 2;
          ASSERT_EQ(status[n], exact)
              << "tile b=" << b << " h=" << h << " m=" << m << " n=" << n
              << " (0 skip, 1 full, 2 partial); device: " << describe(got);
          if (!sameAsHost)
            ASSERT_TRUE(hostStatus[n] == exact || hostStatus[n] == 2)
                << "host plan tighter than exact at tile " << n;
        }
        if (sameAsHost)
          EXPECT_TRUE(same) << "b=" << b << " h=" << h << " m=" << m
                            << "\n  device: " << describe(got)
                            << "\n  host:   " << describe(expected);
        else
          tally.tighterThanHost += !same;
      }
}


/// Patterns whose host plans mark some exactly FULL tiles PARTIAL (the
/// host's must-sets of unions and complements are under-approximations),
/// or visit an empty tile (complement): the device plan is tighter there.
bool hostIsLooser(const std::string &name) {
  return name == "complement" || name == "s2_blocks" ||
         name == "s2_blocks_per_head" || name == "tri_shape";
}

TEST(DevicePlan, PatternsOnRandomShapesEqualHostPlans) {
  std::mt19937 rng(77);
  Tally tally, looser;
  // 8 x 32 tiles read whole 32-entry summary chunks, the others only entries.
  static const int64_t kTiles[][2] = {{16, 4}, {8, 32}};
  for (const PatternCase &c : kCases) {
    SCOPED_TRACE(c.name);
    PatternKernel k(c);
    ASSERT_TRUE(k.ok());
    bool same = !hostIsLooser(c.name);
    for (const auto &tiles : kTiles) {
      auto cpu = compileWithPlans(k.kernel, tiles[0], tiles[1]);
      ASSERT_TRUE(mlir::succeeded(cpu));
      for (int iter = 0; iter < 8; ++iter) {
        int64_t lk = 1 + rng() % 150;
        int64_t lq = iter % 3 == 0 ? lk : 1 + rng() % lk;
        MaskInputs in = randomInputs(rng, lq, lk);
        ASSERT_NO_FATAL_FAILURE(compare(*cpu, k.kernel, *k.eval, in, tiles[0],
                                        tiles[1], same ? tally : looser, same));
      }
    }
  }
  std::cerr << "[ info ] patterns: " << tally.plans + looser.plans << " plans, "
            << tally.segments + looser.segments << " segments, "
            << tally.full + looser.full << " full and "
            << tally.partial + looser.partial << " partial tiles; "
            << looser.tighterThanHost
            << " query tiles planned tighter than the host\n";
  EXPECT_GT(tally.full, 0);
  EXPECT_GT(tally.partial, 0);
  // Not vacuous: the looser host plans do differ.
  EXPECT_GT(looser.tighterThanHost, 0);
}

TEST(DevicePlan, EveryStaticExampleEqualsHostPlans) {
  mlir::MLIRContext context(allDialects());
  std::mt19937 rng(5);
  Tally tally;
  int kernels = 0;
  for (const std::string &file : exampleSpecFiles()) {
    SCOPED_TRACE(file);
    mlir::OwningOpRef<mlir::ModuleOp> module = compileSpecFile(file, context);
    ASSERT_TRUE(module);
    for (KernelOp kernel : module->getOps<KernelOp>()) {
      mlir::FailureOr<CompiledMask> eval = staticEvaluator(kernel);
      if (mlir::failed(eval))
        continue; // dynamic: no static mask to plan
      ++kernels;
      auto cpu = compileWithPlans(kernel, 32, 64);
      ASSERT_TRUE(mlir::succeeded(cpu));
      for (auto [lq, lk] : {std::pair<int64_t, int64_t>{40, 57}, {256, 256}, {200, 333}}) {
        MaskInputs in;
        in.batch = 2;
        in.lq = lq;
        in.lk = lk;
        for (mask::TableOp table : kernel.getBody().front().getOps<mask::TableOp>())
          in.tables[table.getSymName().str()] =
              randomTable(table, in.batch, kernel.getHeads(), lk, rng);
        ASSERT_NO_FATAL_FAILURE(compare(*cpu, kernel, *eval, in, 32, 64, tally));
      }
    }
  }
  std::cerr << "[ info ] examples: " << kernels << " kernels, " << tally.plans
            << " plans, " << tally.segments << " segments\n";
  EXPECT_GE(kernels, 10);
}

TEST(DevicePlan, EstimatedTablesEqualHostPlans) {
  // The dynamic kernels of examples/dynamic.sattn whose estimator is
  // compiled: the compiled estimator's table (CPU lowering, on random Q and
  // K) is an input of the same plan builder as a user's table, and the plan
  // it builds visits exactly the kept tiles.
  mlir::MLIRContext context(allDialects());
  mlir::OwningOpRef<mlir::ModuleOp> module = loweredDynamicExamples(context);
  ASSERT_TRUE(module);
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  Tally tally;
  int kernels = 0;
  for (KernelOp kernel : module->getOps<KernelOp>()) {
    auto spec = readEstimator(kernel);
    ASSERT_TRUE(mlir::succeeded(spec));
    if (!*spec)
      continue;
    ++kernels;
    mlir::FailureOr<CompiledMask> eval = staticEvaluator(kernel);
    ASSERT_TRUE(mlir::succeeded(eval));
    auto cpu = compileWithPlans(kernel, 32, 64);
    ASSERT_TRUE(mlir::succeeded(cpu));
    MaskInputs in;
    in.batch = 2;
    in.lk = 2 * (*spec)->block + 45;
    in.lq = in.lk - 37;
    int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads(), dim = kernel.getHeadDim();
    std::vector<float> q(in.batch * heads * in.lq * dim), k(in.batch * kvHeads * in.lk * dim);
    for (float &x : q)
      x = uniform(rng);
    for (float &x : k)
      x = uniform(rng);
    // A gate's learned weights (H, 4 D, hidden), drawn like Q and K.
    std::vector<float> weights((*spec)->isGate() ? heads * 4 * dim * (*spec)->hidden : 0);
    for (float &x : weights)
      x = uniform(rng);
    CpuTensor weightView =
        CpuTensor::contiguous(weights.data(), {heads, 4 * dim, (*spec)->hidden});
    std::string tableName, error;
    auto table = cpu->runEstimator(
        kernel.getSymName(), CpuTensor::contiguous(q.data(), {in.batch, heads, in.lq, dim}),
        CpuTensor::contiguous(k.data(), {in.batch, kvHeads, in.lk, dim}), tableName, error,
        (*spec)->isGate() ? &weightView : nullptr);
    ASSERT_TRUE(mlir::succeeded(table)) << error;
    auto declared = llvm::cast<mask::TableOp>(
        mlir::SymbolTable::lookupSymbolIn(kernel, tableName));
    TableData data = randomTable(declared, in.batch, heads, in.lk, rng);
    ASSERT_EQ(data.values.size(), table->size());
    data.values = *table;
    in.tables[tableName] = data;
    ASSERT_NO_FATAL_FAILURE(compare(*cpu, kernel, *eval, in, 32, 64, tally));
  }
  std::cerr << "[ info ] estimated tables: " << kernels << " kernels, " << tally.plans
            << " plans, " << tally.full << " full and " << tally.partial
            << " partial tiles\n";
  EXPECT_EQ(kernels, 6)
      << "vertical_slash, block_topk, xattention, seer_gate, anchor_stripe and nsa";
}

/// A kernel over the tables of TilePlanTestSupport.h whose mask is `body`.
struct BodyKernel {
  explicit BodyKernel(const char *body) : pattern{"custom", body, false}, k(pattern) {}
  PatternCase pattern;
  PatternKernel k;
};

TEST(DevicePlan, TableEdgeCasesEqualHostPlans) {
  std::mt19937 rng(9);
  Tally tally;
  BodyKernel documents(
      "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d");
  BodyKernel globals(
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %d = arith.subi %q, %k : index\n  %a = math.absi %d : index\n"
      "  %c3 = arith.constant 3 : index\n  %w = arith.cmpi sle, %a, %c3 : index\n"
      "  %gq = mask.lookup @glob[%q] : i1\n  %gk = mask.lookup @glob[%k] : i1\n"
      "  %o = arith.ori %w, %gq : i1\n  %y = arith.ori %o, %gk : i1\n"
      "  mask.yield %y\n}");
  ASSERT_TRUE(documents.k.ok() && globals.k.ok());
  auto docCpu = compileWithPlans(documents.k.kernel, 16, 8);
  auto globCpu = compileWithPlans(globals.k.kernel, 16, 8);
  ASSERT_TRUE(mlir::succeeded(docCpu) && mlir::succeeded(globCpu));
  for (int64_t lk : {1, 37, 96}) {
    MaskInputs in = randomInputs(rng, lk, lk);
    std::vector<int64_t> &doc = in.tables["doc"].values;
    // One document; every token its own; batch elements differ.
    std::fill(doc.begin(), doc.end(), 0);
    ASSERT_NO_FATAL_FAILURE(compare(*docCpu, documents.k.kernel, *documents.k.eval, in, 16, 8, tally));
    for (int64_t i = 0; i < 2 * lk; ++i)
      doc[i] = i % lk;
    ASSERT_NO_FATAL_FAILURE(compare(*docCpu, documents.k.kernel, *documents.k.eval, in, 16, 8, tally));
    for (int64_t i = 0; i < lk; ++i)
      doc[i] = i / 5, doc[lk + i] = -(i / 11) - 3;
    ASSERT_NO_FATAL_FAILURE(compare(*docCpu, documents.k.kernel, *documents.k.eval, in, 16, 8, tally));
    for (int64_t all : {0, 1}) {
      std::fill(in.tables["glob"].values.begin(), in.tables["glob"].values.end(), all);
      ASSERT_NO_FATAL_FAILURE(compare(*globCpu, globals.k.kernel, *globals.k.eval, in, 16, 8, tally));
    }
  }
  EXPECT_GT(tally.full, 0);
  EXPECT_GT(tally.partial, 0);
}

TEST(DevicePlan, IntervalsDecideTilesAwayFromEdges) {
  // Documents of 40-90 tokens and a window with global tokens at 1024
  // tokens, 32 x 32 tiles: the bounds decide every tile away from a
  // document edge, the window's border and a global token's row or column;
  // those borders are settled as PARTIAL by what the bounds know for sure
  // (a global column is kept somewhere, the rest of the tile dropped) and
  // by the probes (corners, diagonal), so almost nothing is left to
  // resolve pair by pair. Scattered pairs ((31q + 17k) % 1024 == 0, about
  // one per tile) defeat both and exercise the resolve stage. Every tile
  // matches brute force.
  std::mt19937 rng(3);
  BodyKernel documents(
      "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d");
  BodyKernel globals(
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %d = arith.subi %q, %k : index\n  %a = math.absi %d : index\n"
      "  %c3 = arith.constant 100 : index\n  %w = arith.cmpi sle, %a, %c3 : index\n"
      "  %gq = mask.lookup @glob[%q] : i1\n  %gk = mask.lookup @glob[%k] : i1\n"
      "  %o = arith.ori %w, %gq : i1\n  %y = arith.ori %o, %gk : i1\n"
      "  mask.yield %y\n}");
  BodyKernel scattered(
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %c31 = arith.constant 31 : index\n  %c17 = arith.constant 17 : index\n"
      "  %x = arith.muli %q, %c31 : index\n  %y = arith.muli %k, %c17 : index\n"
      "  %s = arith.addi %x, %y : index\n  %c1024 = arith.constant 1024 : index\n"
      "  %r = arith.remsi %s, %c1024 : index\n  %c0 = arith.constant 0 : index\n"
      "  %e = arith.cmpi eq, %r, %c0 : index\n  mask.yield %e\n}");
  ASSERT_TRUE(documents.k.ok() && globals.k.ok() && scattered.k.ok());
  int64_t lk = 1024, grid = 32 * 32; // tiles per plan class
  MaskInputs in = randomInputs(rng, lk, lk);
  std::vector<int64_t> &doc = in.tables["doc"].values;
  for (int64_t b = 0, id = 0; b < 2; ++b)
    for (int64_t k = 0, left = 0; k < lk; ++k, --left) {
      if (left == 0)
        ++id, left = 40 + rng() % 51;
      doc[b * lk + k] = id;
    }
  std::vector<int64_t> &glob = in.tables["glob"].values;
  std::fill(glob.begin(), glob.end(), 0);
  for (int i = 0; i < 4; ++i)
    glob[rng() % lk] = 1;
  Tally tally;
  struct Case {
    const char *name;
    BodyKernel *kernel;
    int64_t tiles;
  } cases[] = {{"documents", &documents, 2 * grid}, // one class per batch element
               {"globals", &globals, grid},
               {"scattered", &scattered, grid}};
  for (const Case &c : cases) {
    auto cpu = compileWithPlans(c.kernel->k.kernel, 32, 32);
    ASSERT_TRUE(mlir::succeeded(cpu));
    std::string error;
    int64_t undecided = -1;
    ASSERT_TRUE(mlir::succeeded(cpu->buildDevicePlan(
        c.kernel->k.kernel.getSymName().str(), in, error, &undecided)))
        << error;
    std::cerr << "[ info ] " << c.name << ": " << undecided << " of " << c.tiles
              << " tiles resolved pair by pair\n";
    if (c.kernel == &scattered)
      EXPECT_GT(undecided * 2, c.tiles);
    else
      EXPECT_LT(undecided * 50, c.tiles);
    ASSERT_NO_FATAL_FAILURE(
        compare(*cpu, c.kernel->k.kernel, *c.kernel->k.eval, in, 32, 32, tally));
  }
}

TEST(DevicePlan, OverflowingBoundsAndOutOfRangeReadsStayExact) {
  // Products and sums that wrap for large positions, a remainder of a
  // negative range, a division by a negative constant and table reads at
  // indices beyond the table: the intervals must give up, not lie.
  const char *bodies[] = {
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %big = arith.constant 4611686018427387904 : index\n"
      "  %p = arith.muli %q, %big : index\n  %s = arith.addi %p, %k : index\n"
      "  %z = arith.constant 0 : index\n  %y = arith.cmpi slt, %s, %z : index\n"
      "  mask.yield %y\n}",
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %d = arith.subi %k, %q : index\n  %c5 = arith.constant -5 : index\n"
      "  %r = arith.remsi %d, %c5 : index\n  %n = arith.constant -2 : index\n"
      "  %x = arith.divsi %d, %n : index\n  %a = arith.cmpi sge, %r, %n : index\n"
      "  %c9 = arith.constant 9 : index\n  %w = arith.cmpi slt, %x, %c9 : index\n"
      "  %y = arith.andi %a, %w : i1\n  mask.yield %y\n}",
      "%m = mask.predicate(%b, %h, %q, %k) {\n"
      "  %c40 = arith.constant 40 : index\n  %i = arith.subi %k, %c40 : index\n"
      "  %g = mask.lookup @glob[%i] : i1\n  %c = arith.cmpi sle, %k, %q : index\n"
      "  %y = arith.xori %g, %c : i1\n  mask.yield %y\n}",
  };
  std::mt19937 rng(13);
  Tally tally;
  for (const char *body : bodies) {
    BodyKernel custom(body);
    ASSERT_TRUE(custom.k.ok()) << body;
    auto cpu = compileWithPlans(custom.k.kernel, 8, 16);
    ASSERT_TRUE(mlir::succeeded(cpu));
    for (int iter = 0; iter < 6; ++iter) {
      int64_t lk = 1 + rng() % 120, lq = 1 + rng() % lk;
      MaskInputs in = randomInputs(rng, lq, lk);
      ASSERT_NO_FATAL_FAILURE(compare(*cpu, custom.k.kernel, *custom.k.eval, in, 8, 16, tally));
    }
  }
  EXPECT_GT(tally.partial, 0);
}

} // namespace

/// A random predicate body over q, k, h, constants and the bool table @glob:
/// sums, products and quotients by constants, remainders, abs, min / max,
/// comparisons, table reads at computed indices, and / or / xor.
std::string randomPredicate(std::mt19937 &rng) {
  std::vector<std::string> ints{"%q", "%k", "%h"}, bools;
  std::string body = "%m = mask.predicate(%b, %h, %q, %k) {\n";
  int next = 0;
  auto fresh = [&] { return "%v" + std::to_string(next++); };
  auto pick = [&](const std::vector<std::string> &pool) { return pool[rng() % pool.size()]; };
  auto constant = [&](int64_t c) {
    std::string v = fresh();
    body += "  " + v + " = arith.constant " + std::to_string(c) + " : index\n";
    return v;
  };
  const char *orders[] = {"slt", "sle", "sgt", "sge", "eq", "ne"};
  for (int i = 0; i < 10 || bools.empty(); ++i) {
    std::string v;
    switch (rng() % 9) {
    case 0:
    case 1: { // add / sub
      std::string x = pick(ints), y = rng() % 2 ? pick(ints) : constant(int64_t(rng() % 41) - 20);
      v = fresh();
      body += "  " + v + (rng() % 2 ? " = arith.addi " : " = arith.subi ") + x + ", " + y +
              " : index\n";
      ints.push_back(v);
      break;
    }
    case 2: { // product, quotient or remainder by a constant
      static const int64_t factors[] = {-2, -1, 2, 3, 5, 8, 16};
      std::string c = constant(factors[rng() % std::size(factors)]), x = pick(ints);
      const char *ops[] = {"arith.muli", "arith.divsi", "arith.floordivsi", "arith.remsi"};
      v = fresh();
      body += "  " + v + " = " + ops[rng() % 4] + " " + x + ", " + c + " : index\n";
      ints.push_back(v);
      break;
    }
    case 3: { // abs, min, max
      v = fresh();
      unsigned op = rng() % 3;
      if (op == 0)
        body += "  " + v + " = math.absi " + pick(ints) + " : index\n";
      else
        body += "  " + v + (op == 1 ? " = arith.minsi " : " = arith.maxsi ") + pick(ints) +
                ", " + pick(ints) + " : index\n";
      ints.push_back(v);
      break;
    }
    case 4:
    case 5: { // comparison, against a value or a constant
      std::string x = pick(ints), y = rng() % 2 ? pick(ints) : constant(int64_t(rng() % 61) - 10);
      v = fresh();
      body += "  " + v + " = arith.cmpi " + orders[rng() % 6] + ", " + x + ", " + y +
              " : index\n";
      bools.push_back(v);
      break;
    }
    case 6:
    case 7: // a table read at a computed index
      v = fresh();
      body += "  " + v + " = mask.lookup @glob[" + pick(ints) + "] : i1\n";
      bools.push_back(v);
      break;
    default: { // and / or / xor
      if (bools.size() < 2)
        break;
      const char *ops[] = {"arith.andi", "arith.ori", "arith.xori"};
      v = fresh();
      body += "  " + v + " = " + ops[rng() % 3] + " " + pick(bools) + ", " + pick(bools) +
              " : i1\n";
      bools.push_back(v);
      break;
    }
    }
  }
  // The yield combines the last few conditions, so that most ops matter.
  std::string result = bools.back();
  for (size_t j = bools.size() - 1; j > 0 && j + 3 > bools.size(); --j) {
    std::string v = fresh();
    body += "  " + v + (rng() % 2 ? " = arith.andi " : " = arith.ori ") + result + ", " +
            bools[j - 1] + " : i1\n";
    result = v;
  }
  return body + "  mask.yield " + result + "\n}";
}

TEST(DevicePlan, RandomPredicatesAreClassifiedExactly) {
  // What the bounds claim for sure (a pair kept, a pair dropped: values
  // attained, ranges dense, positions independent) must hold for every
  // predicate: each tile of random predicates matches brute force, at
  // shapes with Lq < Lk and ragged tiles.
  std::mt19937 rng(11);
  Tally tally;
  // First bodies aimed at each claim: reads at indices that skip entries
  // (2k, -k, q + q) or repeat them, equality of sparse values, abs of a
  // range around 0 that is not dense, remainders across a period.
  std::vector<std::string> bodies;
  for (const char *index : {"%x = arith.muli %k, %c2 : index", "%x = arith.muli %k, %cm1 : index",
                            "%x = arith.addi %q, %q : index", "%x = arith.remsi %k, %c5 : index",
                            "%x = arith.subi %q, %k : index", "%x = arith.minsi %q, %k : index"})
    bodies.push_back(std::string("%m = mask.predicate(%b, %h, %q, %k) {\n"
                                 "  %c2 = arith.constant 2 : index\n"
                                 "  %cm1 = arith.constant -1 : index\n"
                                 "  %c5 = arith.constant 5 : index\n  ") +
                     index + "\n  %g = mask.lookup @glob[%x] : i1\n  mask.yield %g\n}");
  for (const char *cond : {"%a = arith.muli %q, %c3 : index\n  %b2 = arith.muli %k, %c2 : index\n"
                           "  %r = arith.cmpi eq, %a, %b2 : index",
                           "%a = arith.muli %k, %c2 : index\n  %d = arith.subi %q, %a : index\n"
                           "  %e = math.absi %d : index\n  %r = arith.cmpi sle, %e, %c3 : index",
                           "%a = arith.muli %k, %c3 : index\n  %e = arith.remsi %a, %c7 : index\n"
                           "  %r = arith.cmpi eq, %e, %c2 : index"})
    bodies.push_back(std::string("%m = mask.predicate(%b, %h, %q, %k) {\n"
                                 "  %c2 = arith.constant 2 : index\n"
                                 "  %c3 = arith.constant 3 : index\n"
                                 "  %c7 = arith.constant 7 : index\n  ") +
                     cond + "\n  mask.yield %r\n}");
  while (bodies.size() < 40)
    bodies.push_back(randomPredicate(rng));
  for (const std::string &body : bodies) {
    SCOPED_TRACE(body);
    BodyKernel custom(body.c_str());
    ASSERT_TRUE(custom.k.ok()) << body;
    auto cpu = compileWithPlans(custom.k.kernel, 8, 16);
    ASSERT_TRUE(mlir::succeeded(cpu));
    int64_t lk = 60 + rng() % 90, lq = lk - rng() % 20;
    MaskInputs in = randomInputs(rng, lq, lk);
    ASSERT_NO_FATAL_FAILURE(compare(*cpu, custom.k.kernel, *custom.k.eval, in, 8, 16, tally,
                                    /*sameAsHost=*/false));
  }
  std::cerr << "[ info ] random predicates: " << tally.plans << " plans, " << tally.full
            << " full and " << tally.partial << " partial tiles\n";
  EXPECT_GT(tally.full + tally.partial, 0);
}
