// RUN: rm -rf %t && mkdir -p %t
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90" --sattn-dump-ptx="dir=%t" | FileCheck %s --check-prefix=MLIR
// RUN: FileCheck %s --check-prefix=BF16 --input-file=%t/sattn_causal.ptx
// RUN: FileCheck %s --check-prefix=F16 --input-file=%t/sattn_local_f16.ptx
// RUN: FileCheck %s --check-prefix=SOFTMAX --input-file=%t/sattn_causal.ptx
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80 block-n=32 stages=3" --sattn-dump-ptx="dir=%t/sm_80" -o /dev/null
// RUN: FileCheck %s --check-prefix=SM80 --input-file=%t/sattn_causal.ptx --input-file=%t/sm_80/sattn_causal.ptx

// The pipeline ends in one gpu.binary per kernel holding PTX text; the
// kernels themselves stay (the manifest describes them).
// MLIR:      sattn.kernel @causal
// MLIR:      gpu.binary @sattn_causal  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "
// MLIR:      gpu.binary @sattn_local_f16  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "
// MLIR-NOT:  gpu.module

// The entry point takes the 25 fixed parameters of KERNEL_ABI.md, runs
// 128 threads with no cap on registers for residency (.minnctapersm 1),
// and uses cp.async, ldmatrix (plain for Q and K, transposed
// for V), bf16 tensor-core MMAs and exp2 for the softmax.
// BF16:      .target sm_90
// BF16:      .visible .entry sattn_causal(
// BF16:      .param .u64 .ptr .align 1 sattn_causal_param_0,
// BF16:      .param .u64 sattn_causal_param_24
// BF16-NEXT: )
// BF16-NEXT: .maxntid 128, 1, 1
// BF16-NEXT: .minnctapersm 1
// BF16:      cp.async.cg.shared.global
// BF16:      cp.async.wait_group 0;
// BF16:      ldmatrix.sync.aligned.m8n8.x4.shared.b16
// BF16:      cp.async.wait_group 1;
// BF16:      mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// BF16:      ex2.approx
// BF16:      ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// BF16:      mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// The softmax scale is folded into the exponent: one FFMA per score,
// p = exp2(s * log2(e) * scale - max) (0.088388 * log2(e) = 0x3E0293CC as
// f32), then ex2.approx; no libdevice.
// SOFTMAX:     fma.rn.f32 {{.*}}, 0f3E0293CC,
// SOFTMAX:     ex2.approx.f32
// SOFTMAX-NOT: __nv_

// A table adds one pointer parameter; f16 uses the f16 MMA.
// F16:       .visible .entry sattn_local_f16(
// F16:       .param .u64 .ptr .align 1 sattn_local_f16_param_25
// F16-NEXT:  )
// F16:       mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32

// SM80:      .target sm_80
// SM80:      cp.async.wait_group 2;
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 8, kv_heads = 2, scale = 0.088388) return_lse {
  %0 = mask.causal
  sattn.yield %0
}
sattn.kernel @local_f16(dtype = f16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @segment : i64 ["k/16"]
  %0 = mask.predicate(%b, %h, %q, %k) {
    %1 = mask.lookup @segment[%k] : index
    %c16 = arith.constant 16 : index
    %2 = arith.divsi %q, %c16 : index
    %3 = arith.cmpi eq, %1, %2 : index
    mask.yield %3
  }
  sattn.yield %0
}
