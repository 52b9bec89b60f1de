// nsa's tile stages (stats, importance: queries against chunks of
// compressed keys in static shared memory, four blocks per SM, so at most
// 64 registers) assemble without spills at head_dim 64 and 256, on tensor
// cores (the default) for sm_80, sm_90 and sm_90a and with exact f64 sums
// for sm_80; head_dim 128 is examples-ptxas.test's nsa_s64.
//
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80" --sattn-dump-ptx="dir=%t/sm_80" -o %t/sm_80.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90" --sattn-dump-ptx="dir=%t/sm_90" -o %t/sm_90.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90a" --sattn-dump-ptx="dir=%t/sm_90a" -o %t/sm_90a.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80 exact-estimators=1" --sattn-dump-ptx="dir=%t/exact" -o %t/exact.mlir
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_nsa_d64.ptx -o %t/d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=nsa_d64 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_nsa_d256.ptx -o %t/d256.sm_80.cubin 2>&1 | FileCheck %s -DNAME=nsa_d256 -DARCH=sm_80
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_nsa_d64.ptx -o %t/d64.sm_90.cubin 2>&1 | FileCheck %s -DNAME=nsa_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_nsa_d256.ptx -o %t/d256.sm_90.cubin 2>&1 | FileCheck %s -DNAME=nsa_d256 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90a -v %t/sm_90a/sattn_nsa_d64.ptx -o %t/d64.sm_90a.cubin 2>&1 | FileCheck %s -DNAME=nsa_d64 -DARCH=sm_90a
// RUN: %ptxas -arch=sm_90a -v %t/sm_90a/sattn_nsa_d256.ptx -o %t/d256.sm_90a.cubin 2>&1 | FileCheck %s -DNAME=nsa_d256 -DARCH=sm_90a
// RUN: %ptxas -arch=sm_80 -v %t/exact/sattn_nsa_d64.ptx -o %t/d64.exact.cubin 2>&1 | FileCheck %s -DNAME=nsa_d64 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/exact/sattn_nsa_d256.ptx -o %t/d256.exact.cubin 2>&1 | FileCheck %s -DNAME=nsa_d256 -DARCH=sm_80

// CHECK:      Compiling entry function 'sattn_[[NAME]]_estimate_importance' for '[[ARCH]]'
// CHECK-NEXT: Function properties for sattn_[[NAME]]_estimate_importance
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK:      Compiling entry function 'sattn_[[NAME]]_estimate_stats' for '[[ARCH]]'
// CHECK-NEXT: Function properties for sattn_[[NAME]]_estimate_stats
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

sattn.kernel @nsa_d64(dtype = f16, head_dim = 64, heads = 8, kv_heads = 1, scale = 0.125) {
  %m = mask.nsa compress (32, 16) select (64, 16) window 0 local 2
  sattn.yield %m
}
sattn.kernel @nsa_d256(dtype = bf16, head_dim = 256, heads = 4, kv_heads = 4, scale = 0.0625) {
  %m = mask.nsa compress (16, 8) select (32, 8) window 0 local 1
  sattn.yield %m
}
