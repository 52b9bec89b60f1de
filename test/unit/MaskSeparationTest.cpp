//===- MaskSeparationTest.cpp - separated masks mean the same pairs -------===//
//
// The sm_90a kernel evaluates PARTIAL tiles of separable masks term by term
// over window words (lib/Conversion/SparseAttnToGPU/HopperWindowMask.cpp),
// trusting two claims of separateMask: each term depends only on the
// quantity it is filed under (q, k, q - k, or nothing), and the bitwise
// tree of terms is the mask. Both are checked here by brute force with the
// reference evaluator, each term compiled as a mask of its own, on random
// tables and on positions outside [0, Lk) too (the kernel evaluates offset
// terms at a key up to 17 before the tile's first). Masks that mix q and k
// otherwise must not separate.
//
//===----------------------------------------------------------------------===//

#include "MaskTablesTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Conversion/MaskSeparation.h"
#include "sattn/InitAll.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
using sattn::CompiledMask;
using sattn::MaskInputs;
using sattn::SeparatedMask;
using sattn::SeparatedNode;
using sattn::TermDependence;

namespace {

constexpr int64_t kHeads = 2;

struct Case {
  const char *name;
  std::string body; // yields %m
  bool separable;
};

std::string kernelText(const Case &c) {
  return sattn::masktest::kernelText(c.body, kHeads, kHeads);
}

/// Term `node` as a mask of its own: the mask value itself, or a copy of
/// its predicate yielding the term's value.
Value termMask(OpBuilder &b, const SeparatedNode &node) {
  if (!node.predicate)
    return node.value;
  IRMapping map;
  b.setInsertionPointAfter(node.predicate);
  Operation *copy = b.clone(*node.predicate, map);
  auto predicate = cast<sattn::mask::PredicateOp>(copy);
  Block &body = predicate.getBody().front();
  body.getTerminator()->setOperand(0, map.lookupOrDefault(node.value));
  return predicate.getResult();
}

struct TermEvaluator {
  const SeparatedMask &mask;
  const std::vector<std::optional<CompiledMask>> &terms;
  const MaskInputs &inputs;
  bool eval(unsigned n, int64_t b, int64_t h, int64_t q, int64_t k) const {
    const SeparatedNode &node = mask.nodes[n];
    if (node.kind == SeparatedNode::Kind::Term)
      return terms[n]->keep(inputs, b, h, q, k);
    if (node.kind == SeparatedNode::Kind::PerHead)
      return eval(node.children[node.headInputs[h]], b, h, q, k);
    if (node.kind == SeparatedNode::Kind::Not)
      return !eval(node.children.front(), b, h, q, k);
    bool acc = node.kind == SeparatedNode::Kind::And;
    for (unsigned child : node.children) {
      bool v = eval(child, b, h, q, k);
      acc = node.kind == SeparatedNode::Kind::And  ? acc && v
            : node.kind == SeparatedNode::Kind::Or ? acc || v
                                                   : acc != v;
    }
    return acc;
  }
};

void checkCase(const Case &c) {
  SCOPED_TRACE(c.name);
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  MLIRContext context(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(kernelText(c), &context);
  ASSERT_TRUE(module) << diagnostics;
  PassManager pm(&context);
  pm.addPass(sattn::mask::createExpandMasks());
  ASSERT_TRUE(succeeded(pm.run(*module))) << diagnostics;
  auto kernel = *module->getOps<sattn::KernelOp>().begin();

  std::optional<SeparatedMask> separated = sattn::separateMask(kernel.getMask());
  ASSERT_EQ(separated.has_value(), c.separable);
  if (!separated)
    return;
  FailureOr<CompiledMask> whole = CompiledMask::compile(kernel);
  ASSERT_TRUE(succeeded(whole)) << diagnostics;
  OpBuilder builder(&context);
  std::vector<std::optional<CompiledMask>> terms(separated->nodes.size());
  for (auto [n, node] : llvm::enumerate(separated->nodes)) {
    if (node.kind != SeparatedNode::Kind::Term)
      continue;
    FailureOr<CompiledMask> term =
        CompiledMask::compile(termMask(builder, node), kHeads, kHeads);
    ASSERT_TRUE(succeeded(term)) << diagnostics;
    terms[n] = std::move(*term);
  }

  std::mt19937 rng(99);
  int64_t compared = 0;
  for (int64_t lk : {9, 23, 40}) {
    MaskInputs inputs;
    inputs.batch = 2;
    inputs.lq = lk;
    inputs.lk = lk;
    sattn::masktest::fillRandomTables(*module, inputs, kHeads, 0, 2, rng);
    ASSERT_EQ(whole->checkInputs(inputs), "");
    for (auto [n, node] : llvm::enumerate(separated->nodes)) {
      if (node.kind != SeparatedNode::Kind::Term)
        continue;
      const CompiledMask &term = *terms[n];
      // Each term against itself moved along what it must not depend on.
      for (int64_t b = 0; b < inputs.batch; ++b)
        for (int64_t h = 0; h < kHeads; ++h)
          for (int64_t q = -20; q < lk + 20; ++q)
            for (int64_t k = -20; k < lk + 20; ++k) {
              bool v = term.keep(inputs, b, h, q, k);
              int64_t q2 = q, k2 = k;
              switch (node.dependence) {
              case TermDependence::Invariant:
                q2 = (q * 7 + 3) % (lk + 20), k2 = (k * 5 + 1) % (lk + 20);
                break;
              case TermDependence::Query:
                k2 = (k * 5 + 1) % (lk + 20);
                break;
              case TermDependence::Key:
                q2 = (q * 7 + 3) % (lk + 20);
                break;
              case TermDependence::Offset:
                q2 = q + 11, k2 = k + 11;
                break;
              }
              ++compared;
              ASSERT_EQ(term.keep(inputs, b, h, q2, k2), v)
                  << "term " << n << " at b=" << b << " h=" << h << " q=" << q
                  << " k=" << k << " vs q=" << q2 << " k=" << k2;
            }
    }
    // The tree of terms is the mask.
    TermEvaluator tree{*separated, terms, inputs};
    for (int64_t b = 0; b < inputs.batch; ++b)
      for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t q = 0; q < lk; ++q)
          for (int64_t k = 0; k < lk; ++k) {
            ++compared;
            ASSERT_EQ(tree.eval(separated->root, b, h, q, k),
                      whole->keep(inputs, b, h, q, k))
                << "b=" << b << " h=" << h << " q=" << q << " k=" << k;
          }
  }
  EXPECT_GT(compared, 0);
}

const char *kTables = "  mask.table @vcol : i1 [\"h\", \"k\"]\n"
                      "  mask.table @slash : i1 [\"h\", \"k\"]\n";

std::vector<Case> cases() {
  return {
      {"causal", "  %m = mask.causal", true},
      {"window", "  %m = mask.window 3", true},
      {"symmetric window", "  %m = mask.window 2 symmetric", true},
      {"sink | window",
       "  %c = mask.causal\n  %s = mask.sink 2\n  %w = mask.window 4\n"
       "  %u = mask.union %s, %w\n  %m = mask.intersect %c, %u",
       true},
      {"dilated", "  %m = mask.dilated window 3 dilation 2", true},
      {"strided per head",
       "  %m = mask.strided stride 3 offset affine_map<(h) -> (h * 2 - 1)>", true},
      {"tail queries and complement",
       "  %t = mask.tail_queries 2\n  %c = mask.causal\n"
       "  %n = mask.complement %c\n  %m = mask.union %t, %n",
       true},
      {"per head", "  %c = mask.causal\n  %w = mask.window 1\n"
                   "  %m = mask.per_head %c, %w assign [1, 0]",
       true},
      {"vertical slash tables",
       std::string(kTables) +
           "  %c = mask.causal\n"
           "  %p = mask.predicate(%b, %h, %q, %k) {\n"
           "    %v = mask.lookup @vcol[%h, %k] : i1\n"
           "    %d = arith.subi %q, %k : index\n"
           "    %s = mask.lookup @slash[%h, %d] : i1\n"
           "    %o = arith.ori %v, %s : i1\n    mask.yield %o\n  }\n"
           "  %m = mask.intersect %c, %p",
       true},
      {"offset arithmetic",
       "  %m = mask.predicate(%b, %h, %q, %k) {\n"
       "    %c3 = arith.constant 3 : index\n    %c5 = arith.constant 5 : index\n"
       "    %a = arith.addi %q, %c3 : index\n    %k2 = arith.muli %k, %c5 : index\n"
       "    %q2 = arith.muli %a, %c5 : index\n    %d = arith.subi %q2, %k2 : index\n"
       "    %r = arith.remsi %d, %c3 : index\n    %z = arith.constant 0 : index\n"
       "    %e = arith.cmpi eq, %r, %z : index\n"
       "    %g = arith.cmpi sge, %a, %k : index\n"
       "    %x = arith.xori %e, %g : i1\n    mask.yield %x\n  }",
       true},
      // Mixed terms: a document compares two lookups, a block-local mask
      // two quotients, a product of q and k neither.
      {"document", "  mask.table @doc : i32 [\"b\", \"k\"]\n"
                   "  %m = mask.document @doc",
       false},
      {"block local",
       "  %m = mask.predicate(%b, %h, %q, %k) {\n"
       "    %c4 = arith.constant 4 : index\n"
       "    %x = arith.divsi %q, %c4 : index\n    %y = arith.divsi %k, %c4 : index\n"
       "    %e = arith.cmpi eq, %x, %y : index\n    mask.yield %e\n  }",
       false},
      {"q plus k",
       "  %m = mask.predicate(%b, %h, %q, %k) {\n"
       "    %s = arith.addi %q, %k : index\n    %c9 = arith.constant 9 : index\n"
       "    %e = arith.cmpi slt, %s, %c9 : index\n    mask.yield %e\n  }",
       false},
      // Orderings of sides that may wrap, or unsigned ones (a key before
      // the tile is negative), are not functions of q - k.
      {"huge constant",
       "  %m = mask.predicate(%b, %h, %q, %k) {\n"
       "    %c = arith.constant 9223372036854775800 : index\n"
       "    %a = arith.addi %q, %c : index\n"
       "    %e = arith.cmpi sge, %a, %k : index\n    mask.yield %e\n  }",
       false},
      {"unsigned order",
       "  %m = mask.predicate(%b, %h, %q, %k) {\n"
       "    %e = arith.cmpi uge, %q, %k : index\n    mask.yield %e\n  }",
       false},
  };
}

TEST(MaskSeparation, TermsDependOnTheirQuantityAndFormTheMask) {
  for (const Case &c : cases())
    checkCase(c);
}

TEST(MaskSeparation, VerticalSlashSplitsIntoKeyAndOffsetTerms) {
  DialectRegistry registry;
  sattn::registerAllDialects(registry);
  MLIRContext context(registry);
  Case c = cases()[8];
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(kernelText(c), &context);
  ASSERT_TRUE(module);
  PassManager pm(&context);
  pm.addPass(sattn::mask::createExpandMasks());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  auto kernel = *module->getOps<sattn::KernelOp>().begin();
  std::optional<SeparatedMask> separated = sattn::separateMask(kernel.getMask());
  ASSERT_TRUE(separated);
  // causal and slash[h, q - k] are offset terms, vcol[h, k] a key term;
  // the root mixes them.
  EXPECT_EQ(separated->countTerms(TermDependence::Offset), 2u);
  EXPECT_EQ(separated->countTerms(TermDependence::Key), 1u);
  EXPECT_FALSE(separated->dependenceOf(separated->root).has_value());
}

} // namespace
