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

#include "PlanTree.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/AffineExpr.h"

#include <algorithm>
#include <map>

using namespace mlir;
using namespace sattn;
using namespace sattn::plan;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Evaluates a one-dimensional affine expression at d0 = h.
static int64_t evalAffine(AffineExpr e, int64_t h) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return c.getValue();
  if (isa<AffineDimExpr>(e))
    return h;
  auto bin = cast<AffineBinaryOpExpr>(e);
  int64_t l = evalAffine(bin.getLHS(), h), r = evalAffine(bin.getRHS(), h);
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return l + r;
  case AffineExprKind::Mul:
    return l * r;
  case AffineExprKind::Mod:
    return r == 0 ? 0 : floorMod(l, r);
  case AffineExprKind::FloorDiv:
    return r == 0 ? 0 : floorDiv(l, r);
  case AffineExprKind::CeilDiv:
    return r == 0 ? 0 : ceilDiv(l, r);
  default:
    return 0;
  }
}

/// Reads table `name` at `idx` (row-major); out of range or missing reads 0.
static int64_t readTable(const MaskInputs &in, StringRef name,
                         ArrayRef<int64_t> idx) {
  auto it = in.tables.find(name);
  if (it == in.tables.end() || it->second.shape.size() != idx.size())
    return 0;
  const TableData &t = it->second;
  int64_t flat = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] < 0 || idx[i] >= t.shape[i])
      return 0;
    flat = flat * t.shape[i] + idx[i];
  }
  return flat < (int64_t)t.values.size() ? t.values[flat] : 0;
}

//===----------------------------------------------------------------------===//
// Leaf closed forms
//===----------------------------------------------------------------------===//

static void causalSets(int64_t qa, int64_t qb, KeySet &may, KeySet &must) {
  may = KeySet::run(0, qb + 1);
  must = KeySet::run(0, qa + 1);
}

/// Power: block distances 0, powers of two, < window, plus sink blocks.
static void powerSets(const PlanNode &n, int64_t qa, int64_t qb,
                      KeySet &may, KeySet &must) {
  int64_t bs = n.p0, win = n.p1, sink = n.p2;
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

/// S2 / DKernel strided blocks.
static void stridedBlocksSets(const PlanNode &n, int64_t heads,
                              int64_t kvHeads, int64_t h, int64_t qa,
                              int64_t qb, KeySet &may, KeySet &must) {
  int64_t bs = n.p0, local = n.p1, vs = n.p2, off = n.p3, dense = n.p4;
  bool perGroup = n.flag;
  int64_t count = perGroup ? kvHeads : heads;
  int64_t hh = perGroup ? h / (heads / kvHeads) : h;
  if (hh >= count - dense)
    return causalSets(qa, qb, may, must);
  int64_t step = std::max<int64_t>(1, vs / count);
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

static void documentSets(const PlanNode &n, const MaskInputs &in, int64_t b,
                         int64_t qa, int64_t qb, KeySet &may, KeySet &must) {
  auto it = in.tables.find(n.table);
  bool batched = it != in.tables.end() && it->second.shape.size() == 2;
  auto id = [&](int64_t pos) {
    return batched ? readTable(in, n.table, {b, pos})
                   : readTable(in, n.table, {pos});
  };
  // Distinct ids of the rows, then every run of keys holding one of them.
  // Exact for any id layout (documents need not be contiguous); the key scan
  // costs O(Lk) per query tile, the size of the table itself.
  std::vector<int64_t> ids;
  for (int64_t q = qa; q <= qb; ++q)
    if (ids.empty() || ids.back() != id(q))
      ids.push_back(id(q));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  may = KeySet();
  for (int64_t k = 0; k < in.lk;) {
    int64_t v = id(k), e = k + 1;
    while (e < in.lk && id(e) == v)
      ++e;
    if (std::binary_search(ids.begin(), ids.end(), v))
      may.addRun(k, e);
    k = e;
  }
  must = ids.size() == 1 ? may : KeySet();
}

static void blockTableSets(const PlanNode &n, const MaskInputs &in,
                           int64_t h, int64_t qa, int64_t qb, KeySet &may,
                           KeySet &must) {
  int64_t bs = n.p0, nb = ceilDiv(in.lk, bs);
  int64_t ia = qa / bs, ib = qb / bs;
  may = KeySet();
  must = KeySet();
  for (int64_t j = 0; j < nb; ++j) {
    bool any = false, all = true;
    for (int64_t i = ia; i <= ib; ++i) {
      bool kept = readTable(in, n.table, {h, i, j}) != 0;
      any |= kept;
      all &= kept;
    }
    if (any)
      may.addRun(j * bs, (j + 1) * bs);
    if (all)
      must.addRun(j * bs, (j + 1) * bs);
  }
}

//===----------------------------------------------------------------------===//
// Tree evaluation
//===----------------------------------------------------------------------===//

void TilePlanner::Impl::sets(int id, const MaskInputs &in, int64_t b,
                             int64_t h, int64_t qa, int64_t qb, KeySet &may,
                             KeySet &must) const {
  const PlanNode &n = nodes[id];
  int64_t lk = in.lk;
  switch (n.kind) {
  case PlanNode::Full:
    may = must = KeySet::run(0, lk);
    break;
  case PlanNode::Empty:
    may = must = KeySet();
    break;
  case PlanNode::Causal:
    causalSets(qa, qb, may, must);
    break;
  case PlanNode::Window:
    may = KeySet::run(qa - n.p0 + 1, qb + 1);
    must = KeySet::run(qb - n.p0 + 1, qa + 1);
    break;
  case PlanNode::SymWindow:
    may = KeySet::run(qa - n.p0, qb + n.p0 + 1);
    must = KeySet::run(qb - n.p0, qa + n.p0 + 1);
    break;
  case PlanNode::Sink:
    may = must = KeySet::run(0, n.p0);
    break;
  case PlanNode::Tail: {
    int64_t first = lk - n.p0;
    may = qb >= first ? KeySet::run(0, lk) : KeySet();
    must = qa >= first ? KeySet::run(0, lk) : KeySet();
    break;
  }
  case PlanNode::Prefix:
    may = KeySet::run(0, std::max(qb + 1, n.p0));
    must = KeySet::run(0, std::max(qa + 1, n.p0));
    break;
  case PlanNode::Strided: {
    int64_t r = floorMod(evalAffine(n.offset.getResult(0), h), n.p0);
    may = must = KeySet::lattice(r, n.p0, 1, 0, lk);
    break;
  }
  case PlanNode::StridedBlocks:
    stridedBlocksSets(n, heads, kvHeads, h, qa, qb, may, must);
    break;
  case PlanNode::Dilated: {
    int64_t w = n.p0, d = n.p1;
    if (d == 1) {
      may = KeySet::run(qa - w + 1, qb + 1);
      must = KeySet::run(qb - w + 1, qa + 1);
      break;
    }
    may = KeySet();
    if (qb - qa + 1 >= d) {
      may = KeySet::run(qa - (w - 1) * d, qb + 1);
    } else {
      for (int64_t q = qa; q <= qb; ++q)
        may = may.unite(
            KeySet::lattice(floorMod(q, d), d, 1, q - (w - 1) * d, q + 1),
            Approx::Over);
    }
    must = qa == qb ? may : KeySet();
    break;
  }
  case PlanNode::Power:
    powerSets(n, qa, qb, may, must);
    break;
  case PlanNode::Document:
    documentSets(n, in, b, qa, qb, may, must);
    break;
  case PlanNode::BlockTable:
    blockTableSets(n, in, h, qa, qb, may, must);
    break;
  case PlanNode::Union:
  case PlanNode::Intersect: {
    bool uni = n.kind == PlanNode::Union;
    sets(n.children[0], in, b, h, qa, qb, may, must);
    for (size_t i = 1; i < n.children.size(); ++i) {
      KeySet cMay, cMust;
      sets(n.children[i], in, b, h, qa, qb, cMay, cMust);
      may = uni ? may.unite(cMay, Approx::Over)
                : may.intersect(cMay, Approx::Over);
      must = uni ? must.unite(cMust, Approx::Under)
                 : must.intersect(cMust, Approx::Under);
    }
    break;
  }
  case PlanNode::Complement: {
    KeySet cMay, cMust;
    sets(n.children[0], in, b, h, qa, qb, cMay, cMust);
    may = cMust.complement(lk, Approx::Over);
    must = cMay.complement(lk, Approx::Under);
    break;
  }
  case PlanNode::PerHead:
    sets(n.children[n.assign[h]], in, b, h, qa, qb, may, must);
    break;
  case PlanNode::Predicate: {
    // Tiers 2 and 3 at tile granularity: decide whole ranges of KV tiles by
    // interval analysis, halving undecided ranges down to single tiles,
    // which are classified exactly.
    const PredicateIntervals &intervals = predicates[n.predicate];
    const MaskEvaluator &exact = predicateEvaluators[n.predicate];
    int64_t bn = options.blockN, tiles = ceilDiv(lk, bn);
    may = KeySet();
    must = KeySet();
    std::vector<std::pair<int64_t, int64_t>> work = {{0, tiles}};
    while (!work.empty()) {
      auto [t0, t1] = work.back();
      work.pop_back();
      if (t0 >= t1)
        continue;
      int64_t ka = t0 * bn, kb = std::min(lk, t1 * bn) - 1;
      auto r = intervals.evaluate(in, b, h, qa, qb, ka, kb);
      if (r.lo == 1 || r.hi == 0) {
        if (r.lo == 1) {
          may.addRun(ka, kb + 1);
          must.addRun(ka, kb + 1);
        }
        continue;
      }
      if (t1 - t0 > 1) {
        int64_t mid = t0 + (t1 - t0) / 2;
        work.push_back({mid, t1});
        work.push_back({t0, mid});
        continue;
      }
      bool any = false, all = true;
      for (int64_t q = qa; q <= qb && (all || !any); ++q)
        for (int64_t k = ka; k <= kb; ++k) {
          bool kept = exact.keep(in, b, h, q, k);
          any |= kept;
          all &= kept;
        }
      if (any)
        may.addRun(ka, kb + 1);
      if (all)
        must.addRun(ka, kb + 1);
    }
    break;
  }
  }
}

void TilePlanner::Impl::signature(int id, const MaskInputs &in, int64_t b,
                                  int64_t h, std::vector<int64_t> &sig) const {
  const PlanNode &n = nodes[id];
  switch (n.kind) {
  case PlanNode::Strided:
    sig.push_back(floorMod(evalAffine(n.offset.getResult(0), h), n.p0));
    break;
  case PlanNode::StridedBlocks: {
    int64_t count = n.flag ? kvHeads : heads;
    int64_t hh = n.flag ? h / (heads / kvHeads) : h;
    sig.push_back(hh >= count - n.p4 ? -1 : hh);
    break;
  }
  case PlanNode::BlockTable:
    sig.push_back(h);
    break;
  case PlanNode::Document: {
    auto it = in.tables.find(n.table);
    if (it != in.tables.end() && it->second.shape.size() == 2)
      sig.push_back(b);
    break;
  }
  case PlanNode::Predicate: {
    const PredicateIntervals &p = predicates[n.predicate];
    sig.push_back(p.usesArg(0) ? b : -1);
    sig.push_back(p.usesArg(1) ? h : -1);
    break;
  }
  case PlanNode::PerHead:
    sig.push_back(n.assign[h]);
    signature(n.children[n.assign[h]], in, b, h, sig);
    break;
  default:
    for (int c : n.children)
      signature(c, in, b, h, sig);
    break;
  }
}
