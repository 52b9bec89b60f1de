// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu="backward=1" -verify-diagnostics

// The backward kernel keeps dQ of 16 rows in registers beside a chunk's S
// and dP: past head_dim 128 it would spill, so it is refused by name.
// expected-error@+1 {{cannot build a backward kernel: the backward kernel supports head_dim up to 128 (this kernel has 256)}}
sattn.kernel @wide(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 2, scale = 0.0625) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
