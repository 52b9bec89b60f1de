// RUN: sparse-opt %s --convert-sattn-to-gpu -split-input-file -verify-diagnostics

// The conversion reads the tile configuration sattn-plan-tiles recorded; it
// decides nothing itself. A kernel without one is an error.
// expected-error@+1 {{has no 'sattn.tile_plan' dictionary: run sattn-plan-tiles before lowering}}
sattn.kernel @unplanned(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// A record written by hand is checked like the pass's own choice.
// expected-error@+1 {{'sattn.tile_plan': block-n 40 is not a multiple of 16 (the k16 step of mma.sync)}}
sattn.kernel @odd_tiles(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) attributes {sattn.tile_plan = {block_m = 64 : i64, block_n = 40 : i64, rows_per_warp = 16 : i64, stages = 2 : i64, warps = 4 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// Block maxima are written by the portable kernel only.
// expected-error@+1 {{'sattn.tile_plan': a block_max kernel is an "mma_sync" kernel}}
sattn.kernel @hopper_block_max(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) block_max attributes {sattn.tile_plan = {block_m = 128 : i64, block_n = 128 : i64, kernel = "wgmma", rows_per_warp = 16 : i64, stages = 2 : i64, warps = 8 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// expected-error@+1 {{'sattn.tile_plan' has no integer 'stages'}}
sattn.kernel @incomplete(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) attributes {sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64, rows_per_warp = 16 : i64, warps = 4 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// Dynamic patterns have no element mask; they need their estimator
// (sattn-plan-tiles refuses them first; this is the conversion's own check).
sattn.kernel @vertical_slash(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) attributes {sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64, rows_per_warp = 16 : i64, stages = 2 : i64, warps = 4 : i64}} {
  // expected-error@+1 {{cannot emit element mask code for 'mask.vertical_slash'}}
  %0 = mask.vertical_slash vertical 100 slash 750 last_q 64 forced(30, 100) block 64
  sattn.yield %0
}

// -----

// The kernel's module is named after it; an existing symbol is not
// overwritten.
module {
  // expected-error@+1 {{cannot add @sattn_causal: the symbol already exists}}
  sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) attributes {sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64, rows_per_warp = 16 : i64, stages = 2 : i64, warps = 4 : i64}} {
    %0 = mask.causal
    sattn.yield %0
  }
  func.func private @sattn_causal()
}

// -----

// The wgmma kernel's shapes: head_dim 64, 128 or 256, 128x128 tiles (128x64
// at head_dim 256), 2 to 8 stages within shared memory.
// expected-error@+1 {{'sattn.tile_plan': the wgmma kernel takes 2 to 8 stages (got 1)}}
sattn.kernel @hopper_one_stage(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) attributes {sattn.tile_plan = {block_m = 128 : i64, block_n = 128 : i64, kernel = "wgmma", rows_per_warp = 16 : i64, stages = 1 : i64, warps = 12 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// expected-error@+1 {{'sattn.tile_plan': the wgmma kernel at head_dim 128 has 128x128 tiles, 12 warps and 16 rows per warp (got 128x64, 12, 16)}}
sattn.kernel @hopper_tiles(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) attributes {sattn.tile_plan = {block_m = 128 : i64, block_n = 64 : i64, kernel = "wgmma", rows_per_warp = 16 : i64, stages = 2 : i64, warps = 12 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// expected-error@+1 {{'sattn.tile_plan': 3 stages of the wgmma kernel at head_dim 256 need 263272 bytes of shared memory, more than the 232448 a block can have}}
sattn.kernel @hopper_stages(dtype = bf16, head_dim = 256, heads = 1, kv_heads = 1, scale = 0.0625) attributes {sattn.tile_plan = {block_m = 128 : i64, block_n = 64 : i64, kernel = "wgmma", rows_per_warp = 16 : i64, stages = 3 : i64, warps = 12 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// expected-error@+1 {{'sattn.tile_plan': 'kernel' must be "mma_sync" or "wgmma"}}
sattn.kernel @unknown_family(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) attributes {sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64, kernel = "tcgen05", rows_per_warp = 16 : i64, stages = 2 : i64, warps = 4 : i64}} {
  %0 = mask.causal
  sattn.yield %0
}

// -----

// An estimator record's `logits` says how its logits of query rows are
// summed ("tensor" or "exact"); anything else is an error, not a default.
// expected-error@+1 {{'sattn.estimator' has logits 'fast', not 'tensor' or 'exact'}}
sattn.kernel @bad_logits(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) attributes {
    sattn.estimator = {block = 16 : i64, kind = "block_topk", logits = "fast", scorer = "antidiagonal",
                       stride = 4 : i64, table = "keep", tau = 6.0e-01 : f64, top_k = 0 : i64},
    sattn.tile_plan = {block_m = 64 : i64, block_n = 64 : i64, rows_per_warp = 16 : i64, stages = 2 : i64, warps = 4 : i64}} {
  mask.table @keep : i1 ["b", "h", "q/16", "k/16"]
  %0 = mask.causal
  sattn.yield %0
}
