//===- NsaTileStages.cpp - nsa's stats and importance as tile stages ------===//
//
// The two logit stages of the nsa estimator (docs/ESTIMATORS.md, "nsa") as
// tile stages (LogitTiles.h). A tile's rows are a chunk of consecutive
// compressed keys (f64 from the scratch; on tensor cores each as hi + lo
// rows of the input type) and its window is a run of query rows of one
// query head (input type, where the other stages keep keys):
//   stats      (tile: slice, window of queries): each query's softmax
//              maximum and sum over the compressed keys it sees, chunk
//              after chunk in ascending order (TileSoftmax.h: the maxima,
//              then the sums, as the reference; tensor-core builds take one
//              sweep with a running maximum)
//   importance (tile: batch, KV head, window of queries, a range of
//              selection blocks): for each head of the GQA group (outer),
//              the chunks of compressed blocks overlapping the range
//              (ascending) become probabilities exp(logit - max) / sum, and
//              each (query, selection block) slot in shared memory adds
//              those of its blocks in order; the slots go to the table as
//              f64 bits
// Every sum runs in the order of the reference (lib/Core/NsaReference.cpp),
// so the CPU function, whose exp is libm's, reproduces its selection
// exactly. Why tiles: item by item, every logit re-read its query row and
// compressed key from global memory (twice for stats, once per overlapping
// selection block for importance): 1.9 s at 32K on an H100 for an
// attention of 40 ms. Compressed blocks overlapping two ranges are computed
// by both tiles (abi::nsaImportanceBlocks keeps that share small).
//
//===----------------------------------------------------------------------===//

#include "LogitTiles.h"
#include "NsaStages.h"
#include "TileSoftmax.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

LogitTile nsaTileOf(int64_t headDim, bool tensorLogits) {
  LogitTile ts(abi::nsaTile(headDim, tensorLogits), headDim, tensorLogits);
  // The rows are compressed keys (f32 values in f64): on tensor cores each
  // goes as a hi and a lo row (nsaTileBuffers reserves their room).
  ts.splitRows = true;
  return ts;
}

/// Where a tile's dot products (chunk slots, then the stage's own entries)
/// start in the f64 buffer: after the f64 rows, or at 0 on tensor cores,
/// whose rows sit in the key buffer.
int64_t dotsAtOf(const LogitTile &ts, bool tensorLogits) {
  return ts.tensorRows(tensorLogits) ? 0 : ts.rowEntries();
}

int64_t importanceBlocksOf(const plan::EstimatorSpec &spec, int64_t headDim) {
  return abi::nsaImportanceBlocks(headDim, spec.block, spec.compressBlock, spec.compressStride);
}

/// What both tile stages start from: the tile's sizes, the slice and nsa
/// sizes, and the windows of query rows per slice.
struct NsaTileEnv {
  LogitTile ts;
  /// The chunk's slots: from f64 entry dotsAt, rows slotStride apart.
  int64_t dotsAt, slotStride;
  Shape sh;
  NsaLayout layout;
  Value windows;
  NsaTileEnv(OpBuilder &b, Location loc, const EstimatorEnv &env)
      : ts(nsaTileOf(KernelOp(env.kernel).getHeadDim(), env.spec.tensorLogits)),
        dotsAt(dotsAtOf(ts, env.spec.tensorLogits)), slotStride(paddedDotRow(ts.keys)),
        sh(b, loc, env), layout(b, loc, env, sh),
        windows(ceilDiv(b, loc, env.lq, ts.keys)) {}
};

/// The window's query rows [q0, q0 + keys): entry w is query row q0 + w
/// (when below lq) at position q0 + w + shift.
struct QueryWindow {
  const EstimatorEnv &env;
  const NsaTileEnv &te;
  Value q0;
  Value isQuery(OpBuilder &b, Location loc, Value w) const {
    return cmp(b, loc, CmpIPredicate::slt, add(b, loc, q0, w), env.lq);
  }
  /// The position of entry w (clamped to the last query: a valid row).
  Value position(OpBuilder &b, Location loc, Value w) const {
    Value row = min(b, loc, add(b, loc, q0, w), sub(b, loc, env.lq, cst(b, loc, 1)));
    return add(b, loc, row, te.sh.shift);
  }
  /// The compressed blocks entry w sees (none past lq).
  Value visible(OpBuilder &b, Location loc, Value w) const {
    return arith::SelectOp::create(b, loc, isQuery(b, loc, w),
                                   te.layout.visible(b, loc, position(b, loc, w)), cst(b, loc, 0));
  }
  /// The position of the window's last query.
  Value lastPosition(OpBuilder &b, Location loc) const {
    return position(b, loc, cst(b, loc, te.ts.keys - 1));
  }
};

/// f64 entry of the tile's logit (probability) of chunk row r and window
/// entry w: rows apart by the window (and one, paddedDotRow), so that a
/// warp's threads, on consecutive entries, hit consecutive words.
Value chunkSlot(OpBuilder &b, Location loc, const NsaTileEnv &te, Value r, Value w) {
  return add(b, loc, cst(b, loc, te.dotsAt),
             add(b, loc, mul(b, loc, r, cst(b, loc, te.slotStride)), w));
}

/// Loads compressed keys [c0, c0 + rows) of (batch, KV head) as the tile's
/// rows (zeros from `end` on) and computes the window's dot products with
/// them into the chunk slots (unscaled).
void emitChunkDots(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                   const NsaTileEnv &te, const TileSlice &sl, Value c0, Value end) {
  auto compressedKey = [&](OpBuilder &nb, Location nl, Value r, Value x) -> Value {
    Scalar s{nb, nl};
    Value c = add(nb, nl, c0, r);
    Value clamped = max(nb, nl, min(nb, nl, c, sub(nb, nl, end, cst(nb, nl, 1))), cst(nb, nl, 0));
    Value at = add(nb, nl, te.layout.key(nb, nl, te.sh, sl.batch, sl.kvHead, clamped), x);
    return s.select(cmp(nb, nl, CmpIPredicate::slt, c, end), s.loadAt(env.pooled, at),
                    s.f64(0.0));
  };
  emitTileLoadPhase(b, loc, env, run, te.ts, sl, compressedKey, c0, /*keys=*/false);
  emitTileDotPhase(b, loc, env, run, te.ts, /*inputRows=*/false, te.dotsAt, te.slotStride);
}

/// stats: tile (slice, window of query rows). The window is loaded once;
/// the chunks of compressed keys up to those its last query sees pass
/// through the rows, and each query folds the logits of the blocks it sees
/// (c < visible) in ascending c: the maxima as std::max, then the sums of
/// exp(logit - maximum), as the reference's softmax. Written to the
/// scratch as (max, sum) per (slice, position).
void emitStatsTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                   const TileRunner &run) {
  NsaTileEnv te(b, loc, env);
  const LogitTile &ts = te.ts;
  QueryWindow win{env, te, mul(b, loc, rem(b, loc, tile, te.windows), cst(b, loc, ts.keys))};
  TileSlice sl(b, loc, env, div(b, loc, tile, te.windows));
  Value chunks = ceilDiv(b, loc, te.layout.visible(b, loc, win.lastPosition(b, loc)), ts.rows);
  int64_t maxAt = te.dotsAt + ts.rows * te.slotStride, sumAt = maxAt + ts.keys;
  // A line per query; its members are the chunk's compressed blocks it sees.
  auto slot = [&](OpBuilder &nb, Location nl, Value w, Value r) {
    return chunkSlot(nb, nl, te, r, w);
  };
  auto taken = [&](OpBuilder &nb, Location nl, Value w, Value chunk) {
    Value left = sub(nb, nl, win.visible(nb, nl, w), mul(nb, nl, chunk, cst(nb, nl, ts.rows)));
    return max(nb, nl, cst(nb, nl, 0), min(nb, nl, left, cst(nb, nl, ts.rows)));
  };
  TileSoftmaxLines sm{ts.keys, ts.rows, maxAt, sumAt, env.scale, slot, taken,
                      /*memberMajor=*/true};
  emitTileQueryWindowLoadPhase(b, loc, env, run, ts, sl, nullptr, win.q0);
  emitSoftmaxSweeps(b, loc, env, run, sm, chunks, ts.tensorRows(env.spec.tensorLogits),
                    [&](OpBuilder &cb, Location cl, Value chunk) {
                      emitChunkDots(cb, cl, env, run, te, sl,
                                    mul(cb, cl, chunk, cst(cb, cl, ts.rows)), te.layout.compressed);
                    });
  run.phase(b, loc, cst(b, loc, ts.keys), [&](OpBuilder &pb, Location pl, Value w) {
    scf::IfOp::create(pb, pl, win.isQuery(pb, pl, w), [&](OpBuilder &sb, Location storeLoc) {
      Scalar s{sb, storeLoc};
      Value at = te.layout.stats(sb, storeLoc, env, te.sh, sl.batch, sl.head,
                             win.position(sb, storeLoc, w));
      s.storeAt(s.loadAt(run.shared, add(sb, storeLoc, cst(sb, storeLoc, maxAt), w)), env.pooled,
                at);
      s.storeAt(s.loadAt(run.shared, add(sb, storeLoc, cst(sb, storeLoc, sumAt), w)), env.pooled,
                add(sb, storeLoc, at, cst(sb, storeLoc, 1)));
      scf::YieldOp::create(sb, storeLoc);
    });
  });
}

/// importance: tile (batch, KV head, window of query rows, selection blocks
/// [j0, j0 + J)), when some query of the window reaches j0. Slot (j, w)
/// (j <= position / S) starts at 0; for each head h of the group, outer,
/// the tile loads the window's queries of h and their stats, and the
/// chunks of the compressed blocks overlapping [j0, j0 + J) that the last
/// query sees, ascending: their logits become exp(logit - max) / sum, and
/// each slot adds those of the blocks that overlap j and its query sees,
/// in ascending c. The reference adds the same probabilities in the same
/// order (heads outer, blocks inner). The slots go to table[b, KV head,
/// position, j] as f64 bits.
void emitImportanceTile(OpBuilder &b, Location loc, const EstimatorEnv &env, Value tile,
                        const TileRunner &run) {
  NsaTileEnv te(b, loc, env);
  const LogitTile &ts = te.ts;
  const Shape &sh = te.sh;
  const NsaLayout &layout = te.layout;
  int64_t perTile = importanceBlocksOf(env.spec, ts.headDim);
  auto d = unflatten(b, loc, tile, {ceilDiv(b, loc, env.blocks, perTile), te.windows, sh.kvHeads});
  Value j0 = mul(b, loc, d[0], cst(b, loc, perTile)), kvHead = d[2], bIdx = d[3];
  QueryWindow win{env, te, mul(b, loc, d[1], cst(b, loc, ts.keys))};
  int64_t statsAt = te.dotsAt + ts.rows * te.slotStride, slotsAt = statsAt + 2 * ts.keys;
  Value keys = cst(b, loc, ts.keys);
  auto statSlot = [&](OpBuilder &nb, Location nl, Value w, int64_t which) {
    return add(nb, nl, cst(nb, nl, statsAt + which * ts.keys), w);
  };
  auto slotOf = [&](OpBuilder &nb, Location nl, Value at) {
    return add(nb, nl, cst(nb, nl, slotsAt), at);
  };
  // Slot item `at`: block j0 + jj of entry w, and whether the query's row
  // holds it (a query at or after the block's start).
  struct SlotItem {
    Value w, j, held;
  };
  auto slotItem = [&](OpBuilder &nb, Location nl, Value w, Value jj) {
    Value j = add(nb, nl, j0, jj);
    Value own = div(nb, nl, win.position(nb, nl, w), sh.block);
    Value held = arith::AndIOp::create(nb, nl, win.isQuery(nb, nl, w),
                                       cmp(nb, nl, CmpIPredicate::sle, j, own));
    return SlotItem{w, j, held};
  };
  Value lastOwn = div(b, loc, win.lastPosition(b, loc), sh.block);
  scf::IfOp::create(b, loc, cmp(b, loc, CmpIPredicate::sle, j0, lastOwn), [&](OpBuilder &tb,
                                                                             Location tl) {
    Value first = layout.overlapping(tb, tl, env, sh, j0);
    Value end = min(tb, tl, layout.endOverlapping(tb, tl, sh, add(tb, tl, j0, cst(tb, tl, perTile - 1))),
                    layout.visible(tb, tl, win.lastPosition(tb, tl)));
    Value chunks = ceilDiv(tb, tl, max(tb, tl, sub(tb, tl, end, first), cst(tb, tl, 0)), ts.rows);
    run.phase(tb, tl, cst(tb, tl, perTile * ts.keys), [&](OpBuilder &pb, Location pl, Value at) {
      Scalar s{pb, pl};
      s.storeAt(s.f64(0.0), run.shared, slotOf(pb, pl, at));
    });
    Value firstHead = mul(tb, tl, kvHead, sh.group);
    scf::ForOp::create(
        tb, tl, firstHead, add(tb, tl, firstHead, sh.group), cst(tb, tl, 1), ValueRange{},
        [&](OpBuilder &hb, Location hl, Value h, ValueRange) {
          TileSlice sl(hb, hl, env, add(hb, hl, mul(hb, hl, bIdx, sh.heads), h));
          run.phase(hb, hl, keys, [&](OpBuilder &pb, Location pl, Value w) {
            Scalar s{pb, pl};
            Value at = layout.stats(pb, pl, env, sh, bIdx, h, win.position(pb, pl, w));
            s.storeAt(s.loadAt(env.pooled, at), run.shared, statSlot(pb, pl, w, 0));
            s.storeAt(s.loadAt(env.pooled, add(pb, pl, at, cst(pb, pl, 1))), run.shared,
                      statSlot(pb, pl, w, 1));
          });
          emitTileQueryWindowLoadPhase(hb, hl, env, run, ts, sl, nullptr, win.q0);
          forEach(hb, hl, chunks, [&](OpBuilder &cb, Location cl, Value chunk) {
            Value c0 = add(cb, cl, first, mul(cb, cl, chunk, cst(cb, cl, ts.rows)));
            emitChunkDots(cb, cl, env, run, te, sl, c0, end);
            // The probabilities of the blocks some slot of the query adds.
            run.phase(cb, cl, cst(cb, cl, ts.rows * ts.keys), [&](OpBuilder &pb, Location pl,
                                                                  Value at) {
              Value r = div(pb, pl, at, keys), w = rem(pb, pl, at, keys);
              Value limit = min(pb, pl, win.visible(pb, pl, w), end);
              scf::IfOp::create(
                  pb, pl, cmp(pb, pl, CmpIPredicate::slt, add(pb, pl, c0, r), limit),
                  [&](OpBuilder &eb, Location el) {
                    Scalar s{eb, el};
                    Value slot = chunkSlot(eb, el, te, r, w);
                    Value logit = s.fmul(s.f64(env.scale), s.loadAt(run.shared, slot));
                    Value e = env.exp(
                        eb, el, s.fsub(logit, s.loadAt(run.shared, statSlot(eb, el, w, 0))));
                    s.storeAt(s.fdiv(e, s.loadAt(run.shared, statSlot(eb, el, w, 1))),
                              run.shared, slot);
                    scf::YieldOp::create(eb, el);
                  });
            });
            // Each slot adds its blocks of the chunk, ascending.
            run.phase(cb, cl, cst(cb, cl, perTile * ts.keys), [&](OpBuilder &pb, Location pl,
                                                                  Value at) {
              SlotItem it = slotItem(pb, pl, rem(pb, pl, at, keys), div(pb, pl, at, keys));
              scf::IfOp::create(pb, pl, it.held, [&](OpBuilder &ab, Location al) {
                Scalar s{ab, al};
                Value from = max(ab, al, layout.overlapping(ab, al, env, sh, it.j), c0);
                Value to = min(ab, al,
                               min(ab, al, layout.endOverlapping(ab, al, sh, it.j),
                                   win.visible(ab, al, it.w)),
                               add(ab, al, c0, cst(ab, al, ts.rows)));
                Value sum = foldInOrder(
                    ab, al, from, to, s.loadAt(run.shared, slotOf(ab, al, at)), /*unroll=*/1,
                    [&](OpBuilder &lb, Location ll, Value c) -> Value {
                      Scalar ls{lb, ll};
                      return ls.loadAt(run.shared,
                                       chunkSlot(lb, ll, te, sub(lb, ll, c, c0), it.w));
                    },
                    [](Scalar &ns, Value acc, Value x) { return ns.fadd(acc, x); });
                s.storeAt(sum, run.shared, slotOf(ab, al, at));
                scf::YieldOp::create(ab, al);
              });
            });
          });
          scf::YieldOp::create(hb, hl);
        });
    // Blocks of a row side by side: consecutive threads write consecutive
    // table entries.
    Value blocks = cst(tb, tl, perTile);
    run.phase(tb, tl, cst(tb, tl, perTile * ts.keys), [&](OpBuilder &pb, Location pl, Value at) {
      Value jj = rem(pb, pl, at, blocks), w = div(pb, pl, at, blocks);
      SlotItem it = slotItem(pb, pl, w, jj);
      scf::IfOp::create(pb, pl, it.held, [&](OpBuilder &sb, Location storeLoc) {
        Scalar s{sb, storeLoc};
        Value slot = slotOf(sb, storeLoc, add(sb, storeLoc, mul(sb, storeLoc, jj, keys), w));
        Value row =
            nsaTableRow(sb, storeLoc, env, sh, bIdx, kvHead, win.position(sb, storeLoc, w));
        s.storeAt(s.bitsOf(s.loadAt(run.shared, slot)), env.table, add(sb, storeLoc, row, it.j));
        scf::YieldOp::create(sb, storeLoc);
      });
    });
    scf::YieldOp::create(tb, tl);
  });
}

} // namespace

Value stages::emitNsaTiles(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env) {
  KernelOp kernel = env.kernel;
  LogitTile ts = nsaTileOf(kernel.getHeadDim(), env.spec.tensorLogits);
  Value windows = ceilDiv(b, loc, env.lq, ts.keys);
  Value tiles;
  if (stage == kNsaStats) {
    tiles = mul(b, loc, mul(b, loc, env.batch, cst(b, loc, kernel.getHeads())), windows);
  } else {
    int64_t perTile = importanceBlocksOf(env.spec, kernel.getHeadDim());
    Value groups = mul(b, loc, env.batch, cst(b, loc, kernel.getKvHeads()));
    tiles = mul(b, loc, mul(b, loc, groups, windows), ceilDiv(b, loc, env.blocks, perTile));
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), tiles);
}

TileBuffers stages::nsaTileBuffers(int stage, const plan::EstimatorSpec &spec, int64_t headDim) {
  LogitTile ts = nsaTileOf(headDim, spec.tensorLogits);
  TileBuffers buffers;
  // Rows (f64 sums only), a logit per (row, query), two statistics per
  // query; importance's slots per (selection block, query).
  buffers.f64Entries = dotsAtOf(ts, spec.tensorLogits) + ts.rows * paddedDotRow(ts.keys) +
                       2 * ts.keys +
                       (stage == kNsaStats ? 0 : importanceBlocksOf(spec, headDim) * ts.keys);
  buffers.keyEntries = ts.keyBufferEntries(spec.tensorLogits);
  return buffers;
}

void stages::emitNsaTile(OpBuilder &b, Location loc, int stage, const EstimatorEnv &env,
                         Value tile, const TileRunner &run) {
  if (stage == kNsaStats)
    return emitStatsTile(b, loc, env, tile, run);
  emitImportanceTile(b, loc, env, tile, run);
}
