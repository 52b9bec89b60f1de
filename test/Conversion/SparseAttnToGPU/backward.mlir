// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu="backward=1" -split-input-file | FileCheck %s
// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu -split-input-file | FileCheck %s --check-prefix=NONE
// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu="backward=1" -split-input-file | FileCheck %s --check-prefix=HOPPER

// With backward=1 the gpu.module also holds @sattn_NAME_bwd over the same
// plan, recorded on the attention kernel. Shared memory (64 x 64 tiles,
// head_dim 64, rows of 72 elements): Q 9216 + 2 stages of K and V 36864 +
// key slots 512, then dO 9216, P 9216 and dS 9216 = 74240 bytes.
// CHECK-LABEL: gpu.func @sattn_win(
// CHECK-SAME:    sattn.backward = {entry = "sattn_win_bwd", shared_bytes = 74240 : i64, stages = 2 : i64, warps = 4 : i64}
// The backward kernel: the ABI's backward parameters (f32 gradients), one
// warp per 16 query rows.
// CHECK-LABEL: gpu.func @sattn_win_bwd(
// CHECK-SAME:    %{{.+}}: memref<bf16>, %{{.+}}: memref<bf16>, %{{.+}}: memref<bf16>, %{{.+}}: memref<bf16>, %{{.+}}: memref<f32>, %{{.+}}: memref<bf16>, %{{.+}}: memref<f32>, %{{.+}}: memref<f32>, %{{.+}}: memref<f32>,
// CHECK-SAME:    known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME:    sattn.params = ["q", "k", "v", "o", "lse", "d_o", "d_q", "d_k", "d_v", "q_sb", "q_sh", "q_ss", "k_sb", "k_sh", "k_ss", "v_sb", "v_sh", "v_ss", "o_sb", "o_sh", "o_ss", "lse_sb", "lse_sh", "do_sb", "do_sh", "do_ss", "lq", "lk", "segments", "offsets", "class_index", "num_query_tiles", "dkv_scales"]
// dkv_scales (a memref<f32> like the gradients) not NULL selects the
// deterministic form; its scale pair is loaded once.
// CHECK:         llvm.ptrtoint
// CHECK:         llvm.icmp "ne"
// CHECK:         scf.if {{.*}} -> (f32, f32)
// CHECK:           llvm.load {{.*}} : !llvm.ptr -> f32
// Q and dO tiles share the copy; D = dO . O per row sums over a quad.
// CHECK:         nvgpu.device_async_copy
// CHECK:         gpu.shuffle  xor
// The forward's segment walk and its four KV loop variants.
// CHECK:         sattn.kv_loop = "full-gather"
// Per KV tile: the chunks of 32 keys run as a loop carrying dQ's
// accumulators, then dV and dK from P and dS read transposed, added to the
// global gradients.
// CHECK:         scf.for %{{.+}} = %{{.+}} to %c64{{.*}} step %c32{{.*}} iter_args
// CHECK:           nvvm.mma.sync
// CHECK:           nvvm.ex2.approx.f32
// CHECK:         gpu.barrier
// CHECK:         nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true} : memref<64x72xbf16, #gpu.address_space<workgroup>>
// ... as int64 fixed-point sums (the deterministic form), else with f32
// atomics.
// CHECK:         llvm.inline_asm has_side_effects "{ .reg .s64 fx; cvt.rni.s64.f32 fx, $1; red.global.add.u64 [$0], fx; }", "l,f"
// CHECK:         } else {
// CHECK:         memref.atomic_rmw addf {{.*}} : (f32, memref<?x64xf32, strided<[?, 1], offset: ?>>) -> f32
// The epilogue writes dQ (the CTA owns its rows) as pairs of f32.
// CHECK:         vector.store {{.*}} : memref<?x64xf32, strided<[?, 1], offset: ?>>, vector<2xf32>
// CHECK:         gpu.return
// (The causal kernel below.) The backward of an sm_90a (wgmma) forward reads its 128 x 128 plan with
// 8 warps and one stage, and adds dK and dV in column pairs with sm_90's
// vector reduction (inline PTX: MLIR 22 has no op for it).
// HOPPER-LABEL:  gpu.func @sattn_causal(
// HOPPER-SAME:     sattn.backward = {entry = "sattn_causal_bwd", shared_bytes = {{[0-9]+}} : i64, stages = {{[12]}} : i64, warps = 8 : i64}
// HOPPER-SAME:     sattn.kernel_family = "wgmma"
// HOPPER-LABEL:  gpu.func @sattn_causal_bwd(
// HOPPER-SAME:     known_block_size = array<i32: 256, 1, 1>
// HOPPER:          llvm.inline_asm has_side_effects "red.global.add.v2.f32 [$0], {$1, $2};", "l,f,f"
// HOPPER-NOT:      memref.atomic_rmw addf
// NONE-NOT:      sattn.backward
// NONE-NOT:      _bwd
sattn.kernel @win(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) return_lse {
  %c = mask.causal
  %w = mask.window 100
  %m = mask.intersect %c, %w
  sattn.yield %m
}

// -----

sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
