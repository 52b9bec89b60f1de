/*===- FakeCuda.c - a scripted stand-in for libcuda.so.1 -------------------===*
 *
 * The runtime's launch path (context handling, module cache, compute
 * capability and shared memory checks, parameter marshalling) cannot run on
 * a machine without a GPU. This library exports the driver entry points the
 * runtime resolves, prints every call that matters to stdout, and fails on
 * request, so that lit tests can check the exact launch the runtime makes.
 * Loaded through SATTN_LIBCUDA. Environment knobs (read at each call):
 *   FAKE_CUDA_INIT_RESULT   cuInit's result (default 0)
 *   FAKE_CUDA_CC            compute capability as 10 * major + minor (90)
 *   FAKE_CUDA_SMEM_OPTIN    opt-in shared memory per block (232448)
 *   FAKE_CUDA_REJECT        "cubin", "ptx" or both: images to refuse
 *   FAKE_CUDA_LAUNCH_RESULT cuLaunchKernel's result (default 0)
 *   FAKE_CUDA_HOST_POINTER  an address cuPointerGetAttribute does not know
 *   FAKE_CUDA_POINTER_DEVICE the device every pointer lives on (the
 *                           current context's by default)
 *   FAKE_CUDA_ALLOC_FAIL_AT the n-th cuMemAlloc (1-based) fails with
 *                           CUDA_ERROR_OUT_OF_MEMORY (never by default)
 *   FAKE_CUDA_ENCODE_RESULT cuTensorMapEncodeTiled's result (default 0)
 * Parameters declared as 128-byte arrays (".b8 NAME[128]", the tensor maps
 * of sm_90a kernels) are printed as the map cuTensorMapEncodeTiled wrote:
 * the fake encoder stores its arguments in the map's bytes.
 * A function's parameters are those of its own ".entry NAME(...)", so an
 * image may hold several entries (a kernel and its plan builder's stages).
 * Device memory is host memory behind fake addresses 0x100000 * n; copies
 * print the int64 values they carry, so tests see exactly what arrived;
 * cuMemsetD32Async (device plans) only prints.
 * Contexts are fake addresses: 0x1000 + d is device d's primary context; any
 * other context belongs to device (address & 0xF).
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;

enum { kMaxParams = 256, kMapBytes = 128 };

/* A function: the parameters of its entry's declaration. */
typedef struct FakeFunction {
  int params;
  int sizes[kMaxParams]; /* bytes per parameter: 8, or 128 for a tensor map */
} FakeFunction;

enum { kMaxFunctions = 16 };

typedef struct FakeModule {
  char *text;
  int num_functions;
  FakeFunction functions[kMaxFunctions];
} FakeModule;

/* Counts the ".param" declarations in [from, to) (to NULL: to the end),
 * recording at most kMaxParams sizes. */
static int count_params(const char *from, const char *to, int *sizes) {
  int params = 0;
  const char *p;
  for (p = strstr(from, ".param"); p && (!to || p < to); p = strstr(p + 1, ".param")) {
    /* The declaration runs to the next ',' or ')'. */
    size_t n = strcspn(p, ",)");
    const char *map = strstr(p, "[128]");
    if (params < kMaxParams)
      sizes[params] = map && map < p + n ? kMapBytes : 8;
    ++params;
  }
  return params;
}

static void *current;

static long knob(const char *name, long fallback) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 0) : fallback;
}

static int device_of(void *ctx) { return (int)((uintptr_t)ctx & 0xF); }

CUresult cuInit(unsigned flags) {
  printf("fake: cuInit(%u)\n", flags);
  return (CUresult)knob("FAKE_CUDA_INIT_RESULT", 0);
}

CUresult cuDeviceGet(int *device, int ordinal) {
  printf("fake: cuDeviceGet(%d)\n", ordinal);
  *device = ordinal;
  return 0;
}

CUresult cuCtxGetCurrent(void **ctx) {
  *ctx = current;
  return 0;
}

CUresult cuCtxSetCurrent(void *ctx) {
  printf("fake: cuCtxSetCurrent(%p)\n", ctx);
  current = ctx;
  return 0;
}

CUresult cuCtxGetDevice(int *device) {
  if (!current)
    return 201; /* CUDA_ERROR_INVALID_CONTEXT */
  *device = device_of(current);
  return 0;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
  *ctx = (void *)(uintptr_t)(0x1000 + device);
  printf("fake: cuDevicePrimaryCtxRetain(%d) -> %p\n", device, *ctx);
  return 0;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  long cc = knob("FAKE_CUDA_CC", 90);
  (void)device;
  switch (attribute) {
  case 1: /* MAX_THREADS_PER_BLOCK */
    *value = 1024;
    return 0;
  case 75: /* COMPUTE_CAPABILITY_MAJOR */
    *value = (int)(cc / 10);
    return 0;
  case 76: /* COMPUTE_CAPABILITY_MINOR */
    *value = (int)(cc % 10);
    return 0;
  case 97: /* MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */
    *value = (int)knob("FAKE_CUDA_SMEM_OPTIN", 232448);
    return 0;
  }
  return 1; /* CUDA_ERROR_INVALID_VALUE */
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count,
                            int *options, void **values) {
  const char *text = (const char *)image;
  int cubin = memcmp(text, "\177ELF", 4) == 0;
  const char *kind = cubin ? "cubin" : "ptx";
  const char *reject = getenv("FAKE_CUDA_REJECT");
  int sizes[kMaxParams];
  int params = count_params(text + (cubin ? 4 : 0), NULL, sizes);
  printf("fake: cuModuleLoadDataEx(%s, %d params) in %p\n", kind, params, current);
  if (reject && strstr(reject, kind)) {
    unsigned i;
    for (i = 0; i < count; ++i)
      if (options[i] == 5) /* CU_JIT_ERROR_LOG_BUFFER */
        snprintf((char *)values[i], 64, "fake %s rejected by FAKE_CUDA_REJECT", kind);
    return cubin ? 200 : 218; /* INVALID_IMAGE, INVALID_PTX */
  }
  FakeModule *m = (FakeModule *)malloc(sizeof *m);
  m->text = strdup(text + (cubin ? 4 : 0));
  m->num_functions = 0;
  *module = m;
  return 0;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  FakeModule *m = (FakeModule *)module;
  char pattern[256];
  snprintf(pattern, sizeof pattern, ".entry %s(", name);
  const char *entry;
  FakeFunction *f;
  printf("fake: cuModuleGetFunction(%s)\n", name);
  entry = strstr(m->text, pattern);
  if (!entry)
    return 500; /* CUDA_ERROR_NOT_FOUND */
  if (m->num_functions == kMaxFunctions)
    return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  /* The parameter list runs to the entry's ')'. */
  f = &m->functions[m->num_functions++];
  f->params = count_params(entry, strchr(entry, ')'), f->sizes);
  if (f->params > kMaxParams)
    f->params = kMaxParams;
  *function = f;
  return 0;
}

CUresult cuModuleUnload(void *module) {
  FakeModule *m = (FakeModule *)module;
  printf("fake: cuModuleUnload in %p\n", current);
  free(m->text);
  free(m);
  return 0;
}

CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)function;
  printf("fake: cuFuncSetAttribute(%d, %d)\n", attribute, value);
  return 0;
}

/* Tensor maps: the fake encoder writes a tag, then its arguments. Built
 * with FAKE_CUDA_NO_TENSOR_MAPS, the library lacks the entry point, as a
 * driver older than CUDA 12.0 does. */
enum { kMapTag = 0x70616d54 /* "Tmap" */ };

static void print_map(int index, const void *param);

#ifndef FAKE_CUDA_NO_TENSOR_MAPS
CUresult cuTensorMapEncodeTiled(void *map, int type, unsigned rank, void *address,
                                const unsigned long long *dims,
                                const unsigned long long *strides, const unsigned *box,
                                const unsigned *element_strides, int interleave,
                                int swizzle, int l2, int oob) {
  unsigned long long words[kMapBytes / 8];
  unsigned i;
  printf("fake: cuTensorMapEncodeTiled(type %d, rank %u, %p, dims {", type, rank, address);
  for (i = 0; i < rank; ++i)
    printf("%s%llu", i ? "," : "", dims[i]);
  printf("}, strides {");
  for (i = 0; i + 1 < rank; ++i)
    printf("%s%llu", i ? "," : "", strides[i]);
  printf("}, box {");
  for (i = 0; i < rank; ++i)
    printf("%s%u", i ? "," : "", box[i]);
  printf("}, element strides {");
  for (i = 0; i < rank; ++i)
    printf("%s%u", i ? "," : "", element_strides[i]);
  printf("}, interleave %d, swizzle %d, l2 %d, oob %d) map %s\n", interleave, swizzle, l2,
         oob, (uintptr_t)map % 64 == 0 ? "64-byte aligned" : "MISALIGNED");
  CUresult result = (CUresult)knob("FAKE_CUDA_ENCODE_RESULT", 0);
  if (result != 0 || rank != 4)
    return result ? result : 1;
  memset(words, 0, sizeof words);
  words[0] = kMapTag;
  words[1] = (unsigned long long)(uintptr_t)address;
  for (i = 0; i < 4; ++i) {
    words[2 + i] = dims[i];
    words[9 + i] = box[i];
  }
  for (i = 0; i < 3; ++i)
    words[6 + i] = strides[i];
  memcpy(map, words, sizeof words);
  return 0;
}
#endif

static void print_map(int index, const void *param) {
  unsigned long long w[kMapBytes / 8];
  memcpy(w, param, sizeof w);
  if (w[0] != kMapTag) {
    printf("fake: param[%d] = 128 bytes that no cuTensorMapEncodeTiled wrote\n", index);
    return;
  }
  printf("fake: param[%d] = tensor map of 0x%llx, dims {%llu,%llu,%llu,%llu}, strides "
         "{%llu,%llu,%llu}, box {%llu,%llu,%llu,%llu}\n",
         index, w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11], w[12]);
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **params, void **extra) {
  FakeFunction *m = (FakeFunction *)function;
  int i;
  printf("fake: cuLaunchKernel grid=(%u,%u,%u) block=(%u,%u,%u) shared=%u stream=%p "
         "extra=%p in %p\n",
         gx, gy, gz, bx, by, bz, shared, stream, (void *)extra, current);
  for (i = 0; i < m->params; ++i) {
    long long value;
    if (m->sizes[i] == kMapBytes) {
      print_map(i, params[i]);
      continue;
    }
    memcpy(&value, params[i], sizeof value);
    printf("fake: param[%d] = %lld (0x%llx)\n", i, value, (unsigned long long)value);
  }
  return (CUresult)knob("FAKE_CUDA_LAUNCH_RESULT", 0);
}

static const char *error_name(CUresult r) {
  switch (r) {
  case 1: return "CUDA_ERROR_INVALID_VALUE";
  case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
  case 100: return "CUDA_ERROR_NO_DEVICE";
  case 200: return "CUDA_ERROR_INVALID_IMAGE";
  case 218: return "CUDA_ERROR_INVALID_PTX";
  case 500: return "CUDA_ERROR_NOT_FOUND";
  case 701: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
  }
  return "CUDA_ERROR_UNKNOWN";
}

CUresult cuGetErrorName(CUresult r, const char **name) {
  *name = error_name(r);
  return 0;
}

CUresult cuGetErrorString(CUresult r, const char **text) {
  (void)r;
  *text = "fake driver error";
  return 0;
}

CUresult cuPointerGetAttribute(void *data, int attribute, unsigned long long pointer) {
  if (attribute != 9) /* DEVICE_ORDINAL */
    return 1;
  if ((long)pointer == knob("FAKE_CUDA_HOST_POINTER", -1))
    return 1; /* CUDA_ERROR_INVALID_VALUE: not driver memory */
  *(int *)data = (int)knob("FAKE_CUDA_POINTER_DEVICE", device_of(current));
  return 0;
}

/* Plan uploads: allocations are real host blocks behind fake addresses. */
enum { kMaxAllocs = 64 };
static struct {
  unsigned long long address;
  void *memory;
  size_t bytes;
} allocs[kMaxAllocs];
static int num_allocs;

CUresult cuMemAlloc_v2(unsigned long long *pointer, size_t bytes) {
  if (num_allocs + 1 == knob("FAKE_CUDA_ALLOC_FAIL_AT", -1) || num_allocs == kMaxAllocs) {
    ++num_allocs;
    printf("fake: cuMemAlloc(%zu) failed\n", bytes);
    return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  }
  int slot = num_allocs++;
  allocs[slot].address = 0x100000ull * (unsigned long long)(slot + 1);
  allocs[slot].memory = calloc(1, bytes);
  allocs[slot].bytes = bytes;
  *pointer = allocs[slot].address;
  printf("fake: cuMemAlloc(%zu) -> 0x%llx in %p\n", bytes, *pointer, current);
  return 0;
}

static int find_alloc(unsigned long long pointer) {
  for (int i = 0; i < num_allocs && i < kMaxAllocs; ++i)
    if (allocs[i].memory && allocs[i].address == pointer)
      return i;
  return -1;
}

CUresult cuMemcpyHtoD_v2(unsigned long long pointer, const void *source, size_t bytes) {
  int slot = find_alloc(pointer);
  if (slot < 0 || bytes > allocs[slot].bytes)
    return 1;
  memcpy(allocs[slot].memory, source, bytes);
  printf("fake: cuMemcpyHtoD(0x%llx, %zu bytes):", pointer, bytes);
  const long long *values = (const long long *)allocs[slot].memory;
  for (size_t i = 0; i < bytes / 8; ++i)
    printf(" %lld", values[i]);
  printf("\n");
  return 0;
}

CUresult cuMemFree_v2(unsigned long long pointer) {
  int slot = find_alloc(pointer);
  if (slot < 0)
    return 1;
  free(allocs[slot].memory);
  allocs[slot].memory = NULL;
  printf("fake: cuMemFree(0x%llx) in %p\n", pointer, current);
  return 0;
}

/* Device plans reset their work counter; the memory behind a stand-in
 * torch tensor is not the fake's, so this only prints. */
CUresult cuMemsetD32Async(unsigned long long pointer, unsigned value, size_t count,
                          void *stream) {
  printf("fake: cuMemsetD32Async(0x%llx, %u, %zu) stream=%p\n", pointer, value, count, stream);
  return 0;
}
