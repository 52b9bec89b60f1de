/*===- examples/embed_c/common.h - what both example programs share ------===*
 *
 * bf16 conversion, a small deterministic generator, the few CUDA driver
 * functions the programs use for their own buffers (opened with dlopen, as
 * libsattn_runtime opens the driver, so that the programs link the runtime
 * alone), error reporting, tensor descriptors and the output check.
 * main.c, estimated.c and gated.c include it; it is not part of sattn's
 * API.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SATTN_EXAMPLES_EMBED_C_COMMON_H
#define SATTN_EXAMPLES_EMBED_C_COMMON_H

#include <sattn/runtime.h>

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
  return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

static uint32_t rng_state = 12345u;
static inline float uniform(void) { /* [-1, 1) */
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

/* The driver functions the programs use for their own buffers, from the
 * driver library the runtime opens (SATTN_LIBCUDA, else libcuda.so.1). */
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
static struct {
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*memsetD16)(CUdeviceptr, unsigned short, size_t);
  CUresult (*ctxSynchronize)(void);
  CUresult (*getErrorString)(CUresult, const char **);
  CUresult (*init)(unsigned);
  CUresult (*deviceGet)(int *, int);
  CUresult (*primaryCtxRetain)(void **, int);
  CUresult (*ctxSetCurrent)(void *);
} cu;

static inline int open_driver(void) {
  const char *name = getenv("SATTN_LIBCUDA");
  void *lib = dlopen(name && *name ? name : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return 1;
  *(void **)&cu.memAlloc = dlsym(lib, "cuMemAlloc_v2");
  *(void **)&cu.memFree = dlsym(lib, "cuMemFree_v2");
  *(void **)&cu.memcpyHtoD = dlsym(lib, "cuMemcpyHtoD_v2");
  *(void **)&cu.memcpyDtoH = dlsym(lib, "cuMemcpyDtoH_v2");
  *(void **)&cu.memsetD16 = dlsym(lib, "cuMemsetD16_v2");
  *(void **)&cu.ctxSynchronize = dlsym(lib, "cuCtxSynchronize");
  *(void **)&cu.getErrorString = dlsym(lib, "cuGetErrorString");
  *(void **)&cu.init = dlsym(lib, "cuInit");
  *(void **)&cu.deviceGet = dlsym(lib, "cuDeviceGet");
  *(void **)&cu.primaryCtxRetain = dlsym(lib, "cuDevicePrimaryCtxRetain");
  *(void **)&cu.ctxSetCurrent = dlsym(lib, "cuCtxSetCurrent");
  return !cu.memAlloc || !cu.memFree || !cu.memcpyHtoD || !cu.memcpyDtoH ||
         !cu.memsetD16 || !cu.ctxSynchronize || !cu.getErrorString;
}

/* Opens the driver and makes device 0's primary context current (the one
 * libsattn_runtime then uses): 0 on success, 2 when there is no driver or no
 * device, 1 on other failures. */
static inline int open_device(void) {
  const char *name = getenv("SATTN_LIBCUDA");
  if (open_driver() || !cu.init || !cu.deviceGet || !cu.primaryCtxRetain ||
      !cu.ctxSetCurrent) {
    fprintf(stderr, "no usable CUDA device: the CUDA driver (%s) could not be opened\n",
            name && *name ? name : "libcuda.so.1");
    return 2;
  }
  int device = 0;
  void *context = NULL;
  if (cu.init(0) != 0 || cu.deviceGet(&device, 0) != 0) {
    fprintf(stderr, "no usable CUDA device: the driver found none\n");
    return 2;
  }
  if (cu.primaryCtxRetain(&context, device) != 0 || cu.ctxSetCurrent(context) != 0) {
    fprintf(stderr, "could not make device 0's primary context current\n");
    return 1;
  }
  return 0;
}

static inline int check_cuda(CUresult r, const char *what) {
  if (r == 0)
    return 0;
  const char *msg = NULL;
  cu.getErrorString(r, &msg);
  fprintf(stderr, "CUDA error in %s: %s\n", what, msg ? msg : "unknown");
  return 1;
}

static inline int check_sattn(sattn_status s, const char *what) {
  if (s == SATTN_OK)
    return 0;
  fprintf(stderr, "sattn error in %s: %s: %s\n", what, sattn_status_string(s),
          sattn_last_error());
  return 1;
}

/* A contiguous descriptor of the given shape (rank <= 4). */
static inline sattn_tensor contiguous(void *data, sattn_dtype dtype, int rank, const long *shape) {
  sattn_tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.rank = rank;
  long stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.strides[i] = stride;
    stride *= shape[i];
  }
  return t;
}

/* Float rows of slice `head` of a contiguous bf16 (heads, len, dim)
 * tensor, malloc'd (NULL when out of memory). */
static inline float *rows_of(const uint16_t *x, long head, long len, long dim) {
  float *out = malloc(sizeof(float) * len * dim);
  for (long i = 0; out && i < len * dim; ++i)
    out[i] = from_bf16(x[head * len * dim + i]);
  return out;
}

/* The shapes of a check: Q and O are (1, heads, len, dim), K and V
 * (1, kv_heads, len, dim), all bf16 and contiguous; keep(ctx, h, q, k) is
 * the mask the kernel ran for query head h. */
struct problem {
  long len, heads, kv_heads, dim;
  int (*keep)(const void *ctx, long h, long q, long k);
  const void *ctx;
};

/* Compares output row i of head h with a double-precision reference: adds
 * the squared error and the squared reference to *err2 and *ref2; returns 1
 * when an element was left unwritten (NaN). */
static inline int check_row(const struct problem *p, const uint16_t *q, const uint16_t *k,
                            const uint16_t *v, const uint16_t *o, long h, long i, double *err2,
                            double *ref2) {
  const long len = p->len, dim = p->dim, kvh = h / (p->heads / p->kv_heads);
  double *w = malloc(sizeof(double) * len);
  double mx = -INFINITY, sum = 0;
  for (long j = 0; j < len; ++j) {
    w[j] = -INFINITY;
    if (!p->keep(p->ctx, h, i, j))
      continue;
    double s = 0;
    for (long d = 0; d < dim; ++d)
      s += (double)from_bf16(q[(h * len + i) * dim + d]) * from_bf16(k[(kvh * len + j) * dim + d]);
    w[j] = s / sqrt((double)dim);
    mx = w[j] > mx ? w[j] : mx;
  }
  for (long j = 0; j < len; ++j)
    if (w[j] != -INFINITY)
      sum += (w[j] = exp(w[j] - mx));
  int unwritten = 0;
  for (long d = 0; d < dim; ++d) {
    double ref = 0;
    for (long j = 0; j < len; ++j)
      if (w[j] != -INFINITY)
        ref += w[j] * from_bf16(v[(kvh * len + j) * dim + d]);
    ref /= sum;
    double got = from_bf16(o[(h * len + i) * dim + d]);
    unwritten |= isnan(got);
    *err2 += (got - ref) * (got - ref);
    *ref2 += ref * ref;
  }
  free(w);
  return unwritten;
}

/* check_row on every 97th row of every head and each head's last row;
 * returns the rows checked, *rel the relative error, *unwritten whether an
 * element was left unwritten. */
static inline long check_rows(const struct problem *p, const uint16_t *q, const uint16_t *k,
                              const uint16_t *v, const uint16_t *o, double *rel,
                              int *unwritten) {
  double err2 = 0, ref2 = 0;
  long rows = 0;
  *unwritten = 0;
  for (long h = 0; h < p->heads; ++h) {
    for (long i = h % 97; i < p->len; i += 97)
      *unwritten |= check_row(p, q, k, v, o, h, i, &err2, &ref2), ++rows;
    *unwritten |= check_row(p, q, k, v, o, h, p->len - 1, &err2, &ref2), ++rows;
  }
  *rel = sqrt(err2 / ref2);
  return rows;
}

#endif /* SATTN_EXAMPLES_EMBED_C_COMMON_H */
