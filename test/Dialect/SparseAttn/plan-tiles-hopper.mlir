// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a report-length=32768" -split-input-file -verify-diagnostics | FileCheck %s
// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a block-m=64" -split-input-file | FileCheck %s --check-prefix=ASKED
// RUN: not sparse-opt %s --sattn-plan-tiles="chip=sm_90a stages=3" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=STAGES
// RUN: not sparse-opt %s --sattn-plan-tiles="chip=sm_90a stages=3" -split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=STAGES-ERR
// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a backward=1" -split-input-file | FileCheck %s --check-prefix=BACKWARD

// chip=sm_90a picks the wgmma kernel for head_dim 128: 128x128 tiles, a
// producer and two consumer warpgroups (12 warps), 2 stages, and a plan of
// Range segments only (it loads whole KV tiles by TMA; no "gathers").
// CHECK-LABEL: sattn.kernel @streaming
// CHECK-SAME: sattn.tile_plan = {block_m = 128 : i64, block_n = 128 : i64, head_classes = 1 : i64, kernel = "wgmma", rows_per_warp = 16 : i64, stages = 2 : i64, tiers = ["closed-form"], warps = 12 : i64}
// With a backward pass too (it fits the 128x128 tiles up to head_dim 128).
// BACKWARD-LABEL: sattn.kernel @streaming
// BACKWARD-SAME: kernel = "wgmma"
// expected-remark@+1 {{L = 32768: visits 142560 of 2097152 tiles (126720 full, 15840 partial, 0 gathered) in 31648 segments}}
sattn.kernel @streaming(dtype = bf16, head_dim = 128, heads = 32, kv_heads = 8, scale = 0.088) {
  %c = mask.causal
  %s = mask.sink 128
  %w = mask.window 2048
  %u = mask.union %s, %w
  %m = mask.intersect %c, %u
  sattn.yield %m
}
// A tile option asks for the portable kernel's configuration.
// ASKED-LABEL: sattn.kernel @streaming
// ASKED-SAME: block_m = 64 : i64{{.*}}kernel = "mma_sync"

// -----

// S2's token stride: whole 128x128 tiles would cover every causal pair,
// 3.7x the tiles of a plan that gathers the strided keys; the wgmma kernel
// is built with gathers (its producer copies their rows), so its plans hold
// Gather segments.
// CHECK-LABEL: sattn.kernel @s2
// CHECK-SAME: sattn.tile_plan = {block_m = 128 : i64, block_n = 128 : i64, gathers = true, head_classes = 8 : i64, kernel = "wgmma"
// expected-remark@+1 {{L = 32768: visits 85344 of 1048576 tiles (77216 full, 8128 partial, 65024 gathered) in 16224 segments}}
sattn.kernel @s2(dtype = bf16, head_dim = 128, heads = 16, kv_heads = 16, scale = 0.088) {
  %c = mask.causal
  %w = mask.window 512
  %s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>
  %u = mask.union %w, %s
  %m = mask.intersect %c, %u
  sattn.yield %m
}
// ASKED-LABEL: sattn.kernel @s2

// -----

// head_dim 64: the same 128x128 tiles; a stage count is the one tile option
// the wgmma kernel takes.
// CHECK-LABEL: sattn.kernel @d64
// CHECK-SAME: block_m = 128 : i64, block_n = 128 : i64{{.*}}kernel = "wgmma"{{.*}}stages = 2 : i64
// STAGES-LABEL: sattn.kernel @d64
// STAGES-SAME: block_n = 128 : i64{{.*}}kernel = "wgmma"{{.*}}stages = 3 : i64
// expected-remark@+1 {{L = 32768}}
sattn.kernel @d64(dtype = f16, head_dim = 64, heads = 8, kv_heads = 8, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}
// ASKED-LABEL: sattn.kernel @d64
// ASKED-SAME: kernel = "mma_sync"

// -----

// head_dim 256: 64-key tiles keep O's 128 accumulators per thread, the
// scores and the probabilities within the consumers' registers; three
// stages would need more shared memory than a block has.
// CHECK-LABEL: sattn.kernel @d256
// CHECK-SAME: block_m = 128 : i64, block_n = 64 : i64{{.*}}kernel = "wgmma"{{.*}}stages = 2 : i64
// STAGES-ERR: error: sattn-plan-tiles: 3 stages of the wgmma kernel at head_dim 256 need 263272 bytes of shared memory, more than the 232448 a block can have
// expected-remark@+1 {{L = 32768}}
sattn.kernel @d256(dtype = bf16, head_dim = 256, heads = 8, kv_heads = 2, scale = 0.0625) {
  %c = mask.causal
  sattn.yield %c
}
// ASKED-LABEL: sattn.kernel @d256
// ASKED-SAME: kernel = "mma_sync"
// A kernel with a backward pass stays portable at head_dim 256: its backward
// reads the forward's plan, and at 128x64 its tiles would not fit in shared
// memory.
// BACKWARD-LABEL: sattn.kernel @d256
// BACKWARD-SAME: block_m = 64 : i64, block_n = 16 : i64{{.*}}kernel = "mma_sync"
