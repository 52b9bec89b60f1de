//===- PlannerImpl.h - the mask as the tile planner sees it -----*- C++ -*-===//
//
// Internal to the planner (Planner.cpp). The planner's state: the verified
// MaskProgram, the interval program of each free-form predicate (tier 2,
// PredicateIntervals.cpp; the exact tier 3 evaluates the predicate's node of
// the program), the tier-1 forms of table predicates (TableTerms.cpp) and
// of one-axis predicates (AxisPredicate.cpp), and the per-node closed forms
// and class signatures that PlanTree.cpp implements.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_PLANNERIMPL_H
#define SATTN_CORE_PLANNERIMPL_H

#include "sattn/Core/KeySet.h"
#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/Core/Planner.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace sattn::plan {

/// Interval arithmetic over one predicate body. Values are closed int64
/// intervals; i1 values are sub-intervals of [0, 1].
class PredicateIntervals {
public:
  struct Interval {
    int64_t lo, hi;
  };
  /// Compiles the instructions of predicate node `node`; never fails
  /// (instructions without an interval rule produce the full interval).
  static PredicateIntervals compile(const MaskProgram &program,
                                    const Node &node);
  /// Range of the yielded i1 for b, h fixed, q in [qa, qb], k in [ka, kb]:
  /// [1,1] always kept, [0,0] never, [0,1] undecided.
  Interval evaluate(const MaskInputs &inputs, int64_t b, int64_t h,
                    int64_t qa, int64_t qb, int64_t ka, int64_t kb) const;
  /// True when the predicate reads argument i (0 = b, 1 = h, 2 = q, 3 = k),
  /// directly or through a table lookup.
  bool usesArg(unsigned i) const { return argUsed[i]; }

  /// Evaluations of one (b, h, [qa, qb]) over many key ranges, as the tile
  /// planner runs them: the instructions that do not depend on k run once
  /// (in a clamped 2-D neighbourhood, two thirds of them).
  class KeySweep {
  public:
    /// evaluate(in, b, h, qa, qb, ka, kb) of the sweep's b, h, qa, qb.
    Interval evaluate(int64_t ka, int64_t kb);

  private:
    friend class PredicateIntervals;
    KeySweep(const PredicateIntervals &program, const MaskInputs &inputs)
        : program(program), inputs(inputs) {}
    const PredicateIntervals &program;
    const MaskInputs &inputs;
    std::vector<Interval> registers;
  };
  KeySweep sweep(const MaskInputs &inputs, int64_t b, int64_t h, int64_t qa,
                 int64_t qb) const;

  struct Instr {
    enum Op {
      Const, Add, Sub, Mul, FloorDiv, CeilDiv, Rem, Min, Max, Abs,
      Cmp, And, Or, Xor, Select, Copy, ZeroExtend, Lookup, Unknown
    } op;
    Opcode pred = Opcode::CmpEq; // for Cmp
    int64_t imm = 0;
    std::vector<int> args;
    std::string table;
    /// Bit widths of the result and of the operands (1..64).
    unsigned width = 64, operandWidth = 64;
  };

private:
  std::vector<Instr> code; // registers 0..3 are b, h, q, k
  int result = -1;
  bool argUsed[4] = {false, false, false, false};
  /// Per register, whether k flows into it; the registers that it does, in
  /// program order (what KeySweep::evaluate reruns).
  std::vector<bool> keyDependent;
  std::vector<uint32_t> keyCode;
};

/// Sorted positions p with table[index..., p] true, per table row, built once
/// per plan: a term reads one row for every query tile.
/// The runs of equal ids of one document table row: run i covers keys
/// [start[i], start[i + 1]) (the last one ends at Lk) and holds id[i];
/// runsOf lists, per id, its runs in key order.
struct DocumentRuns {
  std::vector<int64_t> start, id;
  std::map<int64_t, std::vector<uint32_t>> runsOf;
};

/// The tier-2/3 sets of predicates that read neither b nor h, by (node, qa,
/// qb, window.lo, window.hi): alike for every plan class, so that a per-head
/// block table combined with such a predicate analyses it once, not once
/// per head.
using SharedPredicateSets =
    std::map<std::tuple<uint32_t, int64_t, int64_t, int64_t, int64_t>,
             std::pair<KeySet, KeySet>>;

struct TermCache {
  std::map<std::vector<int64_t>, std::vector<int64_t>> rows;
  /// Kept points of each AxisPredicate (by node), per plan.
  std::map<uint32_t, std::vector<Run>> axisPoints;
  /// Runs of each document node's table row, by (node, batch), per plan:
  /// built in one pass over the row, so that a query tile costs the runs it
  /// touches instead of a scan of all Lk keys.
  std::map<std::pair<uint32_t, int64_t>, DocumentRuns> documentRuns;
  /// Shared by the classes of one plan after its first (a plan of one
  /// class never fills it); null where nothing is shared.
  SharedPredicateSets *sharedPredicateSets = nullptr;
};

/// Tier 1 for predicates that read the positions along one axis only, and
/// neither b nor h (tables only at positions of that axis): the offset
/// q - k (`q - k == 7 | q - k == 64`, `(q - k) % 128 < 16`: unions of
/// diagonal bands), the key k (columns, `global[k]`) or the query q (rows,
/// `global[q]`). What they keep is a set of points on that axis,
/// found once per plan by bisecting the axis with the interval program
/// (exact evaluation at single points); every query tile then gets
/// key-exact sets from those runs, where tiers 2 and 3 would classify every
/// tile a band or column crosses pair by pair (a union of 1000 offset terms
/// took a minute to plan at L = 8192).
class AxisPredicate {
public:
  enum class Axis : uint8_t { Offset, Key, Query };
  /// The axis predicate `node` reads, or nullopt when it has another shape.
  static std::optional<Axis> match(const MaskProgram &program, const Node &node);
  /// The kept points of predicate node `id` on `axis` as sorted disjoint
  /// runs [lo, hi), for key length inputs.lk.
  static std::vector<Run> points(const MaskProgram &program, uint32_t id,
                                 Axis axis, const PredicateIntervals &intervals,
                                 const MaskInputs &inputs);
  /// Exact may/must key sets of query positions [qa, qb] from the runs.
  static void sets(Axis axis, const std::vector<Run> &points, int64_t lk,
                   int64_t qa, int64_t qb, KeySet &may, KeySet &must);
};

/// Tier 1 for predicates that are & / | trees of bool-table lookups indexed
/// by the key position (`pinned[h, k]`: a set of columns) or by the
/// query-key offset (`slash[h, q - k]`: a set of diagonals), other indices
/// being b, h or constants. MInference's vertical-slash masks are of this
/// form; their kept keys per query tile are exact here (runs of single
/// columns and diagonal bands), where tiers 2 and 3 would see only whole
/// tiles and classify nearly every one of them pair by pair.
class TableTerms {
public:
  /// The terms of predicate `node`, or nullopt when its body has another
  /// shape (then tiers 2 and 3 apply).
  static std::optional<TableTerms> match(const MaskProgram &program,
                                         const Node &node);
  /// Exact may/must sets for query positions [qa, qb], restricted to the
  /// keys of `window` (the caller uses no other key).
  void sets(const MaskProgram &program, const MaskInputs &inputs, int64_t b,
            int64_t h, int64_t qa, int64_t qb, Run window, TermCache &cache,
            KeySet &may, KeySet &must) const;

private:
  struct Term {
    enum Kind : uint8_t { Column, Diagonal, And, Or } kind = Column;
    uint32_t table = 0;
    /// Per table dimension: kBatch, kHead, kPosition, kQueryBlock or a
    /// constant >= 0.
    std::vector<int64_t> index;
    /// The divisor N of a kQueryBlock dimension (the lookup reads q / N); 0
    /// when the term has none.
    int64_t queryBlock = 0;
    int lhs = -1, rhs = -1;
  };
  static constexpr int64_t kBatch = -1, kHead = -2, kPosition = -3, kQueryBlock = -4;
  /// The term's table row for (b, h) and, for a kQueryBlock dimension,
  /// query block `qBlock`: the sorted positions it marks.
  const std::vector<int64_t> &positions(const MaskProgram &program,
                                        const MaskInputs &inputs,
                                        const Term &term, int64_t b, int64_t h,
                                        int64_t qBlock, TermCache &cache) const;
  /// A lookup term's sets for query rows [qa, qb] of one query block.
  void leafSets(const MaskProgram &program, const MaskInputs &inputs, const Term &t,
                int64_t b, int64_t h, int64_t qa, int64_t qb, Run window,
                TermCache &cache, KeySet &may, KeySet &must) const;
  void termSets(const MaskProgram &program, const MaskInputs &inputs,
                int term, int64_t b, int64_t h, int64_t qa, int64_t qb,
                Run window, TermCache &cache, KeySet &may, KeySet &must) const;
  std::vector<Term> terms;
  int root = -1;
};

/// `program` with its predicates split at top-level | into unions of their
/// operands wherever that gives a part a tier-1 shape (PredicateSplit.cpp);
/// the same pairs, children before parents. Returns `program` unchanged when nothing gains or the split
/// program would exceed the limits.
MaskProgram splitPredicates(const MaskProgram &program);

struct Planner::Impl {
  PlanOptions options;
  /// The program as compiled (Planner::program()), and the one planned:
  /// the same with predicates split (splitPredicates).
  MaskProgram compiled;
  MaskProgram program;
  /// Interval programs, indexed like program.nodes (empty for non-predicates).
  std::vector<PredicateIntervals> predicates;
  /// Tier-1 forms of predicates over column / diagonal tables, like
  /// `predicates` indexed by node (nullopt where the shape does not match).
  std::vector<std::optional<TableTerms>> tableTerms;
  /// Predicates of one position axis (AxisPredicate), indexed by node.
  std::vector<std::optional<AxisPredicate::Axis>> axisPredicates;
  /// Smallest block size of block-structured nodes (0 if none). Query tiles
  /// are analysed per block row of this size: a block-level pattern combined
  /// with token-level ones (e.g. causal & block table) is exact only when
  /// the rows of one analysis lie in one block row.
  int64_t rowSplit = 0;

  /// May/must key sets of node `n` for query positions [qa, qb]. Only keys
  /// in `window` matter to the caller: nodes may (but need not) drop the
  /// others, which intersections use to keep table-driven sets small.
  void sets(uint32_t n, const MaskInputs &in, int64_t b, int64_t h,
            int64_t qa, int64_t qb, Run window, TermCache &cache, KeySet &may,
            KeySet &must) const;
  /// Tiers 2 and 3 for predicate node `id` (PredicateTiles.cpp): its sets
  /// at KV-tile granularity, exact per tile, within `window`'s tiles.
  void predicateSets(uint32_t id, const MaskInputs &in, int64_t b, int64_t h,
                     int64_t qa, int64_t qb, Run window, KeySet &may,
                     KeySet &must) const;
  /// Planner::keySets with a cache shared by the query tiles of one plan.
  void keySets(const MaskInputs &in, int64_t b, int64_t h, int64_t qa,
               int64_t qb, TermCache &cache, KeySet &may, KeySet &must) const;
  /// Appends the values that make node n's plan differ between (b, h) pairs.
  void signature(uint32_t n, const MaskInputs &in, int64_t b, int64_t h,
                 std::vector<int64_t> &sig) const;
};

} // namespace sattn::plan

#endif // SATTN_CORE_PLANNERIMPL_H
