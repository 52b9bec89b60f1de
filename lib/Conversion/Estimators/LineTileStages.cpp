//===- LineTileStages.cpp - vertical_slash's logit stages, tile by tile ---===//
//
// row_chunks and lines, the two stages of vertical_slash's estimator that
// compute logits of the last rows against every key (sattn/Conversion/
// Estimators.h). Item by item, each logit re-read its query and key rows
// from global memory, 32 different key rows per warp load: 47 ms per stage
// at 32K on an H200. As tile stages (abi::EstimatorTile) a block loads a
// few last rows and a window of keys (in their own type) into
// shared memory once and each thread computes a small column of logits
// from there (the load and logit phases of LogitTiles.h); the f64 sums keep
// the reference's order (every dot product over the head dimension in
// order, row sums over keys in order, column and diagonal sums over rows in
// order), so the tables stay bit for bit those of lib/Core/Estimators.cpp.
//
//===----------------------------------------------------------------------===//

#include "LogitTiles.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// The tile of stage `stage`.
LogitTile tileOf(int stage, int64_t headDim, bool tensorLogits) {
  return LogitTile(stage == kRowChunks ? abi::rowChunkTile(headDim) : abi::lineTile(headDim),
                   headDim, tensorLogits);
}

int64_t headDimOf(const EstimatorEnv &env) {
  KernelOp kernel = env.kernel;
  return kernel.getHeadDim();
}

/// A phase that loads last rows [r0, r0 + rows) of the slice's queries
/// and keys [k0, k0 + keys); rows past the last ones are 0.
void emitLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                   const LogitTile &ts, const LineShape &ls, const TileSlice &sl, Value r0,
                   Value k0) {
  emitTileQueryLoadPhase(b, loc, env, run, ts, sl,
                         [&](OpBuilder &tb, Location tl, Value rowInTile) -> QueryRowRef {
                           Value r = add(tb, tl, r0, rowInTile);
                           Value inside = cmp(tb, tl, CmpIPredicate::slt, r, ls.rows);
                           Value row = min(tb, tl, r, sub(tb, tl, ls.rows, cst(tb, tl, 1)));
                           LastRow last(tb, tl, env, ls, row);
                           return {last.queryRow, inside};
                         },
                         k0);
}

} // namespace

Value stages::emitLineTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  LineShape ls(b, loc, env);
  int64_t headDim = headDimOf(env);
  Value perSlice;
  if (stage == kRowChunks) {
    int64_t rows = abi::rowChunkTile(headDim).rows;
    perSlice = mul(b, loc, cst(b, loc, (env.spec.lastQ + rows - 1) / rows), ls.chunks);
  } else {
    abi::EstimatorTile t = abi::lineTile(headDim);
    perSlice = add(b, loc, ceilDiv(b, loc, env.lk, t.keys),
                   ceilDiv(b, loc, env.lk, t.keys - t.rows + 1));
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), mul(b, loc, ls.slices, perSlice));
}

TileBuffers stages::lineTileBuffers(int stage, int64_t headDim, bool tensorLogits) {
  LogitTile ts = tileOf(stage, headDim, tensorLogits);
  int64_t own = stage == kRowChunks ? ts.rows * abi::kEstimatorChunk + ts.rows
                                    : ts.rows * ts.keys + ts.keys;
  TileBuffers buffers;
  buffers.f64Entries = ts.rowEntries() + own;
  buffers.keyEntries = ts.keyBufferEntries(tensorLogits);
  return buffers;
}

/// row_chunks: tile (slice, block of rows, chunk c of 256 keys). The
/// chunk's logits of each row go to the f64 buffer window by window; then,
/// per row r (keys up to its position), the maximum M, the exponentials
/// exp(logit - M) in parallel, and their sum in key order, stored as
/// chunk c's (M, sum); (-inf, 0) for a chunk past the position.
void stages::emitRowChunkTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                              const TileRunner &run) {
  LogitTile ts = tileOf(kRowChunks, headDimOf(env), env.spec.tensorLogits);
  LineShape ls(b, loc, env);
  int64_t rowBlocks = (env.spec.lastQ + ts.rows - 1) / ts.rows;
  auto d = unflatten(b, loc, tile, {cst(b, loc, rowBlocks), ls.chunks});
  Value r0 = mul(b, loc, d[0], cst(b, loc, ts.rows)), c = d[1];
  TileSlice sl(b, loc, env, d[2]);
  Value chunkFirst = mul(b, loc, c, ls.chunk);
  int64_t logitsAt = ts.rowEntries(), maxAt = logitsAt + ts.rows * abi::kEstimatorChunk;
  auto logitSlot = [&](OpBuilder &nb, Location nl, Value rowInTile, Value key) {
    return add(nb, nl, cst(nb, nl, logitsAt),
               add(nb, nl, mul(nb, nl, rowInTile, ls.chunk), key));
  };

  emitLoadPhase(b, loc, env, run, ts, ls, sl, r0, chunkFirst);
  scf::ForOp::create(
      b, loc, cst(b, loc, 0), ls.chunk, cst(b, loc, ts.keys), ValueRange{},
      [&](OpBuilder &wb, Location wl, Value window, ValueRange) {
        // The first window's keys came with the queries.
        Value later = cmp(wb, wl, CmpIPredicate::sgt, window, cst(wb, wl, 0));
        scf::IfOp::create(wb, wl, later, [&](OpBuilder &tb, Location tl) {
          emitTileLoadPhase(tb, tl, env, run, ts, sl, nullptr, add(tb, tl, chunkFirst, window));
          scf::YieldOp::create(tb, tl);
        });
        emitTileLogitPhase(wb, wl, env, run, ts, /*inputRows=*/true,
                       [&](OpBuilder &nb, Location nl, Value rowInTile, Value w, Value logit) {
                         Scalar ns{nb, nl};
                         ns.storeAt(logit, run.shared,
                                    logitSlot(nb, nl, rowInTile, add(nb, nl, window, w)));
                       });
        scf::YieldOp::create(wb, wl);
      });

  // Keys of the chunk at or before row r's position, and whether r is one
  // of the last rows.
  auto rowKeys = [&](OpBuilder &nb, Location nl, Value rowInTile) {
    LastRow row(nb, nl, env, ls, add(nb, nl, r0, rowInTile));
    Value last = min(nb, nl, add(nb, nl, chunkFirst, ls.chunk),
                     add(nb, nl, row.position, cst(nb, nl, 1)));
    return max(nb, nl, cst(nb, nl, 0), sub(nb, nl, last, chunkFirst));
  };
  auto isLastRow = [&](OpBuilder &nb, Location nl, Value rowInTile) {
    return cmp(nb, nl, CmpIPredicate::slt, add(nb, nl, r0, rowInTile), ls.rows);
  };
  Value rows = cst(b, loc, ts.rows);
  run.phase(b, loc, rows, [&](OpBuilder &pb, Location pl, Value rowInTile) {
    Scalar s{pb, pl};
    Value chunkMax = maxOver(pb, pl, cst(pb, pl, 0), rowKeys(pb, pl, rowInTile),
                             [&](OpBuilder &nb, Location nl, Value key) {
                               Scalar ns{nb, nl};
                               return ns.loadAt(run.shared, logitSlot(nb, nl, rowInTile, key));
                             },
                             kFoldUnroll);
    s.storeAt(chunkMax, run.shared, add(pb, pl, cst(pb, pl, maxAt), rowInTile));
  });
  run.phase(b, loc, mul(b, loc, rows, ls.chunk), [&](OpBuilder &pb, Location pl, Value item) {
    Value rowInTile = div(pb, pl, item, ls.chunk), key = rem(pb, pl, item, ls.chunk);
    Value counted = cmp(pb, pl, CmpIPredicate::slt, key, rowKeys(pb, pl, rowInTile));
    scf::IfOp::create(pb, pl, counted, [&](OpBuilder &tb, Location tl) {
      Scalar s{tb, tl};
      Value at = logitSlot(tb, tl, rowInTile, key);
      Value chunkMax = s.loadAt(run.shared, add(tb, tl, cst(tb, tl, maxAt), rowInTile));
      s.storeAt(env.exp(tb, tl, s.fsub(s.loadAt(run.shared, at), chunkMax)), run.shared, at);
      scf::YieldOp::create(tb, tl);
    });
  });
  run.phase(b, loc, rows, [&](OpBuilder &pb, Location pl, Value rowInTile) {
    scf::IfOp::create(pb, pl, isLastRow(pb, pl, rowInTile), [&](OpBuilder &tb, Location tl) {
      Scalar s{tb, tl};
      Value sum = sumOver(tb, tl, cst(tb, tl, 0), rowKeys(tb, tl, rowInTile),
                          [&](OpBuilder &nb, Location nl, Value key) {
                            Scalar ns{nb, nl};
                            return ns.loadAt(run.shared, logitSlot(nb, nl, rowInTile, key));
                          },
                          kFoldUnroll);
      Value at = ls.chunkStats(tb, tl, sl.index, add(tb, tl, r0, rowInTile), c);
      s.storeAt(s.loadAt(run.shared, add(tb, tl, cst(tb, tl, maxAt), rowInTile)), env.pooled,
                at);
      s.storeAt(sum, env.pooled, add(tb, tl, at, cst(tb, tl, 1)));
      scf::YieldOp::create(tb, tl);
    });
  });
}

/// lines: tile (slice, line, block of lines). Line 0's tiles hold `keys`
/// columns j; line 1's hold `keys - rows + 1` diagonals d, whose keys
/// position - d over a block of rows span exactly a window of `keys`. For
/// every block of last rows in order: load it with its key window, turn
/// the logits into probabilities exp(logit - M_r) / S_r (0 where the key
/// is out of the row's reach), and add each line's probabilities row by
/// row to its running sum. Then the sums' order codes go to the table, and
/// the line's radix state and histogram are reset for the selection.
void stages::emitLineTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                          const TileRunner &run) {
  LogitTile ts = tileOf(kLines, headDimOf(env), env.spec.tensorLogits);
  LineShape ls(b, loc, env);
  Scalar s{b, loc};
  Value one = cst(b, loc, 1);
  Value columnTiles = ceilDiv(b, loc, env.lk, ts.keys);
  Value perSlice = add(b, loc, columnTiles, ceilDiv(b, loc, env.lk, ts.keys - ts.rows + 1));
  TileSlice sl(b, loc, env, div(b, loc, tile, perSlice));
  Value inSlice = rem(b, loc, tile, perSlice);
  Value isDiagonal = cmp(b, loc, CmpIPredicate::sge, inSlice, columnTiles);
  Value line = s.select(isDiagonal, one, cst(b, loc, 0));
  Value lineCount = s.select(isDiagonal, cst(b, loc, ts.keys - ts.rows + 1), cst(b, loc, ts.keys));
  Value first = mul(b, loc, s.select(isDiagonal, sub(b, loc, inSlice, columnTiles), inSlice),
                    lineCount);
  Value lineRow = add(b, loc, mul(b, loc, sl.index, cst(b, loc, 2)), line);
  int64_t probsAt = ts.rowEntries(), sumsAt = probsAt + ts.rows * ts.keys;
  Value keys = cst(b, loc, ts.keys), rows = cst(b, loc, ts.rows);
  auto sumSlot = [&](OpBuilder &nb, Location nl, Value i) {
    return add(nb, nl, cst(nb, nl, sumsAt), i);
  };

  run.phase(b, loc, keys, [&](OpBuilder &pb, Location pl, Value i) {
    Scalar ps{pb, pl};
    ps.storeAt(ps.f64(0.0), run.shared, sumSlot(pb, pl, i));
  });
  scf::ForOp::create(
      b, loc, cst(b, loc, 0), ls.rows, rows, ValueRange{},
      [&](OpBuilder &rb, Location rl, Value r0, ValueRange) {
        Scalar rs{rb, rl};
        // Window of keys: the columns themselves, or for diagonals
        // [first, first + count) over rows [r0, r0 + rows) the keys from
        // position(r0) - first - (count - 1) on.
        Value diagonalBase =
            sub(rb, rl, sub(rb, rl, add(rb, rl, sub(rb, rl, env.lk, ls.rows), r0), first),
                sub(rb, rl, lineCount, one));
        Value k0 = rs.select(isDiagonal, diagonalBase, first);
        emitLoadPhase(rb, rl, env, run, ts, ls, sl, r0, k0);
        emitTileLogitPhase(
            rb, rl, env, run, ts, /*inputRows=*/true,
            [&](OpBuilder &nb, Location nl, Value rowInTile, Value w, Value logit) {
              Scalar ns{nb, nl};
              Value r = add(nb, nl, r0, rowInTile);
              Value key = add(nb, nl, k0, w);
              // Diagonal i of the tile meets row r at window key
              // rowInTile + count - 1 - i.
              Value i = ns.select(isDiagonal,
                                  sub(nb, nl, add(nb, nl, rowInTile, sub(nb, nl, lineCount, one)), w),
                                  w);
              LastRow row(nb, nl, env, ls, min(nb, nl, r, sub(nb, nl, ls.rows, one)));
              Value reaches = arith::AndIOp::create(
                  nb, nl, cmp(nb, nl, CmpIPredicate::slt, r, ls.rows),
                  arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sge, key, cst(nb, nl, 0)),
                                        cmp(nb, nl, CmpIPredicate::sle, key, row.position)));
              Value statsAt = ls.rowStats(nb, nl, sl.index, min(nb, nl, r, sub(nb, nl, ls.rows, one)));
              Value rowMax = ns.loadAt(env.pooled, statsAt);
              Value rowSum = ns.loadAt(env.pooled, add(nb, nl, statsAt, one));
              Value p = ns.fdiv(env.exp(nb, nl, ns.fsub(logit, rowMax)), rowSum);
              Value inTile = arith::AndIOp::create(
                  nb, nl, cmp(nb, nl, CmpIPredicate::sge, i, cst(nb, nl, 0)),
                  cmp(nb, nl, CmpIPredicate::slt, i, lineCount));
              scf::IfOp::create(nb, nl, inTile, [&](OpBuilder &tb, Location tl) {
                Scalar is{tb, tl};
                Value slot = add(tb, tl, cst(tb, tl, probsAt),
                                 add(tb, tl, mul(tb, tl, rowInTile, cst(tb, tl, ts.keys)), i));
                is.storeAt(is.select(reaches, p, is.f64(0.0)), run.shared, slot);
                scf::YieldOp::create(tb, tl);
              });
            });
        // Each row's probability is added to the running sum in turn (not
        // the block's sum at once: that would round differently).
        run.phase(rb, rl, lineCount, [&](OpBuilder &pb, Location pl, Value i) {
          Scalar ps{pb, pl};
          auto rowsInOrder = scf::ForOp::create(
              pb, pl, cst(pb, pl, 0), rows, one,
              ValueRange{ps.loadAt(run.shared, sumSlot(pb, pl, i))},
              [&](OpBuilder &nb, Location nl, Value ri, ValueRange acc) {
                Scalar ns{nb, nl};
                Value p = ns.loadAt(run.shared,
                                    add(nb, nl, cst(nb, nl, probsAt),
                                        add(nb, nl, mul(nb, nl, ri, cst(nb, nl, ts.keys)), i)));
                scf::YieldOp::create(nb, nl, ValueRange{ns.fadd(acc[0], p)});
              });
          Value sum = rowsInOrder.getResult(0);
          ps.storeAt(sum, run.shared, sumSlot(pb, pl, i));
        });
        scf::YieldOp::create(rb, rl);
      });

  Value bins = cst(b, loc, abi::kRadixBins);
  Value histogram = add(b, loc, ls.histogramAt, mul(b, loc, lineRow, bins));
  run.phase(b, loc, lineCount, [&](OpBuilder &pb, Location pl, Value i) {
    Value j = add(pb, pl, first, i);
    scf::IfOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::slt, j, env.lk), [&](OpBuilder &tb,
                                                                             Location tl) {
      Scalar ws{tb, tl};
      ws.storeAt(ws.orderCode(ws.loadAt(run.shared, sumSlot(tb, tl, i))), env.table,
                  add(tb, tl, mul(tb, tl, lineRow, env.lk), j));
      // The radix state (prefix 0, rank kept - forced, pass 0) and the
      // histogram's bins j, j + lk, ... below 256.
      scf::IfOp::create(tb, tl, cmp(tb, tl, CmpIPredicate::eq, j, cst(tb, tl, 0)),
                        [&](OpBuilder &fb, Location fl) {
                          Scalar fs{fb, fl};
                          Value stateAt = add(fb, fl, ls.radixStateAt,
                                              mul(fb, fl, lineRow, cst(fb, fl, 3)));
                          Value rank = sub(fb, fl, ls.kept(fb, fl, env, line),
                                           ls.forced(fb, fl, env, line));
                          fs.storeAt(fs.doubleOf(fs.i64(0)), env.pooled, stateAt);
                          fs.storeAt(fs.toF64(rank), env.pooled, add(fb, fl, stateAt, cst(fb, fl, 1)));
                          fs.storeAt(fs.f64(0.0), env.pooled, add(fb, fl, stateAt, cst(fb, fl, 2)));
                          scf::YieldOp::create(fb, fl);
                        });
      scf::ForOp::create(tb, tl, j, max(tb, tl, j, bins), env.lk, ValueRange{},
                         [&](OpBuilder &nb, Location nl, Value bin, ValueRange) {
                           Scalar ns{nb, nl};
                           ns.storeAt(ns.f64(0.0), env.pooled, add(nb, nl, histogram, bin));
                           scf::YieldOp::create(nb, nl);
                         });
      scf::YieldOp::create(tb, tl);
    });
  });
}
