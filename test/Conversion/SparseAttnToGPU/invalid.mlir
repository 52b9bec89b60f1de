// RUN: sparse-opt %s --convert-sattn-to-gpu -split-input-file -verify-diagnostics

// Dynamic patterns have no element mask; they need their estimator.
sattn.kernel @vertical_slash(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  // expected-error@+1 {{cannot emit element mask code for 'mask.vertical_slash'}}
  %0 = mask.vertical_slash vertical 100 slash 750 last_q 64 forced(30, 100) block 64
  sattn.yield %0
}

// -----

// The kernel's module is named after it; an existing symbol is not
// overwritten.
module {
  // expected-error@+1 {{cannot add @sattn_causal: the symbol already exists}}
  sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 1, kv_heads = 1, scale = 0.125) {
    %0 = mask.causal
    sattn.yield %0
  }
  func.func private @sattn_causal()
}
