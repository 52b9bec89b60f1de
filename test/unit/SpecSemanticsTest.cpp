//===- SpecSemanticsTest.cpp - spec expressions mean what the docs say ----===//
//
// Compiles small specs with compileSpec and checks, by brute force over
// (b, h, q, k) at small sizes, that the emitted mask keeps exactly the pairs
// an independent C++ formula of the spec keeps. The reference for the IR is
// CompiledMask, so these tests pin down the emitter's choices that the
// lit tests can only check syntactically: floor division and modulo on
// negative values (Python semantics), division by zero giving 0, clamp's
// argument order, the expansions of a_shape and tri_shape, per-head
// selectors evaluated at compile time, and strided offsets as affine maps.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"
#include "sattn/Spec/SpecCompiler.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

using sattn::CompiledMask;
using sattn::MaskInputs;

namespace {

using Reference =
    std::function<bool(int64_t b, int64_t h, int64_t q, int64_t k)>;

int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  int64_t quotient = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? quotient - 1 : quotient;
}
int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  int64_t remainder = a % b;
  return (remainder != 0 && ((remainder < 0) != (b < 0))) ? remainder + b
                                                          : remainder;
}

/// Compiles `spec` (one kernel) and compares it with `reference` for every
/// (b, h, q, k) with q, k < lk. Returns a description of the first
/// mismatch, or "" when they agree everywhere.
std::string compareWithReference(llvm::StringRef spec, int64_t lk,
                                 const Reference &reference,
                                 MaskInputs inputs = {}) {
  mlir::DialectRegistry registry;
  sattn::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(spec, "test.sattn"), llvm::SMLoc());
  std::string diagnostics;
  llvm::raw_string_ostream diagOS(diagnostics);
  sattn::spec::SpecCompilation compilation =
      sattn::spec::compileSpec(sourceMgr, context, diagOS);
  if (compilation.status != sattn::spec::SpecStatus::Success)
    return "spec rejected: " + diagnostics;

  auto kernel = *compilation.module->getOps<sattn::KernelOp>().begin();
  mlir::FailureOr<CompiledMask> evaluator = CompiledMask::compile(kernel);
  if (mlir::failed(evaluator))
    return "evaluator rejected the kernel";

  inputs.lq = lk;
  inputs.lk = lk;
  for (int64_t b = 0; b < inputs.batch; ++b)
    for (int64_t h = 0; h < evaluator->heads(); ++h)
      for (int64_t q = 0; q < lk; ++q)
        for (int64_t k = 0; k < lk; ++k)
          if (evaluator->keep(inputs, b, h, q, k) != reference(b, h, q, k))
            return "mismatch at b=" + std::to_string(b) +
                   " h=" + std::to_string(h) + " q=" + std::to_string(q) +
                   " k=" + std::to_string(k) + ": the spec " +
                   (reference(b, h, q, k) ? "keeps" : "drops") +
                   " it, the IR does not";
  return "";
}

TEST(SpecSemantics, FloorDivisionAndModuloOnNegativeValues) {
  // q - k ranges over [-23, 23]; divisors of both signs.
  EXPECT_EQ(compareWithReference(
                "kernel k { mask = (q - k) / 4 == -2 | (q - k) % 5 == 3 }", 24,
                [](int64_t, int64_t, int64_t q, int64_t k) {
                  return floorDiv(q - k, 4) == -2 || floorMod(q - k, 5) == 3;
                }),
            "");
  EXPECT_EQ(
      compareWithReference(
          "kernel k { mask = (q - k) % (k - 7) < 0 & (q - 11) / (3 - k) >= 1 }",
          16,
          [](int64_t, int64_t, int64_t q, int64_t k) {
            return floorMod(q - k, k - 7) < 0 && floorDiv(q - 11, 3 - k) >= 1;
          }),
      "");
}

TEST(SpecSemantics, DivisionByZeroIsZero) {
  // k - 5 is 0 on column 5: there both quotient and remainder are 0.
  EXPECT_EQ(compareWithReference(
                "kernel k { mask = q / (k - 5) == 0 & q % (k - 5) == 0 }", 12,
                [](int64_t, int64_t, int64_t q, int64_t k) {
                  return floorDiv(q, k - 5) == 0 && floorMod(q, k - 5) == 0;
                }),
            "");
}

TEST(SpecSemantics, Builtins) {
  EXPECT_EQ(compareWithReference(
                "kernel k { mask = abs(q - k) <= clamp(q - 4, 1, 3) "
                "& min(q, k) + max(q, k) != 9 }",
                12,
                [](int64_t, int64_t, int64_t q, int64_t k) {
                  int64_t bound =
                      std::min<int64_t>(std::max<int64_t>(q - 4, 1), 3);
                  return std::llabs(q - k) <= bound &&
                         std::min(q, k) + std::max(q, k) != 9;
                }),
            "");
}

TEST(SpecSemantics, LiftedBoolOperandsAndComplement) {
  EXPECT_EQ(compareWithReference(
                "kernel k { mask = (causal & q - k < 3 | sink(2) & k % 2 == 0) "
                "& !(q == 7) }",
                12,
                [](int64_t, int64_t, int64_t q, int64_t k) {
                  return ((k <= q && q - k < 3) || (k < 2 && k % 2 == 0)) &&
                         q != 7;
                }),
            "");
}

TEST(SpecSemantics, AShapeAndTriShape) {
  auto aShape = [](int64_t q, int64_t k) {
    return k <= q && (k < 2 || q - k < 3);
  };
  EXPECT_EQ(
      compareWithReference(
          "kernel k { mask = a_shape(sink = 2, local = 3) }", 16,
          [&](int64_t, int64_t, int64_t q, int64_t k) { return aShape(q, k); }),
      "");
  // The last `last` query positions (q >= Lk - last) attend causally to all.
  EXPECT_EQ(compareWithReference(
                "kernel k { mask = tri_shape(sink = 2, local = 3, last = 4) }",
                16,
                [&](int64_t, int64_t, int64_t q, int64_t k) {
                  return aShape(q, k) || (k <= q && q >= 16 - 4);
                }),
            "");
}

TEST(SpecSemantics, PerHeadSelectorUsesFloorModulo) {
  // (h - 5) % 3 for h = 0..5 selects masks 1, 2, 0, 1, 2, 0.
  EXPECT_EQ(compareWithReference(
                "kernel k { heads = 6 mask = per_head((h - 5) % 3, causal, "
                "window(2), k == 0) }",
                10,
                [](int64_t, int64_t h, int64_t q, int64_t k) {
                  switch (floorMod(h - 5, 3)) {
                  case 0:
                    return k <= q;
                  case 1:
                    return q - 2 < k && k <= q;
                  default:
                    return k == 0;
                  }
                }),
            "");
}

TEST(SpecSemantics, StridedOffsetIsAnAffineFunctionOfTheHead) {
  // offset (h + 3) / 2 - h % 4, compared modulo the stride.
  EXPECT_EQ(compareWithReference(
                "kernel k { heads = 8 mask = strided(stride = 5, "
                "offset = (h + 3) / 2 - h % 4) }",
                16,
                [](int64_t, int64_t h, int64_t, int64_t k) {
                  int64_t offset = floorDiv(h + 3, 2) - floorMod(h, 4);
                  return floorMod(k, 5) == floorMod(offset, 5);
                }),
            "");
}

TEST(SpecSemantics, TableLookups) {
  MaskInputs inputs;
  inputs.batch = 2;
  // doc[b, i]: two documents per row, split at a batch-dependent point.
  sattn::TableData doc;
  doc.shape = {2, 8};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 8; ++i)
      doc.values.push_back(i < 3 + 2 * b ? 0 : 1);
  inputs.tables["doc"] = doc;
  EXPECT_EQ(compareWithReference(
                "kernel k { table doc : i32[b, k] "
                "mask = causal & document(doc) | doc[b, q] < doc[b, k] }",
                8,
                [](int64_t b, int64_t, int64_t q, int64_t k) {
                  auto id = [&](int64_t i) { return i < 3 + 2 * b ? 0 : 1; };
                  return (k <= q && id(q) == id(k)) || id(q) < id(k);
                },
                inputs),
            "");
}

} // namespace
