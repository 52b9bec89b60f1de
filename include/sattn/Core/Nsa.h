//===- Nsa.h - reference forward of Native Sparse Attention ------*- C++ -*-===//
//
// The definition of `mask.nsa` (docs/ESTIMATORS.md, "nsa") as plain C++17 in
// double precision, for one (batch, KV head) group: the compressed branch
// (attention to block-compressed keys and values), the selected branch
// (the top blocks by the compressed branch's probabilities, summed over the
// group's query heads, so one selection serves the whole GQA group), the
// sliding branch, and their gated sum. NSA is not a mask alone: its output
// mixes three attentions, so the reference returns the output and the
// selection. It is what compiled NSA kernels are checked against.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_NSA_H
#define SATTN_CORE_NSA_H

#include "sattn/Core/Estimators.h"

namespace sattn::estimate {

/// `mask.nsa` parameters, with the verifier's rules: compressed blocks of
/// `compressBlock` keys every `compressStride` keys (stride <= block),
/// `selectCount` blocks of `selectBlock` keys (a multiple of the stride)
/// of which block 0 and `localBlocks` local blocks are forced (localBlocks
/// + 1 <= selectCount), and a sliding window of `window` keys (0: none).
struct NsaParams {
  int64_t compressBlock = 32, compressStride = 16;
  int64_t selectBlock = 64, selectCount = 16;
  int64_t window = 512, localBlocks = 2;
};

/// One (batch, KV head) group. `q` holds the group's query heads (lq rows
/// each, lq <= lk); `gates[h]` is query head h's [lq, 3] row-major gates
/// (compressed, selected, sliding). `compressedK` / `compressedV` are the
/// compressed keys and values, one row per compressed block; with null
/// data they are the blocks' means (NSA's default compression here).
struct NsaGroup {
  std::vector<Rows> q;
  Rows k, v;
  Rows compressedK, compressedV;
  std::vector<const float *> gates;
};

struct NsaOutput {
  /// Compressed blocks (those that lie inside the keys) and selection blocks.
  int64_t compressedBlocks = 0, selectBlocks = 0;
  /// [lq, selectCount]: the selected blocks of each query row, ascending,
  /// padded with -1 (rows with fewer allowed blocks).
  std::vector<int64_t> selected;
  /// [lq, selectBlocks]: each row's importance of every selection block
  /// (its compressed probabilities summed over the group's heads, then the
  /// overlapping blocks), what the selection ranks.
  std::vector<double> importance;
  /// [heads, lq, dim]: the gated sum of the three branches.
  std::vector<double> out;
};

/// The number of compressed blocks of `lk` keys: blocks [i * stride,
/// i * stride + block) that end inside the keys.
int64_t nsaCompressedBlocks(int64_t lk, const NsaParams &params);

NsaOutput nsa(const NsaGroup &group, double scale, const NsaParams &params,
              std::string &error);

} // namespace sattn::estimate

#endif // SATTN_CORE_NSA_H
