//===- Estimators.h - reference estimators of the dynamic masks -*- C++ -*-===//
//
// The definitions of the estimators behind sattn's dynamic patterns, as
// plain C++17 on one (batch, head) slice: MInference's vertical-slash
// estimator, block selection with a mean-pool (MInference block-sparse)
// or antidiagonal (XAttention) scorer, by top-k or by cumulative mass, and
// SeerAttention's learned gate (weights given), by threshold or top ratio,
// and AnchorAttention's stripe selection (StripeEstimator.cpp).
// docs/ESTIMATORS.md states each definition, the position conventions and
// how ties are broken; this file is that text as code, in double precision.
// It is the reference that compiled estimators (CPU and GPU) are checked
// against, and its outputs are exactly the runtime tables of the table form
// of each pattern (vcol / slash, block_table), so an estimated mask runs
// through the table-driven kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_ESTIMATORS_H
#define SATTN_CORE_ESTIMATORS_H

#include <cstdint>
#include <string>
#include <vector>

namespace sattn::estimate {

/// Row-major rows of `dim` floats (one (batch, head) slice of Q or K).
struct Rows {
  const float *data = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;
  /// Elements between consecutive rows (dim for contiguous rows).
  int64_t rowStride = 0;
  const float *row(int64_t i) const { return data + i * rowStride; }
};

/// The shape checks every estimator makes on one slice: non-null rows of
/// one positive head dimension, strides of at least it, 1 <= lq <= lk.
/// Returns "" or the message.
std::string checkRows(const Rows &q, const Rows &k);

/// `mask.vertical_slash` parameters (forced counts are part of the totals).
struct VerticalSlashParams {
  int64_t vertical = 0, slash = 0, lastQ = 64;
  int64_t forcedVertical = 0, forcedSlash = 0;
};

/// What the vertical-slash estimator keeps for one (batch, head): key
/// columns and diagonal offsets q - k, each ascending. The kept pairs are
/// k <= q and (k in columns or q - k in offsets).
struct VerticalSlashIndices {
  std::vector<int64_t> columns;
  std::vector<int64_t> offsets;
};

/// The estimator on queries `q` (lq rows) and keys `k` (lk rows, lq <= lk)
/// with softmax scale `scale`. Returns an error message in `error` (and
/// empty indices) on inconsistent shapes or parameters.
VerticalSlashIndices verticalSlash(const Rows &q, const Rows &k, double scale,
                                   const VerticalSlashParams &params,
                                   std::string &error);

/// The scores the estimator ranks: for each key column j and each diagonal
/// offset d (lk of each), the last `lastQ` rows' softmax probabilities at
/// key j (at key position - d) summed in row order; the probabilities are
/// each row's chunked softmax (256-key chunks, docs/ESTIMATORS.md).
struct VerticalSlashScores {
  std::vector<double> columns, offsets;
};
VerticalSlashScores verticalSlashScores(const Rows &q, const Rows &k, double scale,
                                        int64_t lastQ, std::string &error);

enum class BlockScorer { MeanPool, Antidiagonal };

/// `mask.block_topk` parameters: exactly one of topK (> 0) and tau (in
/// (0, 1]); stride only for the antidiagonal scorer (it divides block).
struct BlockSelectParams {
  BlockScorer scorer = BlockScorer::MeanPool;
  int64_t block = 64;
  int64_t topK = 0;
  double tau = 0;
  int64_t stride = 0;
};

/// Kept key blocks per query block. Blocks are of absolute positions:
/// query block I holds positions [I * block, (I + 1) * block), the same
/// blocks as the keys, so there are ceil(lk / block) of each (at most 8192);
/// query blocks with no query (lq < lk) keep nothing. `kept[I * blocks + J]` is 1 when
/// key block J is kept for query block I, i.e. the block table of
/// `causal & block_table(table, block)` for this head.
struct BlockSelection {
  int64_t blocks = 0;
  std::vector<uint8_t> kept;
  bool at(int64_t i, int64_t j) const { return kept[i * blocks + j] != 0; }
};

/// The scores selectBlocks ranks, row-major [I * blocks + J]: the scaled
/// dot products of mean-pooled query and key blocks, or the antidiagonal
/// attention masses, for J <= I of the query blocks that hold a query (the
/// other entries are 0). Same parameter checks as selectBlocks.
std::vector<double> blockScores(const Rows &q, const Rows &k, double scale,
                                const BlockSelectParams &params, std::string &error);

BlockSelection selectBlocks(const Rows &q, const Rows &k, double scale,
                            const BlockSelectParams &params,
                            std::string &error);

/// `mask.gate` parameters (SeerAttention's AttnGate): blocks of `block`
/// tokens, `hidden` gate features (even), exactly one of threshold in
/// (0, 1) and topRatio in (0, 1]; RoPE base of the gate's rotary embedding.
struct GateParams {
  int64_t block = 64;
  int64_t hidden = 128;
  double threshold = 0;
  double topRatio = 0;
  double ropeBase = 10000;
};

/// The gate's weights for one query head, row-major f32: wq [dim, hidden]
/// maps a pooled query block, wk [3 * dim, hidden] a pooled key block (its
/// max, min and mean, concatenated in that order).
struct GateWeights {
  const float *wq = nullptr;
  const float *wk = nullptr;
};

/// The gate's block probabilities, row-major [I * blocks + J], for J <= I
/// of the query blocks holding a query (other entries 0), and the blocks it
/// keeps (docs/ESTIMATORS.md, "gate"). Same block conventions as
/// selectBlocks; at most 8192 blocks per side.
std::vector<double> gateScores(const Rows &q, const Rows &k, const GateWeights &weights,
                               const GateParams &params, std::string &error);
BlockSelection gate(const Rows &q, const Rows &k, const GateWeights &weights,
                    const GateParams &params, std::string &error);

/// `mask.stripe` parameters (AnchorAttention): anchor groups of `group`
/// positions, selection units of `step` query blocks of `block` positions
/// (group a multiple of block * step, so a unit lies in one group), and the
/// margin `theta` (> 0) in natural-log units of the scaled logits.
struct StripeParams {
  int64_t group = 2048;
  int64_t block = 128;
  int64_t step = 16;
  double theta = 12;
};

/// What the stripe estimator keeps for one slice (docs/ESTIMATORS.md,
/// "stripe"). Unit u holds positions [u * S, (u + 1) * S), S = block * step,
/// so there are ceil(lk / S) units; `kept[u * lk + j]` is 1 when key j is
/// selected for every query of unit u, i.e. the table `sel[b, h, q / S, k]`
/// of the table form `causal & (k < group | k >= q / group * group |
/// sel[b, h, q / S, k])`. Units with no query keep nothing. `anchors[i]` is
/// query row i's anchor: its largest scaled logit over its anchor region.
struct StripeSelection {
  int64_t units = 0, keys = 0;
  std::vector<uint8_t> kept;
  std::vector<double> anchors;
  bool at(int64_t u, int64_t j) const { return kept[u * keys + j] != 0; }
};

/// Selection tables of at most this many entries (units * lk).
constexpr int64_t kMaxStripeEntries = int64_t(1) << 30;

StripeSelection stripe(const Rows &q, const Rows &k, double scale, const StripeParams &params,
                       std::string &error);

} // namespace sattn::estimate

#endif // SATTN_CORE_ESTIMATORS_H
