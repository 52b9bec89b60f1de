/*===- examples/embed_c/main.c - a sattn kernel in a plain C program -----===*
 *
 * Runs the `streaming` kernel of examples/streaming.sattn (causal & (sink(128)
 * | window(2048)), bf16, head_dim 128, 32 query heads over 8 K/V heads) from
 * a C program that knows nothing of MLIR or Python: the kernel comes from
 * the header sattn-compile generated (streaming.h embeds the manifest and
 * the cubin/PTX), the tile plan is built by libsattn_runtime for the actual
 * sequence length, and buffers are plain CUDA driver allocations. Like the
 * runtime, the program opens the driver with dlopen (once the runtime has
 * found a device), so it links libsattn_runtime alone and starts on machines
 * without a GPU, where it stops with "no usable CUDA device" and status 2.
 *
 * It checks its own result: a float reference of the same mask on sampled
 * rows of every head, relative error <= 1e-2 (bf16 inputs), every output
 * element written (the output is poisoned with NaN before the launch).
 *
 * Build and run: see README.md next to this file. Exit status: 0 passed,
 * 1 wrong result or a sattn/CUDA error, 2 no usable CUDA device.
 *
 *===----------------------------------------------------------------------===*/

#include "streaming.h" /* generated: sattn-compile streaming.sattn -o DIR */

#include "common.h"

#include <math.h>

enum { BATCH = 1, HEADS = 32, KV_HEADS = 8, DIM = 128, SINK = 128, WINDOW = 2048 };

/* The mask the kernel was compiled from, written out for the check. */
static int keep(const void *ctx, long h, long q, long k) {
  (void)ctx, (void)h;
  return k <= q && (k < SINK || q - WINDOW < k);
}

/* A contiguous (B, heads, L, D) descriptor. */
static sattn_tensor tensor4(void *data, sattn_dtype dtype, long heads, long len,
                            long dim) {
  const long shape[4] = {BATCH, heads, len, dim};
  return contiguous(data, dtype, 4, shape);
}

int main(int argc, char **argv) {
  const long len = argc > 1 ? atol(argv[1]) : 3000;
  if (len <= 0) {
    fprintf(stderr, "usage: %s [sequence length > 0]\n", argv[0]);
    return 1;
  }

  sattn_kernel *kernel = NULL;
  if (check_sattn(sattn_streaming_load(&kernel), "sattn_streaming_load"))
    return 1;
  printf("kernel %s: heads %lld/%lld, head_dim %lld, tiles %lldx%lld\n",
         sattn_kernel_name(kernel), (long long)sattn_kernel_heads(kernel),
         (long long)sattn_kernel_kv_heads(kernel),
         (long long)sattn_kernel_head_dim(kernel),
         (long long)sattn_kernel_block_m(kernel),
         (long long)sattn_kernel_block_n(kernel));

  /* The plan for this length, built on the host by the runtime. */
  sattn_host_plan *host_plan = NULL;
  if (check_sattn(sattn_plan_build(kernel, BATCH, len, len, NULL, 0, &host_plan),
                  "sattn_plan_build"))
    return 1;
  int64_t visited = 0, dense = 0;
  sattn_host_plan_stats(host_plan, &visited, &dense);
  printf("plan for L = %ld: %lld of %lld KV tiles visited (%.1fx fewer)\n", len,
         (long long)visited, (long long)dense,
         visited ? (double)dense / (double)visited : 0.0);

  /* The first driver call: the runtime opens the driver and makes device 0's
   * primary context current (the one the buffers below are allocated in). */
  sattn_device_plan *plan = NULL;
  sattn_status uploaded = sattn_plan_upload(host_plan, &plan);
  if (uploaded == SATTN_ERROR_NO_DRIVER || uploaded == SATTN_ERROR_NO_DEVICE) {
    fprintf(stderr, "no usable CUDA device: %s\n", sattn_last_error());
    return 2;
  }
  if (check_sattn(uploaded, "sattn_plan_upload"))
    return 1;
  if (open_driver()) {
    fprintf(stderr, "the CUDA driver library lacks the memory functions this program uses\n");
    return 1;
  }

  const size_t q_elems = (size_t)BATCH * HEADS * len * DIM;
  const size_t kv_elems = (size_t)BATCH * KV_HEADS * len * DIM;
  uint16_t *q = malloc(q_elems * 2), *k = malloc(kv_elems * 2),
           *v = malloc(kv_elems * 2), *o = malloc(q_elems * 2);
  if (!q || !k || !v || !o) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (size_t i = 0; i < q_elems; ++i)
    q[i] = to_bf16(uniform());
  for (size_t i = 0; i < kv_elems; ++i)
    k[i] = to_bf16(uniform()), v[i] = to_bf16(uniform());

  CUdeviceptr dq, dk, dv, d_o;
  if (check_cuda(cu.memAlloc(&dq, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dk, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dv, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&d_o, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memcpyHtoD(dq, q, q_elems * 2), "copy q") ||
      check_cuda(cu.memcpyHtoD(dk, k, kv_elems * 2), "copy k") ||
      check_cuda(cu.memcpyHtoD(dv, v, kv_elems * 2), "copy v") ||
      /* 0xffff is a bf16 NaN: anything the kernel leaves unwritten shows. */
      check_cuda(cu.memsetD16(d_o, 0xffff, q_elems), "poison o"))
    return 1;
  sattn_tensor tq = tensor4((void *)dq, SATTN_DTYPE_BF16, HEADS, len, DIM);
  sattn_tensor tk = tensor4((void *)dk, SATTN_DTYPE_BF16, KV_HEADS, len, DIM);
  sattn_tensor tv = tensor4((void *)dv, SATTN_DTYPE_BF16, KV_HEADS, len, DIM);
  sattn_tensor to = tensor4((void *)d_o, SATTN_DTYPE_BF16, HEADS, len, DIM);
  if (check_sattn(sattn_launch(kernel, &tq, &tk, &tv, &to, NULL,
                               sattn_device_plan_get(plan), NULL, 0, NULL),
                  "sattn_launch") ||
      check_cuda(cu.ctxSynchronize(), "kernel") ||
      check_cuda(cu.memcpyDtoH(o, d_o, q_elems * 2), "copy o"))
    return 1;

  /* Sampled rows of every head, the first and last rows included. */
  const struct problem problem = {len, HEADS, KV_HEADS, DIM, keep, NULL};
  double rel = 0;
  int unwritten = 0;
  const long rows = check_rows(&problem, q, k, v, o, &rel, &unwritten);
  const int ok = !unwritten && rel <= 1e-2;
  printf("checked %ld rows against a float reference: relative error %.2e, "
         "%s -> %s\n",
         rows, rel, unwritten ? "UNWRITTEN elements" : "all written",
         ok ? "PASS" : "FAIL");

  sattn_device_plan_destroy(plan);
  sattn_host_plan_destroy(host_plan);
  sattn_kernel_destroy(kernel);
  cu.memFree(dq), cu.memFree(dk), cu.memFree(dv), cu.memFree(d_o);
  free(q), free(k), free(v), free(o);
  return ok ? 0 : 1;
}
