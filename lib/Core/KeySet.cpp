//===- KeySet.cpp - sets of key positions for tile planning ---------------===//
//
// Runs and lattices with union, intersection and complement. Runs are kept
// sorted and merged; lattices are kept disjoint from the runs and from each
// other, because a plan visits every key of a "may" set exactly once: two
// overlapping gathers would count a key twice in the softmax.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/KeySet.h"

#include <algorithm>
#include <cassert>
#include <tuple>

using namespace sattn::plan;

int64_t sattn::plan::floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t sattn::plan::floorMod(int64_t a, int64_t b) {
  return a - floorDiv(a, b) * b;
}
int64_t sattn::plan::ceilDiv(int64_t a, int64_t b) {
  return -floorDiv(-a, b);
}

/// Beyond this many pieces an intersection approximates instead of
/// enumerating: plans must stay O(visited tiles), never O(L).
static constexpr size_t kMaxPieces = 256;

//===----------------------------------------------------------------------===//
// Lattice
//===----------------------------------------------------------------------===//

/// Number of members of residue window [start, start + width) mod period in
/// [0, x), for x >= 0.
static int64_t countBelow(const Lattice &l, int64_t x) {
  int64_t full = floorDiv(x, l.period);
  int64_t rem = x - full * l.period; // keys [full*period, x)
  int64_t partial = 0;
  // Residues in [0, rem) intersected with the circular window.
  auto overlap = [](int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
    return std::max<int64_t>(0, std::min(a1, b1) - std::max(a0, b0));
  };
  int64_t s = l.start, e = l.start + l.width;
  partial += overlap(0, rem, s, std::min(e, l.period));
  if (e > l.period)
    partial += overlap(0, rem, 0, e - l.period);
  return full * l.width + partial;
}

bool Lattice::empty() const {
  // Any `period` consecutive keys hold `width` >= 1 members.
  if (hi - lo >= period)
    return false;
  return count() == 0;
}

bool Lattice::contains(int64_t k) const {
  return k >= lo && k < hi && floorMod(k - start, period) < width;
}

int64_t Lattice::count() const {
  if (hi <= lo)
    return 0;
  // Shift so that both bounds are non-negative.
  int64_t shift = lo < 0 ? ceilDiv(-lo, period) * period : 0;
  return countBelow(*this, hi + shift) - countBelow(*this, lo + shift);
}

/// Intersection of the residue windows of two lattices of equal period.
static SmallVec<Lattice, 2> intersectSamePeriod(const Lattice &a,
                                                        const Lattice &b) {
  SmallVec<Lattice, 2> out;
  int64_t lo = std::max(a.lo, b.lo), hi = std::min(a.hi, b.hi);
  if (hi <= lo)
    return out;
  int64_t p = a.period;
  // Unroll b's window to start within [a.start - p, a.start + p) and
  // intersect the linear intervals.
  for (int64_t shift : {-p, int64_t(0), p}) {
    int64_t s0 = std::max(a.start, b.start + shift);
    int64_t s1 = std::min(a.start + a.width, b.start + shift + b.width);
    if (s1 > s0)
      out.push_back(Lattice{floorMod(s0, p), p, s1 - s0, lo, hi});
  }
  return out;
}

/// True when two lattices may share a key.
static bool mayOverlap(const Lattice &a, const Lattice &b) {
  if (std::min(a.hi, b.hi) <= std::max(a.lo, b.lo))
    return false;
  if (a.period == b.period)
    return !intersectSamePeriod(a, b).empty();
  return true;
}

//===----------------------------------------------------------------------===//
// KeySet
//===----------------------------------------------------------------------===//

KeySet KeySet::run(int64_t lo, int64_t hi) {
  KeySet s;
  if (hi > lo)
    s.runs.push_back(Run{lo, hi});
  return s;
}

KeySet KeySet::ofRuns(Span<Run> list) {
  KeySet s;
  s.runs.append(list.begin(), list.end());
  s.normalize(Approx::Over); // exact: runs never approximate
  return s;
}

KeySet KeySet::lattice(int64_t start, int64_t period, int64_t width,
                       int64_t lo, int64_t hi) {
  assert(period > 0 && width > 0 && "bad lattice");
  if (width >= period)
    return run(lo, hi);
  KeySet s;
  s.lattices.push_back(Lattice{floorMod(start, period), period, width, lo, hi});
  s.normalize(Approx::Over);
  return s;
}

bool KeySet::contains(int64_t k) const {
  for (const Run &r : runs)
    if (k >= r.lo && k < r.hi)
      return true;
  for (const Lattice &l : lattices)
    if (l.contains(k))
      return true;
  return false;
}

void KeySet::addRun(int64_t lo, int64_t hi) {
  if (hi <= lo)
    return;
  runs.push_back(Run{lo, hi});
  normalize(Approx::Over); // exact: runs never approximate
}

void KeySet::normalize(Approx dir) {
  // Runs: sort and merge.
  runs.erase(std::remove_if(runs.begin(), runs.end(),
                            [](const Run &r) { return r.empty(); }),
             runs.end());
  auto byLo = [](const Run &a, const Run &b) { return a.lo < b.lo; };
  if (!std::is_sorted(runs.begin(), runs.end(), byLo))
    std::sort(runs.begin(), runs.end(), byLo);
  SmallVec<Run, 4> merged;
  for (const Run &r : runs) {
    if (!merged.empty() && r.lo <= merged.back().hi)
      merged.back().hi = std::max(merged.back().hi, r.hi);
    else
      merged.push_back(r);
  }
  runs = std::move(merged);

  // Lattices: tighten ranges to members, subtract runs, drop empties.
  SmallVec<Lattice, 2> pieces;
  SmallVec<Run, 2> degenerate;
  for (Lattice l : lattices) {
    if (l.width >= l.period) {
      degenerate.push_back(Run{l.lo, l.hi});
      continue;
    }
    for (const Run &r : this->runs) {
      if (r.hi <= l.lo || r.lo >= l.hi)
        continue;
      if (r.lo > l.lo) {
        Lattice before = l;
        before.hi = r.lo;
        if (!before.empty())
          pieces.push_back(before);
      }
      l.lo = std::max(l.lo, r.hi);
      if (l.lo >= l.hi)
        break;
    }
    if (!l.empty())
      pieces.push_back(l);
  }
  if (!degenerate.empty()) {
    // A lattice of full width is a run: start over with the new runs.
    runs.append(degenerate.begin(), degenerate.end());
    lattices = std::move(pieces);
    normalize(dir);
    return;
  }

  // Merge lattices of identical residues with touching ranges.
  std::sort(pieces.begin(), pieces.end(), [](const Lattice &a, const Lattice &b) {
    return std::tie(a.period, a.start, a.width, a.lo) <
           std::tie(b.period, b.start, b.width, b.lo);
  });
  SmallVec<Lattice, 2> unique;
  for (const Lattice &l : pieces) {
    if (!unique.empty() && unique.back().sameResidues(l) &&
        l.lo <= unique.back().hi)
      unique.back().hi = std::max(unique.back().hi, l.hi);
    else
      unique.push_back(l);
  }

  // Keep lattices pairwise disjoint. A clash between lattices of one period
  // is resolved exactly by subtracting the earlier lattice from the later
  // one; other clashes approximate. Over: replace the pair by its hull run.
  // Under: drop the later lattice.
  SmallVec<Lattice, 2> disjoint;
  SmallVec<Lattice, 4> work;
  for (size_t i = unique.size(); i-- > 0;)
    work.push_back(unique[i]);
  bool addedRun = false;
  while (!work.empty()) {
    Lattice l = work.back();
    work.pop_back();
    auto clash =
        std::find_if(disjoint.begin(), disjoint.end(),
                     [&](const Lattice &o) { return mayOverlap(o, l); });
    if (clash == disjoint.end()) {
      disjoint.push_back(l);
      continue;
    }
    if (clash->period == l.period) {
      const Lattice o = *clash;
      Lattice before = l, after = l, inside = l;
      before.hi = std::min(l.hi, o.lo);
      after.lo = std::max(l.lo, o.hi);
      inside.lo = std::max(l.lo, o.lo);
      inside.hi = std::min(l.hi, o.hi);
      Lattice outsideO{floorMod(o.start + o.width, o.period), o.period,
                       o.period - o.width, inside.lo, inside.hi};
      for (const Lattice &piece : {before, after})
        if (!piece.empty())
          work.push_back(piece);
      for (const Lattice &piece : intersectSamePeriod(inside, outsideO))
        if (!piece.empty())
          work.push_back(piece);
      continue;
    }
    if (dir == Approx::Over) {
      runs.push_back(Run{std::min(clash->lo, l.lo), std::max(clash->hi, l.hi)});
      disjoint.erase(clash);
      addedRun = true;
    }
  }
  lattices = std::move(disjoint);
  if (addedRun)
    normalize(dir);
}

KeySet KeySet::unite(const KeySet &o, Approx dir) const {
  KeySet s = *this;
  s.runs.append(o.runs.begin(), o.runs.end());
  // Both halves are sorted: merging keeps normalize linear for sets of
  // many runs (column masks hold one run per kept column).
  std::inplace_merge(s.runs.begin(), s.runs.begin() + runs.size(), s.runs.end(),
                     [](const Run &a, const Run &b) { return a.lo < b.lo; });
  s.lattices.append(o.lattices.begin(), o.lattices.end());
  s.normalize(dir);
  return s;
}

KeySet KeySet::clip(int64_t lo, int64_t hi) const {
  KeySet s;
  for (const Run &r : runs)
    if (std::max(r.lo, lo) < std::min(r.hi, hi))
      s.runs.push_back(Run{std::max(r.lo, lo), std::min(r.hi, hi)});
  for (Lattice l : lattices) {
    l.lo = std::max(l.lo, lo);
    l.hi = std::min(l.hi, hi);
    if (!l.empty())
      s.lattices.push_back(l);
  }
  return s; // clipping preserves sortedness and disjointness
}

KeySet KeySet::intersect(const KeySet &o, Approx dir) const {
  KeySet s;
  // Runs with runs: two pointers.
  for (size_t i = 0, j = 0; i < runs.size() && j < o.runs.size();) {
    int64_t lo = std::max(runs[i].lo, o.runs[j].lo);
    int64_t hi = std::min(runs[i].hi, o.runs[j].hi);
    if (lo < hi)
      s.runs.push_back(Run{lo, hi});
    (runs[i].hi < o.runs[j].hi) ? ++i : ++j;
  }
  // Lattices with the other side's runs.
  auto latticeWithRuns = [&](Span<Lattice> lats, Span<Run> rs) {
    for (const Lattice &l : lats) {
      size_t pieces = 0;
      for (const Run &r : rs)
        pieces += (std::max(r.lo, l.lo) < std::min(r.hi, l.hi));
      if (pieces > kMaxPieces) {
        if (dir == Approx::Over)
          s.lattices.push_back(Lattice{l.start, l.period, l.width,
                                       std::max(l.lo, rs.front().lo),
                                       std::min(l.hi, rs.back().hi)});
        continue;
      }
      for (const Run &r : rs) {
        Lattice c = l;
        c.lo = std::max(l.lo, r.lo);
        c.hi = std::min(l.hi, r.hi);
        if (!c.empty())
          s.lattices.push_back(c);
      }
    }
  };
  latticeWithRuns(getLattices(), o.getRuns());
  latticeWithRuns(o.getLattices(), getRuns());
  // Lattices with lattices.
  for (const Lattice &a : lattices) {
    for (const Lattice &b : o.lattices) {
      if (a.period == b.period) {
        for (const Lattice &c : intersectSamePeriod(a, b))
          s.lattices.push_back(c);
        continue;
      }
      if (dir == Approx::Under)
        continue;
      // Keep the sparser one, restricted to the common range.
      const Lattice &sparse =
          a.width * b.period <= b.width * a.period ? a : b;
      Lattice c = sparse;
      c.lo = std::max(a.lo, b.lo);
      c.hi = std::min(a.hi, b.hi);
      if (!c.empty())
        s.lattices.push_back(c);
    }
  }
  s.normalize(dir);
  return s;
}

KeySet KeySet::complement(int64_t lk, Approx dir) const {
  KeySet result;
  int64_t pos = 0;
  for (const Run &r : runs) {
    if (r.lo > pos)
      result.runs.push_back(Run{pos, std::min(r.lo, lk)});
    pos = std::max(pos, r.hi);
  }
  if (pos < lk)
    result.runs.push_back(Run{pos, lk});
  result.normalize(dir);
  for (const Lattice &l : lattices) {
    KeySet notL = KeySet::run(0, l.lo).unite(KeySet::run(l.hi, lk), dir);
    notL = notL.unite(KeySet::lattice(l.start + l.width, l.period,
                                      l.period - l.width, l.lo, l.hi),
                      dir);
    result = result.intersect(notL, dir);
  }
  return result;
}
