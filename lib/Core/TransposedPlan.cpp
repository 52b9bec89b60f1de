//===- TransposedPlan.cpp - the tile plan seen from the KV side -----------===//
//
// transpose() of sattn/Core/TransposedPlan.h: per class, one pass counts the
// Range visits of every KV tile, a prefix sum places them, and a second pass
// fills them in. Query tiles are walked in increasing order, so each KV
// tile's visits come out sorted without a sort.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/TransposedPlan.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::plan;

TransposedPlan sattn::plan::transpose(const TilePlan &plan) {
  TransposedPlan t;
  t.blockM = plan.blockM;
  t.blockN = plan.blockN;
  t.lq = plan.lq;
  t.lk = plan.lk;
  t.numQueryTiles = plan.numQueryTiles;
  t.numKvTiles = plan.blockN > 0 ? ceilDiv(plan.lk, plan.blockN) : 0;
  t.classes.resize(plan.classes.size());
  const int64_t kvTiles = t.numKvTiles;

  for (size_t c = 0; c < plan.classes.size(); ++c) {
    const TilePlan::Class &forward = plan.classes[c];
    TransposedPlan::Class &out = t.classes[c];
    // Range tiles [lo, hi) clipped to the key axis (a plan never reaches
    // past it; the clip keeps a malformed one from writing out of bounds).
    auto tilesOf = [&](const Segment &s) {
      return std::make_pair(std::max<int64_t>(s.lo, 0),
                            std::min<int64_t>(s.hi, kvTiles));
    };
    out.offsets.assign(kvTiles + 1, 0);
    for (const Segment &s : forward.segments) {
      if (s.kind != Segment::Range)
        continue;
      auto [lo, hi] = tilesOf(s);
      for (int64_t n = lo; n < hi; ++n)
        ++out.offsets[n + 1];
    }
    for (int64_t n = 0; n < kvTiles; ++n)
      out.offsets[n + 1] += out.offsets[n];
    out.visits.resize(out.offsets[kvTiles]);
    std::vector<int64_t> next(out.offsets.begin(), out.offsets.end() - 1);
    for (int64_t m = 0; m < plan.numQueryTiles; ++m)
      for (int64_t i = forward.offsets[m]; i < forward.offsets[m + 1]; ++i) {
        const Segment &s = forward.segments[i];
        if (s.kind != Segment::Range) {
          out.groups.push_back({m, i});
          continue;
        }
        auto [lo, hi] = tilesOf(s);
        for (int64_t n = lo; n < hi; ++n)
          out.visits[next[n]++] = {m, s.full};
      }
  }
  return t;
}
