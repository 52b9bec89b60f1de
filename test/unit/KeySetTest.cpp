//===- KeySetTest.cpp - brute-force checks of the key-set algebra ---------===//
//
// Random runs and lattices are combined with union, intersection and
// complement; the results are compared key by key with plain bitsets. Exact
// cases must match exactly; approximated ones must stay on the right side
// (Over: superset, Under: subset).
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/KeySet.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace sattn::plan;

namespace {

constexpr int64_t kLen = 96;

std::vector<bool> bits(const KeySet &s) {
  std::vector<bool> b(kLen);
  for (int64_t k = 0; k < kLen; ++k)
    b[k] = s.contains(k);
  return b;
}

KeySet randomSet(std::mt19937 &rng) {
  std::uniform_int_distribution<int64_t> pos(-8, kLen + 8), small(1, 12);
  KeySet s;
  int pieces = rng() % 4;
  for (int i = 0; i < pieces; ++i) {
    int64_t a = pos(rng), b = pos(rng);
    if (rng() % 2) {
      s = s.unite(KeySet::run(std::min(a, b), std::max(a, b)), Approx::Over);
    } else {
      int64_t period = small(rng) + 1;
      int64_t width = 1 + rng() % period;
      s = s.unite(KeySet::lattice(rng() % 20, period, width, std::min(a, b),
                                  std::max(a, b)),
                  Approx::Over);
    }
  }
  return s.clip(0, kLen);
}

/// Invariants every set must satisfy: runs sorted and disjoint, lattices
/// disjoint from runs and from each other.
void expectWellFormed(const KeySet &s) {
  auto runs = s.getRuns();
  for (size_t i = 1; i < runs.size(); ++i)
    EXPECT_LT(runs[i - 1].hi, runs[i].lo);
  std::vector<int> hits(kLen + 40, 0);
  for (const Lattice &l : s.getLattices())
    for (int64_t k = std::max<int64_t>(l.lo, 0); k < std::min<int64_t>(l.hi, kLen); ++k)
      if (l.contains(k)) {
        ++hits[k];
        for (const Run &r : runs)
          EXPECT_FALSE(k >= r.lo && k < r.hi) << "lattice overlaps run at " << k;
      }
  for (int64_t k = 0; k < kLen; ++k)
    EXPECT_LE(hits[k], 1) << "lattices overlap at " << k;
}

TEST(KeySet, LatticeCountMatchesMembers) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    int64_t period = 1 + rng() % 10, width = 1 + rng() % period;
    int64_t lo = (int64_t)(rng() % 60) - 20, hi = lo + rng() % 70;
    Lattice l{(int64_t)(rng() % period), period, width, lo, hi};
    int64_t n = 0;
    for (int64_t k = lo; k < hi; ++k)
      n += l.contains(k);
    ASSERT_EQ(l.count(), n) << "start " << l.start << " period " << period
                            << " width " << width << " [" << lo << "," << hi << ")";
  }
}

TEST(KeySet, AlgebraAgreesWithBitsets) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    KeySet a = randomSet(rng), b = randomSet(rng);
    expectWellFormed(a);
    auto ba = bits(a), bb = bits(b);
    for (Approx dir : {Approx::Over, Approx::Under}) {
      auto u = bits(a.unite(b, dir)), x = bits(a.intersect(b, dir)),
           c = bits(a.complement(kLen, dir));
      for (int64_t k = 0; k < kLen; ++k) {
        bool eu = ba[k] || bb[k], ex = ba[k] && bb[k], ec = !ba[k];
        if (dir == Approx::Over) {
          ASSERT_TRUE(!eu || u[k]) << "union lost key " << k;
          ASSERT_TRUE(!ex || x[k]) << "intersection lost key " << k;
          ASSERT_TRUE(!ec || c[k]) << "complement lost key " << k;
        } else {
          ASSERT_TRUE(eu || !u[k]) << "union invented key " << k;
          ASSERT_TRUE(ex || !x[k]) << "intersection invented key " << k;
          ASSERT_TRUE(ec || !c[k]) << "complement invented key " << k;
        }
      }
      expectWellFormed(a.unite(b, dir));
      expectWellFormed(a.intersect(b, dir));
    }
  }
}

TEST(KeySet, RunsAndMatchingLatticesAreExact) {
  // Same-period lattices and runs never need approximation.
  KeySet a = KeySet::lattice(3, 8, 1, 0, 80).unite(KeySet::run(10, 20), Approx::Under);
  KeySet b = KeySet::lattice(3, 8, 2, 16, 96);
  auto ba = bits(a), bb = bits(b);
  auto x = bits(a.intersect(b, Approx::Under));
  auto u = bits(a.unite(b, Approx::Under));
  auto c = bits(a.complement(kLen, Approx::Under));
  for (int64_t k = 0; k < kLen; ++k) {
    EXPECT_EQ(x[k], ba[k] && bb[k]) << k;
    EXPECT_EQ(u[k], ba[k] || bb[k]) << k;
    EXPECT_EQ(c[k], !ba[k]) << k;
  }
}

} // namespace
