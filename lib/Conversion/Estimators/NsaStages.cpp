//===- NsaStages.cpp - Native Sparse Attention's selection, item stages ---===//
//
// The stages of the nsa estimator (sattn/Conversion/Estimators.h,
// docs/ESTIMATORS.md "nsa"): NSA chooses the keys of its selected branch
// from the probabilities of its compressed branch, so the selection is the
// hierarchical part of the method, computed on the device from Q and K:
// compressed keys (block means), each query row's softmax statistics over
// the compressed keys it sees, the importance of each selection block
// (those probabilities summed over the GQA group and the compressed blocks
// overlapping it), and the top blocks with the forced ones. This file has
// the two item stages, compress and select, and the dispatch; stats and
// importance, which compute the logits, are tile stages
// (NsaTileStages.cpp). Every sum runs in the order of the reference
// (lib/Core/NsaReference.cpp), so the CPU function, whose exp is libm's,
// reproduces its selection exactly.
//
//===----------------------------------------------------------------------===//

#include "NsaStages.h"

#include <limits>

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// compress: column `x` of compressed key c of (b, KV head). With a caller's
/// compression (the "weights" parameter not null: f32 compressed keys
/// [batch, KV head, c, column], contiguous, i.e. entry `item`), that value;
/// else the mean of keys [c * d, c * d + l) rounded to f32 (the reference
/// keeps its compressed keys as floats).
void emitCompress(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  NsaLayout nl(b, loc, env, sh);
  Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, env.weights);
  Value supplied = cmp(b, loc, CmpIPredicate::ne, address, cst(b, loc, 0));
  Type f64 = b.getF64Type();
  auto value = scf::IfOp::create(
      b, loc, supplied,
      [&](OpBuilder &tb, Location tl) {
        Value given = memref::LoadOp::create(tb, tl, env.weights, ValueRange{item});
        scf::YieldOp::create(tb, tl, arith::ExtFOp::create(tb, tl, f64, given).getResult());
      },
      [&](OpBuilder &eb, Location el) {
        auto d = unflatten(eb, el, item, {sh.headDim, nl.compressed, sh.kvHeads});
        Value column = d[0], c = d[1], kvHead = d[2], bIdx = d[3];
        Value first = mul(eb, el, c, nl.compressStride);
        Value sum = sumOver(eb, el, first, add(eb, el, first, nl.compressBlock),
                            [&](OpBuilder &lb, Location ll, Value row) {
                              return env.load(lb, ll, true, bIdx, kvHead, row, column);
                            });
        Scalar s{eb, el};
        Value mean = s.fdiv(sum, s.f64(double(env.spec.compressBlock)));
        Value rounded = arith::ExtFOp::create(
            eb, el, f64, arith::TruncFOp::create(eb, el, eb.getF32Type(), mean).getResult());
        scf::YieldOp::create(eb, el, rounded);
      });
  Scalar s{b, loc};
  s.storeAt(value.getResult(0), env.pooled, item);
}

/// select_count up to this many: the blocks are chosen in one scan of the
/// row, through a sorted list of the best select_count candidates kept in
/// registers; larger counts take a pass over the row per chosen block.
constexpr int64_t kListedSelection = 32;

using MarkBlock = function_ref<void(OpBuilder &, Location, Value)>;

/// Marks the `passes` most important blocks of [1, last] (ties to the lower
/// block; an importance that is not above -inf, NaN included, is never
/// chosen): one scan of the row, each block's (importance, block) bubbled
/// into a list of select_count entries ordered by importance, then block
/// (entries start as (-inf, -1), which no block displaces on a tie). The
/// list's first `passes` entries are the blocks the pass-by-pass form
/// (markBlocksByPasses) picks, since both take the greatest in the same
/// total order; the row is read once instead of `passes` times.
void markListedBlocks(OpBuilder &b, Location loc, const EstimatorEnv &env, Value first,
                      Value last, Value passes, MarkBlock markAt) {
  int64_t count = env.spec.selectCount;
  Scalar s{b, loc};
  SmallVector<Value> init;
  for (int64_t k = 0; k < count; ++k) {
    init.push_back(s.f64(-std::numeric_limits<double>::infinity()));
    init.push_back(cst(b, loc, -1));
  }
  auto scan = scf::ForOp::create(
      b, loc, cst(b, loc, 1), add(b, loc, last, cst(b, loc, 1)), cst(b, loc, 1), init,
      [&](OpBuilder &jb, Location jl, Value j, ValueRange list) {
        Scalar js{jb, jl};
        Value value = js.doubleOf(js.loadAt(env.table, add(jb, jl, first, j))), block = j;
        SmallVector<Value> next;
        for (int64_t k = 0; k < count; ++k) {
          Value held = list[2 * k], heldBlock = list[2 * k + 1];
          Value tie = arith::AndIOp::create(
              jb, jl, js.fcmp(CmpFPredicate::OEQ, value, held),
              cmp(jb, jl, CmpIPredicate::slt, block, heldBlock));
          Value better =
              arith::OrIOp::create(jb, jl, js.fcmp(CmpFPredicate::OGT, value, held), tie);
          next.push_back(js.select(better, value, held));
          next.push_back(js.select(better, block, heldBlock));
          value = js.select(better, held, value);
          block = js.select(better, heldBlock, block);
        }
        scf::YieldOp::create(jb, jl, next);
      });
  for (int64_t k = 0; k < count; ++k) {
    Value block = scan.getResult(2 * k + 1);
    Value taken =
        arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::slt, cst(b, loc, k), passes),
                              cmp(b, loc, CmpIPredicate::sge, block, cst(b, loc, 0)));
    scf::IfOp::create(b, loc, taken, [&](OpBuilder &mb, Location ml) {
      markAt(mb, ml, block);
      scf::YieldOp::create(mb, ml);
    });
  }
}

/// The same, a pass over [1, own] per chosen block: the most important
/// unmarked block, the first of equals, is marked.
void markBlocksByPasses(OpBuilder &b, Location loc, const EstimatorEnv &env, Value first,
                        Value own, Value passes, Value mark, MarkBlock markAt) {
  double inf = std::numeric_limits<double>::infinity();
  forEach(b, loc, passes, [&](OpBuilder &pb, Location pl, Value) {
    Scalar ps{pb, pl};
    auto best = scf::ForOp::create(
        pb, pl, cst(pb, pl, 1), add(pb, pl, own, cst(pb, pl, 1)), cst(pb, pl, 1),
        ValueRange{ps.f64(-inf), cst(pb, pl, -1)},
        [&](OpBuilder &jb, Location jl, Value j, ValueRange acc) {
          Scalar js{jb, jl};
          Value bits = js.loadAt(env.table, add(jb, jl, first, j));
          Value open = js.icmp(CmpIPredicate::ne, bits, mark);
          Value value = js.doubleOf(bits);
          Value better =
              arith::AndIOp::create(jb, jl, open, js.fcmp(CmpFPredicate::OGT, value, acc[0]));
          scf::YieldOp::create(jb, jl,
                               ValueRange{js.select(better, value, acc[0]),
                                          js.select(better, j, acc[1])});
        });
    Value found = cmp(pb, pl, CmpIPredicate::sge, best.getResult(1), cst(pb, pl, 0));
    scf::IfOp::create(pb, pl, found, [&](OpBuilder &fb, Location fl) {
      markAt(fb, fl, best.getResult(1));
      scf::YieldOp::create(fb, fl);
    });
  });
}

/// select: the group's row at `position` becomes 0 / 1 (a row without a
/// query becomes 0). Block 0 and the `local` blocks ending at the query's
/// own are forced, then blocks j <= own by importance, highest first and
/// ties to the lower block, until `select_count` are chosen. Chosen
/// entries are marked by the bits of -1.0 (no importance is negative),
/// then the marks become 1 and the rest 0.
void emitSelect(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  auto d = unflatten(b, loc, item, {env.lk, sh.kvHeads});
  Value position = d[0], kvHead = d[1], bIdx = d[2];
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sge, position, sh.shift);
  Value first = nsaTableRow(b, loc, env, sh, bIdx, kvHead, position);
  Value own = div(b, loc, position, sh.block);
  Value one = cst(b, loc, 1);
  Scalar s{b, loc};
  Value mark = s.bitsOf(s.f64(-1.0));
  auto markAt = [&](OpBuilder &mb, Location ml, Value j) {
    Scalar ms{mb, ml};
    ms.storeAt(mark, env.table, add(mb, ml, first, j));
  };
  scf::IfOp::create(b, loc, holdsQuery, [&](OpBuilder &tb, Location tl) {
    markAt(tb, tl, cst(tb, tl, 0));
    Value localCount = min(tb, tl, cst(tb, tl, env.spec.localBlocks), own);
    forEach(tb, tl, localCount, [&](OpBuilder &lb, Location ll, Value t) {
      markAt(lb, ll, sub(lb, ll, own, t));
    });
    Value chosen = add(tb, tl, localCount, cst(tb, tl, 1));
    Value target = min(tb, tl, cst(tb, tl, env.spec.selectCount), add(tb, tl, own, one));
    Value passes = sub(tb, tl, max(tb, tl, target, chosen), chosen);
    if (env.spec.selectCount <= kListedSelection)
      markListedBlocks(tb, tl, env, first, sub(tb, tl, own, localCount), passes, markAt);
    else
      markBlocksByPasses(tb, tl, env, first, own, passes, mark, markAt);
    scf::YieldOp::create(tb, tl);
  });
  forEach(b, loc, env.blocks, [&](OpBuilder &jb, Location jl, Value j) {
    Scalar js{jb, jl};
    Value at = add(jb, jl, first, j);
    Value marked = js.icmp(CmpIPredicate::eq, js.loadAt(env.table, at), mark);
    Value kept = arith::AndIOp::create(
        jb, jl, holdsQuery,
        arith::AndIOp::create(jb, jl, marked, cmp(jb, jl, CmpIPredicate::sle, j, own)));
    js.storeAt(arith::ExtUIOp::create(jb, jl, jb.getI64Type(), kept), env.table, at);
  });
}

} // namespace

Value stages::emitNsaItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  Shape sh(b, loc, env);
  NsaLayout nl(b, loc, env, sh);
  Value items;
  assert((stage == kNsaCompress || stage == kNsaSelect) &&
         "stats and importance are tile stages");
  if (stage == kNsaCompress)
    items = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), nl.compressed),
                sh.headDim);
  else
    items = mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), env.lk);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

void stages::emitNsaItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                         Value item) {
  assert((stage == kNsaCompress || stage == kNsaSelect) &&
         "stats and importance are tile stages");
  if (stage == kNsaCompress)
    return emitCompress(b, loc, env, item);
  emitSelect(b, loc, env, item);
}
