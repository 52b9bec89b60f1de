//===- CpuAttentionTest.cpp - planned attention vs a dense fp64 reference -===//
//
// Property 4: attention lowered by convert-sattn-to-cpu, JIT-compiled and
// run over the tile plan matches a naive dense masked attention computed in
// fp64 from the reference evaluator: relative error ||O - ref|| / ||ref||
// below 1e-5, LSE within 1e-5, exactly -inf LSE and zero output on rows
// that keep no key, and never a NaN. Every named static pattern, runtime
// tables, predicates, GQA/MQA, Lq < Lk, ragged lengths, batch 2 with padded
// (non-contiguous) strides and several tile sizes are covered; padding is
// filled with NaN so that reading or writing outside the views shows up.
// CpuAttention's argument checks are exercised one by one; every static
// kernel of examples/*.sattn: CpuAttentionExamplesTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/ExecutionEngine/CpuAttention.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::cpu_attention_test;

namespace {

struct PatternCase {
  const char *name;
  const char *body; // kernel body ops; the value yielded is %m
  int64_t heads = 4, kvHeads = 2;
  /// Some row keeps no key on the shapes drawn (checked to be exercised).
  bool expectEmptyRows = false;
  /// The plan gathers strided keys (checked to be exercised).
  bool expectGathers = false;
};

const char *kNeighborhood2d =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c8 = arith.constant 8 : index\n  %c1 = arith.constant 1 : index\n"
    "  %qr = arith.floordivsi %q, %c8 : index\n  %kr = arith.floordivsi %k, %c8 : index\n"
    "  %qc = arith.remsi %q, %c8 : index\n  %kc = arith.remsi %k, %c8 : index\n"
    "  %dr = arith.subi %qr, %kr : index\n  %dc = arith.subi %qc, %kc : index\n"
    "  %ar = math.absi %dr : index\n  %ac = math.absi %dc : index\n"
    "  %r = arith.cmpi sle, %ar, %c1 : index\n  %cc = arith.cmpi sle, %ac, %c1 : index\n"
    "  %y = arith.andi %r, %cc : i1\n  mask.yield %y\n}";

const char *kLongformer =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c3 = arith.constant 3 : index\n  %d = arith.subi %q, %k : index\n"
    "  %a = math.absi %d : index\n  %near = arith.cmpi sle, %a, %c3 : index\n"
    "  %gk = mask.lookup @glob[%k] : i1\n  %gq = mask.lookup @glob[%q] : i1\n"
    "  %o = arith.ori %near, %gk : i1\n  %y = arith.ori %o, %gq : i1\n  mask.yield %y\n}";

/// Divisions by runtime values that are 0 or -1 for some pairs, and a
/// lookup with indices out of range: the contract's edge cases.
const char *kDivisionEdges =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
    "  %c9 = arith.constant 9 : index\n  %c40 = arith.constant 40 : index\n"
    "  %d = arith.subi %q, %c9 : index\n  %e = arith.subi %c1, %h : index\n"
    "  %x = arith.divsi %k, %d : index\n  %y = arith.remsi %q, %e : index\n"
    "  %z = arith.floordivsi %k, %e : index\n  %w = arith.ceildivsi %q, %d : index\n"
    "  %u = arith.remui %k, %h : index\n  %v = arith.divui %q, %h : index\n"
    "  %s1 = arith.addi %x, %y : index\n  %s2 = arith.addi %z, %w : index\n"
    "  %s3 = arith.addi %u, %v : index\n  %s4 = arith.addi %s1, %s2 : index\n"
    "  %s = arith.addi %s3, %s4 : index\n  %c5 = arith.constant 5 : index\n"
    "  %r = arith.remsi %s, %c5 : index\n  %keep1 = arith.cmpi ne, %r, %c0 : index\n"
    "  %far = arith.addi %k, %c40 : index\n  %g = mask.lookup @glob[%far] : i1\n"
    "  %causal = arith.cmpi sle, %k, %q : index\n  %a = arith.ori %keep1, %g : i1\n"
    "  %y2 = arith.andi %a, %causal : i1\n  mask.yield %y2\n}";

const PatternCase kCases[] = {
    {"causal", "%m = mask.causal"},
    {"dense", "%m = mask.full"},
    {"window", "%m = mask.window 7"},
    {"symmetric", "%m = mask.window 5 symmetric"},
    {"sink", "%m = mask.sink 6"},
    {"streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u"},
    {"tri_shape",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%t = mask.tail_queries 5\n%u = mask.union %s, %w, %t\n"
     "%m = mask.intersect %c, %u"},
    {"strided",
     "%c = mask.causal\n%s = mask.strided stride 4 offset affine_map<(h) -> (h mod 4)>\n"
     "%m = mask.intersect %c, %s",
     4, 2, /*expectEmptyRows=*/true, /*expectGathers=*/true},
    {"s2_token",
     "%c = mask.causal\n%w = mask.window 6\n"
     "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u",
     4, 2, false, /*expectGathers=*/true},
    {"s2_blocks",
     "%m = mask.strided_blocks block 8 local 2 vert_stride 3 offset 1 "
     "dense_heads 1 per_kv_group"},
    {"s2_blocks_per_head",
     "%m = mask.strided_blocks block 4 local 1 vert_stride 4 offset 0 dense_heads 0"},
    {"dilated", "%m = mask.dilated window 4 dilation 3"},
    {"power", "%m = mask.power block 8 window 2 sink 1"},
    {"prefix", "%m = mask.prefix 6"},
    {"document",
     "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d"},
    {"block_table",
     "%c = mask.causal\n%b = mask.block_table @keep block 8\n%m = mask.intersect %c, %b",
     4, 2, /*expectEmptyRows=*/true},
    {"per_head",
     "%c = mask.causal\n%w = mask.window 5\n%s = mask.sink 3\n"
     "%m = mask.per_head %c, %w, %s assign [0, 1, 2, 1]"},
    {"neighborhood_2d", kNeighborhood2d},
    {"longformer", kLongformer},
    {"complement",
     "%c = mask.causal\n%w = mask.window 5\n%n = mask.complement %w\n"
     "%m = mask.intersect %c, %n",
     4, 2, /*expectEmptyRows=*/true},
    {"empty", "%m = mask.empty", 4, 2, /*expectEmptyRows=*/true},
    {"division_edges", kDivisionEdges, 4, 2, /*expectEmptyRows=*/true},
    {"mqa_streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u",
     4, 1},
    // MInference vertical-slash from column / diagonal tables: key lists
    // (scattered columns) and bands (diagonals) read through the key pool.
    {"vertical_slash",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.ori %v, %s : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     4, 2},
    {"mha_strided",
     "%c = mask.causal\n%s = mask.strided stride 5 offset affine_map<(h) -> (h * 3)>\n"
     "%m = mask.intersect %c, %s",
     2, 2, /*expectEmptyRows=*/true, /*expectGathers=*/true},
};

std::string kernelText(const PatternCase &c) {
  return std::string("sattn.kernel @") + c.name +
         "(dtype = bf16, head_dim = 64, heads = " + std::to_string(c.heads) +
         ", kv_heads = " + std::to_string(c.kvHeads) +
         ", scale = 0.125) {\n"
         "mask.table @doc : i32 [\"b\", \"k\"]\n"
         "mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n"
         "mask.table @glob : i1 [\"k\"]\n"
         "mask.table @vcol : i1 [\"h\", \"k\"]\n"
         "mask.table @slash : i1 [\"h\", \"k\"]\n" +
         c.body + "\nsattn.yield %m\n}\n";
}

std::string moduleText() {
  std::string text;
  for (const PatternCase &c : kCases)
    text += kernelText(c);
  return text;
}

MaskInputs randomInputs(std::mt19937 &rng, int64_t batch, int64_t heads,
                        int64_t lq, int64_t lk) {
  MaskInputs in;
  in.batch = batch;
  in.lq = lq;
  in.lk = lk;
  TableData doc = randomDocuments(rng, batch, lk);
  TableData keep = randomBlockKeep(rng, heads, lk);
  TableData glob{{lk}, std::vector<int64_t>(lk)};
  for (auto &v : glob.values)
    v = rng() % 17 == 0;
  in.tables["doc"] = doc;
  in.tables["keep"] = keep;
  in.tables["glob"] = glob;
  // Sparse columns and diagonals; the first two of each always kept.
  for (const char *name : {"vcol", "slash"}) {
    TableData t{{heads, lk}, std::vector<int64_t>(heads * lk)};
    for (int64_t i = 0; i < heads * lk; ++i)
      t.values[i] = i % lk < 2 || rng() % 11 == 0;
    in.tables[name] = t;
  }
  return in;
}

/// Everything the tests share: one parsed module with every case, and CPU
/// kernels compiled on demand, one module per (kernel, tile sizes), so that
/// a test pays only for the kernels it runs and compile times are per kernel.
struct Suite {
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::map<std::tuple<std::string, int64_t, int64_t>, CpuAttention> compiled;
  std::string error;
  double compileSeconds = 0;
  int compiles = 0;

  Suite() {
    registerAllDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(moduleText(), context.get());
  }
  KernelOp kernel(llvm::StringRef name) {
    for (KernelOp k : module->getOps<KernelOp>())
      if (k.getSymName() == name)
        return k;
    return nullptr;
  }
  const CpuAttention *get(llvm::StringRef name, int64_t bm, int64_t bn) {
    auto key = std::make_tuple(name.str(), bm, bn);
    auto it = compiled.find(key);
    if (it != compiled.end())
      return &it->second;
    KernelOp k = kernel(name);
    if (!k) {
      error = "no kernel " + name.str();
      return nullptr;
    }
    mlir::OwningOpRef<mlir::ModuleOp> single =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(context.get()));
    single->push_back(k->clone());
    auto c = CpuAttention::compile(*single, CpuAttentionOptions{bm, bn, kOptLevel},
                                   error);
    if (mlir::failed(c))
      return nullptr;
    compileSeconds += c->compileSeconds();
    ++compiles;
    if (getenv("SATTN_VERBOSE"))
      std::cerr << "[ info ] " << name.str() << " BM=" << bm << " BN=" << bn
                << " compiled in " << c->compileSeconds() << " s\n";
    return &compiled.emplace(key, std::move(*c)).first->second;
  }
};

/// The suite lives from first use until gtest's global tear-down, not until
/// static destruction: destroying a JIT runs LLVM code (deinitializers),
/// which must not race with LLVM's own static destructors at exit.
std::unique_ptr<Suite> &suiteStorage() {
  static std::unique_ptr<Suite> s;
  return s;
}
Suite &suite() {
  if (!suiteStorage())
    suiteStorage() = std::make_unique<Suite>();
  return *suiteStorage();
}
struct SuiteTearDown : public ::testing::Environment {
  void TearDown() override { suiteStorage().reset(); }
};
[[maybe_unused]] ::testing::Environment *const suiteTearDown =
    ::testing::AddGlobalTestEnvironment(new SuiteTearDown);

// Tile sizes: the default, a square small pair (many tiles at these
// lengths), and both rectangular orientations.
const std::array<int64_t, 2> kTileSizes[] = {
    {16, 16}, {32, 8}, {8, 32}, {64, 64}};
/// Runs kernel `c` on `iterations` random shapes (ragged lengths, Lq < Lk
/// two times in three, batch 1 or 2 and padded strides every other time),
/// tile sizes taken in turn from `tileSizes`, against the fp64 reference.
void checkOnRandomShapes(const PatternCase &c,
                         llvm::ArrayRef<TileSize> tileSizes, int iterations,
                         unsigned seed, Coverage &counts,
                         int64_t maxLength = 150) {
  Suite &s = suite();
  ASSERT_TRUE(s.module) << "module failed to parse";
  KernelOp kernel = s.kernel(c.name);
  ASSERT_TRUE(kernel);
  auto eval = CompiledMask::compile(kernel);
  ASSERT_TRUE(mlir::succeeded(eval));

  std::mt19937 rng(seed);
  for (int iter = 0; iter < iterations; ++iter) {
    TileSize ts = tileSizes[iter % tileSizes.size()];
    const CpuAttention *cpu = s.get(c.name, ts[0], ts[1]);
    ASSERT_TRUE(cpu) << s.error;
    Shape shape;
    shape.batch = 1 + iter % 2;
    shape.heads = c.heads;
    shape.kvHeads = c.kvHeads;
    shape.lk = 1 + rng() % maxLength;
    shape.lq = iter % 3 == 0 ? shape.lk : 1 + rng() % shape.lk;
    MaskInputs in = randomInputs(rng, shape.batch, shape.heads, shape.lq,
                                 shape.lk);
    ASSERT_NO_FATAL_FAILURE(checkOneShape(*cpu, kernel, *eval, shape, ts, in,
                                          /*padded=*/iter % 2 == 1, rng,
                                          counts));
  }
}

class CpuAttentionMatchesReference
    : public ::testing::TestWithParam<PatternCase> {
public:
  static void TearDownTestSuite() {
    if (!suiteStorage())
      return;
    std::cerr << "[ info ] worst relative O error " << worst().rel
              << ", worst relative LSE error " << worst().lse << "; "
              << suite().compiles << " JIT compiles so far, "
              << suite().compileSeconds / std::max(1, suite().compiles)
              << " s per kernel\n";
  }
};

/// Every case on its own tile sizes (the four pairs in turn over the cases,
/// to keep the number of JIT compiles small).
TEST_P(CpuAttentionMatchesReference, OnRandomShapes) {
  const PatternCase &c = GetParam();
  size_t index = 0;
  while (index < std::size(kCases) && std::string(kCases[index].name) != c.name)
    ++index;
  Coverage counts;
  ASSERT_NO_FATAL_FAILURE(checkOnRandomShapes(
      c, {kTileSizes[index % std::size(kTileSizes)]}, 8, 4321 + index, counts));
  if (c.expectEmptyRows)
    EXPECT_GT(counts.emptyRows, 0) << "no row without kept keys was exercised";
  if (c.expectGathers)
    EXPECT_GT(counts.gatherTiles, 0) << "no gathered tile was exercised";
  if (std::string(c.name) != "empty")
    EXPECT_GT(counts.fullTiles + counts.partialTiles, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, CpuAttentionMatchesReference, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

/// Vertical-slash at lengths where columns and diagonals are sparse against
/// the tiles: the plans hold key lists and bands, which the generated code
/// reads through the key pool of the segment buffer.
TEST(CpuAttention, VerticalSlashKeyListsAndBands) {
  const PatternCase *c = nullptr;
  for (const PatternCase &candidate : kCases)
    if (std::string(candidate.name) == "vertical_slash")
      c = &candidate;
  ASSERT_TRUE(c);
  Coverage counts;
  const TileSize tiles[] = {{16, 16}, {32, 16}};
  ASSERT_NO_FATAL_FAILURE(
      checkOnRandomShapes(*c, tiles, 4, 2024, counts, /*maxLength=*/700));
  EXPECT_GT(counts.listSegments, 0) << "no key list was exercised";
  EXPECT_GT(counts.bandSegments, 0) << "no band was exercised";
  EXPECT_GT(counts.fullTiles, 0);
  EXPECT_GT(counts.partialTiles, 0);
}

/// A few cases that between them hit FULL and PARTIAL ranges and gathers,
/// tables, tail queries and empty rows, on every pair of tile sizes.
TEST(CpuAttention, TileSizeSweep) {
  for (const char *name : {"tri_shape", "s2_token", "block_table", "strided"}) {
    const PatternCase *c = nullptr;
    for (const PatternCase &candidate : kCases)
      if (std::string(candidate.name) == name)
        c = &candidate;
    ASSERT_TRUE(c);
    SCOPED_TRACE(name);
    Coverage counts;
    ASSERT_NO_FATAL_FAILURE(
        checkOnRandomShapes(*c, kTileSizes, 4, 99, counts));
    EXPECT_GT(counts.fullTiles, 0);
    EXPECT_GT(counts.partialTiles, 0);
    if (c->expectGathers)
      EXPECT_GT(counts.gatherTiles, 0);
  }
}

//===----------------------------------------------------------------------===//
// Errors come back as messages
//===----------------------------------------------------------------------===//

struct SmallProblem {
  Tensor q{{1, 4, 10, kHeadDim}, false}, k{{1, 2, 12, kHeadDim}, false},
      v{{1, 2, 12, kHeadDim}, false}, o{{1, 4, 10, kHeadDim}, false},
      lse{{1, 4, 10}, false};
  MaskInputs in;
  FlatPlan plan;
  CpuAttentionArgs args() {
    return CpuAttentionArgs{q.view, k.view, v.view, o.view, lse.view};
  }
  SmallProblem() {
    std::mt19937 rng(7);
    q.fillRandom(rng, -1, 1);
    k.fillRandom(rng, -1, 1);
    v.fillRandom(rng, -1, 1);
    in = randomInputs(rng, 1, 4, 10, 12);
    auto planner = TilePlanner::build(suite().kernel("causal"),
                                      PlanOptions{16, 16});
    std::string error;
    plan = planner->plan(in, error)->flatten();
  }
};

TEST(CpuAttention, RejectsBadArgumentsWithMessages) {
  const CpuAttention *cpu = suite().get("causal", 16, 16);
  ASSERT_TRUE(cpu) << suite().error;
  std::string error;
  {
    SmallProblem p;
    ASSERT_TRUE(mlir::succeeded(cpu->run("causal", p.args(), p.plan, p.in, error)))
        << error;
  }
  auto expectError = [&](llvm::function_ref<void(SmallProblem &)> spoil,
                         const char *needle, const char *kernel = "causal") {
    SmallProblem p;
    spoil(p);
    error.clear();
    EXPECT_TRUE(mlir::failed(cpu->run(kernel, p.args(), p.plan, p.in, error)));
    EXPECT_NE(error.find(needle), std::string::npos) << error;
  };
  expectError([](SmallProblem &) {}, "no compiled kernel", "nope");
  expectError([](SmallProblem &p) { p.q.view.sizes[1] = 3; }, "heads = 4");
  expectError([](SmallProblem &p) { p.v.view.sizes[2] = 11; }, "v: shape");
  expectError([](SmallProblem &p) { p.o.view.strides[3] = 2; },
              "innermost stride");
  expectError([](SmallProblem &p) { p.k.view.data = nullptr; }, "null data");
  expectError([](SmallProblem &p) { p.in.lk = 13; }, "mask inputs");
  expectError([](SmallProblem &p) { p.in.tables.erase("glob"); },
              "table @glob is missing");
  expectError([](SmallProblem &p) { p.in.tables["keep"].shape[0] = 2; },
              "table @keep has shape");
  expectError([](SmallProblem &p) { p.plan.numQueryTiles = 2; },
              "query tiles");
  expectError([](SmallProblem &p) { p.plan.classIndex[0] = 5; },
              "class index");
  expectError([](SmallProblem &p) { p.plan.offsets.back() = 1000; },
              "plan offsets");
  expectError([](SmallProblem &p) { p.plan.segments[5] = 0; },
              "malformed");
  expectError([](SmallProblem &p) { p.plan.segments.pop_back(); },
              "multiple of 7");
}

TEST(CpuAttention, RejectsDynamicPatternsAtCompileTime) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(
      "sattn.kernel @native(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, "
      "scale = 0.125) {\n"
      "%a = mask.nsa compress (32, 16) select (64, 16) window 512 local 2\n"
      "%b = mask.block_topk mean_pool block 64 {top_k = 4 : i64}\n"
      "%m = mask.union %a, %b\n"
      "sattn.yield %m\n}\n",
      &context);
  ASSERT_TRUE(module);
  // Each dynamic pattern compiles alone; two in one mask have no estimator.
  std::string error;
  auto cpu = CpuAttention::compile(*module, CpuAttentionOptions{}, error);
  EXPECT_TRUE(mlir::failed(cpu));
  EXPECT_NE(error.find("dynamic pattern"), std::string::npos) << error;
}

TEST(CpuAttention, PlanFromOtherTileSizesIsRejected) {
  const CpuAttention *cpu = suite().get("causal", 16, 16);
  ASSERT_TRUE(cpu) << suite().error;
  SmallProblem p;
  auto planner = TilePlanner::build(suite().kernel("causal"), PlanOptions{8, 8});
  std::string error;
  auto plan = planner->plan(p.in, error);
  ASSERT_TRUE(mlir::succeeded(plan));
  EXPECT_TRUE(mlir::failed(cpu->run("causal", p.args(), *plan, p.in, error)));
  EXPECT_NE(error.find("tile sizes"), std::string::npos) << error;
}

} // namespace
