//===- PredicateTiles.cpp - tiers 2 and 3: predicates tile by tile --------===//
//
// Key sets of a free-form predicate without a tier-1 form, at KV-tile
// granularity, for one block of query rows: ranges of KV tiles are decided
// by interval analysis (PredicateIntervals, rerunning only the instructions
// that depend on k), undecided ranges are halved down to single tiles, and
// each undecided tile is classified exactly.
//
// Why the exact classifier works so hard to avoid per-pair evaluation:
// every tile a band or a clamped 2-D neighbourhood crosses is undecided by
// intervals, and evaluating it row by row cost a 32K-token neighbourhood
// mask 100 ms. A tile needs only one kept and one dropped pair to be
// PARTIAL, so the classifier looks for those cheaply first (a few probe
// pairs: the corners and where the diagonal q = k enters and leaves the
// tile), then halves the query rows with interval analysis, and evaluates
// pairs only in single rows that intervals cannot decide, stopping as soon
// as both a kept and a dropped pair have been seen. Only FULL and empty
// tiles need all their pairs accounted for.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include "sattn/Core/MaskEval.h"

#include <algorithm>
#include <utility>
#include <vector>

using namespace sattn;
using namespace sattn::plan;

namespace {

/// What the pairs of one tile seen so far keep.
struct TileVerdict {
  bool any = false, all = true;
  void note(bool kept) {
    any |= kept;
    all &= kept;
  }
  /// Both a kept and a dropped pair seen: PARTIAL, whatever the rest hold.
  bool mixed() const { return any && !all; }
};

/// Exact classification of tiles of one predicate node for one (b, h).
class TileClassifier {
public:
  TileClassifier(const MaskProgram &program, uint32_t node,
                 const PredicateIntervals &intervals, const MaskInputs &inputs,
                 int64_t b, int64_t h)
      : program(program), node(node), intervals(intervals), inputs(inputs),
        b(b), h(h) {}

  /// The verdict of the pairs [qa, qb] x [ka, kb], a box that interval
  /// analysis left undecided as a whole.
  TileVerdict classify(int64_t qa, int64_t qb, int64_t ka, int64_t kb) const {
    TileVerdict verdict;
    probe(qa, qb, ka, kb, verdict);
    if (!verdict.mixed())
      splitRows(qa, qb, ka, kb, verdict);
    return verdict;
  }

private:
  bool keep(int64_t q, int64_t k) const {
    return evalMaskNode(program, node, inputs, b, h, q, k);
  }

  /// The corners, and the first and last pairs of the diagonal q = k inside
  /// the box: masks change there (bands, causal edges, clamped windows).
  void probe(int64_t qa, int64_t qb, int64_t ka, int64_t kb,
             TileVerdict &verdict) const {
    std::pair<int64_t, int64_t> pairs[6] = {{qa, ka}, {qb, kb}, {qa, kb},
                                            {qb, ka}};
    size_t count = 4;
    int64_t first = std::max(qa, ka), last = std::min(qb, kb);
    if (first <= last) {
      pairs[count++] = {first, first};
      pairs[count++] = {last, last};
    }
    for (size_t i = 0; i < count && !verdict.mixed(); ++i)
      verdict.note(keep(pairs[i].first, pairs[i].second));
  }

  /// Classifies rows [qa, qb] half by half (the caller knows intervals do
  /// not decide them together).
  void splitRows(int64_t qa, int64_t qb, int64_t ka, int64_t kb,
                 TileVerdict &verdict) const {
    if (qa == qb)
      return pairsOfRow(qa, ka, kb, verdict);
    int64_t mid = qa + (qb - qa) / 2;
    rows(qa, mid, ka, kb, verdict);
    if (!verdict.mixed())
      rows(mid + 1, qb, ka, kb, verdict);
  }

  void rows(int64_t qa, int64_t qb, int64_t ka, int64_t kb,
            TileVerdict &verdict) const {
    PredicateIntervals::Interval r =
        intervals.evaluate(inputs, b, h, qa, qb, ka, kb);
    if (r.hi == 0 || r.lo == 1)
      return verdict.note(r.lo == 1);
    splitRows(qa, qb, ka, kb, verdict);
  }

  void pairsOfRow(int64_t q, int64_t ka, int64_t kb,
                  TileVerdict &verdict) const {
    for (int64_t k = ka; k <= kb && !verdict.mixed(); ++k)
      verdict.note(keep(q, k));
  }

  const MaskProgram &program;
  uint32_t node;
  const PredicateIntervals &intervals;
  const MaskInputs &inputs;
  int64_t b, h;
};

/// Undecided ranges of at most this many KV tiles are split into single
/// tiles at once instead of halved.
constexpr int64_t kDirectTiles = 4;

} // namespace

void Planner::Impl::predicateSets(uint32_t id, const MaskInputs &in, int64_t b,
                                  int64_t h, int64_t qa, int64_t qb,
                                  Run window, KeySet &may,
                                  KeySet &must) const {
  const PredicateIntervals &intervals = predicates[id];
  TileClassifier classifier(program, id, intervals, in, b, h);
  int64_t bn = options.blockN, lk = in.lk;
  // Only the tiles of `window` matter to the caller.
  int64_t first = std::max<int64_t>(0, floorDiv(window.lo, bn));
  int64_t last = std::min(ceilDiv(lk, bn), ceilDiv(window.hi, bn));
  // Decided ranges come out in key order (the stack pops the lower half
  // first), so adjacent ones extend the last run.
  std::vector<Run> mayRuns, mustRuns;
  auto append = [](std::vector<Run> &runs, int64_t lo, int64_t hi) {
    if (!runs.empty() && runs.back().hi == lo)
      runs.back().hi = hi;
    else
      runs.push_back(Run{lo, hi});
  };
  PredicateIntervals::KeySweep sweep = intervals.sweep(in, b, h, qa, qb);
  std::vector<std::pair<int64_t, int64_t>> work = {{first, last}};
  while (!work.empty()) {
    auto [t0, t1] = work.back();
    work.pop_back();
    if (t0 >= t1)
      continue;
    int64_t ka = t0 * bn, kb = std::min(lk, t1 * bn) - 1;
    PredicateIntervals::Interval r = sweep.evaluate(ka, kb);
    TileVerdict verdict;
    if (r.lo == 1 || r.hi == 0) {
      verdict.note(r.lo == 1);
    } else if (t1 - t0 > kDirectTiles) {
      int64_t mid = t0 + (t1 - t0) / 2;
      work.push_back({mid, t1});
      work.push_back({t0, mid});
      continue;
    } else if (t1 - t0 > 1) {
      // A few undecided tiles: their halves are rarely decided whole (the
      // edges of bands and neighbourhoods cross each tile), so each tile
      // goes straight to the classifier's own range test.
      for (int64_t t = t1 - 1; t >= t0; --t)
        work.push_back({t, t + 1});
      continue;
    } else {
      verdict = classifier.classify(qa, qb, ka, kb);
    }
    if (verdict.any)
      append(mayRuns, ka, kb + 1);
    if (verdict.all)
      append(mustRuns, ka, kb + 1);
  }
  may = KeySet::ofRuns({mayRuns.data(), mayRuns.size()});
  must = KeySet::ofRuns({mustRuns.data(), mustRuns.size()});
}
