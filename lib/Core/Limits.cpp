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

std::string limits::checkPatternValue(std::string_view what, int64_t value,
                                      int64_t lo) {
  return checkRange(what, value, lo, kMaxPatternValue);
}
