//===- Passes.td - sattn dialect passes --------------------*- tablegen -*-===//
//
// Passes over sattn kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD
#define SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PlanTiles : Pass<"sattn-plan-tiles", "::mlir::ModuleOp"> {
  let summary = "Choose tile sizes and check that every kernel's mask can be planned";
  let description = [{
    Builds the tile planner for every `sattn.kernel` with the given tile
    sizes and records the plan configuration on the kernel as
    `sattn.tile_plan = {block_m, block_n, tiers, head_classes}`:
    `tiers` lists the planning tiers the mask needs ("closed-form" for named
    patterns, "interval" and "exact" for free-form predicates, "runtime-table"
    for masks read from tables at plan time); `head_classes` is the number of
    distinct per-head plans. Kernels whose masks cannot be planned (dynamic
    patterns without an estimator) are rejected with a diagnostic.

    With `report-length=L` the pass also plans the kernel for Lq = Lk = L
    (batch 1, tables absent, i.e. all zero) and emits a remark with the tiles
    visited against a dense kernel.
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", "128", "query rows per tile">,
    Option<"blockN", "block-n", "int64_t", "128", "keys per KV tile">,
    Option<"reportLength", "report-length", "int64_t", "0",
           "sequence length for the remark with visited tiles (0: none)">,
  ];
}

#endif // SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD
