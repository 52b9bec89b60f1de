// RUN: sparse-opt %s -split-input-file -verify-diagnostics --convert-sattn-to-cpu

// Dynamic patterns have no static element mask: their kernels need the
// estimator's index lists, which the CPU reference does not lower.
sattn.kernel @vs(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2,
                 scale = 0.125) {
  %c = mask.causal
  // expected-error @+1 {{cannot emit element mask code for 'mask.vertical_slash'}}
  %v = mask.vertical_slash vertical 10 slash 20 last_q 64 forced(2, 3) block 64
  %m = mask.intersect %c, %v
  sattn.yield %m
}

// -----

// The generated function must not clobber an existing symbol.
func.func @k_cpu() {
  return
}
// expected-error @+1 {{cannot add @k_cpu: the symbol already exists}}
sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2,
                scale = 0.125) {
  %m = mask.causal
  sattn.yield %m
}
