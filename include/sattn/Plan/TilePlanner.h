//===- TilePlanner.h - tile planning of a kernel's mask ---------*- C++ -*-===//
//
// The compiler's entry to tile planning. The planner itself (segments,
// plans, the three tiers) is plain C++ in the core (sattn/Core/Planner.h) and
// runs on a MaskProgram; TilePlanner is the thin MLIR adapter that compiles
// a kernel's mask ops into that program (CompiledMask) and reports failures
// as diagnostics. libsattn_runtime runs the same planner on the program read
// from the manifest, so both build identical plans.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PLAN_TILEPLANNER_H
#define SATTN_PLAN_TILEPLANNER_H

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/KeySet.h"
#include "sattn/Core/Planner.h"

#include "mlir/Support/LLVM.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sattn {
class KernelOp;
} // namespace sattn

namespace sattn::plan {

/// Shapes of the runtime tables a kernel declares, for batch `batch` and key
/// length `lk` (dims: b -> batch, h -> heads, q/k -> lk, q/N and k/N ->
/// ceil(lk / N), literals as written), in declaration order.
std::vector<std::pair<std::string, std::vector<int64_t>>>
declaredTableShapes(KernelOp kernel, int64_t batch, int64_t lk);

/// Whether the kernel's mask reaches a dynamic pattern (vertical_slash,
/// block_topk, gate, stripe, nsa): those are planned from their estimator at
/// run time, so TilePlanner::build refuses them.
bool hasDynamicPattern(KernelOp kernel);

/// Total elements of the tables a kernel declares at (batch, lk); -1 when
/// the count overflows int64_t.
int64_t declaredTableElements(KernelOp kernel, int64_t batch, int64_t lk);

/// Most table elements the tools fill with zeros to show a plan when no
/// runtime data is at hand (128 MiB of int64_t): a kernel that reads a table
/// of bool[h, q, k] at 32K would otherwise cost gigabytes for a preview.
constexpr int64_t kMaxZeroTableElements = int64_t(1) << 24;

/// Inputs with every declared table present and all zero: what tools use
/// to show a plan when no runtime data is at hand. Fails with `error` when
/// the tables would hold more than kMaxZeroTableElements elements.
std::optional<MaskInputs> zeroTableInputs(KernelOp kernel, int64_t lq,
                                          int64_t lk, std::string &error,
                                          int64_t batch = 1);

class TilePlanner {
public:
  /// Compiles the mask of `kernel`. Emits a diagnostic and fails for masks
  /// the planner cannot handle (dynamic patterns).
  static mlir::FailureOr<TilePlanner> build(KernelOp kernel,
                                            PlanOptions options = {});

  /// A planner of the same mask program for other tile sizes (the mask is
  /// not compiled again). Emits a diagnostic on `kernel` on failure.
  mlir::FailureOr<TilePlanner> withTiles(KernelOp kernel,
                                         PlanOptions options) const;

  /// Builds the plan for one set of runtime inputs (lengths, batch, tables).
  /// Returns an error message in `error` on inconsistent inputs.
  mlir::FailureOr<TilePlan> plan(const MaskInputs &inputs,
                                 std::string &error) const;

  /// The may/must key sets of the mask for query positions [qa, qb] of
  /// batch b, head h (exposed for tests and tools).
  void keySets(const MaskInputs &inputs, int64_t b, int64_t h, int64_t qa,
               int64_t qb, KeySet &may, KeySet &must) const {
    planner.keySets(inputs, b, h, qa, qb, may, must);
  }

  const PlanOptions &options() const { return planner.options(); }
  /// The core planner (and through it the mask program).
  const Planner &core() const { return planner; }

private:
  explicit TilePlanner(Planner planner) : planner(std::move(planner)) {}
  Planner planner;
};

} // namespace sattn::plan

#endif // SATTN_PLAN_TILEPLANNER_H
