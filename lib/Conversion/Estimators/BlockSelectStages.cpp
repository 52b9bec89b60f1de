//===- BlockSelectStages.cpp - block_topk's estimator, item by item -------===//
//
// Implements sattn/Conversion/Estimators.h for block_topk: the mean-pool
// scorer's stages, the selection both scorers end in, and the block stages'
// dispatch (the antidiagonal scorer's stages are in AntidiagonalStages.cpp). Each
// stage is written once, for one item, so that the GPU kernels (a thread
// per item) and the CPU function (a loop per stage) are the same code, and
// every sum runs in the order of the reference (lib/Core/Estimators.cpp),
// so that the CPU function reproduces it.
//
//===----------------------------------------------------------------------===//

#include "StageBuilders.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;


namespace {

/// pool: the mean of one column of one block of Q or K (rows that exist).
void emitPool(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value isQuery = cmp(b, loc, CmpIPredicate::slt, item, sh.pooledKeysAt);
  scf::IfOp::create(
      b, loc, isQuery,
      [&](OpBuilder &tb, Location tl) {
        // Query block I of head h: rows of positions [I*B, (I+1)*B) that exist.
        storeQueryBlockMean(tb, tl, env, sh, item);
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        Value keyItem = sub(eb, el, item, sh.pooledKeysAt);
        auto d = unflatten(eb, el, keyItem, {sh.headDim, env.blocks, sh.kvHeads});
        Value first = mul(eb, el, d[1], sh.block);
        Value last = min(eb, el, add(eb, el, first, sh.block), env.lk);
        // Pooled keys are stored column-major per (batch, KV head), so that
        // the score stage's threads (consecutive key blocks) read
        // consecutive entries.
        Value slice = add(eb, el, mul(eb, el, d[3], sh.kvHeads), d[2]);
        Value at = add(eb, el, sh.pooledKeysAt,
                       add(eb, el, mul(eb, el, add(eb, el, mul(eb, el, slice, sh.headDim), d[0]),
                                       env.blocks),
                           d[1]));
        Scalar es{eb, el};
        es.storeAt(columnMean(eb, el, env, true, d[3], d[2], d[0], first, last), env.pooled, at);
        scf::YieldOp::create(eb, el);
      });
}

/// score: scale * pooled query . pooled key for kEstimatorScoreRows query
/// blocks and kEstimatorScoreKeys key blocks, for the pairs J <= I of query
/// blocks holding a query; stored as f64 bits in table[b, h, I, J]. Each
/// product is summed over the columns in order, as the reference does.
void emitScore(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  constexpr int64_t rows = abi::kEstimatorScoreRows, keys = abi::kEstimatorScoreKeys;
  Value chunks = ceilDiv(b, loc, env.blocks, rows);
  auto d = unflatten(b, loc, item, {ceilDiv(b, loc, env.blocks, keys), chunks, sh.heads});
  Value firstKey = mul(b, loc, d[0], cst(b, loc, keys));
  Value firstRow = mul(b, loc, d[1], cst(b, loc, rows));
  Value head = d[2], batchIdx = d[3];
  Value lastBlock = sub(b, loc, env.blocks, cst(b, loc, 1));
  Value lastRow = min(b, loc, add(b, loc, firstRow, cst(b, loc, rows - 1)), lastBlock);
  Value any = cmp(b, loc, CmpIPredicate::sle, firstKey, lastRow);
  scf::IfOp::create(b, loc, any, [&](OpBuilder &tb, Location tl) {
    Scalar s{tb, tl};
    Value kvHead = div(tb, tl, head, sh.group);
    Value keySlice = add(tb, tl, mul(tb, tl, batchIdx, sh.kvHeads), kvHead);
    Value querySlice = add(tb, tl, mul(tb, tl, batchIdx, sh.heads), head);
    SmallVector<Value> rowBase; // pooled query row I's first entry (I clamped)
    for (int64_t i = 0; i < rows; ++i) {
      Value I = min(tb, tl, add(tb, tl, firstRow, cst(tb, tl, i)), lastBlock);
      rowBase.push_back(
          mul(tb, tl, add(tb, tl, mul(tb, tl, querySlice, env.blocks), I), sh.headDim));
    }
    SmallVector<Value> keyBlocks; // key blocks of the item (J clamped)
    for (int64_t c = 0; c < keys; ++c)
      keyBlocks.push_back(min(tb, tl, add(tb, tl, firstKey, cst(tb, tl, c)), lastBlock));
    SmallVector<Value> zeros(rows * keys, s.f64(0.0));
    auto dots = scf::ForOp::create(
        tb, tl, cst(tb, tl, 0), sh.headDim, cst(tb, tl, 1), zeros,
        [&](OpBuilder &nb, Location nl, Value column, ValueRange acc) {
          Scalar ns{nb, nl};
          Value keyColumn = add(
              nb, nl, sh.pooledKeysAt,
              mul(nb, nl, add(nb, nl, mul(nb, nl, keySlice, sh.headDim), column), env.blocks));
          SmallVector<Value> keyValues, queryValues;
          for (Value J : keyBlocks)
            keyValues.push_back(ns.loadAt(env.pooled, add(nb, nl, keyColumn, J)));
          for (Value base : rowBase)
            queryValues.push_back(ns.loadAt(env.pooled, add(nb, nl, base, column)));
          SmallVector<Value> next;
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t c = 0; c < keys; ++c)
              next.push_back(
                  ns.fadd(acc[i * keys + c], ns.fmul(queryValues[i], keyValues[c])));
          scf::YieldOp::create(nb, nl, next);
        });
    Value scale = s.f64(env.scale);
    for (int64_t i = 0; i < rows; ++i) {
      Value I = add(tb, tl, firstRow, cst(tb, tl, i));
      Value holdsQuery = cmp(tb, tl, CmpIPredicate::sgt,
                             mul(tb, tl, add(tb, tl, I, cst(tb, tl, 1)), sh.block), sh.shift);
      Value rowValid = arith::AndIOp::create(
          tb, tl, cmp(tb, tl, CmpIPredicate::slt, I, env.blocks), holdsQuery);
      Value rowAt = mul(tb, tl, add(tb, tl, mul(tb, tl, querySlice, env.blocks), I), env.blocks);
      for (int64_t c = 0; c < keys; ++c) {
        Value J = add(tb, tl, firstKey, cst(tb, tl, c));
        Value valid = arith::AndIOp::create(tb, tl, rowValid,
                                            cmp(tb, tl, CmpIPredicate::sle, J, I));
        scf::IfOp::create(tb, tl, valid, [&](OpBuilder &ib, Location il) {
          Scalar is{ib, il};
          is.storeAt(is.bitsOf(is.fmul(scale, dots.getResult(i * keys + c))), env.table,
                     add(ib, il, rowAt, J));
          scf::YieldOp::create(ib, il);
        });
      }
    }
    scf::YieldOp::create(tb, tl);
  });
}

/// select: turns row I of (b, h) from scores into the 0 / 1 selection.
void emitSelect(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  Value queryBlock = rem(b, loc, item, env.blocks);
  Value rowStart = mul(b, loc, item, env.blocks); // table row (b, h, I)
  Value one = cst(b, loc, 1);
  Value holdsQuery = blockHoldsQuery(b, loc, sh, queryBlock);
  scf::IfOp::create(
      b, loc, holdsQuery,
      [&](OpBuilder &tb, Location tl) {
        Scalar s{tb, tl};
        bool byMass = env.spec.tau > 0;
        auto score = [&](OpBuilder &nb, Location nl, Value j) {
          Scalar ns{nb, nl};
          return ns.doubleOf(ns.loadAt(env.table, add(nb, nl, rowStart, j)));
        };
        Value allowedEnd = add(tb, tl, queryBlock, one); // key blocks J <= I
        // The masses of the allowed blocks, for selection by mass: the
        // softmax of mean-pooled scores (max as std::max), or antidiagonal
        // masses normalised by their sum.
        std::function<Value(OpBuilder &, Location, Value)> massOf;
        if (byMass && env.spec.stride == 0) {
          Value rowMax = maxOver(tb, tl, cst(tb, tl, 0), allowedEnd, score);
          Value total = sumOver(tb, tl, cst(tb, tl, 0), allowedEnd,
                                [&](OpBuilder &nb, Location nl, Value j) -> Value {
                                  Scalar ns{nb, nl};
                                  return env.exp(nb, nl, ns.fsub(score(nb, nl, j), rowMax));
                                });
          massOf = [&env, rowMax, total](OpBuilder &nb, Location nl, Value x) -> Value {
            Scalar ns{nb, nl};
            return ns.fdiv(env.exp(nb, nl, ns.fsub(x, rowMax)), total);
          };
        } else if (byMass) {
          Value total = sumOver(tb, tl, cst(tb, tl, 0), allowedEnd, score);
          massOf = [total](OpBuilder &nb, Location nl, Value x) -> Value {
            Scalar ns{nb, nl};
            return ns.select(ns.fcmp(CmpFPredicate::OGT, total, ns.f64(0.0)),
                             ns.fdiv(x, total), ns.f64(0.0));
          };
        }
        // Forced blocks 0 and I, and what the others may still add.
        Value diagonal = cmp(tb, tl, CmpIPredicate::ne, queryBlock, cst(tb, tl, 0));
        Value need;
        if (byMass) {
          Value forced = s.fadd(massOf(tb, tl, score(tb, tl, cst(tb, tl, 0))),
                                s.select(diagonal, massOf(tb, tl, score(tb, tl, queryBlock)),
                                         s.f64(0.0)));
          need = s.fsub(s.f64(env.spec.tau), forced);
        } else {
          need = s.fsub(s.f64(double(env.spec.topK)),
                        s.select(diagonal, s.f64(2.0), s.f64(1.0)));
        }
        // The others (0 < J < I): scores become order codes in place.
        forEach(tb, tl, sub(tb, tl, queryBlock, one), [&](OpBuilder &nb, Location nl, Value i) {
          Scalar ns{nb, nl};
          Value j = add(nb, nl, i, one);
          Value x = score(nb, nl, j);
          ns.storeAt(ns.orderCode(byMass ? massOf(nb, nl, x) : x), env.table,
                     add(nb, nl, rowStart, j));
        });
        auto weight = [&](Scalar &ns, Value code) {
          return byMass ? ns.keyOf(code) : ns.f64(1.0);
        };
        // W(t): the weight of the others whose code is above t.
        auto weightAbove = [&](OpBuilder &nb, Location nl, Value t) {
          return sumOver(nb, nl, one, queryBlock, [&](OpBuilder &lb, Location ll, Value j) {
            Scalar ls{lb, ll};
            Value code = ls.loadAt(env.table, add(lb, ll, rowStart, j));
            return ls.select(ls.icmp(CmpIPredicate::ugt, code, t), weight(ls, code),
                             ls.f64(0.0));
          });
        };
        // The least T with W(T) < need, by bisection over all 2^64 codes.
        auto bisect = scf::ForOp::create(
            tb, tl, cst(tb, tl, 0), cst(tb, tl, 64), one, ValueRange{s.i64(0), s.i64(-1)},
            [&](OpBuilder &nb, Location nl, Value, ValueRange range) {
              Scalar ns{nb, nl};
              Value lo = range[0], hi = range[1];
              Value mid = arith::AddIOp::create(
                  nb, nl, lo,
                  arith::ShRUIOp::create(nb, nl, arith::SubIOp::create(nb, nl, hi, lo),
                                         ns.i64(1)));
              Value fits = ns.fcmp(CmpFPredicate::OLT, weightAbove(nb, nl, mid), need);
              Value open = ns.icmp(CmpIPredicate::ult, lo, hi);
              Value newHi = ns.select(arith::AndIOp::create(nb, nl, open, fits), mid, hi);
              Value newLo = ns.select(
                  arith::AndIOp::create(
                      nb, nl, open,
                      arith::XOrIOp::create(nb, nl, fits,
                                            arith::ConstantIntOp::create(nb, nl, 1, 1))),
                  arith::AddIOp::create(nb, nl, mid, ns.i64(1)), lo);
              scf::YieldOp::create(nb, nl, ValueRange{newLo, newHi});
            });
        Value threshold = bisect.getResult(0);
        // Keys above T are kept; keys equal to T in block order while the
        // weight taken stays below need.
        Value taken = weightAbove(tb, tl, threshold);
        scf::ForOp::create(
            tb, tl, cst(tb, tl, 0), env.blocks, one, ValueRange{taken},
            [&](OpBuilder &nb, Location nl, Value j, ValueRange acc) {
              Scalar ns{nb, nl};
              Value forced = arith::OrIOp::create(
                  nb, nl, cmp(nb, nl, CmpIPredicate::eq, j, cst(nb, nl, 0)),
                  cmp(nb, nl, CmpIPredicate::eq, j, queryBlock));
              Value other = arith::AndIOp::create(
                  nb, nl, cmp(nb, nl, CmpIPredicate::sgt, j, cst(nb, nl, 0)),
                  cmp(nb, nl, CmpIPredicate::slt, j, queryBlock));
              Value at = add(nb, nl, rowStart, j);
              auto decided = scf::IfOp::create(
                  nb, nl, other,
                  [&](OpBuilder &ob, Location ol) {
                    Scalar os{ob, ol};
                    Value code = os.loadAt(env.table, at);
                    Value tie = os.icmp(CmpIPredicate::eq, code, threshold);
                    Value kept = arith::OrIOp::create(
                        ob, ol, os.icmp(CmpIPredicate::ugt, code, threshold),
                        arith::AndIOp::create(ob, ol, tie,
                                              os.fcmp(CmpFPredicate::OLT, acc[0], need)));
                    Value next = os.select(tie, os.fadd(acc[0], weight(os, code)), acc[0]);
                    scf::YieldOp::create(ob, ol, ValueRange{kept, next});
                  },
                  [&](OpBuilder &ob, Location ol) {
                    scf::YieldOp::create(ob, ol, ValueRange{forced, acc[0]});
                  });
              Value kept = arith::ExtUIOp::create(nb, nl, nb.getI64Type(), decided.getResult(0));
              ns.storeAt(kept, env.table, at);
              scf::YieldOp::create(nb, nl, ValueRange{decided.getResult(1)});
            });
        scf::YieldOp::create(tb, tl);
      },
      [&](OpBuilder &eb, Location el) {
        // A query block without queries (Lq < Lk) keeps nothing.
        forEach(eb, el, env.blocks, [&](OpBuilder &nb, Location nl, Value j) {
          Scalar ns{nb, nl};
          ns.storeAt(ns.i64(0), env.table, add(nb, nl, rowStart, j));
        });
        scf::YieldOp::create(eb, el);
      });
}

} // namespace

Value stages::emitBlockItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  Shape sh(b, loc, env);
  Value slices = mul(b, loc, env.batch, sh.heads);
  Value items;
  assert((env.spec.stride == 0 || stage == kSelect) &&
         "the antidiagonal pool and score are tile stages");
  switch (stage) {
  case kPool:
    items = mul(b, loc, mul(b, loc, mul(b, loc, env.batch, add(b, loc, sh.heads, sh.kvHeads)),
                            env.blocks),
                sh.headDim);
    break;
  case kScore:
    items = mul(b, loc,
                mul(b, loc, slices, ceilDiv(b, loc, env.blocks, abi::kEstimatorScoreRows)),
                ceilDiv(b, loc, env.blocks, abi::kEstimatorScoreKeys));
    break;
  default:
    items = mul(b, loc, slices, env.blocks);
    break;
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), items);
}

void stages::emitBlockItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                           Value item) {
  assert((env.spec.stride == 0 || stage == kSelect) &&
         "the antidiagonal pool and score are tile stages");
  switch (stage) {
  case kPool:
    return emitPool(b, loc, env, item);
  case kScore:
    return emitScore(b, loc, env, item);
  default:
    return emitSelect(b, loc, env, item);
  }
}
