//===- AxisPredicate.cpp - exact key sets of predicates of one axis -------===//
//
// A predicate that reads the positions along one axis only (directly or as
// the indices of table lookups) keeps a set of points on that axis, which
// depends on Lk and the tables alone and is computed once per plan:
//   * the offset d = q - k: for query q it keeps the keys q - d, a union of
//     diagonal bands (point sets such as `q - k == c` terms, periodic bands
//     such as `(q - k) % 128 < 16`, ranges);
//   * the key k: a set of columns, the same for every query;
//   * the query q: a set of rows, each keeping every key.
// For a block of query rows [qa, qb] a run of offsets [d0, d1] keeps keys
// [qa - d1, qb - d0] for some row and [qb - d1, qa - d0] for every row,
// exactly, with no pair-by-pair classification of the tiles it crosses.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include "sattn/Core/MaskEval.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::plan;

namespace {
constexpr uint32_t kRegQ = 2, kRegK = 3;

/// What a register holds, as far as the shape test is concerned: nothing
/// positional, one axis, or something else (b, h, a table, two axes).
enum class Source : uint8_t { Constant, Offset, Key, Query, Other };

Source combine(Source a, Source b) {
  if (a == Source::Constant)
    return b;
  if (b == Source::Constant || a == b)
    return a;
  return Source::Other;
}

/// The registers instruction `inst` reads (unread operand fields are 0).
int readOperands(const Instruction &inst, uint32_t out[3]) {
  switch (inst.opcode) {
  case Opcode::Constant:
  case Opcode::Lookup:
    return 0;
  case Opcode::SignExtend:
  case Opcode::Truncate:
  case Opcode::AbsI:
    out[0] = inst.a;
    return 1;
  case Opcode::Select:
    out[0] = inst.a;
    out[1] = inst.b;
    out[2] = inst.c;
    return 3;
  default:
    out[0] = inst.a;
    out[1] = inst.b;
    return 2;
  }
}

/// Positions (q, k) of a single point on `axis`.
std::pair<int64_t, int64_t> pointPositions(AxisPredicate::Axis axis, int64_t x) {
  switch (axis) {
  case AxisPredicate::Axis::Offset:
    return {std::max<int64_t>(x, 0), std::max<int64_t>(-x, 0)};
  case AxisPredicate::Axis::Key:
    return {0, x};
  case AxisPredicate::Axis::Query:
    break;
  }
  return {x, 0};
}

/// Binary search: true when some run holds a point of [lo, hi].
bool anyIn(const std::vector<Run> &runs, int64_t lo, int64_t hi) {
  auto it = std::upper_bound(runs.begin(), runs.end(), lo,
                             [](int64_t v, const Run &r) { return v < r.hi; });
  return it != runs.end() && it->lo <= hi;
}
/// True when one run holds all of [lo, hi].
bool allIn(const std::vector<Run> &runs, int64_t lo, int64_t hi) {
  auto it = std::upper_bound(runs.begin(), runs.end(), lo,
                             [](int64_t v, const Run &r) { return v < r.hi; });
  return it != runs.end() && it->lo <= lo && hi < it->hi;
}
} // namespace

std::optional<AxisPredicate::Axis>
AxisPredicate::match(const MaskProgram &program, const Node &node) {
  std::vector<Source> sources = {Source::Other, Source::Other, Source::Query,
                                 Source::Key};
  for (uint32_t j = 0; j < node.count; ++j) {
    const Instruction &inst = program.program[node.first + j];
    Source result = Source::Constant;
    if (inst.opcode == Opcode::Sub && inst.width == 64 &&
        ((inst.a == kRegQ && inst.b == kRegK) ||
         (inst.a == kRegK && inst.b == kRegQ))) {
      result = Source::Offset;
    } else if (inst.opcode == Opcode::Lookup) {
      // A table read at positions of one axis (`global[q]`, `col[k]`,
      // `diag[q - k]`) is a function of that axis: its points are found by
      // the same bisection, reading the table where the interval program
      // does.
      for (uint32_t i = inst.a; i < inst.a + inst.b; ++i)
        result = combine(result, sources[program.lookupArgs[i]]);
    } else {
      uint32_t operands[3];
      int n = readOperands(inst, operands);
      for (int i = 0; i < n; ++i)
        result = combine(result, sources[operands[i]]);
    }
    sources.push_back(result);
  }
  switch (sources[node.param[1]]) {
  case Source::Offset:
    return Axis::Offset;
  case Source::Key:
    return Axis::Key;
  case Source::Query:
    return Axis::Query;
  default:
    return std::nullopt;
  }
}

std::vector<Run> AxisPredicate::points(const MaskProgram &program, uint32_t id,
                                       Axis axis,
                                       const PredicateIntervals &intervals,
                                       const MaskInputs &inputs) {
  std::vector<Run> kept;
  const int64_t lk = inputs.lk;
  if (lk <= 0)
    return kept;
  // Points [x0, x1] as position ranges the interval program can take.
  auto classify = [&](int64_t x0, int64_t x1) {
    switch (axis) {
    case Axis::Offset:
      if (x0 >= 0) // q in [x0, x1], k = 0
        return intervals.evaluate(inputs, 0, 0, x0, x1, 0, 0);
      return intervals.evaluate(inputs, 0, 0, 0, 0, -x1, -x0);
    case Axis::Key:
      return intervals.evaluate(inputs, 0, 0, 0, 0, x0, x1);
    case Axis::Query:
      break;
    }
    return intervals.evaluate(inputs, 0, 0, x0, x1, 0, 0);
  };
  auto add = [&](int64_t lo, int64_t hi) {
    if (!kept.empty() && kept.back().hi == lo)
      kept.back().hi = hi;
    else
      kept.push_back(Run{lo, hi});
  };
  // Depth-first, lowest points first, so that runs come out sorted. Offsets
  // straddling 0 are split there (the position ranges above need it).
  std::vector<std::pair<int64_t, int64_t>> work = {{0, lk - 1}};
  if (axis == Axis::Offset)
    work = {{1, lk - 1}, {-(lk - 1), 0}};
  while (!work.empty()) {
    auto [x0, x1] = work.back();
    work.pop_back();
    if (x0 == x1) {
      auto [q, k] = pointPositions(axis, x0);
      if (evalMaskNode(program, id, inputs, 0, 0, q, k))
        add(x0, x0 + 1);
      continue;
    }
    PredicateIntervals::Interval r = classify(x0, x1);
    if (r.lo == 1) {
      add(x0, x1 + 1);
      continue;
    }
    if (r.hi == 0)
      continue;
    int64_t mid = x0 + (x1 - x0) / 2;
    work.push_back({mid + 1, x1});
    work.push_back({x0, mid});
  }
  return kept;
}

void AxisPredicate::sets(Axis axis, const std::vector<Run> &points, int64_t lk,
                         int64_t qa, int64_t qb, KeySet &may, KeySet &must) {
  if (axis == Axis::Query) {
    may = anyIn(points, qa, qb) ? KeySet::run(0, lk) : KeySet();
    must = allIn(points, qa, qb) ? KeySet::run(0, lk) : KeySet();
    return;
  }
  if (axis == Axis::Key) { // the points are keys in [0, Lk) already
    may = must = KeySet::ofRuns({points.data(), points.size()});
    return;
  }
  std::vector<Run> mayRuns, mustRuns;
  for (const Run &band : points) {
    int64_t d0 = band.lo, d1 = band.hi - 1;
    Run some{std::max<int64_t>(qa - d1, 0), std::min(qb - d0 + 1, lk)};
    if (!some.empty())
      mayRuns.push_back(some);
    Run every{std::max<int64_t>(qb - d1, 0), std::min(qa - d0 + 1, lk)};
    if (!every.empty())
      mustRuns.push_back(every);
  }
  may = KeySet::ofRuns({mayRuns.data(), mayRuns.size()});
  must = KeySet::ofRuns({mustRuns.data(), mustRuns.size()});
}
