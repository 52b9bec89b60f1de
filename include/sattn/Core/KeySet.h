//===- KeySet.h - sets of key positions for tile planning -----*- C++ -*-===//
//
// Tile planning reasons about which keys a block of query rows may keep
// ("may", an over-approximation) and which keys every row of the block
// keeps ("must", an under-approximation). A KeySet is a union of sorted
// disjoint runs [lo, hi) and lattices (periodic sets such as "every 8th key
// from offset 3"), which is exactly the structure named patterns produce:
// bands become runs, strided patterns become lattices. Operations take the
// approximation direction so that results stay sound when an exact answer
// would not be representable.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_KEYSET_H
#define SATTN_CORE_KEYSET_H

#include "sattn/Core/SmallVec.h"
#include "sattn/Core/Span.h"

#include <cstdint>
#include <vector>

namespace sattn::plan {

using sattn::SmallVec;
using sattn::Span;

/// Direction in which an operation may approximate a set it cannot
/// represent exactly: Over for "may" sets, Under for "must" sets.
enum class Approx { Over, Under };

/// Keys k in [lo, hi).
struct Run {
  int64_t lo, hi;
  bool empty() const { return hi <= lo; }
  bool operator==(const Run &o) const { return lo == o.lo && hi == o.hi; }
};

/// Keys k in [lo, hi) with (k - start) floormod period < width, where
/// 0 < width < period. `start` is kept reduced into [0, period).
struct Lattice {
  int64_t start, period, width, lo, hi;
  bool empty() const;
  bool contains(int64_t k) const;
  /// Number of member keys (exact, O(1)).
  int64_t count() const;
  bool sameResidues(const Lattice &o) const {
    return period == o.period && start == o.start && width == o.width;
  }
};

int64_t floorDiv(int64_t a, int64_t b);
int64_t floorMod(int64_t a, int64_t b);
int64_t ceilDiv(int64_t a, int64_t b);

class KeySet {
public:
  KeySet() = default;
  static KeySet none() { return KeySet(); }
  static KeySet run(int64_t lo, int64_t hi);
  /// The union of `runs` (any order, may overlap), sorted once: building a
  /// set of n runs by n addRun calls would cost O(n^2 log n).
  static KeySet ofRuns(Span<Run> runs);
  static KeySet lattice(int64_t start, int64_t period, int64_t width,
                        int64_t lo, int64_t hi);

  bool empty() const { return runs.empty() && lattices.empty(); }
  bool contains(int64_t k) const;

  /// Sorted, disjoint, non-adjacent runs.
  Span<Run> getRuns() const { return {runs.data(), runs.size()}; }
  /// Lattices; they never overlap the runs (normalisation subtracts runs).
  Span<Lattice> getLattices() const { return {lattices.data(), lattices.size()}; }

  KeySet unite(const KeySet &o, Approx dir) const;
  KeySet intersect(const KeySet &o, Approx dir) const;
  /// Complement within [0, lk).
  KeySet complement(int64_t lk, Approx dir) const;
  /// Intersection with one run (exact).
  KeySet clip(int64_t lo, int64_t hi) const;
  /// Adds a run (exact).
  void addRun(int64_t lo, int64_t hi);

private:
  void normalize(Approx dir);
  SmallVec<Run, 4> runs;
  SmallVec<Lattice, 2> lattices;
};

} // namespace sattn::plan

#endif // SATTN_CORE_KEYSET_H
