//===- CompiledMaskPredicateTest.cpp - predicates in the reference -------===//
//
// The free-form `mask.predicate` in the reference evaluator: every integer
// op's semantics (signed and unsigned division families, wrap-around,
// select, abs, logic) probed value by value, table lookups and their
// bounds; then the input checks and the masks the evaluator rejects. The
// named patterns are in CompiledMaskTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "CompiledMaskTestSupport.h"

using namespace maskeval_test;

namespace {

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
std::optional<int64_t> probe(const CompiledMask &eval, int64_t x, int64_t y) {
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

TEST(CompiledMask, PredicateSignedDivisionFamily) {
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
    CompiledMask eval = kernel.evaluator();
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

TEST(CompiledMask, PredicateSelectAbsAndLogic) {
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
  CompiledMask selectEval = select.evaluator(), absEval = abs.evaluator(),
                logicEval = logic.evaluator();
  for (int64_t x = -8; x < 8; ++x)
    for (int64_t y = -8; y < 8; ++y) {
      EXPECT_EQ(probe(selectEval, x, y), std::max(x, y));
      EXPECT_EQ(probe(absEval, x, y), std::abs(x - y) - 3);
      // Two's complement: the low three bits of -1 are 7.
      EXPECT_EQ(probe(logicEval, x, y), ((x + 8) % 8) ^ ((y + 8) % 8));
    }
}

TEST(CompiledMask, PredicateUnsignedAndWrapAround) {
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

TEST(CompiledMask, PredicateLookupsReadZeroOutOfRange) {
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
  CompiledMask eval = kernel.evaluator();
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

TEST(CompiledMask, PredicateLookupRangeIsCheckedPerDimension) {
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
  CompiledMask eval = kernel.evaluator();
  EXPECT_NE(eval.checkInputs(in).find("does not fit its element type i1"),
            std::string::npos);
  // Only k = 1 (the flag) is kept: ids[b][k - 1] is 0 everywhere except
  // that batch 1, k = 0 would read ids[0][2] = 7 through the flat index.
  EXPECT_TRUE(matches(
      eval, in, [](int64_t, int64_t, int64_t, int64_t k) { return k == 1; }));
}

TEST(CompiledMask, PredicateLiteralDimension) {
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
  CompiledMask eval = kernel.evaluator();
  EXPECT_EQ(eval.checkInputs(in), "");
  const int64_t span[4] = {1, 3, 5, 0};
  EXPECT_TRUE(matches(eval, in, [&](int64_t, int64_t h, int64_t q, int64_t k) {
    return k <= q && q - k < span[h];
  }));
}

//===----------------------------------------------------------------------===//
// Input checks and rejections
//===----------------------------------------------------------------------===//

TEST(CompiledMask, CheckInputsReportsEachInconsistency) {
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
  CompiledMask eval = kernel.evaluator();
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

TEST(CompiledMask, DynamicPatternsAreRejected) {
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

TEST(CompiledMask, UnsupportedPredicateOpsAreRejected) {
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

TEST(CompiledMask, BuildFromValueChecksHeadCounts) {
  Kernel kernel("  %c = mask.causal\n  %s = mask.sink 1\n"
                "  %m = mask.per_head %c, %s assign [0, 1, 1, 0]",
                4, 2);
  ASSERT_TRUE(kernel.module);
  auto k = *kernel.module->getOps<sattn::KernelOp>().begin();
  mlir::Value mask = k.getMask();
  EXPECT_TRUE(failed(CompiledMask::compile(mask, 3, 2)));
  EXPECT_NE(kernel.diagnostics.find("positive multiple of kv_heads"),
            std::string::npos);
  EXPECT_TRUE(failed(CompiledMask::compile(mask, 2, 2)));
  EXPECT_NE(kernel.diagnostics.find("assigns 4 heads but the kernel has 2"),
            std::string::npos);
  mlir::FailureOr<CompiledMask> ok = CompiledMask::compile(mask, 4, 2);
  ASSERT_TRUE(succeeded(ok));
  EXPECT_EQ(ok->heads(), 4);
  EXPECT_EQ(ok->kvHeads(), 2);
  // Head 1 uses the sink; an out-of-range head keeps nothing.
  MaskInputs in = shape(2, 2);
  EXPECT_TRUE(ok->keep(in, 0, 1, 0, 0));
  EXPECT_FALSE(ok->keep(in, 0, 1, 1, 1));
  EXPECT_FALSE(ok->keep(in, 0, 4, 1, 1));
  // The evaluator owns its compiled form: it outlives moves.
  CompiledMask moved = std::move(*ok);
  EXPECT_TRUE(moved.keep(in, 0, 0, 1, 1));
}

} // namespace
