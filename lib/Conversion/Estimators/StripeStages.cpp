//===- StripeStages.cpp - AnchorAttention's stripe estimator --------------===//
//
// Implements sattn/Conversion/Estimators.h for `stripe` (docs/ESTIMATORS.md,
// "stripe") in three stages:
//   anchors (tile: slice, block of query rows): each query's largest scaled
//           logit over its anchor region (the first group and its own
//           group up to itself), the regions' keys streamed through shared
//           memory a window at a time (LogitTiles.h)
//   pool    (item: slice, unit, query block, column): the mean of the
//           block's query rows in the column, or of their anchors
//   compare (tile: slice, unit, window of keys): 1 when the key lies
//           between the unit's two anchor regions and some query block of
//           the unit scores it within theta of its pooled anchor, else 0
// Every sum runs in the order of the reference (lib/Core/
// StripeEstimator.cpp), so that the CPU function reproduces it exactly. Why
// tiles: as items, anchors and compare re-read their rows from global
// memory for every logit, 1 s and 37 ms at 32K on an H100 (as tiles 34 ms
// and 1.5 ms).
//
//===----------------------------------------------------------------------===//

#include "LogitTiles.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// stripe's sizes and scratch offsets (abi::EstimatorShape::stripeScratch)
/// as index values.
struct StripeShape {
  Value slices, unit, units, group, step, pooledAt, pooledEntries;
  StripeShape(OpBuilder &b, Location loc, const EstimatorEnv &env) {
    KernelOp k = env.kernel;
    slices = mul(b, loc, env.batch, cst(b, loc, k.getHeads()));
    unit = cst(b, loc, env.spec.block * env.spec.step);
    units = ceilDiv(b, loc, env.lk, env.spec.block * env.spec.step);
    group = cst(b, loc, env.spec.group);
    step = cst(b, loc, env.spec.step);
    pooledAt = mul(b, loc, slices, env.lk);
    pooledEntries = cst(b, loc, k.getHeadDim() + 1);
  }
};

/// An item of the stages over (slice, unit, inner index): its digits, and
/// the slice's query head and batch element.
struct UnitItem {
  Value inner, unit, slice, head, batch;
  UnitItem(OpBuilder &b, Location loc, const Shape &sh, const StripeShape &ss, Value item,
           Value innerCount) {
    auto d = unflatten(b, loc, item, {innerCount, ss.units});
    inner = d[0];
    unit = d[1];
    slice = d[2];
    head = rem(b, loc, slice, sh.heads);
    batch = div(b, loc, slice, sh.heads);
  }
};

/// pool: entry `column` of query block `beta` of unit `u` (an item per
/// entry, so that a warp reads consecutive columns of a row): the mean of
/// the block's query rows in that column, or for column head_dim the mean
/// of their anchors; a block without queries gets an anchor of +inf, which
/// no score reaches (and no column means).
void emitPoolEntry(OpBuilder &b, Location loc, const EstimatorEnv &env, Value item) {
  Shape sh(b, loc, env);
  StripeShape ss(b, loc, env);
  Value column = rem(b, loc, item, ss.pooledEntries);
  Value blockItem = div(b, loc, item, ss.pooledEntries);
  UnitItem it(b, loc, sh, ss, blockItem, ss.step);
  Value beta = it.inner, u = it.unit, slice = it.slice, head = it.head, bIdx = it.batch;
  Value start = add(b, loc, mul(b, loc, u, ss.unit), mul(b, loc, beta, sh.block));
  Value first = max(b, loc, start, sh.shift);
  Value last = min(b, loc, add(b, loc, start, sh.block), env.lk);
  Value isAnchor = cmp(b, loc, CmpIPredicate::eq, column, sh.headDim);
  Value empty = cmp(b, loc, CmpIPredicate::sge, first, last);
  Scalar s{b, loc};
  auto mean = scf::IfOp::create(
      b, loc, isAnchor,
      [&](OpBuilder &tb, Location tl) {
        Value sum = sumOver(tb, tl, first, last, [&](OpBuilder &lb, Location ll, Value pos) {
          Scalar ls{lb, ll};
          return ls.loadAt(env.pooled, add(lb, ll, mul(lb, ll, slice, env.lk), pos));
        });
        scf::YieldOp::create(tb, tl, sum);
      },
      [&](OpBuilder &eb, Location el) {
        Value sum = sumOver(eb, el, first, last, [&](OpBuilder &lb, Location ll, Value pos) {
          return env.load(lb, ll, false, bIdx, head, sub(lb, ll, pos, sh.shift), column);
        });
        scf::YieldOp::create(eb, el, sum);
      });
  Value value = s.select(empty, s.f64(std::numeric_limits<double>::infinity()),
                         s.fdiv(mean.getResult(0), s.toF64(sub(b, loc, last, first))));
  Value stored =
      arith::OrIOp::create(b, loc, isAnchor, cmp(b, loc, CmpIPredicate::slt, first, last));
  scf::IfOp::create(b, loc, stored, [&](OpBuilder &tb, Location tl) {
    Scalar ts{tb, tl};
    ts.storeAt(
        value, env.pooled,
        add(tb, tl, add(tb, tl, ss.pooledAt, mul(tb, tl, blockItem, ss.pooledEntries)), column));
    scf::YieldOp::create(tb, tl);
  });
}

LogitTile stripeTileOf(const EstimatorEnv &env) {
  KernelOp kernel = env.kernel;
  return LogitTile(abi::stripeTile(kernel.getHeadDim()), kernel.getHeadDim(),
                   env.spec.tensorLogits);
}

/// What both tile stages start from: the tile's sizes, the slice and
/// stripe shapes, and the constants they use.
struct StripeTileEnv {
  LogitTile ts;
  Shape sh;
  StripeShape ss;
  Value zero, one, rows, keys;
  StripeTileEnv(OpBuilder &b, Location loc, const EstimatorEnv &env)
      : ts(stripeTileOf(env)), sh(b, loc, env), ss(b, loc, env), zero(cst(b, loc, 0)),
        one(cst(b, loc, 1)), rows(cst(b, loc, ts.rows)), keys(cst(b, loc, ts.keys)) {}
};

/// anchors: tile (slice, block of query rows). The keys of the rows' anchor
/// regions (the first group up to the block's last position, then from the
/// first row's group start, never inside the first group, to that position)
/// pass through shared memory a window at a time; each logit of a row's own
/// region goes into the running maximum of its (row, window key) slot, and
/// each row takes the maximum of its slots at the end. A maximum does not
/// depend on the order of its values (no logit is -0: every dot product
/// starts at +0; the fold skips NaNs as the reference's does), so the
/// anchors are the reference's bit for bit; a key that two windows reach
/// counts twice, the same maximum.
void emitAnchorTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                    const TileRunner &run) {
  StripeTileEnv te(b, loc, env);
  Value rowTiles = ceilDiv(b, loc, env.lq, te.ts.rows);
  Value r0 = mul(b, loc, rem(b, loc, tile, rowTiles), te.rows);
  TileSlice sl(b, loc, env, div(b, loc, tile, rowTiles));
  Value lastRow = sub(b, loc, min(b, loc, add(b, loc, r0, te.rows), env.lq), te.one);
  Value end = add(b, loc, add(b, loc, lastRow, te.sh.shift), te.one);
  Value firstWindows = ceilDiv(b, loc, min(b, loc, te.ss.group, end), te.ts.keys);
  Value localStart =
      max(b, loc, mul(b, loc, div(b, loc, add(b, loc, r0, te.sh.shift), te.ss.group), te.ss.group),
          te.ss.group);
  Value localWindows =
      ceilDiv(b, loc, max(b, loc, sub(b, loc, end, localStart), te.zero), te.ts.keys);
  // The running maximum of every (row, window key): each logit item owns
  // its slots, so no phase per window folds them; the rows fold them once.
  int64_t partialAt = te.ts.rowEntries();
  // Row r of the tile is query row r0 + r (clamped: rows past lq load
  // zeros and store nothing) at position row + shift.
  auto rowOf = [&](OpBuilder &nb, Location nl, Value r) {
    return min(nb, nl, add(nb, nl, r0, r), sub(nb, nl, env.lq, cst(nb, nl, 1)));
  };
  auto isRow = [&](OpBuilder &nb, Location nl, Value r) {
    return cmp(nb, nl, CmpIPredicate::slt, add(nb, nl, r0, r), env.lq);
  };
  auto partialSlot = [&](OpBuilder &nb, Location nl, Value r, Value w) {
    return add(nb, nl, cst(nb, nl, partialAt), add(nb, nl, mul(nb, nl, r, te.keys), w));
  };
  double minusInf = -std::numeric_limits<double>::infinity();

  run.phase(b, loc, mul(b, loc, te.rows, te.keys), [&](OpBuilder &pb, Location pl, Value i) {
    Scalar s{pb, pl};
    s.storeAt(s.f64(minusInf), run.shared, add(pb, pl, cst(pb, pl, partialAt), i));
  });
  emitTileQueryLoadPhase(
      b, loc, env, run, te.ts, sl,
      [&](OpBuilder &tb, Location tl, Value r) -> QueryRowRef {
        return {rowOf(tb, tl, r), isRow(tb, tl, r)};
      },
      te.zero);
  forEach(
      b, loc, add(b, loc, firstWindows, localWindows),
      [&](OpBuilder &wb, Location wl, Value window) {
        Scalar ws{wb, wl};
        Value inFirst = cmp(wb, wl, CmpIPredicate::slt, window, firstWindows);
        Value k0 = ws.select(
            inFirst, mul(wb, wl, window, te.keys),
            add(wb, wl, localStart, mul(wb, wl, sub(wb, wl, window, firstWindows), te.keys)));
        // The first window's keys came with the rows.
        scf::IfOp::create(wb, wl, cmp(wb, wl, CmpIPredicate::sgt, window, cst(wb, wl, 0)),
                          [&](OpBuilder &tb, Location tl) {
                            emitTileLoadPhase(tb, tl, env, run, te.ts, sl, nullptr, k0);
                            scf::YieldOp::create(tb, tl);
                          });
        emitTileLogitPhase(
            wb, wl, env, run, te.ts, /*inputRows=*/true,
            [&](OpBuilder &nb, Location nl, Value r, Value w, Value logit) {
              Scalar ns{nb, nl};
              Value pos = add(nb, nl, rowOf(nb, nl, r), te.sh.shift);
              Value groupStart = mul(nb, nl, div(nb, nl, pos, te.ss.group), te.ss.group);
              Value key = add(nb, nl, k0, w);
              Value inRegion = arith::AndIOp::create(
                  nb, nl, cmp(nb, nl, CmpIPredicate::sle, key, pos),
                  arith::OrIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::slt, key, te.ss.group),
                                       cmp(nb, nl, CmpIPredicate::sge, key, groupStart)));
              Value x = ns.select(inRegion, logit, ns.f64(minusInf));
              Value slot = partialSlot(nb, nl, r, w);
              Value acc = ns.loadAt(run.shared, slot);
              ns.storeAt(ns.select(ns.fcmp(CmpFPredicate::OLT, acc, x), x, acc), run.shared, slot);
            });
      });
  run.phase(b, loc, te.rows, [&](OpBuilder &pb, Location pl, Value r) {
    scf::IfOp::create(pb, pl, isRow(pb, pl, r), [&](OpBuilder &tb, Location tl) {
      Scalar s{tb, tl};
      Value anchor = maxOver(
          tb, tl, cst(tb, tl, 0), te.keys,
          [&](OpBuilder &nb, Location nl, Value w) {
            Scalar ns{nb, nl};
            return ns.loadAt(run.shared, partialSlot(nb, nl, r, w));
          },
          kFoldUnroll);
      Value pos = add(tb, tl, rowOf(tb, tl, r), te.sh.shift);
      s.storeAt(anchor, env.pooled, add(tb, tl, mul(tb, tl, sl.index, env.lk), pos));
      scf::YieldOp::create(tb, tl);
    });
  });
}

/// compare: tile (slice, unit u, window of keys). The unit's candidates are
/// the keys group <= key < its group start when it holds a query; a window
/// with some of them scores its keys against the unit's pooled query blocks
/// (loaded `rows` at a time) and marks a key when some block scores it
/// within theta of its pooled anchor (an "or": its order does not matter);
/// then the window's table entries are written, 0 for every other key.
void emitCompareTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                     const TileRunner &run) {
  StripeTileEnv te(b, loc, env);
  // Its rows are pooled means: on tensor cores each goes as a hi and a lo
  // row (stripeTileBuffers reserves their room).
  te.ts.splitRows = true;
  auto d = unflatten(b, loc, tile, {ceilDiv(b, loc, env.lk, te.ts.keys), te.ss.units});
  Value k0 = mul(b, loc, d[0], te.keys), u = d[1];
  TileSlice sl(b, loc, env, d[2]);
  Value unitRow = add(b, loc, mul(b, loc, sl.index, te.ss.units), u);
  Value unitStart = mul(b, loc, u, te.ss.unit);
  Value localStart = mul(b, loc, div(b, loc, unitStart, te.ss.group), te.ss.group);
  Value holdsQuery =
      cmp(b, loc, CmpIPredicate::sgt, add(b, loc, unitStart, te.ss.unit), te.sh.shift);
  Value someCandidate = arith::AndIOp::create(
      b, loc, holdsQuery,
      arith::AndIOp::create(b, loc,
                            cmp(b, loc, CmpIPredicate::sgt, add(b, loc, k0, te.keys), te.ss.group),
                            cmp(b, loc, CmpIPredicate::slt, k0, localStart)));
  int64_t flagsAt = te.ts.rowEntries();
  auto flagSlot = [&](OpBuilder &nb, Location nl, Value w) {
    return add(nb, nl, cst(nb, nl, flagsAt), w);
  };
  // Pooled entry `column` of the unit's query block beta (column head_dim:
  // its anchor).
  auto pooledAt = [&](OpBuilder &nb, Location nl, Value beta, Value column) {
    Value block = add(nb, nl, mul(nb, nl, unitRow, te.ss.step), beta);
    return add(nb, nl, add(nb, nl, te.ss.pooledAt, mul(nb, nl, block, te.ss.pooledEntries)),
               column);
  };

  run.phase(b, loc, te.keys, [&](OpBuilder &pb, Location pl, Value w) {
    Scalar s{pb, pl};
    s.storeAt(s.f64(0.0), run.shared, flagSlot(pb, pl, w));
  });
  scf::IfOp::create(b, loc, someCandidate, [&](OpBuilder &cb, Location cl) {
    emitTileLoadPhase(cb, cl, env, run, te.ts, sl, nullptr, k0);
    scf::ForOp::create(
        cb, cl, te.zero, te.ss.step, te.rows, ValueRange{},
        [&](OpBuilder &rb, Location rl, Value c0, ValueRange) {
          auto betaOf = [&](OpBuilder &nb, Location nl, Value r) { return add(nb, nl, c0, r); };
          auto isBlock = [&](OpBuilder &nb, Location nl, Value r) {
            return cmp(nb, nl, CmpIPredicate::slt, betaOf(nb, nl, r), te.ss.step);
          };
          emitTileLoadPhase(
              rb, rl, env, run, te.ts, sl,
              [&](OpBuilder &tb, Location tl, Value r, Value x) {
                Scalar s{tb, tl};
                Value beta = min(tb, tl, betaOf(tb, tl, r), sub(tb, tl, te.ss.step, te.one));
                return s.select(isBlock(tb, tl, r), s.loadAt(env.pooled, pooledAt(tb, tl, beta, x)),
                                s.f64(0.0));
              },
              k0, /*keys=*/false);
          emitTileLogitPhase(
              rb, rl, env, run, te.ts, /*inputRows=*/false,
              [&](OpBuilder &nb, Location nl, Value r, Value w, Value score) {
                scf::IfOp::create(nb, nl, isBlock(nb, nl, r), [&](OpBuilder &tb, Location tl) {
                  Scalar s{tb, tl};
                  Value anchor =
                      s.loadAt(env.pooled, pooledAt(tb, tl, betaOf(tb, tl, r), te.sh.headDim));
                  Value within =
                      s.fcmp(CmpFPredicate::OGE, s.fadd(score, s.f64(env.spec.theta)), anchor);
                  scf::IfOp::create(tb, tl, within, [&](OpBuilder &fb, Location fl) {
                    Scalar fs{fb, fl};
                    fs.storeAt(fs.f64(1.0), run.shared, flagSlot(fb, fl, w));
                    scf::YieldOp::create(fb, fl);
                  });
                  scf::YieldOp::create(tb, tl);
                });
              });
          scf::YieldOp::create(rb, rl);
        });
    scf::YieldOp::create(cb, cl);
  });
  run.phase(b, loc, te.keys, [&](OpBuilder &pb, Location pl, Value w) {
    Value key = add(pb, pl, k0, w);
    scf::IfOp::create(
        pb, pl, cmp(pb, pl, CmpIPredicate::slt, key, env.lk), [&](OpBuilder &tb, Location tl) {
          Scalar s{tb, tl};
          Value candidate = arith::AndIOp::create(
              tb, tl, holdsQuery,
              arith::AndIOp::create(tb, tl, cmp(tb, tl, CmpIPredicate::sge, key, te.ss.group),
                                    cmp(tb, tl, CmpIPredicate::slt, key, localStart)));
          Value marked =
              s.fcmp(CmpFPredicate::OEQ, s.loadAt(run.shared, flagSlot(tb, tl, w)), s.f64(1.0));
          Value kept = arith::AndIOp::create(tb, tl, candidate, marked);
          s.storeAt(s.select(kept, s.i64(1), s.i64(0)), env.table,
                    add(tb, tl, mul(tb, tl, unitRow, env.lk), key));
          scf::YieldOp::create(tb, tl);
        });
  });
}

} // namespace

Value stages::emitStripeTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  LogitTile ts = stripeTileOf(env);
  StripeShape ss(b, loc, env);
  Value perSlice = stage == kAnchors ? ceilDiv(b, loc, env.lq, ts.rows)
                                     : mul(b, loc, ss.units, ceilDiv(b, loc, env.lk, ts.keys));
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), mul(b, loc, ss.slices, perSlice));
}

TileBuffers stages::stripeTileBuffers(int stage, int64_t headDim, bool tensorLogits) {
  LogitTile ts(abi::stripeTile(headDim), headDim, tensorLogits);
  ts.splitRows = stage == kCompare;
  TileBuffers buffers;
  buffers.f64Entries = ts.rowEntries() + (stage == kAnchors ? ts.rows * ts.keys : ts.keys);
  buffers.keyEntries = ts.keyBufferEntries(tensorLogits);
  return buffers;
}

void stages::emitStripeTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                            Value tile, const TileRunner &run) {
  if (stage == kAnchors)
    return emitAnchorTile(b, loc, env, tile, run);
  emitCompareTile(b, loc, env, tile, run);
}

Value stages::emitStripeItems(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  assert(stage == kStripePool && "anchors and compare are tile stages");
  StripeShape ss(b, loc, env);
  Value blocks = mul(b, loc, mul(b, loc, ss.slices, ss.units), ss.step);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), mul(b, loc, blocks, ss.pooledEntries));
}

void stages::emitStripeItem(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                            Value item) {
  assert(stage == kStripePool && "anchors and compare are tile stages");
  emitPoolEntry(b, loc, env, item);
}
