//===- MaskEvaluatorTest.cpp - the reference semantics of every mask op ---===//
//
// MaskEvaluator is the oracle every lowering is tested against, so it is
// itself checked against expectations derived by hand from
// docs/MASK_SEMANTICS.md: explicit truth tables at small sizes, or a direct
// formula written independently here (explicit sets of kept blocks,
// residues listed per head, division through floating point). Kernels are
// built from IR text exactly as a user would write them.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/MaskEvaluator.h"
#include "sattn/InitAll.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <set>

using sattn::MaskEvaluator;
using sattn::MaskInputs;
using sattn::TableData;

namespace {

mlir::DialectRegistry makeRegistry() {
  mlir::DialectRegistry registry;
  sattn::registerAllDialects(registry);
  return registry;
}

/// A kernel parsed from text, with every diagnostic captured.
class Kernel {
public:
  /// `body` holds the kernel body without the terminator; the mask `%m` is
  /// yielded. `verify` = false skips the verifier, to reach evaluator
  /// checks that the verifier would pre-empt.
  Kernel(llvm::StringRef body, int64_t heads = 1, int64_t kvHeads = 1,
         bool verify = true)
      : context(makeRegistry()) {
    handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
        &context, [this](mlir::Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return mlir::success();
        });
    std::string text =
        "sattn.kernel @k(dtype = bf16, head_dim = 64, heads = " +
        std::to_string(heads) + ", kv_heads = " + std::to_string(kvHeads) +
        ", scale = 0.125) {\n" + body.str() + "\n  sattn.yield %m\n}\n";
    mlir::ParserConfig config(&context, verify);
    module = mlir::parseSourceString<mlir::ModuleOp>(text, config);
  }

  /// Builds the evaluator. On failure the test fails with the diagnostics
  /// and gets an evaluator of `mask.empty`, so the caller can go on.
  MaskEvaluator evaluator() {
    if (module) {
      auto kernel = *module->getOps<sattn::KernelOp>().begin();
      mlir::FailureOr<MaskEvaluator> built = MaskEvaluator::build(kernel);
      if (succeeded(built))
        return std::move(*built);
    }
    ADD_FAILURE() << "no evaluator: " << diagnostics;
    static Kernel *fallback = new Kernel("  %m = mask.empty");
    return *MaskEvaluator::build(
        *fallback->module->getOps<sattn::KernelOp>().begin());
  }

  /// Builds the evaluator expecting failure; returns the diagnostics.
  std::string buildError() {
    if (!module)
      return "parse failed: " + diagnostics;
    auto kernel = *module->getOps<sattn::KernelOp>().begin();
    if (succeeded(MaskEvaluator::build(kernel)))
      return "";
    return diagnostics;
  }

  mlir::MLIRContext context;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

MaskInputs shape(int64_t lq, int64_t lk, int64_t batch = 1) {
  MaskInputs inputs;
  inputs.batch = batch;
  inputs.lq = lq;
  inputs.lk = lk;
  return inputs;
}

using Expected =
    std::function<bool(int64_t b, int64_t h, int64_t q, int64_t k)>;

/// Compares keep() with `expected` on every (b, h, q, k) of the shape:
/// query rows have absolute positions lk - lq .. lk - 1.
::testing::AssertionResult matches(const MaskEvaluator &eval,
                                   const MaskInputs &inputs,
                                   const Expected &expected) {
  int64_t checked = 0;
  for (int64_t b = 0; b < inputs.batch; ++b)
    for (int64_t h = 0; h < eval.heads(); ++h)
      for (int64_t q = inputs.lk - inputs.lq; q < inputs.lk; ++q)
        for (int64_t k = 0; k < inputs.lk; ++k, ++checked)
          if (eval.keep(inputs, b, h, q, k) != expected(b, h, q, k))
            return ::testing::AssertionFailure()
                   << "b=" << b << " h=" << h << " q=" << q << " k=" << k
                   << ": evaluator says " << eval.keep(inputs, b, h, q, k)
                   << " (lq=" << inputs.lq << ", lk=" << inputs.lk << ")";
  if (checked == 0)
    return ::testing::AssertionFailure() << "empty shape checks nothing";
  return ::testing::AssertionSuccess();
}

/// Compares head `h`, batch 0 with a truth table: one string per query row
/// (first row = position lk - lq), one character per key.
::testing::AssertionResult matchesTable(const MaskEvaluator &eval,
                                        const MaskInputs &inputs, int64_t h,
                                        std::vector<std::string> rows) {
  if ((int64_t)rows.size() != inputs.lq)
    return ::testing::AssertionFailure() << "table has wrong row count";
  for (int64_t i = 0; i < inputs.lq; ++i) {
    int64_t q = i + inputs.lk - inputs.lq;
    std::string got;
    for (int64_t k = 0; k < inputs.lk; ++k)
      got += eval.keep(inputs, 0, h, q, k) ? '1' : '0';
    if (got != rows[i])
      return ::testing::AssertionFailure()
             << "h=" << h << " row " << i << " (q=" << q << "): got " << got
             << ", expected " << rows[i];
  }
  return ::testing::AssertionSuccess();
}

//===----------------------------------------------------------------------===//
// Constants, causal, windows
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, FullAndEmpty) {
  Kernel full("  %m = mask.full");
  Kernel empty("  %m = mask.empty");
  MaskInputs in = shape(3, 4);
  EXPECT_TRUE(matches(full.evaluator(), in, [](auto...) { return true; }));
  EXPECT_TRUE(matches(empty.evaluator(), in, [](auto...) { return false; }));
}

TEST(MaskEvaluator, CausalUsesAbsolutePositions) {
  Kernel kernel("  %m = mask.causal");
  MaskEvaluator eval = kernel.evaluator();
  // Lq < Lk: the three query rows sit at positions 2, 3, 4.
  EXPECT_TRUE(matchesTable(eval, shape(3, 5), 0, {"11100", "11110", "11111"}));
  EXPECT_TRUE(
      matchesTable(eval, shape(4, 4), 0, {"1000", "1100", "1110", "1111"}));
  // A single decoding query sees every key.
  EXPECT_TRUE(matchesTable(eval, shape(1, 6), 0, {"111111"}));
}

TEST(MaskEvaluator, CausalWindowKeepsSizeKeysPerRow) {
  Kernel kernel("  %m = mask.window 3");
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_TRUE(matchesTable(
      eval, shape(6, 6), 0,
      {"100000", "110000", "111000", "011100", "001110", "000111"}));
  EXPECT_TRUE(matchesTable(eval, shape(2, 6), 0, {"001110", "000111"}));
}

TEST(MaskEvaluator, SymmetricWindowIsARadius) {
  Kernel one("  %m = mask.window 1 symmetric");
  EXPECT_TRUE(matchesTable(one.evaluator(), shape(5, 5), 0,
                           {"11000", "11100", "01110", "00111", "00011"}));
  Kernel zero("  %m = mask.window 0 symmetric");
  EXPECT_TRUE(
      matchesTable(zero.evaluator(), shape(3, 3), 0, {"100", "010", "001"}));
  // With Lq < Lk the radius reaches past the diagonal into later keys.
  EXPECT_TRUE(
      matchesTable(one.evaluator(), shape(2, 5), 0, {"00111", "00011"}));
}

TEST(MaskEvaluator, SinkKeepsTheFirstKeysForEveryQuery) {
  Kernel kernel("  %m = mask.sink 2");
  EXPECT_TRUE(matchesTable(kernel.evaluator(), shape(3, 4), 0,
                           {"1100", "1100", "1100"}));
}

TEST(MaskEvaluator, TailQueriesDependOnLk) {
  Kernel kernel("  %m = mask.tail_queries 2");
  MaskEvaluator eval = kernel.evaluator();
  // Positions 1..4; the last two (3, 4) are dense.
  EXPECT_TRUE(
      matchesTable(eval, shape(4, 5), 0, {"00000", "00000", "11111", "11111"}));
  EXPECT_TRUE(matchesTable(eval, shape(3, 3), 0, {"000", "111", "111"}));
  EXPECT_TRUE(matchesTable(eval, shape(1, 7), 0, {"1111111"}));
}

TEST(MaskEvaluator, PrefixIsSinkOrCausal) {
  Kernel two("  %m = mask.prefix 2");
  EXPECT_TRUE(matchesTable(two.evaluator(), shape(5, 5), 0,
                           {"11000", "11000", "11100", "11110", "11111"}));
  Kernel zero("  %m = mask.prefix 0");
  EXPECT_TRUE(
      matchesTable(zero.evaluator(), shape(3, 3), 0, {"100", "110", "111"}));
}

TEST(MaskEvaluator, DilatedWindowKeepsEveryDthKey) {
  Kernel kernel("  %m = mask.dilated window 3 dilation 2");
  // Distances 0, 2 and 4 only.
  EXPECT_TRUE(matchesTable(kernel.evaluator(), shape(7, 7), 0,
                           {"1000000", "0100000", "1010000", "0101000",
                            "1010100", "0101010", "0010101"}));
}

//===----------------------------------------------------------------------===//
// Block patterns
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, PowerKeepsPowerOfTwoBlockDistances) {
  // No window, no sink: block distances 0, 1, 2, 4, 8 only.
  Kernel pure("  %m = mask.power block 2 window 0 sink 0");
  const std::set<int64_t> distances = {0, 1, 2, 4, 8};
  EXPECT_TRUE(matches(pure.evaluator(), shape(24, 24),
                      [&](int64_t, int64_t, int64_t q, int64_t k) {
                        return k <= q && distances.count(q / 2 - k / 2);
                      }));
  // Block 1, window 3 (distances 0..2), one sink block (key 0).
  Kernel mixed("  %m = mask.power block 1 window 3 sink 1");
  const std::set<int64_t> near = {0, 1, 2, 4, 8, 16};
  EXPECT_TRUE(matches(mixed.evaluator(), shape(7, 20),
                      [&](int64_t, int64_t, int64_t q, int64_t k) {
                        return k <= q && (near.count(q - k) || k == 0);
                      }));
  // Within a block, token causality still applies.
  EXPECT_TRUE(matchesTable(pure.evaluator(), shape(2, 2), 0, {"10", "11"}));
}

TEST(MaskEvaluator, StridedBlocksSharePatternsAcrossGqaGroups) {
  // heads 8, kv_heads 2: heads 0-3 use KV head 0, heads 4-7 KV head 1;
  // step = max(1, 4 / 2) = 2, so KV head 0 keeps key blocks J with
  // J mod 4 == 0 and KV head 1 those with (J + 2) mod 4 == 0.
  Kernel kernel("  %m = mask.strided_blocks block 2 local 1 vert_stride 4 "
                "offset 0 dense_heads 0 per_kv_group",
                8, 2);
  const std::set<int64_t> vertical[2] = {{0, 4}, {2, 6}};
  EXPECT_TRUE(matches(kernel.evaluator(), shape(16, 16),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        int64_t qb = q / 2, kb = k / 2;
                        return k <= q &&
                               (qb == kb || vertical[h / 4].count(kb));
                      }));
  EXPECT_TRUE(matches(kernel.evaluator(), shape(5, 16),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        int64_t qb = q / 2, kb = k / 2;
                        return k <= q &&
                               (qb == kb || vertical[h / 4].count(kb));
                      }));
}

TEST(MaskEvaluator, StridedBlocksDenseHeadsAndOffsets) {
  // Four independent heads, step 1, offset 1, local 2: head h keeps key
  // blocks with (J + h + 1) mod 4 == 0; the last head is dense causal.
  Kernel kernel("  %m = mask.strided_blocks block 2 local 2 vert_stride 4 "
                "offset 1 dense_heads 1",
                4, 4);
  const std::set<int64_t> vertical[3] = {{3, 7}, {2, 6}, {1, 5}};
  EXPECT_TRUE(matches(kernel.evaluator(), shape(16, 16),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        if (k > q)
                          return false;
                        if (h == 3)
                          return true;
                        int64_t qb = q / 2, kb = k / 2;
                        return qb - kb < 2 || vertical[h].count(kb) > 0;
                      }));

  // GQA with a dense KV head: KV head 1 (query heads 4-7) is causal; KV
  // head 0 keeps only key block 0 besides the diagonal (step 8 / 2 = 4).
  Kernel gqa("  %m = mask.strided_blocks block 2 local 1 vert_stride 8 "
             "offset 0 dense_heads 1 per_kv_group",
             8, 2);
  EXPECT_TRUE(matches(gqa.evaluator(), shape(16, 16),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        if (k > q)
                          return false;
                        return h >= 4 || q / 2 == k / 2 || k / 2 == 0;
                      }));

  // Without per_kv_group the same parameters use 8 heads: step 1, head h
  // keeps key blocks with (J + h) mod 8 == 0, i.e. J = 8 - h (or 0 for
  // head 0); only head 7 is dense.
  Kernel perHead("  %m = mask.strided_blocks block 2 local 1 vert_stride 8 "
                 "offset 0 dense_heads 1",
                 8, 2);
  EXPECT_TRUE(matches(perHead.evaluator(), shape(16, 16),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        if (k > q)
                          return false;
                        int64_t kb = k / 2;
                        int64_t column = h == 0 ? 0 : 8 - h;
                        return h == 7 || q / 2 == kb || kb == column;
                      }));
}

TEST(MaskEvaluator, StridedBlocksStepIsAtLeastOne) {
  // vert_stride 4 over 8 heads: 4 / 8 = 0, so step = max(1, 0) = 1 and
  // head h keeps key blocks J with (J + h) mod 4 == 0 (block size 1).
  Kernel kernel("  %m = mask.strided_blocks block 1 local 1 vert_stride 4 "
                "offset 0 dense_heads 0",
                8, 8);
  const int64_t residue[8] = {0, 3, 2, 1, 0, 3, 2, 1};
  EXPECT_TRUE(matches(kernel.evaluator(), shape(12, 12),
                      [&](int64_t, int64_t h, int64_t q, int64_t k) {
                        return k <= q && (k == q || k % 4 == residue[h]);
                      }));
}

TEST(MaskEvaluator, BlockTableReadsPerHeadBlocks) {
  Kernel kernel("  mask.table @keep : i1 [\"h\", \"q/2\", \"k/2\"]\n"
                "  %m = mask.block_table @keep block 2",
                2, 1);
  MaskInputs in = shape(5, 5);
  // 3 x 3 blocks per head.
  const int64_t keep[2][3][3] = {{{1, 0, 0}, {0, 1, 0}, {1, 0, 1}},
                                 {{0, 1, 1}, {1, 0, 0}, {0, 0, 1}}};
  TableData table{{2, 3, 3}, {}};
  for (auto &head : keep)
    for (auto &row : head)
      table.values.insert(table.values.end(), row, row + 3);
  in.tables["keep"] = table;
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  EXPECT_TRUE(matches(eval, in, [&](int64_t, int64_t h, int64_t q, int64_t k) {
    return keep[h][q / 2][k / 2] != 0;
  }));
  EXPECT_TRUE(matchesTable(eval, shape(5, 5), 1,
                           {"00000", "00000", "00000", "00000", "00000"}))
      << "a missing table reads as all-zero";
  EXPECT_TRUE(
      matchesTable(eval, in, 0, {"11000", "11000", "00110", "00110", "11001"}));
}

//===----------------------------------------------------------------------===//
// Per-head patterns
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, StridedOffsetIsAnAffineMapOfTheHead) {
  struct Case {
    const char *offset;
    int64_t stride;
    std::vector<int64_t> residue; // f(h) floormod stride, for h = 0..7
  } cases[] = {
      {"(h) -> (h mod 4)", 4, {0, 1, 2, 3, 0, 1, 2, 3}},
      {"(h) -> (h floordiv 2)", 3, {0, 0, 1, 1, 2, 2, 0, 0}},
      {"(h) -> (h - 5)", 4, {3, 0, 1, 2, 3, 0, 1, 2}},
      {"(h) -> (h ceildiv 3)", 5, {0, 1, 1, 1, 2, 2, 2, 3}},
      {"(h) -> (h * 3 + 1)", 4, {1, 0, 3, 2, 1, 0, 3, 2}},
      {"(h) -> ((h - 3) floordiv 2)", 2, {0, 1, 1, 0, 0, 1, 1, 0}},
      {"(h) -> ((h - 3) mod 3)", 3, {0, 1, 2, 0, 1, 2, 0, 1}},
      {"(h) -> (7)", 3, {1, 1, 1, 1, 1, 1, 1, 1}},
  };
  for (const Case &c : cases) {
    Kernel kernel("  %m = mask.strided stride " + std::to_string(c.stride) +
                      " offset affine_map<" + c.offset + ">",
                  8, 2);
    EXPECT_TRUE(matches(kernel.evaluator(), shape(9, 12),
                        [&](int64_t, int64_t h, int64_t, int64_t k) {
                          return k % c.stride == c.residue[h];
                        }))
        << c.offset;
  }
}

TEST(MaskEvaluator, PerHeadAssignsOneMaskPerHead) {
  Kernel kernel("  %c = mask.causal\n  %s = mask.sink 1\n  %f = mask.full\n"
                "  %m = mask.per_head %c, %s, %f assign [0, 1, 2, 1]",
                4, 2);
  MaskEvaluator eval = kernel.evaluator();
  MaskInputs in = shape(3, 3);
  EXPECT_TRUE(matchesTable(eval, in, 0, {"100", "110", "111"}));
  EXPECT_TRUE(matchesTable(eval, in, 1, {"100", "100", "100"}));
  EXPECT_TRUE(matchesTable(eval, in, 2, {"111", "111", "111"}));
  EXPECT_TRUE(matchesTable(eval, in, 3, {"100", "100", "100"}));
}

TEST(MaskEvaluator, CombinatorsAreSetOperations) {
  Kernel kernel("  %c = mask.causal\n  %s = mask.sink 1\n"
                "  %w = mask.window 2\n  %nc = mask.complement %c\n"
                "  %u = mask.union %s, %w, %s\n"
                "  %m = mask.union %nc, %u");
  // Future keys (complement of causal), key 0, or the 2-key window.
  EXPECT_TRUE(matchesTable(kernel.evaluator(), shape(4, 4), 0,
                           {"1111", "1111", "1111", "1011"}));
  Kernel inter("  %c = mask.causal\n  %p = mask.prefix 3\n"
               "  %nc = mask.complement %c\n  %m = mask.intersect %p, %nc");
  // Future keys inside the prefix.
  EXPECT_TRUE(matchesTable(inter.evaluator(), shape(4, 4), 0,
                           {"0110", "0010", "0000", "0000"}));
}

//===----------------------------------------------------------------------===//
// Document ids
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, DocumentIdsArePerBatch) {
  Kernel kernel("  mask.table @doc : i32 [\"b\", \"k\"]\n"
                "  %d = mask.document @doc\n  %c = mask.causal\n"
                "  %m = mask.intersect %d, %c");
  const std::vector<int64_t> ids[2] = {{0, 0, 1, 1, 1, 2}, {0, 1, 1, 1, 2, 2}};
  MaskInputs in = shape(6, 6, /*batch=*/2);
  TableData table{{2, 6}, {}};
  for (auto &row : ids)
    table.values.insert(table.values.end(), row.begin(), row.end());
  in.tables["doc"] = table;
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  EXPECT_TRUE(matches(eval, in, [&](int64_t b, int64_t, int64_t q, int64_t k) {
    return k <= q && ids[b][q] == ids[b][k];
  }));
  // Batch 1 spelled out: documents {0}, {1, 2, 3}, {4, 5}.
  const std::vector<std::string> batch1 = {"011100", "000010", "000011"};
  for (int64_t q = 3; q < 6; ++q) {
    std::string row;
    for (int64_t k = 0; k < 6; ++k)
      row += eval.keep(in, 1, 0, q, k) ? '1' : '0';
    EXPECT_EQ(row, batch1[q - 3]) << "q=" << q;
  }
}

TEST(MaskEvaluator, DocumentIdsWithOneDimensionalTable) {
  Kernel kernel("  mask.table @doc : i64 [\"k\"]\n  %m = mask.document @doc");
  MaskInputs in = shape(2, 4, /*batch=*/3);
  in.tables["doc"] = TableData{{4}, {7, 7, -1, -1}};
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  // Every batch entry shares the table; rows are positions 2 and 3.
  EXPECT_TRUE(matches(
      eval, in, [](int64_t, int64_t, int64_t, int64_t k) { return k >= 2; }));
}

//===----------------------------------------------------------------------===//
// Predicates
//===----------------------------------------------------------------------===//

/// A predicate kernel with 32 heads that keeps (h, q, k) exactly when
/// `expr(q - 8, k - 8) == h - 16`, so that scanning h recovers the
/// integer the body computed for x = q - 8, y = k - 8 in [-8, 8).
std::string valueProbe(llvm::StringRef computeR) {
  return ("  %m = mask.predicate(%b, %h, %q, %k) {\n"
          "    %c8 = arith.constant 8 : index\n"
          "    %c16 = arith.constant 16 : index\n"
          "    %x = arith.subi %q, %c8 : index\n"
          "    %y = arith.subi %k, %c8 : index\n" +
          computeR +
          "\n    %t = arith.subi %h, %c16 : index\n"
          "    %eq = arith.cmpi eq, %r, %t : index\n"
          "    mask.yield %eq\n  }")
      .str();
}

/// The value the probe computed for (x, y), or nullopt if no head (or
/// more than one) kept the pair.
std::optional<int64_t> probe(const MaskEvaluator &eval, int64_t x, int64_t y) {
  MaskInputs in = shape(16, 16);
  std::optional<int64_t> found;
  for (int64_t h = 0; h < 32; ++h) {
    if (!eval.keep(in, 0, h, x + 8, y + 8))
      continue;
    if (found)
      return std::nullopt;
    found = h - 16;
  }
  return found;
}

TEST(MaskEvaluator, PredicateSignedDivisionFamily) {
  auto truncDiv = [](int64_t x, int64_t y) -> int64_t {
    return y == 0 ? 0 : (int64_t)std::trunc((double)x / (double)y);
  };
  auto floorDiv = [](int64_t x, int64_t y) -> int64_t {
    return y == 0 ? 0 : (int64_t)std::floor((double)x / (double)y);
  };
  auto ceilDiv = [](int64_t x, int64_t y) -> int64_t {
    return y == 0 ? 0 : (int64_t)std::ceil((double)x / (double)y);
  };
  auto rem = [&](int64_t x, int64_t y) -> int64_t {
    return y == 0 ? 0 : x - y * truncDiv(x, y);
  };
  struct Case {
    const char *op;
    std::function<int64_t(int64_t, int64_t)> expected;
  } cases[] = {
      {"divsi", truncDiv},
      {"floordivsi", floorDiv},
      {"ceildivsi", ceilDiv},
      {"remsi", rem},
      {"minsi", [](int64_t x, int64_t y) { return std::min(x, y); }},
      {"maxsi", [](int64_t x, int64_t y) { return std::max(x, y); }},
      {"subi", [](int64_t x, int64_t y) { return x - y; }},
      {"addi", [](int64_t x, int64_t y) { return x + y; }},
  };
  for (const Case &c : cases) {
    Kernel kernel(
        valueProbe(std::string("    %r = arith.") + c.op + " %x, %y : index"),
        32, 1);
    MaskEvaluator eval = kernel.evaluator();
    for (int64_t x = -8; x < 8; ++x)
      for (int64_t y = -8; y < 8; ++y)
        EXPECT_EQ(probe(eval, x, y), c.expected(x, y))
            << c.op << " x=" << x << " y=" << y;
  }
  // Spot checks written out: -7 floordiv 2 = -4, -7 ceildiv 2 = -3,
  // -7 remsi 2 = -1, 7 remsi -2 = 1, anything / 0 = 0.
  Kernel fdiv(valueProbe("    %r = arith.floordivsi %x, %y : index"), 32, 1);
  EXPECT_EQ(probe(fdiv.evaluator(), -7, 2), -4);
  Kernel cdiv(valueProbe("    %r = arith.ceildivsi %x, %y : index"), 32, 1);
  EXPECT_EQ(probe(cdiv.evaluator(), -7, 2), -3);
  Kernel srem(valueProbe("    %r = arith.remsi %x, %y : index"), 32, 1);
  EXPECT_EQ(probe(srem.evaluator(), -7, 2), -1);
  EXPECT_EQ(probe(srem.evaluator(), 7, -2), 1);
  EXPECT_EQ(probe(srem.evaluator(), 5, 0), 0);
  EXPECT_EQ(probe(fdiv.evaluator(), -5, 0), 0);
}

TEST(MaskEvaluator, PredicateSelectAbsAndLogic) {
  Kernel select(valueProbe("    %lt = arith.cmpi slt, %x, %y : index\n"
                           "    %r = arith.select %lt, %y, %x : index"),
                32, 1);
  Kernel abs(valueProbe("    %s = arith.subi %x, %y : index\n"
                        "    %a = math.absi %s : index\n"
                        "    %c3 = arith.constant 3 : index\n"
                        "    %r = arith.subi %a, %c3 : index"),
             32, 1);
  Kernel logic(valueProbe("    %c7 = arith.constant 7 : index\n"
                          "    %xa = arith.andi %x, %c7 : index\n"
                          "    %ya = arith.andi %y, %c7 : index\n"
                          "    %r = arith.xori %xa, %ya : index"),
               32, 1);
  MaskEvaluator selectEval = select.evaluator(), absEval = abs.evaluator(),
                logicEval = logic.evaluator();
  for (int64_t x = -8; x < 8; ++x)
    for (int64_t y = -8; y < 8; ++y) {
      EXPECT_EQ(probe(selectEval, x, y), std::max(x, y));
      EXPECT_EQ(probe(absEval, x, y), std::abs(x - y) - 3);
      // Two's complement: the low three bits of -1 are 7.
      EXPECT_EQ(probe(logicEval, x, y), ((x + 8) % 8) ^ ((y + 8) % 8));
    }
}

TEST(MaskEvaluator, PredicateUnsignedAndWrapAround) {
  // Each body yields a condition that holds exactly for the listed q.
  struct Case {
    const char *body;
    std::function<bool(int64_t q, int64_t k)> expected;
  } cases[] = {
      // INT64_MAX + q wraps negative for q >= 1.
      {"%max = arith.constant 9223372036854775807 : index\n"
       "%s = arith.addi %max, %q : index\n"
       "%z = arith.constant 0 : index\n"
       "%r = arith.cmpi slt, %s, %z : index",
       [](int64_t q, int64_t) { return q >= 1; }},
      // INT64_MIN / -1 wraps to INT64_MIN; INT64_MIN rem -1 is 0.
      {"%min = arith.constant -9223372036854775808 : index\n"
       "%m1 = arith.constant -1 : index\n"
       "%d = arith.divsi %min, %m1 : index\n"
       "%e = arith.remsi %min, %m1 : index\n"
       "%z = arith.constant 0 : index\n"
       "%a = arith.cmpi eq, %d, %min : index\n"
       "%b2 = arith.cmpi eq, %e, %z : index\n"
       "%r = arith.andi %a, %b2 : i1",
       [](int64_t, int64_t) { return true; }},
      // Unsigned: -1 is the largest value; division/remainder by 0 is 0.
      {"%m1 = arith.constant -1 : index\n"
       "%u = arith.minui %m1, %q : index\n"
       "%c = arith.cmpi eq, %u, %q : index\n"
       "%z = arith.constant 0 : index\n"
       "%dv = arith.divui %q, %z : index\n"
       "%rm = arith.remui %k, %z : index\n"
       "%s = arith.addi %dv, %rm : index\n"
       "%zz = arith.cmpi eq, %s, %z : index\n"
       "%r = arith.andi %c, %zz : i1",
       [](int64_t, int64_t) { return true; }},
      {"%c3 = arith.constant 3 : index\n"
       "%d = arith.divui %q, %c3 : index\n"
       "%m = arith.remui %k, %c3 : index\n"
       "%r = arith.cmpi ugt, %d, %m : index",
       [](int64_t q, int64_t k) { return q / 3 > k % 3; }},
      // Negative values compare as huge unsigned numbers.
      {"%s = arith.subi %q, %k : index\n"
       "%c4 = arith.constant 4 : index\n"
       "%r = arith.cmpi ult, %s, %c4 : index",
       [](int64_t q, int64_t k) { return q >= k && q - k < 4; }},
      {"%s = arith.subi %q, %k : index\n"
       "%mx = arith.maxui %s, %k : index\n"
       "%r = arith.cmpi eq, %mx, %s : index",
       [](int64_t q, int64_t k) { return q < k || q - k >= k; }},
      // i8 arithmetic: q * 40 truncated to i8 is negative when its bit 7
      // is set; index_cast back sign-extends.
      {"%c40 = arith.constant 40 : index\n"
       "%p = arith.muli %q, %c40 : index\n"
       "%t = arith.index_cast %p : index to i8\n"
       "%z = arith.constant 0 : i8\n"
       "%r = arith.cmpi slt, %t, %z : i8",
       [](int64_t q, int64_t) { return ((q * 40) & 0x80) != 0; }},
      {"%c40 = arith.constant 40 : index\n"
       "%p = arith.muli %q, %c40 : index\n"
       "%t = arith.index_cast %p : index to i8\n"
       "%back = arith.index_cast %t : i8 to index\n"
       "%c256 = arith.constant 256 : index\n"
       "%wrapped = arith.subi %p, %c256 : index\n"
       "%r = arith.cmpi eq, %back, %wrapped : index",
       // sext(p mod 256) == p - 256 exactly for p in [128, 384).
       [](int64_t q, int64_t) { return q * 40 >= 128 && q * 40 < 384; }},
      // i1 extension: extui gives 1, extsi gives -1; trunci keeps the low
      // bits (6 = 0b110 truncated to i2 is -2 as signed).
      {"%lt = arith.cmpi slt, %k, %q : index\n"
       "%u = arith.extui %lt : i1 to i64\n"
       "%s = arith.extsi %lt : i1 to i64\n"
       "%sum = arith.addi %u, %s : i64\n"
       "%z = arith.constant 0 : i64\n"
       "%zero = arith.cmpi eq, %sum, %z : i64\n"
       "%one = arith.constant 1 : i64\n"
       "%isOne = arith.cmpi eq, %u, %one : i64\n"
       "%r = arith.andi %zero, %isOne : i1",
       [](int64_t q, int64_t k) { return k < q; }},
      {"%c6 = arith.constant 6 : i64\n"
       "%t = arith.trunci %c6 : i64 to i2\n"
       "%e = arith.extsi %t : i2 to i64\n"
       "%m2 = arith.constant -2 : i64\n"
       "%r = arith.cmpi eq, %e, %m2 : i64",
       [](int64_t, int64_t) { return true; }},
      // i32 overflow wraps within 32 bits, not 64.
      {"%big = arith.constant 2147483647 : i32\n"
       "%qi = arith.index_cast %q : index to i32\n"
       "%s = arith.addi %big, %qi : i32\n"
       "%z = arith.constant 0 : i32\n"
       "%r = arith.cmpi slt, %s, %z : i32",
       [](int64_t q, int64_t) { return q >= 1; }},
  };
  for (const Case &c : cases) {
    std::string body = "  %m = mask.predicate(%b, %h, %q, %k) {\n";
    for (llvm::StringRef line : llvm::split(llvm::StringRef(c.body), '\n'))
      body += "    " + line.str() + "\n";
    body += "    mask.yield %r\n  }";
    Kernel kernel(body);
    EXPECT_TRUE(matches(kernel.evaluator(), shape(12, 12),
                        [&](int64_t, int64_t, int64_t q, int64_t k) {
                          return c.expected(q, k);
                        }))
        << c.body;
  }
}

TEST(MaskEvaluator, PredicateLookupsReadZeroOutOfRange) {
  Kernel kernel("  mask.table @ids : i64 [\"k\"]\n"
                "  mask.table @global : i1 [\"k\"]\n"
                "  %m = mask.predicate(%b, %h, %q, %k) {\n"
                "    %c100 = arith.constant 100 : index\n"
                "    %c3 = arith.constant 3 : index\n"
                "    %iq = mask.lookup @ids[%q] : index\n"
                "    %ik = mask.lookup @ids[%k] : index\n"
                "    %same = arith.cmpi eq, %iq, %ik : index\n"
                "    %g = mask.lookup @global[%k] : i1\n"
                "    %keep = arith.ori %same, %g : i1\n"
                // Beyond the end and below zero: both read 0.
                "    %far = arith.addi %k, %c100 : index\n"
                "    %past = mask.lookup @ids[%far] : index\n"
                "    %neg = arith.subi %q, %c3 : index\n"
                "    %before = mask.lookup @global[%neg] : i1\n"
                "    %z = arith.constant 0 : index\n"
                "    %pastZero = arith.cmpi eq, %past, %z : index\n"
                "    %t = arith.andi %keep, %pastZero : i1\n"
                "    %r = arith.ori %t, %before : i1\n"
                "    mask.yield %r\n  }");
  MaskEvaluator eval = kernel.evaluator();
  MaskInputs in = shape(6, 6);
  const std::vector<int64_t> ids = {5, 5, 9, 9, 9, 5};
  const std::vector<int64_t> global = {0, 1, 0, 0, 0, 0};
  in.tables["ids"] = TableData{{6}, ids};
  in.tables["global"] = TableData{{6}, global};
  EXPECT_EQ(eval.checkInputs(in), "");
  EXPECT_TRUE(matches(eval, in, [&](int64_t, int64_t, int64_t q, int64_t k) {
    bool before = q >= 3 && global[q - 3];
    return ids[q] == ids[k] || global[k] || before;
  }));
  // Without tables every lookup reads 0: ids all equal, so all pairs kept.
  EXPECT_TRUE(matches(eval, shape(6, 6), [](auto...) { return true; }));
}

TEST(MaskEvaluator, PredicateLookupRangeIsCheckedPerDimension) {
  // Row-major, (b, k - 1) at k = 0 would land on (b - 1, lk - 1) if only
  // the flat index were checked; each index must be in range by itself.
  Kernel kernel("  mask.table @ids : i64 [\"b\", \"k\"]\n"
                "  mask.table @flag : i1 [\"k\"]\n"
                "  %m = mask.predicate(%b, %h, %q, %k) {\n"
                "    %c1 = arith.constant 1 : index\n"
                "    %z = arith.constant 0 : index\n"
                "    %prev = arith.subi %k, %c1 : index\n"
                "    %v = mask.lookup @ids[%b, %prev] : index\n"
                "    %nz = arith.cmpi ne, %v, %z : index\n"
                "    %f = mask.lookup @flag[%k] : i1\n"
                "    %r = arith.ori %nz, %f : i1\n"
                "    mask.yield %r\n  }");
  MaskInputs in = shape(3, 3, /*batch=*/2);
  in.tables["ids"] = TableData{{2, 3}, {0, 0, 7, 0, 0, 0}};
  // A bool entry other than 0/1 (rejected by checkInputs) still reads as
  // true, as in a block table: bool lookups test for non-zero.
  in.tables["flag"] = TableData{{3}, {0, 2, 0}};
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_NE(eval.checkInputs(in).find("does not fit its element type i1"),
            std::string::npos);
  // Only k = 1 (the flag) is kept: ids[b][k - 1] is 0 everywhere except
  // that batch 1, k = 0 would read ids[0][2] = 7 through the flat index.
  EXPECT_TRUE(matches(
      eval, in, [](int64_t, int64_t, int64_t, int64_t k) { return k == 1; }));
}

TEST(MaskEvaluator, PredicateLiteralDimension) {
  // A small per-head table with a literal extent; heads past it read 0.
  Kernel kernel("  mask.table @span : i32 [\"3\"]\n"
                "  %m = mask.predicate(%b, %h, %q, %k) {\n"
                "    %s = mask.lookup @span[%h] : index\n"
                "    %d = arith.subi %q, %k : index\n"
                "    %c = arith.cmpi ult, %d, %s : index\n"
                "    mask.yield %c\n  }",
                4, 4);
  MaskInputs in = shape(5, 5);
  in.tables["span"] = TableData{{3}, {1, 3, 5}};
  MaskEvaluator eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  const int64_t span[4] = {1, 3, 5, 0};
  EXPECT_TRUE(matches(eval, in, [&](int64_t, int64_t h, int64_t q, int64_t k) {
    return k <= q && q - k < span[h];
  }));
}

//===----------------------------------------------------------------------===//
// Input checks and rejections
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, CheckInputsReportsEachInconsistency) {
  Kernel kernel("  mask.table @doc : i32 [\"b\", \"k\"]\n"
                "  mask.table @keep : i1 [\"h\", \"q/2\", \"k/2\"]\n"
                "  mask.table @lit : i64 [\"3\"]\n"
                "  mask.table @unused : i64 [\"k\"]\n"
                "  %d = mask.document @doc\n"
                "  %t = mask.block_table @keep block 2\n"
                "  %p = mask.predicate(%b, %h, %q, %k) {\n"
                "    %v = mask.lookup @lit[%h] : index\n"
                "    %z = arith.constant 0 : index\n"
                "    %c = arith.cmpi ne, %v, %z : index\n"
                "    mask.yield %c\n  }\n"
                "  %m = mask.union %d, %t, %p",
                2, 1);
  MaskEvaluator eval = kernel.evaluator();
  auto good = [] {
    MaskInputs in = shape(4, 5, /*batch=*/2);
    in.tables["doc"] = TableData{{2, 5}, std::vector<int64_t>(10, 1)};
    in.tables["keep"] = TableData{{2, 3, 3}, std::vector<int64_t>(18, 0)};
    in.tables["lit"] = TableData{{3}, {0, 1, 0}};
    return in;
  };
  EXPECT_EQ(eval.checkInputs(good()), "") << "@unused is never read";

  struct Case {
    std::function<void(MaskInputs &)> breakIt;
    const char *message;
  } cases[] = {
      {[](MaskInputs &in) { in.tables.erase("keep"); },
       "table @keep is read by the mask but not provided"},
      {[](MaskInputs &in) {
         in.tables["doc"] = TableData{{5}, {1, 1, 1, 1, 1}};
       },
       "table @doc has rank 1 but is declared with 2 dimensions"},
      {[](MaskInputs &in) {
         in.tables["doc"].shape = {1, 10};
       },
       "table @doc dimension 0 (\"b\") has extent 1, expected 2 (batch)"},
      {[](MaskInputs &in) {
         in.tables["doc"].shape = {5, 2};
       },
       "table @doc dimension 0 (\"b\") has extent 5, expected 2 (batch)"},
      {[](MaskInputs &in) {
         in.tables["doc"].shape = {2, 4};
       },
       "table @doc dimension 1 (\"k\") has extent 4, expected 5 (lk)"},
      {[](MaskInputs &in) {
         in.tables["keep"].shape = {3, 3, 2};
       },
       "table @keep dimension 0 (\"h\") has extent 3, expected 2 (heads)"},
      {[](MaskInputs &in) {
         in.tables["keep"].shape = {2, 3, 2};
       },
       "table @keep dimension 2 (\"k/2\") has extent 2, expected 3 "
       "(ceil(lk / 2))"},
      {[](MaskInputs &in) {
         in.tables["lit"] = TableData{{4}, {0, 0, 0, 0}};
       },
       "table @lit dimension 0 (\"3\") has extent 4, expected 3 (literal)"},
      {[](MaskInputs &in) { in.tables["lit"].values.push_back(0); },
       "table @lit holds 4 values but its shape needs 3"},
      {[](MaskInputs &in) { in.tables["keep"].values[5] = 2; },
       "table @keep value 2 at flat index 5 does not fit its element type i1"},
      {[](MaskInputs &in) { in.tables["doc"].values[0] = int64_t(1) << 40; },
       "does not fit its element type i32"},
      {[](MaskInputs &in) { in.lq = 6; },
       "lengths must satisfy 0 <= lq <= lk, got lq = 6, lk = 5"},
      {[](MaskInputs &in) { in.batch = 0; }, "batch must be positive"},
  };
  for (const Case &c : cases) {
    MaskInputs in = good();
    c.breakIt(in);
    std::string message = eval.checkInputs(in);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "expected: " << c.message << "\ngot: " << message;
  }
}

TEST(MaskEvaluator, DynamicPatternsAreRejected) {
  const char *dynamic[] = {
      // Parenthesised: one element split over two lines.
      ("mask.vertical_slash vertical 100 slash 60 last_q 64 forced(3, 10) "
       "block 64"),
      "mask.block_topk mean_pool block 64 {top_k = 100 : i64}",
      "mask.gate block 64 hidden 128 {threshold = 0.001 : f64}",
      "mask.stripe group 2048 block 128 step 16 theta 12.0",
      "mask.nsa compress(32, 16) select(64, 16) window 512 local 2",
  };
  for (const char *op : dynamic) {
    llvm::StringRef name = llvm::StringRef(op).split(' ').first;
    Kernel alone(std::string("  %m = ") + op);
    std::string error = alone.buildError();
    EXPECT_NE(error.find(("'" + name + "' is a dynamic pattern").str()),
              std::string::npos)
        << error;
    // Also when buried under combinators.
    Kernel nested(std::string("  %d = ") + op +
                  "\n  %c = mask.causal\n  %u = mask.union %c, %d\n"
                  "  %m = mask.intersect %c, %u");
    EXPECT_NE(nested.buildError().find("is a dynamic pattern"),
              std::string::npos);
  }
}

TEST(MaskEvaluator, UnsupportedPredicateOpsAreRejected) {
  // The verifier would reject these bodies too; skip it to check that the
  // evaluator does not rely on it.
  Kernel shift("  %m = mask.predicate(%b, %h, %q, %k) {\n"
               "    %s = arith.shli %q, %k : index\n"
               "    %c = arith.cmpi eq, %s, %k : index\n"
               "    mask.yield %c\n  }",
               1, 1, /*verify=*/false);
  EXPECT_NE(shift.buildError().find("'arith.shli' is not supported"),
            std::string::npos)
      << shift.diagnostics;
  Kernel wide("  %m = mask.predicate(%b, %h, %q, %k) {\n"
              "    %w = arith.index_cast %q : index to i128\n"
              "    %z = arith.constant 0 : i128\n"
              "    %c = arith.cmpi eq, %w, %z : i128\n"
              "    mask.yield %c\n  }",
              1, 1, /*verify=*/false);
  std::string wideError = wide.buildError();
  EXPECT_NE(wideError.find("'arith.index_cast' produces"), std::string::npos)
      << wideError;
  EXPECT_NE(wideError.find("i128"), std::string::npos) << wideError;
}

TEST(MaskEvaluator, BuildFromValueChecksHeadCounts) {
  Kernel kernel("  %c = mask.causal\n  %s = mask.sink 1\n"
                "  %m = mask.per_head %c, %s assign [0, 1, 1, 0]",
                4, 2);
  ASSERT_TRUE(kernel.module);
  auto k = *kernel.module->getOps<sattn::KernelOp>().begin();
  mlir::Value mask = k.getMask();
  EXPECT_TRUE(failed(MaskEvaluator::build(mask, 3, 2)));
  EXPECT_NE(kernel.diagnostics.find("positive multiple of kv_heads"),
            std::string::npos);
  EXPECT_TRUE(failed(MaskEvaluator::build(mask, 2, 2)));
  EXPECT_NE(kernel.diagnostics.find("assigns 4 heads but the kernel has 2"),
            std::string::npos);
  mlir::FailureOr<MaskEvaluator> ok = MaskEvaluator::build(mask, 4, 2);
  ASSERT_TRUE(succeeded(ok));
  EXPECT_EQ(ok->heads(), 4);
  EXPECT_EQ(ok->kvHeads(), 2);
  // Head 1 uses the sink; an out-of-range head keeps nothing.
  MaskInputs in = shape(2, 2);
  EXPECT_TRUE(ok->keep(in, 0, 1, 0, 0));
  EXPECT_FALSE(ok->keep(in, 0, 1, 1, 1));
  EXPECT_FALSE(ok->keep(in, 0, 4, 1, 1));
  // The evaluator owns its compiled form: it outlives moves.
  MaskEvaluator moved = std::move(*ok);
  EXPECT_TRUE(moved.keep(in, 0, 0, 1, 1));
}

} // namespace

//===----------------------------------------------------------------------===//
// Limits
//===----------------------------------------------------------------------===//

TEST(MaskEvaluator, DeepMaskIsRefusedBeforeRecursing) {
  // 30000 nested complements once overflowed the stack of the recursive
  // translation; the depth is now measured iteratively first.
  std::string body = "  %c0 = mask.causal\n";
  const int depth = 30000;
  for (int i = 1; i <= depth; ++i)
    body += "  %c" + std::to_string(i) + " = mask.complement %c" +
            std::to_string(i - 1) + "\n";
  body += "  %m = mask.complement %c" + std::to_string(depth) + "\n";
  Kernel kernel(body, 1, 1, /*verify=*/false);
  EXPECT_NE(kernel.buildError().find("operations deep"), std::string::npos)
      << kernel.diagnostics;
}

TEST(MaskEvaluator, HundredDeepMaskStillBuilds) {
  std::string body = "  %c0 = mask.causal\n";
  for (int i = 1; i <= 100; ++i)
    body += "  %c" + std::to_string(i) + " = mask.complement %c" +
            std::to_string(i - 1) + "\n";
  body += "  %m = mask.complement %c100\n";
  Kernel kernel(body);
  // 101 complements of causal: the complement of causal.
  EXPECT_TRUE(matches(kernel.evaluator(), shape(8, 8),
                      [](int64_t, int64_t, int64_t q, int64_t k) {
                        return k > q;
                      }));
}
