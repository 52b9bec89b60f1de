// Tile options the portable kernel cannot emit are rejected by
// sattn-plan-tiles with the reason, before any code is built.
// RUN: not sparse-opt %s --sattn-plan-tiles="block-m=24" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not sparse-opt %s --sattn-plan-tiles="block-m=64 warps=2" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=MISMATCH
// RUN: not sparse-opt %s --sattn-plan-tiles="block-n=40" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKN
// RUN: not sparse-opt %s --sattn-plan-tiles="warps=17" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not sparse-opt %s --sattn-plan-tiles="warps=16 block-n=16" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not sparse-opt %s --sattn-plan-tiles="block-n=512 stages=4" --convert-sattn-to-gpu 2>&1 | FileCheck %s --check-prefix=SMEM

// BLOCKM:   error: sattn-plan-tiles: block-m 24 is not a multiple of 16 (each warp owns 16 query rows)
// MISMATCH: error: sattn-plan-tiles: block-m 64 does not match 2 warps of 16 rows
// BLOCKN:   error: sattn-plan-tiles: block-n 40 is not a multiple of 16
// WARPS:    error: sattn-plan-tiles: 17 warps exceed the 1024 threads of a block
// SPLIT:    error: sattn-plan-tiles: a 16x128 KV tile does not split evenly into 16-byte copies over 512 threads
// SMEM:     error: sattn-plan-tiles: the tiles need {{[0-9]+}} bytes of shared memory, more than the 232448 a block can have
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) {
  %0 = mask.causal
  sattn.yield %0
}
