//===- Passes.td - sattn dialect passes --------------------*- tablegen -*-===//
//
// Passes over sattn kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD
#define SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PlanTiles : Pass<"sattn-plan-tiles", "::mlir::ModuleOp"> {
  let summary = "Decide every kernel's tile configuration and check that its mask can be planned";
  let description = [{
    The tiling decision of the compile path, made once per `sattn.kernel`
    and recorded on it for every later stage:

      sattn.tile_plan = {block_m, block_n, head_classes, kernel,
                         rows_per_warp, stages, tiers, warps}

    `block_m` x `block_n` are the plan's tile sizes (the runtime plans with
    them); `rows_per_warp`, `warps` and `stages` say how the GPU kernel
    covers a tile; `convert-sattn-to-gpu` reads all five. Without options
    the configuration comes from head_dim and the mask (64x64 tiles with 4
    warps and 2 stages, 64x16 at head_dim 256; 128x32 tiles with 32 rows per
    warp for head_dim 128 masks of bands and sinks whose plan visits at most
    10% more tiles than 64x64); any option given turns that choice off and
    the others keep their defaults (0 = default). Configurations the
    portable kernel cannot emit are rejected with the reason.

    The pass also builds the tile planner once, so that a mask the planner
    cannot handle (dynamic patterns without an estimator, masks beyond the
    planner's limits) fails at compile time, not at launch. `tiers` lists
    the planning tiers the mask needs ("closed-form" for named patterns,
    "interval" and "exact" for free-form predicates, "runtime-table" for
    masks read from tables at plan time); `head_classes` is the number of
    distinct per-head plans.

    With `chip=sm_90a` the Hopper kernel (TMA, wgmma, warp specialisation)
    is chosen for head_dim 64, 128 and 256 kernels when no tile option other
    than `stages` is given and its whole-tile plan does not cover much more
    than the portable one's: `kernel = "wgmma"`, 128x128 tiles (128x64 at
    head_dim 256), 12 warps (a producer and two consumer warpgroups), 2
    stages unless `stages` asks for more (within shared memory). Its plans
    hold Range segments only (KV tiles are loaded as whole boxes); the
    record's `kernel` is "mma_sync" for the portable kernel. With `backward`
    (the kernel also gets a backward pass), head_dim 256 kernels keep the
    portable kernel on sm_90a too: the backward reads the forward's plan,
    and with the Hopper forward's 128 x 64 tiles its Q, dO, K, V, P and dS
    tiles need 234 KiB of shared memory, more than a block may have.

    With `report-length=L` the pass also plans the kernel for Lq = Lk = L
    (batch 1, tables absent, i.e. all zero) and emits a remark with the tiles
    visited against a dense kernel.
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"0",
           "Query rows per tile, rows-per-warp per warp (0: chosen)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"0",
           "Keys per KV tile, a multiple of 16 (0: chosen)">,
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "Warps per block (0: block-m / rows-per-warp, or chosen)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "KV tiles in flight (0: chosen)">,
    Option<"rowsPerWarp", "rows-per-warp", "int64_t", /*default=*/"0",
           "Query rows per warp, 16 or 32 (0: chosen)">,
    Option<"chip", "chip", "std::string", /*default=*/"\"\"",
           "Target GPU architecture; sm_90a picks the wgmma kernel where it applies">,
    Option<"reportLength", "report-length", "int64_t", "0",
           "sequence length for the remark with visited tiles (0: none)">,
    Option<"backward", "backward", "bool", /*default=*/"false",
           "The kernel also gets a backward pass: at head_dim 256 it keeps the "
           "portable kernel on sm_90a (see the description)">,
  ];
}

def LowerEstimators : Pass<"sattn-lower-estimators", "::mlir::ModuleOp"> {
  let summary = "Turn estimated masks into a table the kernel's compiled estimator fills";
  let description = [{
    A dynamic pattern keeps the pairs its estimator chooses from Q and K at
    run time (docs/ESTIMATORS.md). This pass gives such a kernel the static
    form every later stage already handles: the pattern becomes a read of a
    runtime table that the estimator writes, and the estimator's parameters
    are recorded on the kernel as `sattn.estimator`, from which the
    conversions build the estimator's stages (CPU function and GPU kernels).

    `mask.block_topk SCORER block B {top_k = K}` (or `{tau = t}`, and
    `stride = S` for the antidiagonal scorer) becomes

      mask.table @estimated_blocks : i1 ["b", "h", "q/B", "k/B"]
      causal & predicate { lookup @estimated_blocks[b, h, q / B, k / B] }

    with `sattn.estimator = {kind = "block_topk", scorer = SCORER,
    block = B, top_k = K, tau = t, stride = S (0 for mean_pool),
    table = "estimated_blocks"}` (the name gets a numeric suffix if the
    kernel already declares it). The table has one entry per (batch, query
    head, query block, key block), exactly the block table of the
    estimator's definition.

    `mask.vertical_slash vertical V slash S last_q n forced(fv, fs) block B`
    becomes

      mask.table @estimated_lines : i1 ["b", "h", "2", "k"]
      causal & predicate { lookup @estimated_lines[b, h, 0, k]
                           | lookup @estimated_lines[b, h, 1, q - k] }

    with `sattn.estimator = {kind = "vertical_slash", block = B,
    vertical = V, slash = S, forced_vertical = fv, forced_slash = fs,
    last_q = n, table = "estimated_lines"}`: row 0 of a (batch, head)
    marks the kept key columns, row 1 the kept diagonal offsets q - k.
    last_q above 4096 is an error.

    `mask.stripe group G block B step T theta t` becomes (U = B * T)

      mask.table @estimated_stripes : i1 ["b", "h", "q/U", "k"]
      causal & predicate { k < G | k >= q / G * G
                           | lookup @estimated_stripes[b, h, q / U, k] }

    with `sattn.estimator = {kind = "stripe", block = B, group = G,
    step = T, theta = t, table = "estimated_stripes"}`: every query keeps
    its anchor region, and row u of a (batch, head) marks the keys kept for
    the queries of unit u.

    `mask.gate block B hidden F {threshold = t}` (or `{top_ratio = r}`)
    becomes the block table of block_topk, with `sattn.estimator = {kind =
    "gate", block = B, hidden = F, threshold = t, top_ratio = r (0 for the
    one not given), rope_base = 10000.0, table = "estimated_blocks"}`: the
    gate's learned weights are a runtime input of its estimator.

    `mask.nsa compress(l, d) select(S, n) window w local m` becomes

      mask.table @estimated_selection : i1 ["b", "h/G", "q", "k/S"]
      causal & predicate { lookup @estimated_selection[b, h / G, q, k / S] }

    (G = heads / kv_heads; `"h"` and `h` when G is 1) with
    `sattn.estimator = {kind = "nsa", block = S, compress_block = l,
    compress_stride = d, select_count = n, local = m, window = w, table =
    "estimated_selection"}`: row q of a (batch, KV head) marks the
    selection blocks NSA's selection keeps for the query at q, shared by
    the GQA group's heads, so the kernel computes NSA's selected branch.
    Two kernels are added next to it (names recorded as `compressed_kernel`
    and `sliding_kernel`, suffixed if taken): NAME_compressed, the
    pattern replaced by `causal & (k % d == (l - 1) % d & k >= l - 1)`
    (attention over compressed keys and values placed where their blocks
    end), and NAME_sliding, the pattern replaced by `window w` (none when w
    is 0). The caller mixes the three branches by NSA's gates.

    A kernel with more than one dynamic pattern keeps them as they are
    (sattn-compile says so and skips the kernel).
  }];
}

#endif // SATTN_SPARSEATTN_TRANSFORMS_PASSES_TD
