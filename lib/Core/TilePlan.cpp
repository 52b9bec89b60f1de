//===- TilePlan.cpp - segments, plans and their flat form -----------------===//
//
// Accessors of a built plan: key and tile counts of segments, statistics,
// and the flat int64 buffers of docs/KERNEL_ABI.md that kernels read. Kept
// apart from the planning itself (Planner.cpp), which only produces plans.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Planner.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::plan;

//===----------------------------------------------------------------------===//
// Segment and plan accessors
//===----------------------------------------------------------------------===//

int64_t Segment::numKeys(int64_t blockN, int64_t lk) const {
  if (kind == Range)
    return std::max<int64_t>(0, std::min(hi * blockN, lk) - lo * blockN);
  if (kind == List)
    return std::max<int64_t>(0, hi - lo);
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

Span<Segment> TilePlan::segments(int64_t b, int64_t h, int64_t m) const {
  const Class &c = classes[classOf(b, h)];
  return Span<Segment>(c.segments.data() + c.offsets[m],
                       c.offsets[m + 1] - c.offsets[m]);
}

int64_t TilePlan::gatheredKey(int64_t b, int64_t h, const Segment &s,
                              int64_t j) const {
  if (s.kind == Segment::List)
    return classes[classOf(b, h)].keys[s.lo + j];
  return s.gatheredKey(j);
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
          if (seg.kind != Segment::Range) {
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
    n += (c.offsets.size() + c.keys.size()) * sizeof(int64_t) +
         c.segments.size() * sizeof(Segment);
  return n;
}

FlatPlan TilePlan::flatten() const {
  FlatPlan f;
  f.numQueryTiles = numQueryTiles;
  f.numClasses = classes.size();
  f.classIndex.assign(classIndex.begin(), classIndex.end());
  int64_t base = 0;
  for (const Class &c : classes)
    base += c.segments.size();
  f.numSegments = base;
  // Sized once: plans of per-head tables run to megabytes, and growing the
  // buffers cost more (page faults, copies) than filling them.
  int64_t keys = 0;
  for (const Class &c : classes)
    keys += c.keys.size();
  f.segments.reserve(ceilDiv(base * FlatPlan::kSegmentFields + keys,
                             FlatPlan::kSegmentFields) *
                     FlatPlan::kSegmentFields);
  f.offsets.reserve(classes.size() * (numQueryTiles + 1));
  // Key pools follow the segment rows; List bounds become buffer indices.
  int64_t poolAt = base * FlatPlan::kSegmentFields;
  base = 0;
  for (const Class &c : classes) {
    for (int64_t o : c.offsets)
      f.offsets.push_back(base + o);
    for (const Segment &s : c.segments) {
      int64_t shift = s.kind == Segment::List ? poolAt : 0;
      f.segments.insert(f.segments.end(),
                        {int64_t(s.kind), int64_t(s.full), s.lo + shift,
                         s.hi + shift, s.start, s.period, s.width});
    }
    base += c.segments.size();
    poolAt += c.keys.size();
  }
  for (const Class &c : classes)
    f.segments.insert(f.segments.end(), c.keys.begin(), c.keys.end());
  int64_t padded = ceilDiv(int64_t(f.segments.size()), FlatPlan::kSegmentFields) *
                   FlatPlan::kSegmentFields;
  f.segments.resize(padded, 0);
  return f;
}
