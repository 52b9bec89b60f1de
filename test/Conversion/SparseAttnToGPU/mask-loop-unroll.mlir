// RUN: sparse-opt %s --sattn-plan-tiles --convert-sattn-to-gpu | FileCheck %s --check-prefix=R16
// RUN: sparse-opt %s --sattn-plan-tiles="rows-per-warp=32 block-n=32" --convert-sattn-to-gpu | FileCheck %s --check-prefix=R32

// PARTIAL tiles build their mask bits in a loop over the thread's 32
// elements. With 16 rows per warp it handles 8 elements per iteration, so
// that table reads of neighbouring elements (branch-free loads) are in
// flight together; with 32 rows per warp the registers are taken by the
// second m16 tile and the loop stays rolled. Two PARTIAL loop variants
// (range, gather) each hold one such loop, and the lookup loads its table
// without a branch.

// R16-LABEL: gpu.func @sattn_doc(
// R16:         scf.for %{{.+}} = %{{.+}} to %c32{{.*}} step %c8{{.*}} iter_args(%{{.+}} = %c0_i32) -> (i32)
// R16-NOT:       scf.if
// R16:           memref.load %{{.+}}[%{{.+}}] : memref<?xi64>
// R16:         scf.for %{{.+}} = %{{.+}} to %c32{{.*}} step %c8{{.*}} iter_args(%{{.+}} = %c0_i32) -> (i32)

// R32-LABEL: gpu.func @sattn_doc(
// R32:         scf.for %{{.+}} = %{{.+}} to %c32{{.*}} step %c1{{.*}} iter_args(%{{.+}} = %c0_i32) -> (i32)
// R32:         scf.for %{{.+}} = %{{.+}} to %c32{{.*}} step %c1{{.*}} iter_args(%{{.+}} = %c0_i32) -> (i32)
sattn.kernel @doc(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @doc : i32 ["b", "k"]
  %c = mask.causal
  %d = mask.document @doc
  %m = mask.intersect %c, %d
  sattn.yield %m
}
