//===- CompiledMaskTestSupport.h - helpers of the evaluator tests -*- C++ -*-===//
//
// Kernels built from IR text with their diagnostics captured, input shapes
// and the comparisons (against a formula or a truth table) that
// CompiledMaskTest.cpp (named patterns, limits) and
// CompiledMaskPredicateTest.cpp (predicates, input checks) share.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_COMPILEDMASKTESTSUPPORT_H
#define SATTN_TEST_UNIT_COMPILEDMASKTESTSUPPORT_H

#include "sattn/Analysis/CompiledMask.h"
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

namespace maskeval_test {
using sattn::CompiledMask;
using sattn::MaskInputs;
using sattn::TableData;

inline mlir::DialectRegistry makeRegistry() {
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
  CompiledMask evaluator() {
    if (module) {
      auto kernel = *module->getOps<sattn::KernelOp>().begin();
      mlir::FailureOr<CompiledMask> built = CompiledMask::compile(kernel);
      if (succeeded(built))
        return std::move(*built);
    }
    ADD_FAILURE() << "no evaluator: " << diagnostics;
    static Kernel *fallback = new Kernel("  %m = mask.empty");
    return *CompiledMask::compile(
        *fallback->module->getOps<sattn::KernelOp>().begin());
  }

  /// Builds the evaluator expecting failure; returns the diagnostics.
  std::string buildError() {
    if (!module)
      return "parse failed: " + diagnostics;
    auto kernel = *module->getOps<sattn::KernelOp>().begin();
    if (succeeded(CompiledMask::compile(kernel)))
      return "";
    return diagnostics;
  }

  mlir::MLIRContext context;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

inline MaskInputs shape(int64_t lq, int64_t lk, int64_t batch = 1) {
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
inline ::testing::AssertionResult matches(const CompiledMask &eval,
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
inline ::testing::AssertionResult matchesTable(const CompiledMask &eval,
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

} // namespace maskeval_test

#endif // SATTN_TEST_UNIT_COMPILEDMASKTESTSUPPORT_H
