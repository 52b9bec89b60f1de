//===- NsaReference.cpp - Native Sparse Attention's forward, by definition ===//
//
// The reference of `mask.nsa` (docs/ESTIMATORS.md, "nsa") for one
// (batch, KV head) group, query row by query row: the compressed branch's
// probabilities give each selection block an importance (summed over the
// group's query heads, so the group shares one selection), the top blocks
// with the forced ones make the selected branch, and the three branches'
// outputs are mixed by the caller's gates. Why one file: each branch is a
// plain softmax over a key set, so the file is the key sets and one
// attention routine. Double precision; sums in key order.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Nsa.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace sattn::estimate;

namespace {

double dot(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t x = 0; x < n; ++x)
    s += double(a[x]) * double(b[x]);
  return s;
}

/// Softmax attention of `query` over the rows `keys` of `k` / `v`; adds
/// `gate` times the output to `out` (dim values), and returns the
/// probabilities (in the order of `keys`). No keys: nothing is added.
std::vector<double> attend(const float *query, const Rows &k, const Rows &v,
                           const std::vector<int64_t> &keys, double scale, double gate,
                           double *out) {
  std::vector<double> p(keys.size());
  if (keys.empty())
    return p;
  double mx = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < keys.size(); ++i) {
    p[i] = scale * dot(query, k.row(keys[i]), k.dim);
    mx = std::max(mx, p[i]);
  }
  double sum = 0;
  for (double &x : p)
    sum += x = std::exp(x - mx);
  for (double &x : p)
    x /= sum;
  for (size_t i = 0; i < keys.size(); ++i)
    for (int64_t x = 0; x < v.dim; ++x)
      out[x] += gate * p[i] * double(v.row(keys[i])[x]);
  return p;
}

std::string checkNsa(const NsaGroup &g, double scale, const NsaParams &p) {
  if (!(scale > 0) || !std::isfinite(scale))
    return "the softmax scale must be finite and positive";
  if (g.q.empty() || g.gates.size() != g.q.size())
    return "nsa needs at least one query head and gates for each";
  for (const Rows &q : g.q) {
    std::string error = checkRows(q, g.k);
    if (!error.empty())
      return error;
    if (q.rows != g.q[0].rows)
      return "the group's query heads must have the same length";
  }
  for (const float *gates : g.gates)
    if (!gates)
      return "the gates must not be null";
  if (!g.v.data || g.v.rows != g.k.rows || g.v.dim != g.k.dim || g.v.rowStride < g.v.dim)
    return "V must have K's rows and head dimension";
  if (p.compressBlock < 1 || p.compressStride < 1 || p.selectBlock < 1 || p.selectCount < 1 ||
      p.window < 0 || p.localBlocks < 0)
    return "nsa needs positive block sizes, stride and count, and a window and local count "
           ">= 0";
  if (p.compressStride > p.compressBlock)
    return "the compress stride must not exceed the compress block";
  if (p.selectBlock % p.compressStride != 0)
    return "the select block must be a multiple of the compress stride";
  if (p.localBlocks + 1 > p.selectCount)
    return "the select count must cover block 0 and the local blocks";
  int64_t blocks = nsaCompressedBlocks(g.k.rows, p);
  bool given = g.compressedK.data || g.compressedV.data;
  if (given && (!g.compressedK.data || !g.compressedV.data ||
                g.compressedK.rows != blocks || g.compressedV.rows != blocks ||
                g.compressedK.dim != g.k.dim || g.compressedV.dim != g.k.dim ||
                g.compressedK.rowStride < g.k.dim || g.compressedV.rowStride < g.k.dim))
    return "the compressed keys and values must both be given, with " +
           std::to_string(blocks) + " rows (one per compressed block) of the head dimension";
  return "";
}

/// Means of each compressed block's rows of `x`, row-major [blocks, dim].
std::vector<float> meanPool(const Rows &x, int64_t blocks, const NsaParams &p) {
  std::vector<float> pooled(blocks * x.dim);
  for (int64_t i = 0; i < blocks; ++i)
    for (int64_t d = 0; d < x.dim; ++d) {
      double s = 0;
      for (int64_t r = i * p.compressStride; r < i * p.compressStride + p.compressBlock; ++r)
        s += double(x.row(r)[d]);
      pooled[i * x.dim + d] = float(s / double(p.compressBlock));
    }
  return pooled;
}

} // namespace

int64_t sattn::estimate::nsaCompressedBlocks(int64_t lk, const NsaParams &p) {
  if (p.compressStride < 1 || lk < p.compressBlock)
    return 0;
  return (lk - p.compressBlock) / p.compressStride + 1;
}

NsaOutput sattn::estimate::nsa(const NsaGroup &g, double scale, const NsaParams &p,
                               std::string &error) {
  error = checkNsa(g, scale, p);
  if (!error.empty())
    return {};
  int64_t heads = int64_t(g.q.size()), lq = g.q[0].rows, lk = g.k.rows, dim = g.k.dim;
  int64_t shift = lk - lq;
  NsaOutput out;
  out.compressedBlocks = nsaCompressedBlocks(lk, p);
  out.selectBlocks = (lk + p.selectBlock - 1) / p.selectBlock;
  out.selected.assign(lq * p.selectCount, -1);
  out.importance.assign(lq * out.selectBlocks, 0.0);
  out.out.assign(heads * lq * dim, 0.0);

  std::vector<float> pooledK, pooledV;
  Rows ck = g.compressedK, cv = g.compressedV;
  if (!ck.data) {
    pooledK = meanPool(g.k, out.compressedBlocks, p);
    pooledV = meanPool(g.v, out.compressedBlocks, p);
    ck = Rows{pooledK.data(), out.compressedBlocks, dim, dim};
    cv = Rows{pooledV.data(), out.compressedBlocks, dim, dim};
  }

  std::vector<int64_t> keys;
  std::vector<double> importance(out.selectBlocks);
  for (int64_t i = 0; i < lq; ++i) {
    int64_t pos = i + shift;
    // Compressed branch: the blocks that end at or before the query.
    keys.clear();
    for (int64_t c = 0; c < out.compressedBlocks; ++c)
      if (c * p.compressStride + p.compressBlock - 1 <= pos)
        keys.push_back(c);
    std::fill(importance.begin(), importance.end(), 0.0);
    for (int64_t h = 0; h < heads; ++h) {
      const float *gate = g.gates[h] + i * 3;
      std::vector<double> probs = attend(g.q[h].row(i), ck, cv, keys, scale, gate[0],
                                         out.out.data() + (h * lq + i) * dim);
      // A compressed block adds its probability to every selection block it
      // overlaps, for every query head of the group.
      for (size_t c = 0; c < keys.size(); ++c) {
        int64_t first = keys[c] * p.compressStride, last = first + p.compressBlock - 1;
        for (int64_t j = first / p.selectBlock; j <= last / p.selectBlock; ++j)
          importance[j] += probs[c];
      }
    }

    std::copy(importance.begin(), importance.end(),
              out.importance.begin() + i * out.selectBlocks);

    // Selection: block 0 and the local blocks, then the most important
    // blocks that start at or before the query (ties to the lower block).
    int64_t own = pos / p.selectBlock;
    std::vector<int64_t> chosen{0};
    for (int64_t t = 0; t < p.localBlocks; ++t)
      if (own - t > 0)
        chosen.push_back(own - t);
    std::vector<int64_t> others;
    for (int64_t j = 1; j <= own; ++j)
      if (std::find(chosen.begin(), chosen.end(), j) == chosen.end())
        others.push_back(j);
    std::sort(others.begin(), others.end(), [&](int64_t a, int64_t b) {
      return importance[a] != importance[b] ? importance[a] > importance[b] : a < b;
    });
    for (int64_t j : others) {
      if (int64_t(chosen.size()) >= p.selectCount)
        break;
      chosen.push_back(j);
    }
    std::sort(chosen.begin(), chosen.end());
    std::copy(chosen.begin(), chosen.end(), out.selected.begin() + i * p.selectCount);

    // Selected branch: the chosen blocks' keys up to the query.
    keys.clear();
    for (int64_t j : chosen)
      for (int64_t key = j * p.selectBlock; key < std::min((j + 1) * p.selectBlock, pos + 1);
           ++key)
        keys.push_back(key);
    for (int64_t h = 0; h < heads; ++h)
      attend(g.q[h].row(i), g.k, g.v, keys, scale, g.gates[h][i * 3 + 1],
             out.out.data() + (h * lq + i) * dim);

    // Sliding branch: the last `window` keys up to the query.
    keys.resize(std::min(p.window, pos + 1));
    std::iota(keys.begin(), keys.end(), pos + 1 - int64_t(keys.size()));
    for (int64_t h = 0; h < heads; ++h)
      attend(g.q[h].row(i), g.k, g.v, keys, scale, g.gates[h][i * 3 + 2],
             out.out.data() + (h * lq + i) * dim);
  }
  return out;
}
