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
 * Usage: sattn-runtime-launch-check MANIFEST basic|contexts
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

int main(int argc, char **argv) {
  sattn_kernel *kernel = NULL;
  sattn_status status;
  if (argc != 3) {
    fprintf(stderr, "usage: %s MANIFEST basic|contexts\n", argv[0]);
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
  } else {
    fprintf(stderr, "unknown scenario %s\n", argv[2]);
    return 2;
  }
  sattn_kernel_destroy(kernel);
  printf("destroyed\n");
  return 0;
}
