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

#include <algorithm>
#include <string>

using namespace sattn;
using namespace sattn::rt;

namespace {

/// Checks a rank-2 f32 host tensor with unit last stride and views it.
sattn_status viewRows(const sattn_tensor *t, const char *name,
                      estimate::Rows &rows, std::string &message) {
  std::string which = name;
  if (!t) {
    message = which + " is NULL";
    return SATTN_ERROR_INVALID_ARGUMENT;
  }
  if (dtypeCode(*t) != SATTN_DTYPE_F32) {
    message = which + " must be f32 (SATTN_DTYPE_F32), got " + dtypeName(dtypeCode(*t));
    return SATTN_ERROR_DTYPE;
  }
  if (t->rank != 2 || t->shape[0] < 1 || t->shape[1] < 1) {
    message = which + " must be a non-empty [rows, head_dim] tensor";
    return SATTN_ERROR_SHAPE;
  }
  if (t->strides[1] != 1 || t->strides[0] < t->shape[1]) {
    message = which + " needs unit last stride and a row stride of at least head_dim";
    return SATTN_ERROR_STRIDE;
  }
  if (!t->data) {
    message = which + " has no data (NULL)";
    return SATTN_ERROR_NULL_POINTER;
  }
  rows = estimate::Rows{static_cast<const float *>(t->data), t->shape[0],
                        t->shape[1], t->strides[0]};
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
