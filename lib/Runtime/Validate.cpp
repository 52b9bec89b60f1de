//===- Validate.cpp - checks of a launch against its manifest -------------===//
//
// The checks run in a fixed order (descriptors, dtypes, ranks, extents,
// required tensors, data pointers, strides, alignment, tables, plan, grid
// limits) so that a call with several mistakes reports the most basic one
// first. Extents of size 1 may have any stride, as PyTorch produces for
// unsqueezed or expanded dimensions; outputs may not have stride 0 along an
// extent > 1 because rows would overwrite each other; the largest address a
// tensor spans is computed with overflow checks so that absurd strides
// cannot wrap around into a small, valid-looking offset. Kernels that load
// through TMA tensor maps ("wgmma") also need maps the driver accepts
// (TensorMaps.cpp), checked last.
//
//===----------------------------------------------------------------------===//

#include "Checker.h"
#include "TensorMaps.h"

#include <algorithm>
#include <cstdio>

namespace sattn::rt {

namespace check {

bool elementCount(const sattn_tensor &t, int64_t &count) {
  count = 1;
  // A descriptor holds at most 4 extents: never read past shape[3].
  if (t.rank < 0 || t.rank > 4)
    return false;
  for (int d = 0; d < t.rank; ++d)
    if (__builtin_mul_overflow(count, t.shape[d], &count))
      return false;
  return true;
}

sattn_status Checker::dtype(const Role &r, const sattn_tensor &t, sattn_dtype want,
                            const char *why) {
  const int32_t code = dtypeCode(t);
  if (code == want)
    return SATTN_OK;
  if (dtypeSize(code) == 0)
    return fail(SATTN_ERROR_DTYPE, std::string(r.name) + " has an invalid dtype value " +
                                       str(static_cast<int64_t>(code)) +
                                       ", expected " + dtypeName(want) + " " + why);
  return fail(SATTN_ERROR_DTYPE, std::string(r.name) + " has dtype " +
                                     dtypeName(code) + ", expected " +
                                     dtypeName(want) + " " + why);
}

sattn_status Checker::rank(const Role &r, const sattn_tensor &t) {
  if (t.rank != r.rank) {
    std::string dims;
    for (int d = 0; d < r.rank; ++d)
      dims += std::string(d ? ", " : "") + r.dims[d];
    return fail(SATTN_ERROR_SHAPE, std::string(r.name) + " has rank " + str(t.rank) +
                                       ", expected " + str(r.rank) + " (" + dims + ")");
  }
  for (int d = 0; d < r.rank; ++d)
    if (t.shape[d] < 0)
      return fail(SATTN_ERROR_SHAPE,
                  dimName(r, d) + " is negative (" + str(t.shape[d]) + ")");
  return SATTN_OK;
}

sattn_status Checker::extent(const Role &r, const sattn_tensor &t, int d,
                             int64_t want, const std::string &why) {
  if (t.shape[d] == want)
    return SATTN_OK;
  return fail(SATTN_ERROR_SHAPE, dimName(r, d) + " is " + str(t.shape[d]) +
                                     ", expected " + str(want) + " (" + why + ")");
}

/// Strides: non-negative, innermost contiguous, no self-overlapping output
/// rows, and an address span that fits in int64.
sattn_status Checker::span(const char *name, const sattn_tensor &t, bool output) {
  int64_t count;
  if (!elementCount(t, count))
    return fail(SATTN_ERROR_SHAPE, std::string(name) + " has more elements than int64 can count");
  int last = t.rank - 1;
  for (int d = 0; d < t.rank; ++d)
    if (t.strides[d] < 0)
      return fail(SATTN_ERROR_STRIDE, std::string(name) + " has a negative stride (" +
                                          str(t.strides[d]) + ") in dimension " + str(d) +
                                          "; negative strides are not supported");
  if (count == 0)
    return SATTN_OK;
  if (t.rank > 0 && t.shape[last] > 1 && t.strides[last] != 1)
    return fail(SATTN_ERROR_STRIDE, std::string(name) + " dimension " + str(last) +
                                        " has stride " + str(t.strides[last]) +
                                        ", expected 1 (the last dimension must be contiguous)");
  if (output)
    for (int d = 0; d < t.rank; ++d)
      if (t.shape[d] > 1 && t.strides[d] == 0)
        return fail(SATTN_ERROR_STRIDE,
                    std::string(name) + " dimension " + str(d) + " has stride 0 with extent " +
                        str(t.shape[d]) + "; an output's elements must not alias");
  int64_t maxOffset = 0;
  for (int d = 0; d < t.rank; ++d) {
    int64_t term;
    if (__builtin_mul_overflow(t.shape[d] - 1, t.strides[d], &term) ||
        __builtin_add_overflow(maxOffset, term, &maxOffset) ||
        __builtin_mul_overflow(maxOffset, int64_t(8), &term))
      return fail(SATTN_ERROR_STRIDE, std::string(name) +
                                          "'s shape and strides address more bytes than int64 holds");
  }
  return SATTN_OK;
}

sattn_status Checker::aligned(const Role &r, const sattn_tensor &t, int64_t bytes,
                              bool strides) {
  auto address = reinterpret_cast<uintptr_t>(t.data);
  if (address % static_cast<uintptr_t>(bytes) != 0)
    return fail(SATTN_ERROR_ALIGNMENT, std::string(r.name) + " data pointer " +
                                           hexPointer(t.data) + " is not " + str(bytes) +
                                           "-byte aligned");
  if (!strides)
    return SATTN_OK;
  int64_t size = dtypeSize(dtypeCode(t));
  for (int d = 0; d + 1 < t.rank; ++d) {
    if (t.shape[d] <= 1)
      continue;
    if ((t.strides[d] * size) % bytes != 0)
      return fail(SATTN_ERROR_ALIGNMENT,
                  dimName(r, d) + " has stride " + str(t.strides[d]) + " elements = " +
                      str(t.strides[d] * size) + " bytes, not a multiple of " + str(bytes));
  }
  return SATTN_OK;
}

sattn_status Checker::table(int32_t i, const TableSpec &spec, const sattn_tensor &t,
                            const LaunchShape &shape) {
  std::string name = "table " + str(i) + " (\"" + spec.name + "\")";
  if (dtypeCode(t) != SATTN_DTYPE_I64)
    return fail(SATTN_ERROR_DTYPE, name + " has dtype " + dtypeName(dtypeCode(t)) +
                                       ", expected i64 (runtime tables are int64 buffers "
                                       "whatever their declared element type)");
  int rank = static_cast<int>(spec.dims.size());
  if (t.rank != rank)
    return fail(SATTN_ERROR_TABLE, name + " has rank " + str(t.rank) + ", expected " +
                                       str(rank));
  for (int d = 0; d < rank; ++d) {
    int64_t want = spec.dims[d].extent(shape.batch, m.heads, shape.lk);
    if (t.shape[d] != want)
      return fail(SATTN_ERROR_TABLE, name + " dimension " + str(d) + " (\"" +
                                         spec.dims[d].text + "\") is " + str(t.shape[d]) +
                                         ", expected " + str(want));
  }
  int64_t count;
  if (!elementCount(t, count))
    return fail(SATTN_ERROR_TABLE, name + " has more elements than int64 can count");
  if (count > 0 && !t.data)
    return fail(SATTN_ERROR_NULL_POINTER, name + " has no data (NULL pointer)");
  int64_t expected = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (t.shape[d] > 1 && t.strides[d] != expected && count > 0)
      return fail(SATTN_ERROR_TABLE, name + " is not contiguous: dimension " + str(d) +
                                         " has stride " + str(t.strides[d]) +
                                         ", expected " + str(expected) + " (row-major)");
    expected *= t.shape[d];
  }
  if (reinterpret_cast<uintptr_t>(t.data) % 8 != 0)
    return fail(SATTN_ERROR_ALIGNMENT, name + " data pointer " + hexPointer(t.data) +
                                           " is not 8-byte aligned");
  return SATTN_OK;
}

sattn_status Checker::plan(const sattn_plan &p, const LaunchShape &shape) {
  if (p.block_m != m.blockM || p.block_n != m.blockN)
    return fail(SATTN_ERROR_PLAN, "plan was built for tiles of " + str(p.block_m) + " x " +
                                      str(p.block_n) + ", the kernel '" + m.name +
                                      "' uses block_m x block_n = " + str(m.blockM) +
                                      " x " + str(m.blockN));
  int64_t tiles = shape.lq / m.blockM + (shape.lq % m.blockM != 0);
  if (p.num_query_tiles != tiles)
    return fail(SATTN_ERROR_PLAN, "plan has num_query_tiles = " + str(p.num_query_tiles) +
                                      ", expected ceil(Lq / block_m) = ceil(" +
                                      str(shape.lq) + " / " + str(m.blockM) +
                                      ") = " + str(tiles));
  if (p.num_segments < 0)
    return fail(SATTN_ERROR_PLAN, "plan has num_segments = " + str(p.num_segments) +
                                      ", expected >= 0");
  if (p.num_classes < 1)
    return fail(SATTN_ERROR_PLAN, "plan has num_classes = " + str(p.num_classes) +
                                      ", expected >= 1");
  int64_t cells;
  if (__builtin_mul_overflow(p.num_segments, int64_t(7 * 8), &cells) ||
      __builtin_mul_overflow(p.num_classes, tiles + 1, &cells) ||
      __builtin_mul_overflow(cells, int64_t(8), &cells))
    return fail(SATTN_ERROR_PLAN, "plan sizes overflow int64");
  if (!p.segments && p.num_segments > 0)
    return fail(SATTN_ERROR_PLAN, "plan.segments is NULL but num_segments = " +
                                      str(p.num_segments));
  if (!p.offsets)
    return fail(SATTN_ERROR_PLAN, "plan.offsets is NULL");
  if (!p.class_index)
    return fail(SATTN_ERROR_PLAN, "plan.class_index is NULL");
  const void *buffers[] = {p.segments, p.offsets, p.class_index};
  const char *names[] = {"segments", "offsets", "class_index"};
  for (int i = 0; i < 3; ++i)
    if (reinterpret_cast<uintptr_t>(buffers[i]) % 8 != 0)
      return fail(SATTN_ERROR_ALIGNMENT, std::string("plan.") + names[i] + " pointer " +
                                             hexPointer(buffers[i]) +
                                             " is not 8-byte aligned");
  return SATTN_OK;
}

/// The span of one (batch, head) slice (dimensions from 2 on) within the
/// kernels' 32-bit offsets; span() has checked that the products fit int64.
sattn_status Checker::sliceFits(const char *name, const sattn_tensor &t) {
  int64_t slice = 0;
  for (int d = 2; d < t.rank; ++d)
    slice += (t.shape[d] - 1) * t.strides[d];
  if (slice > INT32_MAX)
    return fail(SATTN_ERROR_STRIDE,
                std::string(name) + "'s rows span " + str(slice + 1) +
                    " elements within one (batch, head); the kernel's 32-bit "
                    "offsets reach at most 2^31 - 1 (use a smaller row stride "
                    "or a shorter sequence)");
  return SATTN_OK;
}

sattn_status Checker::tables(const sattn_tensor *tables, int32_t numTables,
                              const LaunchShape &shape) {
  for (int32_t i = 0; tables && i < numTables; ++i) {
    int64_t count;
    if (tables[i].rank < 0 || tables[i].rank > 4)
      return fail(SATTN_ERROR_TABLE, "runtime table " + str(i) + " has rank " +
                                         str(tables[i].rank) +
                                         "; a tensor descriptor holds 0 to 4 dimensions");
    if (!elementCount(tables[i], count) || count > INT32_MAX)
      return fail(SATTN_ERROR_TABLE, "runtime table " + str(i) +
                                         " has more than 2^31 - 1 elements, "
                                         "beyond the kernel's 32-bit indexing");
  }

  // Runtime tables, in manifest order.
  int32_t want = static_cast<int32_t>(m.tables.size());
  if (numTables != want) {
    std::string names;
    for (const TableSpec &t : m.tables)
      names += (names.empty() ? "" : ", ") + t.name;
    return fail(SATTN_ERROR_TABLE, "kernel '" + m.name + "' reads " + str(want) +
                                       " runtime table(s)" +
                                       (names.empty() ? "" : " (" + names + ")") +
                                       ", got " + str(numTables));
  }
  for (int32_t i = 0; i < want; ++i)
    SATTN_TRY(table(i, m.tables[i], tables[i], shape));

  return SATTN_OK;
}

sattn_status Checker::run(const LaunchArgs &a, LaunchShape &shape) {
  const sattn_tensor *io[] = {a.q, a.k, a.v, a.o};
  const Role *roles[] = {&kQ, &kK, &kV, &kO};

  // Descriptors.
  for (int i = 0; i < 4; ++i)
    if (!io[i])
      return fail(SATTN_ERROR_NULL_POINTER,
                  std::string(roles[i]->name) + " is NULL (a tensor descriptor is required)");
  if (!a.plan)
    return fail(SATTN_ERROR_PLAN, "plan is NULL (a tile plan is required)");
  if (a.numTables < 0)
    return fail(SATTN_ERROR_TABLE, "num_tables is negative (" + str(a.numTables) + ")");
  if (a.numTables > 0 && !a.tables)
    return fail(SATTN_ERROR_TABLE, "tables is NULL but num_tables = " + str(a.numTables));

  // Dtypes.
  std::string kernelDtype = std::string("(the dtype of kernel '") + m.name + "')";
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(dtype(*roles[i], *io[i], m.dtype, kernelDtype.c_str()));
  if (a.lse)
    SATTN_TRY(dtype(kLse, *a.lse, SATTN_DTYPE_F32, "(log-sum-exp is float32)"));

  // Ranks and extents.
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(rank(*roles[i], *io[i]));
  if (a.lse)
    SATTN_TRY(rank(kLse, *a.lse));
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(extent(*roles[i], *io[i], 3, m.headDim, "the kernel's head_dim"));
  SATTN_TRY(extent(kQ, *a.q, 1, m.heads, "the kernel's heads"));
  SATTN_TRY(extent(kO, *a.o, 1, m.heads, "the kernel's heads"));
  SATTN_TRY(extent(kK, *a.k, 1, m.kvHeads, "the kernel's kv_heads"));
  SATTN_TRY(extent(kV, *a.v, 1, m.kvHeads, "the kernel's kv_heads"));
  shape.batch = a.q->shape[0];
  shape.lq = a.q->shape[2];
  shape.lk = a.k->shape[2];
  for (int i = 1; i < 4; ++i)
    SATTN_TRY(extent(*roles[i], *io[i], 0, shape.batch, "q's batch"));
  SATTN_TRY(extent(kV, *a.v, 2, shape.lk, "k's Lk"));
  if (shape.lq > shape.lk)
    return fail(SATTN_ERROR_SHAPE, "q dimension 2 (Lq) is " + str(shape.lq) +
                                       ", expected at most k's Lk = " + str(shape.lk) +
                                       " (queries are the last Lq of the Lk positions)");
  SATTN_TRY(extent(kO, *a.o, 2, shape.lq, "q's Lq; o has q's shape"));

  // LSE: required exactly when the kernel returns it.
  if (m.returnLse && !a.lse)
    return fail(SATTN_ERROR_NULL_POINTER, "lse is NULL but kernel '" + m.name +
                                              "' was compiled with return_lse");
  if (!m.returnLse && a.lse)
    return fail(SATTN_ERROR_INVALID_ARGUMENT,
                "lse was given but kernel '" + m.name +
                    "' was compiled without return_lse and would not write it; pass NULL");
  if (a.lse) {
    SATTN_TRY(extent(kLse, *a.lse, 0, shape.batch, "q's batch"));
    SATTN_TRY(extent(kLse, *a.lse, 1, m.heads, "the kernel's heads"));
    SATTN_TRY(extent(kLse, *a.lse, 2, shape.lq, "q's Lq"));
  }

  // Data pointers: an empty tensor may have none (PyTorch gives NULL).
  for (int i = 0; i < 5; ++i) {
    const sattn_tensor *t = i < 4 ? io[i] : a.lse;
    const Role &r = i < 4 ? *roles[i] : kLse;
    int64_t count;
    if (t && elementCount(*t, count) && count > 0 && !t->data)
      return fail(SATTN_ERROR_NULL_POINTER, std::string(r.name) + " has no data (NULL pointer)");
  }

  // Strides, then alignment.
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(span(roles[i]->name, *io[i], roles[i]->output));
  if (a.lse)
    SATTN_TRY(span("lse", *a.lse, true));
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(aligned(*roles[i], *io[i], kTensorAlignment, true));
  if (a.lse)
    SATTN_TRY(aligned(kLse, *a.lse, 4, false));

  // 32-bit in-kernel offsets: the kernel indexes with 32-bit arithmetic
  // inside one (batch, head) slice (the batch and head offsets are 64-bit),
  // so each slice's span, the sequence lengths and the runtime tables must
  // stay below 2^31 elements (lengths below 2^30, which leaves headroom for
  // positions a tile past the end and for mask arithmetic).
  if (shape.lk >= (int64_t(1) << 30))
    return fail(SATTN_ERROR_SHAPE, "k dimension 2 (Lk) is " + str(shape.lk) +
                                       ", the kernel's 32-bit index arithmetic "
                                       "takes at most 2^30 - 1 positions");
  for (int i = 0; i < 5; ++i) {
    const sattn_tensor *t = i < 4 ? io[i] : a.lse;
    int64_t count;
    if (t && elementCount(*t, count) && count > 0)
      SATTN_TRY(sliceFits(i < 4 ? roles[i]->name : "lse", *t));
  }
  SATTN_TRY(tables(a.tables, a.numTables, shape));

  SATTN_TRY(plan(*a.plan, shape));
  // The kernel indexes the plan's arrays with 32-bit offsets too.
  int64_t segmentWords = 0, offsetWords = 0;
  if (__builtin_mul_overflow(a.plan->num_segments, int64_t(7), &segmentWords) ||
      __builtin_mul_overflow(a.plan->num_classes, a.plan->num_query_tiles + 1,
                             &offsetWords) ||
      segmentWords > INT32_MAX || offsetWords > INT32_MAX)
    return fail(SATTN_ERROR_PLAN, "the plan's segment or offset arrays exceed "
                                  "2^31 - 1 elements, beyond the kernel's "
                                  "32-bit indexing");

  // Launch grid: (num_query_tiles, heads, batch); y and z are capped at 65535.
  if (shape.batch > 65535)
    return fail(SATTN_ERROR_SHAPE, "batch is " + str(shape.batch) +
                                       ", at most 65535 fit in the launch grid");
  if (a.plan->num_query_tiles > INT32_MAX)
    return fail(SATTN_ERROR_SHAPE, "Lq needs " + str(a.plan->num_query_tiles) +
                                       " query tiles, at most 2^31 - 1 fit in the launch grid");

  SATTN_TRY(blockMaxOutputs(a, shape));

  // A "wgmma" kernel reads Q, K and V through TMA tensor maps, which take
  // fewer layouts than pointers do (no broadcast strides).
  if (m.family == abi::KernelFamily::Wgmma) {
    TensorMapGeometry maps[3];
    SATTN_TRY(launchTensorMaps(m, a, maps, message));
  }
  return SATTN_OK;
}

/// A gate's weights: f32, (heads, 4 head_dim, hidden), then as every
/// estimator input read without strides.
sattn_status Checker::estimatorWeights(const sattn_tensor &w) {
  SATTN_TRY(dtype(kWeights, w, SATTN_DTYPE_F32, "(the gate's weights are float32)"));
  SATTN_TRY(rank(kWeights, w));
  SATTN_TRY(extent(kWeights, w, 0, m.heads, "the kernel's heads"));
  SATTN_TRY(extent(kWeights, w, 1, 4 * m.headDim,
                   "wq's head_dim rows, then wk's 3 * head_dim rows, with head_dim " +
                       str(m.headDim)));
  SATTN_TRY(extent(kWeights, w, 2, m.estimator.hidden, "the gate's hidden size"));
  return rowMajorEstimatorInput(kWeights, w, "the weights");
}

/// An estimator input read without strides (a gate's weights, nsa's
/// compressed keys): data, row-major contiguous, 16-byte aligned (vectorised
/// loads), and within the stages' 32-bit indexing.
sattn_status Checker::rowMajorEstimatorInput(const Role &r, const sattn_tensor &w,
                                              const std::string &what) {
  if (!w.data)
    return fail(SATTN_ERROR_NULL_POINTER, std::string(r.name) + " has no data (NULL pointer)");
  SATTN_TRY(span(r.name, w, false));
  int64_t expected = 1;
  for (int d = r.rank - 1; d >= 0; --d) {
    if (w.shape[d] > 1 && w.strides[d] != expected)
      return fail(SATTN_ERROR_STRIDE,
                  dimName(r, d) + " has stride " + str(w.strides[d]) + ", expected " +
                      str(expected) + ": the estimator reads " + what + " row-major contiguous");
    expected *= w.shape[d];
  }
  SATTN_TRY(aligned(r, w, kTensorAlignment, false));
  if (expected > INT32_MAX)
    return fail(SATTN_ERROR_SHAPE, std::string(r.name) + " has " + str(expected) +
                                       " entries, beyond the estimator's 32-bit indexing");
  return SATTN_OK;
}

/// An nsa estimator's compressed keys (a caller's compression, used instead
/// of the blocks' means): f32, (batch, KV heads, compressed blocks of Lk,
/// head_dim), row-major contiguous and 16-byte aligned, as the compress
/// stage reads entry ((b * KV + g) * blocks + c) * head_dim + x.
sattn_status Checker::compressedKeys(const sattn_tensor &w, int64_t batch, int64_t blocks) {
  const Role &r = kCompressedKeys;
  SATTN_TRY(dtype(r, w, SATTN_DTYPE_F32, "(compressed keys are float32)"));
  SATTN_TRY(rank(r, w));
  SATTN_TRY(extent(r, w, 0, batch, "q's batch"));
  SATTN_TRY(extent(r, w, 1, m.kvHeads, "the kernel's kv_heads"));
  SATTN_TRY(extent(r, w, 2, blocks,
                   "the compressed blocks of Lk keys, floor((Lk - " +
                       str(m.estimator.compressBlock) + ") / " +
                       str(m.estimator.compressStride) + ") + 1 (0 below " +
                       str(m.estimator.compressBlock) + " keys)"));
  SATTN_TRY(extent(r, w, 3, m.headDim, "the kernel's head_dim"));
  return blocks == 0 ? SATTN_OK : rowMajorEstimatorInput(r, w, "compressed keys");
}

/// Q and K as for a launch, the weights exactly when the estimator takes
/// them, and the estimator's table as the kernel's table of that name. The
/// estimator's scratch indexes pooled rows in 32 bits too: it must stay
/// below 2^31 entries.
sattn_status Checker::estimate(const sattn_tensor *q, const sattn_tensor *k,
                               const sattn_tensor *weights, const sattn_tensor *table,
                               LaunchShape &shape) {
  // Which entry point a kernel needs comes first: the other checks cannot
  // make a call without the weights right.
  if (m.estimator.takesWeights() && !weights)
    return fail(SATTN_ERROR_NULL_POINTER,
                "the gate estimator needs its weights: use sattn_estimator_run_weighted with a "
                "float32 (heads, 4 * head_dim, hidden) = (" +
                    str(m.heads) + ", " + str(4 * m.headDim) + ", " + str(m.estimator.hidden) +
                    ") device tensor (kernel '" + m.name + "')");
  bool nsa = m.estimator.kind == "nsa";
  if (!m.estimator.takesWeights() && !nsa && weights)
    return fail(SATTN_ERROR_INVALID_ARGUMENT,
                "weights were given, but the " + m.estimator.kind + " estimator of kernel '" +
                    m.name + "' takes none (gate's takes its weights, nsa's optionally a "
                    "caller's compressed keys); pass NULL");
  if (!q || !k || !table)
    return fail(SATTN_ERROR_NULL_POINTER, "q, k and the table must not be NULL");
  std::string kernelDtype = std::string("(the dtype of kernel '") + m.name + "')";
  SATTN_TRY(dtype(kQ, *q, m.dtype, kernelDtype.c_str()));
  SATTN_TRY(dtype(kK, *k, m.dtype, kernelDtype.c_str()));
  SATTN_TRY(rank(kQ, *q));
  SATTN_TRY(rank(kK, *k));
  SATTN_TRY(extent(kQ, *q, 3, m.headDim, "the kernel's head_dim"));
  SATTN_TRY(extent(kK, *k, 3, m.headDim, "the kernel's head_dim"));
  SATTN_TRY(extent(kQ, *q, 1, m.heads, "the kernel's heads"));
  SATTN_TRY(extent(kK, *k, 1, m.kvHeads, "the kernel's kv_heads"));
  shape.batch = q->shape[0];
  shape.lq = q->shape[2];
  shape.lk = k->shape[2];
  SATTN_TRY(extent(kK, *k, 0, shape.batch, "q's batch"));
  if (shape.batch < 1 || shape.batch > 65535 || shape.lq < 1 || shape.lq > shape.lk ||
      shape.lk >= (int64_t(1) << 30))
    return fail(SATTN_ERROR_SHAPE, "the estimator needs 1 <= batch <= 65535 and 1 <= Lq <= "
                                   "Lk < 2^30 (got batch " + str(shape.batch) + ", Lq " +
                                       str(shape.lq) + ", Lk " + str(shape.lk) + ")");
  for (const sattn_tensor *t : {q, k})
    if (!t->data)
      return fail(SATTN_ERROR_NULL_POINTER, std::string(t == q ? "q" : "k") +
                                                " has no data (NULL pointer)");
  SATTN_TRY(span("q", *q, false));
  SATTN_TRY(span("k", *k, false));
  SATTN_TRY(sliceFits("q", *q));
  SATTN_TRY(sliceFits("k", *k));
  abi::EstimatorShape sizes = m.estimatorShape(shape.batch, shape.lk);
  if (weights && nsa)
    SATTN_TRY(compressedKeys(*weights, shape.batch, sizes.compressedBlocks()));
  else if (weights)
    SATTN_TRY(estimatorWeights(*weights));
  int64_t scratch = sizes.scratchEntries(), items = 0;
  int stages = 0;
  sizes.stageNames(stages);
  // A tile stage's threads index nothing: its tiles are what must fit.
  for (int i = 0; i < stages; ++i)
    items = std::max(items, sizes.tileStage(i) ? sizes.stageItems(i) / abi::kEstimatorThreads
                                               : sizes.stageItems(i));
  if (scratch > INT32_MAX || items > INT32_MAX)
    return fail(SATTN_ERROR_SHAPE, "the estimator's scratch (" + str(scratch) +
                                       " entries) or its items pass 2^31, beyond its 32-bit "
                                       "indexing (use a larger block or a smaller batch)");
  SATTN_TRY(this->table(int32_t(m.estimator.table), m.tables[m.estimator.table], *table, shape));
  int64_t count;
  if (!elementCount(*table, count) || count > INT32_MAX)
    return fail(SATTN_ERROR_TABLE, "the estimated table (\"" + m.tables[m.estimator.table].name +
                                       "\") has more than 2^31 - 1 elements, beyond the "
                                       "estimator's 32-bit indexing (use a larger block)");
  return SATTN_OK;
}

} // namespace check

using check::Checker;

sattn_status validateEstimate(const Manifest &manifest, const sattn_tensor *q,
                              const sattn_tensor *k, const sattn_tensor *weights,
                              const sattn_tensor *table, LaunchShape &shape,
                              std::string &message) {
  shape = LaunchShape();
  return Checker(manifest, message).estimate(q, k, weights, table, shape);
}

sattn_status validateLaunch(const Manifest &manifest, const LaunchArgs &args,
                            LaunchShape &shape, std::string &message) {
  shape = LaunchShape();
  return Checker(manifest, message).run(args, shape);
}

sattn_status validateTables(const Manifest &manifest, const sattn_tensor *tables,
                            int32_t numTables, const LaunchShape &shape,
                            std::string &message) {
  Checker checker(manifest, message);
  if (numTables < 0)
    return checker.fail(SATTN_ERROR_TABLE,
                        "num_tables is negative (" + check::str(numTables) + ")");
  if (numTables > 0 && !tables)
    return checker.fail(SATTN_ERROR_TABLE,
                        "tables is NULL but num_tables = " + check::str(numTables));
  return checker.tables(tables, numTables, shape);
}

} // namespace sattn::rt
