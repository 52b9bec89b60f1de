// rows-per-warp=32: every warp owns two m16 tiles (BM = 32 * warps) and
// reads each K fragment (Q.K^T) and each V fragment (P.V) from shared
// memory once for both. Per KV tile of the first loop variant (head_dim
// 128, BN = 64), the K and V ldmatrix counts equal those of 16 rows while
// the mma.sync count doubles; Q's A fragments no longer fit registers and
// are reloaded per tile, one per m-tile and k16 step.
//
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=16" --convert-sattn-to-gpu | grep -E "wait.group 1|kv_loop|nvgpu.ldmatrix.*memref<2x64x136" | FileCheck %s --check-prefix=KV16
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32" --convert-sattn-to-gpu | grep -E "wait.group 1|kv_loop|nvgpu.ldmatrix.*memref<2x64x136" | FileCheck %s --check-prefix=KV32
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=16" --convert-sattn-to-gpu | grep -E "wait.group 1|kv_loop|nvvm.mma.sync" | FileCheck %s --check-prefix=MMA16
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32" --convert-sattn-to-gpu | grep -E "wait.group 1|kv_loop|nvvm.mma.sync" | FileCheck %s --check-prefix=MMA32
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32" --convert-sattn-to-gpu | grep -E "wait.group 1|kv_loop|nvgpu.ldmatrix.*memref<128x136" | FileCheck %s --check-prefix=Q32
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32" --convert-sattn-to-gpu | FileCheck %s --check-prefix=R32
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 warps=8 block-m=256 block-n=32" --convert-sattn-to-gpu | FileCheck %s --check-prefix=W8

// 8 k16 steps x 4 K fragments, then 4 k16 steps x 8 V fragments.
// KV16:         nvvm.cp.async.wait.group 1
// KV16-COUNT-32: transpose = false
// KV16-NOT:     transpose = false
// KV16-COUNT-32: transpose = true
// KV16-NEXT:    {sattn.kv_loop = "full-gather"}
// KV32:         nvvm.cp.async.wait.group 1
// KV32-COUNT-32: transpose = false
// KV32-NOT:     transpose = false
// KV32-COUNT-32: transpose = true
// KV32-NEXT:    {sattn.kv_loop = "full-gather"}

// 2 x 64 MMAs per m16 tile.
// MMA16:          nvvm.cp.async.wait.group 1
// MMA16-COUNT-128: nvvm.mma.sync
// MMA16-NEXT:     {sattn.kv_loop = "full-gather"}
// MMA32:          nvvm.cp.async.wait.group 1
// MMA32-COUNT-256: nvvm.mma.sync
// MMA32-NEXT:     {sattn.kv_loop = "full-gather"}

// Q: 8 k16 steps x 2 m-tiles in every KV tile, none kept from the prologue.
// Q32-NOT:       nvgpu.ldmatrix
// Q32:           nvvm.cp.async.wait.group 1
// Q32-COUNT-16:  nvgpu.ldmatrix
// Q32-NEXT:      {sattn.kv_loop = "full-gather"}

// The launch records BM = 32 * warps. PARTIAL tiles set one keep bit per
// thread element, 2 m-tiles x 32 = 64, in one rolled loop. The epilogue
// stores all four rows a thread holds (two per m-tile), each with its LSE.
// R32-LABEL:    gpu.func @sattn_causal
// R32-SAME:       known_block_size = array<i32: 128, 1, 1>
// R32-SAME:       sattn.block_m = 128 : i64, sattn.block_n = 64 : i64
// R32-SAME:       sattn.dynamic_shared_memory = 104960 : i64
// R32-SAME:       sattn.warps = 4 : i64
// R32:            {sattn.kv_loop = "full-range"}
// R32:            scf.for %{{.*}} = %{{.*}} to %c64{{.*}} iter_args(%{{.*}} = %c0_i64) -> (i64)
// R32:            arith.shli %{{.*}} : i64
// R32:            {sattn.kv_loop = "partial-gather"}
// R32:            {sattn.kv_loop = "partial-range"}
// R32-COUNT-16:   vector.store %{{.*}} : memref<?x128xbf16, strided<[?, 1], offset: ?>>, vector<2xbf16>
// R32:            memref.store %{{.*}} : memref<?xf32, strided<[1], offset: ?>>
// R32-COUNT-16:   vector.store
// R32:            memref.store
// R32-COUNT-16:   vector.store
// R32:            memref.store
// R32-COUNT-16:   vector.store
// R32:            memref.store
// R32-NOT:        vector.store
// R32:            gpu.return

// 8 warps of 32 rows.
// W8-LABEL:     gpu.func @sattn_causal
// W8-SAME:        known_block_size = array<i32: 256, 1, 1>
// W8-SAME:        sattn.block_m = 256 : i64, sattn.block_n = 32 : i64
// W8-SAME:        sattn.warps = 8 : i64
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.088388) return_lse {
  %m = mask.causal
  sattn.yield %m
}
