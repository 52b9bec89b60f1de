/*===- examples/embed_c/estimated.c - a dynamic mask from a C program ----===*
 *
 * Runs the `vertical_slash` kernel of examples/dynamic.sattn (MInference's
 * vertical-slash: 100 key columns and 750 diagonals per head chosen from the
 * last 64 queries, the first 30 columns and nearest 100 diagonals forced;
 * bf16, head_dim 128, 32 query heads over 8 K/V heads) end to end from C:
 * the kernel's compiled estimator writes the table of kept columns and
 * diagonals on the GPU (sattn_estimator_run), the plan builder turns it into
 * the tile plan on the GPU (sattn_device_plan_build) and the attention
 * kernel runs on it (sattn_launch): three calls on one stream, no host work
 * in between. Like main.c it links libsattn_runtime alone.
 *
 * It checks its own result: the table against the runtime's host reference
 * estimator (sattn_estimate_vertical_slash, double precision) for every
 * head, the kept counts, and the output against a float reference under the
 * estimated mask on sampled rows of every head (relative error <= 1e-2, no
 * element left unwritten: the output is poisoned with NaN first).
 *
 * Exit status: 0 passed, 1 wrong result or a sattn/CUDA error, 2 no usable
 * CUDA device.
 *
 *===----------------------------------------------------------------------===*/

#include "vertical_slash.h" /* generated: sattn-compile dynamic.sattn -o DIR */

#include "common.h"

#include <math.h>

enum { HEADS = 32, KV_HEADS = 8, DIM = 128, VERTICAL = 100, SLASH = 750 };

/* The mask the kernel ran: the estimated table's rows of head h are its
 * kept columns, then its kept diagonal offsets q - k. */
struct estimate {
  const int64_t *table;
  long len;
};
static int kept(const void *ctx, long h, long q, long k) {
  const struct estimate *e = ctx;
  const int64_t *row = e->table + h * 2 * e->len;
  return k <= q && (row[k] || row[e->len + (q - k)]);
}

/* Entries where the table of head h differs from the host reference
 * estimator's on the same bf16 inputs; -1 on an error. */
static long compare_with_reference(const uint16_t *q, const uint16_t *k, const int64_t *table,
                                   long len, long h) {
  float *qf = rows_of(q, h, len, DIM), *kf = rows_of(k, h / (HEADS / KV_HEADS), len, DIM);
  uint8_t *vcol = calloc(len, 1), *slash = calloc(len, 1);
  const long shape[2] = {len, DIM};
  sattn_tensor tq = contiguous(qf, SATTN_DTYPE_F32, 2, shape);
  sattn_tensor tk = contiguous(kf, SATTN_DTYPE_F32, 2, shape);
  long differ = -1;
  if (qf && kf &&
      !check_sattn(sattn_estimate_vertical_slash(&tq, &tk, 1.0 / sqrt((double)DIM), VERTICAL,
                                                 SLASH, 64, 30, 100, vcol, slash),
                   "sattn_estimate_vertical_slash")) {
    differ = 0;
    for (long j = 0; j < len; ++j)
      differ += (table[h * 2 * len + j] != vcol[j]) + (table[h * 2 * len + len + j] != slash[j]);
  }
  free(qf), free(kf), free(vcol), free(slash);
  return differ;
}

int main(int argc, char **argv) {
  const long len = argc > 1 ? atol(argv[1]) : 3000;
  if (len <= 0) {
    fprintf(stderr, "usage: %s [sequence length > 0]\n", argv[0]);
    return 1;
  }
  sattn_kernel *kernel = NULL;
  if (check_sattn(sattn_vertical_slash_load(&kernel), "sattn_vertical_slash_load"))
    return 1;
  int32_t index = -1;
  int64_t shape[4] = {0, 0, 0, 0};
  size_t estimate_bytes = 0, plan_bytes = 0;
  if (check_sattn(sattn_estimator_table(kernel, &index), "sattn_estimator_table") ||
      sattn_kernel_table_shape(kernel, index, 1, len, shape) != 4 ||
      check_sattn(sattn_estimator_workspace(kernel, 1, len, &estimate_bytes),
                  "sattn_estimator_workspace") ||
      check_sattn(sattn_device_plan_workspace(kernel, 1, len, len, &plan_bytes),
                  "sattn_device_plan_workspace"))
    return 1;
  printf("kernel %s: estimates table '%s' [%lld, %lld, %lld, %lld]; workspaces: estimator "
         "%zu bytes, plan %zu bytes at L = %ld\n",
         sattn_kernel_name(kernel), sattn_kernel_table_name(kernel, index),
         (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[3],
         estimate_bytes, plan_bytes, len);
  fflush(stdout);
  int opened = open_device();
  if (opened)
    return opened;

  const size_t q_elems = (size_t)HEADS * len * DIM, kv_elems = (size_t)KV_HEADS * len * DIM;
  const size_t table_elems = (size_t)HEADS * 2 * len;
  uint16_t *q = malloc(q_elems * 2), *k = malloc(kv_elems * 2), *v = malloc(kv_elems * 2),
           *o = malloc(q_elems * 2);
  int64_t *table = malloc(table_elems * 8);
  if (!q || !k || !v || !o || !table) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (size_t i = 0; i < q_elems; ++i)
    q[i] = to_bf16(uniform());
  for (size_t i = 0; i < kv_elems; ++i)
    k[i] = to_bf16(uniform()), v[i] = to_bf16(uniform());

  CUdeviceptr dq, dk, dv, d_o, dtable, dest, dplan;
  if (check_cuda(cu.memAlloc(&dq, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dk, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dv, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&d_o, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dtable, table_elems * 8), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dest, estimate_bytes), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dplan, plan_bytes), "cuMemAlloc") ||
      check_cuda(cu.memcpyHtoD(dq, q, q_elems * 2), "copy q") ||
      check_cuda(cu.memcpyHtoD(dk, k, kv_elems * 2), "copy k") ||
      check_cuda(cu.memcpyHtoD(dv, v, kv_elems * 2), "copy v") ||
      check_cuda(cu.memsetD16(d_o, 0xffff, q_elems), "poison o") ||
      check_cuda(cu.memsetD16(dtable, 0x7777, table_elems * 4), "poison the table"))
    return 1;
  const long q_shape[4] = {1, HEADS, len, DIM}, kv_shape[4] = {1, KV_HEADS, len, DIM};
  const long table_shape[4] = {1, HEADS, 2, len};
  sattn_tensor tq = contiguous((void *)dq, SATTN_DTYPE_BF16, 4, q_shape);
  sattn_tensor tk = contiguous((void *)dk, SATTN_DTYPE_BF16, 4, kv_shape);
  sattn_tensor tv = contiguous((void *)dv, SATTN_DTYPE_BF16, 4, kv_shape);
  sattn_tensor to = contiguous((void *)d_o, SATTN_DTYPE_BF16, 4, q_shape);
  sattn_tensor ttable = contiguous((void *)dtable, SATTN_DTYPE_I64, 4, table_shape);
  sattn_plan plan;
  /* Estimate, plan and attention on one stream (the default one). */
  if (check_sattn(sattn_estimator_run(kernel, &tq, &tk, &ttable, (void *)dest, estimate_bytes,
                                      NULL),
                  "sattn_estimator_run") ||
      check_sattn(sattn_device_plan_build(kernel, 1, len, len, &ttable, 1, (void *)dplan,
                                          plan_bytes, NULL, &plan),
                  "sattn_device_plan_build") ||
      check_sattn(sattn_launch(kernel, &tq, &tk, &tv, &to, NULL, &plan, &ttable, 1, NULL),
                  "sattn_launch") ||
      check_cuda(cu.ctxSynchronize(), "the kernels") ||
      check_cuda(cu.memcpyDtoH(o, d_o, q_elems * 2), "copy o") ||
      check_cuda(cu.memcpyDtoH(table, dtable, table_elems * 8), "copy the table"))
    return 1;

  /* The table: the reference's entries, V columns and S diagonals per head. */
  long differ = 0, wrong_counts = 0;
  for (long h = 0; h < HEADS; ++h) {
    long columns = 0, diagonals = 0, d = compare_with_reference(q, k, table, len, h);
    if (d < 0)
      return 1;
    differ += d;
    for (long j = 0; j < len; ++j)
      columns += table[h * 2 * len + j], diagonals += table[h * 2 * len + len + j];
    wrong_counts += columns != (len < VERTICAL ? len : VERTICAL) ||
                    diagonals != (len < SLASH ? len : SLASH);
  }
  printf("estimated table: %ld entries differ from the host reference, %ld heads with wrong "
         "counts\n", differ, wrong_counts);

  /* Sampled rows of every head (head h's mask is its rows of the table). */
  double rel = 0;
  int unwritten = 0;
  const struct estimate e = {table, len};
  const struct problem problem = {len, HEADS, KV_HEADS, DIM, kept, &e};
  const long rows = check_rows(&problem, q, k, v, o, &rel, &unwritten);
  const int ok = !unwritten && rel <= 1e-2 && differ == 0 && wrong_counts == 0;
  printf("checked %ld rows against a float reference: relative error %.2e, "
         "%s -> %s\n",
         rows, rel, unwritten ? "UNWRITTEN elements" : "all written", ok ? "PASS" : "FAIL");

  sattn_kernel_destroy(kernel);
  cu.memFree(dq), cu.memFree(dk), cu.memFree(dv), cu.memFree(d_o);
  cu.memFree(dtable), cu.memFree(dest), cu.memFree(dplan);
  free(q), free(k), free(v), free(o), free(table);
  return ok ? 0 : 1;
}
