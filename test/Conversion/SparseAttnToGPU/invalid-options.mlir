// Tile overrides the building blocks cannot emit are rejected with the
// reason, before any code is built.
// RUN: not sparse-opt %s --convert-sattn-to-gpu="block-m=24" 2>&1 | FileCheck %s --check-prefix=BLOCKM
// RUN: not sparse-opt %s --convert-sattn-to-gpu="block-m=64 warps=2" 2>&1 | FileCheck %s --check-prefix=MISMATCH
// RUN: not sparse-opt %s --convert-sattn-to-gpu="block-n=40" 2>&1 | FileCheck %s --check-prefix=BLOCKN
// RUN: not sparse-opt %s --convert-sattn-to-gpu="warps=17" 2>&1 | FileCheck %s --check-prefix=WARPS
// RUN: not sparse-opt %s --convert-sattn-to-gpu="warps=16 block-n=16" 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not sparse-opt %s --convert-sattn-to-gpu="block-n=512 stages=4" 2>&1 | FileCheck %s --check-prefix=SMEM

// BLOCKM:   error: no GPU lowering: block-m 24 is not a multiple of 16 (each warp owns 16 query rows)
// MISMATCH: error: no GPU lowering: block-m 64 does not match 2 warps of 16 rows
// BLOCKN:   error: no GPU lowering: block-n 40 is not a multiple of 16
// WARPS:    error: no GPU lowering: 17 warps exceed the 1024 threads of a block
// SPLIT:    error: no GPU lowering: a 16x128 KV tile does not split evenly into 16-byte copies over 512 threads
// SMEM:     error: no GPU lowering: the tiles need {{[0-9]+}} bytes of shared memory, more than the 232448 a block can have
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 1, kv_heads = 1, scale = 0.088) {
  %0 = mask.causal
  sattn.yield %0
}
