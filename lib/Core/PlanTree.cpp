//===- PlanTree.cpp - closed-form key sets of every mask node -------------===//
//
// Tier 1 of tile planning: for a block of query positions [qa, qb], every
// named pattern yields its "may" set (keys some row keeps) and "must" set
// (keys every row keeps) in closed form, in time independent of the
// sequence length except for patterns whose kept set itself grows with it
// (power distances, runtime tables). Combinators combine the sets with the
// right approximation direction; free-form predicates go through tiers 2
// and 3 at tile granularity.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include "sattn/Core/MaskEval.h"

#include <algorithm>
#include <vector>

using namespace sattn;
using namespace sattn::plan;

//===----------------------------------------------------------------------===//
// Leaf closed forms
//===----------------------------------------------------------------------===//

static void causalSets(int64_t qa, int64_t qb, KeySet &may, KeySet &must) {
  may = KeySet::run(0, qb + 1);
  must = KeySet::run(0, qa + 1);
}

/// Power: block distances 0, powers of two, < window, plus sink blocks.
static void powerSets(const Node &n, int64_t qa, int64_t qb, KeySet &may,
                      KeySet &must) {
  int64_t bs = n.param[0], win = n.param[1], sink = n.param[2];
  int64_t ia = qa / bs, ib = qb / bs;
  auto blocksOf = [&](int64_t i, KeySet &set) {
    set.addRun(0, std::min(sink, i + 1) * bs);
    set.addRun((i - std::max<int64_t>(win, 1) + 1) * bs, (i + 1) * bs);
    for (int64_t d = 1; d <= i; d *= 2)
      set.addRun((i - d) * bs, (i - d + 1) * bs);
  };
  KeySet blocks;
  for (int64_t i = ia; i <= ib; ++i)
    blocksOf(i, blocks);
  may = blocks.clip(0, qb + 1);
  KeySet common;
  if (ia == ib) {
    common = blocks;
  } else {
    common.addRun(0, std::min(sink, ia + 1) * bs);
    if (win >= 1)
      common.addRun((ib - win + 1) * bs, (ia + 1) * bs);
  }
  must = common.clip(0, qa + 1);
}

/// The head (or kv group) index of a strided_blocks node, or -1 for the
/// dense (causal) heads.
static int64_t stridedBlocksHead(const Node &n, int64_t h) {
  int64_t hh = h / n.param[5];
  return hh >= n.param[4] ? -1 : hh;
}

/// S2 / DKernel strided blocks.
static void stridedBlocksSets(const Node &n, int64_t h, int64_t qa,
                              int64_t qb, KeySet &may, KeySet &must) {
  int64_t bs = n.param[0], local = n.param[1], vs = n.param[2];
  int64_t off = n.param[3], step = n.param[6];
  int64_t hh = stridedBlocksHead(n, h);
  if (hh < 0)
    return causalSets(qa, qb, may, must);
  int64_t residue = floorMod(-(hh * step + off), vs);
  int64_t ia = qa / bs, ib = qb / bs;
  KeySet localMay = local >= 1 ? KeySet::run((ia - local + 1) * bs, (ib + 1) * bs)
                               : KeySet();
  KeySet vertMay = KeySet::lattice(residue * bs, vs * bs, bs, 0, (ib + 1) * bs);
  may = localMay.unite(vertMay, Approx::Over).clip(0, qb + 1);
  KeySet localMust = local >= 1 ? KeySet::run((ib - local + 1) * bs, (ia + 1) * bs)
                                : KeySet();
  KeySet vertMust = KeySet::lattice(residue * bs, vs * bs, bs, 0, (ia + 1) * bs);
  must = localMust.unite(vertMust, Approx::Under).clip(0, qa + 1);
}

/// The runs of document table `table` for batch row b (absent or misshapen
/// tables, and positions past the table, read id 0 as in readTable).
static DocumentRuns documentRuns(const std::string &table, const MaskInputs &in,
                                 int64_t b) {
  auto it = in.tables.find(table);
  const int64_t *row = nullptr;
  int64_t extent = 0;
  if (it != in.tables.end()) {
    const TableData &t = it->second;
    if (t.shape.size() == 1) {
      row = t.data();
      extent = t.shape[0];
    } else if (t.shape.size() == 2 && b < t.shape[0]) {
      row = t.data() + b * t.shape[1];
      extent = t.shape[1];
    }
  }
  DocumentRuns runs;
  for (int64_t k = 0; k < in.lk; ++k) {
    int64_t v = k < extent ? row[k] : 0;
    if (runs.id.empty() || runs.id.back() != v) {
      runs.runsOf[v].push_back(static_cast<uint32_t>(runs.start.size()));
      runs.start.push_back(k);
      runs.id.push_back(v);
    }
  }
  return runs;
}

/// Exact sets of a document mask for query positions [qa, qb]: every run of
/// keys that holds an id of one of the rows (documents need not be
/// contiguous). Costs the runs the rows cross and the runs of their ids.
static void documentSets(const DocumentRuns &runs, int64_t lk, int64_t qa,
                         int64_t qb, KeySet &may, KeySet &must) {
  auto end = [&](size_t i) {
    return i + 1 < runs.start.size() ? runs.start[i + 1] : lk;
  };
  std::vector<int64_t> ids;
  size_t first = std::upper_bound(runs.start.begin(), runs.start.end(), qa) -
                 runs.start.begin() - 1;
  for (size_t i = first; i < runs.start.size() && runs.start[i] <= qb; ++i)
    ids.push_back(runs.id[i]);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<uint32_t> kept;
  for (int64_t id : ids) {
    const std::vector<uint32_t> &of = runs.runsOf.at(id);
    kept.insert(kept.end(), of.begin(), of.end());
  }
  std::sort(kept.begin(), kept.end());
  may = KeySet();
  for (uint32_t i : kept)
    may.addRun(runs.start[i], end(i));
  must = ids.size() == 1 ? may : KeySet();
}

/// Block table `table[h, q / bs, k / bs]`: the key blocks some (may) and
/// every (must) block row of [qa, qb] keeps, read straight from the table's
/// rows and only for the blocks of `window` (the caller uses no other key).
/// Entries outside the table read 0, as in readTable.
static void blockTableSets(const std::string &table, int64_t bs,
                           const MaskInputs &in, int64_t h, int64_t qa,
                           int64_t qb, Run window, KeySet &may, KeySet &must) {
  may = KeySet();
  must = KeySet();
  auto it = in.tables.find(table);
  if (it == in.tables.end() || it->second.shape.size() != 3)
    return;
  const TableData &t = it->second;
  int64_t rows = t.shape[1], columns = t.shape[2];
  if (h < 0 || h >= t.shape[0] ||
      int64_t(t.size()) < t.shape[0] * rows * columns)
    return;
  int64_t ia = qa / bs, ib = qb / bs;
  int64_t ja = std::max<int64_t>(0, floorDiv(window.lo, bs));
  int64_t jb = std::min(columns, ceilDiv(window.hi, bs));
  // A block row past the table keeps nothing: may ignores it, must is empty.
  bool rowsInside = ia >= 0 && ib < rows;
  auto row = [&](int64_t i) { return t.data() + (h * rows + i) * columns; };
  // Runs come in key order; adjacent blocks extend the last run.
  std::vector<Run> mayRuns, mustRuns;
  auto append = [bs](std::vector<Run> &runs, int64_t j) {
    if (!runs.empty() && runs.back().hi == j * bs)
      runs.back().hi += bs;
    else
      runs.push_back(Run{j * bs, (j + 1) * bs});
  };
  int64_t firstRow = std::max<int64_t>(ia, 0), lastRow = std::min(ib, rows - 1);
  if (rowsInside && firstRow == lastRow) {
    // One block row (query tiles no taller than a block): may = must.
    const int64_t *kept = row(firstRow);
    for (int64_t j = ja; j < jb; ++j)
      if (kept[j])
        append(mayRuns, j);
    mustRuns = mayRuns;
  } else {
    for (int64_t j = ja; j < jb; ++j) {
      bool any = false, all = rowsInside;
      for (int64_t i = firstRow; i <= lastRow; ++i) {
        bool kept = row(i)[j] != 0;
        any |= kept;
        all &= kept;
      }
      if (any)
        append(mayRuns, j);
      if (all)
        append(mustRuns, j);
    }
  }
  may = KeySet::ofRuns({mayRuns.data(), mayRuns.size()});
  must = KeySet::ofRuns({mustRuns.data(), mustRuns.size()});
}

//===----------------------------------------------------------------------===//
// Tree evaluation
//===----------------------------------------------------------------------===//

void Planner::Impl::sets(uint32_t id, const MaskInputs &in, int64_t b,
                         int64_t h, int64_t qa, int64_t qb, Run window,
                         TermCache &cache, KeySet &may, KeySet &must) const {
  const Node &n = program.nodes[id];
  const int64_t *p = n.param;
  int64_t lk = in.lk;
  switch (n.kind) {
  case NodeKind::Full:
    may = must = KeySet::run(0, lk);
    break;
  case NodeKind::Empty:
    may = must = KeySet();
    break;
  case NodeKind::Causal:
    causalSets(qa, qb, may, must);
    break;
  case NodeKind::Window:
    may = KeySet::run(qa - p[0] + 1, qb + 1);
    must = KeySet::run(qb - p[0] + 1, qa + 1);
    break;
  case NodeKind::SymmetricWindow:
    may = KeySet::run(qa - p[0], qb + p[0] + 1);
    must = KeySet::run(qb - p[0], qa + p[0] + 1);
    break;
  case NodeKind::Sink:
    may = must = KeySet::run(0, p[0]);
    break;
  case NodeKind::TailQueries: {
    int64_t first = lk - p[0];
    may = qb >= first ? KeySet::run(0, lk) : KeySet();
    must = qa >= first ? KeySet::run(0, lk) : KeySet();
    break;
  }
  case NodeKind::Prefix:
    may = KeySet::run(0, std::max(qb + 1, p[0]));
    must = KeySet::run(0, std::max(qa + 1, p[0]));
    break;
  case NodeKind::Strided: {
    int64_t r = floorMod(evalHeadOffset(program, n, h), p[0]);
    may = must = KeySet::lattice(r, p[0], 1, 0, lk);
    break;
  }
  case NodeKind::StridedBlocks:
    stridedBlocksSets(n, h, qa, qb, may, must);
    break;
  case NodeKind::Dilated: {
    // param: dilation d, window * d; the window spans (window - 1) * d.
    int64_t d = p[0], span = p[1] - d;
    if (d == 1) {
      may = KeySet::run(qa - span, qb + 1);
      must = KeySet::run(qb - span, qa + 1);
      break;
    }
    may = KeySet();
    if (qb - qa + 1 >= d) {
      may = KeySet::run(qa - span, qb + 1);
    } else {
      for (int64_t q = qa; q <= qb; ++q)
        may = may.unite(KeySet::lattice(floorMod(q, d), d, 1, q - span, q + 1),
                        Approx::Over);
    }
    must = qa == qb ? may : KeySet();
    break;
  }
  case NodeKind::Power:
    powerSets(n, qa, qb, may, must);
    break;
  case NodeKind::Document: {
    const std::string &table = program.tables[p[0]].name;
    auto [it, inserted] = cache.documentRuns.try_emplace({id, b});
    if (inserted)
      it->second = documentRuns(table, in, b);
    documentSets(it->second, lk, qa, qb, may, must);
    break;
  }
  case NodeKind::BlockTable:
    blockTableSets(program.tables[p[0]].name, p[1], in, h, qa, qb, window, may,
                   must);
    break;
  case NodeKind::Union:
  case NodeKind::Intersect: {
    bool uni = n.kind == NodeKind::Union;
    const uint32_t *children = program.operands.data() + n.first;
    sets(children[0], in, b, h, qa, qb, window, cache, may, must);
    for (uint32_t i = 1; i < n.count; ++i) {
      // An intersection keeps only keys its earlier operands may keep.
      Run hull = window;
      if (!uni && !may.empty()) {
        Span<Run> runs = may.getRuns();
        Span<Lattice> lattices = may.getLattices();
        int64_t lo = runs.size() ? runs.front().lo : lattices.front().lo;
        int64_t hi = runs.size() ? runs.back().hi : lattices.front().hi;
        for (const Lattice &l : lattices) {
          lo = std::min(lo, l.lo);
          hi = std::max(hi, l.hi);
        }
        hull = Run{std::max(window.lo, lo), std::min(window.hi, hi)};
      }
      KeySet cMay, cMust;
      sets(children[i], in, b, h, qa, qb, hull, cache, cMay, cMust);
      may = uni ? may.unite(cMay, Approx::Over)
                : may.intersect(cMay, Approx::Over);
      must = uni ? must.unite(cMust, Approx::Under)
                 : must.intersect(cMust, Approx::Under);
    }
    break;
  }
  case NodeKind::Complement: {
    KeySet cMay, cMust;
    // The complement needs its operand's sets on every key.
    sets(n.first, in, b, h, qa, qb, Run{0, lk}, cache, cMay, cMust);
    may = cMust.complement(lk, Approx::Over);
    must = cMay.complement(lk, Approx::Under);
    break;
  }
  case NodeKind::PerHead:
    sets(program.operands[n.first + h], in, b, h, qa, qb, window, cache, may,
         must);
    break;
  case NodeKind::Predicate: {
    if (tableTerms[id]) {
      tableTerms[id]->sets(program, in, b, h, qa, qb, window, cache, may,
                           must);
      break;
    }
    if (std::optional<AxisPredicate::Axis> axis = axisPredicates[id]) {
      auto [it, inserted] = cache.axisPoints.try_emplace(id);
      if (inserted)
        it->second = AxisPredicate::points(program, id, *axis, predicates[id], in);
      AxisPredicate::sets(*axis, it->second, lk, qa, qb, may, must);
      break;
    }
    // Tiers 2 and 3 at tile granularity (PredicateTiles.cpp).
    const PredicateIntervals &intervals = predicates[id];
    if (cache.sharedPredicateSets && !intervals.usesArg(0) &&
        !intervals.usesArg(1)) {
      auto [it, inserted] = cache.sharedPredicateSets->try_emplace(
          std::make_tuple(id, qa, qb, window.lo, window.hi));
      if (inserted)
        predicateSets(id, in, b, h, qa, qb, window, it->second.first,
                      it->second.second);
      may = it->second.first;
      must = it->second.second;
      break;
    }
    predicateSets(id, in, b, h, qa, qb, window, may, must);
    break;
  }
  }
}

void Planner::Impl::signature(uint32_t id, const MaskInputs &in, int64_t b,
                              int64_t h, std::vector<int64_t> &sig) const {
  const Node &n = program.nodes[id];
  switch (n.kind) {
  case NodeKind::Strided:
    sig.push_back(floorMod(evalHeadOffset(program, n, h), n.param[0]));
    break;
  case NodeKind::StridedBlocks:
    sig.push_back(stridedBlocksHead(n, h));
    break;
  case NodeKind::BlockTable:
    sig.push_back(h);
    break;
  case NodeKind::Document: {
    auto it = in.tables.find(program.tables[n.param[0]].name);
    if (it != in.tables.end() && it->second.shape.size() == 2)
      sig.push_back(b);
    break;
  }
  case NodeKind::Predicate: {
    const PredicateIntervals &p = predicates[id];
    sig.push_back(p.usesArg(0) ? b : -1);
    sig.push_back(p.usesArg(1) ? h : -1);
    break;
  }
  case NodeKind::PerHead: {
    uint32_t child = program.operands[n.first + h];
    sig.push_back(child);
    signature(child, in, b, h, sig);
    break;
  }
  case NodeKind::Complement:
    signature(n.first, in, b, h, sig);
    break;
  case NodeKind::Union:
  case NodeKind::Intersect:
    for (uint32_t i = n.first; i < n.first + n.count; ++i)
      signature(program.operands[i], in, b, h, sig);
    break;
  default:
    break;
  }
}
