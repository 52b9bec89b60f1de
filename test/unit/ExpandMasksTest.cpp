//===- ExpandMasksTest.cpp - sattn-expand-masks preserves every mask ------===//
//
// The expansion pass claims that each named pattern means exactly the
// predicate it writes out. This test checks the claim by brute force: for
// every static pattern (several parameter sets each, GQA and per-head
// configurations included) the reference evaluator must give the same
// answer before and after the pass for every (b, h, q, k) of a few small
// shapes, Lq < Lk included, with random runtime tables.
//
//===----------------------------------------------------------------------===//

#include "MaskTablesTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
using sattn::CompiledMask;
using sattn::MaskInputs;
using sattn::TableData;

namespace {

struct PatternCase {
  const char *name;
  /// Kernel body without terminator; yields `%m`.
  std::string body;
  int64_t heads = 1;
  int64_t kvHeads = 1;
};

std::string kernelText(const PatternCase &c) {
  return sattn::masktest::kernelText(c.body, c.heads, c.kvHeads);
}

/// True for the ops the pass must have replaced.
bool isExpandable(Operation *op) {
  return isa<sattn::mask::CausalOp, sattn::mask::WindowOp, sattn::mask::SinkOp,
             sattn::mask::StridedOp, sattn::mask::StridedBlocksOp,
             sattn::mask::DilatedOp, sattn::mask::PowerOp,
             sattn::mask::PrefixOp, sattn::mask::DocumentOp,
             sattn::mask::BlockTableOp>(op);
}

/// Expands `c`'s kernel and compares the evaluator before and after on
/// every pair of several shapes.
void checkExpansionPreservesMask(const PatternCase &c) {
  SCOPED_TRACE(c.name);
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  MLIRContext context(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(kernelText(c), &context);
  ASSERT_TRUE(module) << diagnostics;
  auto kernel = *module->getOps<sattn::KernelOp>().begin();
  FailureOr<CompiledMask> before = CompiledMask::compile(kernel);
  ASSERT_TRUE(succeeded(before)) << diagnostics;
  int64_t tailQueriesBefore = 0;
  module->walk([&](sattn::mask::TailQueriesOp) { ++tailQueriesBefore; });

  PassManager pm(&context);
  pm.addPass(sattn::mask::createExpandMasks());
  ASSERT_TRUE(succeeded(pm.run(*module))) << diagnostics;

  int64_t named = 0, predicates = 0, tailQueriesAfter = 0;
  module->walk([&](Operation *op) {
    named += isExpandable(op);
    predicates += isa<sattn::mask::PredicateOp>(op);
    tailQueriesAfter += isa<sattn::mask::TailQueriesOp>(op);
  });
  EXPECT_EQ(named, 0) << "named patterns left after expansion";
  EXPECT_GT(predicates, 0);
  EXPECT_EQ(tailQueriesAfter, tailQueriesBefore)
      << "tail_queries needs Lk and must stay";

  FailureOr<CompiledMask> after = CompiledMask::compile(kernel);
  ASSERT_TRUE(succeeded(after)) << diagnostics;

  std::mt19937 rng(1234);
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {1, 7},  {3, 7},
                                                {8, 8}, {5, 13}, {17, 17}};
  int64_t compared = 0;
  for (auto [lq, lk] : shapes) {
    MaskInputs inputs;
    inputs.batch = 2;
    inputs.lq = lq;
    inputs.lk = lk;
    sattn::masktest::fillRandomTables(*module, inputs, c.heads, -1, 2, rng);
    ASSERT_EQ(before->checkInputs(inputs), "");
    ASSERT_EQ(after->checkInputs(inputs), "");
    for (int64_t b = 0; b < inputs.batch; ++b)
      for (int64_t h = 0; h < c.heads; ++h)
        for (int64_t q = lk - lq; q < lk; ++q)
          for (int64_t k = 0; k < lk; ++k, ++compared) {
            bool expected = before->keep(inputs, b, h, q, k);
            bool got = after->keep(inputs, b, h, q, k);
            ASSERT_EQ(got, expected)
                << "b=" << b << " h=" << h << " q=" << q << " k=" << k
                << " lq=" << lq << " lk=" << lk;
          }
  }
  EXPECT_GT(compared, 0);
}

std::vector<PatternCase> staticPatterns() {
  std::vector<PatternCase> cases = {
      {"causal", "  %m = mask.causal"},
      {"window", "  %m = mask.window 3"},
      {"wide window", "  %m = mask.window 100"},
      {"symmetric window", "  %m = mask.window 2 symmetric"},
      {"diagonal", "  %m = mask.window 0 symmetric"},
      {"sink", "  %m = mask.sink 2"},
      {"long sink", "  %m = mask.sink 50"},
      {"prefix", "  %m = mask.prefix 3"},
      {"empty prefix", "  %m = mask.prefix 0"},
      {"dilated", "  %m = mask.dilated window 3 dilation 2"},
      {"dilated 1", "  %m = mask.dilated window 1 dilation 1"},
      {"dilated 3", "  %m = mask.dilated window 2 dilation 3"},
      {"power", "  %m = mask.power block 2 window 1 sink 1"},
      {"pure power", "  %m = mask.power block 1 window 0 sink 0"},
      {"power block 3", "  %m = mask.power block 3 window 2 sink 0"},
      {"document 2-D", "  mask.table @doc : i32 [\"b\", \"k\"]\n"
                       "  %m = mask.document @doc"},
      {"document 1-D", "  mask.table @doc : i64 [\"k\"]\n"
                       "  %m = mask.document @doc"},
      {"block table",
       "  mask.table @keep : i1 [\"h\", \"q/2\", \"k/2\"]\n"
       "  %m = mask.block_table @keep block 2",
       4, 2},
      {"block table 3",
       "  mask.table @keep : i1 [\"h\", \"q/3\", \"k/3\"]\n"
       "  %m = mask.block_table @keep block 3",
       2, 2},
      {"tail queries (kept)", "  %t = mask.tail_queries 2\n"
                              "  %c = mask.causal\n"
                              "  %m = mask.union %t, %c"},
  };
  const char *offsets[] = {"(h) -> (h mod 3)",
                           "(h) -> (h - 5)",
                           "(h) -> (h floordiv 2)",
                           "(h) -> (h ceildiv 3)",
                           "(h) -> ((h * 7) mod 5 - 4)",
                           "(h) -> (h)",
                           "(h) -> (-h)"};
  int64_t stride = 1;
  for (const char *offset : offsets) {
    stride = stride % 5 + 1;
    cases.push_back({"strided",
                     "  %m = mask.strided stride " + std::to_string(stride) +
                         " offset affine_map<" + offset + ">",
                     8, 2});
  }
  cases.push_back({"strided_blocks GQA",
                   "  %m = mask.strided_blocks block 2 local 1 vert_stride 4 "
                   "offset 0 dense_heads 0 per_kv_group",
                   8, 2});
  cases.push_back({"strided_blocks dense head",
                   "  %m = mask.strided_blocks block 3 local 0 vert_stride 3 "
                   "offset 2 dense_heads 1",
                   4, 4});
  cases.push_back({"strided_blocks GQA dense",
                   "  %m = mask.strided_blocks block 2 local 2 vert_stride 8 "
                   "offset 5 dense_heads 1 per_kv_group",
                   8, 2});
  cases.push_back({"strided_blocks stride 1",
                   "  %m = mask.strided_blocks block 1 local 1 vert_stride 1 "
                   "offset 0 dense_heads 0",
                   2, 1});
  cases.push_back(
      {"mixture",
       "  mask.table @doc : i32 [\"b\", \"k\"]\n"
       "  %c = mask.causal\n  %w = mask.window 2\n  %s = mask.sink 1\n"
       "  %st = mask.strided stride 3 offset affine_map<(h) -> (h)>\n"
       "  %t = mask.tail_queries 3\n  %d = mask.document @doc\n"
       "  %u = mask.union %s, %w\n  %i = mask.intersect %c, %u, %d\n"
       "  %n = mask.complement %st\n"
       "  %p = mask.predicate(%b, %h, %q, %k) {\n"
       "    %x = arith.cmpi ne, %q, %k : index\n    mask.yield %x\n  }\n"
       "  %pi = mask.intersect %p, %c\n"
       "  %m = mask.per_head %i, %n, %pi, %t assign [0, 1, 2, 3]",
       4, 2});
  return cases;
}

TEST(ExpandMasks, EveryStaticPatternKeepsTheSamePairs) {
  std::vector<PatternCase> cases = staticPatterns();
  EXPECT_GE(cases.size(), 30u);
  for (const PatternCase &c : cases)
    checkExpansionPreservesMask(c);
}

TEST(ExpandMasks, StridedBlocksOutsideAKernelStays) {
  // Without a kernel there is no head count, so no step to expand with.
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      "func.func @f() {\n"
      "  %s = mask.strided_blocks block 2 local 1 vert_stride 4 offset 0 "
      "dense_heads 0\n"
      "  %c = mask.causal\n"
      "  %u = mask.union %s, %c\n"
      "  return\n}\n",
      &context);
  ASSERT_TRUE(module);
  PassManager pm(&context);
  pm.addPass(sattn::mask::createExpandMasks());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  int64_t stridedBlocks = 0, causal = 0, predicates = 0;
  module->walk([&](Operation *op) {
    stridedBlocks += isa<sattn::mask::StridedBlocksOp>(op);
    causal += isa<sattn::mask::CausalOp>(op);
    predicates += isa<sattn::mask::PredicateOp>(op);
  });
  EXPECT_EQ(stridedBlocks, 1);
  EXPECT_EQ(causal, 0);
  EXPECT_EQ(predicates, 1);
}

TEST(ExpandMasks, DynamicPatternsAndCombinatorsStay) {
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      kernelText({"dynamic",
                  "  %v = mask.block_topk mean_pool block 64 {top_k = 4 : "
                  "i64}\n  %c = mask.causal\n"
                  "  %m = mask.intersect %c, %v",
                  1, 1}),
      &context);
  ASSERT_TRUE(module);
  PassManager pm(&context);
  pm.addPass(sattn::mask::createExpandMasks());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  int64_t topk = 0, intersect = 0, causal = 0;
  module->walk([&](Operation *op) {
    topk += isa<sattn::mask::BlockTopKOp>(op);
    intersect += isa<sattn::mask::IntersectOp>(op);
    causal += isa<sattn::mask::CausalOp>(op);
  });
  EXPECT_EQ(topk, 1);
  EXPECT_EQ(intersect, 1);
  EXPECT_EQ(causal, 0);
}

} // namespace
