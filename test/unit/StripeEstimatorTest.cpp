//===- StripeEstimatorTest.cpp - AnchorAttention's stripe reference -------===//
//
// estimate::stripe against the rules of docs/ESTIMATORS.md "stripe" written
// here by brute force: anchors are the largest logits of the anchor
// regions, only keys between the two regions are ever selected, a larger
// theta keeps a superset and a huge one every candidate; and the estimated
// table, read by the table form compiled from a spec, keeps exactly the
// documented pairs. The NumPy reference of test/Runtime/check_estimators.py
// checks the selections themselves.
//
//===----------------------------------------------------------------------===//

#include "EstimatorTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/Estimators.h"
#include "sattn/InitAll.h"
#include "sattn/Spec/SpecCompiler.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::estimate;
using namespace sattn::estimator_test;

namespace {

double scaledLogit(const Slice &q, int64_t i, const Slice &k, int64_t j, double scale) {
  double s = 0;
  for (int64_t x = 0; x < q.dim; ++x)
    s += double(q.data[i * q.dim + x]) * double(k.data[j * k.dim + x]);
  return scale * s;
}

bool inAnchorRegion(int64_t pos, int64_t j, int64_t group) {
  return j <= pos && (j < group || j >= pos / group * group);
}

TEST(StripeEstimator, AnchorsAndCandidatesFollowTheDefinition) {
  std::mt19937 rng(21);
  int64_t lq = 70, lk = 83, d = 8, shift = lk - lq;
  Slice q = randomSlice(rng, lq, d), k = randomSlice(rng, lk, d);
  double scale = 0.4;
  StripeParams p{16, 4, 2, 1.0};
  std::string error;
  StripeSelection sel = stripe(q.view(), k.view(), scale, p, error);
  ASSERT_EQ(error, "");
  int64_t unit = p.block * p.step;
  ASSERT_EQ(sel.units, (lk + unit - 1) / unit);
  ASSERT_EQ(int64_t(sel.anchors.size()), lq);
  for (int64_t i = 0; i < lq; ++i) {
    double want = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < lk; ++j)
      if (inAnchorRegion(i + shift, j, p.group))
        want = std::max(want, scaledLogit(q, i, k, j, scale));
    EXPECT_EQ(sel.anchors[i], want) << "row " << i;
  }
  // Selected keys lie between the unit's two anchor regions; a larger theta
  // keeps a superset, a huge one every candidate of units holding a query.
  StripeSelection wide = stripe(q.view(), k.view(), scale, {16, 4, 2, 3.0}, error);
  StripeSelection all = stripe(q.view(), k.view(), scale, {16, 4, 2, 1e9}, error);
  ASSERT_EQ(error, "");
  int64_t kept = 0, keptWide = 0, candidates = 0;
  for (int64_t u = 0; u < sel.units; ++u) {
    int64_t local = u * unit / p.group * p.group;
    for (int64_t j = 0; j < lk; ++j) {
      bool candidate = u >= shift / unit && j >= p.group && j < local;
      if (!candidate)
        EXPECT_FALSE(sel.at(u, j) || wide.at(u, j) || all.at(u, j)) << u << ", " << j;
      EXPECT_EQ(all.at(u, j), candidate) << u << ", " << j;
      if (sel.at(u, j))
        EXPECT_TRUE(wide.at(u, j)) << u << ", " << j;
      kept += sel.at(u, j);
      keptWide += wide.at(u, j);
      candidates += candidate;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(keptWide, kept);
  EXPECT_LT(keptWide, candidates);
}

TEST(StripeEstimator, TableFormKeepsTheDocumentedPairs) {
  const char *spec = "kernel stripe_table {\n"
                     "  dtype = bf16  head_dim = 64  heads = 1\n"
                     "  table sel : bool[b, h, q/8, k]\n"
                     "  mask = causal & (k < 16 | k >= q / 16 * 16 | sel[b, h, q / 8, k])\n"
                     "}\n";
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(spec, "stripe.sattn"),
                               llvm::SMLoc());
  std::string diagnostics;
  llvm::raw_string_ostream diagOS(diagnostics);
  spec::SpecCompilation compilation = spec::compileSpec(sourceMgr, context, diagOS);
  ASSERT_EQ(compilation.status, spec::SpecStatus::Success) << diagnostics;
  auto mask = CompiledMask::compile(*compilation.module->getOps<KernelOp>().begin());
  ASSERT_TRUE(mlir::succeeded(mask));

  std::mt19937 rng(22);
  int64_t lq = 50, lk = 61, d = 8, shift = lk - lq;
  Slice q = randomSlice(rng, lq, d), k = randomSlice(rng, lk, d);
  StripeParams p{16, 4, 2, 1.5};
  std::string error;
  StripeSelection sel = stripe(q.view(), k.view(), 0.35, p, error);
  ASSERT_EQ(error, "");
  MaskInputs in;
  in.lq = lq;
  in.lk = lk;
  in.tables["sel"] = TableData{{1, 1, sel.units, lk},
                               std::vector<int64_t>(sel.kept.begin(), sel.kept.end())};
  int64_t stripes = 0;
  for (int64_t i = 0; i < lq; ++i) {
    int64_t pos = i + shift;
    for (int64_t j = 0; j < lk; ++j) {
      bool selected = j <= pos && sel.at(pos / 8, j);
      bool want = inAnchorRegion(pos, j, p.group) || selected;
      ASSERT_EQ(mask->keep(in, 0, 0, pos, j), want) << pos << ", " << j;
      stripes += selected && !inAnchorRegion(pos, j, p.group);
    }
  }
  EXPECT_GT(stripes, 0);
}

TEST(StripeEstimator, RefusesBadParametersWithMessages) {
  std::mt19937 rng(23);
  Slice q = randomSlice(rng, 8, 4), k = randomSlice(rng, 12, 4);
  std::string error;
  auto message = [&](StripeParams p, double scale = 0.5) {
    StripeSelection sel = stripe(q.view(), k.view(), scale, p, error);
    EXPECT_TRUE(sel.kept.empty());
    return error;
  };
  EXPECT_EQ(message({16, 4, 3, 1.0}), "stripe's group (16) must be a multiple of block x step "
                                      "(4 x 3), so that a selection unit lies in one group");
  EXPECT_EQ(message({0, 4, 2, 1.0}), "stripe needs group, block and step >= 1");
  EXPECT_EQ(message({16, 4, 2, std::numeric_limits<double>::infinity()}),
            "stripe needs a finite theta > 0");
  EXPECT_EQ(message({16, 4, 2, 1.0}, -1.0), "the softmax scale must be finite and positive");
  EXPECT_EQ(message({int64_t(1) << 62, int64_t(1) << 31, int64_t(1) << 33, 1.0}),
            "stripe's group (4611686018427387904) must be a multiple of block x step "
            "(2147483648 x 8589934592), so that a selection unit lies in one group");
  StripeSelection swapped = stripe(k.view(), q.view(), 0.5, {16, 4, 2, 1.0}, error);
  EXPECT_EQ(error, "need 1 <= lq <= lk");
}

} // namespace
