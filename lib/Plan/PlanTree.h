//===- PlanTree.h - the mask as the tile planner sees it ------*- C++ -*-===//
//
// Internal to lib/Plan. The mask op tree compiled into flat nodes with the
// parameters the closed forms need, plus the interval program of each
// free-form predicate (tier 2) and its exact evaluator (tier 3).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_PLAN_PLANTREE_H
#define SATTN_LIB_PLAN_PLANTREE_H

#include "sattn/Analysis/MaskEvaluator.h"
#include "sattn/Plan/KeySet.h"
#include "sattn/Plan/TilePlan.h"

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Operation.h"

#include <optional>
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
  /// Compiles the body of a mask.predicate; never fails (unknown ops
  /// produce the full interval).
  static PredicateIntervals compile(mlir::Operation *predicate);
  /// Range of the yielded i1 for b, h fixed, q in [qa, qb], k in [ka, kb]:
  /// [1,1] always kept, [0,0] never, [0,1] undecided.
  Interval evaluate(const MaskInputs &inputs, int64_t b, int64_t h,
                    int64_t qa, int64_t qb, int64_t ka, int64_t kb) const;
  /// True when the predicate reads argument i (0 = b, 1 = h, 2 = q, 3 = k),
  /// directly or through a table lookup.
  bool usesArg(unsigned i) const { return argUsed[i]; }

  struct Instr {
    enum Op {
      Const, Add, Sub, Mul, FloorDiv, CeilDiv, Rem, FloorMod, Min, Max, Abs,
      Cmp, And, Or, Xor, Select, Copy, Lookup, Unknown
    } op;
    int pred = 0; // arith::CmpIPredicate for Cmp
    int64_t imm = 0;
    std::vector<int> args;
    std::string table;
  };

private:
  std::vector<Instr> code; // registers 0..3 are b, h, q, k
  int result = -1;
  bool argUsed[4] = {false, false, false, false};
};

struct PlanNode {
  enum Kind {
    Full, Empty, Causal, Window, SymWindow, Sink, Tail, Strided,
    StridedBlocks, Dilated, Power, Prefix, Document, BlockTable, Union,
    Intersect, Complement, PerHead, Predicate
  } kind;
  int64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  bool flag = false;
  mlir::AffineMap offset;      // Strided
  std::string table;           // Document, BlockTable
  std::vector<int> children;   // combinators, PerHead
  std::vector<int64_t> assign; // PerHead
  int predicate = -1;          // index into predicates / evaluators
};

struct TilePlanner::Impl {
  PlanOptions options;
  int64_t heads = 1, kvHeads = 1;
  std::vector<PlanNode> nodes;
  int root = -1;
  std::vector<PredicateIntervals> predicates;
  std::vector<MaskEvaluator> predicateEvaluators;
  std::optional<MaskEvaluator> evaluator; // whole mask, for input checks
  /// Smallest block size of block-structured nodes (0 if none). Query tiles
  /// are analysed per block row of this size: a block-level pattern combined
  /// with token-level ones (e.g. causal & block table) is exact only when
  /// the rows of one analysis lie in one block row.
  int64_t rowSplit = 0;

  /// May/must key sets of node `n` for query positions [qa, qb].
  void sets(int n, const MaskInputs &in, int64_t b, int64_t h, int64_t qa,
            int64_t qb, KeySet &may, KeySet &must) const;
  /// Appends the values that make node n's plan differ between (b, h) pairs.
  void signature(int n, const MaskInputs &in, int64_t b, int64_t h,
                 std::vector<int64_t> &sig) const;
};

} // namespace sattn::plan

#endif // SATTN_LIB_PLAN_PLANTREE_H
