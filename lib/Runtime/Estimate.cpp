//===- Estimate.cpp - sattn_estimate_*: the reference estimators ----------===//
//
// The C entry points of the core's reference estimators (lib/Core/
// Estimators.cpp), so that programs and the Python package can compute the
// exact indices a dynamic mask keeps without MLIR: to check compiled
// estimators against, and to fill the tables of a pattern's table form.
// Host tensors are checked like every other runtime input.
//
//===----------------------------------------------------------------------===//

#include "LastError.h"
#include "Manifest.h"

#include "sattn/Core/Estimators.h"
#include "sattn/Core/Nsa.h"

#include <algorithm>
#include <string>
#include <vector>

using namespace sattn;
using namespace sattn::rt;

namespace {

/// Checks an f32 host tensor of rank `rank` whose innermost dimension is
/// contiguous rows: non-null, non-empty, unit last stride, a row stride of
/// at least the row length, no negative stride. `shape` and `row` name
/// them in messages.
sattn_status checkHostRows(const sattn_tensor *t, const std::string &which, int32_t rank,
                           const char *shape, const char *row, std::string &message) {
  if (!t) {
    message = which + " is NULL";
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  if (dtypeCode(*t) != SATTN_DTYPE_F32) {
    message = which + " must be f32 (SATTN_DTYPE_F32), got " + dtypeName(dtypeCode(*t));
    return SATTN_ERROR_DTYPE;
  }
  bool empty = t->rank != rank;
  for (int32_t i = 0; i < rank && !empty; ++i)
    empty = t->shape[i] < 1;
  if (empty) {
    message = which + " must be a non-empty " + shape + " tensor";
    return SATTN_ERROR_SHAPE;
  }
  if (t->strides[rank - 1] != 1 || t->strides[rank - 2] < t->shape[rank - 1] ||
      t->strides[0] < 0) {
    message = which + " needs unit last stride and a row stride of at least " + row;
    return SATTN_ERROR_STRIDE;
  }
  if (!t->data) {
    message = which + " has no data (NULL)";
    return SATTN_ERROR_NULL_POINTER;
  }
  return SATTN_OK;
}

/// Checks a rank-2 f32 host tensor with unit last stride and views it.
sattn_status viewRows(const sattn_tensor *t, const char *name,
                      estimate::Rows &rows, std::string &message) {
  if (sattn_status status =
          checkHostRows(t, name, 2, "[rows, head_dim]", "head_dim", message))
    return status;
  rows = estimate::Rows{static_cast<const float *>(t->data), t->shape[0],
                        t->shape[1], t->strides[0]};
  return SATTN_OK;
}

/// Checks a rank-3 f32 host tensor [heads, rows, columns] with unit last
/// stride and views each of its heads.
sattn_status viewHeads(const sattn_tensor *t, const char *name, std::vector<estimate::Rows> &heads,
                       std::string &message) {
  if (sattn_status status =
          checkHostRows(t, name, 3, "rank-3", "its last extent", message))
    return status;
  heads.clear();
  for (int64_t h = 0; h < t->shape[0]; ++h)
    heads.push_back(estimate::Rows{static_cast<const float *>(t->data) + h * t->strides[0],
                                   t->shape[1], t->shape[2], t->strides[1]});
  return SATTN_OK;
}

/// Views Q and K; the estimators check the rest (lengths, parameters).
sattn_status viewQK(const sattn_tensor *q, const sattn_tensor *k,
                    estimate::Rows &qRows, estimate::Rows &kRows,
                    std::string &message) {
  sattn_status status = viewRows(q, "q", qRows, message);
  if (status == SATTN_OK)
    status = viewRows(k, "k", kRows, message);
  return status;
}

} // namespace

sattn_status sattn_estimate_vertical_slash(const sattn_tensor *q, const sattn_tensor *k,
                                           double scale, int64_t vertical, int64_t slash,
                                           int64_t last_q, int64_t forced_vertical,
                                           int64_t forced_slash, uint8_t *vcol,
                                           uint8_t *slash_out) {
  return guarded([&] {
    const char *fn = "sattn_estimate_vertical_slash: ";
    if (!vcol || !slash_out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(fn) + "vcol and slash must not be NULL");
    estimate::Rows qRows, kRows;
    std::string message;
    if (sattn_status status = viewQK(q, k, qRows, kRows, message))
      return fail(status, fn + message);
    estimate::VerticalSlashIndices indices = estimate::verticalSlash(
        qRows, kRows, scale, {vertical, slash, last_q, forced_vertical, forced_slash},
        message);
    if (!message.empty())
      return fail(SATTN_ERROR_INVALID_ARGUMENT, fn + message);
    std::fill(vcol, vcol + kRows.rows, uint8_t(0));
    std::fill(slash_out, slash_out + kRows.rows, uint8_t(0));
    for (int64_t j : indices.columns)
      vcol[j] = 1;
    for (int64_t o : indices.offsets)
      slash_out[o] = 1;
    return succeed();
  });
}

sattn_status sattn_estimate_blocks(const sattn_tensor *q, const sattn_tensor *k,
                                   double scale, sattn_block_scorer scorer, int64_t block,
                                   int64_t top_k, double tau, int64_t stride, uint8_t *kept) {
  return guarded([&] {
    const char *fn = "sattn_estimate_blocks: ";
    if (!kept)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(fn) + "kept must not be NULL");
    int32_t scorerCode = enumCode(scorer);
    if (scorerCode != SATTN_BLOCK_SCORER_MEAN_POOL &&
        scorerCode != SATTN_BLOCK_SCORER_ANTIDIAGONAL)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + "unknown scorer " + std::to_string(scorerCode));
    estimate::Rows qRows, kRows;
    std::string message;
    if (sattn_status status = viewQK(q, k, qRows, kRows, message))
      return fail(status, fn + message);
    estimate::BlockSelectParams params;
    params.scorer = scorerCode == SATTN_BLOCK_SCORER_ANTIDIAGONAL
                        ? estimate::BlockScorer::Antidiagonal
                        : estimate::BlockScorer::MeanPool;
    params.block = block;
    params.topK = top_k;
    params.tau = tau;
    params.stride = stride;
    estimate::BlockSelection selection =
        estimate::selectBlocks(qRows, kRows, scale, params, message);
    if (!message.empty())
      return fail(SATTN_ERROR_INVALID_ARGUMENT, fn + message);
    std::copy(selection.kept.begin(), selection.kept.end(), kept);
    return succeed();
  });
}

sattn_status sattn_estimate_gate(const sattn_tensor *q, const sattn_tensor *k,
                                 const sattn_tensor *wq, const sattn_tensor *wk, int64_t block,
                                 double threshold, double top_ratio, double rope_base,
                                 uint8_t *kept) {
  return guarded([&] {
    const char *fn = "sattn_estimate_gate: ";
    if (!kept)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(fn) + "kept must not be NULL");
    estimate::Rows qRows, kRows, wqRows, wkRows;
    std::string message;
    sattn_status status = viewQK(q, k, qRows, kRows, message);
    if (status == SATTN_OK)
      status = viewRows(wq, "wq", wqRows, message);
    if (status == SATTN_OK)
      status = viewRows(wk, "wk", wkRows, message);
    if (status != SATTN_OK)
      return fail(status, fn + message);
    // The weights' rows are read contiguously: [d, hidden] and [3d, hidden].
    int64_t d = qRows.dim, hidden = wqRows.dim;
    if (wqRows.rows != d || wkRows.rows != 3 * d || wkRows.dim != hidden ||
        wqRows.rowStride != hidden || wkRows.rowStride != hidden)
      return fail(SATTN_ERROR_SHAPE,
                  std::string(fn) + "wq must be a contiguous [" + std::to_string(d) +
                      ", hidden] and wk a contiguous [" + std::to_string(3 * d) +
                      ", hidden] tensor (head_dim " + std::to_string(d) + "), got [" +
                      std::to_string(wqRows.rows) + ", " + std::to_string(hidden) + "] and [" +
                      std::to_string(wkRows.rows) + ", " + std::to_string(wkRows.dim) + "]");
    estimate::GateParams params;
    params.block = block;
    params.hidden = hidden;
    params.threshold = threshold;
    params.topRatio = top_ratio;
    params.ropeBase = rope_base;
    estimate::BlockSelection selection = estimate::gate(
        qRows, kRows, estimate::GateWeights{wqRows.data, wkRows.data}, params, message);
    if (!message.empty())
      return fail(SATTN_ERROR_INVALID_ARGUMENT, fn + message);
    std::copy(selection.kept.begin(), selection.kept.end(), kept);
    return succeed();
  });
}

sattn_status sattn_estimate_stripe(const sattn_tensor *q, const sattn_tensor *k, double scale,
                                   int64_t group, int64_t block, int64_t step, double theta,
                                   uint8_t *kept) {
  return guarded([&] {
    const char *fn = "sattn_estimate_stripe: ";
    if (!kept)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(fn) + "kept must not be NULL");
    estimate::Rows qRows, kRows;
    std::string message;
    if (sattn_status status = viewQK(q, k, qRows, kRows, message))
      return fail(status, fn + message);
    estimate::StripeSelection selection =
        estimate::stripe(qRows, kRows, scale, {group, block, step, theta}, message);
    if (!message.empty())
      return fail(SATTN_ERROR_INVALID_ARGUMENT, fn + message);
    std::copy(selection.kept.begin(), selection.kept.end(), kept);
    return succeed();
  });
}

sattn_status sattn_estimate_nsa(const sattn_tensor *q, const sattn_tensor *k,
                                const sattn_tensor *v, const sattn_tensor *gates,
                                const sattn_tensor *compressed_k,
                                const sattn_tensor *compressed_v, double scale,
                                int64_t compress_block, int64_t compress_stride,
                                int64_t select_block, int64_t select_count, int64_t window,
                                int64_t local_blocks, float *out, int64_t *selected) {
  return guarded([&] {
    const char *fn = "sattn_estimate_nsa: ";
    if (!out || !selected)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + "out and selected must not be NULL");
    if (!compressed_k != !compressed_v)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + "give both compressed_k and compressed_v, or neither");
    estimate::NsaGroup group;
    std::vector<estimate::Rows> gateRows;
    std::string message;
    sattn_status status = viewHeads(q, "q", group.q, message);
    if (status == SATTN_OK)
      status = viewRows(k, "k", group.k, message);
    if (status == SATTN_OK)
      status = viewRows(v, "v", group.v, message);
    if (status == SATTN_OK)
      status = viewHeads(gates, "gates", gateRows, message);
    if (status == SATTN_OK && compressed_k)
      status = viewRows(compressed_k, "compressed_k", group.compressedK, message);
    if (status == SATTN_OK && compressed_v)
      status = viewRows(compressed_v, "compressed_v", group.compressedV, message);
    if (status != SATTN_OK)
      return fail(status, fn + message);
    int64_t lq = group.q[0].rows;
    if (gateRows.size() != group.q.size() || gateRows[0].rows != lq || gateRows[0].dim != 3 ||
        gateRows[0].rowStride != 3)
      return fail(SATTN_ERROR_SHAPE,
                  std::string(fn) + "gates must be [" + std::to_string(group.q.size()) + ", " +
                      std::to_string(lq) + ", 3] with contiguous rows");
    for (const estimate::Rows &rows : gateRows)
      group.gates.push_back(rows.data);
    estimate::NsaParams params{compress_block, compress_stride, select_block,
                               select_count,   window,          local_blocks};
    estimate::NsaOutput result = estimate::nsa(group, scale, params, message);
    if (!message.empty())
      return fail(SATTN_ERROR_INVALID_ARGUMENT, fn + message);
    std::transform(result.out.begin(), result.out.end(), out,
                   [](double x) { return float(x); });
    std::copy(result.selected.begin(), result.selected.end(), selected);
    return succeed();
  });
}
