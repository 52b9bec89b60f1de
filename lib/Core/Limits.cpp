//===- Limits.cpp - messages of the size limits ---------------------------===//
//
// The wording of every limit violation, written once so that the spec front
// end, the verifiers and the runtime report a bad size identically.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Limits.h"

using namespace sattn;

std::string limits::checkRange(std::string_view what, int64_t value,
                               int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi)
    return "";
  return std::string(what) + " must be in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "], got " + std::to_string(value);
}

std::string limits::checkHeads(int64_t heads, int64_t kvHeads) {
  std::string error = checkRange("heads", heads, 1, kMaxHeads);
  if (error.empty())
    error = checkRange("kv_heads", kvHeads, 1, kMaxHeads);
  if (error.empty() && heads % kvHeads != 0)
    error = "heads (" + std::to_string(heads) +
            ") must be a multiple of kv_heads (" + std::to_string(kvHeads) +
            ")";
  return error;
}

std::string limits::checkHeadDim(int64_t headDim) {
  if (headDim == 64 || headDim == 128 || headDim == 256)
    return "";
  return "head_dim must be 64, 128 or 256, got " + std::to_string(headDim);
}

std::string limits::checkPatternValue(std::string_view what, int64_t value,
                                      int64_t lo) {
  return checkRange(what, value, lo, kMaxPatternValue);
}

std::string limits::checkLengths(int64_t lq, int64_t lk) {
  std::string error = checkRange("lk", lk, 0, kMaxLength);
  if (error.empty() && (lq < 0 || lq > lk))
    error = "lq must be in [0, lk = " + std::to_string(lk) + "], got " +
            std::to_string(lq);
  return error;
}

std::string limits::checkBatch(int64_t batch) {
  return checkRange("batch", batch, 1, kMaxBatch);
}
