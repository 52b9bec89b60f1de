// RUN: sparse-opt %s --sattn-plan-tiles="block-m=128 block-n=128 report-length=32768" -split-input-file -verify-diagnostics | FileCheck %s

// A-shape at 32K: 6.8% of the 128x128 tiles (FlexAttention's block mask
// measured 0.068), one plan shared by all heads.
// CHECK-LABEL: sattn.kernel @streaming
// CHECK-SAME: sattn.tile_plan = {block_m = 128 : i64, block_n = 128 : i64, head_classes = 1 : i64, kernel = "mma_sync", rows_per_warp = 16 : i64, stages = 2 : i64, tiers = ["closed-form"], warps = 8 : i64}
// expected-remark@+1 {{L = 32768: visits 142560 of 2097152 tiles (126720 full, 15840 partial, 0 gathered) in 31648 segments}}
sattn.kernel @streaming(dtype = bf16, head_dim = 128, heads = 32, kv_heads = 8, scale = 0.088) {
  %c = mask.causal
  %s = mask.sink 128
  %w = mask.window 2048
  %u = mask.union %s, %w
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// -----

// S2 token stride 8 with a per-head offset: the strided keys are gathered
// into dense tiles, 8 head classes (h mod 8).
// CHECK-LABEL: sattn.kernel @s2
// CHECK-SAME: head_classes = 8 : i64
// expected-remark@+1 {{L = 32768: visits 85344 of 1048576 tiles (77216 full, 8128 partial, 65024 gathered) in 16224 segments}}
sattn.kernel @s2(dtype = bf16, head_dim = 128, heads = 16, kv_heads = 16, scale = 0.088) {
  %c = mask.causal
  %w = mask.window 512
  %s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>
  %u = mask.union %w, %s
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// -----

// Free-form predicates use the interval and exact tiers; tables are read at
// plan time.
// CHECK-LABEL: sattn.kernel @longformer
// CHECK-SAME: tiers = ["exact", "interval", "runtime-table"]
// expected-remark@+1 {{L = 32768}}
sattn.kernel @longformer(dtype = f16, head_dim = 64, heads = 16, kv_heads = 16, scale = 0.125) {
  mask.table @is_global : i1 ["k"]
  %m = mask.predicate(%b, %h, %q, %k) {
    %c256 = arith.constant 256 : index
    %d = arith.subi %q, %k : index
    %a = math.absi %d : index
    %near = arith.cmpi sle, %a, %c256 : index
    %g = mask.lookup @is_global[%k] : i1
    %y = arith.ori %near, %g : i1
    mask.yield %y
  }
  sattn.yield %m
}

// -----

// Dynamic patterns need an estimator: planning them statically is an error.
sattn.kernel @dynamic(dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.088) {
  // expected-error@+1 {{tile planning does not support 'mask.vertical_slash': dynamic patterns need their estimator}}
  %v = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced (30, 100) block 64
  sattn.yield %v
}
