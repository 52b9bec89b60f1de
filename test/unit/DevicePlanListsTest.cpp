//===- DevicePlanListsTest.cpp - column lists in device plans -------------===//
//
// Device plans of masks with a column term (`vcol[h, k]`, `glob[k]`) list
// the column keys of the tiles the rest of the mask skips as one List
// segment per query tile (docs/DEVICE_PLANS.md, "Column lists"). They no
// longer equal the host planner's Range-only plans, so they are checked by
// brute force over the reference evaluator: per (batch, head, query tile)
// no key is visited twice, every kept pair's key is visited, a FULL
// segment (a Range, or a List whose every pair the mask keeps) holds kept
// pairs only; and attention run on them by the CPU
// kernel matches dense masked attention in fp64. Also: a query tile whose
// columns overflow the list's capacity falls back to PARTIAL tiles.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Plan/EstimatorSpec.h"



#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::tile_plan_test;
using namespace sattn::cpu_attention_test;

namespace {

struct ListTally {
  int64_t queryTiles = 0, withList = 0, fullLists = 0, listedKeys = 0, rangeTiles = 0,
          fullTiles = 0;
};

/// Checks the device plan `p` of `in` pair by pair (see the file comment).
void checkCoverage(const FlatPlan &p, const CompiledMask &eval, const MaskInputs &in,
                   int64_t heads, int64_t bm, int64_t bn, ListTally &tally) {
  constexpr int64_t fields = FlatPlan::kSegmentFields;
  int64_t shift = in.lk - in.lq;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t m = 0; m < p.numQueryTiles; ++m) {
        SCOPED_TRACE("b=" + std::to_string(b) + " h=" + std::to_string(h) +
                     " m=" + std::to_string(m));
        int64_t c = p.classIndex[b * heads + h];
        ASSERT_TRUE(0 <= c && c < p.numClasses);
        int64_t first = p.offsets[c * (p.numQueryTiles + 1) + m];
        int64_t last = p.offsets[c * (p.numQueryTiles + 1) + m + 1];
        std::vector<int> visits(in.lk, 0);
        std::vector<bool> full(in.lk, false);
        bool listed = false;
        for (int64_t s = first; s < last; ++s) {
          const int64_t *f = &p.segments[s * fields];
          std::vector<int64_t> keys;
          if (f[0] == Segment::Range) {
            ASSERT_TRUE(0 <= f[2] && f[2] < f[3]) << "range [" << f[2] << ", " << f[3] << ")";
            tally.rangeTiles += f[3] - f[2];
            tally.fullTiles += f[1] ? f[3] - f[2] : 0;
            for (int64_t k = f[2] * bn; k < std::min(f[3] * bn, in.lk); ++k)
              keys.push_back(k);
          } else {
            ASSERT_EQ(f[0], Segment::List) << "device plans hold Range and List segments";
            tally.fullLists += f[1] != 0;
            ASSERT_TRUE(f[2] <= f[3] && f[3] <= int64_t(p.segments.size()));
            ASSERT_FALSE(listed) << "one list per query tile";
            listed = true;
            for (int64_t j = f[2]; j < f[3]; ++j) {
              keys.push_back(p.segments[j]);
              ASSERT_TRUE(0 <= keys.back() && keys.back() < in.lk) << "key " << keys.back();
              if (j > f[2])
                ASSERT_LT(p.segments[j - 1], keys.back()) << "list keys ascend";
            }
            tally.listedKeys += f[3] - f[2];
          }
          for (int64_t k : keys) {
            ++visits[k];
            full[k] = f[1] != 0;
          }
        }
        ++tally.queryTiles;
        tally.withList += listed;
        for (int64_t k = 0; k < in.lk; ++k) {
          ASSERT_LE(visits[k], 1) << "key " << k << " visited twice";
          for (int64_t i = m * bm; i < std::min((m + 1) * bm, in.lq); ++i) {
            bool keep = eval.keep(in, b, h, i + shift, k);
            if (keep)
              ASSERT_EQ(visits[k], 1) << "kept pair (" << i << ", " << k << ") not visited";
            if (full[k])
              ASSERT_TRUE(keep) << "FULL segment holds dropped pair (" << i << ", " << k << ")";
          }
        }
      }
}

/// Runs the kernel on plan `p` and compares with dense fp64 attention.
void checkAttention(const CpuAttention &cpu, KernelOp kernel, const CompiledMask &eval,
                    const MaskInputs &in, const FlatPlan &p, std::mt19937 &rng) {
  Shape shape = shapeOf(kernel, in.batch, in.lq, in.lk);
  int64_t d = shape.headDim;
  Tensor q({shape.batch, shape.heads, shape.lq, d}, false);
  Tensor k({shape.batch, shape.kvHeads, shape.lk, d}, false);
  Tensor v({shape.batch, shape.kvHeads, shape.lk, d}, false);
  Tensor o({shape.batch, shape.heads, shape.lq, d}, false);
  Tensor lse({shape.batch, shape.heads, shape.lq}, false);
  q.fillRandom(rng, -2, 2);
  k.fillRandom(rng, -2, 2);
  v.fillRandom(rng, -1, 1);
  std::string error;
  CpuAttentionArgs args{q.view, k.view, v.view, o.view, lse.view};
  ASSERT_TRUE(mlir::succeeded(cpu.run(kernel.getSymName(), args, p, in, error))) << error;
  std::vector<double> refO, refLse;
  referenceAttention(eval, in, shape, q, k, v, refO, refLse);
  double err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < int64_t(refO.size()); ++i) {
    double got = o.storage[i];
    ASSERT_FALSE(std::isnan(got));
    err2 += (got - refO[i]) * (got - refO[i]);
    ref2 += refO[i] * refO[i];
  }
  EXPECT_LT(std::sqrt(err2 / std::max(ref2, 1e-30)), 1e-5);
}

TEST(DevicePlanLists, ColumnKeysAreListedExactlyOnce) {
  std::mt19937 rng(31);
  ListTally tally;
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
    ListTally tally;
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
