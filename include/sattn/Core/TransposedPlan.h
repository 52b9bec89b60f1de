//===- TransposedPlan.h - the tile plan seen from the KV side ---*- C++ -*-===//
//
// The backward pass of attention accumulates dK and dV per KV tile, so it
// walks the forward plan the other way round: for each KV tile, the query
// tiles whose Range segments visit it, FULL or PARTIAL as in the forward
// plan. Keys the forward plan gathers (Gather and List segments) are not
// tiles of the key axis: each such segment is listed as a scattered group
// of its query tile, whose dK and dV rows the backward scatters back to
// their key positions. The transpose is built from the plan's classes in
// O(segments + visited tiles) by a counting sort, with no mask evaluation,
// so it is exactly the forward plan's set of visits.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_TRANSPOSEDPLAN_H
#define SATTN_CORE_TRANSPOSEDPLAN_H

#include "sattn/Core/Planner.h"

#include <cstdint>
#include <vector>

namespace sattn::plan {

struct TransposedPlan {
  int64_t blockM = 0, blockN = 0, lq = 0, lk = 0;
  int64_t numQueryTiles = 0, numKvTiles = 0;

  /// A query tile visiting a KV tile through a Range segment.
  struct Visit {
    int64_t queryTile = 0;
    bool full = false;
    bool operator==(const Visit &o) const {
      return queryTile == o.queryTile && full == o.full;
    }
  };
  /// A Gather or List segment of the forward plan: the `segment`-th
  /// segment of query tile `queryTile` in the class (TilePlan::Class
  /// ::segments index), whose keys the backward scatters.
  struct ScatteredGroup {
    int64_t queryTile = 0, segment = 0;
  };
  /// One per class of the forward plan (same class indices, so the forward
  /// plan's classIndex maps (b, h) to it). The visits of KV tile n are
  /// visits[offsets[n], offsets[n + 1]), in increasing query tile order.
  struct Class {
    std::vector<int64_t> offsets; // numKvTiles + 1
    std::vector<Visit> visits;
    std::vector<ScatteredGroup> groups; // in forward plan order
  };
  std::vector<Class> classes;

  /// The visits of KV tile n in class c.
  Span<Visit> visitsOf(int64_t c, int64_t n) const {
    const Class &cls = classes[c];
    return {cls.visits.data() + cls.offsets[n],
            static_cast<size_t>(cls.offsets[n + 1] - cls.offsets[n])};
  }
};

/// The KV-side view of `plan` (see the file comment).
TransposedPlan transpose(const TilePlan &plan);

} // namespace sattn::plan

#endif // SATTN_CORE_TRANSPOSEDPLAN_H
