// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu -split-input-file | FileCheck %s

// The sm_90a kernel at head_dim 64 and 256 (hopper.mlir has 128): TMA boxes
// of 64 columns per tile row, S = Q K^T in head_dim / 16 wgmma k-steps of
// n = block_n, O += P V in block_n / 16 register-A k-steps of n = head_dim.

// head_dim 64, f16, GQA 8/2: 128x128 tiles, one box per tile; shared
// memory 1 KiB + (128 + 2 x 2 x 128) x 64 x 2 bytes + 9 mbarriers.
// CHECK-LABEL: gpu.func @sattn_d64(
// CHECK-SAME:    sattn.block_n = 128 : i64
// CHECK-SAME:    sattn.dynamic_shared_memory = 83016 : i64
// CHECK-SAME:    sattn.kernel_family = "wgmma"
// CHECK:         nvvm.setmaxregister  decrease 24
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:         nvvm.mbarrier.try_wait
// CHECK:         nvvm.setmaxregister  increase 240
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}<m = 64, n = 128, k = 16>, D[<f32>, {{.*}}A[<f16>
// CHECK-NOT:     nvvm.wgmma.mma_async
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}<m = 64, n = 128, k = 16>
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
sattn.kernel @d64(dtype = f16, head_dim = 64, heads = 8, kv_heads = 2, scale = 0.125) {
  %c = mask.causal
  sattn.yield %c
}

// -----

// head_dim 256, bf16: 128x64 tiles, four boxes per tile; shared memory
// 1 KiB + (128 + 2 x 2 x 64) x 256 x 2 bytes + 9 mbarriers.
// CHECK-LABEL: gpu.func @sattn_d256(
// CHECK-SAME:    sattn.block_n = 64 : i64
// CHECK-SAME:    sattn.dynamic_shared_memory = 197704 : i64
// CHECK-SAME:    sattn.kernel_family = "wgmma"
// CHECK:         nvvm.setmaxregister  decrease 24
// CHECK-COUNT-4: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:         nvvm.mbarrier.try_wait
// CHECK:         nvvm.setmaxregister  increase 240
// CHECK-COUNT-16: nvvm.wgmma.mma_async {{.*}}<m = 64, n = 64, k = 16>, D[<f32>, {{.*}}A[<bf16>
// CHECK-NOT:     nvvm.wgmma.mma_async
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-COUNT-16: nvvm.wgmma.mma_async {{.*}}<m = 64, n = 64, k = 16>
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
sattn.kernel @d256(dtype = bf16, head_dim = 256, heads = 4, kv_heads = 4, scale = 0.0625) {
  %c = mask.causal
  sattn.yield %c
}
