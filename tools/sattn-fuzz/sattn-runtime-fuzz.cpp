//===- sattn-runtime-fuzz.cpp - libFuzzer target: the runtime's readers -----===//
//
// libsattn_runtime trusts nothing it reads: a manifest or a mask program
// may be truncated, hand-edited or hostile. This target feeds arbitrary
// bytes to both readers the runtime uses, parseManifest (which also reads
// the embedded mask program and prepares its planner) and parseMaskProgram,
// and plans every program that loads, at small random lengths and tile
// sizes with random tables, with and without gathers, checking the plan
// pair by pair against the core evaluator (PlanCheck.h). Why: whatever a reader accepts must be
// safe to evaluate and plan, and its plans must still be exact.
// Plain C++17 over the runtime's own sources, no MLIR and no CUDA.
//
//===----------------------------------------------------------------------===//

#include "PlanCheck.h"

#include "Manifest.h"

#include "sattn/Core/MaskEval.h"

#include <random>
#include <string>
#include <string_view>

using namespace sattn;

namespace {
constexpr int64_t kMaxLength = 40;
constexpr int64_t kCheckedHeads = 4;
constexpr int64_t kMaxWork = int64_t(1) << 21;

/// Plans `planner`'s program for random inputs and checks the plan.
void checkPlanner(const plan::Planner &planner, std::mt19937_64 &rng,
                  std::string_view source) {
  const MaskProgram &program = planner.program();
  const int64_t nodes = int64_t(program.nodes.size() + program.program.size()) + 1;
  fuzz::PlanShape shape = fuzz::pickShape(rng, kMaxLength);
  int64_t heads = std::min<int64_t>(program.heads, kCheckedHeads);
  if (shape.batch * heads * shape.lq * shape.lk * nodes > kMaxWork)
    return;
  MaskInputs in;
  in.batch = shape.batch;
  in.lq = shape.lq;
  in.lk = shape.lk;
  if (!fuzz::randomTables(program, in, rng, int64_t(1) << 12))
    return;
  if (std::string why = checkMaskInputs(program, in); !why.empty())
    fuzz::fail("random tables match the declarations", why);
  std::string error;
  std::optional<plan::TilePlan> tilePlan = planner.plan(in, error);
  if (!tilePlan)
    fuzz::fail("consistent inputs can be planned", error + "\n" + std::string(source));
  fuzz::KeepFn keep = [&](int64_t b, int64_t h, int64_t q, int64_t k) {
    return evalMask(program, in, b, h, q, k);
  };
  std::string violation = fuzz::checkPlan(*tilePlan, in, keep, kCheckedHeads);
  if (violation.empty())
    violation = fuzz::checkFlatPlan(*tilePlan);
  if (violation.empty() && !planner.options().gathers)
    violation = fuzz::checkRangeOnly(*tilePlan);
  if (!violation.empty())
    fuzz::fail("the plan covers the mask exactly",
               violation + "\nlq=" + std::to_string(in.lq) + " lk=" +
                   std::to_string(in.lk) + "\n" + std::string(source));
}

/// Plans `program` at the small tile sizes the check can afford, with
/// gathers (the mma.sync kernels' plans) or without (the sm_90a kernels').
void checkProgram(const MaskProgram &program, std::mt19937_64 &rng,
                  std::string_view source) {
  fuzz::PlanShape tiles = fuzz::pickShape(rng, kMaxLength);
  const bool gathers = rng() % 2 == 0;
  std::string error;
  std::optional<plan::Planner> planner = plan::Planner::build(
      program, plan::PlanOptions{tiles.blockM, tiles.blockN, gathers}, error);
  if (!planner)
    fuzz::fail("a verified mask program can be planned", error + "\n" + std::string(source));
  checkPlanner(*planner, rng, source);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  std::mt19937_64 rng(fuzz::hashBytes(data, size));
  std::string error;

  rt::Manifest manifest;
  if (rt::parseManifest(text, manifest, error)) {
    if (manifest.planner) {
      checkPlanner(*manifest.planner, rng, text);
      checkProgram(manifest.planner->program(), rng, text);
    } else if (manifest.planError.empty()) {
      fuzz::fail("a manifest without a planner says why", std::string(text));
    }
  } else if (error.empty()) {
    fuzz::fail("a rejected manifest is explained", std::string(text));
  }

  MaskProgram program;
  error.clear();
  if (parseMaskProgram(text, program, error))
    checkProgram(program, rng, text);
  else if (error.empty())
    fuzz::fail("a rejected mask program is explained", std::string(text));
  return 0;
}
