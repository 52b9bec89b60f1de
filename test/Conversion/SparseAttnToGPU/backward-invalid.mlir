// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu="backward=1" -verify-diagnostics

// The backward kernel plans with the forward's tiles. At head_dim 256 the
// Hopper forward's 128 x 64 tiles would leave its Q, dO, K, V, P and dS
// tiles no room in shared memory: refused with the way out (tiles chosen
// with the backward in mind stay portable; sattn-compile --backward does so).
// expected-error@+1 {{cannot build a backward kernel: a backward tile of 128 x 64 at head_dim 256 does not fit in shared memory (sattn-plan-tiles{backward=1} keeps such kernels portable)}}
sattn.kernel @wide(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 2, scale = 0.0625) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
