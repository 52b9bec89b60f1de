// RUN: sparse-opt %s -verify-diagnostics --convert-sattn-to-cpu="block-m=0"

// expected-error @+1 {{CPU lowering needs positive block sizes}}
sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2,
                scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
