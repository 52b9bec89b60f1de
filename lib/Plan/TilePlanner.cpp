//===- TilePlanner.cpp - from a mask to per-tile segment lists ------------===//
//
// Compiles a kernel's mask into the planner tree, then turns the may/must
// key sets of each query tile into ordered, non-overlapping segments:
// KV tile ranges split into FULL and PARTIAL parts, and gathers for sparse
// lattices (strided keys) whose keys are packed into dense tiles. Heads and
// batches whose parameters coincide share one plan.
//
//===----------------------------------------------------------------------===//

#include "PlanTree.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>

using namespace mlir;
using namespace sattn;
using namespace sattn::plan;

//===----------------------------------------------------------------------===//
// Segment and plan accessors
//===----------------------------------------------------------------------===//

int64_t Segment::numKeys(int64_t blockN, int64_t lk) const {
  if (kind == Range)
    return std::max<int64_t>(0, std::min(hi * blockN, lk) - lo * blockN);
  return Lattice{start, period, width, lo, hi}.count();
}

int64_t Segment::numTiles(int64_t blockN, int64_t lk) const {
  if (kind == Range)
    return hi - lo;
  return ceilDiv(numKeys(blockN, lk), blockN);
}

int64_t Segment::gatheredKey(int64_t j) const {
  // Member keys from the first period that reaches lo.
  int64_t base = lo - floorMod(lo - start, period); // residue-0 key <= lo
  int64_t skip = std::min(width, lo - base);         // members before lo
  int64_t idx = j + skip;
  return base + (idx / width) * period + idx % width;
}

ArrayRef<Segment> TilePlan::segments(int64_t b, int64_t h, int64_t m) const {
  const Class &c = classes[classOf(b, h)];
  return ArrayRef<Segment>(c.segments).slice(c.offsets[m],
                                             c.offsets[m + 1] - c.offsets[m]);
}

std::pair<int64_t, int64_t> TilePlan::queryRange(int64_t m) const {
  int64_t shift = lk - lq;
  return {m * blockM + shift, std::min((m + 1) * blockM, lq) - 1 + shift};
}

PlanStats TilePlan::stats() const {
  PlanStats s;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t m = 0; m < numQueryTiles; ++m) {
        s.denseTiles += ceilDiv(lk, blockN);
        for (const Segment &seg : segments(b, h, m)) {
          ++s.segments;
          int64_t t = seg.numTiles(blockN, lk);
          if (seg.kind == Segment::Gather) {
            s.gatherTiles += t;
            s.gatherKeys += seg.numKeys(blockN, lk);
          } else {
            s.rangeTiles += t;
          }
          (seg.full ? s.fullTiles : s.partialTiles) += t;
        }
      }
  return s;
}

size_t TilePlan::bytes() const {
  size_t n = classIndex.size() * sizeof(int32_t);
  for (const Class &c : classes)
    n += c.offsets.size() * sizeof(int64_t) +
         c.segments.size() * sizeof(Segment);
  return n;
}

FlatPlan TilePlan::flatten() const {
  FlatPlan f;
  f.numQueryTiles = numQueryTiles;
  f.numClasses = classes.size();
  f.classIndex.assign(classIndex.begin(), classIndex.end());
  int64_t base = 0;
  for (const Class &c : classes) {
    for (int64_t o : c.offsets)
      f.offsets.push_back(base + o);
    for (const Segment &s : c.segments)
      f.segments.insert(f.segments.end(),
                        {int64_t(s.kind), int64_t(s.full), s.lo, s.hi,
                         s.start, s.period, s.width});
    base += c.segments.size();
  }
  return f;
}

std::vector<std::pair<std::string, std::vector<int64_t>>>
sattn::plan::declaredTableShapes(KernelOp kernel, int64_t batch, int64_t lk) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  kernel.walk([&](mask::TableOp table) {
    std::vector<int64_t> shape;
    for (Attribute dim : table.getDims()) {
      mask::TableDim d;
      mask::parseTableDim(cast<StringAttr>(dim).getValue(), d);
      shape.push_back(d.kind == mask::TableDim::Batch     ? batch
                      : d.kind == mask::TableDim::Head    ? (int64_t)kernel.getHeads()
                      : d.kind == mask::TableDim::Literal ? d.extent
                                                          : ceilDiv(lk, d.blockSize));
    }
    shapes.emplace_back(table.getSymName().str(), std::move(shape));
  });
  return shapes;
}

MaskInputs sattn::plan::zeroTableInputs(KernelOp kernel, int64_t lq,
                                        int64_t lk, int64_t batch) {
  MaskInputs in;
  in.batch = batch;
  in.lq = lq;
  in.lk = lk;
  for (auto &[name, shape] : declaredTableShapes(kernel, batch, lk)) {
    int64_t n = 1;
    for (int64_t e : shape)
      n *= e;
    in.tables[name] = TableData{shape, std::vector<int64_t>(n, 0)};
  }
  return in;
}

//===----------------------------------------------------------------------===//
// Building the planner tree from IR
//===----------------------------------------------------------------------===//

namespace {
struct TreeBuilder {
  TilePlanner::Impl &impl;
  llvm::DenseMap<Value, int> memo;

  FailureOr<int> build(Value v) {
    if (auto it = memo.find(v); it != memo.end())
      return it->second;
    Operation *op = v.getDefiningOp();
    PlanNode n{};
    bool ok = true;
    llvm::TypeSwitch<Operation *>(op)
        .Case([&](mask::FullOp) { n.kind = PlanNode::Full; })
        .Case([&](mask::EmptyOp) { n.kind = PlanNode::Empty; })
        .Case([&](mask::CausalOp) { n.kind = PlanNode::Causal; })
        .Case([&](mask::WindowOp w) {
          n.kind = w.getSymmetric() ? PlanNode::SymWindow : PlanNode::Window;
          n.p0 = w.getSize();
        })
        .Case([&](mask::SinkOp s) {
          n.kind = PlanNode::Sink;
          n.p0 = s.getCount();
        })
        .Case([&](mask::TailQueriesOp t) {
          n.kind = PlanNode::Tail;
          n.p0 = t.getCount();
        })
        .Case([&](mask::PrefixOp p) {
          n.kind = PlanNode::Prefix;
          n.p0 = p.getLength();
        })
        .Case([&](mask::StridedOp s) {
          n.kind = PlanNode::Strided;
          n.p0 = s.getStride();
          n.offset = s.getOffset();
        })
        .Case([&](mask::StridedBlocksOp s) {
          n.kind = PlanNode::StridedBlocks;
          n.p0 = s.getBlockSize();
          n.p1 = s.getLocalBlocks();
          n.p2 = s.getVertStride();
          n.p3 = s.getOffset();
          n.p4 = s.getDenseHeads();
          n.flag = s.getPerKvGroup();
        })
        .Case([&](mask::DilatedOp d) {
          n.kind = PlanNode::Dilated;
          n.p0 = d.getWindow();
          n.p1 = d.getDilation();
        })
        .Case([&](mask::PowerOp p) {
          n.kind = PlanNode::Power;
          n.p0 = p.getBlockSize();
          n.p1 = p.getWindowBlocks();
          n.p2 = p.getSinkBlocks();
        })
        .Case([&](mask::DocumentOp d) {
          n.kind = PlanNode::Document;
          n.table = d.getTable().str();
        })
        .Case([&](mask::BlockTableOp t) {
          n.kind = PlanNode::BlockTable;
          n.table = t.getTable().str();
          n.p0 = t.getBlockSize();
        })
        .Case([&](mask::UnionOp u) {
          n.kind = PlanNode::Union;
          ok = children(u.getInputs(), n);
        })
        .Case([&](mask::IntersectOp i) {
          n.kind = PlanNode::Intersect;
          ok = children(i.getInputs(), n);
        })
        .Case([&](mask::ComplementOp c) {
          n.kind = PlanNode::Complement;
          ok = children(c.getInput(), n);
        })
        .Case([&](mask::PerHeadOp p) {
          n.kind = PlanNode::PerHead;
          n.assign.assign(p.getAssignment().begin(), p.getAssignment().end());
          ok = children(p.getInputs(), n);
        })
        .Case([&](mask::PredicateOp p) {
          n.kind = PlanNode::Predicate;
          auto exact = MaskEvaluator::build(p.getResult(), impl.heads,
                                            impl.kvHeads);
          if (failed(exact)) {
            ok = false;
            return;
          }
          n.predicate = impl.predicates.size();
          impl.predicates.push_back(PredicateIntervals::compile(p));
          impl.predicateEvaluators.push_back(std::move(*exact));
        })
        .Default([&](Operation *other) {
          other->emitError() << "tile planning does not support '"
                             << other->getName()
                             << "': dynamic patterns need their estimator";
          ok = false;
        });
    if (!ok)
      return failure();
    int id = impl.nodes.size();
    impl.nodes.push_back(std::move(n));
    memo[v] = id;
    return id;
  }

  bool children(ValueRange inputs, PlanNode &n) {
    for (Value in : inputs) {
      auto c = build(in);
      if (failed(c))
        return false;
      n.children.push_back(*c);
    }
    return true;
  }
};
} // namespace

TilePlanner::TilePlanner(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
TilePlanner::TilePlanner(TilePlanner &&) = default;
TilePlanner &TilePlanner::operator=(TilePlanner &&) = default;
TilePlanner::~TilePlanner() = default;

const PlanOptions &TilePlanner::options() const { return impl->options; }

FailureOr<TilePlanner> TilePlanner::build(KernelOp kernel,
                                          PlanOptions options) {
  if (options.blockM <= 0 || options.blockN <= 0)
    return kernel.emitError("tile sizes must be positive");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->heads = kernel.getHeads();
  impl->kvHeads = kernel.getKvHeads();
  TreeBuilder builder{*impl, llvm::DenseMap<Value, int>()};
  auto root = builder.build(kernel.getMask());
  if (failed(root))
    return failure();
  impl->root = *root;
  for (const PlanNode &n : impl->nodes)
    if (n.kind == PlanNode::BlockTable || n.kind == PlanNode::Power ||
        n.kind == PlanNode::StridedBlocks)
      impl->rowSplit = impl->rowSplit ? std::min(impl->rowSplit, n.p0) : n.p0;
  auto evaluator = MaskEvaluator::build(kernel);
  if (failed(evaluator))
    return failure();
  impl->evaluator.emplace(std::move(*evaluator));
  return TilePlanner(std::move(impl));
}

void TilePlanner::keySets(const MaskInputs &inputs, int64_t b, int64_t h,
                          int64_t qa, int64_t qb, KeySet &may,
                          KeySet &must) const {
  // Node sets may reach outside [0, lk) (e.g. a window's lower bound);
  // clipping once at the root keeps every node's closed form branch-free.
  int64_t split = impl->rowSplit;
  if (split <= 0 || qa / split == qb / split) {
    impl->sets(impl->root, inputs, b, h, qa, qb, may, must);
    may = may.clip(0, inputs.lk);
    must = must.clip(0, inputs.lk);
    return;
  }
  // One analysis per block row: may is the union, must the intersection.
  bool first = true;
  for (int64_t lo = qa; lo <= qb;) {
    int64_t hi = std::min(qb, (lo / split + 1) * split - 1);
    KeySet subMay, subMust;
    impl->sets(impl->root, inputs, b, h, lo, hi, subMay, subMust);
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
static void packGathers(llvm::SmallVectorImpl<Segment> &gathers, int64_t bn,
                        int64_t lk) {
  llvm::sort(gathers,
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
  llvm::erase_if(gathers, [&](const Segment &s) { return s.numKeys(bn, lk) == 0; });
}

static void appendSegments(const KeySet &may, const KeySet &must, int64_t bn,
                           int64_t lk, std::vector<Segment> &out) {
  // Tiles holding may-runs and wide lattices.
  KeySet tiles;
  auto addTiles = [&](int64_t lo, int64_t hi) {
    tiles.addRun(floorDiv(lo, bn) * bn, ceilDiv(hi, bn) * bn);
  };
  for (const Run &r : may.getRuns())
    addTiles(r.lo, r.hi);
  for (const Lattice &l : may.getLattices()) {
    if (shouldGather(l, bn))
      continue;
    int64_t first = l.lo - floorMod(l.lo - l.start, l.period);
    for (int64_t s = first; s < l.hi; s += l.period)
      if (std::max(s, l.lo) < std::min(s + l.width, l.hi))
        addTiles(std::max(s, l.lo), std::min(s + l.width, l.hi));
  }

  // Full tiles: entirely inside one must-run and inside [0, lk).
  auto isFullTile = [&](int64_t t) {
    int64_t lo = t * bn, hi = (t + 1) * bn;
    if (hi > lk)
      return false;
    for (const Run &r : must.getRuns())
      if (r.lo <= lo && hi <= r.hi)
        return true;
    return false;
  };
  for (const Run &r : tiles.getRuns()) {
    int64_t t0 = r.lo / bn, t1 = r.hi / bn;
    // Full tiles within [t0, t1) form ranges bounded by must-run edges.
    int64_t t = t0;
    while (t < t1) {
      bool full = isFullTile(t);
      int64_t e = t + 1;
      if (full) {
        // Extend to the end of the covering must-run.
        for (const Run &m : must.getRuns())
          if (m.lo <= t * bn && (t + 1) * bn <= m.hi)
            e = std::min(t1, std::min(m.hi, lk) / bn);
      } else {
        while (e < t1 && !isFullTile(e))
          ++e;
      }
      out.push_back(Segment{Segment::Range, full, t, e, 0, 1, 1});
      t = e;
    }
  }

  // Gathers: narrow lattices outside the visited tiles, split by coverage.
  for (const Lattice &l : may.getLattices()) {
    if (!shouldGather(l, bn))
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
      llvm::SmallVector<Segment, 4> gathers;
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
}

FailureOr<TilePlan> TilePlanner::plan(const MaskInputs &inputs,
                                      std::string &error) const {
  if (inputs.lq < 0 || inputs.lk < 0 || inputs.lq > inputs.lk) {
    error = "sequence lengths must satisfy 0 <= Lq <= Lk (got Lq = " +
            std::to_string(inputs.lq) + ", Lk = " + std::to_string(inputs.lk) +
            ")";
    return failure();
  }
  if (inputs.batch <= 0) {
    error = "batch must be positive";
    return failure();
  }
  error = impl->evaluator->checkInputs(inputs);
  if (!error.empty())
    return failure();

  TilePlan p;
  p.blockM = impl->options.blockM;
  p.blockN = impl->options.blockN;
  p.lq = inputs.lq;
  p.lk = inputs.lk;
  p.batch = inputs.batch;
  p.heads = impl->heads;
  p.numQueryTiles = ceilDiv(inputs.lq, p.blockM);
  p.classIndex.resize(p.batch * p.heads);

  std::map<std::vector<int64_t>, int32_t> classes;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h) {
      std::vector<int64_t> sig;
      impl->signature(impl->root, inputs, b, h, sig);
      auto [it, inserted] = classes.try_emplace(sig, (int32_t)p.classes.size());
      p.classIndex[b * p.heads + h] = it->second;
      if (!inserted)
        continue;
      TilePlan::Class c;
      c.offsets.reserve(p.numQueryTiles + 1);
      c.offsets.push_back(0);
      for (int64_t m = 0; m < p.numQueryTiles; ++m) {
        if (m == 16) // reserve from the first tiles' segment count
          c.segments.reserve(c.segments.size() * p.numQueryTiles / 16 + 16);
        auto [qa, qb] = p.queryRange(m);
        KeySet may, must;
        keySets(inputs, b, h, qa, qb, may, must);
        appendSegments(may, must, p.blockN, p.lk, c.segments);
        c.offsets.push_back(c.segments.size());
      }
      p.classes.push_back(std::move(c));
    }
  return p;
}
