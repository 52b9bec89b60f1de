//===- NsaStages.h - nsa's sizes for its stages --------------*- C++ -*-===//
//
// The sizes, scratch offsets and block ranges that nsa's item stages
// (NsaStages.cpp: compress, select) and tile stages (NsaTileStages.cpp:
// stats, importance) share, so that both spell them the same way.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_ESTIMATORS_NSASTAGES_H
#define SATTN_LIB_CONVERSION_ESTIMATORS_NSASTAGES_H

#include "StageBuilders.h"

namespace sattn::estimator::stages {

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
  /// Compressed block c covers keys [c d, c d + l - 1], so it overlaps the
  /// selection blocks [j S, (j + 1) S) of j in [first, last] from c =
  /// ceil((first S - l + 1) / d) (at least 0) to floor(((last + 1) S - 1)
  /// / d): overlapping(first) and endOverlapping(last) (one past it).
  Value overlapping(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                    Value first) const {
    Value reach = sub(b, loc, add(b, loc, mul(b, loc, first, sh.block), cst(b, loc, 1)),
                      compressBlock);
    return ceilDiv(b, loc, max(b, loc, reach, cst(b, loc, 0)), env.spec.compressStride);
  }
  Value endOverlapping(OpBuilder &b, Location loc, const Shape &sh, Value last) const {
    Value lastKey = sub(b, loc, mul(b, loc, add(b, loc, last, cst(b, loc, 1)), sh.block),
                        cst(b, loc, 1));
    return add(b, loc, div(b, loc, lastKey, compressStride), cst(b, loc, 1));
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
inline Value nsaTableRow(OpBuilder &b, Location loc, const EstimatorEnv &env, const Shape &sh,
                         Value bIdx, Value kvHead, Value position) {
  Value slice = add(b, loc, mul(b, loc, bIdx, sh.kvHeads), kvHead);
  return mul(b, loc, add(b, loc, mul(b, loc, slice, env.lk), position), env.blocks);
}

} // namespace sattn::estimator::stages

#endif // SATTN_LIB_CONVERSION_ESTIMATORS_NSASTAGES_H
