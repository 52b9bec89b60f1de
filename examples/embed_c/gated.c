/*===- examples/embed_c/gated.c - a learned gate from a C program ---------===*
 *
 * Runs the `seer_gate` kernel of examples/dynamic.sattn (SeerAttention's
 * learned gate: blocks of 64 tokens kept where the gate's probability is
 * above 0.001; bf16, head_dim 128, 28 query heads over 4 K/V heads, 128
 * gate features) end to end from C. The gate's weights are trained
 * elsewhere and are an input of its estimator: one float32 (H, 4 D, F)
 * device tensor, per query head wq (D x F) then wk (3D x F)
 * (sattn_estimator_weights gives the shape). Estimate
 * (sattn_estimator_run_weighted), device plan (sattn_device_plan_build) and
 * attention (sattn_launch) run on one stream, no host work in between.
 * Like main.c it links libsattn_runtime alone. Here the weights are drawn at
 * random (scaled 4 / sqrt(D)) and the rows of each 64-token block share a
 * random direction, so that the gate's logits spread and it keeps a few
 * blocks per row: the run shows the calls and checks the results, not a
 * trained gate's choices.
 *
 * It checks its own result: the estimated block table against the
 * runtime's host reference gate (sattn_estimate_gate, double precision) for
 * every head, and the output against a float reference under the estimated
 * mask on sampled rows of every head (relative error <= 1e-2, no element
 * left unwritten: the output is poisoned with NaN first).
 *
 * Exit status: 0 passed, 1 wrong result or a sattn/CUDA error, 2 no usable
 * CUDA device.
 *
 *===----------------------------------------------------------------------===*/

#include "seer_gate.h" /* generated: sattn-compile dynamic.sattn -o DIR */

#include "common.h"

#include <math.h>

enum { HEADS = 28, KV_HEADS = 4, DIM = 128, BLOCK = 64 };
static const double kThreshold = 0.001;

/* The mask the kernel ran: causal pairs of the blocks head h's rows of the
 * estimated table keep. */
struct estimate {
  const int64_t *table;
  long blocks;
};
static int kept(const void *ctx, long h, long q, long k) {
  const struct estimate *e = ctx;
  const int64_t *rows = e->table + h * e->blocks * e->blocks;
  return k <= q && rows[(q / BLOCK) * e->blocks + k / BLOCK];
}

/* Entries where the table of head h differs from the host reference gate's
 * on the same bf16 inputs and weights; -1 on an error. */
static long compare_with_reference(const uint16_t *q, const uint16_t *k, const float *weights,
                                   long hidden, const int64_t *table, long len, long blocks,
                                   long h) {
  float *qf = rows_of(q, h, len, DIM), *kf = rows_of(k, h / (HEADS / KV_HEADS), len, DIM);
  uint8_t *ref = calloc((size_t)blocks * blocks, 1);
  const long shape[2] = {len, DIM}, wq_shape[2] = {DIM, hidden}, wk_shape[2] = {3 * DIM, hidden};
  const float *wq = weights + (size_t)h * 4 * DIM * hidden;
  sattn_tensor tq = contiguous(qf, SATTN_DTYPE_F32, 2, shape);
  sattn_tensor tk = contiguous(kf, SATTN_DTYPE_F32, 2, shape);
  sattn_tensor twq = contiguous((void *)wq, SATTN_DTYPE_F32, 2, wq_shape);
  sattn_tensor twk = contiguous((void *)(wq + DIM * hidden), SATTN_DTYPE_F32, 2, wk_shape);
  long differ = -1;
  if (qf && kf && ref &&
      !check_sattn(sattn_estimate_gate(&tq, &tk, &twq, &twk, BLOCK, kThreshold, 0.0, 10000.0,
                                       ref),
                   "sattn_estimate_gate")) {
    differ = 0;
    for (long i = 0; i < blocks * blocks; ++i)
      differ += table[h * blocks * blocks + i] != ref[i];
  }
  free(qf), free(kf), free(ref);
  return differ;
}

int main(int argc, char **argv) {
  const long len = argc > 1 ? atol(argv[1]) : 3000;
  if (len <= 0) {
    fprintf(stderr, "usage: %s [sequence length > 0]\n", argv[0]);
    return 1;
  }
  sattn_kernel *kernel = NULL;
  if (check_sattn(sattn_seer_gate_load(&kernel), "sattn_seer_gate_load"))
    return 1;
  int32_t index = -1;
  int64_t shape[4] = {0, 0, 0, 0}, wshape[3] = {0, 0, 0};
  size_t estimate_bytes = 0, plan_bytes = 0;
  if (check_sattn(sattn_estimator_table(kernel, &index), "sattn_estimator_table") ||
      sattn_kernel_table_shape(kernel, index, 1, len, shape) != 4 ||
      check_sattn(sattn_estimator_weights(kernel, wshape), "sattn_estimator_weights") ||
      check_sattn(sattn_estimator_workspace(kernel, 1, len, &estimate_bytes),
                  "sattn_estimator_workspace") ||
      check_sattn(sattn_device_plan_workspace(kernel, 1, len, len, &plan_bytes),
                  "sattn_device_plan_workspace"))
    return 1;
  printf("kernel %s: estimates table '%s' [%lld, %lld, %lld, %lld] from weights [%lld, %lld, "
         "%lld]; workspaces: estimator %zu bytes, plan %zu bytes at L = %ld\n",
         sattn_kernel_name(kernel), sattn_kernel_table_name(kernel, index),
         (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[3],
         (long long)wshape[0], (long long)wshape[1], (long long)wshape[2], estimate_bytes,
         plan_bytes, len);
  fflush(stdout);
  int opened = open_device();
  if (opened)
    return opened;

  const long blocks = (long)shape[2], hidden = (long)wshape[2];
  const size_t q_elems = (size_t)HEADS * len * DIM, kv_elems = (size_t)KV_HEADS * len * DIM;
  const size_t table_elems = (size_t)HEADS * blocks * blocks;
  const size_t weight_elems = (size_t)wshape[0] * wshape[1] * wshape[2];
  uint16_t *q = malloc(q_elems * 2), *k = malloc(kv_elems * 2), *v = malloc(kv_elems * 2),
           *o = malloc(q_elems * 2);
  int64_t *table = malloc(table_elems * 8);
  float *weights = malloc(weight_elems * 4);
  if (!q || !k || !v || !o || !table || !weights) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  /* Rows of one 64-token block share a random "topic" (one for queries, one
   * for keys) on top of their own noise, so that blocks pool to different
   * vectors and the gate has something to choose between. */
  float *topics = malloc(sizeof(float) * 2 * blocks * DIM);
  if (!topics) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (long i = 0; i < 2 * blocks * DIM; ++i)
    topics[i] = uniform();
  for (size_t i = 0; i < q_elems; ++i)
    q[i] = to_bf16(0.5f * uniform() + topics[(i / DIM % len) / BLOCK * DIM + i % DIM]);
  for (size_t i = 0; i < kv_elems; ++i)
    k[i] = to_bf16(0.5f * uniform() + topics[(blocks + (i / DIM % len) / BLOCK) * DIM + i % DIM]),
    v[i] = to_bf16(uniform());
  free(topics);
  for (size_t i = 0; i < weight_elems; ++i)
    weights[i] = (float)(4.0 / sqrt((double)DIM)) * uniform();

  CUdeviceptr dq, dk, dv, d_o, dtable, dweights, dest, dplan;
  if (check_cuda(cu.memAlloc(&dq, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dk, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dv, kv_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&d_o, q_elems * 2), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dtable, table_elems * 8), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dweights, weight_elems * 4), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dest, estimate_bytes), "cuMemAlloc") ||
      check_cuda(cu.memAlloc(&dplan, plan_bytes), "cuMemAlloc") ||
      check_cuda(cu.memcpyHtoD(dq, q, q_elems * 2), "copy q") ||
      check_cuda(cu.memcpyHtoD(dk, k, kv_elems * 2), "copy k") ||
      check_cuda(cu.memcpyHtoD(dv, v, kv_elems * 2), "copy v") ||
      check_cuda(cu.memcpyHtoD(dweights, weights, weight_elems * 4), "copy the weights") ||
      check_cuda(cu.memsetD16(d_o, 0xffff, q_elems), "poison o") ||
      check_cuda(cu.memsetD16(dtable, 0x7777, table_elems * 4), "poison the table"))
    return 1;
  const long q_shape[4] = {1, HEADS, len, DIM}, kv_shape[4] = {1, KV_HEADS, len, DIM};
  const long table_shape[4] = {1, HEADS, blocks, blocks};
  const long weight_shape[3] = {(long)wshape[0], (long)wshape[1], (long)wshape[2]};
  sattn_tensor tq = contiguous((void *)dq, SATTN_DTYPE_BF16, 4, q_shape);
  sattn_tensor tk = contiguous((void *)dk, SATTN_DTYPE_BF16, 4, kv_shape);
  sattn_tensor tv = contiguous((void *)dv, SATTN_DTYPE_BF16, 4, kv_shape);
  sattn_tensor to = contiguous((void *)d_o, SATTN_DTYPE_BF16, 4, q_shape);
  sattn_tensor ttable = contiguous((void *)dtable, SATTN_DTYPE_I64, 4, table_shape);
  sattn_tensor tweights = contiguous((void *)dweights, SATTN_DTYPE_F32, 3, weight_shape);
  sattn_plan plan;
  /* Estimate, plan and attention on one stream (the default one). */
  if (check_sattn(sattn_estimator_run_weighted(kernel, &tq, &tk, &tweights, &ttable,
                                               (void *)dest, estimate_bytes, NULL),
                  "sattn_estimator_run_weighted") ||
      check_sattn(sattn_device_plan_build(kernel, 1, len, len, &ttable, 1, (void *)dplan,
                                          plan_bytes, NULL, &plan),
                  "sattn_device_plan_build") ||
      check_sattn(sattn_launch(kernel, &tq, &tk, &tv, &to, NULL, &plan, &ttable, 1, NULL),
                  "sattn_launch") ||
      check_cuda(cu.ctxSynchronize(), "the kernels") ||
      check_cuda(cu.memcpyDtoH(o, d_o, q_elems * 2), "copy o") ||
      check_cuda(cu.memcpyDtoH(table, dtable, table_elems * 8), "copy the table"))
    return 1;

  /* The table: the reference gate's entries for every head. */
  long differ = 0, kept_blocks = 0;
  for (long h = 0; h < HEADS; ++h) {
    long d = compare_with_reference(q, k, weights, hidden, table, len, blocks, h);
    if (d < 0)
      return 1;
    differ += d;
  }
  for (size_t i = 0; i < table_elems; ++i)
    kept_blocks += table[i];
  printf("estimated table: %ld entries differ from the host reference; %ld of %ld causal "
         "blocks kept\n", differ, kept_blocks, (long)HEADS * blocks * (blocks + 1) / 2);

  /* Sampled rows of every head (head h's mask is its rows of the table). */
  double rel = 0;
  int unwritten = 0;
  const struct estimate e = {table, blocks};
  const struct problem problem = {len, HEADS, KV_HEADS, DIM, kept, &e};
  const long rows = check_rows(&problem, q, k, v, o, &rel, &unwritten);
  const int ok = !unwritten && rel <= 1e-2 && differ == 0 && kept_blocks > 0;
  printf("checked %ld rows against a float reference: relative error %.2e, "
         "%s -> %s\n",
         rows, rel, unwritten ? "UNWRITTEN elements" : "all written", ok ? "PASS" : "FAIL");

  sattn_kernel_destroy(kernel);
  cu.memFree(dq), cu.memFree(dk), cu.memFree(dv), cu.memFree(d_o);
  cu.memFree(dtable), cu.memFree(dweights), cu.memFree(dest), cu.memFree(dplan);
  free(q), free(k), free(v), free(o), free(table), free(weights);
  return ok ? 0 : 1;
}
