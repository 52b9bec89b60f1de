// sattn-dump-ptx{ptxas-arch=...} runs the library's ptxas wrapper and
// reports what it parsed from `ptxas -v`.
// REQUIRES: ptxas
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_80" --sattn-dump-ptx="ptxas-arch=sm_80" -o /dev/null 2>&1 | FileCheck %s
// RUN: not sparse-opt %s --sattn-gpu-pipeline="chip=sm_90" --sattn-dump-ptx="ptxas-arch=sm_80" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REJECT
// RUN: not sparse-opt %s --sattn-dump-ptx 2>&1 | FileCheck %s --check-prefix=USAGE

// CHECK: remark: ptxas sm_80: sattn_causal: {{[1-9][0-9]*}} registers, 0 bytes spill stores, 0 bytes spill loads, 0 bytes stack frame

// PTX for sm_90 is not valid sm_80 code; the log says why.
// REJECT: error: ptxas rejected the PTX:
// REJECT: SM version specified by .target is higher than default SM version assumed

// USAGE: error: sattn-dump-ptx needs dir=<directory> or ptxas-arch=<sm_XX>
sattn.kernel @causal(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %0 = mask.causal
  sattn.yield %0
}
