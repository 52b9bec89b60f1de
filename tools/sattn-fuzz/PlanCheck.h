//===- PlanCheck.h - brute-force checks shared by the fuzz targets -*- C++ -*-===//
//
// The properties a tile plan must have, decided pair by pair against a
// reference keep(b, h, q, k) at the small lengths a fuzzer can afford:
//   * every key a segment visits lies in [0, Lk) and no key is visited
//     twice by one query tile;
//   * no kept pair is skipped (a silently dropped pair is the worst bug a
//     mask compiler can have);
//   * a FULL segment holds only kept pairs (no mask code runs there);
//   * the flat buffers kernels read say exactly what the plan says.
// Plus the random runtime inputs (shapes and table contents) both targets
// plan for. Plain C++17 over the core headers, so that the runtime target
// stays free of MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TOOLS_FUZZ_PLANCHECK_H
#define SATTN_TOOLS_FUZZ_PLANCHECK_H

#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/Core/Planner.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace sattn::fuzz {

/// Reports a violated property and aborts, which libFuzzer records as a
/// crash together with the input.
[[noreturn]] inline void fail(const char *property, const std::string &detail) {
  std::fprintf(stderr, "sattn fuzz: property violated: %s\n%s\n", property,
               detail.c_str());
  std::abort();
}

/// FNV-1a of the input: seeds the choice of shapes and table contents, so
/// that a reproducer replays exactly.
inline uint64_t hashBytes(const uint8_t *data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

/// Lengths, batch and tile sizes for one planning round.
struct PlanShape {
  int64_t lq = 1, lk = 1, batch = 1, blockM = 16, blockN = 16;
};

inline PlanShape pickShape(std::mt19937_64 &rng, int64_t maxLength) {
  static const int64_t kTiles[] = {4, 8, 16, 32};
  PlanShape s;
  s.lk = 1 + int64_t(rng() % uint64_t(maxLength));
  s.lq = rng() % 3 == 0 ? s.lk : 1 + int64_t(rng() % uint64_t(s.lk));
  s.batch = 1 + int64_t(rng() % 2);
  s.blockM = kTiles[rng() % 4];
  s.blockN = kTiles[rng() % 4];
  return s;
}

/// Random contents for every table the program reads, or false when they
/// would exceed `maxElements` (the caller then skips this round). Values
/// are mostly small (positions, document ids, flags) and now and then the
/// extremes of the element type, so that overflow paths are reached.
inline bool randomTables(const MaskProgram &program, MaskInputs &in,
                         std::mt19937_64 &rng, int64_t maxElements) {
  int64_t total = 0;
  for (const TableRef &ref : program.tables) {
    TableData data;
    int64_t n = 1;
    for (const TableDim &dim : ref.dims) {
      int64_t e = dim.extentFor(program.heads, in.batch, in.lk);
      if (e < 0 || e > maxElements)
        return false;
      data.shape.push_back(e);
      n *= e;
      if (n > maxElements)
        return false;
    }
    total += n;
    if (total > maxElements)
      return false;
    unsigned width = ref.isBool ? 1 : std::min(64u, std::max(1u, ref.elementWidth));
    int64_t lo = width >= 64 ? std::numeric_limits<int64_t>::min()
                             : -(int64_t(1) << (width - 1));
    int64_t hi = width >= 64 ? std::numeric_limits<int64_t>::max()
                             : (int64_t(1) << (width - 1)) - 1;
    int64_t spread = std::max<int64_t>(in.lk, 4) + 3;
    data.values.resize(n);
    for (int64_t &v : data.values) {
      if (ref.isBool) {
        v = rng() % 3 == 0;
        continue;
      }
      uint64_t r = rng() % 64;
      v = r == 0 ? lo : r == 1 ? hi : int64_t(rng() % uint64_t(spread)) - 2;
      v = std::clamp(v, lo, hi);
    }
    in.tables[ref.name] = std::move(data);
  }
  return true;
}

using KeepFn = std::function<bool(int64_t b, int64_t h, int64_t q, int64_t k)>;

inline std::string pairText(int64_t b, int64_t h, int64_t q, int64_t k) {
  std::ostringstream os;
  os << "b=" << b << " h=" << h << " q=" << q << " k=" << k;
  return os.str();
}

/// Checks the plan of heads [0, checkedHeads) against `keep`. Returns a
/// description of the first violation, or "".
inline std::string checkPlan(const plan::TilePlan &plan, const MaskInputs &in,
                             const KeepFn &keep, int64_t checkedHeads) {
  using plan::Segment;
  const int64_t lk = in.lk, bn = plan.blockN;
  std::vector<int> visits(lk);
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < std::min(checkedHeads, plan.heads); ++h)
      for (int64_t m = 0; m < plan.numQueryTiles; ++m) {
        auto [qa, qb] = plan.queryRange(m);
        std::fill(visits.begin(), visits.end(), 0);
        for (const Segment &s : plan.segments(b, h, m)) {
          std::vector<int64_t> keys;
          if (s.kind == Segment::Range) {
            if (s.lo < 0 || s.hi < s.lo || s.hi > (lk + bn - 1) / bn)
              return "range segment [" + std::to_string(s.lo) + ", " +
                     std::to_string(s.hi) + ") outside the key tiles";
            for (int64_t k = s.lo * bn; k < std::min(s.hi * bn, lk); ++k)
              keys.push_back(k);
          } else {
            int64_t n = s.numKeys(bn, lk);
            if (n < 0 || n > lk)
              return "gathered segment of " + std::to_string(n) + " keys";
            for (int64_t j = 0; j < n; ++j)
              keys.push_back(plan.gatheredKey(b, h, s, j));
          }
          for (int64_t k : keys) {
            if (k < 0 || k >= lk)
              return "visited key " + std::to_string(k) + " outside [0, Lk)";
            if (++visits[k] > 1)
              return "key visited twice: " + pairText(b, h, qa, k);
            if (s.full)
              for (int64_t q = qa; q <= qb; ++q)
                if (!keep(b, h, q, k))
                  return "FULL segment holds a dropped pair: " +
                         pairText(b, h, q, k);
          }
        }
        for (int64_t k = 0; k < lk; ++k)
          if (!visits[k])
            for (int64_t q = qa; q <= qb; ++q)
              if (keep(b, h, q, k))
                return "kept pair skipped: " + pairText(b, h, q, k);
      }
  return "";
}

/// A plan built without gathers (PlanOptions::gathers = false, the form of
/// the sm_90a kernels' plans) holds Range segments only. Returns a
/// description of the first other segment, or "".
inline std::string checkRangeOnly(const plan::TilePlan &plan) {
  for (int64_t b = 0; b < plan.batch; ++b)
    for (int64_t h = 0; h < plan.heads; ++h)
      for (int64_t m = 0; m < plan.numQueryTiles; ++m)
        for (const plan::Segment &s : plan.segments(b, h, m))
          if (s.kind != plan::Segment::Range)
            return "a plan without gathers has a " +
                   std::string(s.kind == plan::Segment::List ? "List" : "Gather") +
                   " segment: b=" + std::to_string(b) + " h=" + std::to_string(h) +
                   " query tile " + std::to_string(m);
  return "";
}

/// Checks that the flat buffers (what kernels read) encode the plan.
inline std::string checkFlatPlan(const plan::TilePlan &plan) {
  plan::FlatPlan flat = plan.flatten();
  const int64_t fields = plan::FlatPlan::kSegmentFields;
  const int64_t tiles = plan.numQueryTiles;
  if (flat.numQueryTiles != tiles || flat.numClasses != plan.numClasses() ||
      int64_t(flat.classIndex.size()) != plan.batch * plan.heads ||
      int64_t(flat.offsets.size()) != flat.numClasses * (tiles + 1) ||
      int64_t(flat.segments.size()) % fields != 0)
    return "flat plan dimensions disagree with the plan";
  for (int64_t b = 0; b < plan.batch; ++b)
    for (int64_t h = 0; h < plan.heads; ++h) {
      int64_t c = flat.classIndex[b * plan.heads + h];
      if (c != plan.classOf(b, h))
        return "flat class index differs at " + pairText(b, h, 0, 0);
      for (int64_t m = 0; m < tiles; ++m) {
        auto segments = plan.segments(b, h, m);
        int64_t row = flat.offsets[c * (tiles + 1) + m];
        int64_t end = flat.offsets[c * (tiles + 1) + m + 1];
        if (end - row != int64_t(segments.size()) ||
            end * fields > int64_t(flat.segments.size()))
          return "flat offsets differ for query tile " + std::to_string(m);
        for (const plan::Segment &s : segments) {
          const int64_t *f = flat.segments.data() + row++ * fields;
          if (f[0] != s.kind || f[1] != s.full ||
              (s.kind != plan::Segment::List && (f[2] != s.lo || f[3] != s.hi)) ||
              f[4] != s.start || f[5] != s.period || f[6] != s.width)
            return "flat segment differs for query tile " + std::to_string(m);
          if (s.kind == plan::Segment::List) {
            int64_t n = s.hi - s.lo;
            if (f[3] - f[2] != n || f[2] < 0 ||
                f[3] > int64_t(flat.segments.size()))
              return "flat key list bounds differ";
            for (int64_t j = 0; j < n; ++j)
              if (flat.segments[f[2] + j] != plan.gatheredKey(b, h, s, j))
                return "flat key list differs";
          }
        }
      }
    }
  return "";
}

} // namespace sattn::fuzz

#endif // SATTN_TOOLS_FUZZ_PLANCHECK_H
