//===- Passes.td - sattn conversion passes -----------------*- tablegen -*-===//
//
// Conversions out of the sattn dialect. Each backend (CPU reference, GPU)
// turns every `sattn.kernel` into functions of upstream dialects that run
// the tiled, planned attention algorithm.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_PASSES_TD
#define SATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSparseAttnToCPU : Pass<"convert-sattn-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower planned sparse attention kernels to scf/memref/arith/math";
  let description = [{
    For every `sattn.kernel @NAME` adds `func.func @NAME_cpu` (with
    `llvm.emit_c_interface`) that runs FlashAttention-2 online-softmax
    attention over a tile plan, one query tile of `block-m` rows at a time
    and one KV tile of `block-n` keys at a time, exactly like the GPU
    kernels: per query tile it walks the plan's segments (KV tile ranges and
    strided gathers), applies the element mask only on PARTIAL segments and
    keeps running row maxima and sums in fp32 with `exp2` on pre-scaled
    logits. Arguments, in order:

      Q (B, H, Lq, D), K and V (B, KV_H, Lk, D), O (B, H, Lq, D), each
        memref<?x?x?x?xf32, strided<[?,?,?,1], offset: ?>>;
      LSE (B, H, Lq): memref<?x?x?xf32, strided<[?,?,1], offset: ?>>;
      segments memref<?x7xi64>, offsets memref<?xi64>,
      classIndex memref<?xi64> (the buffers of `plan::FlatPlan`), and
      one memref<?xi64> per `mask.table` in declaration order, row-major.

    This is the reference path that CI executes: inputs and all arithmetic
    are fp32 whatever the kernel's `dtype`. The block sizes must be those
    the plan was built with. Named patterns are first rewritten into
    predicates (`sattn-expand-masks`, on a private copy of the kernel, so
    the kernel itself is left untouched). Dynamic patterns are rejected;
    a kernel whose estimator `sattn-lower-estimators` compiled (attribute
    `sattn.estimator`) also gets `func.func @NAME_estimate_cpu(Q, K, q_sb,
    q_sh, q_ss, k_sb, k_sh, k_ss, lq, lk, batch, pooled, table)`: the
    estimator's stages as loops, Q and K as flat memref<?xf32>, the scratch
    memref<?xf64> and the estimated table memref<?xi64>.
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Query rows per tile (the plan's BM)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Keys per KV tile (the plan's BN)">,
    Option<"eraseKernels", "erase-kernels", "bool", /*default=*/"false",
           "Erase the sattn.kernel ops once lowered (for pipelines that "
           "must end in the LLVM dialect)">,
    Option<"devicePlans", "device-plans", "bool", /*default=*/"false",
           "Also add @NAME_plan_cpu, the device plan builder's stages as "
           "loops (sattn/Conversion/DevicePlan.h), which writes the "
           "plan of block-m x block-n tiles">,
    Option<"devicePlanLists", "device-plan-lists", "bool", /*default=*/"true",
           "Let @NAME_plan_cpu list the key columns of a column term as List "
           "segments and gather the keys of a lattice term as Gather segments "
           "(docs/DEVICE_PLANS.md, \"Column lists\", \"Lattice gathers\"); false builds "
           "the Range-only plan the host planner builds without gathers">,
    Option<"estimatorLaunches", "estimator-launches", "int64_t",
           /*default=*/"-1",
           "Build @NAME_estimate_cpu with only the first N launches of the "
           "estimator (abi::EstimatorShape::launches; -1: all), so that a "
           "test can read what the stages before the selection left in the "
           "table (vertical_slash's scores as order codes after 3)">,
    Option<"tensorEstimators", "tensor-estimators", "bool", /*default=*/"false",
           "Build @NAME_estimate_cpu as a GPU's tensor-core build computes: "
           "logits of query rows as f32 sums (in order) of the exact "
           "products, handed to the stage through its tile buffer, so that "
           "CI runs that form's stage code (docs/ESTIMATORS.md, \"Exact and "
           "tensor-core logits\"); default: f64 sums, the reference's tables">,
    Option<"backward", "backward", "bool", /*default=*/"false",
           "Also add @NAME_bwd_cpu(Q, K, V, O, LSE, dO, dQ, dK, dV, "
           "segments, offsets, classIndex, tables...), the gradients of "
           "the planned attention over the same plan (FlashAttention-2's "
           "backward from the forward's LSE)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::sattn::mask::MaskDialect",
  ];
}

def ConvertSparseAttnToGPU : Pass<"convert-sattn-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower planned sparse attention kernels to gpu/nvgpu/nvvm";
  let description = [{
    For every `sattn.kernel @NAME` adds `gpu.module @sattn_NAME` holding the
    kernel `gpu.func @sattn_NAME` of docs/KERNEL_ABI.md: FlashAttention-2
    over the tile plan with tensor cores (ldmatrix + mma.sync m16n8k16,
    fp32 accumulators) and cp.async multi-stage loads of K/V tiles. One CTA
    per (query tile, head, batch), 16 or 32 query rows per warp. The kernel walks
    the plan's segments for its query tile: range segments load whole KV
    tiles, gather segments load the gathered key rows as dense tiles; FULL
    segments run without mask code, PARTIAL ones apply the element mask.

    Where the record says `kernel = "wgmma"` (sattn-plan-tiles{chip=sm_90a})
    the kernel is the sm_90a one instead: a producer warpgroup loads Q and
    every KV tile of the plan (Range segments only) by TMA into an
    mbarrier ring, two consumer warpgroups run wgmma (S = Q K^T from shared
    memory, O += P V with P in registers) with the softmax of one KV tile
    overlapped with P V of the previous one. It takes three CUtensorMaps by
    value after the tables (docs/KERNEL_ABI.md), marked for
    `sattn-tensor-map-params`.

    The tile configuration is read from the `sattn.tile_plan` attribute
    that `sattn-plan-tiles` records on each kernel (block sizes, rows per
    warp, warps, stages); a kernel without one is an error. Pointers are 0-d
    memrefs, meant for `convert-gpu-to-nvvm` with
    `use-bare-ptr-memref-call-conv=1`. The configuration is recorded with
    the launch parameters as `sattn.*` attributes on the gpu.func
    (sattn/Target/LaunchInfo.h). Named patterns are expanded into predicates
    on a private copy of each kernel, which is left in place.

    The same gpu.module also gets the kernel's device plan builder
    (docs/DEVICE_PLANS.md): `gpu.func @sattn_NAME_plan_{summarize,classify,
    resolve,count,scan,write}`, which build the kernel's Range-only tile plan on the
    GPU from the lengths and the runtime tables; the attention gpu.func
    records `sattn.device_plan` (the batch and head axes of plan classes).
  }];
  let options = [
    Option<"exactEstimators", "exact-estimators", "bool", /*default=*/"false",
           "Compute an estimator's logits of query rows in f64 in the "
           "reference's order (tables equal to the reference's bit for bit) "
           "instead of on tensor cores (f32 sums; docs/ESTIMATORS.md)">,
    Option<"backward", "backward", "bool", /*default=*/"false",
           "Also build `gpu.func @sattn_NAME_bwd`, the backward kernel over "
           "the same plan (dQ, dK, dV; docs/KERNEL_ABI.md, \"Backward "
           "kernel\"), recorded as sattn.backward on the attention gpu.func">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
    "::sattn::mask::MaskDialect",
  ];
}

#endif // SATTN_CONVERSION_PASSES_TD
