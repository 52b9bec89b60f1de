//===- Estimators.cpp - reference estimators of the dynamic masks ---------===//
//
// docs/ESTIMATORS.md as code: every score in double precision, softmax with
// the row maximum subtracted, and one selection rule (forced entries first,
// then by score, ties to the lower index) shared by all estimators, so that
// compiled estimators have one unambiguous answer to match.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Estimators.h"

#include "sattn/Core/KernelAbi.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace sattn;
using namespace sattn::estimate;

namespace {

/// Blocks per side of a block selection: its scores take blocks^2 doubles
/// (512 MiB at the limit).
constexpr int64_t kMaxBlocks = 8192;

double dot(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += double(a[i]) * double(b[i]);
  return s;
}

/// NaN ranks below every number, so that the order stays total.
double rankKey(double x) {
  return std::isnan(x) ? -std::numeric_limits<double>::infinity() : x;
}

/// Candidates in the order selection takes them: by score, highest first,
/// ties to the lower index.
std::vector<int64_t> byScore(const std::vector<int64_t> &candidates,
                             const std::vector<double> &score) {
  std::vector<int64_t> order = candidates;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    double x = rankKey(score[a]), y = rankKey(score[b]);
    return x > y || (x == y && a < b);
  });
  return order;
}

/// Softmax of `logits` (max subtracted) into `probs`.
void softmax(const std::vector<double> &logits, std::vector<double> &probs) {
  double mx = -std::numeric_limits<double>::infinity();
  for (double x : logits)
    mx = std::max(mx, x);
  probs.resize(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    sum += probs[i] = std::exp(logits[i] - mx);
  for (double &p : probs)
    p /= sum;
}

/// Softmax of a long row as the compiled estimator computes it: the
/// maximum and the sum of exp(x - maximum) of every chunk of kSoftmaxChunk
/// entries, the row's maximum of those, and its sum of the chunks' sums
/// rescaled to it (chunks in order); then exp(x - maximum) / sum.
constexpr int64_t kSoftmaxChunk = abi::kEstimatorChunk;

void chunkedSoftmax(const std::vector<double> &logits, std::vector<double> &probs) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  int64_t n = (int64_t)logits.size();
  std::vector<double> chunkMax, chunkSum;
  for (int64_t first = 0; first < n; first += kSoftmaxChunk) {
    int64_t last = std::min(n, first + kSoftmaxChunk);
    double mx = kNegInf, sum = 0;
    for (int64_t j = first; j < last; ++j)
      mx = std::max(mx, logits[j]);
    for (int64_t j = first; j < last; ++j)
      sum += std::exp(logits[j] - mx);
    chunkMax.push_back(mx);
    chunkSum.push_back(sum);
  }
  double mx = kNegInf, sum = 0;
  for (double m : chunkMax)
    mx = std::max(mx, m);
  for (size_t c = 0; c < chunkMax.size(); ++c)
    sum += chunkSum[c] * std::exp(chunkMax[c] - mx);
  probs.resize(n);
  for (int64_t j = 0; j < n; ++j)
    probs[j] = std::exp(logits[j] - mx) / sum;
}

/// Top `count` of [0, n) by `score` with [0, forced) always kept; ascending.
std::vector<int64_t> topWithForcedPrefix(const std::vector<double> &score,
                                         int64_t count, int64_t forced) {
  int64_t n = (int64_t)score.size();
  count = std::min(count, n);
  forced = std::min(forced, count);
  std::vector<int64_t> kept(forced), rest;
  std::iota(kept.begin(), kept.end(), 0);
  for (int64_t i = forced; i < n; ++i)
    rest.push_back(i);
  std::vector<int64_t> order = byScore(rest, score);
  kept.insert(kept.end(), order.begin(), order.begin() + (count - forced));
  std::sort(kept.begin(), kept.end());
  return kept;
}

} // namespace

std::string sattn::estimate::checkRows(const Rows &q, const Rows &k) {
  if (!q.data || !k.data)
    return "Q and K must not be null";
  if (q.dim <= 0 || q.dim != k.dim)
    return "Q and K must have the same positive head dimension";
  if (q.rowStride < q.dim || k.rowStride < k.dim)
    return "row strides must be at least the head dimension";
  if (q.rows < 1 || k.rows < q.rows)
    return "need 1 <= lq <= lk";
  return "";
}

VerticalSlashScores sattn::estimate::verticalSlashScores(const Rows &q, const Rows &k,
                                                       double scale, int64_t lastQ,
                                                       std::string &error) {
  error = checkRows(q, k);
  if (error.empty() && lastQ < 1)
    error = "vertical_slash needs last_q >= 1";
  if (!error.empty())
    return {};
  int64_t lq = q.rows, lk = k.rows, shift = lk - lq;
  VerticalSlashScores scores{std::vector<double>(lk, 0.0), std::vector<double>(lk, 0.0)};
  std::vector<double> logits, probs;
  for (int64_t r = std::max<int64_t>(0, lq - lastQ); r < lq; ++r) {
    int64_t position = r + shift;
    logits.resize(position + 1);
    for (int64_t j = 0; j <= position; ++j)
      logits[j] = scale * dot(q.row(r), k.row(j), q.dim);
    chunkedSoftmax(logits, probs);
    for (int64_t j = 0; j <= position; ++j) {
      scores.columns[j] += probs[j];
      scores.offsets[position - j] += probs[j];
    }
  }
  return scores;
}

VerticalSlashIndices
sattn::estimate::verticalSlash(const Rows &q, const Rows &k, double scale,
                               const VerticalSlashParams &p,
                               std::string &error) {
  error = checkRows(q, k);
  if (error.empty() &&
      (p.vertical < 0 || p.slash < 0 || p.lastQ < 1 || p.forcedVertical < 0 ||
       p.forcedSlash < 0 || p.forcedVertical > p.vertical ||
       p.forcedSlash > p.slash))
    error = "vertical_slash needs last_q >= 1 and 0 <= forced <= kept counts";
  if (!error.empty())
    return {};
  VerticalSlashScores scores = verticalSlashScores(q, k, scale, p.lastQ, error);
  VerticalSlashIndices out;
  out.columns = topWithForcedPrefix(scores.columns, p.vertical, p.forcedVertical);
  out.offsets = topWithForcedPrefix(scores.offsets, p.slash, p.forcedSlash);
  return out;
}

namespace {

/// Mean of rows [begin, end) of `rows` (end > begin).
std::vector<double> meanRow(const Rows &rows, int64_t begin, int64_t end) {
  std::vector<double> mean(rows.dim, 0.0);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t x = 0; x < rows.dim; ++x)
      mean[x] += rows.row(i)[x];
  for (double &m : mean)
    m /= double(end - begin);
  return mean;
}

/// score[I * blocks + J]: mean-pooled logits, J <= I (others unused).
std::vector<double> meanPoolScores(const Rows &q, const Rows &k, double scale,
                                   int64_t block, int64_t blocks) {
  int64_t lq = q.rows, lk = k.rows, shift = lk - lq;
  std::vector<std::vector<double>> pooledK;
  for (int64_t j = 0; j < blocks; ++j)
    pooledK.push_back(meanRow(k, j * block, std::min(lk, (j + 1) * block)));
  std::vector<double> score(blocks * blocks, 0.0);
  for (int64_t i = shift / block; i < blocks; ++i) {
    int64_t first = std::max(i * block, shift) - shift;
    int64_t last = std::min((i + 1) * block, lk) - shift;
    std::vector<double> pooledQ = meanRow(q, first, last);
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t x = 0; x < q.dim; ++x)
        s += pooledQ[x] * pooledK[j][x];
      score[i * blocks + j] = scale * s;
    }
  }
  return score;
}

/// mass[I * blocks + J]: the antidiagonal attention mass of block (I, J).
std::vector<double> antidiagonalMass(const Rows &q, const Rows &k,
                                     double scale, int64_t block,
                                     int64_t stride, int64_t blocks) {
  int64_t lq = q.rows, lk = k.rows, shift = lk - lq, d = q.dim;
  // Row t of a stride group at absolute position a, or null past the
  // sequence (zero vectors contribute nothing).
  auto queryAt = [&](int64_t a) -> const float * {
    return a >= shift && a < lk ? q.row(a - shift) : nullptr;
  };
  auto keyAt = [&](int64_t j) -> const float * {
    return j < lk ? k.row(j) : nullptr;
  };
  std::vector<double> mass(blocks * blocks, 0.0), logits, probs;
  for (int64_t p = shift / stride; p <= (lk - 1) / stride; ++p) {
    logits.assign(p + 1, 0.0);
    for (int64_t r = 0; r <= p; ++r) {
      double s = 0;
      for (int64_t t = 0; t < stride; ++t) {
        const float *qa = queryAt(p * stride + stride - 1 - t);
        const float *kb = keyAt(r * stride + t);
        if (qa && kb)
          s += dot(qa, kb, d);
      }
      logits[r] = scale / double(stride) * s;
    }
    softmax(logits, probs);
    int64_t i = p * stride / block;
    for (int64_t r = 0; r <= p; ++r)
      mass[i * blocks + r * stride / block] += probs[r];
  }
  return mass;
}

} // namespace

std::vector<double> sattn::estimate::blockScores(const Rows &q, const Rows &k, double scale,
                                                const BlockSelectParams &p,
                                                std::string &error) {
  error = checkRows(q, k);
  bool antidiagonal = p.scorer == BlockScorer::Antidiagonal;
  if (error.empty() && p.block < 1)
    error = "block must be positive";
  if (error.empty() && (p.topK > 0) == (p.tau > 0))
    error = "give exactly one of top_k and tau";
  if (error.empty() && (p.topK < 0 || p.tau < 0 || p.tau > 1))
    error = "top_k must be positive and tau in (0, 1]";
  if (error.empty() && antidiagonal &&
      (p.stride < 1 || p.block % p.stride != 0))
    error = "the antidiagonal scorer needs a stride that divides block";
  if (error.empty() && !antidiagonal && p.stride != 0)
    error = "the mean_pool scorer takes no stride";
  if (error.empty() && (k.rows + p.block - 1) / p.block > kMaxBlocks)
    error = "the block table would have more than " +
            std::to_string(kMaxBlocks) + " blocks per side (lk " +
            std::to_string(k.rows) + ", block " + std::to_string(p.block) +
            "); use larger blocks";
  if (!error.empty())
    return {};
  int64_t blocks = (k.rows + p.block - 1) / p.block;
  return antidiagonal ? antidiagonalMass(q, k, scale, p.block, p.stride, blocks)
                      : meanPoolScores(q, k, scale, p.block, blocks);
}

BlockSelection sattn::estimate::selectBlocks(const Rows &q, const Rows &k,
                                             double scale,
                                             const BlockSelectParams &p,
                                             std::string &error) {
  std::vector<double> score = blockScores(q, k, scale, p, error);
  if (!error.empty())
    return {};
  bool antidiagonal = p.scorer == BlockScorer::Antidiagonal;
  int64_t lk = k.rows, shift = lk - q.rows;
  BlockSelection out;
  out.blocks = (lk + p.block - 1) / p.block;
  int64_t blocks = out.blocks;
  out.kept.assign(blocks * blocks, 0);
  std::vector<double> row(blocks), mass(blocks);
  for (int64_t i = shift / p.block; i < blocks; ++i) {
    std::copy(score.begin() + i * blocks, score.begin() + (i + 1) * blocks,
              row.begin());
    // Masses of the allowed blocks J <= I: normalised antidiagonal masses,
    // or the softmax of the pooled logits.
    std::vector<double> allowed(row.begin(), row.begin() + i + 1), share;
    if (antidiagonal) {
      double total = std::accumulate(allowed.begin(), allowed.end(), 0.0);
      share = allowed;
      for (double &m : share)
        m = total > 0 ? m / total : 0.0;
    } else {
      softmax(allowed, share);
    }
    std::copy(share.begin(), share.end(), mass.begin());

    // Block 0 and the diagonal block are always kept.
    std::vector<int64_t> kept{0}, others;
    if (i != 0)
      kept.push_back(i);
    for (int64_t j = 1; j < i; ++j)
      others.push_back(j);
    double keptMass = mass[0] + (i != 0 ? mass[i] : 0.0);
    for (int64_t j : byScore(others, p.topK > 0 ? row : mass)) {
      if (p.topK > 0 ? (int64_t)kept.size() >= p.topK : keptMass >= p.tau)
        break;
      kept.push_back(j);
      keptMass += mass[j];
    }
    for (int64_t j : kept)
      out.kept[i * blocks + j] = 1;
  }
  return out;
}

namespace {

/// The pooled rows of one block, mapped by `w` ([in, hidden] row-major):
/// out[f] = sum over i in order of pooled[i] * w[i * hidden + f].
std::vector<double> project(const std::vector<double> &pooled, const float *w,
                            int64_t hidden) {
  std::vector<double> out(hidden, 0.0);
  for (int64_t f = 0; f < hidden; ++f)
    for (size_t i = 0; i < pooled.size(); ++i)
      out[f] += pooled[i] * double(w[i * hidden + f]);
  return out;
}

/// Rotary embedding at position `pos`, rotate-half convention: feature i
/// and i + hidden / 2 turn by pos * base^(-2i / hidden).
void rotate(std::vector<double> &x, int64_t pos, double base) {
  int64_t half = int64_t(x.size()) / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = double(pos) * std::pow(base, -2.0 * double(i) / double(x.size()));
    double c = std::cos(angle), s = std::sin(angle);
    double a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

std::string checkGate(const Rows &q, const Rows &k, const GateWeights &w, const GateParams &p) {
  std::string error = checkRows(q, k);
  if (error.empty() && (!w.wq || !w.wk))
    error = "the gate's weights must not be null";
  if (error.empty() && p.block < 1)
    error = "gate needs block >= 1";
  if (error.empty() && (p.hidden < 2 || p.hidden % 2 != 0))
    error = "the gate's hidden size (the weights' last dimension) must be even and at least "
            "2 (rotary pairs), got " + std::to_string(p.hidden);
  if (error.empty() && (p.threshold > 0) == (p.topRatio > 0))
    error = "give exactly one of threshold and top_ratio";
  if (error.empty() && (p.threshold < 0 || p.threshold >= 1 || p.topRatio < 0 || p.topRatio > 1))
    error = "threshold must be in (0, 1) and top_ratio in (0, 1]";
  if (error.empty() && !(p.ropeBase > 1))
    error = "the RoPE base must be above 1";
  if (error.empty() && (k.rows + p.block - 1) / p.block > kMaxBlocks)
    error = "the block table would have more than " + std::to_string(kMaxBlocks) +
            " blocks per side; use larger blocks";
  return error;
}

} // namespace

std::vector<double> sattn::estimate::gateScores(const Rows &q, const Rows &k,
                                                const GateWeights &w, const GateParams &p,
                                                std::string &error) {
  error = checkGate(q, k, w, p);
  if (!error.empty())
    return {};
  int64_t lk = k.rows, shift = lk - q.rows, d = q.dim, blocks = (lk + p.block - 1) / p.block;
  // Pooled and projected key blocks: max, min and mean of each column.
  std::vector<std::vector<double>> keys;
  for (int64_t j = 0; j < blocks; ++j) {
    int64_t first = j * p.block, last = std::min(lk, first + p.block);
    std::vector<double> pooled(3 * d);
    for (int64_t x = 0; x < d; ++x) {
      double mx = -std::numeric_limits<double>::infinity(), mn = -mx, sum = 0;
      for (int64_t r = first; r < last; ++r) {
        double v = k.row(r)[x];
        mx = std::max(mx, v);
        mn = std::min(mn, v);
        sum += v;
      }
      pooled[x] = mx;
      pooled[d + x] = mn;
      pooled[2 * d + x] = sum / double(last - first);
    }
    keys.push_back(project(pooled, w.wk, p.hidden));
    rotate(keys.back(), j, p.ropeBase);
  }
  std::vector<double> probs(blocks * blocks, 0.0), logits, rowProbs;
  double norm = std::sqrt(double(p.hidden));
  for (int64_t i = shift / p.block; i < blocks; ++i) {
    // The block's queries that exist (positions at or past the shift).
    int64_t first = std::max(i * p.block, shift) - shift;
    int64_t last = std::min((i + 1) * p.block, lk) - shift;
    std::vector<double> pooled(d, 0.0);
    for (int64_t r = first; r < last; ++r)
      for (int64_t x = 0; x < d; ++x)
        pooled[x] += q.row(r)[x];
    for (double &m : pooled)
      m /= double(last - first);
    std::vector<double> query = project(pooled, w.wq, p.hidden);
    rotate(query, i, p.ropeBase);
    logits.assign(i + 1, 0.0);
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t f = 0; f < p.hidden; ++f)
        s += query[f] * keys[j][f];
      logits[j] = s / norm;
    }
    softmax(logits, rowProbs);
    std::copy(rowProbs.begin(), rowProbs.end(), probs.begin() + i * blocks);
  }
  return probs;
}

BlockSelection sattn::estimate::gate(const Rows &q, const Rows &k, const GateWeights &w,
                                     const GateParams &p, std::string &error) {
  std::vector<double> probs = gateScores(q, k, w, p, error);
  if (!error.empty())
    return {};
  int64_t lk = k.rows, shift = lk - q.rows;
  BlockSelection out;
  out.blocks = (lk + p.block - 1) / p.block;
  int64_t n = out.blocks;
  out.kept.assign(n * n, 0);
  for (int64_t i = shift / p.block; i < n; ++i) {
    uint8_t *row = out.kept.data() + i * n;
    // Block 0 and the diagonal block are always kept, the last row whole.
    row[0] = row[i] = 1;
    if (i == n - 1) {
      std::fill(row, row + i + 1, uint8_t(1));
      continue;
    }
    std::vector<int64_t> others;
    for (int64_t j = 1; j < i; ++j)
      others.push_back(j);
    if (p.threshold > 0) {
      for (int64_t j : others)
        row[j] = probs[i * n + j] > p.threshold;
      continue;
    }
    // The top ceil(ratio * (I + 1)) blocks of the row, forced ones counted.
    int64_t keep = int64_t(std::ceil(p.topRatio * double(i + 1)));
    int64_t room = keep - (i == 0 ? 1 : 2);
    std::vector<double> rowScores(probs.begin() + i * n, probs.begin() + (i + 1) * n);
    for (int64_t j : byScore(others, rowScores)) {
      if (room-- <= 0)
        break;
      row[j] = 1;
    }
  }
  return out;
}
