// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a backward=1" --convert-sattn-to-gpu="backward=1" | FileCheck %s

// With the backward in mind the head_dim 256 kernel keeps the portable
// 64 x 16 tiles on sm_90a, and its backward kernel is built beside it.
// CHECK: gpu.func @sattn_wide(
// CHECK-SAME: sattn.backward = {entry = "sattn_wide_bwd"
// CHECK-SAME: sattn.kernel_family = "mma_sync"
// CHECK: gpu.func @sattn_wide_bwd(
sattn.kernel @wide(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 2, scale = 0.0625) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
