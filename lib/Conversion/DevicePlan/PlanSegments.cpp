//===- PlanSegments.cpp - statuses to segments ----------------------------===//
//
// Implements PlanSegments.h. Why pieces: a query tile's row holds up to
// thousands of KV tile statuses; walked by one thread it was most of a
// build, so rows are cut into pieces of abi::kRunChunk tiles, each counted
// and written by its own item. The run rules must match the host
// planner's Range-only plans (lib/Core/Planner.cpp, appendSegments): a KV
// tile reaching past Lk is never FULL, FULL and PARTIAL tiles form maximal
// runs in key order.
//
//===----------------------------------------------------------------------===//

#include "PlanSegments.h"

#include "sattn/Core/KernelAbi.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::deviceplan::stages;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

namespace {

/// The final status of a tile: undecided tiles by what resolve saw.
Value finalStatus(OpBuilder &b, Location loc, Value raw, Value keysClipped) {
  Value base = arith::AndIOp::create(b, loc, raw, i32(b, loc, 3));
  Value kept = cmp(b, loc, CmpIPredicate::ne,
                   arith::AndIOp::create(b, loc, raw, i32(b, loc, kSeenKept)),
                   i32(b, loc, 0));
  Value dropped = cmp(b, loc, CmpIPredicate::ne,
                      arith::AndIOp::create(b, loc, raw, i32(b, loc, kSeenDropped)),
                      i32(b, loc, 0));
  Value partial = arith::OrIOp::create(b, loc, dropped, keysClipped);
  Value resolved = arith::SelectOp::create(
      b, loc, kept,
      arith::SelectOp::create(b, loc, partial, i32(b, loc, kPartial),
                              i32(b, loc, kFull)),
      i32(b, loc, kSkip));
  Value undecided = cmp(b, loc, CmpIPredicate::eq, base, i32(b, loc, kUndecided));
  return arith::SelectOp::create(b, loc, undecided, resolved, base);
}

/// Statuses read per iteration of the run walk, so that its reads are in
/// flight together.
constexpr int64_t kWalkUnroll = 8;
/// Counts read per iteration of a class's scan: one thread sums a class's
/// query tiles, so its reads are batched wider.
constexpr int64_t kScanUnroll = 32;

/// A walk-only tile status (never stored): the rest of the mask skips the
/// tile and its lattice keys (lattice gathers) or the keys of its query
/// tile's kept diagonals (diagonal bands) are gathered.
constexpr int32_t kGathered = 4;

/// A Range or List segment's row: [kind, full, lo, hi, 0, 1, 1].
void storeRangeOrListRow(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value row,
                         int64_t kind, Value full, Value lo, Value hi) {
  storeSegmentRow(b, loc, env, row, kind, full, lo, hi, cst(b, loc, 0), cst(b, loc, 1),
                  cst(b, loc, 1));
}

/// A row's column list: whether it has one (a column bound within the
/// capacity; a row whose columns may not fit visits their tiles as PARTIAL
/// tiles instead), and where its keys go.
struct RowList {
  Value present;   // i1; false without column lists
  Value full;      // i1: every listed pair is kept (no mask code)
  Value firstKey;  // flat index of its first key in the segment buffer
};
RowList rowList(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value row) {
  RowList list;
  if (!env.listKeys) {
    list.present = arith::ConstantIntOp::create(b, loc, 0, 1);
    list.full = list.present;
    list.firstKey = cst(b, loc, 0);
    return list;
  }
  Value word = memref::LoadOp::create(b, loc, env.counts,
                                      ValueRange{add(b, loc, env.columnBounds, row)});
  Value maskedBit = arith::ConstantIntOp::create(b, loc, kListMaskedBit, 64);
  list.full = arith::CmpIOp::create(b, loc, CmpIPredicate::eq,
                                    arith::AndIOp::create(b, loc, word, maskedBit),
                                    arith::ConstantIntOp::create(b, loc, 0, 64));
  Value bound = toIndex(
      b, loc,
      arith::AndIOp::create(b, loc, word,
                            arith::ConstantIntOp::create(b, loc, kListMaskedBit - 1, 64)));
  list.present = arith::AndIOp::create(
      b, loc, cmp(b, loc, CmpIPredicate::sgt, bound, cst(b, loc, 0)),
      cmp(b, loc, CmpIPredicate::sle, bound, cst(b, loc, env.listKeys)));
  list.firstKey = add(b, loc, env.listKeyBase, mul(b, loc, row, cst(b, loc, env.listKeys)));
  return list;
}

/// A tile's status for the runs and the column keys its list takes.
struct TileState {
  Value status; // i32: skip, full, partial or kGathered
  Value listed; // index: column keys listed (0 unless the row has a list)
  Value masked; // i1: listed keys that need mask code (kColumnsMasked)
  Value latticeFull; // i1: a kGathered tile's keys need no mask code
  /// index: keys at the start and at the end of a kGathered tile that its
  /// Gather segment leaves out where the tile starts or ends it; i1: the
  /// tile holds keys to gather (lattice keys, kLatticeMay; with diagonal
  /// bands every kGathered tile).
  Value trimLo, trimHi, gatheredKeys;
};

/// The states of tiles `at` of the row from linear tile `base` (position N,
/// past the last tile, and beyond read as skip). All loads come first. A
/// tile the decision mask skips but which holds column keys is skipped and
/// listed when the row has a list, else PARTIAL.
SmallVector<TileState> rowStates(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                                 Value base, ArrayRef<Value> at, Value listed,
                                 Value latticeValid) {
  Value n = env.numKeyTiles;
  Value last = sub(b, loc, n, cst(b, loc, 1));
  SmallVector<Value> raws;
  for (Value t : at) {
    Value safe = max(b, loc, min(b, loc, t, last), cst(b, loc, 0));
    raws.push_back(memref::LoadOp::create(b, loc, env.status, add(b, loc, base, safe)));
  }
  SmallVector<TileState> states;
  for (auto [tile, rawStatus] : llvm::zip_equal(at, raws)) {
    Value t = tile, raw = rawStatus;
    Value keyEnd = mul(b, loc, add(b, loc, t, cst(b, loc, 1)), cst(b, loc, env.blockN));
    Value clipped = cmp(b, loc, CmpIPredicate::sgt, keyEnd, env.lk);
    Value inside = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::slt, t, n),
                                         cmp(b, loc, CmpIPredicate::sge, t, cst(b, loc, 0)));
    Value status = finalStatus(b, loc, raw, clipped);
    Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
    TileState state{status, cst(b, loc, 0), no, no, cst(b, loc, 0), cst(b, loc, 0), no};
    auto hasBit = [&](int32_t bit) {
      return cmp(b, loc, CmpIPredicate::ne, arith::AndIOp::create(b, loc, raw, i32(b, loc, bit)),
                 i32(b, loc, 0));
    };
    if (env.latticeGathers()) {
      // A tile the rest skips where the whole mask may keep lattice keys,
      // or that holds none (a gathered run may span it: it adds no key).
      // Without valid lattice parameters such tiles are PARTIAL tiles.
      Value none = hasBit(kLatticeNone);
      Value gathered = arith::AndIOp::create(
          b, loc, cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip)),
          arith::OrIOp::create(b, loc, hasBit(kLatticeMay), none));
      state.status = arith::SelectOp::create(
          b, loc, gathered,
          arith::SelectOp::create(b, loc, latticeValid, i32(b, loc, kGathered),
                                  i32(b, loc, kPartial)),
          status);
      state.latticeFull = arith::OrIOp::create(b, loc, hasBit(kLatticeFull), none);
      auto field = [&](int32_t shift) {
        return toIndex(b, loc,
                       arith::AndIOp::create(
                           b, loc, arith::ShRUIOp::create(b, loc, raw, i32(b, loc, shift)),
                           i32(b, loc, kLatticeTrimKeys - 1)));
      };
      state.trimLo = field(kLatticeTrimLoShift);
      state.trimHi = field(kLatticeTrimHiShift);
      state.gatheredKeys = arith::AndIOp::create(b, loc, hasBit(kLatticeMay), inside);
    } else if (env.diagonalBands()) {
      // A tile the rest skips where the whole mask may keep a pair: the
      // bands of kept diagonals over it are gathered.
      Value gathered = arith::AndIOp::create(
          b, loc, cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip)), hasBit(kBandMay));
      state.status = arith::SelectOp::create(b, loc, gathered, i32(b, loc, kGathered), status);
      state.gatheredKeys = inside;
    }
    if (env.listKeys) {
      Value columns = toIndex(
          b, loc, arith::ShRUIOp::create(b, loc, raw, i32(b, loc, kColumnShift)));
      Value withColumns = arith::AndIOp::create(
          b, loc, cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip)),
          cmp(b, loc, CmpIPredicate::ne, columns, cst(b, loc, 0)));
      Value toList = arith::AndIOp::create(b, loc, withColumns, listed);
      state.status = arith::SelectOp::create(
          b, loc, arith::AndIOp::create(b, loc, withColumns, arith::XOrIOp::create(
                                                                 b, loc, listed,
                                                                 arith::ConstantIntOp::create(
                                                                     b, loc, 1, 1))),
          i32(b, loc, kPartial), status);
      state.listed = arith::SelectOp::create(b, loc, arith::AndIOp::create(b, loc, toList, inside),
                                             columns, cst(b, loc, 0));
      state.masked = cmp(b, loc, CmpIPredicate::ne,
                         arith::AndIOp::create(b, loc, raw, i32(b, loc, kColumnsMasked)),
                         i32(b, loc, 0));
    }
    state.status = arith::SelectOp::create(b, loc, inside, state.status, i32(b, loc, kSkip));
    states.push_back(state);
  }
  return states;
}

/// Writes the column keys of KV tile `t` of class `c` (summarize's bit
/// words) from flat position `at` of the segment buffer on; returns the
/// next position.
Value emitTileColumns(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c,
                      Value unit, Value t, Value at) {
  Type i64 = b.getI64Type();
  Value zero64 = arith::ConstantIntOp::create(b, loc, 0, 64);
  Value seven = cst(b, loc, 7); // the segment buffer's rows of 7 words
  int64_t words = columnWords(env);
  Value first = add(b, loc, env.tileColumnWords,
                    mul(b, loc, columnTileIndex(b, loc, env, c, unit, t), cst(b, loc, words)));
  for (int64_t w = 0; w < words; ++w) {
    Value word = memref::LoadOp::create(b, loc, env.counts, add(b, loc, first, cst(b, loc, w)));
    Value base = add(b, loc, mul(b, loc, t, cst(b, loc, env.blockN)),
                     cst(b, loc, w * kColumnWordKeys));
    // One set bit per iteration, lowest first: keys ascend.
    auto loop = scf::WhileOp::create(
        b, loc, TypeRange{i64, b.getIndexType()}, ValueRange{word, at},
        [&](OpBuilder &cb, Location cl, ValueRange carried) {
          scf::ConditionOp::create(
              cb, cl, arith::CmpIOp::create(cb, cl, CmpIPredicate::ne, carried[0], zero64),
              carried);
        },
        [&](OpBuilder &lb, Location ll, ValueRange carried) {
          Value bits = carried[0], pos = carried[1];
          Value k = add(lb, ll, base, toIndex(lb, ll, math::CountTrailingZerosOp::create(lb, ll, bits)));
          memref::StoreOp::create(lb, ll, arith::IndexCastOp::create(lb, ll, i64, k), env.segments,
                                  ValueRange{div(lb, ll, pos, seven), rem(lb, ll, pos, seven)});
          Value rest = arith::AndIOp::create(
              lb, ll, bits,
              arith::SubIOp::create(lb, ll, bits, arith::ConstantIntOp::create(lb, ll, 1, 64)));
          scf::YieldOp::create(lb, ll, ValueRange{rest, add(lb, ll, pos, cst(lb, ll, 1))});
        });
    at = loop.getResult(1);
  }
  return at;
}

/// What a piece owns: its segments and its listed column keys.
struct PieceCounts {
  Value segments, columns;
};

/// Walks piece `piece` (kRunChunk KV tiles) of the row of (c, m) in key
/// order. The piece owns the segments (maximal runs of equal non-skip
/// status; a run of r gathered tiles makes none, one or two with lattice
/// gathers, emitGatheredRun, at most r with diagonal bands, emitBandRun)
/// that start inside it and the column keys of its listed tiles; returns
/// their numbers. With `write`, also writes the segments from row `first` on,
/// walking past the piece's end until its last run closes, and the keys
/// from flat position `firstKey` on. With gathers counting walks on too: a
/// gathered run's segments are known when it closes.
PieceCounts emitRuns(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c,
                     Value m, Value piece, Value first, const RowList &list,
                     Value firstKey, bool write) {
  Value base = mul(b, loc, add(b, loc, mul(b, loc, c, env.numQueryTiles), m),
                   env.numKeyTiles);
  Value one = cst(b, loc, 1);
  Value pieceLo = mul(b, loc, piece, cst(b, loc, abi::kRunChunk));
  Value pieceEnd = min(b, loc, add(b, loc, pieceLo, cst(b, loc, abi::kRunChunk)),
                       env.numKeyTiles);
  auto emitSegment = [&](OpBuilder &sb, Location sl, Value status, Value lo,
                         Value hi, Value row) {
    storeRangeOrListRow(sb, sl, env, row, /*kind=*/0,
                        cmp(sb, sl, CmpIPredicate::eq, status, i32(sb, sl, kFull)), lo, hi);
  };
  // Carried: the next position, the previous status, the start of its run,
  // whether this piece owns that run, the rows used (one per owned start;
  // an owned run is written to the row before the count when it closes; a
  // gathered run takes its rows and writes them when it closes).
  // The run entering the piece from the left belongs to an earlier piece.
  bool lattice = env.latticeGathers();
  bool gathers = lattice || env.diagonalBands();
  LatticeParams latticeParams;
  if (lattice)
    latticeParams = emitLatticeParams(b, loc, env, div(b, loc, c, env.classHeads),
                                      rem(b, loc, c, env.classHeads));
  Value before = rowStates(b, loc, env, base, {sub(b, loc, pieceLo, one)}, list.present,
                           latticeParams.valid)[0]
                     .status;
  // The query unit of a row with a list (it spans one).
  Value unit = env.listKeys ? columnUnit(b, loc, env,
                                         add(b, loc, mul(b, loc, m, cst(b, loc, env.blockM)),
                                             sub(b, loc, env.lk, env.lq)))
                            : cst(b, loc, 0);
  Type indexType = b.getIndexType();
  Value f = arith::ConstantIntOp::create(b, loc, 0, 1);
  // Also carried: the listed keys so far and the next key's position; with
  // gathers the end of the current run's kLatticeFull prefix (lattice
  // gathers), whether it is still open, and the span of the run's keys:
  // from its first tile's first untrimmed key to its last tile with keys
  // to gather's last untrimmed one.
  SmallVector<Type> types{indexType, b.getI32Type(), indexType, b.getI1Type(),
                          indexType, indexType,      indexType};
  SmallVector<Value> inits{pieceLo, before, pieceLo, f, first, cst(b, loc, 0), firstKey};
  if (gathers) {
    types.append({indexType, b.getI1Type(), indexType, indexType});
    inits.append({pieceLo, f, cst(b, loc, 0), cst(b, loc, 0)});
  }
  auto loop = scf::WhileOp::create(
      b, loc, types, inits,
      [&](OpBuilder &cb, Location cl, ValueRange carried) {
        Value go = cmp(cb, cl, CmpIPredicate::slt, carried[0], pieceEnd);
        if (write || gathers) {
          Value open = arith::AndIOp::create(
              cb, cl, carried[3], cmp(cb, cl, CmpIPredicate::ne, carried[1], i32(cb, cl, kSkip)));
          go = arith::OrIOp::create(cb, cl, go, open);
        }
        scf::ConditionOp::create(cb, cl, go, carried);
      },
      [&](OpBuilder &lb, Location ll, ValueRange carried) {
        Value g = carried[0];
        SmallVector<Value> at;
        for (int64_t u = 0; u < kWalkUnroll; ++u)
          at.push_back(add(lb, ll, g, cst(lb, ll, u)));
        SmallVector<TileState> states =
            rowStates(lb, ll, env, base, at, list.present, latticeParams.valid);
        Value prev = carried[1], start = carried[2], owned = carried[3], row = carried[4];
        Value columns = carried[5], keyAt = carried[6];
        Value fullEnd = gathers ? carried[7] : Value(), fullOpen = gathers ? carried[8] : Value();
        Value runLo = gathers ? carried[9] : Value(), runHi = gathers ? carried[10] : Value();
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          Value t = at[u], s = states[u].status;
          if (env.listKeys) {
            // Only the piece's own tiles list their keys (write walks on).
            Value mine = arith::AndIOp::create(
                lb, ll, cmp(lb, ll, CmpIPredicate::slt, t, pieceEnd),
                cmp(lb, ll, CmpIPredicate::ne, states[u].listed, cst(lb, ll, 0)));
            columns = add(lb, ll, columns,
                          arith::SelectOp::create(lb, ll, mine, states[u].listed,
                                                  cst(lb, ll, 0)));
            if (!write) {
              // Counting marks a row whose list needs mask code, for write.
              scf::IfOp::create(
                  lb, ll, arith::AndIOp::create(lb, ll, mine, states[u].masked),
                  [&](OpBuilder &mb, Location ml) {
                    memref::AtomicRMWOp::create(
                        mb, ml, arith::AtomicRMWKind::ori,
                        arith::ConstantIntOp::create(mb, ml, kListMaskedBit, 64), env.counts,
                        ValueRange{add(mb, ml, env.columnBounds,
                                       add(mb, ml, mul(mb, ml, c, env.numQueryTiles), m))});
                    scf::YieldOp::create(mb, ml);
                  });
            } else {
              auto wrote = scf::IfOp::create(
                  lb, ll, mine,
                  [&](OpBuilder &tb, Location tl) {
                    scf::YieldOp::create(
                        tb, tl, emitTileColumns(tb, tl, env, c, unit, t, keyAt));
                  },
                  [&](OpBuilder &eb, Location el) {
                    scf::YieldOp::create(eb, el, ValueRange{keyAt});
                  });
              keyAt = wrote.getResult(0);
            }
          }
          Value changed = cmp(lb, ll, CmpIPredicate::ne, s, prev);
          Value closes = arith::AndIOp::create(
              lb, ll, arith::AndIOp::create(lb, ll, changed, owned),
              cmp(lb, ll, CmpIPredicate::ne, prev, i32(lb, ll, kSkip)));
          Value gatheredRun = cmp(lb, ll, CmpIPredicate::eq, prev, i32(lb, ll, kGathered));
          if (write) {
            Value rangeCloses =
                gathers ? arith::AndIOp::create(
                              lb, ll, closes,
                              arith::XOrIOp::create(lb, ll, gatheredRun,
                                                    arith::ConstantIntOp::create(lb, ll, 1, 1)))
                        : closes;
            scf::IfOp::create(lb, ll, rangeCloses, [&](OpBuilder &sb, Location sl) {
              emitSegment(sb, sl, prev, start, t, sub(sb, sl, row, cst(sb, sl, 1)));
              scf::YieldOp::create(sb, sl);
            });
          }
          if (gathers) {
            // A closing gathered run takes its rows now (lattice gathers:
            // none without lattice keys, two when split; bands: one per
            // band, or one Range segment): its segments from row on.
            auto extra = scf::IfOp::create(
                lb, ll, arith::AndIOp::create(lb, ll, closes, gatheredRun),
                [&](OpBuilder &gb, Location gl) {
                  scf::YieldOp::create(
                      gb, gl,
                      lattice ? emitGatheredRun(gb, gl, env, latticeParams, runLo, runHi, t,
                                                fullEnd, row, write)
                              : emitBandRun(gb, gl, env, c, m, start, t, runLo, runHi, row,
                                            write));
                },
                [&](OpBuilder &eb, Location el) {
                  scf::YieldOp::create(eb, el, ValueRange{cst(eb, el, 0)});
                });
            row = add(lb, ll, row, extra.getResult(0));
          }
          Value startsHere = arith::AndIOp::create(
              lb, ll, changed, cmp(lb, ll, CmpIPredicate::slt, t, pieceEnd));
          // A run's row is taken where it starts (a gathered run's where
          // it closes).
          Value ownedStart = arith::AndIOp::create(
              lb, ll, startsHere, cmp(lb, ll, CmpIPredicate::ne, s, i32(lb, ll, kSkip)));
          if (gathers)
            ownedStart = arith::AndIOp::create(
                lb, ll, ownedStart, cmp(lb, ll, CmpIPredicate::ne, s, i32(lb, ll, kGathered)));
          row = arith::SelectOp::create(lb, ll, ownedStart, add(lb, ll, row, cst(lb, ll, 1)), row);
          owned = arith::SelectOp::create(lb, ll, changed, startsHere, owned);
          start = arith::SelectOp::create(lb, ll, changed, t, start);
          prev = s;
          if (gathers) {
            // The run's kLatticeFull prefix: restarted with the run, ended by
            // its first tile without the bit.
            Value yes = arith::ConstantIntOp::create(lb, ll, 1, 1);
            fullEnd = arith::SelectOp::create(lb, ll, changed, t, fullEnd);
            fullOpen = arith::SelectOp::create(lb, ll, changed, yes, fullOpen);
            fullOpen = arith::AndIOp::create(lb, ll, fullOpen, states[u].latticeFull);
            fullEnd = arith::SelectOp::create(lb, ll, fullOpen, add(lb, ll, t, cst(lb, ll, 1)),
                                              fullEnd);
            // The run's keys start after its first tile's trimmed keys and
            // end before those of its last tile with lattice keys.
            Value key0 = mul(lb, ll, t, cst(lb, ll, env.blockN));
            runLo = arith::SelectOp::create(lb, ll, changed, add(lb, ll, key0, states[u].trimLo),
                                            runLo);
            runHi = arith::SelectOp::create(lb, ll, changed, key0, runHi);
            Value keysEnd =
                sub(lb, ll, min(lb, ll, add(lb, ll, key0, cst(lb, ll, env.blockN)), env.lk),
                    states[u].trimHi);
            runHi = arith::SelectOp::create(lb, ll, states[u].gatheredKeys, keysEnd, runHi);
          }
        }
        SmallVector<Value> next{add(lb, ll, g, cst(lb, ll, kWalkUnroll)),
                                prev, start, owned, row, columns, keyAt};
        if (gathers)
          next.append({fullEnd, fullOpen, runLo, runHi});
        scf::YieldOp::create(lb, ll, next);
      });
  return {sub(b, loc, loop.getResult(4), first), loop.getResult(5)};
}

/// The sum of counts[lo + j] for j in [0, n), kWalkUnroll reads per step.
Value emitCountSum(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value lo,
                   Value n) {
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, kWalkUnroll), ValueRange{cst(b, loc, 0)},
      [&](OpBuilder &lb, Location ll, Value g, ValueRange carried) {
        Value last = sub(lb, ll, n, cst(lb, ll, 1));
        SmallVector<Value> at, counts;
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          at.push_back(add(lb, ll, g, cst(lb, ll, u)));
          counts.push_back(
              loadIndex(lb, ll, env.counts, add(lb, ll, lo, min(lb, ll, at.back(), last))));
        }
        Value acc = carried[0];
        for (auto [j, count] : llvm::zip_equal(at, counts))
          acc = add(lb, ll, acc,
                    arith::SelectOp::create(lb, ll, cmp(lb, ll, CmpIPredicate::slt, j, n),
                                            count, cst(lb, ll, 0)));
        scf::YieldOp::create(lb, ll, ValueRange{acc});
      });
  return loop.getResult(0);
}

/// (class, query tile, piece) of a count or write item, and where the
/// piece counts start in the counts buffer (after the C * T row totals,
/// which classify zeroes).
struct PieceItem {
  Value c, m, piece, row, pieceCounts;
};
PieceItem pieceItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value item) {
  PieceItem p;
  p.piece = rem(b, loc, item, env.numPieces);
  p.row = div(b, loc, item, env.numPieces);
  p.c = div(b, loc, p.row, env.numQueryTiles);
  p.m = rem(b, loc, p.row, env.numQueryTiles);
  p.pieceCounts = mul(b, loc, env.numClasses, env.numQueryTiles);
  return p;
}

/// Adds `n` to counts[at] when it is not 0.
void addCount(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value n, Value at) {
  scf::IfOp::create(b, loc, cmp(b, loc, CmpIPredicate::ne, n, cst(b, loc, 0)),
                    [&](OpBuilder &ib, Location il) {
                      memref::AtomicRMWOp::create(
                          ib, il, arith::AtomicRMWKind::addi,
                          arith::IndexCastOp::create(ib, il, ib.getI64Type(), n), env.counts,
                          ValueRange{at});
                      scf::YieldOp::create(ib, il);
                    });
}

/// 1 for the first piece of a row with a column list (its List segment
/// comes first), else 0.
Value listSegment(OpBuilder &b, Location loc, const RowList &list, Value piece) {
  Value first = arith::AndIOp::create(
      b, loc, list.present, cmp(b, loc, CmpIPredicate::eq, piece, cst(b, loc, 0)));
  return arith::SelectOp::create(b, loc, first, cst(b, loc, 1), cst(b, loc, 0));
}

} // namespace

void stages::storeSegmentRow(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value row,
                             int64_t kind, Value full, Value lo, Value hi, Value start,
                             Value period, Value width) {
  Type i64 = b.getI64Type();
  Value fields[7] = {arith::ConstantIntOp::create(b, loc, kind, 64),
                     arith::ExtUIOp::create(b, loc, i64, full),
                     arith::IndexCastOp::create(b, loc, i64, lo),
                     arith::IndexCastOp::create(b, loc, i64, hi),
                     arith::IndexCastOp::create(b, loc, i64, start),
                     arith::IndexCastOp::create(b, loc, i64, period),
                     arith::IndexCastOp::create(b, loc, i64, width)};
  for (auto [i, v] : llvm::enumerate(fields))
    memref::StoreOp::create(b, loc, v, env.segments, ValueRange{row, cst(b, loc, i)});
}

Value stages::pieceColumnsBase(OpBuilder &b, Location loc, const PlanBuilderEnv &env) {
  return add(b, loc, env.columnBounds, mul(b, loc, env.numClasses, env.numQueryTiles));
}

Value stages::rowColumnsBase(OpBuilder &b, Location loc, const PlanBuilderEnv &env) {
  return add(b, loc, pieceColumnsBase(b, loc, env),
             mul(b, loc, mul(b, loc, env.numClasses, env.numQueryTiles), env.numPieces));
}

void stages::emitCountItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           Value item) {
  PieceItem p = pieceItem(b, loc, env, item);
  RowList list = rowList(b, loc, env, p.row);
  PieceCounts counted = emitRuns(b, loc, env, p.c, p.m, p.piece, cst(b, loc, 0), list,
                                 cst(b, loc, 0), /*write=*/false);
  Value n = add(b, loc, counted.segments, listSegment(b, loc, list, p.piece));
  if (env.listKeys) {
    storeIndex(b, loc, counted.columns, env.counts,
               add(b, loc, pieceColumnsBase(b, loc, env), item));
    addCount(b, loc, env, counted.columns,
             add(b, loc, rowColumnsBase(b, loc, env), p.row));
  }
  storeIndex(b, loc, n, env.counts, add(b, loc, p.pieceCounts, item));
  addCount(b, loc, env, n, p.row);
}

void stages::emitWriteItem(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           Value item) {
  PieceItem p = pieceItem(b, loc, env, item);
  Value rowFirst = loadIndex(
      b, loc, env.offsets,
      add(b, loc, mul(b, loc, p.c, add(b, loc, env.numQueryTiles, cst(b, loc, 1))), p.m));
  Value earlier = emitCountSum(
      b, loc, env, add(b, loc, p.pieceCounts, mul(b, loc, p.row, env.numPieces)), p.piece);
  RowList list = rowList(b, loc, env, p.row);
  // The List segment is the first piece's first row (later pieces' earlier
  // counts include it).
  Value listRows = listSegment(b, loc, list, p.piece);
  Value firstKey = list.firstKey;
  if (env.listKeys) {
    firstKey = add(b, loc, firstKey,
                   emitCountSum(b, loc, env,
                                add(b, loc, pieceColumnsBase(b, loc, env),
                                    mul(b, loc, p.row, env.numPieces)),
                                p.piece));
    // The first piece writes the row's List segment: its keys [firstKey,
    // firstKey + the row's listed keys) of the segment buffer, FULL when
    // every listed pair is kept.
    Value first = cmp(b, loc, CmpIPredicate::ne, listSegment(b, loc, list, p.piece),
                      cst(b, loc, 0));
    scf::IfOp::create(b, loc, first, [&](OpBuilder &ib, Location il) {
      Value keys = loadIndex(ib, il, env.counts, add(ib, il, rowColumnsBase(ib, il, env), p.row));
      storeRangeOrListRow(ib, il, env, rowFirst, /*kind=*/2, list.full, list.firstKey,
                          add(ib, il, list.firstKey, keys));
      scf::YieldOp::create(ib, il);
    });
  }
  emitRuns(b, loc, env, p.c, p.m, p.piece, add(b, loc, add(b, loc, rowFirst, listRows), earlier),
           list, firstKey, /*write=*/true);
}

/// The offsets of class `c`: an exclusive prefix sum of its tiles' counts
/// from row c * T * N, the start of the class's share of the segment
/// buffer (which holds T * N rows per class: a query tile has at most N
/// segments), so that classes are summed independently.
void stages::emitScan(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c) {
  // classIndex[b * H + h] = c for the pairs of class c: one batch element
  // (or all, when plans do not differ by batch) times one head (or all).
  ClassAxes axes = classAxes(env.mask);
  Value one = cst(b, loc, 1);
  Value b0 = axes.batch ? div(b, loc, c, env.classHeads) : cst(b, loc, 0);
  Value h0 = axes.head ? rem(b, loc, c, env.classHeads) : cst(b, loc, 0);
  Value bEnd = axes.batch ? add(b, loc, b0, one) : env.batch;
  Value hEnd = axes.head ? add(b, loc, h0, one) : env.heads;
  scf::ForOp::create(
      b, loc, b0, bEnd, one, ValueRange{},
      [&](OpBuilder &ob, Location ol, Value bi, ValueRange) {
        scf::ForOp::create(
            ob, ol, h0, hEnd, one, ValueRange{},
            [&](OpBuilder &ib, Location il, Value hi, ValueRange) {
              storeIndex(ib, il, c, env.classIndex,
                         add(ib, il, mul(ib, il, bi, env.heads), hi));
              scf::YieldOp::create(ib, il);
            });
        scf::YieldOp::create(ob, ol);
      });

  Value t = env.numQueryTiles;
  Value row = mul(b, loc, c, add(b, loc, t, cst(b, loc, 1)));
  Value base = mul(b, loc, c, env.classRows);
  // kScanUnroll counts per iteration, read before they are summed.
  auto tiles = scf::ForOp::create(
      b, loc, cst(b, loc, 0), t, cst(b, loc, kScanUnroll), ValueRange{base},
      [&](OpBuilder &mb, Location ml, Value g, ValueRange carried) {
        Value last = sub(mb, ml, t, cst(mb, ml, 1));
        SmallVector<Value> at, counts;
        for (int64_t u = 0; u < kScanUnroll; ++u) {
          at.push_back(add(mb, ml, g, cst(mb, ml, u)));
          counts.push_back(loadIndex(
              mb, ml, env.counts,
              add(mb, ml, mul(mb, ml, c, t), min(mb, ml, at.back(), last))));
        }
        Value acc = carried[0];
        for (int64_t u = 0; u < kScanUnroll; ++u) {
          Value inside = cmp(mb, ml, CmpIPredicate::slt, at[u], t);
          scf::IfOp::create(mb, ml, inside, [&](OpBuilder &sb, Location sl) {
            storeIndex(sb, sl, acc, env.offsets, add(sb, sl, row, at[u]));
            scf::YieldOp::create(sb, sl);
          });
          acc = add(mb, ml, acc,
                    arith::SelectOp::create(mb, ml, inside, counts[u], cst(mb, ml, 0)));
        }
        scf::YieldOp::create(mb, ml, ValueRange{acc});
      });
  storeIndex(b, loc, tiles.getResult(0), env.offsets, add(b, loc, row, t));
}
