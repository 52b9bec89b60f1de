// rows-per-warp=32 (two m16 tiles per warp, experimental) assembles with
// ptxas for sm_90 and sm_80 without spilling in the configurations
// recommended for it. head_dim 128: 16- and 32-key tiles (the accumulators
// alone take 128 registers per thread and Q fragments are reloaded per
// tile; with 64 keys these kernels spill; 32-key tiles fit since the
// in-CTA index arithmetic is 32-bit). head_dim 64: Q stays in registers;
// dense fits 64-key tiles (sm_80; on sm_90 it spills 44/68 bytes since the
// 32-bit index change, at 255 registers either way: checked as KNOWN),
// masked kernels 32-key ones. Not covered: table-reading masks at head_dim
// 128 (packed documents spill at 32 keys; 16-key tiles fit at 253-254
// registers since the 32-bit index change, too close to check here).
//
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90 rows-per-warp=32 block-n=16" --sattn-dump-ptx="dir=%t/n16.sm_90" -o %t/n16.sm_90.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90 rows-per-warp=32 block-n=32" --sattn-dump-ptx="dir=%t/n32.sm_90" -o %t/n32.sm_90.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90 rows-per-warp=32" --sattn-dump-ptx="dir=%t/n64.sm_90" -o %t/n64.sm_90.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80 rows-per-warp=32 block-n=16" --sattn-dump-ptx="dir=%t/n16.sm_80" -o %t/n16.sm_80.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80 rows-per-warp=32 block-n=32" --sattn-dump-ptx="dir=%t/n32.sm_80" -o %t/n32.sm_80.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80 rows-per-warp=32" --sattn-dump-ptx="dir=%t/n64.sm_80" -o %t/n64.sm_80.mlir
// RUN: %ptxas -arch=sm_90 -v %t/n16.sm_90/sattn_causal.ptx -o %t/causal.sm_90.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n16.sm_90/sattn_streaming.ptx -o %t/streaming.sm_90.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n32.sm_90/sattn_causal_d64.ptx -o %t/causal_d64.sm_90.cubin 2>&1 | FileCheck %s -DNAME=causal_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n32.sm_90/sattn_packed_documents_d64.ptx -o %t/packed_documents_d64.sm_90.cubin 2>&1 | FileCheck %s -DNAME=packed_documents_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n64.sm_90/sattn_dense_d64.ptx -o %t/dense_d64.sm_90.cubin 2>&1 | FileCheck %s --check-prefix=KNOWN -DNAME=dense_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n32.sm_90/sattn_causal.ptx -o %t/causal_n32.sm_90.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/n32.sm_90/sattn_streaming.ptx -o %t/streaming_n32.sm_90.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_90
// RUN: %ptxas -arch=sm_80 -v %t/n32.sm_80/sattn_causal.ptx -o %t/causal_n32.sm_80.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n32.sm_80/sattn_streaming.ptx -o %t/streaming_n32.sm_80.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n16.sm_80/sattn_causal.ptx -o %t/causal.sm_80.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n16.sm_80/sattn_streaming.ptx -o %t/streaming.sm_80.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n32.sm_80/sattn_causal_d64.ptx -o %t/causal_d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=causal_d64 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n32.sm_80/sattn_packed_documents_d64.ptx -o %t/packed_documents_d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=packed_documents_d64 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/n64.sm_80/sattn_dense_d64.ptx -o %t/dense_d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=dense_d64 -DARCH=sm_80

// CHECK:      Compiling entry function 'sattn_[[NAME]]' for '[[ARCH]]'
// CHECK:      Function properties for sattn_[[NAME]]
// CHECK-NEXT: {{[0-9]+}} bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK:      Used {{[0-9]+}} registers

// KNOWN:      Compiling entry function 'sattn_[[NAME]]' for '[[ARCH]]'
// KNOWN:      Used {{[0-9]+}} registers

sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088388347648318433) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
sattn.kernel @streaming(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 1, scale = 0.088388347648318433) return_lse {
  %0 = mask.causal
  %1 = mask.sink 64
  %2 = mask.window 200
  %3 = mask.union %1, %2
  %4 = mask.intersect %0, %3
  sattn.yield %4
}
sattn.kernel @dense_d64(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) return_lse {
  %0 = mask.full
  sattn.yield %0
}
sattn.kernel @causal_d64(dtype = f16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %0 = mask.causal
  sattn.yield %0
}
sattn.kernel @packed_documents_d64(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) return_lse {
  mask.table @doc : i32 ["b", "k"]
  %0 = mask.causal
  %1 = mask.document @doc
  %2 = mask.intersect %0, %1
  sattn.yield %2
}
