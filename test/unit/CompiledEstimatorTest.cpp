//===- CompiledEstimatorTest.cpp - compiled estimators vs the reference ---===//
//
// A kernel whose mask is `block_topk` (mean pool or antidiagonal scoring)
// or `vertical_slash` compiles to an estimator (sattn/Conversion/
// Estimators.h) that the GPU runs a thread per item; its CPU lowering
// (@NAME_estimate_cpu, the same stages as loops) must write exactly the
// table of the reference estimator (lib/Core/Estimators.cpp) for every
// (batch, head):
//   - top_k and tau, both scorers (the mask op selects mean-pooled blocks
//     by top_k only, so a kernel in lowered form checks mean pool by tau);
//   - GQA, Lq < Lk (query blocks without queries, groups off the stride
//     grid), padded strides, ties (constant inputs, repeated rows), top_k
//     below the number of forced blocks;
//   - vertical_slash: columns and diagonals with forced ones, rows longer
//     than a softmax chunk, last_q above Lq, counts above Lk, ties;
//   - the compiled kernels of examples/dynamic.sattn, from the spec file.
// Then the estimated table drives the planner and the CPU attention, which
// must match dense attention under the estimated mask in fp64.
//
//===----------------------------------------------------------------------===//

#include "CompiledEstimatorTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Core/Estimators.h"
#include "sattn/Plan/EstimatorSpec.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace sattn;
using namespace sattn::cpu_attention_test;

namespace {

constexpr const char *kKernels = R"mlir(
sattn.kernel @topk(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk mean_pool block 16 {top_k = 4 : i64}
  sattn.yield %m
}
sattn.kernel @mass(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) attributes {
    sattn.estimator = {block = 16 : i64, kind = "block_topk", scorer = "mean_pool",
                       table = "keep", tau = 6.0e-01 : f64, top_k = 0 : i64}} {
  mask.table @keep : i1 ["b", "h", "q/16", "k/16"]
  %c = mask.causal
  %p = mask.predicate(%b, %h, %q, %k) {
    %c16 = arith.constant 16 : index
    %qb = arith.divsi %q, %c16 : index
    %kb = arith.divsi %k, %c16 : index
    %x = mask.lookup @keep[%b, %h, %qb, %kb] : i1
    mask.yield %x
  }
  %m = mask.intersect %c, %p
  sattn.yield %m
}
sattn.kernel @forced_only(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk mean_pool block 32 {top_k = 1 : i64}
  sattn.yield %m
}
sattn.kernel @xattn_mass(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 16 {stride = 4 : i64, tau = 0.7 : f64}
  sattn.yield %m
}
sattn.kernel @xattn_topk(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 16 {stride = 8 : i64, top_k = 3 : i64}
  sattn.yield %m
}
sattn.kernel @xattn_rows(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 0.088) {
  %m = mask.block_topk antidiagonal block 64 {stride = 2 : i64, tau = 0.8 : f64}
  sattn.yield %m
}
sattn.kernel @xattn_wide(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 96 {stride = 1 : i64, tau = 0.6 : f64}
  sattn.yield %m
}
sattn.kernel @xattn_deep(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 1, scale = 0.0625) {
  %m = mask.block_topk antidiagonal block 40 {stride = 1 : i64, top_k = 2 : i64}
  sattn.yield %m
}
sattn.kernel @xattn_odd(dtype = bf16, head_dim = 64, heads = 3, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 27 {stride = 3 : i64, tau = 0.9 : f64}
  sattn.yield %m
}
sattn.kernel @xattn_unit(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.block_topk antidiagonal block 4 {stride = 4 : i64, top_k = 5 : i64}
  sattn.yield %m
}
sattn.kernel @vs(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.vertical_slash vertical 6 slash 5 last_q 8 forced(2, 2) block 16
  sattn.yield %m
}
sattn.kernel @vs_clamped(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.vertical_slash vertical 1000 slash 1 last_q 300 forced(0, 1) block 64
  sattn.yield %m
}
sattn.kernel @vs_diagonals(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.vertical_slash vertical 0 slash 9 last_q 3 forced(0, 0) block 16
  sattn.yield %m
}
sattn.kernel @vs_wide(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 1, scale = 0.0625) {
  %m = mask.vertical_slash vertical 7 slash 6 last_q 20 forced(1, 1) block 16
  sattn.yield %m
}
sattn.kernel @vs_long(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.vertical_slash vertical 30 slash 20 last_q 64 forced(4, 8) block 64
  sattn.yield %m
}
sattn.kernel @vs_half(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.vertical_slash vertical 100 slash 100 last_q 24 forced(0, 0) block 16
  sattn.yield %m
}
sattn.kernel @stripe(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.stripe group 16 block 4 step 2 theta 1.0
  sattn.yield %m
}
sattn.kernel @stripe_wide(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 1, scale = 0.088) {
  %m = mask.stripe group 48 block 8 step 3 theta 0.25
  sattn.yield %m
}
sattn.kernel @stripe_deep(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 2, scale = 0.0625) {
  %m = mask.stripe group 40 block 2 step 20 theta 0.5
  sattn.yield %m
}
sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
)mlir";

/// The kernels above; `estimatorLaunches` >= 0: the estimators stop after
/// that many launches.
struct Fixture : LoweredKernels {
  explicit Fixture(int64_t estimatorLaunches = -1) : LoweredKernels(kKernels, estimatorLaunches) {}
};

Fixture &fixture() {
  static Fixture f;
  return f;
}

/// Estimators stopped before the selection. vertical_slash after three
/// launches (row_chunks, row_stats, lines): every column's and diagonal's
/// score in the table as its order code. block_topk after two (pool,
/// score): the scores or masses of the causal block pairs as f64 bits.
Fixture &scoresFixture() {
  static Fixture f(/*estimatorLaunches=*/3);
  return f;
}
Fixture &blockScoresFixture() {
  static Fixture f(/*estimatorLaunches=*/2);
  return f;
}

/// The order code of a score (Scalar::orderCode in StageBuilders.h): an
/// unsigned integer in the score's order, NaN as -inf, -0 as +0.
uint64_t orderCode(double x) {
  if (std::isnan(x))
    x = -std::numeric_limits<double>::infinity();
  x += 0.0;
  int64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int64_t signedOrder = bits < 0 ? bits ^ std::numeric_limits<int64_t>::max() : bits;
  return uint64_t(signedOrder) ^ (uint64_t(1) << 63);
}

/// What the cases checked, printed by the last test.
struct Tally {
  int64_t tables = 0, entries = 0;
  double worstAttention = 0;
};
Tally &tally() {
  static Tally t;
  return t;
}

enum class Fill { Random, Constant, RepeatedRows };

void fill(Tensor &t, Fill how, std::mt19937 &rng) {
  if (how == Fill::Random)
    return t.fillRandom(rng, -2, 2);
  t.forEach([&](llvm::ArrayRef<int64_t> idx) {
    // Constant: every score ties. Repeated rows: rows repeat with period 3
    // and columns with period 5, so blocks of keys pool to few distinct means.
    t.at(idx) = how == Fill::Constant
                    ? 0.5f
                    : float((idx[2] % 3) * 0.25 + (idx[3] % 5) * 0.125 - idx[1] * 0.0625);
  });
}

struct Case {
  std::string kernel;
  int64_t batch, lq, lk;
  bool padded;
  Fill fill;
};

/// Runs one case of `cpu`'s kernel `kernel` (lowered: its table in place):
/// the estimated table equals the reference's, and planned attention on it
/// matches the dense reference. Returns the kept blocks.
int64_t checkCase(const CpuAttention &cpu, KernelOp kernel, const Case &c, std::mt19937 &rng) {
  SCOPED_TRACE(c.kernel + " B=" + std::to_string(c.batch) + " Lq=" + std::to_string(c.lq) +
               " Lk=" + std::to_string(c.lk) + (c.padded ? " padded" : "") +
               " fill=" + std::to_string(int(c.fill)));
  auto spec = plan::readEstimator(kernel);
  EXPECT_TRUE(mlir::succeeded(spec) && *spec);
  if (mlir::failed(spec) || !*spec)
    return 0;
  Shape s = shapeOf(kernel, c.batch, c.lq, c.lk);
  Tensor q({s.batch, s.heads, s.lq, s.headDim}, c.padded);
  Tensor k({s.batch, s.kvHeads, s.lk, s.headDim}, c.padded);
  Tensor v({s.batch, s.kvHeads, s.lk, s.headDim}, c.padded);
  fill(q, c.fill, rng);
  fill(k, c.fill, rng);
  v.fillRandom(rng, -1, 1);

  std::string error, tableName;
  auto table = cpu.runEstimator(c.kernel, q.view, k.view, tableName, error);
  EXPECT_TRUE(mlir::succeeded(table)) << error;
  if (mlir::failed(table))
    return 0;
  EXPECT_EQ(tableName, (*spec)->table);
  // Table rows per slice and their length: [blocks, blocks], [2, Lk] or
  // [units, Lk].
  bool lines = (*spec)->isLines(), stripe = (*spec)->isStripe();
  int64_t n = (s.lk + (*spec)->block - 1) / (*spec)->block, kept = 0, mismatches = 0;
  int64_t unit = (*spec)->block * (*spec)->step;
  int64_t rows = stripe ? (s.lk + unit - 1) / unit : lines ? 2 : n;
  int64_t columns = lines || stripe ? s.lk : n;
  EXPECT_EQ((int64_t)table->size(), s.batch * s.heads * rows * columns);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      std::vector<uint8_t> ref = referenceEntries(q, k, b, h, h / (s.heads / s.kvHeads),
                                                  kernel.getScale().convertToDouble(), **spec);
      for (int64_t i = 0; i < rows * columns; ++i) {
        int64_t got = (*table)[(b * s.heads + h) * rows * columns + i];
        kept += got;
        if (got != ref[i] && ++mismatches <= 5)
          ADD_FAILURE() << "b=" << b << " h=" << h << " entry (" << i / columns << ", "
                        << i % columns << "): estimated " << got << ", reference "
                        << int(ref[i]);
      }
    }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(q.clobberedPadding() + k.clobberedPadding(), 0);

  // Planned attention on the estimated table against the dense reference.
  MaskInputs in;
  in.batch = s.batch;
  in.lq = s.lq;
  in.lk = s.lk;
  in.tables[tableName] = TableData{{s.batch, s.heads, rows, columns}, *table};
  auto eval = CompiledMask::compile(kernel);
  auto planner = TilePlanner::build(kernel, PlanOptions{16, 16});
  EXPECT_TRUE(mlir::succeeded(eval) && mlir::succeeded(planner));
  if (mlir::failed(eval) || mlir::failed(planner))
    return kept;
  auto tilePlan = planner->plan(in, error);
  EXPECT_TRUE(mlir::succeeded(tilePlan)) << error;
  if (mlir::failed(tilePlan))
    return kept;
  Tensor o({s.batch, s.heads, s.lq, s.headDim}, c.padded);
  Tensor lse({s.batch, s.heads, s.lq}, c.padded);
  CpuAttentionArgs args{q.view, k.view, v.view, o.view, lse.view};
  EXPECT_TRUE(mlir::succeeded(cpu.run(c.kernel, args, *tilePlan, in, error))) << error;
  std::vector<double> refO, refLse;
  referenceAttention(*eval, in, s, q, k, v, refO, refLse);
  double err2 = 0, ref2 = 0;
  o.forEach([&](llvm::ArrayRef<int64_t> idx) {
    double ref = refO[((idx[0] * s.heads + idx[1]) * s.lq + idx[2]) * s.headDim + idx[3]];
    err2 += (o.at(idx) - ref) * (o.at(idx) - ref);
    ref2 += ref * ref;
  });
  double rel = std::sqrt(err2 / std::max(ref2, 1e-30));
  EXPECT_LT(rel, 1e-5);
  tally().worstAttention = std::max(tally().worstAttention, rel);
  tally().tables += 1;
  tally().entries += int64_t(table->size());
  return kept;
}

TEST(CompiledEstimator, Compiles) {
  ASSERT_TRUE(fixture().module) << "the test kernels do not parse";
  ASSERT_TRUE(fixture().cpu) << fixture().error;
}

TEST(CompiledEstimator, BlockTopKMatchesReference) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(20261204);
  int64_t kept = 0;
  for (const Case &c : {Case{"topk", 2, 200, 200, false, Fill::Random},
                        Case{"topk", 1, 70, 200, true, Fill::Random},
                        Case{"topk", 1, 1, 97, false, Fill::Random},
                        Case{"topk", 2, 128, 128, false, Fill::Constant},
                        Case{"topk", 1, 160, 160, true, Fill::RepeatedRows},
                        Case{"forced_only", 2, 150, 150, false, Fill::Random}})
    kept += checkCase(*fixture().cpu, fixture().kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

TEST(CompiledEstimator, BlockMassMatchesReference) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(7);
  int64_t kept = 0;
  for (const Case &c : {Case{"mass", 2, 200, 200, false, Fill::Random},
                        Case{"mass", 1, 50, 180, true, Fill::Random},
                        Case{"mass", 1, 144, 144, false, Fill::Constant},
                        Case{"mass", 2, 96, 160, false, Fill::RepeatedRows}})
    kept += checkCase(*fixture().cpu, fixture().kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

TEST(CompiledEstimator, AntidiagonalMatchesReference) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(11);
  int64_t kept = 0;
  // Lq < Lk with Lk - Lq not a multiple of the stride: the first group holds
  // positions before the first query, which contribute nothing.
  for (const Case &c : {Case{"xattn_mass", 2, 150, 150, false, Fill::Random},
                        Case{"xattn_mass", 1, 70, 203, true, Fill::Random},
                        Case{"xattn_mass", 1, 96, 96, false, Fill::Constant},
                        Case{"xattn_topk", 2, 130, 130, false, Fill::Random},
                        Case{"xattn_topk", 1, 45, 161, true, Fill::RepeatedRows},
                        // The score stage's tile shapes: a query block of 32
                        // group rows in two chunks, key blocks wider than a
                        // window (one row at a time; 96 = 64 + 32 groups, at
                        // head_dim 256 40 = 32 + 8), 9 rows against 63 keys.
                        Case{"xattn_rows", 2, 150, 200, false, Fill::Random},
                        Case{"xattn_rows", 1, 256, 256, false, Fill::RepeatedRows},
                        Case{"xattn_wide", 1, 200, 200, false, Fill::Random},
                        Case{"xattn_wide", 2, 130, 250, true, Fill::Random},
                        Case{"xattn_deep", 1, 100, 120, false, Fill::Random},
                        Case{"xattn_deep", 2, 90, 90, true, Fill::RepeatedRows},
                        Case{"xattn_odd", 2, 100, 100, false, Fill::Random},
                        Case{"xattn_odd", 1, 77, 140, true, Fill::Random},
                        // One group per block: rows one at a time against
                        // 64 key blocks.
                        Case{"xattn_unit", 2, 90, 90, false, Fill::Random},
                        Case{"xattn_unit", 1, 61, 150, true, Fill::RepeatedRows}})
    kept += checkCase(*fixture().cpu, fixture().kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

TEST(CompiledEstimator, StripeMatchesReference) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(9);
  int64_t kept = 0;
  // Lq < Lk with the first query inside a unit, a last unit cut short,
  // ties (constant inputs), head_dim 128 with three blocks per unit. The
  // tile stages' shapes: anchor tiles across a group edge (shift 25, 20),
  // head_dim 256 (tiles of 8 rows and 32 keys), units of 20 blocks (compare
  // loads them in three chunks of 8).
  for (const Case &c : {Case{"stripe", 2, 61, 61, false, Fill::Random},
                        Case{"stripe", 1, 45, 70, true, Fill::Random},
                        Case{"stripe", 1, 50, 50, false, Fill::Constant},
                        Case{"stripe", 2, 40, 66, false, Fill::RepeatedRows},
                        Case{"stripe_wide", 1, 150, 170, false, Fill::Random},
                        Case{"stripe_wide", 2, 100, 100, true, Fill::Random},
                        Case{"stripe_deep", 1, 117, 130, false, Fill::Random},
                        Case{"stripe_deep", 2, 90, 90, true, Fill::RepeatedRows}})
    kept += checkCase(*fixture().cpu, fixture().kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

TEST(CompiledEstimator, VerticalSlashMatchesReference) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(5);
  int64_t kept = 0;
  // Lk past one 256-key chunk (the softmax statistics combine chunks),
  // Lq < Lk, last_q above Lq, counts above Lk, only diagonals, and ties
  // (constant inputs: every column and every diagonal scores alike).
  for (const Case &c : {Case{"vs", 2, 300, 300, false, Fill::Random},
                        Case{"vs", 1, 40, 530, true, Fill::Random},
                        Case{"vs", 1, 64, 64, false, Fill::Constant},
                        Case{"vs", 2, 90, 120, false, Fill::RepeatedRows},
                        Case{"vs_clamped", 1, 100, 270, false, Fill::Random},
                        Case{"vs_clamped", 1, 5, 5, false, Fill::Random},
                        Case{"vs_diagonals", 2, 70, 70, true, Fill::Constant},
                        Case{"vs_diagonals", 1, 257, 257, false, Fill::Random},
                        // The tile stages' other shapes: head_dim 256 (a
                        // logit per thread, windows of 32 keys), last_q
                        // 20 (a partial row block); head_dim 128, last_q
                        // 64 (four row blocks, four rows per thread).
                        Case{"vs_wide", 1, 100, 300, false, Fill::Random},
                        Case{"vs_wide", 2, 37, 37, true, Fill::RepeatedRows},
                        Case{"vs_long", 1, 600, 700, false, Fill::Random},
                        // Half the lines kept: the cut falls among close
                        // scores, so a score off by one row's share moves it.
                        Case{"vs_half", 2, 180, 200, false, Fill::Random}})
    kept += checkCase(*fixture().cpu, fixture().kernel(c.kernel), c, rng);
  EXPECT_GT(kept, 0);
}

/// One case of the score tests: Q and K of `kernel` filled for `c`, and the
/// table the compiled estimator (stopped before its selection) wrote from
/// them; empty after a failure, which is reported.
struct EstimatedScores {
  Tensor q, k;
  std::vector<int64_t> table;

  EstimatedScores(const CpuAttention &cpu, KernelOp kernel, const Case &c, std::mt19937 &rng)
      : q({c.batch, int64_t(kernel.getHeads()), c.lq, int64_t(kernel.getHeadDim())}, c.padded),
        k({c.batch, int64_t(kernel.getKvHeads()), c.lk, int64_t(kernel.getHeadDim())}, c.padded) {
    fill(q, c.fill, rng);
    fill(k, c.fill, rng);
    std::string error, tableName;
    auto estimated = cpu.runEstimator(c.kernel, q.view, k.view, tableName, error);
    EXPECT_TRUE(mlir::succeeded(estimated)) << error;
    if (mlir::succeeded(estimated))
      table = std::move(*estimated);
  }
};

// The scores themselves, not only the selection they lead to: every column
// and diagonal score of the tile stages equals the reference's bit for bit
// (a sum taken in another order would round differently and still select
// the same lines almost always).
TEST(CompiledEstimator, VerticalSlashScoresMatchReference) {
  Fixture &f = scoresFixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(11);
  int64_t compared = 0;
  for (const Case &c : {Case{"vs", 2, 300, 300, false, Fill::Random},
                        Case{"vs_clamped", 1, 100, 270, true, Fill::Random},
                        Case{"vs_wide", 1, 100, 300, false, Fill::Random},
                        Case{"vs_long", 1, 600, 700, false, Fill::Random},
                        Case{"vs_half", 2, 180, 200, false, Fill::RepeatedRows},
                        Case{"vs_diagonals", 1, 257, 257, false, Fill::Random}}) {
    SCOPED_TRACE(c.kernel + " Lq=" + std::to_string(c.lq) + " Lk=" + std::to_string(c.lk));
    KernelOp kernel = f.kernel(c.kernel);
    ASSERT_TRUE(kernel);
    auto spec = plan::readEstimator(kernel);
    ASSERT_TRUE(mlir::succeeded(spec) && *spec);
    int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads();
    double scale = kernel.getScale().convertToDouble();
    EstimatedScores run(*f.cpu, kernel, c, rng);
    const std::vector<int64_t> &table = run.table;
    ASSERT_EQ((int64_t)table.size(), c.batch * heads * 2 * c.lk);
    std::string error;
    int64_t mismatches = 0;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t h = 0; h < heads; ++h) {
        estimate::VerticalSlashScores ref = estimate::verticalSlashScores(
            sliceRows(run.q, b, h), sliceRows(run.k, b, h / (heads / kvHeads)), scale,
            (*spec)->lastQ, error);
        ASSERT_TRUE(error.empty()) << error;
        for (int64_t line = 0; line < 2; ++line)
          for (int64_t j = 0; j < c.lk; ++j) {
            double score = line == 0 ? ref.columns[j] : ref.offsets[j];
            uint64_t got = uint64_t(table[((b * heads + h) * 2 + line) * c.lk + j]);
            ++compared;
            if (got != orderCode(score) && ++mismatches <= 5)
              ADD_FAILURE() << "b=" << b << " h=" << h << (line ? " diagonal " : " column ")
                            << j << ": code " << got << ", reference " << orderCode(score)
                            << " (score " << score << ")";
          }
      }
    EXPECT_EQ(mismatches, 0);
  }
  std::printf("[ info ] vertical_slash scores: %lld equal to the reference bit for bit\n",
              (long long)compared);
}

// The same for block_topk: every causal block pair's pooled score (mean
// pool) or attention mass (antidiagonal) equals the reference's bit for bit.
TEST(CompiledEstimator, BlockScoresMatchReference) {
  Fixture &f = blockScoresFixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(12);
  int64_t compared = 0;
  for (const Case &c : {Case{"topk", 2, 200, 200, false, Fill::Random},
                        Case{"topk", 1, 70, 200, true, Fill::Random},
                        Case{"mass", 1, 50, 180, false, Fill::RepeatedRows},
                        Case{"xattn_mass", 2, 100, 130, true, Fill::Random},
                        Case{"xattn_topk", 1, 45, 161, false, Fill::Random},
                        Case{"xattn_rows", 1, 150, 200, false, Fill::Random},
                        Case{"xattn_wide", 1, 130, 250, true, Fill::Random},
                        Case{"xattn_deep", 1, 100, 120, false, Fill::Random},
                        Case{"xattn_odd", 1, 77, 140, false, Fill::Random},
                        Case{"xattn_unit", 1, 61, 150, false, Fill::Random}}) {
    SCOPED_TRACE(c.kernel + " Lq=" + std::to_string(c.lq) + " Lk=" + std::to_string(c.lk));
    KernelOp kernel = f.kernel(c.kernel);
    ASSERT_TRUE(kernel);
    auto spec = plan::readEstimator(kernel);
    ASSERT_TRUE(mlir::succeeded(spec) && *spec);
    int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads();
    int64_t block = (*spec)->block, n = (c.lk + block - 1) / block, shift = c.lk - c.lq;
    EstimatedScores run(*f.cpu, kernel, c, rng);
    const std::vector<int64_t> &table = run.table;
    ASSERT_EQ((int64_t)table.size(), c.batch * heads * n * n);
    std::string error;
    estimate::BlockSelectParams p;
    p.scorer = (*spec)->stride ? estimate::BlockScorer::Antidiagonal
                               : estimate::BlockScorer::MeanPool;
    p.stride = (*spec)->stride;
    p.block = block;
    p.topK = (*spec)->topK;
    p.tau = (*spec)->tau;
    int64_t mismatches = 0;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<double> ref = estimate::blockScores(
            sliceRows(run.q, b, h), sliceRows(run.k, b, h / (heads / kvHeads)),
            kernel.getScale().convertToDouble(), p, error);
        ASSERT_TRUE(error.empty()) << error;
        // Query blocks holding a query, key blocks at or before them.
        compareBlockBits(table, b, h, heads, n, shift / block, ref, compared, mismatches);
      }
    EXPECT_EQ(mismatches, 0);
  }
  std::printf("[ info ] block scores and masses: %lld equal to the reference bit for bit\n",
              (long long)compared);
}

TEST(CompiledEstimator, ExampleKernelsMatchReference) {
  // The dynamic kernels of examples/dynamic.sattn (but the gate and nsa),
  // from the spec file, at a small shape.
  Fixture &f = fixture();
  mlir::OwningOpRef<mlir::ModuleOp> lowered = tile_plan_test::loweredDynamicExamples(*f.context);
  ASSERT_TRUE(lowered);
  std::mt19937 rng(3);
  int compiled = 0;
  for (KernelOp kernel : lowered->getOps<KernelOp>()) {
    auto spec = plan::readEstimator(kernel);
    ASSERT_TRUE(mlir::succeeded(spec));
    // The gate reads learned weights and nsa's reference is its whole
    // forward: CompiledGateTest and CompiledNsaTest check those examples.
    if (!*spec || (*spec)->isGate() || (*spec)->isNsa())
      continue;
    ++compiled;
    mlir::OwningOpRef<mlir::ModuleOp> single = mlir::ModuleOp::create(kernel.getLoc());
    single->push_back(kernel->clone());
    std::string error;
    auto cpu = compileForEstimatorTests(*single, error);
    ASSERT_TRUE(mlir::succeeded(cpu)) << error;
    // Two batch elements, Lq < Lk, a few blocks of the kernel's size.
    int64_t lk = 3 * (*spec)->block + 17;
    int64_t kept =
        checkCase(*cpu, *single->getOps<KernelOp>().begin(),
                  Case{kernel.getSymName().str(), 2, lk - 40, lk, true, Fill::Random}, rng);
    // A stripe selects keys from the third group (2048 keys each) on: none
    // at this length, where every pair is in an anchor region.
    if ((*spec)->isStripe())
      EXPECT_EQ(kept, 0);
    else
      EXPECT_GT(kept, 0);
  }
  EXPECT_EQ(compiled, 4) << "vertical_slash, block_topk, xattention and anchor_stripe";
}

TEST(CompiledEstimator, RejectsBadCalls) {
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  std::mt19937 rng(1);
  Tensor q({1, 4, 32, kHeadDim}, false), k({1, 2, 32, kHeadDim}, false);
  q.fillRandom(rng, -1, 1);
  k.fillRandom(rng, -1, 1);
  std::string error, table;
  EXPECT_TRUE(mlir::failed(fixture().cpu->runEstimator("causal", q.view, k.view, table, error)));
  EXPECT_NE(error.find("no compiled estimator"), std::string::npos) << error;
  Tensor wrongHeads({1, 3, 32, kHeadDim}, false);
  EXPECT_TRUE(
      mlir::failed(fixture().cpu->runEstimator("topk", wrongHeads.view, k.view, table, error)));
  EXPECT_NE(error.find("q: shape"), std::string::npos) << error;
  Tensor longer({1, 4, 40, kHeadDim}, false);
  EXPECT_TRUE(
      mlir::failed(fixture().cpu->runEstimator("topk", longer.view, k.view, table, error)));
  EXPECT_NE(error.find("Lq <= Lk"), std::string::npos) << error;
  std::cerr << "[ info ] compiled estimators: " << tally().tables << " tables ("
            << tally().entries << " entries) equal to the reference; worst relative error of "
            << "attention on them against dense fp64: " << tally().worstAttention << "\n";
}

} // namespace
