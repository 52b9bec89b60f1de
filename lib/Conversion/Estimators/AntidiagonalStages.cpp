//===- AntidiagonalStages.cpp - XAttention's scorer as tile stages --------===//
//
// The pool and score stages of block_topk with the antidiagonal scorer
// (sattn/Conversion/Estimators.h, docs/ESTIMATORS.md), both tile stages:
//   pool  (tile: slice, abi::antidiagonalPoolTile's group rows): the
//         softmax maximum and sum of each group row's logits over key
//         groups r <= p, in two
//         sweeps over windows of key groups (the maxima, then the sums);
//         tensor-core builds take one sweep with a running maximum (their
//         logits are f32 sums already, docs/ESTIMATORS.md)
//   score (tile: slice, query block, a run of key blocks): the mass of
//         each block pair, its group rows' probabilities added in the
//         reference's order (rows p ascending, then key groups r)
// A group logit is (scale / S) * sum over t < S of q[pS + S-1-t] . k[rS + t]:
// for each term t a tile loads its rows' t-th queries and its window's t-th
// keys (S keys apart) into shared memory and adds the dot products to the
// tile's sums (LogitTiles.h). Every sum runs in the order of the reference
// (lib/Core/Estimators.cpp), so that the tables equal it bit for bit. Why
// tiles: item by item, each logit re-read its S x D inputs from global
// memory each of the three times it was needed (2.5 s at 32K on an H100,
// as tiles 85 ms).
//
//===----------------------------------------------------------------------===//

#include "LogitTiles.h"
#include "TileSoftmax.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// What both tile stages start from: the slice sizes, the group count and
/// the first group row with a softmax row ((Lk - Lq) / S: earlier groups
/// hold no query), and the logits' factor scale / S.
struct GroupTileEnv {
  Shape sh;
  int64_t stride;
  Value groups, firstGroup;
  double factor;
  GroupTileEnv(OpBuilder &b, Location loc, const EstimatorEnv &env)
      : sh(b, loc, env), stride(env.spec.stride), groups(ceilDiv(b, loc, env.lk, stride)),
        firstGroup(div(b, loc, sh.shift, cst(b, loc, stride))), factor(env.scale / double(stride)) {
  }
};

/// Slot (i, w) of a tile's sums, `slotsAt` entries into the f64 buffer.
Value sumSlot(OpBuilder &b, Location loc, const LogitTile &ts, int64_t slotsAt, Value i, Value w) {
  return add(b, loc, cst(b, loc, slotsAt), add(b, loc, mul(b, loc, i, cst(b, loc, ts.keys)), w));
}

/// The tile's group logits before the factor: slot (i, w) gets the sum over
/// t of q[a] . k[(r0 + w) S + t], a = (p0 + i) S + S-1-t, over the terms
/// whose query and key lie in the sequence (the reference skips the
/// others), in order of t.
void emitGroupDotSums(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                      const LogitTile &ts, const TileSlice &sl, const GroupTileEnv &ge, Value p0,
                      Value r0, int64_t slotsAt) {
  Value stride = cst(b, loc, ge.stride);
  auto positionOf = [&](OpBuilder &nb, Location nl, Value t, Value i) {
    Value groupEnd = mul(nb, nl, add(nb, nl, add(nb, nl, p0, i), cst(nb, nl, 1)), stride);
    return sub(nb, nl, sub(nb, nl, groupEnd, cst(nb, nl, 1)), t);
  };
  auto queryInside = [&](OpBuilder &nb, Location nl, Value a) -> Value {
    return arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sge, a, ge.sh.shift),
                                 cmp(nb, nl, CmpIPredicate::slt, a, env.lk));
  };
  // Term t's rows (the queries S-1-t into each group, zero outside the
  // sequence) and keys (t into each key group, zero past the keys).
  auto loadTerm = [&](OpBuilder &tb, Location tl, Value t) {
    emitTileQueryLoadPhase(
        tb, tl, env, run, ts, sl,
        [&](OpBuilder &nb, Location nl, Value i) -> QueryRowRef {
          Value a = positionOf(nb, nl, t, i);
          Value clamped =
              max(nb, nl, min(nb, nl, a, sub(nb, nl, env.lk, cst(nb, nl, 1))), ge.sh.shift);
          return {sub(nb, nl, clamped, ge.sh.shift), queryInside(nb, nl, a)};
        },
        add(tb, tl, mul(tb, tl, r0, stride), t), /*keys=*/true, ge.stride);
  };
  if (run.tensorLogitTerms && ts.tensorRows(env.spec.tensorLogits)) {
    // On tensor cores the terms' products accumulate in f32 across the
    // terms' loads (a term outside the sequence multiplies zeros: it adds
    // nothing, as the reference skips it), one hand-over per window.
    run.tensorLogitTerms(b, loc, ts.tensorBlock(), ge.stride, loadTerm,
                         [&](OpBuilder &nb, Location nl, Value i, Value w, Value sum) {
                           Scalar ns{nb, nl};
                           ns.storeAt(arith::ExtFOp::create(nb, nl, nb.getF64Type(), sum),
                                      run.shared, sumSlot(nb, nl, ts, slotsAt, i, w));
                         });
    return;
  }
  run.phase(b, loc, cst(b, loc, ts.rows * ts.keys), [&](OpBuilder &pb, Location pl, Value i) {
    Scalar s{pb, pl};
    s.storeAt(s.f64(0.0), run.shared, add(pb, pl, cst(pb, pl, slotsAt), i));
  });
  forEach(b, loc, stride, [&](OpBuilder &tb, Location tl, Value t) {
    loadTerm(tb, tl, t);
    emitTileLogitPhase(
        tb, tl, env, run, ts, /*inputRows=*/true,
        [&](OpBuilder &nb, Location nl, Value i, Value w, Value dot) {
          Value key = add(nb, nl, mul(nb, nl, add(nb, nl, r0, w), stride), t);
          Value valid = arith::AndIOp::create(nb, nl, queryInside(nb, nl, positionOf(nb, nl, t, i)),
                                              cmp(nb, nl, CmpIPredicate::slt, key, env.lk));
          scf::IfOp::create(nb, nl, valid, [&](OpBuilder &vb, Location vl) {
            Scalar vs{vb, vl};
            Value slot = sumSlot(vb, vl, ts, slotsAt, i, w);
            vs.storeAt(vs.fadd(vs.loadAt(run.shared, slot), dot), run.shared, slot);
            scf::YieldOp::create(vb, vl);
          });
        },
        /*scaled=*/false);
  });
}

/// Where pool's sums start in the f64 buffer: after the tile's f64 rows, or
/// at 0 on tensor cores, whose rows sit in the key buffer.
int64_t poolSlotsAt(const LogitTile &ts, const plan::EstimatorSpec &spec) {
  return ts.tensorRows(spec.tensorLogits) ? 0 : ts.rowEntries();
}

/// Key groups of a window from r0 that row p takes (r <= p), at most `keys`.
Value takenKeys(OpBuilder &b, Location loc, const LogitTile &ts, Value p, Value r0) {
  Value reach = add(b, loc, sub(b, loc, p, r0), cst(b, loc, 1));
  return max(b, loc, cst(b, loc, 0), min(b, loc, reach, cst(b, loc, ts.keys)));
}

/// pool: tile (slice, antidiagonalPoolTile rows group rows from p0: 16, or
/// 32 on tensor cores at head_dim <= 128). Rows before the
/// first group are computed with the others but not stored. The maxima
/// fold every window's logits of r <= p (a maximum does not depend on the
/// order); the sums add exp(logit - maximum) over r ascending, a window at
/// a time, as the reference's softmax does. Written to the scratch as (max,
/// sum) per (slice, group row).
void emitRowStatsTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                      const TileRunner &run) {
  GroupTileEnv ge(b, loc, env);
  KernelOp kernel = env.kernel;
  int64_t headDim = kernel.getHeadDim();
  LogitTile ts(abi::antidiagonalPoolTile(headDim, env.spec.tensorLogits), headDim,
               env.spec.tensorLogits);
  Value rows = cst(b, loc, ts.rows);
  Value rowTiles = ceilDiv(b, loc, ge.groups, ts.rows);
  Value p0 = mul(b, loc, rem(b, loc, tile, rowTiles), rows);
  TileSlice sl(b, loc, env, div(b, loc, tile, rowTiles));
  Value pEnd = min(b, loc, add(b, loc, p0, rows), ge.groups);
  int64_t slotsAt = poolSlotsAt(ts, env.spec);
  int64_t maxAt = slotsAt + ts.rows * ts.keys, sumAt = maxAt + ts.rows;
  auto stat = [&](OpBuilder &nb, Location nl, int64_t at, Value i) {
    return add(nb, nl, cst(nb, nl, at), i);
  };
  Value windows = ceilDiv(b, loc, pEnd, ts.keys);
  Value someRow = cmp(b, loc, CmpIPredicate::sgt, pEnd, ge.firstGroup);
  scf::IfOp::create(b, loc, someRow, [&](OpBuilder &tb, Location tl) {
    // A line per row; its members are the window's key groups r <= p.
    auto slot = [&](OpBuilder &nb, Location nl, Value i, Value w) {
      return sumSlot(nb, nl, ts, slotsAt, i, w);
    };
    auto taken = [&](OpBuilder &nb, Location nl, Value i, Value window) {
      Value r0 = mul(nb, nl, window, cst(nb, nl, ts.keys));
      return takenKeys(nb, nl, ts, add(nb, nl, p0, i), r0);
    };
    TileSoftmaxLines sm{ts.rows, ts.keys, maxAt, sumAt, ge.factor, slot, taken};
    // Tensor-core builds (whose logits already differ from the reference's
    // by f32 roundings) take one sweep with a running maximum: the logits
    // of every window once instead of twice.
    emitSoftmaxSweeps(tb, tl, env, run, sm, windows, ts.tensorRows(env.spec.tensorLogits),
                      [&](OpBuilder &wb, Location wl, Value window) {
                        Value r0 = mul(wb, wl, window, cst(wb, wl, ts.keys));
                        emitGroupDotSums(wb, wl, env, run, ts, sl, ge, p0, r0, slotsAt);
                      });
    run.phase(tb, tl, rows, [&](OpBuilder &pb, Location pl, Value i) {
      Value p = add(pb, pl, p0, i);
      Value stored =
          arith::AndIOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::sge, p, ge.firstGroup),
                                cmp(pb, pl, CmpIPredicate::slt, p, ge.groups));
      scf::IfOp::create(pb, pl, stored, [&](OpBuilder &sb, Location storeLoc) {
        Scalar s{sb, storeLoc};
        Value at = mul(sb, storeLoc, add(sb, storeLoc, mul(sb, storeLoc, sl.index, ge.groups), p),
                       cst(sb, storeLoc, 2));
        s.storeAt(s.loadAt(run.shared, stat(sb, storeLoc, maxAt, i)), env.pooled, at);
        s.storeAt(s.loadAt(run.shared, stat(sb, storeLoc, sumAt, i)), env.pooled,
                  add(sb, storeLoc, at, cst(sb, storeLoc, 1)));
        scf::YieldOp::create(sb, storeLoc);
      });
    });
    scf::YieldOp::create(tb, tl);
  });
}

/// score: tile (slice, query block I, key blocks [J0, J0 + perTile)), when
/// J0 <= I and the block holds a query. The block's group rows, `rows` at a
/// time, meet the windows of key groups the rows reach; each window's
/// logits become probabilities exp(logit - max) / sum with the rows' pool
/// statistics, and a thread per key block adds those of its block, rows
/// ascending, then key groups (a window holds whole key blocks, or the
/// tile takes one row at a time: the reference's order either way); on
/// tensor-core builds a thread per (key block, row) sums the row's part
/// first, then a thread per key block adds the rows' parts. The masses go
/// to table[b, h, I, J] as f64 bits.
void emitBlockMassTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                       const TileRunner &run) {
  GroupTileEnv ge(b, loc, env);
  KernelOp kernel = env.kernel;
  int64_t headDim = kernel.getHeadDim();
  int64_t groupsPerBlock = env.spec.block / env.spec.stride;
  LogitTile ts(abi::antidiagonalMassTile(headDim, groupsPerBlock), headDim,
               env.spec.tensorLogits);
  int64_t perTile = abi::antidiagonalMassBlocks(headDim, groupsPerBlock);
  Value blockGroups = cst(b, loc, groupsPerBlock);
  auto d = unflatten(b, loc, tile, {ceilDiv(b, loc, env.blocks, perTile), env.blocks});
  Value j0 = mul(b, loc, d[0], cst(b, loc, perTile)), queryBlock = d[1];
  TileSlice sl(b, loc, env, d[2]);
  int64_t slotsAt = ts.rowEntries(), statsAt = slotsAt + ts.rows * ts.keys,
          massAt = statsAt + 2 * ts.rows, partialAt = massAt + perTile;
  bool splitFold = ts.tensorRows(env.spec.tensorLogits);
  auto massSlot = [&](OpBuilder &nb, Location nl, Value kb) {
    return add(nb, nl, cst(nb, nl, massAt), kb);
  };
  auto statSlot = [&](OpBuilder &nb, Location nl, Value i, int64_t which) {
    return add(nb, nl, cst(nb, nl, statsAt + which), mul(nb, nl, i, cst(nb, nl, 2)));
  };
  Value valid = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sle, j0, queryBlock),
                                      blockHoldsQuery(b, loc, ge.sh, queryBlock));
  scf::IfOp::create(b, loc, valid, [&](OpBuilder &tb, Location tl) {
    Value rowsFrom = max(tb, tl, mul(tb, tl, queryBlock, blockGroups), ge.firstGroup);
    Value rowsTo =
        min(tb, tl, mul(tb, tl, add(tb, tl, queryBlock, cst(tb, tl, 1)), blockGroups), ge.groups);
    // Key groups the rows reach (r <= p < rowsTo) in the tile's blocks.
    Value keysFrom = mul(tb, tl, j0, blockGroups);
    Value keysTo =
        min(tb, tl, mul(tb, tl, add(tb, tl, j0, cst(tb, tl, perTile)), blockGroups), rowsTo);
    Value chunks = ceilDiv(tb, tl, sub(tb, tl, rowsTo, rowsFrom), ts.rows);
    Value windows = ceilDiv(tb, tl, sub(tb, tl, keysTo, keysFrom), ts.keys);
    run.phase(tb, tl, cst(tb, tl, perTile), [&](OpBuilder &pb, Location pl, Value kb) {
      Scalar s{pb, pl};
      s.storeAt(s.f64(0.0), run.shared, massSlot(pb, pl, kb));
    });
    forEach(tb, tl, chunks, [&](OpBuilder &cb, Location cl, Value chunk) {
      Value p0 = add(cb, cl, rowsFrom, mul(cb, cl, chunk, cst(cb, cl, ts.rows)));
      auto isRow = [&](OpBuilder &nb, Location nl, Value i) {
        return cmp(nb, nl, CmpIPredicate::slt, add(nb, nl, p0, i), rowsTo);
      };
      run.phase(cb, cl, cst(cb, cl, ts.rows), [&](OpBuilder &pb, Location pl, Value i) {
        Scalar s{pb, pl};
        Value p = min(pb, pl, add(pb, pl, p0, i), sub(pb, pl, rowsTo, cst(pb, pl, 1)));
        Value at = mul(pb, pl, add(pb, pl, mul(pb, pl, sl.index, ge.groups), p), cst(pb, pl, 2));
        s.storeAt(s.loadAt(env.pooled, at), run.shared, statSlot(pb, pl, i, 0));
        s.storeAt(s.loadAt(env.pooled, add(pb, pl, at, cst(pb, pl, 1))), run.shared,
                  statSlot(pb, pl, i, 1));
      });
      forEach(cb, cl, windows, [&](OpBuilder &wb, Location wl, Value window) {
        Value r0 = add(wb, wl, keysFrom, mul(wb, wl, window, cst(wb, wl, ts.keys)));
        emitGroupDotSums(wb, wl, env, run, ts, sl, ge, p0, r0, slotsAt);
        run.phase(
            wb, wl, cst(wb, wl, ts.rows * ts.keys), [&](OpBuilder &pb, Location pl, Value at) {
              Value i = div(pb, pl, at, cst(pb, pl, ts.keys));
              Value w = rem(pb, pl, at, cst(pb, pl, ts.keys));
              Value taken = takenKeys(pb, pl, ts, add(pb, pl, p0, i), r0);
              Value used = arith::AndIOp::create(pb, pl, isRow(pb, pl, i),
                                                 cmp(pb, pl, CmpIPredicate::slt, w, taken));
              scf::IfOp::create(pb, pl, used, [&](OpBuilder &eb, Location el) {
                Scalar s{eb, el};
                Value slot = sumSlot(eb, el, ts, slotsAt, i, w);
                Value logit = s.fmul(s.f64(ge.factor), s.loadAt(run.shared, slot));
                Value e =
                    env.exp(eb, el, s.fsub(logit, s.loadAt(run.shared, statSlot(eb, el, i, 0))));
                s.storeAt(s.fdiv(e, s.loadAt(run.shared, statSlot(eb, el, i, 1))), run.shared,
                          slot);
                scf::YieldOp::create(eb, el);
              });
            });
        // Block kb's key groups within the window, w in [wFrom, wTo), and
        // row i's sum of their probabilities added to `init` in key order.
        auto rowBlockSum = [&](OpBuilder &nb, Location nl, Value kb, Value i, Value init) {
          Scalar ns{nb, nl};
          Value blockStart = mul(nb, nl, add(nb, nl, j0, kb), blockGroups);
          Value wFrom = max(nb, nl, sub(nb, nl, blockStart, r0), cst(nb, nl, 0));
          Value wTo = min(nb, nl, sub(nb, nl, add(nb, nl, blockStart, blockGroups), r0),
                          cst(nb, nl, ts.keys));
          Value taken = takenKeys(nb, nl, ts, add(nb, nl, p0, i), r0);
          Value end = ns.select(isRow(nb, nl, i), min(nb, nl, wTo, taken), wFrom);
          // Not unrolled: at sm_80's 64 registers the unrolled fold spilled.
          return foldInOrder(
              nb, nl, wFrom, end, init, /*unroll=*/1,
              [&](OpBuilder &lb, Location ll, Value w) -> Value {
                Scalar ls{lb, ll};
                return ls.loadAt(run.shared, sumSlot(lb, ll, ts, slotsAt, i, w));
              },
              [](Scalar &fs, Value x, Value y) { return fs.fadd(x, y); });
        };
        auto addRows = [&](OpBuilder &pb, Location pl, Value kb,
                           function_ref<Value(OpBuilder &, Location, Value, Value)> step) {
          Scalar s{pb, pl};
          auto rowsLoop = scf::ForOp::create(
              pb, pl, cst(pb, pl, 0), cst(pb, pl, ts.rows), cst(pb, pl, 1),
              ValueRange{s.loadAt(run.shared, massSlot(pb, pl, kb))},
              [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
                scf::YieldOp::create(nb, nl, ValueRange{step(nb, nl, i, acc[0])});
              });
          s.storeAt(rowsLoop.getResult(0), run.shared, massSlot(pb, pl, kb));
        };
        if (!splitFold) {
          // The reference's order: a thread per key block adds rows
          // ascending, each row's key groups in order, into the mass.
          run.phase(wb, wl, cst(wb, wl, perTile), [&](OpBuilder &pb, Location pl, Value kb) {
            addRows(pb, pl, kb, [&](OpBuilder &nb, Location nl, Value i, Value acc) {
              return rowBlockSum(nb, nl, kb, i, acc);
            });
          });
          return;
        }
        // Tensor-core builds (f32 logits already) sum each (key block, row)
        // in its own thread, then each block's rows: two folds of a
        // block's side instead of one of its whole area.
        run.phase(wb, wl, cst(wb, wl, perTile * ts.rows), [&](OpBuilder &pb, Location pl,
                                                             Value item) {
          Scalar s{pb, pl};
          Value kb = div(pb, pl, item, cst(pb, pl, ts.rows));
          Value i = rem(pb, pl, item, cst(pb, pl, ts.rows));
          s.storeAt(rowBlockSum(pb, pl, kb, i, s.f64(0.0)), run.shared,
                    add(pb, pl, cst(pb, pl, partialAt), item));
        });
        run.phase(wb, wl, cst(wb, wl, perTile), [&](OpBuilder &pb, Location pl, Value kb) {
          addRows(pb, pl, kb, [&](OpBuilder &nb, Location nl, Value i, Value acc) {
            Scalar ns{nb, nl};
            Value at = add(nb, nl, cst(nb, nl, partialAt),
                           add(nb, nl, mul(nb, nl, kb, cst(nb, nl, ts.rows)), i));
            return ns.fadd(acc, ns.loadAt(run.shared, at));
          });
        });
      });
    });
    run.phase(tb, tl, cst(tb, tl, perTile), [&](OpBuilder &pb, Location pl, Value kb) {
      Value keyBlock = add(pb, pl, j0, kb);
      scf::IfOp::create(
          pb, pl, cmp(pb, pl, CmpIPredicate::sle, keyBlock, queryBlock),
          [&](OpBuilder &sb, Location storeLoc) {
            Scalar s{sb, storeLoc};
            Value row = add(sb, storeLoc, mul(sb, storeLoc, sl.index, env.blocks), queryBlock);
            Value at = add(sb, storeLoc, mul(sb, storeLoc, row, env.blocks), keyBlock);
            s.storeAt(s.bitsOf(s.loadAt(run.shared, massSlot(sb, storeLoc, kb))), env.table, at);
            scf::YieldOp::create(sb, storeLoc);
          });
    });
    scf::YieldOp::create(tb, tl);
  });
}

} // namespace

Value stages::emitAntidiagonalTiles(OpBuilder &b, Location loc, int stage,
                                    const EstimatorEnv &env) {
  KernelOp kernel = env.kernel;
  int64_t headDim = kernel.getHeadDim();
  Value slices = mul(b, loc, env.batch, cst(b, loc, kernel.getHeads()));
  Value perSlice;
  if (stage == kPool) {
    Value groups = ceilDiv(b, loc, env.lk, env.spec.stride);
    perSlice =
        ceilDiv(b, loc, groups, abi::antidiagonalPoolTile(headDim, env.spec.tensorLogits).rows);
  } else {
    int64_t perTile = abi::antidiagonalMassBlocks(headDim, env.spec.block / env.spec.stride);
    perSlice = mul(b, loc, env.blocks, ceilDiv(b, loc, env.blocks, perTile));
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), mul(b, loc, slices, perSlice));
}

TileBuffers stages::antidiagonalTileBuffers(int stage, const plan::EstimatorSpec &spec,
                                            int64_t headDim) {
  int64_t groupsPerBlock = spec.block / spec.stride;
  abi::EstimatorTile tile =
      stage == kPool ? abi::antidiagonalPoolTile(headDim, spec.tensorLogits)
                     : abi::antidiagonalMassTile(headDim, groupsPerBlock);
  LogitTile ts(tile, headDim, spec.tensorLogits);
  TileBuffers buffers;
  // Rows, sums, two statistics per row; score's masses per key block.
  // Score on tensor cores: also a partial sum per (key block, row).
  int64_t perTile = abi::antidiagonalMassBlocks(headDim, groupsPerBlock);
  int64_t partials = ts.tensorRows(spec.tensorLogits) ? perTile * ts.rows : 0;
  int64_t slotsAt = stage == kPool ? poolSlotsAt(ts, spec) : ts.rowEntries();
  buffers.f64Entries =
      slotsAt + ts.rows * ts.keys + 2 * ts.rows + (stage == kPool ? 0 : perTile + partials);
  buffers.keyEntries = ts.keyBufferEntries(spec.tensorLogits);
  return buffers;
}

void stages::emitAntidiagonalTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                                  Value tile, const TileRunner &run) {
  if (stage == kPool)
    return emitRowStatsTile(b, loc, env, tile, run);
  emitBlockMassTile(b, loc, env, tile, run);
}
