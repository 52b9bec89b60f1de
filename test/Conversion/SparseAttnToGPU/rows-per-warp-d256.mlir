// Two m16 tiles per warp at head_dim 256 would need 256 f32 accumulators
// per thread: rejected, while 16 rows stay the lowering of head_dim 256.
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=32" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=D256
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=16" --convert-sattn-to-gpu | FileCheck %s --check-prefix=SIXTEEN
// D256:    error: sattn-plan-tiles: rows-per-warp 32 at head_dim 256 needs 256 f32 accumulators per thread, more than fit in registers
// SIXTEEN: sattn.block_m = 64 : i64, sattn.block_n = 16 : i64
sattn.kernel @causal(dtype = bf16, head_dim = 256, heads = 1, kv_heads = 1, scale = 0.0625) {
  %0 = mask.causal
  sattn.yield %0
}
