//===- Planner.h - minimal tiled iteration spaces for masks ---*- C++ -*-===//
//
// A tile plan says, for every query tile of BM rows and every (batch, head),
// which KV data the attention kernel visits and where it must apply the
// element mask. Each query tile gets an ordered list of segments:
//   - Range: KV tiles [lo, hi) of BN keys each;
//   - Gather: the keys of a lattice (e.g. every 8th key from offset 3) in
//     [lo, hi), packed into dense tiles of BN keys, so that strided patterns
//     become dense tensor-core work instead of masked full tiles (period 1:
//     a band of consecutive keys at any alignment);
//   - List: an explicit sorted list of keys (scattered columns), packed the
//     same way.
// Every segment is FULL (every pair kept: no mask code) or PARTIAL (apply the
// exact mask). Segments never overlap, so every key is visited at most once.
//
// The planner runs on a MaskProgram: every node with a closed form yields
// may/must key sets over a query range (tier 1), free-form predicates are
// analysed per tile with interval arithmetic (tier 2) and the tiles
// intervals cannot decide are classified exactly (tier 3). Plans are built
// per sequence length in O(visited segments) for named patterns; heads (and
// batches) with identical plans share one. Plain C++17: the compiler (through
// TilePlanner, sattn/Plan/TilePlanner.h) and libsattn_runtime run these same
// sources.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_PLANNER_H
#define SATTN_CORE_PLANNER_H

#include "sattn/Core/KeySet.h"
#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sattn::plan {

struct Segment {
  enum Kind : uint8_t { Range = 0, Gather = 1, List = 2 };
  Kind kind = Range;
  bool full = false;
  /// Range: KV tile indices [lo, hi). Gather: key positions [lo, hi).
  /// List: indices [lo, hi) into the plan class's key pool (TilePlan::Class
  /// ::keys; in a FlatPlan, into the flat segments buffer).
  int64_t lo = 0, hi = 0;
  /// Gather: the keys k in [lo, hi) with (k - start) mod period < width.
  int64_t start = 0, period = 1, width = 1;

  int64_t numKeys(int64_t blockN, int64_t lk) const;
  int64_t numTiles(int64_t blockN, int64_t lk) const;
  /// Key position of the j-th gathered key (0-based), for Gather segments
  /// (List keys live in the plan: TilePlan::gatheredKey).
  int64_t gatheredKey(int64_t j) const;
};

struct PlanOptions {
  int64_t blockM = 128;
  int64_t blockN = 128;
  /// Whether the kernel reads Gather and List segments. Without them every
  /// kept key is visited in a Range segment of whole KV tiles (narrow
  /// lattices and sparse tiles become PARTIAL tiles): the plan form of
  /// kernels that load KV tiles only as whole boxes (the sm_90a kernel).
  bool gathers = true;
};

struct PlanStats {
  int64_t rangeTiles = 0, fullTiles = 0, partialTiles = 0;
  /// Gather and List segments alike.
  int64_t gatherTiles = 0, gatherKeys = 0, segments = 0;
  /// Tiles a dense (mask-oblivious) kernel would visit.
  int64_t denseTiles = 0;
  int64_t visitedTiles() const { return rangeTiles + gatherTiles; }
};

/// The plan as flat int64 buffers, the form kernels read (CPU and GPU):
///   segments:   numSegments x kSegmentFields, one row per segment:
///               [kind, full, lo, hi, start, period, width], then the key
///               pool of List segments (their lo, hi index this buffer),
///               zero-padded to a multiple of kSegmentFields
///   offsets:    numClasses x (numQueryTiles + 1); the segments of query
///               tile m of class c are rows [offsets[c][m], offsets[c][m+1])
///   classIndex: batch x heads; the class of (b, h)
struct FlatPlan {
  static constexpr int64_t kSegmentFields = 7;
  int64_t numQueryTiles = 0, numClasses = 0, numSegments = 0;
  std::vector<int64_t> segments, offsets, classIndex;
};

class TilePlan {
public:
  int64_t blockM = 0, blockN = 0, lq = 0, lk = 0, batch = 0, heads = 0;
  int64_t numQueryTiles = 0;

  /// Segments of query tile `m` for batch b and head h.
  Span<Segment> segments(int64_t b, int64_t h, int64_t m) const;
  /// Key position of the j-th key of a Gather or List segment of (b, h).
  int64_t gatheredKey(int64_t b, int64_t h, const Segment &s, int64_t j) const;
  /// Absolute query positions [qa, qb] of query tile m (qb inclusive).
  std::pair<int64_t, int64_t> queryRange(int64_t m) const;
  int64_t numClasses() const { return classes.size(); }
  int64_t classOf(int64_t b, int64_t h) const { return classIndex[b * heads + h]; }
  PlanStats stats() const;
  /// Bytes held by the plan.
  size_t bytes() const;
  /// The flat buffers kernels read.
  FlatPlan flatten() const;

  struct Class {
    std::vector<int64_t> offsets; // numQueryTiles + 1
    std::vector<Segment> segments;
    std::vector<int64_t> keys; // key pool of the List segments
  };
  std::vector<int32_t> classIndex; // (b * heads + h) -> class
  std::vector<Class> classes;
};

class Planner {
public:
  /// Prepares planning of `program` (verified here) with `options`; fails
  /// with a message for invalid programs or tile sizes.
  static std::optional<Planner> build(MaskProgram program, PlanOptions options,
                                      std::string &error);

  /// Builds the plan for one set of runtime inputs (lengths, batch, tables).
  /// Fails with a message on inconsistent inputs.
  std::optional<TilePlan> plan(const MaskInputs &inputs,
                               std::string &error) const;

  /// The may/must key sets of the mask for query positions [qa, qb] of
  /// batch b, head h (exposed for tests and tools).
  void keySets(const MaskInputs &inputs, int64_t b, int64_t h, int64_t qa,
               int64_t qb, KeySet &may, KeySet &must) const;

  const PlanOptions &options() const;
  const MaskProgram &program() const;

  Planner(Planner &&);
  Planner &operator=(Planner &&);
  ~Planner();

  struct Impl;

private:
  explicit Planner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace sattn::plan

#endif // SATTN_CORE_PLANNER_H
