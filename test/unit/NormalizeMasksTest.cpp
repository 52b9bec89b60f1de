//===- NormalizeMasksTest.cpp - canonicalisation never changes a mask -----===//
//
// sattn-normalize-masks rewrites the mask algebra aggressively (absorption,
// window merging, causal factoring, ...). Each rewrite is only correct if
// it keeps exactly the same pairs, so this test generates many random mask
// DAGs (shared subexpressions and duplicate leaves included), normalises
// them, and compares the reference evaluator before and after on every
// (h, q, k) of several small shapes. A second group of tests pins down that
// the pass really simplifies the inputs it is meant to simplify.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Limits.h"
#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>

using namespace mlir;
using sattn::CompiledMask;
using sattn::MaskInputs;

namespace {

/// How the canonicalisation patterns are applied: through the project's
/// pass (what the compiler runs); through the pass's greedy driver
/// configuration with the mask patterns collected explicitly (what the pass
/// should amount to); or through upstream `canonicalize`, which gathers the
/// same MaskCanonicalize.cpp patterns and folders but visits ops top-down.
/// Running all three separates bugs in the rewrites from bugs in how the
/// pass collects them, and exposes rewrites that only go wrong in one
/// visiting order.
enum class Driver { NormalizeMasksPass, MaskPatterns, UpstreamCanonicalizer };
constexpr Driver kDrivers[] = {Driver::NormalizeMasksPass, Driver::MaskPatterns,
                               Driver::UpstreamCanonicalizer};

std::string driverName(Driver driver) {
  switch (driver) {
  case Driver::NormalizeMasksPass:
    return "SattnNormalizeMasks";
  case Driver::MaskPatterns:
    return "MaskPatterns";
  case Driver::UpstreamCanonicalizer:
    return "UpstreamCanonicalize";
  }
  return "";
}

constexpr int64_t kHeads = 4;
constexpr int64_t kKvHeads = 2;

std::string kernelText(llvm::StringRef body) {
  return ("sattn.kernel @k(dtype = bf16, head_dim = 64, heads = " +
          std::to_string(kHeads) + ", kv_heads = " + std::to_string(kKvHeads) +
          ", scale = 0.125) {\n" + body + "  sattn.yield %m\n}\n")
      .str();
}

/// A parsed kernel together with its context and captured diagnostics.
struct Parsed {
  Parsed() : context(registry()) {
    handler = std::make_unique<ScopedDiagnosticHandler>(
        &context, [this](Diagnostic &d) {
          diagnostics += d.str() + "\n";
          return success();
        });
  }
  static DialectRegistry registry() {
    DialectRegistry r;
    sattn::registerAllDialects(r);
    return r;
  }
  bool parse(const std::string &source) {
    diagnostics.clear();
    module = parseSourceString<ModuleOp>(source, &context);
    return static_cast<bool>(module);
  }
  sattn::KernelOp kernel() {
    return *module->getOps<sattn::KernelOp>().begin();
  }
  LogicalResult normalize(Driver driver) { return runDriver(driver, *module); }
  LogicalResult runDriver(Driver driver, ModuleOp op) {
    if (driver == Driver::MaskPatterns) {
      // NormalizeMasks.cpp's driver call, with its patterns named directly.
      RewritePatternSet patterns(&context);
      sattn::mask::UnionOp::getCanonicalizationPatterns(patterns, &context);
      sattn::mask::IntersectOp::getCanonicalizationPatterns(patterns, &context);
      sattn::mask::ComplementOp::getCanonicalizationPatterns(patterns,
                                                             &context);
      if (failed(applyPatternsGreedily(op, std::move(patterns))))
        return failure();
      return verify(op);
    }
    PassManager pm(&context);
    if (driver == Driver::NormalizeMasksPass)
      pm.addPass(sattn::mask::createNormalizeMasks());
    else
      pm.addPass(createCanonicalizerPass());
    return pm.run(op);
  }
  std::string print() {
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
    return text;
  }

  MLIRContext context;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
  std::string diagnostics;
  OwningOpRef<ModuleOp> module;
};

/// Generates random mask DAGs as IR text. Leaves use small parameters so
/// that every boundary falls inside the brute-forced shapes; combinators
/// pick operands among all earlier values, so subexpressions are shared,
/// and leaves are sometimes repeated verbatim (equal but distinct values).
class MaskGenerator {
public:
  explicit MaskGenerator(unsigned seed) : rng(seed) {}

  std::string generate() {
    std::string body;
    std::vector<std::string> values;
    int steps = uniform(3, 14);
    for (int i = 0; i < steps; ++i) {
      std::string name = "%v" + std::to_string(i);
      bool leaf = values.empty() || uniform(0, 99) < 40;
      std::string rhs = leaf ? randomLeaf() : randomCombinator(values);
      body += "  " + name + " = " + rhs + "\n";
      values.push_back(name);
    }
    // Yield a combinator over recent values most of the time, so that the
    // whole DAG is live.
    std::string root = randomCombinator(values);
    body += "  %m = " + root + "\n";
    return body;
  }

private:
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }

  /// A size parameter: small, or now and then the largest value a pattern
  /// accepts, where arithmetic on sizes (r + 1, merged windows) would step
  /// past the limit.
  std::string size(int64_t lo, int64_t hi) {
    if (uniform(0, 99) < 6)
      return std::to_string(sattn::limits::kMaxPatternValue);
    return std::to_string(uniform(lo, hi));
  }

  std::string randomLeaf() {
    // Reusing an earlier leaf's text gives an equal but distinct value.
    if (!leaves.empty() && uniform(0, 99) < 15)
      return leaves[uniform(0, leaves.size() - 1)];
    std::string leaf;
    switch (uniform(0, 11)) {
    case 0:
    case 1:
      leaf = "mask.causal";
      break;
    case 2:
      leaf = "mask.window " + size(1, 7);
      break;
    case 3:
      leaf = "mask.window " + size(0, 4) + " symmetric";
      break;
    case 4:
      leaf = "mask.sink " + size(1, 6);
      break;
    case 5:
      leaf = "mask.prefix " + std::to_string(uniform(0, 6));
      break;
    case 6:
      leaf = uniform(0, 1) ? "mask.full" : "mask.empty";
      break;
    case 7:
      leaf = "mask.dilated window " + std::to_string(uniform(1, 4)) +
             " dilation " + std::to_string(uniform(1, 3));
      break;
    case 8:
      leaf = "mask.power block " + std::to_string(uniform(1, 3)) + " window " +
             std::to_string(uniform(0, 2)) + " sink " +
             std::to_string(uniform(0, 2));
      break;
    case 9:
      leaf = "mask.strided stride " + std::to_string(uniform(1, 4)) +
             (uniform(0, 1) ? " offset affine_map<(h) -> (h)>"
                            : " offset affine_map<(h) -> (h floordiv 2 + 1)>");
      break;
    case 10:
      leaf = "mask.strided_blocks block " + std::to_string(uniform(1, 3)) +
             " local " + std::to_string(uniform(0, 2)) + " vert_stride " +
             std::to_string(uniform(1, 4)) + " offset " +
             std::to_string(uniform(0, 3)) + " dense_heads " +
             std::to_string(uniform(0, 1)) +
             (uniform(0, 1) ? " per_kv_group" : "");
      break;
    default:
      leaf = "mask.causal";
      break;
    }
    leaves.push_back(leaf);
    return leaf;
  }

  std::string randomCombinator(const std::vector<std::string> &values) {
    // Prefer recent values so that trees grow deep, not only wide.
    auto pick = [&]() -> const std::string & {
      int64_t n = values.size();
      int64_t lo = uniform(0, 99) < 70 ? std::max<int64_t>(0, n - 4) : 0;
      return values[uniform(lo, n - 1)];
    };
    int kind = uniform(0, 9);
    if (kind == 0)
      return "mask.complement " + pick();
    std::string op = kind <= 4 ? "mask.union " : "mask.intersect ";
    int arity = uniform(1, 4);
    std::string text = op + pick();
    for (int i = 1; i < arity; ++i)
      text += ", " + pick();
    return text;
  }

  std::mt19937 rng;
  std::vector<std::string> leaves;
};

/// Number of distinct mask ops the kernel's yielded mask depends on.
int64_t liveMaskOps(sattn::KernelOp kernel) {
  llvm::SmallPtrSet<Operation *, 16> seen;
  SmallVector<Value> worklist = {kernel.getMask()};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val().getDefiningOp();
    if (!op || !seen.insert(op).second)
      continue;
    llvm::append_range(worklist, op->getOperands());
  }
  return seen.size();
}

/// The (lq, lk) shapes every mask is compared on.
constexpr std::pair<int64_t, int64_t> kShapes[] = {
    {1, 1}, {2, 5}, {7, 7}, {4, 12}, {19, 19}};

/// keep() on every (h, q, k) of every shape, in a fixed order.
std::vector<bool> truthTable(const CompiledMask &eval) {
  std::vector<bool> bits;
  for (auto [lq, lk] : kShapes) {
    MaskInputs inputs;
    inputs.lq = lq;
    inputs.lk = lk;
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t q = lk - lq; q < lk; ++q)
        for (int64_t k = 0; k < lk; ++k)
          bits.push_back(eval.keep(inputs, 0, h, q, k));
  }
  return bits;
}

/// Compares `after` with the truth table of the mask before rewriting.
/// Returns a description of the first difference, or "".
std::string firstDifference(const std::vector<bool> &before,
                            const CompiledMask &after) {
  size_t index = 0;
  for (auto [lq, lk] : kShapes) {
    MaskInputs inputs;
    inputs.lq = lq;
    inputs.lk = lk;
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t q = lk - lq; q < lk; ++q)
        for (int64_t k = 0; k < lk; ++k, ++index)
          if (after.keep(inputs, 0, h, q, k) != before[index])
            return "h=" + std::to_string(h) + " q=" + std::to_string(q) +
                   " k=" + std::to_string(k) + " (lq=" + std::to_string(lq) +
                   ", lk=" + std::to_string(lk) + "): before " +
                   (before[index] ? "kept" : "dropped");
  }
  return "";
}

TEST(NormalizeMasks, RandomMasksKeepTheirMeaning) {
  // Enough masks to hit rare combinations: with 1500, causal & a symmetric
  // window at the pattern limit (r + 1 past the limit in the rewrite to a
  // causal window) never came up.
  constexpr int kMasks = 5000;
  MaskGenerator generator(20250611);
  Parsed parsed; // one context for all masks
  int64_t liveOpsBefore = 0;
  std::map<Driver, int64_t> liveOpsAfter;
  for (int i = 0; i < kMasks; ++i) {
    std::string source = kernelText(generator.generate());
    ASSERT_TRUE(parsed.parse(source)) << parsed.diagnostics << source;
    FailureOr<CompiledMask> evaluator = CompiledMask::compile(parsed.kernel());
    ASSERT_TRUE(succeeded(evaluator)) << parsed.diagnostics;
    std::vector<bool> before = truthTable(*evaluator);
    liveOpsBefore += liveMaskOps(parsed.kernel());

    for (Driver driver : kDrivers) {
      OwningOpRef<ModuleOp> copy = parsed.module->clone();
      ASSERT_TRUE(succeeded(parsed.runDriver(driver, *copy)))
          << driverName(driver) << " failed or produced invalid IR:\n"
          << parsed.diagnostics << "input:\n"
          << source;
      auto kernel = *copy->getOps<sattn::KernelOp>().begin();
      FailureOr<CompiledMask> after = CompiledMask::compile(kernel);
      ASSERT_TRUE(succeeded(after)) << parsed.diagnostics;
      std::string difference = firstDifference(before, *after);
      if (!difference.empty()) {
        std::string normalized;
        llvm::raw_string_ostream os(normalized);
        copy->print(os);
        FAIL() << driverName(driver) << " changed the mask at " << difference
               << "\ninput:\n"
               << source << "normalised:\n"
               << normalized;
      }
      liveOpsAfter[driver] += liveMaskOps(kernel);
    }
  }
  // This population is very reducible (duplicates, identities, absorption,
  // causal factoring): the canonicalisation patterns remove more than half
  // of the live mask ops, folding alone about a fifth. A driver that
  // removes less than 40% is not applying the patterns, which would also
  // make the comparison above vacuous.
  for (Driver driver : kDrivers)
    EXPECT_LT(liveOpsAfter[driver] * 10, liveOpsBefore * 6)
        << driverName(driver) << " left " << liveOpsAfter[driver] << " of "
        << liveOpsBefore << " live mask ops";
}

//===----------------------------------------------------------------------===//
// Specific simplifications
//===----------------------------------------------------------------------===//

/// A normalised kernel: the op defining the yielded mask and the number of
/// mask ops left (tables aside).
struct Normalized {
  std::unique_ptr<Parsed> parsed;
  Operation *root = nullptr;
  int64_t maskOps = 0;
};

/// Normalises `body` with `driver`, checking on the way that the meaning
/// is unchanged.
Normalized normalize(llvm::StringRef body, Driver driver) {
  Normalized result;
  result.parsed = std::make_unique<Parsed>();
  Parsed &p = *result.parsed;
  std::string source = kernelText(body);
  if (!p.parse(source)) {
    ADD_FAILURE() << p.diagnostics;
    return result;
  }
  FailureOr<CompiledMask> before = CompiledMask::compile(p.kernel());
  EXPECT_TRUE(succeeded(p.normalize(driver))) << p.diagnostics << source;
  FailureOr<CompiledMask> after = CompiledMask::compile(p.kernel());
  EXPECT_TRUE(succeeded(before) && succeeded(after)) << p.diagnostics;
  if (succeeded(before) && succeeded(after))
    EXPECT_EQ(firstDifference(truthTable(*before), *after), "")
        << source << p.print();
  result.root = p.kernel().getMask().getDefiningOp();
  p.kernel().walk([&](Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "mask" &&
        !isa<sattn::mask::TableOp>(op))
      ++result.maskOps;
  });
  return result;
}

/// The specific simplifications, checked for both drivers.
class Simplifies : public ::testing::TestWithParam<Driver> {};

TEST_P(Simplifies, CausalIntersectWindowIsTheWindow) {
  Normalized n = normalize("  %c = mask.causal\n  %w = mask.window 8\n"
                           "  %m = mask.intersect %c, %w\n",
                           GetParam());
  auto window = dyn_cast_or_null<sattn::mask::WindowOp>(n.root);
  ASSERT_TRUE(window) << n.parsed->print();
  EXPECT_EQ(window.getSize(), 8u);
  EXPECT_FALSE(window.getSymmetric());
  EXPECT_EQ(n.maskOps, 1) << n.parsed->print();
}

TEST_P(Simplifies, SinkOrCausalIsPrefix) {
  Normalized n = normalize("  %c = mask.causal\n  %s = mask.sink 4\n"
                           "  %m = mask.union %s, %c\n",
                           GetParam());
  auto prefix = dyn_cast_or_null<sattn::mask::PrefixOp>(n.root);
  ASSERT_TRUE(prefix) << n.parsed->print();
  EXPECT_EQ(prefix.getLength(), 4u);
  EXPECT_EQ(n.maskOps, 1);
}

TEST_P(Simplifies, UnboundedSymmetricWindowStaysValid) {
  // causal & window(r symmetric) = window(r + 1) needs r + 1 to be a
  // valid window size.
  Normalized n = normalize("  %c = mask.causal\n"
                           "  %w = mask.window 1073741824 symmetric\n"
                           "  %m = mask.intersect %c, %w\n",
                           GetParam());
  EXPECT_TRUE(n.root) << n.parsed->diagnostics;
}

TEST_P(Simplifies, WindowsAndSinksMerge) {
  Normalized inter = normalize("  %a = mask.window 8\n  %b = mask.window 3\n"
                               "  %m = mask.intersect %a, %b\n",
                               GetParam());
  auto small = dyn_cast_or_null<sattn::mask::WindowOp>(inter.root);
  ASSERT_TRUE(small) << inter.parsed->print();
  EXPECT_EQ(small.getSize(), 3u);

  Normalized uni = normalize("  %a = mask.sink 2\n  %b = mask.sink 5\n"
                             "  %c = mask.sink 3\n"
                             "  %m = mask.union %a, %b, %c\n",
                             GetParam());
  auto sink = dyn_cast_or_null<sattn::mask::SinkOp>(uni.root);
  ASSERT_TRUE(sink) << uni.parsed->print();
  EXPECT_EQ(sink.getCount(), 5u);
  EXPECT_EQ(uni.maskOps, 1);
}

TEST_P(Simplifies, CausalSymmetricWindowIsACausalWindow) {
  Normalized n = normalize("  %c = mask.causal\n"
                           "  %w = mask.window 2 symmetric\n"
                           "  %m = mask.intersect %w, %c\n",
                           GetParam());
  auto window = dyn_cast_or_null<sattn::mask::WindowOp>(n.root);
  ASSERT_TRUE(window) << n.parsed->print();
  EXPECT_EQ(window.getSize(), 3u);
  EXPECT_FALSE(window.getSymmetric());
}

TEST_P(Simplifies, AbsorptionAndIdentities) {
  Normalized absorb = normalize("  %a = mask.sink 3\n  %b = mask.window 2\n"
                                "  %i = mask.intersect %a, %b\n"
                                "  %m = mask.union %a, %i\n",
                                GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::SinkOp>(absorb.root))
      << absorb.parsed->print();
  EXPECT_EQ(absorb.maskOps, 1);

  Normalized identity = normalize("  %a = mask.sink 3\n  %e = mask.empty\n"
                                  "  %f = mask.full\n"
                                  "  %u = mask.union %a, %e\n"
                                  "  %m = mask.intersect %u, %f\n",
                                  GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::SinkOp>(identity.root))
      << identity.parsed->print();

  Normalized full = normalize("  %a = mask.sink 3\n  %f = mask.full\n"
                              "  %m = mask.union %a, %f\n",
                              GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::FullOp>(full.root));

  Normalized twice = normalize("  %a = mask.dilated window 2 dilation 2\n"
                               "  %n = mask.complement %a\n"
                               "  %m = mask.complement %n\n",
                               GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::DilatedOp>(twice.root));

  Normalized notFull = normalize("  %f = mask.full\n"
                                 "  %m = mask.complement %f\n",
                                 GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::EmptyOp>(notFull.root));
}

TEST_P(Simplifies, CausalPatternsAbsorbCausal) {
  Normalized n = normalize("  %c = mask.causal\n"
                           "  %d = mask.dilated window 3 dilation 2\n"
                           "  %m = mask.intersect %c, %d\n",
                           GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::DilatedOp>(n.root))
      << n.parsed->print();
  Normalized u = normalize("  %c = mask.causal\n"
                           "  %p = mask.power block 2 window 1 sink 1\n"
                           "  %m = mask.union %p, %c\n",
                           GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::CausalOp>(u.root))
      << u.parsed->print();
}

TEST_P(Simplifies, CommonIntersectionOperandIsFactored) {
  Normalized n = normalize("  %c = mask.causal\n  %s = mask.sink 2\n"
                           "  %d = mask.strided stride 3 offset "
                           "affine_map<(h) -> (h)>\n"
                           "  %a = mask.intersect %c, %s\n"
                           "  %b = mask.intersect %d, %c\n"
                           "  %m = mask.union %a, %b\n",
                           GetParam());
  auto inter = dyn_cast_or_null<sattn::mask::IntersectOp>(n.root);
  ASSERT_TRUE(inter) << n.parsed->print();
  ASSERT_EQ(inter.getInputs().size(), 2u);
  EXPECT_TRUE(inter.getInputs()[0].getDefiningOp<sattn::mask::CausalOp>());
  EXPECT_TRUE(inter.getInputs()[1].getDefiningOp<sattn::mask::UnionOp>());
}

TEST_P(Simplifies, FactoringWhenAnIntersectionIsOnlyTheCommonOperand) {
  // union(intersect(c), intersect(c, s)) is c. The union is rewritten
  // before its operands, so factoring sees the one-operand intersection
  // (and intersect(c, c)) before they fold; it must not build an empty
  // intersection.
  Normalized single = normalize("  %c = mask.causal\n  %s = mask.sink 2\n"
                                "  %a = mask.intersect %c\n"
                                "  %b = mask.intersect %c, %s\n"
                                "  %m = mask.union %a, %b\n",
                                GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::CausalOp>(single.root))
      << single.parsed->print();
  Normalized dup = normalize("  %c = mask.causal\n  %s = mask.sink 2\n"
                             "  %a = mask.intersect %c, %c\n"
                             "  %b = mask.intersect %s, %c\n"
                             "  %m = mask.union %b, %a\n",
                             GetParam());
  EXPECT_TRUE(isa_and_nonnull<sattn::mask::CausalOp>(dup.root))
      << dup.parsed->print();
}

INSTANTIATE_TEST_SUITE_P(Drivers, Simplifies, ::testing::ValuesIn(kDrivers),
                         [](const ::testing::TestParamInfo<Driver> &info) {
                           return driverName(info.param);
                         });

} // namespace
