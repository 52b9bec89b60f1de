//===- CompiledMaskTest.cpp - the reference semantics of every mask op ---===//
//
// CompiledMask is the oracle every lowering is tested against, so it is
// itself checked against expectations derived by hand from
// docs/MASK_SEMANTICS.md: explicit truth tables at small sizes, or a direct
// formula written independently here (explicit sets of kept blocks,
// residues listed per head, division through floating point). Kernels are
// built from IR text exactly as a user would write them.
//
//===----------------------------------------------------------------------===//

#include "CompiledMaskTestSupport.h"

using namespace maskeval_test;

namespace {

//===----------------------------------------------------------------------===//
// Constants, causal, windows
//===----------------------------------------------------------------------===//

TEST(CompiledMask, FullAndEmpty) {
  Kernel full("  %m = mask.full");
  Kernel empty("  %m = mask.empty");
  MaskInputs in = shape(3, 4);
  EXPECT_TRUE(matches(full.evaluator(), in, [](auto...) { return true; }));
  EXPECT_TRUE(matches(empty.evaluator(), in, [](auto...) { return false; }));
}

TEST(CompiledMask, CausalUsesAbsolutePositions) {
  Kernel kernel("  %m = mask.causal");
  CompiledMask eval = kernel.evaluator();
  // Lq < Lk: the three query rows sit at positions 2, 3, 4.
  EXPECT_TRUE(matchesTable(eval, shape(3, 5), 0, {"11100", "11110", "11111"}));
  EXPECT_TRUE(
      matchesTable(eval, shape(4, 4), 0, {"1000", "1100", "1110", "1111"}));
  // A single decoding query sees every key.
  EXPECT_TRUE(matchesTable(eval, shape(1, 6), 0, {"111111"}));
}

TEST(CompiledMask, CausalWindowKeepsSizeKeysPerRow) {
  Kernel kernel("  %m = mask.window 3");
  CompiledMask eval = kernel.evaluator();
  EXPECT_TRUE(matchesTable(
      eval, shape(6, 6), 0,
      {"100000", "110000", "111000", "011100", "001110", "000111"}));
  EXPECT_TRUE(matchesTable(eval, shape(2, 6), 0, {"001110", "000111"}));
}

TEST(CompiledMask, SymmetricWindowIsARadius) {
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

TEST(CompiledMask, SinkKeepsTheFirstKeysForEveryQuery) {
  Kernel kernel("  %m = mask.sink 2");
  EXPECT_TRUE(matchesTable(kernel.evaluator(), shape(3, 4), 0,
                           {"1100", "1100", "1100"}));
}

TEST(CompiledMask, TailQueriesDependOnLk) {
  Kernel kernel("  %m = mask.tail_queries 2");
  CompiledMask eval = kernel.evaluator();
  // Positions 1..4; the last two (3, 4) are dense.
  EXPECT_TRUE(
      matchesTable(eval, shape(4, 5), 0, {"00000", "00000", "11111", "11111"}));
  EXPECT_TRUE(matchesTable(eval, shape(3, 3), 0, {"000", "111", "111"}));
  EXPECT_TRUE(matchesTable(eval, shape(1, 7), 0, {"1111111"}));
}

TEST(CompiledMask, PrefixIsSinkOrCausal) {
  Kernel two("  %m = mask.prefix 2");
  EXPECT_TRUE(matchesTable(two.evaluator(), shape(5, 5), 0,
                           {"11000", "11000", "11100", "11110", "11111"}));
  Kernel zero("  %m = mask.prefix 0");
  EXPECT_TRUE(
      matchesTable(zero.evaluator(), shape(3, 3), 0, {"100", "110", "111"}));
}

TEST(CompiledMask, DilatedWindowKeepsEveryDthKey) {
  Kernel kernel("  %m = mask.dilated window 3 dilation 2");
  // Distances 0, 2 and 4 only.
  EXPECT_TRUE(matchesTable(kernel.evaluator(), shape(7, 7), 0,
                           {"1000000", "0100000", "1010000", "0101000",
                            "1010100", "0101010", "0010101"}));
}

//===----------------------------------------------------------------------===//
// Block patterns
//===----------------------------------------------------------------------===//

TEST(CompiledMask, PowerKeepsPowerOfTwoBlockDistances) {
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

TEST(CompiledMask, StridedBlocksSharePatternsAcrossGqaGroups) {
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

TEST(CompiledMask, StridedBlocksDenseHeadsAndOffsets) {
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

TEST(CompiledMask, StridedBlocksStepIsAtLeastOne) {
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

TEST(CompiledMask, BlockTableReadsPerHeadBlocks) {
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
  CompiledMask eval = kernel.evaluator();
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

TEST(CompiledMask, StridedOffsetIsAnAffineMapOfTheHead) {
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

TEST(CompiledMask, PerHeadAssignsOneMaskPerHead) {
  Kernel kernel("  %c = mask.causal\n  %s = mask.sink 1\n  %f = mask.full\n"
                "  %m = mask.per_head %c, %s, %f assign [0, 1, 2, 1]",
                4, 2);
  CompiledMask eval = kernel.evaluator();
  MaskInputs in = shape(3, 3);
  EXPECT_TRUE(matchesTable(eval, in, 0, {"100", "110", "111"}));
  EXPECT_TRUE(matchesTable(eval, in, 1, {"100", "100", "100"}));
  EXPECT_TRUE(matchesTable(eval, in, 2, {"111", "111", "111"}));
  EXPECT_TRUE(matchesTable(eval, in, 3, {"100", "100", "100"}));
}

TEST(CompiledMask, CombinatorsAreSetOperations) {
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

TEST(CompiledMask, DocumentIdsArePerBatch) {
  Kernel kernel("  mask.table @doc : i32 [\"b\", \"k\"]\n"
                "  %d = mask.document @doc\n  %c = mask.causal\n"
                "  %m = mask.intersect %d, %c");
  const std::vector<int64_t> ids[2] = {{0, 0, 1, 1, 1, 2}, {0, 1, 1, 1, 2, 2}};
  MaskInputs in = shape(6, 6, /*batch=*/2);
  TableData table{{2, 6}, {}};
  for (auto &row : ids)
    table.values.insert(table.values.end(), row.begin(), row.end());
  in.tables["doc"] = table;
  CompiledMask eval = kernel.evaluator();
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

TEST(CompiledMask, DocumentIdsWithOneDimensionalTable) {
  Kernel kernel("  mask.table @doc : i64 [\"k\"]\n  %m = mask.document @doc");
  MaskInputs in = shape(2, 4, /*batch=*/3);
  in.tables["doc"] = TableData{{4}, {7, 7, -1, -1}};
  CompiledMask eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  // Every batch entry shares the table; rows are positions 2 and 3.
  EXPECT_TRUE(matches(
      eval, in, [](int64_t, int64_t, int64_t, int64_t k) { return k >= 2; }));
}

} // namespace

//===----------------------------------------------------------------------===//
// Limits
//===----------------------------------------------------------------------===//

TEST(CompiledMask, DeepMaskIsRefusedBeforeRecursing) {
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

TEST(CompiledMask, HundredDeepMaskStillBuilds) {
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
