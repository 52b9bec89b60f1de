//===- PlanTree.h - the mask as the tile planner sees it ------*- C++ -*-===//
//
// Internal to the planner. The planner's state: the verified MaskProgram,
// the interval program of each free-form predicate (tier 2; the exact
// tier 3 evaluates the predicate's node of the program), and the per-node
// closed forms and class signatures that PlanTree.cpp implements.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_PLANTREE_H
#define SATTN_CORE_PLANTREE_H

#include "sattn/Core/KeySet.h"
#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/Core/Planner.h"

#include <string>
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

  struct Instr {
    enum Op {
      Const, Add, Sub, Mul, FloorDiv, CeilDiv, Rem, Min, Max, Abs,
      Cmp, And, Or, Xor, Select, Copy, Lookup, Unknown
    } op;
    Opcode pred = Opcode::CmpEq; // for Cmp
    int64_t imm = 0;
    std::vector<int> args;
    std::string table;
  };

private:
  std::vector<Instr> code; // registers 0..3 are b, h, q, k
  int result = -1;
  bool argUsed[4] = {false, false, false, false};
};

struct Planner::Impl {
  PlanOptions options;
  MaskProgram program;
  /// Interval programs, indexed like program.nodes (empty for non-predicates).
  std::vector<PredicateIntervals> predicates;
  /// Smallest block size of block-structured nodes (0 if none). Query tiles
  /// are analysed per block row of this size: a block-level pattern combined
  /// with token-level ones (e.g. causal & block table) is exact only when
  /// the rows of one analysis lie in one block row.
  int64_t rowSplit = 0;

  /// May/must key sets of node `n` for query positions [qa, qb].
  void sets(uint32_t n, const MaskInputs &in, int64_t b, int64_t h,
            int64_t qa, int64_t qb, KeySet &may, KeySet &must) const;
  /// Appends the values that make node n's plan differ between (b, h) pairs.
  void signature(uint32_t n, const MaskInputs &in, int64_t b, int64_t h,
                 std::vector<int64_t> &sig) const;
};

} // namespace sattn::plan

#endif // SATTN_CORE_PLANTREE_H
