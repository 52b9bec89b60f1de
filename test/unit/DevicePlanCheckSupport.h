//===- DevicePlanCheckSupport.h - device plans checked pair by pair -*- C++ -*-===//
//
// The brute-force check of device plans that are no longer the host
// planner's Range-only plans (column lists, lattice gathers), shared by
// DevicePlanListsTest.cpp and DevicePlanGathersTest.cpp. Why by brute
// force: such plans differ from the host's in their segments, so they are
// checked against the reference evaluator pair by pair: per (batch, head,
// query tile) no key is visited twice, every kept pair's key is visited,
// a FULL segment (a Range, a Gather or a List) holds kept pairs only; and
// attention run on them by the CPU kernel matches dense masked attention
// in fp64.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_DEVICEPLANCHECKSUPPORT_H
#define SATTN_TEST_UNIT_DEVICEPLANCHECKSUPPORT_H

#include "CpuAttentionTestSupport.h"
#include "TilePlanTestSupport.h"

#include <gtest/gtest.h>

#include <random>

namespace sattn::device_plan_check {

using namespace sattn::plan;
using namespace sattn::cpu_attention_test;

/// What the checked plans hold. `visits` counts BN-key tiles a kernel
/// runs: whole Range tiles, gathered and listed keys BN at a time.
struct PlanTally {
  int64_t queryTiles = 0, withList = 0, fullLists = 0, listedKeys = 0, rangeTiles = 0,
          fullTiles = 0, gathers = 0, fullGathers = 0, gatheredKeys = 0, visits = 0;
};

/// The segments of (b, h, m) in a flat plan.
inline std::vector<Segment> flatSegmentsOf(const FlatPlan &p, int64_t heads, int64_t b,
                                           int64_t h, int64_t m) {
  int64_t c = p.classIndex[b * heads + h];
  int64_t first = p.offsets[c * (p.numQueryTiles + 1) + m];
  int64_t last = p.offsets[c * (p.numQueryTiles + 1) + m + 1];
  std::vector<Segment> out;
  for (int64_t s = first; s < last; ++s) {
    const int64_t *f = &p.segments[s * FlatPlan::kSegmentFields];
    out.push_back(Segment{Segment::Kind(f[0]), f[1] != 0, f[2], f[3], f[4], f[5], f[6]});
  }
  return out;
}

/// Tile visits of (b, h, m) in a host plan: whole Range tiles, gathered
/// and listed keys BN at a time.
inline int64_t hostVisits(const TilePlan &plan, int64_t b, int64_t h, int64_t m, int64_t bn,
                          int64_t lk) {
  int64_t n = 0;
  for (const Segment &s : plan.segments(b, h, m))
    n += s.numTiles(bn, lk);
  return n;
}

/// Device plan visits of (b, h, m), as checkCoverage counts them.
inline int64_t deviceVisits(const FlatPlan &p, int64_t heads, int64_t b, int64_t h, int64_t m,
                            int64_t bn, int64_t lk) {
  int64_t n = 0;
  for (const Segment &s : flatSegmentsOf(p, heads, b, h, m))
    n += s.kind == Segment::List ? (s.hi - s.lo + bn - 1) / bn : s.numTiles(bn, lk);
  return n;
}

/// Checks the device plan `p` of `in` pair by pair (see the file comment).
inline void checkCoverage(const FlatPlan &p, const CompiledMask &eval, const MaskInputs &in,
                          int64_t heads, int64_t bm, int64_t bn, PlanTally &tally) {
  int64_t shift = in.lk - in.lq;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t m = 0; m < p.numQueryTiles; ++m) {
        SCOPED_TRACE("b=" + std::to_string(b) + " h=" + std::to_string(h) +
                     " m=" + std::to_string(m));
        int64_t c = p.classIndex[b * heads + h];
        ASSERT_TRUE(0 <= c && c < p.numClasses);
        ASSERT_LE(p.offsets[c * (p.numQueryTiles + 1) + m],
                  p.offsets[c * (p.numQueryTiles + 1) + m + 1]);
        std::vector<int> visits(in.lk, 0);
        std::vector<bool> full(in.lk, false);
        bool listed = false;
        for (const Segment &s : flatSegmentsOf(p, heads, b, h, m)) {
          std::vector<int64_t> keys;
          if (s.kind == Segment::Range) {
            ASSERT_TRUE(0 <= s.lo && s.lo < s.hi) << "range [" << s.lo << ", " << s.hi << ")";
            tally.rangeTiles += s.hi - s.lo;
            tally.fullTiles += s.full ? s.hi - s.lo : 0;
            tally.visits += s.hi - s.lo;
            for (int64_t k = s.lo * bn; k < std::min(s.hi * bn, in.lk); ++k)
              keys.push_back(k);
          } else if (s.kind == Segment::Gather) {
            ASSERT_TRUE(0 <= s.lo && s.lo < s.hi && s.hi <= in.lk)
                << "gather [" << s.lo << ", " << s.hi << ")";
            ASSERT_TRUE(s.period > 0 && 0 < s.width && s.width <= s.period)
                << "lattice period " << s.period << " width " << s.width;
            int64_t n = s.numKeys(bn, in.lk);
            ASSERT_GT(n, 0) << "empty gather";
            for (int64_t j = 0; j < n; ++j) {
              keys.push_back(s.gatheredKey(j));
              ASSERT_TRUE(s.lo <= keys.back() && keys.back() < s.hi) << "key " << keys.back();
              if (j > 0)
                ASSERT_LT(keys[j - 1], keys.back()) << "gathered keys ascend";
            }
            ++tally.gathers;
            tally.fullGathers += s.full;
            tally.gatheredKeys += n;
            tally.visits += s.numTiles(bn, in.lk);
          } else {
            ASSERT_EQ(s.kind, Segment::List);
            tally.fullLists += s.full;
            ASSERT_TRUE(s.lo <= s.hi && s.hi <= int64_t(p.segments.size()));
            ASSERT_FALSE(listed) << "one list per query tile";
            listed = true;
            for (int64_t j = s.lo; j < s.hi; ++j) {
              keys.push_back(p.segments[j]);
              ASSERT_TRUE(0 <= keys.back() && keys.back() < in.lk) << "key " << keys.back();
              if (j > s.lo)
                ASSERT_LT(p.segments[j - 1], keys.back()) << "list keys ascend";
            }
            tally.listedKeys += s.hi - s.lo;
            tally.visits += (s.hi - s.lo + bn - 1) / bn;
          }
          for (int64_t k : keys) {
            ++visits[k];
            full[k] = s.full;
          }
        }
        ++tally.queryTiles;
        tally.withList += listed;
        for (int64_t k = 0; k < in.lk; ++k) {
          ASSERT_LE(visits[k], 1) << "key " << k << " visited twice";
          for (int64_t i = m * bm; i < std::min((m + 1) * bm, in.lq); ++i) {
            bool keep = eval.keep(in, b, h, i + shift, k);
            if (keep)
              ASSERT_EQ(visits[k], 1) << "kept pair (" << i << ", " << k << ") not visited";
            if (full[k])
              ASSERT_TRUE(keep) << "FULL segment holds dropped pair (" << i << ", " << k << ")";
          }
        }
      }
}

/// Runs the kernel on plan `p` and compares with dense fp64 attention.
inline void checkAttention(const CpuAttention &cpu, KernelOp kernel, const CompiledMask &eval,
                           const MaskInputs &in, const FlatPlan &p, std::mt19937 &rng) {
  Shape shape = shapeOf(kernel, in.batch, in.lq, in.lk);
  AttentionTensors t(shape, /*padded=*/false, rng);
  std::string error;
  ASSERT_TRUE(mlir::succeeded(cpu.run(kernel.getSymName(), t.args(), p, in, error))) << error;
  std::vector<double> refO, refLse;
  referenceAttention(eval, in, shape, t.q, t.k, t.v, refO, refLse);
  double err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < int64_t(refO.size()); ++i) {
    double got = t.o.storage[i];
    ASSERT_FALSE(std::isnan(got));
    err2 += (got - refO[i]) * (got - refO[i]);
    ref2 += refO[i] * refO[i];
  }
  EXPECT_LT(std::sqrt(err2 / std::max(ref2, 1e-30)), 1e-5);
}

} // namespace sattn::device_plan_check

#endif // SATTN_TEST_UNIT_DEVICEPLANCHECKSUPPORT_H
