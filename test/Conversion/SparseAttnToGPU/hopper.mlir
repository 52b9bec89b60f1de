// RUN: sparse-opt %s --sattn-plan-tiles="chip=sm_90a" --convert-sattn-to-gpu | FileCheck %s
// RUN: sparse-opt %s --sattn-gpu-pipeline="chip=sm_90a" --sattn-dump-ptx=dir=%t -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t/sattn_causal.ptx

// The sm_90a kernel: the ABI's parameters, then the three tensor maps
// (marked for sattn-tensor-map-params), 384 threads in three warpgroups,
// and the launch record of a "wgmma" kernel (128x128 tiles, 2 stages,
// Q + 2 x (K + V) tiles + 1 KiB alignment slack + 9 mbarriers of shared
// memory).
// CHECK:       llvm.mlir.global external @__sattn_dynamic_smem() {addr_space = 3 : i32, alignment = 1024 : i64}
// CHECK:       gpu.func @sattn_causal(
// CHECK-SAME:    %{{.*}}: i64, %[[TMQ:.*]]: !llvm.ptr, %[[TMK:.*]]: !llvm.ptr, %[[TMV:.*]]: !llvm.ptr) kernel
// CHECK-SAME:    nvvm.maxntid = array<i32: 384, 1, 1>
// CHECK-SAME:    sattn.dynamic_shared_memory = 164936 : i64
// CHECK-SAME:    sattn.kernel_family = "wgmma"
// CHECK-SAME:    "num_query_tiles", "tma_q", "tma_k", "tma_v"]
// CHECK-SAME:    sattn.tensor_map_args = array<i64: 25, 26, 27>
// CHECK-SAME:    sattn.warps = 12 : i64

// Thread 0 initialises the barriers: Q's and per stage K/V full (one
// arrival) and empty (one per consumer warpgroup).
// CHECK-COUNT-5: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK:         nvvm.mbarrier.init %{{.*}}, %c2_i32
// CHECK:         nvvm.fence.mbarrier.init
// CHECK:         nvvm.barrier0

// Producer: registers given back, one elected thread; Q in two boxes of 64
// columns, then per KV tile K and V after their stage's "empty" barrier.
// CHECK:         nvvm.setmaxregister  decrease 24
// CHECK:         nvvm.elect.sync
// CHECK:         nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[TMQ]]
// CHECK:         nvvm.mbarrier.try_wait
// CHECK:         nvvm.mbarrier.arrive.expect_tx
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[TMK]]
// CHECK:         nvvm.mbarrier.try_wait
// CHECK:         nvvm.mbarrier.arrive.expect_tx
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[TMV]]

// Consumers: the first KV tile of the stream (S only), then the steady
// step: S(n) and P(n-1) V(n-1) in two commit groups, the softmax between
// waiting for the first and the second; the last P V after the loop.
// CHECK:         nvvm.setmaxregister  increase 240
// CHECK:         nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async {{.*}}B[<bf16>, <one>, <col>]
// CHECK:         nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT:    nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:         nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: nvvm.wgmma.mma_async
// CHECK:         nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK:         nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT:    nvvm.wgmma.wait.group.sync.aligned 1
// CHECK:         ex2.approx.f
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0
// CHECK:         nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK:         nvvm.wgmma.wait.group.sync.aligned 0

// The PTX takes the tensor maps as by-value parameters, read in place by TMA.
// PTX: .target sm_90a
// PTX: .param .align 64 .b8 sattn_causal_param_25[128]
// PTX-DAG: setmaxnreg.dec.sync.aligned.u32 {{.*}}24;
// PTX-DAG: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX-DAG: setmaxnreg.inc.sync.aligned.u32 {{.*}}240;
// PTX-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
sattn.kernel @causal(dtype = bf16, head_dim = 128, heads = 16, kv_heads = 4, scale = 0.088) {
  %c = mask.causal
  sattn.yield %c
}
