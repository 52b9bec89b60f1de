// RUN: sparse-opt %s --sattn-lower-estimators --split-input-file --verify-diagnostics

sattn.kernel @many_rows(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.125) {
  // expected-error @below {{has last_q 5000; the compiled estimator scores at most 4096 query rows}}
  %m = mask.vertical_slash vertical 10 slash 20 last_q 5000 forced(2, 3) block 64
  sattn.yield %m
}
