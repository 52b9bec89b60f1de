//===- StripeEstimator.cpp - AnchorAttention's stripe selection -----------===//
//
// The reference of `mask.stripe` (docs/ESTIMATORS.md, "stripe"). Every
// query attends to its anchor region (the first `group` keys and its own
// group up to itself); the largest scaled logit there is its anchor. Keys
// between the two regions are kept per selection unit (step query blocks)
// when the unit's pooled queries score them within theta of the pooled
// anchors. Why a separate file: the stripe's unit of selection is a key
// list per unit, not a block table, and its anchors are a dense pass of
// their own; it shares only the slice checks with Estimators.cpp.
// Double precision throughout; sums in the order the docs state.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Estimators.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace sattn::estimate;

namespace {

/// The scaled logit of query row `qi` and key `j`: scale * sum_x q[x] k[x],
/// summed in x order.
double logit(const Rows &q, int64_t qi, const Rows &k, int64_t j, double scale) {
  const float *a = q.row(qi), *b = k.row(j);
  double s = 0;
  for (int64_t x = 0; x < q.dim; ++x)
    s += double(a[x]) * double(b[x]);
  return scale * s;
}

std::string checkStripe(const Rows &q, const Rows &k, double scale, const StripeParams &p) {
  std::string error = checkRows(q, k);
  if (!error.empty())
    return error;
  if (p.group < 1 || p.block < 1 || p.step < 1)
    return "stripe needs group, block and step >= 1";
  if (!(p.theta > 0) || !std::isfinite(p.theta))
    return "stripe needs a finite theta > 0";
  if (!(scale > 0) || !std::isfinite(scale))
    return "the softmax scale must be finite and positive";
  int64_t unit = 0;
  if (__builtin_mul_overflow(p.block, p.step, &unit) || p.group % unit != 0)
    return "stripe's group (" + std::to_string(p.group) +
           ") must be a multiple of block x step (" + std::to_string(p.block) + " x " +
           std::to_string(p.step) + "), so that a selection unit lies in one group";
  int64_t units = (k.rows + unit - 1) / unit;
  if (units > kMaxStripeEntries / k.rows)
    return "the selection table would have more than 2^30 entries (" +
           std::to_string(units) + " units x " + std::to_string(k.rows) +
           " keys); use larger blocks or step";
  return "";
}

} // namespace

StripeSelection sattn::estimate::stripe(const Rows &q, const Rows &k, double scale,
                                        const StripeParams &p, std::string &error) {
  error = checkStripe(q, k, scale, p);
  if (!error.empty())
    return {};
  int64_t lq = q.rows, lk = k.rows, shift = lk - lq, d = q.dim;
  int64_t unit = p.block * p.step;
  StripeSelection out;
  out.units = (lk + unit - 1) / unit;
  out.keys = lk;
  out.kept.assign(out.units * lk, 0);

  // Anchors: the first group's keys (causally) and the query's own group
  // up to itself, in key order.
  out.anchors.assign(lq, -std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < lq; ++i) {
    int64_t pos = i + shift, local = pos / p.group * p.group;
    double &anchor = out.anchors[i];
    for (int64_t j = 0; j < std::min(p.group, pos + 1); ++j)
      anchor = std::max(anchor, logit(q, i, k, j, scale));
    for (int64_t j = std::max(local, p.group); j <= pos; ++j)
      anchor = std::max(anchor, logit(q, i, k, j, scale));
  }

  // Stripes: per unit, the candidates [group, local start) against each of
  // its query blocks that holds a query.
  std::vector<double> pooled(d);
  for (int64_t u = shift / unit; u < out.units; ++u) {
    int64_t local = u * unit / p.group * p.group;
    uint8_t *row = out.kept.data() + u * lk;
    for (int64_t beta = 0; beta < p.step && local > p.group; ++beta) {
      int64_t first = std::max(u * unit + beta * p.block, shift);
      int64_t last = std::min(u * unit + (beta + 1) * p.block, lk);
      if (first >= last)
        continue;
      // Mean of the block's query rows and of their anchors, rows in order.
      std::fill(pooled.begin(), pooled.end(), 0.0);
      double anchor = 0;
      for (int64_t pos = first; pos < last; ++pos) {
        const float *r = q.row(pos - shift);
        for (int64_t x = 0; x < d; ++x)
          pooled[x] += double(r[x]);
        anchor += out.anchors[pos - shift];
      }
      double count = double(last - first);
      for (double &v : pooled)
        v /= count;
      anchor /= count;
      for (int64_t j = p.group; j < local; ++j) {
        const float *kr = k.row(j);
        double s = 0;
        for (int64_t x = 0; x < d; ++x)
          s += pooled[x] * double(kr[x]);
        if (scale * s + p.theta >= anchor)
          row[j] = 1;
      }
    }
  }
  return out;
}
