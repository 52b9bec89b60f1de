//===- sattn-plan-fuzz.cpp - libFuzzer target: spec to checked tile plans ---===//
//
// Takes spec text through the middle of the compiler: compileSpec, the
// sattn-normalize-masks and sattn-expand-masks passes, the mask program
// compiler (CompiledMask) and the tile planner, at small random lengths
// and tile sizes with random runtime tables. Why: a mask compiler's worst
// bug is a plan that silently drops kept pairs, and only a brute-force
// comparison at every pair finds those. For every kernel with static
// semantics it checks
//   * the passes succeed on every verified module and keep it verified;
//   * the original, normalized and expanded masks keep the same pairs;
//   * the plans of the normalized and of the expanded mask skip no kept
//     pair, hold no dropped pair in a FULL segment, visit no key twice and
//     flatten to the buffers kernels read (PlanCheck.h).
// A violated property aborts, which libFuzzer records as a crash.
//
//===----------------------------------------------------------------------===//

#include "PlanCheck.h"
#include "SpecInput.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace sattn;

namespace {
/// Inputs longer than this are not planned: the fuzzer's time goes to many
/// small masks rather than a few large ones (sattn-spec-fuzz covers long
/// inputs in the front end).
constexpr size_t kMaxInputBytes = 2048;
/// Largest key length planned, and the most heads checked pair by pair.
constexpr int64_t kMaxLength = 48;
constexpr int64_t kCheckedHeads = 5;
/// Budget of reference evaluations (pairs x mask nodes) per kernel round.
constexpr int64_t kMaxWork = int64_t(1) << 22;

std::string printOp(mlir::Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  return text;
}

/// Runs one mask pass on a copy of `module`; a failure or an unverifiable
/// result is a finding.
mlir::OwningOpRef<mlir::ModuleOp>
runPass(mlir::ModuleOp module, std::unique_ptr<mlir::Pass> pass,
        const char *name, const std::string &diagnostics) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = module.clone();
  mlir::PassManager pm(module.getContext());
  pm.addPass(std::move(pass));
  if (mlir::failed(pm.run(*copy)) || mlir::failed(mlir::verify(*copy)))
    fuzz::fail(name, printOp(module) + "\n" + diagnostics);
  return copy;
}

std::vector<KernelOp> kernelsOf(mlir::ModuleOp module) {
  std::vector<KernelOp> kernels;
  for (KernelOp kernel : module.getOps<KernelOp>())
    kernels.push_back(kernel);
  return kernels;
}

std::string describe(KernelOp kernel, const fuzz::PlanShape &s) {
  return printOp(kernel) + "\nlq=" + std::to_string(s.lq) +
         " lk=" + std::to_string(s.lk) + " batch=" + std::to_string(s.batch) +
         " BM=" + std::to_string(s.blockM) + " BN=" + std::to_string(s.blockN);
}

/// Plans `kernel` for `in` and checks the plan against `reference`.
void checkPlanOf(KernelOp kernel, const fuzz::PlanShape &shape,
                 const MaskInputs &in, const CompiledMask &reference,
                 const char *form) {
  auto planner = plan::TilePlanner::build(
      kernel, plan::PlanOptions{shape.blockM, shape.blockN});
  if (mlir::failed(planner))
    fuzz::fail("a mask with static semantics can be planned",
               std::string(form) + "\n" + describe(kernel, shape));
  std::string error;
  auto tilePlan = planner->plan(in, error);
  if (mlir::failed(tilePlan))
    fuzz::fail("consistent inputs can be planned",
               std::string(form) + ": " + error + "\n" + describe(kernel, shape));
  fuzz::KeepFn keep = [&](int64_t b, int64_t h, int64_t q, int64_t k) {
    return reference.keep(in, b, h, q, k);
  };
  std::string violation = fuzz::checkPlan(*tilePlan, in, keep, kCheckedHeads);
  if (violation.empty())
    violation = fuzz::checkFlatPlan(*tilePlan);
  if (!violation.empty())
    fuzz::fail("the plan covers the mask exactly",
               std::string(form) + ": " + violation + "\n" + describe(kernel, shape));
}

void checkKernel(KernelOp original, KernelOp normalized, KernelOp expanded,
                 uint64_t seed) {
  auto reference = CompiledMask::compile(original);
  if (mlir::failed(reference))
    return; // dynamic patterns have no static semantics to check
  auto afterNormalize = CompiledMask::compile(normalized);
  auto afterExpand = CompiledMask::compile(expanded);
  if (mlir::failed(afterNormalize) || mlir::failed(afterExpand))
    fuzz::fail("the passes keep a mask evaluable",
               printOp(original) + "\n" + printOp(normalized) + "\n" +
                   printOp(expanded));
  const MaskProgram &program = reference->program();
  const int64_t nodes = int64_t(program.nodes.size() + program.program.size()) + 1;
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2; ++round) {
    fuzz::PlanShape shape = fuzz::pickShape(rng, kMaxLength);
    int64_t heads = std::min<int64_t>(program.heads, kCheckedHeads);
    if (shape.batch * heads * shape.lq * shape.lk * nodes * 3 > kMaxWork)
      continue;
    MaskInputs in;
    in.batch = shape.batch;
    in.lq = shape.lq;
    in.lk = shape.lk;
    if (!fuzz::randomTables(program, in, rng, int64_t(1) << 14))
      continue;
    if (std::string why = reference->checkInputs(in); !why.empty())
      fuzz::fail("random tables match the declarations", why);
    for (int64_t b = 0; b < in.batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t q = in.lk - in.lq; q < in.lk; ++q)
          for (int64_t k = 0; k < in.lk; ++k) {
            bool kept = reference->keep(in, b, h, q, k);
            if (afterNormalize->keep(in, b, h, q, k) != kept ||
                afterExpand->keep(in, b, h, q, k) != kept)
              fuzz::fail("normalization and expansion keep the same pairs",
                         fuzz::pairText(b, h, q, k) + "\n" +
                             describe(original, shape) + "\n" +
                             printOp(normalized) + "\n" + printOp(expanded));
          }
    checkPlanOf(normalized, shape, in, *reference, "normalized");
    checkPlanOf(expanded, shape, in, *reference, "expanded");
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > kMaxInputBytes)
    return 0;
  mlir::MLIRContext &context = fuzz::fuzzContext(2048);
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  spec::SpecCompilation compilation =
      fuzz::compileInput(data, size, sourceMgr, context, diagnostics);
  if (compilation.status != spec::SpecStatus::Success)
    return 0; // the front end's properties are sattn-spec-fuzz's job

  std::string passDiagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    passDiagnostics += d.str() + "\n";
    return mlir::success();
  });
  mlir::ModuleOp module = *compilation.module;
  auto normalized = runPass(module, mask::createNormalizeMasks(),
                            "sattn-normalize-masks succeeds", passDiagnostics);
  auto expanded = runPass(*normalized, mask::createExpandMasks(),
                          "sattn-expand-masks succeeds", passDiagnostics);
  std::vector<KernelOp> originals = kernelsOf(module);
  std::vector<KernelOp> normals = kernelsOf(*normalized);
  std::vector<KernelOp> expansions = kernelsOf(*expanded);
  if (normals.size() != originals.size() || expansions.size() != originals.size())
    fuzz::fail("the passes keep every kernel", printOp(module));
  uint64_t seed = fuzz::hashBytes(data, size);
  for (size_t i = 0; i < originals.size() && i < 4; ++i)
    checkKernel(originals[i], normals[i], expansions[i], seed + i);
  return 0;
}
