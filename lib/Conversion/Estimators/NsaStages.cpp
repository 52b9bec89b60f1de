//===- NsaStages.cpp - Native Sparse Attention's selection, item by item --===//
//
// The stages of the nsa estimator (sattn/Conversion/Estimators.h,
// docs/ESTIMATORS.md "nsa"): NSA chooses the keys of its selected branch
// from the probabilities of its compressed branch, so the selection is the
// hierarchical part of the method, computed on the device from Q and K:
// compressed keys (block means), each query row's softmax statistics over
// the compressed keys it sees, the importance of each selection block
// (those probabilities summed over the GQA group and the compressed blocks
// overlapping it), and the top blocks with the forced ones. Every sum runs
// in the order of the reference (lib/Core/NsaReference.cpp), so the CPU
// function, whose exp is libm's, reproduces its selection exactly.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

#include <limits>

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// nsa's sizes and scratch offsets (abi::EstimatorShape::nsaScratch) as
/// index values.
struct NsaLayout {
  Value compressBlock, compressStride, compressed, statsAt;
  NsaLayout(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh) {
    compressBlock = cst(b, loc, env.spec.compressBlock);
    compressStride = cst(b, loc, env.spec.compressStride);
    compressed = endingBy(b, loc, env.lk);
    statsAt = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), compressed),
                  sh.headDim);
  }
  /// The compressed blocks that end before key `end`: blocks [c d, c d + l)
  /// with c d + l <= end, floor((end - l) / d) + 1 of them (none when end
  /// < l).
  Value endingBy(OpBuilder &b, Location loc, Value end) const {
    Value reaches = cmp(b, loc, CmpIPredicate::sge, end, compressBlock);
    Value count = add(b, loc,
                      div(b, loc, sub(b, loc, max(b, loc, end, compressBlock), compressBlock),
                          compressStride),
                      cst(b, loc, 1));
    return arith::SelectOp::create(b, loc, reaches, count, cst(b, loc, 0));
  }
  /// The compressed blocks a query at `position` sees: those ending at or
  /// before it, [0, count) (position < lk: all inside the keys).
  Value visible(OpBuilder &b, Location loc, Value position) const {
    return endingBy(b, loc, add(b, loc, position, cst(b, loc, 1)));
  }
  /// Scratch index of column 0 of compressed key `c` of (b, KV head).
  Value key(OpBuilder &b, Location loc, const Shape &sh, Value bIdx, Value kvHead,
            Value c) const {
    Value slice = add(b, loc, mul(b, loc, bIdx, sh.kvHeads), kvHead);
    return mul(b, loc, add(b, loc, mul(b, loc, slice, compressed), c), sh.headDim);
  }
  /// Scratch index of the (maximum, sum) of query head `h`'s row at
  /// `position`.
  Value stats(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh, Value bIdx,
              Value h, Value position) const {
    Value slice = add(b, loc, mul(b, loc, bIdx, sh.heads), h);
    return add(b, loc, statsAt,
               mul(b, loc, add(b, loc, mul(b, loc, slice, env.lk), position), cst(b, loc, 2)));
  }
};

/// Table index of entry (b, KV head, position, 0): the table is [B, KV,
/// Lk, blocks], a row per GQA group and query position.
Value tableRow(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh, Value bIdx,
               Value kvHead, Value position) {
  Value slice = add(b, loc, mul(b, loc, bIdx, sh.kvHeads), kvHead);
  return mul(b, loc, add(b, loc, mul(b, loc, slice, env.lk), position), env.blocks);
}

/// s * (q . compressed key c) of query head h's row at `position`, the
/// product summed over the columns in order as the reference's dot.
Value compressedLogit(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                      const NsaLayout &nl, Value bIdx, Value h, Value position, Value c) {
  Scalar s{b, loc};
  Value row = sub(b, loc, position, sh.shift);
  Value keyAt = nl.key(b, loc, sh, bIdx, div(b, loc, h, sh.group), c);
  Value dot = sumOver(b, loc, cst(b, loc, 0), sh.headDim, [&](OpBuilder &lb, Location ll,
                                                               Value x) {
    Scalar ls{lb, ll};
    return ls.fmul(env.load(lb, ll, false, bIdx, h, row, x),
                   ls.loadAt(env.pooled, add(lb, ll, keyAt, x)));
  });
  return s.fmul(s.f64(env.scale), dot);
}

/// compress: column `x` of compressed key c of (b, KV head), the mean of
/// keys [c * d, c * d + l) rounded to f32 (the reference keeps its
/// compressed keys as floats).
void emitCompress(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  NsaLayout nl(b, loc, env, sh);
  auto d = unflatten(b, loc, item, {sh.headDim, nl.compressed, sh.kvHeads});
  Value column = d[0], c = d[1], kvHead = d[2], bIdx = d[3];
  Value first = mul(b, loc, c, nl.compressStride);
  Value sum = sumOver(b, loc, first, add(b, loc, first, nl.compressBlock),
                      [&](OpBuilder &lb, Location ll, Value row) {
                        return env.load(lb, ll, true, bIdx, kvHead, row, column);
                      });
  Scalar s{b, loc};
  Value mean = s.fdiv(sum, s.f64(double(env.spec.compressBlock)));
  Value rounded = arith::ExtFOp::create(
      b, loc, b.getF64Type(), arith::TruncFOp::create(b, loc, b.getF32Type(), mean).getResult());
  s.storeAt(rounded, env.pooled, item);
}

/// stats: the softmax maximum (folded as std::max) and sum (in order) of
/// query head h's logits over the compressed keys its row sees.
void emitStats(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  auto d = unflatten(b, loc, item, {env.lk, sh.heads});
  Value position = d[0], h = d[1], bIdx = d[2];
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sge, position, sh.shift);
  scf::IfOp::create(b, loc, holdsQuery, [&](OpBuilder &tb, Location tl) {
    NsaLayout nl(tb, tl, env, sh);
    Value count = nl.visible(tb, tl, position);
    auto logit = [&](OpBuilder &lb, Location ll, Value c) {
      return compressedLogit(lb, ll, env, sh, nl, bIdx, h, position, c);
    };
    Value zero = cst(tb, tl, 0);
    Value rowMax = maxOver(tb, tl, zero, count, logit);
    Value sum = sumOver(tb, tl, zero, count, [&](OpBuilder &lb, Location ll, Value c) {
      Scalar ls{lb, ll};
      return env.exp(lb, ll, ls.fsub(logit(lb, ll, c), rowMax));
    });
    Scalar s{tb, tl};
    Value at = nl.stats(tb, tl, env, sh, bIdx, h, position);
    s.storeAt(rowMax, env.pooled, at);
    s.storeAt(sum, env.pooled, add(tb, tl, at, cst(tb, tl, 1)));
    scf::YieldOp::create(tb, tl);
  });
}

/// importance: of selection block j for the group's rows at `position`
/// (j <= position / S): the compressed probabilities of the blocks the
/// row sees that overlap j, summed over the group's heads (outer) and the
/// blocks (inner) as the reference adds them. Stored as f64 bits in the
/// group's table row.
void emitImportance(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  auto d = unflatten(b, loc, item, {env.blocks, env.lk, sh.kvHeads});
  Value j = d[0], position = d[1], kvHead = d[2], bIdx = d[3];
  Value holdsQuery = cmp(b, loc, CmpIPredicate::sge, position, sh.shift);
  Value allowed = cmp(b, loc, CmpIPredicate::sle, j, div(b, loc, position, sh.block));
  Value valid = arith::AndIOp::create(b, loc, holdsQuery, allowed);
  scf::IfOp::create(b, loc, valid, [&](OpBuilder &tb, Location tl) {
    NsaLayout nl(tb, tl, env, sh);
    // Compressed block c covers [c d, c d + l - 1]; it overlaps block j
    // from c = ceil((j S - l + 1) / d) to floor(((j + 1) S - 1) / d).
    Value one = cst(tb, tl, 1);
    Value startKey = mul(tb, tl, j, sh.block);
    Value reach = sub(tb, tl, add(tb, tl, startKey, one), nl.compressBlock);
    Value firstBlock = ceilDiv(tb, tl, max(tb, tl, reach, cst(tb, tl, 0)), env.spec.compressStride);
    Value lastKey = sub(tb, tl, add(tb, tl, startKey, sh.block), one);
    Value endBlock = min(tb, tl, add(tb, tl, div(tb, tl, lastKey, nl.compressStride), one),
                         nl.visible(tb, tl, position));
    Value firstHead = mul(tb, tl, kvHead, sh.group);
    Scalar s{tb, tl};
    auto heads = scf::ForOp::create(
        tb, tl, firstHead, add(tb, tl, firstHead, sh.group), one, ValueRange{s.f64(0.0)},
        [&](OpBuilder &hb, Location hl, Value h, ValueRange outer) {
          Scalar hs{hb, hl};
          Value at = nl.stats(hb, hl, env, sh, bIdx, h, position);
          Value rowMax = hs.loadAt(env.pooled, at);
          Value rowSum = hs.loadAt(env.pooled, add(hb, hl, at, cst(hb, hl, 1)));
          auto blocks = scf::ForOp::create(
              hb, hl, firstBlock, max(hb, hl, firstBlock, endBlock), cst(hb, hl, 1),
              ValueRange{outer[0]},
              [&](OpBuilder &cb, Location cl, Value c, ValueRange inner) {
                Scalar cs{cb, cl};
                Value logit = compressedLogit(cb, cl, env, sh, nl, bIdx, h, position, c);
                Value p = cs.fdiv(env.exp(cb, cl, cs.fsub(logit, rowMax)), rowSum);
                scf::YieldOp::create(cb, cl, ValueRange{cs.fadd(inner[0], p)});
              });
          scf::YieldOp::create(hb, hl, blocks.getResults());
        });
    Value at = add(tb, tl, tableRow(tb, tl, env, sh, bIdx, kvHead, position), j);
    s.storeAt(s.bitsOf(heads.getResult(0)), env.table, at);
    scf::YieldOp::create(tb, tl);
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
  Value first = tableRow(b, loc, env, sh, bIdx, kvHead, position);
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
    double inf = std::numeric_limits<double>::infinity();
    forEach(tb, tl, passes, [&](OpBuilder &pb, Location pl, Value) {
      Scalar ps{pb, pl};
      // The most important unchosen block of [1, own]; the first of equals.
      auto best = scf::ForOp::create(
          pb, pl, cst(pb, pl, 1), add(pb, pl, own, cst(pb, pl, 1)), cst(pb, pl, 1),
          ValueRange{ps.f64(-inf), cst(pb, pl, -1)},
          [&](OpBuilder &jb, Location jl, Value j, ValueRange acc) {
            Scalar js{jb, jl};
            Value bits = js.loadAt(env.table, add(jb, jl, first, j));
            Value open = js.icmp(CmpIPredicate::ne, bits, mark);
            Value value = js.doubleOf(bits);
            Value better = arith::AndIOp::create(
                jb, jl, open, js.fcmp(CmpFPredicate::OGT, value, acc[0]));
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
  switch (stage) {
  case kNsaCompress:
    items = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), nl.compressed),
                sh.headDim);
    break;
  case kNsaStats:
    items = mul(b, loc, mul(b, loc, env.batch, sh.heads), env.lk);
    break;
  case kNsaImportance:
    items = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), env.lk), env.blocks);
    break;
  default:
    items = mul(b, loc, mul(b, loc, env.batch, sh.kvHeads), env.lk);
    break;
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

void stages::emitNsaItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                         Value item) {
  switch (stage) {
  case kNsaCompress:
    return emitCompress(b, loc, env, item);
  case kNsaStats:
    return emitStats(b, loc, env, item);
  case kNsaImportance:
    return emitImportance(b, loc, env, item);
  default:
    return emitSelect(b, loc, env, item);
  }
}
