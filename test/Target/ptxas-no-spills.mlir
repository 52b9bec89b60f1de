// Every kernel the GPU path must cover assembles with ptxas for sm_90 and
// sm_80 without spilling: causal (GQA), streaming (causal & (sink | window),
// MQA), S2 (strided keys gathered into dense tiles), packed documents (a
// [b, k] table), a block table, a free-form predicate with table lookups,
// head_dim 64 and 128, bf16 and f16.
//
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90" --sattn-dump-ptx="dir=%t/sm_90" -o %t/sm_90.mlir
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80" --sattn-dump-ptx="dir=%t/sm_80" -o %t/sm_80.mlir
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_causal.ptx -o %t/causal.sm_90.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_streaming.ptx -o %t/streaming.sm_90.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_s2.ptx -o %t/s2.sm_90.cubin 2>&1 | FileCheck %s -DNAME=s2 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_packed_documents.ptx -o %t/packed_documents.sm_90.cubin 2>&1 | FileCheck %s -DNAME=packed_documents -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_block_sparse.ptx -o %t/block_sparse.sm_90.cubin 2>&1 | FileCheck %s -DNAME=block_sparse -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_longformer.ptx -o %t/longformer.sm_90.cubin 2>&1 | FileCheck %s -DNAME=longformer -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_causal_f16_d64.ptx -o %t/causal_f16_d64.sm_90.cubin 2>&1 | FileCheck %s -DNAME=causal_f16_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_90 -v %t/sm_90/sattn_dense_bf16_d64.ptx -o %t/dense_bf16_d64.sm_90.cubin 2>&1 | FileCheck %s -DNAME=dense_bf16_d64 -DARCH=sm_90
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_causal.ptx -o %t/causal.sm_80.cubin 2>&1 | FileCheck %s -DNAME=causal -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_streaming.ptx -o %t/streaming.sm_80.cubin 2>&1 | FileCheck %s -DNAME=streaming -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_s2.ptx -o %t/s2.sm_80.cubin 2>&1 | FileCheck %s -DNAME=s2 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_packed_documents.ptx -o %t/packed_documents.sm_80.cubin 2>&1 | FileCheck %s -DNAME=packed_documents -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_block_sparse.ptx -o %t/block_sparse.sm_80.cubin 2>&1 | FileCheck %s -DNAME=block_sparse -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_longformer.ptx -o %t/longformer.sm_80.cubin 2>&1 | FileCheck %s -DNAME=longformer -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_causal_f16_d64.ptx -o %t/causal_f16_d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=causal_f16_d64 -DARCH=sm_80
// RUN: %ptxas -arch=sm_80 -v %t/sm_80/sattn_dense_bf16_d64.ptx -o %t/dense_bf16_d64.sm_80.cubin 2>&1 | FileCheck %s -DNAME=dense_bf16_d64 -DARCH=sm_80

// CHECK:      Compiling entry function 'sattn_[[NAME]]' for '[[ARCH]]'
// CHECK:      Function properties for sattn_[[NAME]]
// CHECK-NEXT: {{[0-9]+}} bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK:      Used {{[0-9]+}} registers

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
sattn.kernel @s2(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088388347648318433) return_lse {
  %0 = mask.causal
  %1 = mask.window 100
  %2 = mask.strided stride 8 offset affine_map<(d0) -> (d0 mod 8)>
  %3 = mask.union %1, %2
  %4 = mask.intersect %0, %3
  sattn.yield %4
}
sattn.kernel @packed_documents(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) return_lse {
  mask.table @doc : i32 ["b", "k"]
  %0 = mask.causal
  %1 = mask.document @doc
  %2 = mask.intersect %0, %1
  sattn.yield %2
}
sattn.kernel @block_sparse(dtype = f16, head_dim = 128, heads = 4, kv_heads = 2, scale = 0.088388347648318433) return_lse {
  mask.table @keep : i1 ["h", "q/64", "k/64"]
  %0 = mask.causal
  %1 = mask.block_table @keep block 64
  %2 = mask.intersect %0, %1
  sattn.yield %2
}
sattn.kernel @longformer(dtype = f16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) return_lse {
  mask.table @is_global : i1 ["k"]
  %0 = mask.predicate(%b, %h, %q, %k) {
    %1 = arith.subi %q, %k : index
    %2 = math.absi %1 : index
    %c40 = arith.constant 40 : index
    %3 = arith.cmpi sle, %2, %c40 : index
    %4 = mask.lookup @is_global[%q] : i1
    %5 = arith.ori %3, %4 : i1
    %6 = mask.lookup @is_global[%k] : i1
    %7 = arith.ori %5, %6 : i1
    mask.yield %7
  }
  sattn.yield %0
}
sattn.kernel @causal_f16_d64(dtype = f16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %0 = mask.causal
  sattn.yield %0
}
sattn.kernel @dense_bf16_d64(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) return_lse {
  %0 = mask.full
  sattn.yield %0
}
