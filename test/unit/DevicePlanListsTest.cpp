//===- DevicePlanListsTest.cpp - column lists in device plans -------------===//
//
// Device plans of masks with a column term (`vcol[h, k]`, `glob[k]`) list
// the column keys of the tiles the rest of the mask skips as one List
// segment per query tile (docs/DEVICE_PLANS.md, "Column lists"). They no
// longer equal the host planner's Range-only plans, so they are checked by
// brute force over the reference evaluator (DevicePlanCheckSupport.h; the
// patterns with a lattice term get Gather segments, checked alike). Also:
// a query tile whose columns overflow the list's capacity falls back to
// PARTIAL tiles.
//
//===----------------------------------------------------------------------===//

#include "DevicePlanCheckSupport.h"

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Plan/EstimatorSpec.h"



#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;
using namespace sattn::cpu_attention_test;
using namespace sattn::device_plan_check;

namespace {

TEST(DevicePlanLists, ColumnKeysAreListedExactlyOnce) {
  std::mt19937 rng(31);
  PlanTally tally;
  int withTerm = 0;
  // Rows of up to 75 KV tiles (three pieces of abi::kRunChunk for count
  // and write), and KV tiles of two 64-key column words.
  static const int64_t kTiles[][2] = {{16, 8}, {8, 32}, {32, 4}, {16, 128}};
  for (const PatternCase &c : kCases) {
    SCOPED_TRACE(c.name);
    PatternKernel k(c);
    ASSERT_TRUE(k.ok());
    withTerm += deviceplan::findColumnTerm(k.kernel).has_value();
    for (const auto &tiles : kTiles) {
      auto cpu = compileWithPlans(k.kernel, tiles[0], tiles[1], /*lists=*/true);
      ASSERT_TRUE(mlir::succeeded(cpu));
      for (int iter = 0; iter < 4; ++iter) {
        int64_t lk = 1 + rng() % (tiles[1] == 4 ? 300 : 150);
        int64_t lq = iter % 2 == 0 ? lk : 1 + rng() % lk;
        MaskInputs in = randomInputs(rng, lq, lk);
        if (iter == 3)
          sparseColumnsAndDiagonals(in, 2, 6, 3, rng);
        if (iter == 2) // every key of the first half a column: whole tiles FULL
          for (const char *name : {"vcol", "glob", "units"}) {
            TableData &t = in.tables[name];
            for (size_t i = 0; i < t.values.size(); ++i)
              t.values[i] = t.values[i] || int64_t(i % lk) < lk / 2;
          }
        std::string error;
        auto plan = cpu->buildDevicePlan(k.kernel.getSymName(), in, error);
        ASSERT_TRUE(mlir::succeeded(plan)) << error;
        ASSERT_NO_FATAL_FAILURE(
            checkCoverage(*plan, *k.eval, in, k.kernel.getHeads(), tiles[0], tiles[1], tally));
        if (iter == 3)
          ASSERT_NO_FATAL_FAILURE(checkAttention(*cpu, k.kernel, *k.eval, in, *plan, rng));
      }
    }
  }
  std::cerr << "[ info ] column lists: " << withTerm << " patterns with a column term, "
            << tally.queryTiles << " query tiles, " << tally.withList << " with a list ("
            << tally.fullLists << " full), " << tally.listedKeys << " listed keys, " << tally.rangeTiles << " range tiles ("
            << tally.fullTiles << " full)\n";
  // vertical_slash, columns_and_diagonals, columns and longformer at least.
  EXPECT_GE(withTerm, 4);
  EXPECT_GT(tally.withList, 0);
  EXPECT_GT(tally.listedKeys, 0);
  EXPECT_GT(tally.fullTiles, 0);
}

TEST(DevicePlanLists, EstimatedLinesListColumnsAndOverflowFallsBack) {
  // examples/dynamic.sattn's vertical_slash (100 columns per head): the
  // table its compiled estimator writes is listed (at most 100 keys per
  // query tile); a caller's table with 300 columns overflows the capacity
  // in its later query tiles, which fall back to PARTIAL tiles.
  mlir::MLIRContext context(allDialects());
  mlir::OwningOpRef<mlir::ModuleOp> module = loweredDynamicExamples(context);
  ASSERT_TRUE(module);
  KernelOp kernel;
  for (KernelOp candidate : module->getOps<KernelOp>())
    if (candidate.getSymName() == "vertical_slash")
      kernel = candidate;
  ASSERT_TRUE(kernel);
  EXPECT_EQ(deviceplan::listKeyCapacity(kernel, true), 100);
  EXPECT_EQ(deviceplan::listKeyCapacity(kernel, false), 0);
  mlir::FailureOr<CompiledMask> eval = staticEvaluator(kernel);
  ASSERT_TRUE(mlir::succeeded(eval));
  auto cpu = compileWithPlans(kernel, 32, 16, /*lists=*/true); // rows of 44 KV tiles: two pieces
  ASSERT_TRUE(mlir::succeeded(cpu));
  std::mt19937 rng(3);
  auto table = llvm::cast<mask::TableOp>(
      mlir::SymbolTable::lookupSymbolIn(kernel, "estimated_lines"));
  for (int columns : {60, 300}) {
    SCOPED_TRACE(std::to_string(columns) + " columns");
    MaskInputs in;
    in.batch = 2;
    in.lk = 700;
    in.lq = 650;
    int64_t heads = kernel.getHeads();
    TableData data = randomTable(table, in.batch, heads, in.lk, rng);
    std::fill(data.values.begin(), data.values.end(), 0);
    for (int64_t s = 0; s < in.batch * heads; ++s) {
      int64_t *row = &data.values[s * 2 * in.lk];
      for (int i = 0; i < columns; ++i)
        row[rng() % in.lk] = 1;                 // columns
      for (int i = 0; i < 8; ++i)
        row[in.lk + (i < 4 ? i : rng() % in.lk)] = 1; // diagonals
    }
    in.tables["estimated_lines"] = data;
    std::string error;
    auto plan = cpu->buildDevicePlan("vertical_slash", in, error);
    ASSERT_TRUE(mlir::succeeded(plan)) << error;
    PlanTally tally;
    ASSERT_NO_FATAL_FAILURE(checkCoverage(*plan, *eval, in, heads, 32, 16, tally));
    EXPECT_GT(tally.withList, 0);
    // Listed tiles lie below the forced local diagonals: every listed pair
    // is causal, so the lists need no mask code.
    EXPECT_EQ(tally.fullLists, tally.withList);
    if (columns == 300)
      EXPECT_LT(tally.withList, tally.queryTiles) << "no query tile overflowed its list";
    else
      EXPECT_GT(tally.withList, tally.queryTiles / 2);
  }
}

} // namespace
