/*===- sattn/runtime.h - libsattn_runtime C API ----------------*- C -*-===*
 *
 * Loads kernels compiled by sattn-compile (PTX or cubin plus a JSON
 * manifest) and launches them on caller-provided device buffers. The CUDA
 * driver is opened with dlopen on first use, so programs linking this
 * library load and run on machines without a GPU (every call then returns
 * SATTN_ERROR_NO_DRIVER with a message). Every input is validated against
 * the manifest before a launch; failures return a distinct status and set a
 * thread-local message readable with sattn_last_error(). The library never
 * aborts the process and never writes outside the buffers it is given.
 * SATTN_LIBCUDA, when set, names the driver library to open instead of
 * libcuda.so.1 (for tests and unusual installs). The manifest format is
 * docs/MANIFEST.md; the kernel's parameters are docs/KERNEL_ABI.md.
 *
 * Tile plans are built here too, on the host, from the manifest's mask
 * program by the planner the compiler uses (sattn_plan_build), and copied to
 * the device with sattn_plan_upload. No MLIR, no LLVM and no Python are
 * needed at run time.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SATTN_RUNTIME_H
#define SATTN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sattn_status {
  SATTN_OK = 0,
  SATTN_ERROR_INVALID_ARGUMENT = 1, /* malformed call (null out-pointer, ...) */
  SATTN_ERROR_MANIFEST = 2,         /* manifest missing, unreadable or inconsistent */
  SATTN_ERROR_NO_DRIVER = 3,        /* libcuda could not be opened */
  SATTN_ERROR_NO_DEVICE = 4,        /* no CUDA device / context */
  SATTN_ERROR_COMPUTE_CAPABILITY = 5, /* device cannot run the kernel's target (older, or not the one an sm_XXa target needs) */
  SATTN_ERROR_MODULE_LOAD = 6,      /* the driver rejected the PTX/cubin */
  SATTN_ERROR_NULL_POINTER = 7,     /* a required tensor has no data */
  SATTN_ERROR_DTYPE = 8,            /* tensor dtype differs from the kernel's */
  SATTN_ERROR_SHAPE = 9,            /* rank, head_dim, heads, batch or lengths wrong */
  SATTN_ERROR_STRIDE = 10,          /* last dimension not contiguous, or negative strides */
  SATTN_ERROR_ALIGNMENT = 11,       /* data or row stride not 16-byte aligned */
  SATTN_ERROR_TABLE = 12,           /* runtime table missing or of the wrong shape */
  SATTN_ERROR_PLAN = 13,            /* plan buffers missing or inconsistent */
  SATTN_ERROR_LAUNCH = 14,          /* the driver failed the launch */
  SATTN_ERROR_OUT_OF_MEMORY = 15
} sattn_status;

typedef enum sattn_dtype {
  SATTN_DTYPE_BF16 = 0,
  SATTN_DTYPE_F16 = 1,
  SATTN_DTYPE_F32 = 2,
  SATTN_DTYPE_I64 = 3
} sattn_dtype;

/* A strided device tensor of rank <= 4. Strides are in elements. */
typedef struct sattn_tensor {
  void *data;
  sattn_dtype dtype;
  int32_t rank;
  int64_t shape[4];
  int64_t strides[4];
} sattn_tensor;

/* A tile plan in the flat form of docs/KERNEL_ABI.md, in device memory
 * (sattn_plan_build + sattn_plan_upload make one; see below). */
typedef struct sattn_plan {
  const int64_t *segments;    /* num_segments rows of 7: segment rows, then */
  int64_t num_segments;       /* the key pool of List segments (KERNEL_ABI) */
  const int64_t *offsets;     /* num_classes x (num_query_tiles + 1) */
  int64_t num_classes;
  const int64_t *class_index; /* batch x heads */
  int64_t num_query_tiles;
  int64_t block_m, block_n;   /* the tile sizes the plan was built for */
} sattn_plan;

typedef struct sattn_kernel sattn_kernel;

/* Loads a kernel from its manifest (JSON text) and image (PTX text or cubin
 * bytes). The manifest is copied; the image may be freed after the call. */
sattn_status sattn_kernel_load(const char *manifest_json, const void *image,
                               size_t image_size, sattn_kernel **out);

/* Loads NAME.json and the NAME.cubin and/or NAME.ptx next to it (at least
 * one must exist). The driver is not touched here: at the first launch in a
 * context the cubin is tried first and the PTX is the fallback. */
sattn_status sattn_kernel_load_file(const char *manifest_path,
                                    sattn_kernel **out);

void sattn_kernel_destroy(sattn_kernel *kernel);

/* Kernel facts from the manifest. */
const char *sattn_kernel_name(const sattn_kernel *kernel);
int64_t sattn_kernel_heads(const sattn_kernel *kernel);
int64_t sattn_kernel_kv_heads(const sattn_kernel *kernel);
int64_t sattn_kernel_head_dim(const sattn_kernel *kernel);
int32_t sattn_kernel_num_tables(const sattn_kernel *kernel);
const char *sattn_kernel_table_name(const sattn_kernel *kernel, int32_t i);
/* Additions for bindings that allocate outputs and plans themselves. */
sattn_dtype sattn_kernel_dtype(const sattn_kernel *kernel);
int32_t sattn_kernel_returns_lse(const sattn_kernel *kernel);
int64_t sattn_kernel_block_m(const sattn_kernel *kernel);
int64_t sattn_kernel_block_n(const sattn_kernel *kernel);
/* Writes the shape table `i` must have for `batch` and key length `lk` to
 * shape[0..rank) and returns its rank (0..4), or -1 if there is no table i
 * or batch < 1 or lk < 0. */
int32_t sattn_kernel_table_shape(const sattn_kernel *kernel, int32_t i,
                                 int64_t batch, int64_t lk, int64_t shape[4]);

/* Validates everything, then launches on `stream` (a CUstream; NULL for the
 * default stream) in the calling thread's current CUDA context (without one,
 * device 0's primary context, which is then made current). q: (B, H, Lq, D), k/v: (B, KV_H, Lk, D), o like q, lse
 * (B, H, Lq) f32, required exactly when the kernel returns LSE (NULL
 * otherwise), tables in manifest order (int64, shapes per the manifest).
 * Returns without launching on any validation failure; an empty problem
 * (batch or Lq of 0) validates and returns SATTN_OK without a launch. A
 * kernel may be launched from several threads at once. Kernels index within
 * one (batch, head) slice in 32 bits: a slice spanning 2^31 or more elements
 * or Lk >= 2^30 is rejected (docs/KERNEL_ABI.md, "Index width"). Kernels
 * with "kernel": "wgmma" in their manifest read Q, K and V through TMA
 * tensor maps, encoded here at every launch: their Q, K and V may not be
 * broadcast (stride 0 along an extent > 1; SATTN_ERROR_STRIDE). */
sattn_status sattn_launch(const sattn_kernel *kernel, const sattn_tensor *q,
                          const sattn_tensor *k, const sattn_tensor *v,
                          const sattn_tensor *o, const sattn_tensor *lse,
                          const sattn_plan *plan, const sattn_tensor *tables,
                          int32_t num_tables, void *stream);

/* Only the validation of sattn_launch (no driver needed). */
sattn_status sattn_validate(const sattn_kernel *kernel, const sattn_tensor *q,
                            const sattn_tensor *k, const sattn_tensor *v,
                            const sattn_tensor *o, const sattn_tensor *lse,
                            const sattn_plan *plan, const sattn_tensor *tables,
                            int32_t num_tables);

/*===- Block maxima (training targets of learned gates) ---------------------===*
 *
 * A kernel compiled with `block_max = true` (docs/KERNEL_ABI.md, "Block
 * maxima") also writes, for every query tile m and KV tile n of its plan,
 * the largest attention probability exp(s_ij - LSE_i) among the tile's kept
 * pairs (0 where it keeps none): the target a learned block gate is
 * distilled against, without a dense pass. It is the portable kernel over
 * Range-only plans (the manifest's "plan_gathers" is false), and launches
 * only through sattn_launch_block_max (sattn_launch refuses it). */

/* 1 when the kernel was compiled with block_max, 0 otherwise (or for NULL). */
int32_t sattn_kernel_has_block_max(const sattn_kernel *kernel);

/* sattn_launch plus the block maxima. row_max: float32 (B, H, N, Lq),
 * N = ceil(Lk / block_n), row-major contiguous, 4-byte aligned: scratch the
 * kernel fills with each row's largest logit per visited KV tile (only
 * visited entries are written; 4 * B * H * Lq * N bytes, 1 GiB at B = 1,
 * H = 16, L = 32768 with 64-key tiles). block_max: float32 (B, H, T, N),
 * T = plan->num_query_tiles, row-major contiguous, 4-byte aligned: every
 * entry is overwritten. The other arguments are sattn_launch's. */
sattn_status sattn_launch_block_max(const sattn_kernel *kernel, const sattn_tensor *q,
                                    const sattn_tensor *k, const sattn_tensor *v,
                                    const sattn_tensor *o, const sattn_tensor *lse,
                                    const sattn_tensor *row_max, const sattn_tensor *block_max,
                                    const sattn_plan *plan, const sattn_tensor *tables,
                                    int32_t num_tables, void *stream);

/* Only the validation of sattn_launch_block_max (no driver needed). */
sattn_status sattn_validate_block_max(const sattn_kernel *kernel, const sattn_tensor *q,
                                      const sattn_tensor *k, const sattn_tensor *v,
                                      const sattn_tensor *o, const sattn_tensor *lse,
                                      const sattn_tensor *row_max,
                                      const sattn_tensor *block_max, const sattn_plan *plan,
                                      const sattn_tensor *tables, int32_t num_tables);

/*===- The backward pass (training) -----------------------------------------===*
 *
 * Kernels compiled with `sattn-compile --backward` carry a backward kernel
 * in the same image (docs/KERNEL_ABI.md, "Backward kernel"; the manifest's
 * "backward" record): dQ, dK and dV of the forward over the forward's own
 * tile plan, so the same plan (and tables) serve both passes. Such kernels
 * always return LSE, and the backward reads the forward's. */

/* 1 when the kernel has a backward pass, 0 otherwise (or for NULL). */
int32_t sattn_kernel_has_backward(const sattn_kernel *kernel);

/* Validates, zeroes d_q, d_k and d_v on `stream`, then launches the backward
 * kernel there (grid (num_query_tiles, heads, B) as the forward's). q, k, v,
 * o, lse, plan and tables: the forward's call, checked as sattn_launch
 * checks them, lse required ((B, H, Lq) f32 as the forward wrote it, natural
 * log). d_o: the gradient of o, the kernel's dtype and o's shape, laid out
 * as an input (any non-negative strides, innermost contiguous, 16-byte
 * aligned pointer and strides).
 * d_q (B, H, Lq, D), d_k and d_v (B, KV_H, Lk, D): float32, row-major
 * contiguous (SATTN_ERROR_STRIDE otherwise), 16-byte aligned; they are
 * overwritten (dK and dV sum the query heads of each KV head). A kernel
 * without a backward pass is SATTN_ERROR_INVALID_ARGUMENT; a device without
 * the shared memory or threads it needs is SATTN_ERROR_COMPUTE_CAPABILITY
 * (the forward still runs there). An empty batch validates and returns
 * SATTN_OK without touching the driver. */
sattn_status sattn_launch_backward(const sattn_kernel *kernel, const sattn_tensor *q,
                                   const sattn_tensor *k, const sattn_tensor *v,
                                   const sattn_tensor *o, const sattn_tensor *lse,
                                   const sattn_tensor *d_o, const sattn_tensor *d_q,
                                   const sattn_tensor *d_k, const sattn_tensor *d_v,
                                   const sattn_plan *plan, const sattn_tensor *tables,
                                   int32_t num_tables, void *stream);

/* Only the validation of sattn_launch_backward (no driver needed). */
sattn_status sattn_validate_backward(const sattn_kernel *kernel, const sattn_tensor *q,
                                     const sattn_tensor *k, const sattn_tensor *v,
                                     const sattn_tensor *o, const sattn_tensor *lse,
                                     const sattn_tensor *d_o, const sattn_tensor *d_q,
                                     const sattn_tensor *d_k, const sattn_tensor *d_v,
                                     const sattn_plan *plan, const sattn_tensor *tables,
                                     int32_t num_tables);

/* The deterministic backward: the same kernel and checks as
 * sattn_launch_backward, but dK and dV are summed in 64-bit fixed point, so
 * that they are bitwise the same from run to run whatever order the query
 * tiles' shares arrive in (dQ is deterministic in both forms). d_k and d_v:
 * int64 (SATTN_DTYPE_I64), shaped and laid out as the float32 ones, zeroed
 * and then overwritten with the sums of round(x * s) over the shares x of
 * each element (round to nearest even), s = dkv_scales[0] for dK and
 * dkv_scales[1] for dV; dkv_scales: a DEVICE float32 tensor of shape (2,),
 * read by the kernel (so the caller may compute it on the device without
 * synchronising). The caller divides the sums by s. Choose each s as a
 * power of two (x * s is then exact) with |dK| * s and every share below
 * 2^62; docs/KERNEL_ABI.md ("Deterministic backward") gives bounds from the
 * inputs that sattn's PyTorch op uses. Sums at a smaller s lose low bits; a
 * larger one overflows (wraps) silently. */
sattn_status sattn_launch_backward_deterministic(
    const sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k,
    const sattn_tensor *v, const sattn_tensor *o, const sattn_tensor *lse,
    const sattn_tensor *d_o, const sattn_tensor *d_q, const sattn_tensor *d_k,
    const sattn_tensor *d_v, const sattn_tensor *dkv_scales, const sattn_plan *plan,
    const sattn_tensor *tables, int32_t num_tables, void *stream);

/* Only the validation of sattn_launch_backward_deterministic. */
sattn_status sattn_validate_backward_deterministic(
    const sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k,
    const sattn_tensor *v, const sattn_tensor *o, const sattn_tensor *lse,
    const sattn_tensor *d_o, const sattn_tensor *d_q, const sattn_tensor *d_k,
    const sattn_tensor *d_v, const sattn_tensor *dkv_scales, const sattn_plan *plan,
    const sattn_tensor *tables, int32_t num_tables);

/*===- Tile plans built by the runtime --------------------------------------===*
 *
 * Plans are built on the host from the manifest's "mask_program" by the same
 * planner the compiler uses, then copied to the device. A plan depends on
 * (batch, Lq, Lk) and the table contents only: build it once per shape and
 * reuse it for every launch with those inputs. */

typedef struct sattn_host_plan sattn_host_plan;

/* Builds the tile plan of `kernel` for (batch, lq, lk), 0 <= lq <= lk, on the
 * host from the manifest's mask program, with the kernel's block_m/block_n.
 * host_tables: the kernel's runtime tables in manifest order as HOST int64
 * contiguous row-major tensors (dtype SATTN_DTYPE_I64, shapes per
 * sattn_kernel_table_shape(kernel, i, batch, lk, ...)); NULL/0 when it has
 * none. Fails with SATTN_ERROR_MANIFEST when the manifest has no (valid)
 * mask program (dynamic masks have none), SATTN_ERROR_SHAPE for bad
 * batch/lengths, SATTN_ERROR_TABLE for missing, misshapen or out-of-range
 * tables, SATTN_ERROR_INVALID_ARGUMENT for NULL kernel/out; the message says
 * which. Costs O(segments) for named patterns. *out is NULL on failure. */
sattn_status sattn_plan_build(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                              int64_t lk, const sattn_tensor *host_tables,
                              int32_t num_tables, sattn_host_plan **out);
/* Host pointers into the plan's buffers (valid until destroy) and its
 * counts, in the form sattn_launch takes (but in host memory). */
void sattn_host_plan_view(const sattn_host_plan *plan, sattn_plan *view);
/* Tiles the plan visits and tiles a dense kernel would visit (for summaries). */
void sattn_host_plan_stats(const sattn_host_plan *plan, int64_t *visited_tiles,
                           int64_t *dense_tiles);
void sattn_host_plan_destroy(sattn_host_plan *plan);

typedef struct sattn_device_plan sattn_device_plan;
/* Copies a host plan to device memory in the calling thread's current CUDA
 * context (device 0's primary context when none, as sattn_launch does);
 * synchronous. The device plan does not refer to the host plan afterwards. */
sattn_status sattn_plan_upload(const sattn_host_plan *plan, sattn_device_plan **out);
/* The device plan in the form sattn_launch takes (valid until destroy). */
const sattn_plan *sattn_device_plan_get(const sattn_device_plan *plan);
/* Frees the device buffers (in the context they were allocated in). */
void sattn_device_plan_destroy(sattn_device_plan *plan);

/*===- Tile plans built on the GPU -------------------------------------------===*
 *
 * Kernels compiled by this version of sattn-compile carry their plan builder
 * (generated from the mask, docs/DEVICE_PLANS.md): it builds the plan on the
 * device, from the lengths and the tables in device memory, in a workspace
 * the caller provides. The plan holds Range segments only (the sm_90a
 * kernel's plan form; the portable kernel reads it too). A build enqueues
 * work on `stream` and returns: no host synchronisation, no allocation, so
 * plan + launch can be captured in a CUDA graph and replayed with new
 * tables. */

/* Bytes of workspace a device plan of (batch, lq, lk) needs. Fails with
 * SATTN_ERROR_MANIFEST for kernels without a plan builder, SATTN_ERROR_SHAPE
 * for bad or too large shapes. */
sattn_status sattn_device_plan_workspace(const sattn_kernel *kernel, int64_t batch,
                                         int64_t lq, int64_t lk, size_t *bytes);
/* Where sattn_device_plan_build puts the plan of (batch, lq, lk) in its
 * workspace, without building it: *out receives the plan a build into a
 * workspace at address 0 would return, so its segments, offsets and
 * class_index are byte offsets into the workspace (add the workspace's
 * address to get the buffers) and its counts are the build's. For callers
 * that keep a built workspace and launch from it later (the PyTorch op).
 * Fails as sattn_device_plan_workspace does. */
sattn_status sattn_device_plan_layout(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                                      int64_t lk, sattn_plan *out);
/* Builds the plan of (batch, lq, lk) on `stream` (a CUstream; NULL for the
 * default stream) in the current CUDA context. tables: the kernel's tables
 * in manifest order, DEVICE int64 tensors as for sattn_launch. workspace: a
 * device buffer of at least sattn_device_plan_workspace bytes, 256-byte
 * aligned. *out receives the plan (pointers into the workspace, usable by
 * sattn_launch on the same stream once this returns). */
sattn_status sattn_device_plan_build(const sattn_kernel *kernel, int64_t batch, int64_t lq,
                                     int64_t lk, const sattn_tensor *tables,
                                     int32_t num_tables, void *workspace,
                                     size_t workspace_bytes, void *stream, sattn_plan *out);

/* Compiled estimators (docs/ESTIMATORS.md). A kernel whose mask is a
 * dynamic pattern with a compiled estimator (block_topk with either scorer,
 * vertical_slash, stripe, gate, nsa's selection) reads one of its tables from the estimator:
 * sattn_estimator_table gives its index in the manifest's tables
 * (SATTN_ERROR_INVALID_ARGUMENT for a kernel without an estimator).
 * sattn_estimator_run reads q (B, H, Lq, D) and k (B, KV_H, Lk, D), device
 * tensors of the kernel's dtype laid out as for sattn_launch, and writes
 * that table, a DEVICE int64 tensor of its declared shape, contiguous:
 * block_topk and gate: (B, H, ceil(Lk / block), ceil(Lk / block)), entry
 * [b, h, I, J] is 1 when query block I of (b, h) keeps key block J;
 * vertical_slash: (B, H, 2, Lk), [b, h, 0, k] is 1 for a kept key column
 * and [b, h, 1, o] for a kept diagonal offset o = q - k; stripe:
 * (B, H, ceil(Lk / (block * step)), Lk), [b, h, u, k] is 1 for a key kept
 * for the queries of unit u; nsa: (B, KV_H, Lk, ceil(Lk / block)), [b, g,
 * p, j] is 1 when the queries at position p of KV head g's query heads
 * select key block j. It enqueues its kernels (3 launches, 4 for
 * nsa, 5 for gate, or 21 for vertical_slash) on `stream` and returns: pass the table
 * to sattn_device_plan_build and sattn_launch on the same stream, or keep
 * it to reuse the estimate (other layers, later calls). workspace: a device
 * buffer of at least sattn_estimator_workspace(batch, lk) bytes, 256-byte
 * aligned (the estimator's f64 scratch). A gate's estimator also reads its
 * learned weights, which sattn_estimator_run cannot pass: on such a kernel
 * it fails with SATTN_ERROR_NULL_POINTER ("the gate estimator needs its
 * weights: use sattn_estimator_run_weighted"). */
sattn_status sattn_estimator_table(const sattn_kernel *kernel, int32_t *index);
sattn_status sattn_estimator_workspace(const sattn_kernel *kernel, int64_t batch, int64_t lk,
                                       size_t *bytes);
sattn_status sattn_estimator_run(const sattn_kernel *kernel, const sattn_tensor *q,
                                 const sattn_tensor *k, const sattn_tensor *table,
                                 void *workspace, size_t workspace_bytes, void *stream);

/* Learned estimator weights (gate, SeerAttention's AttnGate: docs/
 * ESTIMATORS.md "gate"). sattn_estimator_weights writes the shape of the
 * weights the kernel's estimator reads to shape[0..3): (H, 4 * D, hidden),
 * per query head h the gate's wq (D x hidden, row-major) then its wk
 * (3 * D x hidden: the pooled maximum, minimum and mean of a key block), so
 * head h's wq starts at entry h * 4 * D * hidden. A kernel without an
 * estimator, or whose estimator takes no weights, is
 * SATTN_ERROR_INVALID_ARGUMENT (the message says which) and gets zeros.
 * sattn_estimator_run_weighted is sattn_estimator_run with those weights:
 * a DEVICE float32 (SATTN_DTYPE_F32) tensor of that shape, row-major
 * contiguous (SATTN_ERROR_STRIDE otherwise), 16-byte aligned, on the
 * current context's device; NULL exactly for the estimators that take none
 * (sattn_estimator_run(...) is sattn_estimator_run_weighted(..., NULL,
 * ...)). Weights given to such an estimator are SATTN_ERROR_INVALID_ARGUMENT,
 * a wrong dtype SATTN_ERROR_DTYPE, a wrong rank or extent SATTN_ERROR_SHAPE.
 * The stages only read the weights: one tensor may serve concurrent runs.
 * nsa's estimator takes a caller's compression in the weights' place,
 * optionally (NULL: the blocks' means): float32 compressed keys (B, KV_H,
 * C, D), C = floor((Lk - compress_block) / compress_stride) + 1 (0 below
 * compress_block keys), row-major contiguous, 16-byte aligned; its
 * selection then ranks blocks by those keys' probabilities. The compressed
 * branch kernel must get the same keys (and the caller's compressed values)
 * placed where their blocks end (docs/ESTIMATORS.md, "nsa").
 * Added in 0.1.0. */
sattn_status sattn_estimator_weights(const sattn_kernel *kernel, int64_t shape[3]);
sattn_status sattn_estimator_run_weighted(const sattn_kernel *kernel, const sattn_tensor *q,
                                          const sattn_tensor *k, const sattn_tensor *weights,
                                          const sattn_tensor *table, void *workspace,
                                          size_t workspace_bytes, void *stream);

/* Reference estimators of the dynamic masks (docs/ESTIMATORS.md), on the
 * HOST in double precision, for one (batch, head) slice: q is [lq, d] and k
 * [lk, d], rank-2 f32 host tensors with unit last stride, 1 <= lq <= lk.
 * They define what compiled estimators compute: use them to check those, or
 * to fill the runtime tables of a pattern's table form. Cost: O(last_q * lk
 * * d) and O(lk^2 * d / stride); meant for checks, not for every prompt.
 *
 * vertical_slash: vcol[j] = 1 for kept key columns, slash[o] = 1 for kept
 * diagonal offsets o = q - k (each lk bytes): the tables vcol[h, k] and
 * slash[h, q - k] of `causal & (vcol[h, k] | slash[h, q - k])`. */
sattn_status sattn_estimate_vertical_slash(const sattn_tensor *q, const sattn_tensor *k,
                                           double scale, int64_t vertical, int64_t slash,
                                           int64_t last_q, int64_t forced_vertical,
                                           int64_t forced_slash, uint8_t *vcol,
                                           uint8_t *slash_out);
typedef enum sattn_block_scorer {
  SATTN_BLOCK_SCORER_MEAN_POOL = 0,   /* MInference block-sparse */
  SATTN_BLOCK_SCORER_ANTIDIAGONAL = 1 /* XAttention; needs stride */
} sattn_block_scorer;
/* block_topk: exactly one of top_k > 0 and tau in (0, 1]; stride > 0 only
 * for the antidiagonal scorer (it divides block). kept[I * n + J] = 1 for
 * kept key block J of query block I, n = ceil(lk / block) (n * n bytes):
 * the table of `causal & block_table(keep, block)` for this head. */
sattn_status sattn_estimate_blocks(const sattn_tensor *q, const sattn_tensor *k,
                                   double scale, sattn_block_scorer scorer, int64_t block,
                                   int64_t top_k, double tau, int64_t stride, uint8_t *kept);
/* gate (SeerAttention's AttnGate, docs/ESTIMATORS.md "gate"): the weights of
 * this query head are rank-2 f32 host tensors with unit last stride, wq
 * [d, hidden] and wk [3 * d, hidden] (pooled max, min and mean of a key
 * block, concatenated); hidden even; exactly one of threshold in (0, 1) and
 * top_ratio in (0, 1]; rope_base > 1 (10000 in SeerAttention). kept as for
 * sattn_estimate_blocks (n = ceil(lk / block)). Added in 0.1.0. */
sattn_status sattn_estimate_gate(const sattn_tensor *q, const sattn_tensor *k,
                                 const sattn_tensor *wq, const sattn_tensor *wk, int64_t block,
                                 double threshold, double top_ratio, double rope_base,
                                 uint8_t *kept);

/* stripe (AnchorAttention, docs/ESTIMATORS.md "stripe"): group, block, step
 * >= 1 with group a multiple of block * step; theta > 0 (natural-log units of
 * the scaled logits). kept receives ceil(lk / (block * step)) * lk entries,
 * 1 where key k is selected for the queries of unit u (row u): the table
 * `sel[b, h, q / (block * step), k]` of `causal & (k < group |
 * k >= q / group * group | sel[b, h, q / (block * step), k])`. Added in 0.1.0. */
sattn_status sattn_estimate_stripe(const sattn_tensor *q, const sattn_tensor *k, double scale,
                                   int64_t group, int64_t block, int64_t step, double theta,
                                   uint8_t *kept);

/* nsa (Native Sparse Attention's forward, docs/ESTIMATORS.md "nsa") for one
 * (batch, KV head) group, not a mask but the output itself: q [heads, lq, d]
 * (the query heads that share the KV head), k and v [lk, d], gates
 * [heads, lq, 3] (compressed, selected, sliding), all f32 host tensors with
 * unit last stride; compressed_k / compressed_v [blocks, d] or both NULL
 * (means of the blocks; blocks = (lk - compress_block) / compress_stride + 1
 * when lk >= compress_block, else 0). Parameters as `mask.nsa`'s verifier
 * accepts them; window 0 disables the sliding branch. out receives
 * heads * lq * d floats (row-major), selected lq * select_count block ids
 * per row (ascending, -1 padded). Added in 0.1.0. */
sattn_status sattn_estimate_nsa(const sattn_tensor *q, const sattn_tensor *k,
                                const sattn_tensor *v, const sattn_tensor *gates,
                                const sattn_tensor *compressed_k,
                                const sattn_tensor *compressed_v, double scale,
                                int64_t compress_block, int64_t compress_stride,
                                int64_t select_block, int64_t select_count, int64_t window,
                                int64_t local_blocks, float *out, int64_t *selected);

/* Message of the last failure on this thread ("" after success). */
const char *sattn_last_error(void);

const char *sattn_status_string(sattn_status status);

/* The sattn version this library was built from ("0.1.0"): the version
 * sattn-compile --version and the Python package's sattn.__version__ report
 * too. Added in 0.1.0; bindings use it to refuse a mismatched library. */
const char *sattn_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SATTN_RUNTIME_H */
