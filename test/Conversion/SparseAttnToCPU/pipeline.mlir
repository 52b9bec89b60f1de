// RUN: sparse-opt %s --sattn-cpu-pipeline="block-m=16 block-n=8" | FileCheck %s \
// RUN:   --implicit-check-not=sattn. --implicit-check-not=mask. \
// RUN:   --implicit-check-not=scf. --implicit-check-not=memref. \
// RUN:   --implicit-check-not=arith. --implicit-check-not=math. \
// RUN:   --implicit-check-not=func.func --implicit-check-not=cf. \
// RUN:   --implicit-check-not=unrealized_conversion_cast

// sattn-cpu-pipeline reaches the LLVM dialect only: the kernel is erased and
// @NAME_cpu plus its C-interface wrapper remain, ready for the JIT.

// CHECK-LABEL: llvm.func @streaming_cpu(
// CHECK:         llvm.call @malloc
// CHECK:         llvm.intr.exp2
// CHECK:         llvm.intr.log
// CHECK:         llvm.call @free
// CHECK-LABEL: llvm.func @_mlir_ciface_streaming_cpu(
// CHECK:         llvm.call @streaming_cpu(
sattn.kernel @streaming(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 1,
                        scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  %c = mask.causal
  %s = mask.sink 4
  %w = mask.window 9
  %t = mask.tail_queries 3
  %d = mask.document @doc
  %u = mask.union %s, %w, %t
  %i = mask.intersect %c, %u, %d
  sattn.yield %i
}
