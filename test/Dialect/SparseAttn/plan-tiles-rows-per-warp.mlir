// rows-per-warp combinations the portable kernel cannot emit are rejected by
// sattn-plan-tiles with the reason, before any code is built.
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=24" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=-16" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 block-m=48" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 block-m=64 warps=4" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=MISMATCH
// RUN: not sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 warps=17" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not sparse-opt %s --sattn-gpu-pipeline="rows-per-warp=8" 2>&1 | FileCheck %s --check-prefix=ROWS8
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 block-m=64" --convert-sattn-to-gpu | FileCheck %s --check-prefix=FROMBM
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=16" --convert-sattn-to-gpu | FileCheck %s --check-prefix=SIXTEEN

// ROWS:     error: sattn-plan-tiles: rows-per-warp 24 is not supported (16 or 32: one or two m16 MMA tiles)
// NEGATIVE: error: sattn-plan-tiles: tile options must not be negative
// BLOCKM:   error: sattn-plan-tiles: block-m 48 is not a multiple of 32 (each warp owns 32 query rows)
// MISMATCH: error: sattn-plan-tiles: block-m 64 does not match 4 warps of 32 rows
// WARPS:    error: sattn-plan-tiles: 17 warps exceed the 1024 threads of a block
// ROWS8:    error: sattn-plan-tiles: rows-per-warp 8 is not supported

// block-m alone sets the warps: 64 rows of 32 per warp are 2 warps.
// FROMBM:   known_block_size = array<i32: 64, 1, 1>
// FROMBM-SAME: sattn.block_m = 64 : i64
// FROMBM-SAME: sattn.warps = 2 : i64
// An explicit 16 is the default.
// SIXTEEN:  sattn.block_m = 64 : i64
// SIXTEEN-SAME: sattn.warps = 4 : i64
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) {
  %0 = mask.causal
  sattn.yield %0
}
