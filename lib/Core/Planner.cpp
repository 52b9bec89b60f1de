//===- Planner.cpp - from a mask program to per-tile segment lists --------===//
//
// Turns the may/must key sets of each query tile (PlanTree.cpp) into
// ordered, non-overlapping segments: KV tile ranges split into FULL and
// PARTIAL parts, and gathers for sparse lattices (strided keys) whose keys
// are packed into dense tiles. Heads and batches whose parameters coincide
// share one plan. Runs in the compiler (through TilePlanner) and in
// libsattn_runtime (sattn_plan_build) alike.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include "sattn/Core/MaskEval.h"

#include <algorithm>
#include <climits>
#include <map>

using namespace sattn;
using namespace sattn::plan;

//===----------------------------------------------------------------------===//
// Construction
//===----------------------------------------------------------------------===//

Planner::Planner(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Planner::Planner(Planner &&) = default;
Planner &Planner::operator=(Planner &&) = default;
Planner::~Planner() = default;

const PlanOptions &Planner::options() const { return impl->options; }
const MaskProgram &Planner::program() const { return impl->compiled; }

std::optional<Planner> Planner::build(MaskProgram program, PlanOptions options,
                                      std::string &error) {
  if (options.blockM <= 0 || options.blockN <= 0) {
    error = "tile sizes must be positive";
    return std::nullopt;
  }
  error = verifyMaskProgram(program);
  if (!error.empty())
    return std::nullopt;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->program = splitPredicates(program);
  impl->compiled = std::move(program);
  const MaskProgram &p = impl->program;
  impl->predicates.resize(p.nodes.size());
  impl->tableTerms.resize(p.nodes.size());
  impl->axisPredicates.resize(p.nodes.size());
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const Node &n = p.nodes[i];
    if (n.kind == NodeKind::Predicate) {
      impl->predicates[i] = PredicateIntervals::compile(p, n);
      impl->tableTerms[i] = TableTerms::match(p, n);
      impl->axisPredicates[i] = AxisPredicate::match(p, n);
    }
    int64_t block = n.kind == NodeKind::BlockTable ? n.param[1]
                    : n.kind == NodeKind::Power || n.kind == NodeKind::StridedBlocks
                        ? n.param[0]
                        : 0;
    if (block > 0)
      impl->rowSplit = impl->rowSplit ? std::min(impl->rowSplit, block) : block;
  }
  return Planner(std::move(impl));
}

void Planner::keySets(const MaskInputs &inputs, int64_t b, int64_t h,
                      int64_t qa, int64_t qb, KeySet &may,
                      KeySet &must) const {
  TermCache cache;
  impl->keySets(inputs, b, h, qa, qb, cache, may, must);
}

void Planner::Impl::keySets(const MaskInputs &inputs, int64_t b, int64_t h,
                            int64_t qa, int64_t qb, TermCache &cache,
                            KeySet &may, KeySet &must) const {
  // Node sets may reach outside [0, lk) (e.g. a window's lower bound);
  // clipping once at the root keeps every node's closed form branch-free.
  int64_t split = rowSplit;
  if (split <= 0 || qa / split == qb / split) {
    sets(program.root, inputs, b, h, qa, qb, Run{0, inputs.lk}, cache, may,
         must);
    may = may.clip(0, inputs.lk);
    must = must.clip(0, inputs.lk);
    return;
  }
  // One analysis per block row: may is the union, must the intersection.
  bool first = true;
  for (int64_t lo = qa; lo <= qb;) {
    int64_t hi = std::min(qb, (lo / split + 1) * split - 1);
    KeySet subMay, subMust;
    sets(program.root, inputs, b, h, lo, hi, Run{0, inputs.lk}, cache, subMay,
         subMust);
    may = first ? subMay : may.unite(subMay, Approx::Over);
    must = first ? subMust : must.intersect(subMust, Approx::Under);
    first = false;
    lo = hi + 1;
  }
  may = may.clip(0, inputs.lk);
  must = must.clip(0, inputs.lk);
}

//===----------------------------------------------------------------------===//
// Segments of one query tile
//===----------------------------------------------------------------------===//

/// Lattices narrower than this fraction of a tile are gathered; wider ones
/// (block-strided patterns) are visited as ranges of whole tiles.
static bool shouldGather(const Lattice &l, int64_t blockN) {
  return 2 * l.width < blockN;
}

/// Gathered keys are packed into tiles of BN keys. Where a FULL gather
/// borders a PARTIAL one, the FULL side keeps a multiple of BN keys and
/// hands its remainder to the PARTIAL side, so that the two share a tile
/// instead of each ending in a half-empty one.
static void packGathers(SmallVec<Segment, 4> &gathers, int64_t bn,
                        int64_t lk) {
  std::sort(gathers.begin(), gathers.end(),
            [](const Segment &a, const Segment &b) { return a.lo < b.lo; });
  for (size_t i = 0; i + 1 < gathers.size(); ++i) {
    Segment &a = gathers[i], &b = gathers[i + 1];
    if (a.hi != b.lo || a.full == b.full)
      continue;
    Segment &full = a.full ? a : b;
    int64_t n = full.numKeys(bn, lk), keep = (n / bn) * bn;
    if (keep == n)
      continue;
    if (a.full) {
      // Keys [gatheredKey(keep), a.hi) move to the partial segment b.
      int64_t cut = a.gatheredKey(keep);
      a.hi = cut;
      b.lo = cut;
    } else {
      // The first n - keep keys of b move to the partial segment a.
      int64_t cut = std::min(b.hi, b.gatheredKey(n - keep));
      a.hi = cut;
      b.lo = cut;
    }
  }
  gathers.erase(std::remove_if(gathers.begin(), gathers.end(),
                               [&](const Segment &s) {
                                 return s.numKeys(bn, lk) == 0;
                               }),
                gathers.end());
}

/// Splits the runs of `keys` into the parts inside and outside the runs of
/// `must` (both sorted and disjoint), in one merge-like sweep: query tiles
/// of column masks hold hundreds of single-key runs.
static void splitByMust(const KeySet &keys, const KeySet &must,
                        std::vector<Run> &full, std::vector<Run> &partial) {
  Span<Run> m = must.getRuns();
  size_t j = 0;
  for (const Run &r : keys.getRuns()) {
    while (j < m.size() && m[j].hi <= r.lo)
      ++j;
    int64_t at = r.lo;
    for (size_t i = j; i < m.size() && m[i].lo < r.hi; ++i) {
      int64_t lo = std::max(at, m[i].lo), hi = std::min(r.hi, m[i].hi);
      if (at < lo)
        partial.push_back(Run{at, lo});
      if (lo < hi)
        full.push_back(Run{lo, hi});
      at = std::max(at, hi);
    }
    if (at < r.hi)
      partial.push_back(Run{at, r.hi});
  }
}

/// Sparse keys of one query tile, gathered instead of visited in whole tiles:
/// long runs become contiguous gathers (period 1: a band of keys at any
/// alignment fills one tile instead of straddling two), the rest one sorted
/// key list per FULL / PARTIAL, packed BN keys a tile.
struct SparseKeys {
  SmallVec<Segment, 4> bands;
  std::vector<int64_t> fullList, partialList;
  int64_t tiles(int64_t bn, int64_t lk) const {
    int64_t n = ceilDiv(int64_t(fullList.size()), bn) +
                ceilDiv(int64_t(partialList.size()), bn);
    for (const Segment &s : bands)
      n += s.numTiles(bn, lk);
    return n;
  }
};

/// A tile with at least this share (in quarters) of its keys kept by some
/// row is visited whole; sparser tiles hand their keys to gathers.
constexpr int64_t kDenseTileQuarters = 3;

/// The may-run keys outside the dense tiles of `tiles`, as gathers; false
/// when that would not save at least two tile visits (the usual case for
/// named patterns, whose sparse tiles are only the edges of bands). Tiles
/// that wide lattices reach (`latticeTiles`) stay dense.
static bool gatherSparseKeys(const KeySet &may, const KeySet &must,
                             const KeySet &tiles, const KeySet &latticeTiles,
                             int64_t bn, int64_t lk, KeySet &denseTiles,
                             SparseKeys &sparse) {
  // Cheap first: tiles below the density threshold, from the runs alone
  // (an upper bound: lattices only make tiles dense). Named patterns have
  // at most one or two, at band edges, and stop here.
  auto sparseTile = [&](int64_t t, int64_t keys) {
    int64_t capacity = std::min((t + 1) * bn, lk) - t * bn;
    return 4 * keys < kDenseTileQuarters * capacity;
  };
  int64_t candidates = 0, tile = INT64_MIN, keysInTile = 0;
  for (const Run &r : may.getRuns()) {
    int64_t first = floorDiv(r.lo, bn), last = floorDiv(r.hi - 1, bn);
    if (first != tile) {
      if (tile != INT64_MIN)
        candidates += sparseTile(tile, keysInTile);
      tile = first;
      keysInTile = 0;
    }
    if (first == last) {
      keysInTile += r.hi - r.lo;
      continue;
    }
    // The run's first tile ends here, its interior tiles are full.
    candidates += sparseTile(first, keysInTile + (first + 1) * bn - r.lo);
    tile = last;
    keysInTile = r.hi - last * bn;
  }
  if (tile != INT64_MIN)
    candidates += sparseTile(tile, keysInTile);
  if (candidates < 2)
    return false;

  // Keys of may-runs per tile, in increasing tile order (runs are sorted).
  std::vector<std::pair<int64_t, int64_t>> count;
  for (const Run &r : may.getRuns())
    for (int64_t t = floorDiv(r.lo, bn); t * bn < r.hi; ++t) {
      int64_t n = std::min(r.hi, (t + 1) * bn) - std::max(r.lo, t * bn);
      if (!count.empty() && count.back().first == t)
        count.back().second += n;
      else
        count.push_back({t, n});
    }
  std::vector<Run> dense, sparseTiles;
  int64_t visited = 0;
  size_t next = 0;
  for (const Run &r : tiles.getRuns())
    for (int64_t t = r.lo / bn; t < r.hi / bn; ++t) {
      ++visited;
      while (next < count.size() && count[next].first < t)
        ++next;
      int64_t keys = next < count.size() && count[next].first == t
                         ? count[next].second
                         : -1;
      bool isDense =
          keys < 0 || latticeTiles.contains(t * bn) || !sparseTile(t, keys);
      (isDense ? dense : sparseTiles).push_back(Run{t * bn, (t + 1) * bn});
    }
  if (sparseTiles.size() < 2)
    return false;
  // Only the runs of `may`: lattices never overlap them and are gathered
  // on their own.
  KeySet runKeys = KeySet::ofRuns(may.getRuns()).clip(0, lk).intersect(
      KeySet::ofRuns({sparseTiles.data(), sparseTiles.size()}), Approx::Over);
  std::vector<Run> fullRuns, partialRuns;
  splitByMust(runKeys, must, fullRuns, partialRuns);
  SmallVec<Segment, 4> bands;
  for (int pass = 0; pass < 2; ++pass) {
    bool full = pass == 0;
    for (const Run &r : full ? fullRuns : partialRuns) {
      if (2 * (r.hi - r.lo) >= bn) {
        bands.push_back(Segment{Segment::Gather, full, r.lo, r.hi, 0, 1, 1});
        continue;
      }
      auto &list = full ? sparse.fullList : sparse.partialList;
      for (int64_t k = r.lo; k < r.hi; ++k)
        list.push_back(k);
    }
  }
  packGathers(bands, bn, lk);
  sparse.bands = std::move(bands);
  // A FULL list ends in a whole tile; its remainder joins the PARTIAL list.
  // Both lists come from sorted runs, so a merge keeps them sorted.
  std::vector<int64_t> &fl = sparse.fullList, &pl = sparse.partialList;
  size_t keep = fl.size() / bn * bn;
  size_t partial = pl.size();
  pl.insert(pl.end(), fl.begin() + keep, fl.end());
  std::inplace_merge(pl.begin(), pl.begin() + partial, pl.end());
  fl.resize(keep);
  if (int64_t(dense.size()) + sparse.tiles(bn, lk) + 2 > visited) {
    sparse = SparseKeys();
    return false;
  }
  denseTiles = KeySet::ofRuns({dense.data(), dense.size()});
  return true;
}

static void appendSegments(const KeySet &may, const KeySet &must, int64_t bn,
                           int64_t lk, bool gathers, std::vector<Segment> &out,
                           std::vector<int64_t> &pool) {
  auto gathered = [&](const Lattice &l) { return gathers && shouldGather(l, bn); };
  // Tiles holding may-runs and wide lattices.
  SmallVec<Run, 8> tileRuns, latticeRuns; // inline: usually a few runs
  for (const Run &r : may.getRuns())
    tileRuns.push_back(Run{floorDiv(r.lo, bn) * bn, ceilDiv(r.hi, bn) * bn});
  for (const Lattice &l : may.getLattices()) {
    if (gathered(l))
      continue;
    int64_t first = l.lo - floorMod(l.lo - l.start, l.period);
    for (int64_t s = first; s < l.hi; s += l.period)
      if (std::max(s, l.lo) < std::min(s + l.width, l.hi))
        latticeRuns.push_back(
            Run{floorDiv(std::max(s, l.lo), bn) * bn,
                ceilDiv(std::min(s + l.width, l.hi), bn) * bn});
  }
  KeySet latticeTiles = KeySet::ofRuns({latticeRuns.data(), latticeRuns.size()});
  tileRuns.append(latticeRuns.begin(), latticeRuns.end());
  KeySet tiles = KeySet::ofRuns({tileRuns.data(), tileRuns.size()});
  // Sparse tiles: their run keys are gathered instead of visited whole.
  SparseKeys sparse;
  KeySet denseTiles;
  if (gathers && gatherSparseKeys(may, must, tiles, latticeTiles, bn, lk,
                                  denseTiles, sparse))
    tiles = denseTiles;

  // Full tiles: entirely inside one must-run and inside [0, lk). Must runs
  // are sorted and disjoint, so the candidate is the last one starting at
  // or before the tile.
  Span<Run> mustRuns = must.getRuns();
  auto coveringRun = [&](int64_t t) -> const Run * {
    int64_t lo = t * bn, hi = (t + 1) * bn;
    if (hi > lk)
      return nullptr;
    auto it = std::upper_bound(mustRuns.begin(), mustRuns.end(), lo,
                               [](int64_t k, const Run &r) { return k < r.lo; });
    if (it == mustRuns.begin())
      return nullptr;
    const Run &r = *(it - 1);
    return hi <= r.hi ? &r : nullptr;
  };
  for (const Run &r : tiles.getRuns()) {
    int64_t t0 = r.lo / bn, t1 = r.hi / bn;
    // Full tiles within [t0, t1) form ranges bounded by must-run edges.
    int64_t t = t0;
    while (t < t1) {
      const Run *cover = coveringRun(t);
      int64_t e = t + 1;
      if (cover) {
        // Extend to the end of the covering must-run.
        e = std::min(t1, std::min(cover->hi, lk) / bn);
      } else {
        while (e < t1 && !coveringRun(e))
          ++e;
      }
      out.push_back(Segment{Segment::Range, cover != nullptr, t, e, 0, 1, 1});
      t = e;
    }
  }

  // Gathers: narrow lattices outside the visited tiles, split by coverage.
  for (const Lattice &l : may.getLattices()) {
    if (!gathered(l))
      continue;
    KeySet piece = KeySet::run(l.lo, l.hi);
    piece = piece.intersect(tiles.complement(lk, Approx::Under), Approx::Under);
    // Key ranges where the lattice's keys are all in must.
    KeySet covered;
    for (const Run &r : must.getRuns())
      covered.addRun(r.lo, r.hi);
    for (const Lattice &m : must.getLattices())
      if (m.period == l.period && !Lattice{m.start, m.period, m.width, 0, m.period}.empty()) {
        // m covers l's residues when l's window lies inside m's window.
        bool inside = true;
        for (int64_t i = 0; i < l.width && inside; ++i)
          inside = floorMod(l.start + i - m.start, m.period) < m.width;
        if (inside)
          covered.addRun(m.lo, m.hi);
      }
    for (const Run &p : piece.getRuns()) {
      KeySet full = covered.clip(p.lo, p.hi);
      KeySet partial = full.complement(lk, Approx::Under).clip(p.lo, p.hi);
      SmallVec<Segment, 4> gathers;
      for (const Run &f : full.getRuns())
        gathers.push_back(Segment{Segment::Gather, true, f.lo, f.hi, l.start,
                                  l.period, l.width});
      for (const Run &q : partial.getRuns())
        gathers.push_back(Segment{Segment::Gather, false, q.lo, q.hi, l.start,
                                  l.period, l.width});
      packGathers(gathers, bn, lk);
      out.insert(out.end(), gathers.begin(), gathers.end());
    }
  }

  // Sparse keys: bands, then the key lists (positions in the class's pool).
  out.insert(out.end(), sparse.bands.begin(), sparse.bands.end());
  for (bool full : {true, false}) {
    const std::vector<int64_t> &list = full ? sparse.fullList : sparse.partialList;
    if (list.empty())
      continue;
    int64_t at = pool.size();
    pool.insert(pool.end(), list.begin(), list.end());
    out.push_back(Segment{Segment::List, full, at, int64_t(pool.size()), 0, 1, 1});
  }
}

std::optional<TilePlan> Planner::plan(const MaskInputs &inputs,
                                      std::string &error) const {
  if (inputs.lq < 0 || inputs.lk < 0 || inputs.lq > inputs.lk) {
    error = "sequence lengths must satisfy 0 <= Lq <= Lk (got Lq = " +
            std::to_string(inputs.lq) + ", Lk = " + std::to_string(inputs.lk) +
            ")";
    return std::nullopt;
  }
  if (inputs.batch <= 0) {
    error = "batch must be positive";
    return std::nullopt;
  }
  error = checkMaskInputs(impl->program, inputs);
  if (!error.empty())
    return std::nullopt;

  TilePlan p;
  p.blockM = impl->options.blockM;
  p.blockN = impl->options.blockN;
  p.lq = inputs.lq;
  p.lk = inputs.lk;
  p.batch = inputs.batch;
  p.heads = impl->program.heads;
  p.numQueryTiles = ceilDiv(inputs.lq, p.blockM);
  p.classIndex.resize(p.batch * p.heads);

  std::map<std::vector<int64_t>, int32_t> classes;
  SharedPredicateSets sharedPredicateSets;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      TermCache cache;
      if (!p.classes.empty())
        cache.sharedPredicateSets = &sharedPredicateSets;
      std::vector<int64_t> sig;
      impl->signature(impl->program.root, inputs, b, h, sig);
      auto [it, inserted] = classes.try_emplace(sig, (int32_t)p.classes.size());
      p.classIndex[b * p.heads + h] = it->second;
      if (!inserted)
        continue;
      TilePlan::Class c;
      c.offsets.reserve(p.numQueryTiles + 1);
      c.offsets.push_back(0);
      // Classes of one plan (heads of a per-head table) are alike in size:
      // reserving the last one's spares the regrowth of every other one.

      for (int64_t m = 0; m < p.numQueryTiles; ++m) {
        if (m == 16) {
          // Reserve from the first tiles' counts, or from the last class's
          // when that is over twice as large: classes of one plan (heads of
          // a per-head table) are alike in size, while the first tiles of a
          // causal mask undercount it several times, and regrowing
          // megabyte vectors costs page faults.
          size_t estimate = c.segments.size() * p.numQueryTiles / 16 + 16;
          if (!p.classes.empty() &&
              p.classes.back().segments.size() > 2 * estimate)
            estimate = p.classes.back().segments.size();
          c.segments.reserve(estimate);
          c.keys.reserve(c.keys.size() * p.numQueryTiles / 16);
        }
        auto [qa, qb] = p.queryRange(m);
        KeySet may, must;
        impl->keySets(inputs, b, h, qa, qb, cache, may, must);
        appendSegments(may, must, p.blockN, p.lk, impl->options.gathers,
                       c.segments, c.keys);
        c.offsets.push_back(c.segments.size());
      }
      p.classes.push_back(std::move(c));
    }
  return p;
}
