// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu -split-input-file | FileCheck %s

// The sm_90a kernel built with gathers (S2's strided keys): the producer
// warpgroup (40 registers) runs the load stream on all its threads, and a
// KV tile's "full" barriers count all 128. For a gathered K tile, the
// threads write the stage's key slots, meet at the producer's named
// barrier, copy 16-byte chunks of the rows with cp.async (one per pass) and
// each arrives once its copies land (.noinc); a Range tile is thread 0's
// expect-tx and TMA boxes plus 127 plain arrivals. Consumers (232
// registers) fence the generic-proxy copies before their wgmma reads.
// Shared memory: 1 KiB + (128 + 2 x 2 x 128) x 128 x 2 bytes + 9 mbarriers
// + 2 stages x 128 key slots x 4 bytes.
// CHECK-LABEL: gpu.func @sattn_s2(
// CHECK-SAME:    sattn.dynamic_shared_memory = 165960 : i64
// CHECK-SAME:    sattn.kernel_family = "wgmma"
// CHECK-SAME:    sattn.plan_gathers = true
// Q's barrier counts one arrival, K's and V's 128 per stage.
// CHECK:         nvvm.mbarrier.init %{{.+}}, %c1_i32
// CHECK-COUNT-2: nvvm.mbarrier.init %{{.+}}, %c128_i32
// CHECK:         nvvm.setmaxregister  decrease 40
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// K of a gathered tile:
// CHECK:         llvm.store {{.*}} : i32, !llvm.ptr<3>
// CHECK:         nvvm.barrier id = {{.*}} number_of_threads = %c128_i32
// CHECK:         scf.for
// CHECK:           nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg, {{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK:         nvvm.cp.async.mbarrier.arrive %{{.+}} {noinc = true}
// CHECK-NOT:     nvvm.barrier id
// K of a Range tile: thread 0's boxes, the others' arrivals.
// CHECK:         nvvm.mbarrier.arrive.expect_tx
// CHECK:         nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:         } else {
// CHECK-NEXT:      nvvm.mbarrier.arrive
// V of a gathered tile (the key slots are already written):
// CHECK-NOT:     llvm.store {{.*}} : i32, !llvm.ptr<3>
// CHECK:         nvvm.cp.async.shared.global
// CHECK:         nvvm.cp.async.mbarrier.arrive %{{.+}} {noinc = true}
// CHECK:         nvvm.setmaxregister  increase 232
// CHECK:         nvvm.mbarrier.try_wait
// CHECK:         nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK:         nvvm.wgmma.fence.aligned
sattn.kernel @s2(dtype = bf16, head_dim = 128, heads = 16, kv_heads = 16, scale = 0.088) {
  %c = mask.causal
  %w = mask.window 512
  %s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>
  %u = mask.union %w, %s
  %m = mask.intersect %c, %u
  sattn.yield %m
}

// -----

// A mask without gathered keys keeps the lean kernel: one elected producer
// thread, no cp.async, no fence, no key slots.
// CHECK-LABEL: gpu.func @sattn_causal(
// CHECK-SAME:    sattn.dynamic_shared_memory = 164936 : i64
// CHECK-SAME:    sattn.plan_gathers = false
// CHECK:         nvvm.setmaxregister  decrease 24
// CHECK:         nvvm.elect.sync
// CHECK-NOT:     nvvm.cp.async.shared.global
// CHECK-NOT:     nvvm.fence.proxy
// CHECK:         nvvm.setmaxregister  increase 240
// CHECK-NOT:     nvvm.fence.proxy
// CHECK:         gpu.return
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 16, kv_heads = 16, scale = 0.088) {
  %c = mask.causal
  sattn.yield %c
}
