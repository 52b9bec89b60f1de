/*===- LaunchCheck.c - drives libsattn_runtime from plain C ----------------===*
 *
 * Loads a kernel from its manifest and launches it with fake device
 * pointers, printing each status, for the lit tests that run it against
 * FakeCuda.c. Written in C99 so that it also proves include/sattn/runtime.h
 * is usable from C. Problem: B = 2, H = 4, KV_H = 2, Lq = 100, Lk = 130,
 * D = 64; Q is a (B, Lq, H, D) buffer viewed as (B, H, Lq, D) and V is
 * broadcast over the batch, so the strides the kernel receives are not the
 * contiguous ones.
 *
 * Scenario "plan" builds the plan on the host from the manifest's mask
 * program (host tables: documents of 40 keys), prints its buffers, uploads
 * it and launches with it. Scenario "tma" is for "wgmma" kernels, whose
 * TMA tensor maps cannot broadcast: it launches with a V of its own (twice),
 * then with the batch-broadcast V and with a Q batch stride of 2^39
 * elements, both of which the tensor maps refuse.
 *
 * Scenario "backward" launches the forward, then the backward pass
 * (sattn_launch_backward) with a contiguous dO and f32 gradients, twice,
 * then with the dO stride of a (B, Lq, H, D) buffer, then its deterministic
 * form (sattn_launch_backward_deterministic: int64 dK and dV, scales).
 *
 * Scenario "block_max" launches through sattn_launch (refused for a kernel
 * compiled with block_max), then sattn_launch_block_max with row_max
 * (B, H, 3, Lq) and block_max (B, H, 2, 3), then with a block_max of the
 * wrong shape and a padded row_max (both refused); a kernel without
 * block_max refuses the outputs.
 *
 * Scenario "estimate" is for kernels with a compiled estimator that takes
 * learned weights (gate): it prints the weights' shape and the workspace
 * size, runs the estimator without weights (refused), with them (the
 * launches), with the (H, D, hidden) of a wq alone (refused) and, when
 * FAKE_CUDA_HOST_POINTER is set, with weights at that address, which the
 * driver does not know (refused).
 *
 * Usage: sattn-runtime-launch-check MANIFEST
 *            basic|contexts|plan|tma|backward|block_max|estimate
 *
 *===----------------------------------------------------------------------===*/

#include "sattn/runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, H = 4, KVH = 2, LQ = 100, LK = 130, D = 64 };

static sattn_tensor tensor(uintptr_t data, sattn_dtype dtype, int rank,
                           const int64_t *shape, const int64_t *strides) {
  sattn_tensor t;
  int i;
  memset(&t, 0, sizeof t);
  t.data = (void *)data;
  t.dtype = dtype;
  t.rank = rank;
  for (i = 0; i < rank; ++i) {
    t.shape[i] = shape[i];
    t.strides[i] = strides[i];
  }
  return t;
}

static void report(const char *what, sattn_status status) {
  printf("%s: %s%s%s\n", what, sattn_status_string(status),
         status == SATTN_OK ? "" : ": ", status == SATTN_OK ? "" : sattn_last_error());
  fflush(stdout);
}

/* Makes `ctx` current through the fake driver itself. */
static void set_context(uintptr_t ctx) {
  void *driver = dlopen(getenv("SATTN_LIBCUDA"), RTLD_NOW);
  int (*set)(void *) = driver ? (int (*)(void *))dlsym(driver, "cuCtxSetCurrent") : NULL;
  if (!set) {
    printf("cannot reach the fake driver\n");
    exit(1);
  }
  set((void *)ctx);
}

static void print_buffer(const char *name, const int64_t *values, int64_t count) {
  int64_t i;
  printf("host %s:", name);
  for (i = 0; i < count; ++i)
    printf(" %lld", (long long)values[i]);
  printf("\n");
}

/* Host plan -> device plan -> launch, then both destroyed. */
static int run_plan(sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k,
                    const sattn_tensor *v, const sattn_tensor *o, const sattn_tensor *lse) {
  static int64_t doc[B * LK], blocks[H * 3 * 3];
  const int64_t docShape[] = {B, LK}, docStrides[] = {LK, 1};
  const int64_t blkShape[] = {H, 3, 3}, blkStrides[] = {9, 3, 1};
  sattn_tensor host[2], device[2];
  sattn_host_plan *plan = NULL;
  sattn_device_plan *uploaded = NULL;
  sattn_plan view;
  int64_t visited = 0, dense = 0, i;
  for (i = 0; i < B * LK; ++i)
    doc[i] = (i % LK) / 40;
  host[0] = tensor((uintptr_t)doc, SATTN_DTYPE_I64, 2, docShape, docStrides);
  host[1] = tensor((uintptr_t)blocks, SATTN_DTYPE_I64, 3, blkShape, blkStrides);
  device[0] = tensor(0x90000, SATTN_DTYPE_I64, 2, docShape, docStrides);
  device[1] = tensor(0xa0000, SATTN_DTYPE_I64, 3, blkShape, blkStrides);
  report("plan build", sattn_plan_build(kernel, B, LQ, LK, host, 2, &plan));
  if (!plan)
    return 1;
  sattn_host_plan_view(plan, &view);
  sattn_host_plan_stats(plan, &visited, &dense);
  printf("host plan: %lld segments, %lld classes, %lld query tiles, %lldx%lld, "
         "%lld of %lld tiles\n",
         (long long)view.num_segments, (long long)view.num_classes,
         (long long)view.num_query_tiles, (long long)view.block_m,
         (long long)view.block_n, (long long)visited, (long long)dense);
  print_buffer("segments", view.segments, view.num_segments * 7);
  print_buffer("offsets", view.offsets, view.num_classes * (view.num_query_tiles + 1));
  print_buffer("class_index", view.class_index, B * H);
  report("plan upload", sattn_plan_upload(plan, &uploaded));
  sattn_host_plan_destroy(plan);
  if (!uploaded)
    return 0;
  const sattn_plan *dev = sattn_device_plan_get(uploaded);
  printf("device plan: %p %p %p\n", (const void *)dev->segments, (const void *)dev->offsets,
         (const void *)dev->class_index);
  report("launch with it", sattn_launch(kernel, q, k, v, o, lse, dev, device, 2, NULL));
  sattn_device_plan_destroy(uploaded);
  printf("device plan destroyed\n");
  return 0;
}

/* The estimator of a gate kernel (Q and K as for the launches; table
 * (B, H, 3, 3); weights (H, 4 * D, hidden) f32 at 0xf0000). */
static int run_estimate(sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k) {
  int64_t shape[3] = {0, 0, 0};
  size_t bytes = 0;
  sattn_status status = sattn_estimator_weights(kernel, shape);
  report("weights shape", status);
  if (status != SATTN_OK)
    return 1;
  printf("weights: (%lld, %lld, %lld) f32\n", (long long)shape[0], (long long)shape[1],
         (long long)shape[2]);
  report("workspace", sattn_estimator_workspace(kernel, B, LK, &bytes));
  printf("workspace: %zu bytes\n", bytes);
  const int64_t tableShape[] = {B, H, 3, 3}, tableStrides[] = {H * 9, 9, 3, 1};
  const int64_t wStrides[] = {shape[1] * shape[2], shape[2], 1};
  const int64_t wqShape[] = {shape[0], shape[1] / 4, shape[2]};
  const int64_t wqStrides[] = {shape[1] / 4 * shape[2], shape[2], 1};
  sattn_tensor table = tensor(0xa0000, SATTN_DTYPE_I64, 4, tableShape, tableStrides);
  sattn_tensor weights = tensor(0xf0000, SATTN_DTYPE_F32, 3, shape, wStrides);
  sattn_tensor wq = tensor(0xf0000, SATTN_DTYPE_F32, 3, wqShape, wqStrides);
  sattn_tensor hostWeights = weights;
  void *workspace = (void *)0x200000;
  report("run without weights",
         sattn_estimator_run(kernel, q, k, &table, workspace, bytes, (void *)0x1234));
  report("run with weights", sattn_estimator_run_weighted(kernel, q, k, &weights, &table,
                                                          workspace, bytes, (void *)0x1234));
  report("run with wq alone", sattn_estimator_run_weighted(kernel, q, k, &wq, &table, workspace,
                                                           bytes, (void *)0x1234));
  if (getenv("FAKE_CUDA_HOST_POINTER")) {
    hostWeights.data = (void *)(uintptr_t)strtoull(getenv("FAKE_CUDA_HOST_POINTER"), NULL, 0);
    report("run with host weights",
           sattn_estimator_run_weighted(kernel, q, k, &hostWeights, &table, workspace, bytes,
                                        (void *)0x1234));
  }
  return 0;
}

int main(int argc, char **argv) {
  sattn_kernel *kernel = NULL;
  sattn_status status;
  if (argc != 3) {
    fprintf(stderr,
            "usage: %s MANIFEST basic|contexts|plan|tma|backward|block_max|estimate\n",
            argv[0]);
    return 2;
  }
  status = sattn_kernel_load_file(argv[1], &kernel);
  report("load", status);
  if (status != SATTN_OK)
    return 1;

  const int64_t qShape[] = {B, H, LQ, D}, qStrides[] = {LQ * H * D, D, H * D, 1};
  const int64_t kvShape[] = {B, KVH, LK, D}, kStrides[] = {KVH * LK * D, LK * D, D, 1};
  const int64_t vStrides[] = {0, LK * D, D, 1};
  const int64_t oStrides[] = {H * LQ * D, LQ * D, D, 1};
  const int64_t lseShape[] = {B, H, LQ}, lseStrides[] = {H * LQ, LQ, 1};
  const int64_t docShape[] = {B, LK}, docStrides[] = {LK, 1};
  const int64_t blkShape[] = {H, 3, 3}, blkStrides[] = {9, 3, 1};
  sattn_tensor q = tensor(0x10000, SATTN_DTYPE_BF16, 4, qShape, qStrides);
  sattn_tensor k = tensor(0x20000, SATTN_DTYPE_BF16, 4, kvShape, kStrides);
  sattn_tensor v = tensor(0x30000, SATTN_DTYPE_BF16, 4, kvShape, vStrides);
  sattn_tensor o = tensor(0x40000, SATTN_DTYPE_BF16, 4, qShape, oStrides);
  sattn_tensor lse = tensor(0x50000, SATTN_DTYPE_F32, 3, lseShape, lseStrides);
  sattn_tensor tables[2];
  tables[0] = tensor(0x90000, SATTN_DTYPE_I64, 2, docShape, docStrides);
  tables[1] = tensor(0xa0000, SATTN_DTYPE_I64, 3, blkShape, blkStrides);
  sattn_plan plan = {(const int64_t *)0x60000, 12, (const int64_t *)0x70000, 1,
                     (const int64_t *)0x80000, 2, 64, 64};
  const sattn_tensor *lsePtr = sattn_kernel_returns_lse(kernel) ? &lse : NULL;

#define LAUNCH(stream)                                                         \
  sattn_launch(kernel, &q, &k, &v, &o, lsePtr, &plan, tables, 2, (void *)(stream))
  if (strcmp(argv[2], "basic") == 0) {
    report("launch", LAUNCH(0x1234));
    report("launch again", LAUNCH(0x1234));
  } else if (strcmp(argv[2], "contexts") == 0) {
    set_context(0x2000);
    report("launch in 0x2000", LAUNCH(0));
    set_context(0x1001);
    report("launch in 0x1001", LAUNCH(0));
    report("launch in 0x1001 again", LAUNCH(0));
    set_context(0x2000);
  } else if (strcmp(argv[2], "tma") == 0) {
    const int64_t hugeStrides[] = {(int64_t)1 << 39, D, H * D, 1};
    sattn_tensor ownV = tensor(0x30000, SATTN_DTYPE_BF16, 4, kvShape, kStrides);
    sattn_tensor hugeQ = tensor(0x10000, SATTN_DTYPE_BF16, 4, qShape, hugeStrides);
    report("launch", sattn_launch(kernel, &q, &k, &ownV, &o, lsePtr, &plan, tables, 2,
                                  (void *)0x1234));
    report("launch again", sattn_launch(kernel, &q, &k, &ownV, &o, lsePtr, &plan, tables, 2,
                                        (void *)0x1234));
    report("launch with broadcast v", LAUNCH(0x1234));
    report("launch with a 2^39 q batch stride",
           sattn_launch(kernel, &hugeQ, &k, &ownV, &o, lsePtr, &plan, tables, 2, NULL));
  } else if (strcmp(argv[2], "backward") == 0) {
    const int64_t dStrides[] = {H * LQ * D, LQ * D, D, 1};
    const int64_t kvStrides[] = {KVH * LK * D, LK * D, D, 1};
    sattn_tensor dO = tensor(0xb0000, SATTN_DTYPE_BF16, 4, qShape, dStrides);
    sattn_tensor dOStrided = tensor(0xb0000, SATTN_DTYPE_BF16, 4, qShape, qStrides);
    sattn_tensor dQ = tensor(0xc0000, SATTN_DTYPE_F32, 4, qShape, dStrides);
    sattn_tensor dK = tensor(0xd0000, SATTN_DTYPE_F32, 4, kvShape, kvStrides);
    sattn_tensor dV = tensor(0xe0000, SATTN_DTYPE_F32, 4, kvShape, kvStrides);
    printf("has backward: %d\n", (int)sattn_kernel_has_backward(kernel));
    report("forward", LAUNCH(0x1234));
#define BACKWARD(dout)                                                         \
  sattn_launch_backward(kernel, &q, &k, &v, &o, &lse, &(dout), &dQ, &dK, &dV, &plan, tables, 2, \
                        (void *)0x1234)
    report("backward", BACKWARD(dO));
    report("backward again", BACKWARD(dO));
    report("backward with a strided d_o", BACKWARD(dOStrided));
#undef BACKWARD
    {
      /* The deterministic form: int64 dK and dV, the scale pair. */
      const int64_t pairShape[] = {2}, pairStrides[] = {1};
      sattn_tensor scales = tensor(0xf0000, SATTN_DTYPE_F32, 1, pairShape, pairStrides);
      sattn_tensor fixedK = tensor(0xd0000, SATTN_DTYPE_I64, 4, kvShape, kvStrides);
      sattn_tensor fixedV = tensor(0xe8000, SATTN_DTYPE_I64, 4, kvShape, kvStrides);
      report("deterministic backward",
             sattn_launch_backward_deterministic(kernel, &q, &k, &v, &o, &lse, &dO, &dQ,
                                                 &fixedK, &fixedV, &scales, &plan, tables, 2,
                                                 (void *)0x1234));
    }
  } else if (strcmp(argv[2], "block_max") == 0) {
    /* Lk = 130: 3 KV tiles of 64; the plan's 2 query tiles. */
    const int64_t rowShape[] = {B, H, 3, LQ}, rowStrides[] = {H * 3 * LQ, 3 * LQ, LQ, 1};
    const int64_t paddedStrides[] = {H * 3 * (LQ + 4), 3 * (LQ + 4), LQ + 4, 1};
    const int64_t blockShape[] = {B, H, 2, 3}, blockStrides[] = {H * 6, 6, 3, 1};
    const int64_t wrongShape[] = {B, H, 2, 2}, wrongStrides[] = {H * 4, 4, 2, 1};
    sattn_tensor rowMax = tensor(0x100000, SATTN_DTYPE_F32, 4, rowShape, rowStrides);
    sattn_tensor paddedRows = tensor(0x100000, SATTN_DTYPE_F32, 4, rowShape, paddedStrides);
    sattn_tensor blockMax = tensor(0x180000, SATTN_DTYPE_F32, 4, blockShape, blockStrides);
    sattn_tensor wrong = tensor(0x180000, SATTN_DTYPE_F32, 4, wrongShape, wrongStrides);
    printf("has block max: %d\n", (int)sattn_kernel_has_block_max(kernel));
    report("launch", LAUNCH(0x1234));
#define BLOCK_MAX(rows, blocks)                                                \
  sattn_launch_block_max(kernel, &q, &k, &v, &o, lsePtr, &(rows), &(blocks), &plan, tables, 2, \
                         (void *)0x1234)
    report("block max", BLOCK_MAX(rowMax, blockMax));
    report("block max with a (B, H, 2, 2) block_max", BLOCK_MAX(rowMax, wrong));
    report("block max with padded row_max rows", BLOCK_MAX(paddedRows, blockMax));
#undef BLOCK_MAX
    report("validate", sattn_validate_block_max(kernel, &q, &k, &v, &o, lsePtr, &rowMax,
                                                &blockMax, &plan, tables, 2));
  } else if (strcmp(argv[2], "estimate") == 0) {
    int status2 = run_estimate(kernel, &q, &k);
    if (status2 != 0)
      return status2;
  } else if (strcmp(argv[2], "plan") == 0) {
    int status2 = run_plan(kernel, &q, &k, &v, &o, lsePtr);
    if (status2 != 0)
      return status2;
  } else {
    fprintf(stderr, "unknown scenario %s\n", argv[2]);
    return 2;
  }
  sattn_kernel_destroy(kernel);
  printf("destroyed\n");
  return 0;
}
