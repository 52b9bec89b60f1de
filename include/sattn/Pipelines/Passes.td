//===- Passes.td - sattn's passes of the GPU pipeline ------*- tablegen -*-===//
//
// The passes sattn adds to the upstream NVVM lowering (lib/Pipelines/
// NVVMLowering.cpp): three so that kernels lower with a 32-bit index, one
// for the by-value tensor maps of sm_90a kernels. Registered like
// every other pass, so that the pipeline sattn-compile prints replays in
// sparse-opt.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PIPELINES_PASSES_TD
#define SATTN_PIPELINES_PASSES_TD

include "mlir/Pass/PassBase.td"

def NVGPUToNVVMIndex : Pass<"sattn-nvgpu-to-nvvm"> {
  let summary = "convert-nvgpu-to-nvvm with a chosen index width";
  let description = [{
    The upstream pass builds its type converter with a 64-bit index and has
    no option to change that; its descriptors and index casts then meet
    convert-gpu-to-nvvm's 32-bit ones, and reconcile-unrealized-casts cannot
    remove the pairs. This one lowers nvgpu (ldmatrix, mma.sync, cp.async)
    to NVVM with `index-bitwidth`. It also turns on the NVPTX backend's
    32-bit shared pointers (-nvptx-short-ptr, process-wide), which the
    kernels' shared-memory addressing assumes.
  }];
  let options = [
    Option<"indexBitwidth", "index-bitwidth", "unsigned", "32",
           "bit width of the index type">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect"];
}

def ExpandIntegerAbs : Pass<"sattn-expand-absi"> {
  let summary = "Rewrite math.absi as arith";
  let description = [{
    convert-gpu-to-nvvm maps an i32 `math.absi` to libdevice's `__nv_abs`,
    which the PTX-only flow does not link; this rewrites it as a compare and
    a select.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def FoldMemRefToPointerCasts : Pass<"sattn-fold-memref-pointer-casts"> {
  let summary = "Resolve memref to !llvm.ptr casts to the descriptor's pointer";
  let description = [{
    The kernel builder reads a pointer argument through
    `unrealized_conversion_cast %arg : memref<T> to !llvm.ptr`. After
    convert-gpu-to-nvvm the memref comes from a cast of its bare-pointer
    descriptor; this takes the descriptor's aligned pointer, so that
    reconcile-unrealized-casts finds no memref left.
  }];
}

def TensorMapParams : Pass<"sattn-tensor-map-params"> {
  let summary = "Make the tensor-map parameters of sm_90a kernels by-value grid constants";
  let description = [{
    The sm_90a kernel takes its three CUtensorMaps by value (the runtime
    passes each as a 128-byte kernel parameter). A gpu.func argument cannot
    carry `llvm.byval` or `nvvm.grid_constant` (and convert-gpu-to-nvvm
    drops the former), so the kernel lists the positions in
    `sattn.tensor_map_args`; on the lowered `llvm.func` this pass gives
    those arguments `llvm.byval = !llvm.array<128 x i8>`,
    `llvm.align = 64` and `nvvm.grid_constant`: PTX `.param .align 64 .b8
    [128]` read in place by TMA.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect"];
}

#endif // SATTN_PIPELINES_PASSES_TD
