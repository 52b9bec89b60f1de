//===- MaskCanonicalize.cpp - canonicalisation of the mask algebra --------===//
//
// Rewrites that keep masks in a small normal form, so that tile planning
// sees named patterns instead of algebra: flattening and deduplication
// (idempotence), identity elements, absorption, merging of windows and
// sinks, and factoring of causality (a causal window already is causal;
// (causal & a) | (causal & b) is causal & (a | b); sink(n) | causal is a
// prefix-LM mask).
//
//===----------------------------------------------------------------------===//

#include "Mask/IR/MaskOps.h"
#include "sattn/Core/Limits.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/SetVector.h"


using namespace mlir;
using namespace sattn::mask;

namespace {

/// True when every pair kept by `v` satisfies k <= q.
bool impliesCausal(Value v) {
  Operation *op = v.getDefiningOp();
  if (!op)
    return false;
  if (isa<CausalOp, DilatedOp, PowerOp, StridedBlocksOp, EmptyOp>(op))
    return true;
  if (auto window = dyn_cast<WindowOp>(op))
    return !window.getSymmetric();
  if (auto inter = dyn_cast<IntersectOp>(op))
    return llvm::any_of(inter.getInputs(), impliesCausal);
  if (auto uni = dyn_cast<UnionOp>(op))
    return llvm::all_of(uni.getInputs(), impliesCausal);
  return false;
}

bool isCausal(Value v) { return v.getDefiningOp<CausalOp>() != nullptr; }

/// Set-algebra facts shared by union and intersection. For a union, the
/// identity is `empty` and the absorbing element is `full`; for an
/// intersection the reverse. `Self` is the op kind, `Dual` the other one.
template <typename Self, typename Dual, typename Identity>
struct SimplifyCombinator : public OpRewritePattern<Self> {
  using OpRewritePattern<Self>::OpRewritePattern;
  static constexpr bool isUnion = std::is_same_v<Self, UnionOp>;

  LogicalResult matchAndRewrite(Self op,
                                PatternRewriter &rewriter) const override {
    // Flatten nested ops of the same kind and drop duplicates (idempotence)
    // and identity elements.
    llvm::SetVector<Value> operands;
    SmallVector<Value> worklist(op.getInputs().begin(), op.getInputs().end());
    std::reverse(worklist.begin(), worklist.end());
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (auto nested = v.template getDefiningOp<Self>()) {
        for (Value inner : llvm::reverse(nested.getInputs()))
          worklist.push_back(inner);
        continue;
      }
      if (v.template getDefiningOp<Identity>())
        continue;
      operands.insert(v);
    }

    // Absorption: a | (a & b) = a and a & (a | b) = a.
    SmallVector<Value> kept;
    for (Value v : operands) {
      auto dual = v.template getDefiningOp<Dual>();
      bool absorbed = dual && llvm::any_of(dual.getInputs(), [&](Value in) {
                        return in != v && operands.contains(in);
                      });
      if (!absorbed)
        kept.push_back(v);
    }

    // Causal factoring against a bare causal operand.
    if (llvm::any_of(kept, isCausal)) {
      if (isUnion) {
        // causal | x = causal whenever x is causal already.
        llvm::erase_if(kept, [](Value v) {
          return !isCausal(v) && impliesCausal(v);
        });
      } else if (llvm::any_of(kept, [](Value v) {
                   return !isCausal(v) && impliesCausal(v);
                 })) {
        // causal & x = x whenever x is causal already.
        llvm::erase_if(kept, isCausal);
      }
    }

    bool changed = mergeWindowsAndSinks(op, kept, rewriter);
    if (isUnion)
      changed |= foldPrefix(op, kept, rewriter);
    else
      changed |= foldSymmetricWindow(op, kept, rewriter);

    if (!changed && kept.size() == op.getInputs().size() &&
        llvm::equal(kept, op.getInputs()))
      return failure();
    if (kept.empty()) {
      rewriter.replaceOpWithNewOp<Identity>(op);
      return success();
    }
    if (kept.size() == 1) {
      rewriter.replaceOp(op, kept.front());
      return success();
    }
    rewriter.replaceOpWithNewOp<Self>(op, kept);
    return success();
  }

  /// Union keeps the larger window/sink, intersection the smaller. Windows
  /// merge only with windows of the same form (causal or symmetric).
  static bool mergeWindowsAndSinks(Self op, SmallVector<Value> &kept,
                                   PatternRewriter &rewriter) {
    auto better = [](int64_t a, int64_t b) {
      return isUnion ? std::max(a, b) : std::min(a, b);
    };
    std::optional<int64_t> causalWin, symWin, sink;
    unsigned nCausalWin = 0, nSymWin = 0, nSink = 0;
    for (Value v : kept) {
      if (auto w = v.getDefiningOp<WindowOp>()) {
        auto &slot = w.getSymmetric() ? symWin : causalWin;
        (w.getSymmetric() ? nSymWin : nCausalWin)++;
        slot = slot ? better(*slot, w.getSize()) : w.getSize();
      } else if (auto s = v.getDefiningOp<SinkOp>()) {
        ++nSink;
        sink = sink ? better(*sink, s.getCount()) : s.getCount();
      }
    }
    if (nCausalWin < 2 && nSymWin < 2 && nSink < 2)
      return false;
    Location loc = op.getLoc();
    auto replaceAll = [&](auto match, Value merged) {
      auto it = llvm::find_if(kept, match);
      *it = merged;
      kept.erase(std::remove_if(std::next(it), kept.end(), match), kept.end());
    };
    if (nCausalWin >= 2)
      replaceAll(
          [](Value v) {
            auto w = v.getDefiningOp<WindowOp>();
            return w && !w.getSymmetric();
          },
          WindowOp::create(rewriter, loc, *causalWin, false));
    if (nSymWin >= 2)
      replaceAll(
          [](Value v) {
            auto w = v.getDefiningOp<WindowOp>();
            return w && w.getSymmetric();
          },
          WindowOp::create(rewriter, loc, *symWin, true));
    if (nSink >= 2)
      replaceAll([](Value v) { return (bool)v.getDefiningOp<SinkOp>(); },
                 SinkOp::create(rewriter, loc, *sink));
    return true;
  }

  /// sink(n) | causal = prefix(n).
  static bool foldPrefix(Self op, SmallVector<Value> &kept,
                         PatternRewriter &rewriter) {
    auto causal = llvm::find_if(kept, isCausal);
    auto sink = llvm::find_if(
        kept, [](Value v) { return (bool)v.getDefiningOp<SinkOp>(); });
    if (causal == kept.end() || sink == kept.end())
      return false;
    int64_t n = sink->template getDefiningOp<SinkOp>().getCount();
    Value prefix = PrefixOp::create(rewriter, op.getLoc(), n);
    Value causalValue = *causal, sinkValue = *sink;
    llvm::erase_if(kept, [&](Value v) { return v == sinkValue; });
    *llvm::find(kept, causalValue) = prefix;
    return true;
  }

  /// causal & window(r, symmetric) = window(r + 1) (causal form).
  static bool foldSymmetricWindow(Self op, SmallVector<Value> &kept,
                                  PatternRewriter &rewriter) {
    auto causal = llvm::find_if(kept, isCausal);
    auto sym = llvm::find_if(kept, [](Value v) {
      auto w = v.getDefiningOp<WindowOp>();
      return w && w.getSymmetric();
    });
    if (causal == kept.end() || sym == kept.end())
      return false;
    int64_t r = sym->template getDefiningOp<WindowOp>().getSize();
    // A radius at the pattern limit has no causal window of size r + 1.
    if (r >= sattn::limits::kMaxPatternValue)
      return false;
    Value win = WindowOp::create(rewriter, op.getLoc(), r + 1, false);
    Value causalValue = *causal;
    *sym = win;
    llvm::erase_if(kept, [&](Value v) { return v == causalValue; });
    return true;
  }
};

/// (c & a) | (c & b) | ... = c & (a | b | ...) for a common operand c
/// (typically causal) shared by every operand of the union.
struct FactorCommonIntersection : public OpRewritePattern<UnionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(UnionOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<IntersectOp> inters;
    for (Value v : op.getInputs()) {
      auto inter = v.getDefiningOp<IntersectOp>();
      if (!inter)
        return failure();
      inters.push_back(inter);
    }
    for (Value common : inters.front().getInputs()) {
      if (!llvm::all_of(inters, [&](IntersectOp i) {
            return llvm::is_contained(i.getInputs(), common);
          }))
        continue;
      SmallVector<SmallVector<Value>> restsOfEach;
      for (IntersectOp inter : inters) {
        SmallVector<Value> &rest = restsOfEach.emplace_back();
        for (Value in : inter.getInputs())
          if (in != common)
            rest.push_back(in);
        // An operand that is `common` alone (intersect(c), intersect(c, c))
        // contains every other operand, so the union is `common`; an
        // intersection of nothing cannot be built.
        if (rest.empty()) {
          rewriter.replaceOp(op, common);
          return success();
        }
      }
      SmallVector<Value> rests;
      for (ArrayRef<Value> rest : restsOfEach)
        rests.push_back(rest.size() == 1
                            ? rest.front()
                            : IntersectOp::create(rewriter, op.getLoc(), rest)
                                  .getResult());
      Value uni = UnionOp::create(rewriter, op.getLoc(), rests);
      rewriter.replaceOpWithNewOp<IntersectOp>(op, ValueRange{common, uni});
      return success();
    }
    return failure();
  }
};

/// complement(full) = empty, complement(empty) = full.
struct ComplementOfConstant : public OpRewritePattern<ComplementOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ComplementOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getInput().getDefiningOp<FullOp>()) {
      rewriter.replaceOpWithNewOp<EmptyOp>(op);
      return success();
    }
    if (op.getInput().getDefiningOp<EmptyOp>()) {
      rewriter.replaceOpWithNewOp<FullOp>(op);
      return success();
    }
    return failure();
  }
};

} // namespace

void UnionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<SimplifyCombinator<UnionOp, IntersectOp, EmptyOp>,
              FactorCommonIntersection>(context);
}

void IntersectOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<SimplifyCombinator<IntersectOp, UnionOp, FullOp>>(context);
}

void ComplementOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<ComplementOfConstant>(context);
}
