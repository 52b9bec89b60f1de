//===- GpuAttentionKvTile.cpp - one KV tile of the sm_80 kernel -------------===//
//
// Everything one KV tile does: its key positions (range or gather), the
// asynchronous copies of its K and V rows, S = Q K^T, the element mask of
// PARTIAL tiles as bit words, the ragged-tile bound, the online softmax and
// O += P V. Why a file of its own: this is the inner loop whose register
// use decides the kernel's speed.
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilderImpl.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

TileKeys GpuAttentionBuilder::emitTileKeys(OpBuilder &b, Location loc,
                                           const SegmentRecord &seg,
                                           const SegmentTiles &tiles,
                                           bool gather, Value t) {
  Value bn = cst(b, loc, cfg.blockN);
  TileKeys keys;
  keys.gather = gather;
  keys.cursor = tiles.gather;
  if (gather) {
    keys.j0 = mul(b, loc, t, bn);
    keys.numKeys = min(
        b, loc, bn, arith::SubIOp::create(b, loc, tiles.gather.count, keys.j0));
  } else {
    keys.k0 = mul(b, loc, add(b, loc, seg.lo, t), bn);
    keys.numKeys =
        min(b, loc, bn, arith::SubIOp::create(b, loc, lk, keys.k0));
  }
  return keys;
}

Value GpuAttentionBuilder::emitKey(OpBuilder &b, Location loc,
                                   const TileKeys &keys, int64_t offset,
                                   Value threadPart) {
  Value base = keys.gather ? keys.j0 : keys.k0;
  Value position =
      add(b, loc, add(b, loc, base, cst(b, loc, offset)), threadPart);
  if (!keys.gather)
    return position;
  return emitGatheredKey(b, loc, keys.cursor, position);
}

Value GpuAttentionBuilder::emitKeyExists(OpBuilder &b, Location loc,
                                         const TileKeys &keys, int64_t offset,
                                         Value threadPart) {
  // threadPart + offset < numKeys, with the constant on the tile side.
  Value limit =
      arith::SubIOp::create(b, loc, keys.numKeys, cst(b, loc, offset));
  return cmp(b, loc, arith::CmpIPredicate::slt, threadPart, limit);
}

void GpuAttentionBuilder::emitIssueKvTile(OpBuilder &b, Location loc,
                                          const TileKeys &keys, Value stage) {
  TileCopySlots slots = emitTileCopySlots(b, loc, cfg, threadId, cfg.blockN);
  Value zero = cst(b, loc, 0);
  if (keys.gather) {
    // One thread per tile row evaluates the lattice formula (a division)
    // or reads the key list, and publishes the key; the copies and the
    // element masks of PARTIAL tiles read it back. Missing rows get key 0,
    // a valid row; they read the list's last key, not past it (the next
    // list, or the end of the plan buffer).
    for (int64_t first = 0; first < cfg.blockN; first += cfg.threads()) {
      Value row = add(b, loc, threadId, cst(b, loc, first));
      Value inTile =
          cmp(b, loc, arith::CmpIPredicate::ult, row, cst(b, loc, cfg.blockN));
      scf::IfOp::create(b, loc, inTile, [&](OpBuilder &b, Location loc) {
        Value valid = emitKeyExists(b, loc, keys, 0, row);
        // An issued tile has a key: rows past it read the last one.
        Value inList = min(b, loc, row, sub(b, loc, keys.numKeys, cst(b, loc, 1)));
        Value key = arith::SelectOp::create(
            b, loc, valid, emitKey(b, loc, keys, 0, inList), zero);
        memref::StoreOp::create(
            b, loc, arith::IndexCastOp::create(b, loc, b.getI32Type(), key),
            keysShared, ValueRange{stage, row});
        scf::YieldOp::create(b, loc);
      });
    }
    gpu::BarrierOp::create(b, loc);
  }
  SmallVector<RowSource> sources;
  for (int64_t pass = 0; pass < slots.passes; ++pass) {
    int64_t offset = pass * slots.rowsPerPass;
    Value valid = emitKeyExists(b, loc, keys, offset, slots.firstRow);
    Value key;
    if (keys.gather) {
      Value row = add(b, loc, slots.firstRow, cst(b, loc, offset));
      key = arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          memref::LoadOp::create(b, loc, keysShared, ValueRange{stage, row}));
    } else {
      key = arith::SelectOp::create(
          b, loc, valid, emitKey(b, loc, keys, offset, slots.firstRow), zero);
    }
    sources.push_back({key, valid});
  }
  Value tile = mul(b, loc, stage, cst(b, loc, cfg.blockN * cfg.rowStride()));
  emitAsyncTileCopy(b, loc, cfg, slots, sources,
                    {TileCopyOperand{kTile, kSharedFlat, tile},
                     TileCopyOperand{vTile, vSharedFlat, tile}});
}

TileScores GpuAttentionBuilder::emitScores(OpBuilder &b, Location loc,
                                           Value stage) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  TileScores s(cfg.mTiles(), SmallVector<Value>(cfg.blockN / 8 * 4, zero));
  for (int64_t kk = 0; kk < cfg.headDim / 16; ++kk) {
    SmallVector<SmallVector<Value, 4>, 2> a;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
      a.push_back(cfg.qInRegisters
                      ? qFrags[mt][kk]
                      : emitLdMatrix16x16(b, loc, qShared, {},
                                          mTileRow(b, loc, mt),
                                          cst(b, loc, 16 * kk), lanes,
                                          LdMatrixOrder::RowHalvesFirst, false));
    for (int64_t jp = 0; jp < cfg.blockN / 16; ++jp) {
      // One K fragment feeds the MMAs of every m16 tile of the warp.
      SmallVector<Value, 4> k = emitLdMatrix16x16(
          b, loc, kShared, {stage}, cst(b, loc, 16 * jp), cst(b, loc, 16 * kk),
          lanes, LdMatrixOrder::ColHalvesFirst, /*transpose=*/false);
      for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
        for (int64_t half = 0; half < 2; ++half) {
          int64_t tile = 2 * jp + half;
          MutableArrayRef<Value> c(s[mt].data() + 4 * tile, 4);
          SmallVector<Value, 4> d = emitMma16816(
              b, loc, elemType, a[mt], {k[2 * half], k[2 * half + 1]}, c);
          llvm::copy(d, c.begin());
        }
      }
    }
  }
  return s;
}

void GpuAttentionBuilder::emitKeyBound(OpBuilder &b, Location loc,
                                       const TileKeys &keys,
                                       MutableArrayRef<Value> scores) {
  emitMaskScores(b, loc, scores, [&](int64_t j, int64_t e) -> Value {
    return emitKeyExists(b, loc, keys, columnOffset(j, e), quadColumn);
  });
}

SmallVector<Value> GpuAttentionBuilder::emitMaskBits(OpBuilder &b,
                                                     Location loc,
                                                     const TileKeys &keys,
                                                     Value stage) {
  // A loop over the thread's elements, rolled but for cfg.maskUnroll
  // elements per iteration: the mask code is emitted a few times per tile
  // loop instead of once per element, which keeps PARTIAL tiles of
  // table-reading masks small and their registers few, while the table
  // reads of those few elements overlap. Element
  // i = mt * BN/2 + 4 * j + e (m16 tile mt, 8-column tile j) sets bit
  // i % 64 of word i / 64 when kept; one loop per word (one word unless
  // the warp holds more than 64 elements per thread).
  // Window words where a warp holds 16 rows: with 32 (128 x 32 tiles, at
  // 255 registers already) the second tile's words make ptxas spill.
  if (separatedMask && !keys.gather && cfg.mTiles() == 1)
    return emitWindowMaskBits(b, loc, keys);
  int64_t perTile = cfg.blockN / 8 * 4;
  int64_t elements = cfg.mTiles() * perTile;
  int64_t wordBits = elements <= 32 ? 32 : 64;
  Type bitsType = b.getIntegerType(wordBits);
  SmallVector<Value> words;
  for (int64_t first = 0; first < elements; first += wordBits) {
    int64_t end = std::min(elements, first + wordBits);
    Value none =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
    auto loop = scf::ForOp::create(
        b, loc, cst(b, loc, first), cst(b, loc, end), cst(b, loc, 1),
        ValueRange{none},
        [&](OpBuilder &b, Location loc, Value i, ValueRange carried) {
          auto udiv = [&](Value x, int64_t n) -> Value {
            return arith::DivUIOp::create(b, loc, x, cst(b, loc, n));
          };
          auto urem = [&](Value x, int64_t n) -> Value {
            return arith::RemUIOp::create(b, loc, x, cst(b, loc, n));
          };
          // The element within its m16 tile.
          Value w = cfg.mTiles() == 1 ? i : urem(i, perTile);
          Value e = urem(w, 4);
          Value half = udiv(e, 2);
          // Column 8j + e % 2 + 2 * quad of the tile.
          Value column = add(
              b, loc,
              add(b, loc, mul(b, loc, udiv(w, 4), cst(b, loc, 8)), urem(e, 2)),
              quadColumn);
          Value key;
          if (keys.gather)
            key = toIndex(b, loc,
                          memref::LoadOp::create(b, loc, keysShared,
                                                 ValueRange{stage, column}));
          else
            key = add(b, loc, keys.k0, column);
          // Row group + 8 * half of m16 tile mt: 16 rows past the last.
          Value q =
              add(b, loc, queryPos[0][0], mul(b, loc, half, cst(b, loc, 8)));
          if (cfg.mTiles() > 1)
            q = add(b, loc, q,
                    mul(b, loc, udiv(i, perTile), cst(b, loc, 16)));
          ElementMaskEnv env{batchIdx, headIdx, q, key, lk, tables};
          FailureOr<Value> keep =
              emitElementMask(b, loc, kernel.getMask(), env);
          Value bits = carried.front();
          if (failed(keep)) {
            failedMask = true;
          } else {
            // Columns past the tile's keys hold zero-filled rows (or, in a
            // gather, keys of the next lattice period), never a kept pair.
            Value exists =
                cmp(b, loc, arith::CmpIPredicate::slt, column, keys.numKeys);
            Value kept = arith::AndIOp::create(b, loc, *keep, exists);
            Value shift =
                first == 0 ? i
                           : arith::SubIOp::create(b, loc, i, cst(b, loc, first))
                                 .getResult();
            Value bit = arith::ShLIOp::create(
                b, loc, arith::ExtUIOp::create(b, loc, bitsType, kept),
                arith::IndexCastUIOp::create(b, loc, bitsType, shift));
            bits = arith::OrIOp::create(b, loc, bits, bit);
          }
          scf::YieldOp::create(b, loc, bits);
        });
    // A few elements per iteration, so that the table reads of masks that
    // have them are in flight together instead of one latency each.
    // (At least two iterations remain: unrolling a loop fully replaces it.)
    int64_t factor = cfg.maskUnroll;
    while (factor > 1 && ((end - first) % factor || (end - first) / factor < 2))
      factor /= 2;
    if (factor > 1)
      (void)loopUnrollByFactor(loop, factor);
    words.push_back(loop.getResult(0));
  }
  return words;
}

SmallVector<Value> GpuAttentionBuilder::emitWindowMaskBits(OpBuilder &b,
                                                           Location loc,
                                                           const TileKeys &keys) {
  // The words of emitMaskBits (element i = mt * BN/2 + 4j + e sets bit
  // i % wordBits of word i / wordBits), one m16 tile's window bits at a time.
  int64_t perTile = cfg.blockN / 2;
  int64_t elements = cfg.mTiles() * perTile;
  int64_t wordBits = elements <= 32 ? 32 : 64;
  Type bitsType = b.getIntegerType(wordBits);
  Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
  SmallVector<Value> words((elements + wordBits - 1) / wordBits, zero);
  ElementMaskEnv env{batchIdx, headIdx, Value(), Value(), lk, tables};
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    WindowLayout layout{cfg.blockN, lanes.lane, lanes.group, quadColumn,
                        {queryPos[mt][0], queryPos[mt][1]}};
    WindowMaskBits bits(b, loc, layout, env, keys.k0);
    // Columns past the tile's keys hold zero-filled rows, never kept.
    Value exists = bits.window(
        TermDependence::Key, [&](OpBuilder &b, Location loc, Value, Value k) {
          return cmp(b, loc, arith::CmpIPredicate::slt, sub(b, loc, k, keys.k0),
                     keys.numKeys);
        });
    FailureOr<Value> keep = bits.node(*separatedMask, separatedMask->root);
    if (failed(keep)) {
      failedMask = true;
      return words;
    }
    Value kept = arith::AndIOp::create(b, loc, exists, *keep);
    if (wordBits == 32)
      kept = arith::TruncIOp::create(b, loc, bitsType, kept);
    int64_t first = mt * perTile;
    if (first % wordBits)
      kept = arith::ShLIOp::create(
          b, loc, kept,
          arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, first % wordBits)));
    Value &word = words[first / wordBits];
    word = arith::OrIOp::create(b, loc, word, kept);
  }
  return words;
}

void GpuAttentionBuilder::emitApplyMaskBits(OpBuilder &b, Location loc,
                                            ArrayRef<Value> words,
                                            TileScores &scores) {
  Type bitsType = words.front().getType();
  int64_t wordBits = bitsType.getIntOrFloatBitWidth();
  int64_t perTile = cfg.blockN / 8 * 4;
  Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    emitMaskScores(b, loc, scores[mt], [&](int64_t j, int64_t e) -> Value {
      int64_t i = mt * perTile + 4 * j + e;
      Value bit = arith::ConstantOp::create(
          b, loc,
          b.getIntegerAttr(bitsType,
                           static_cast<int64_t>(uint64_t(1) << (i % wordBits))));
      return cmp(b, loc, arith::CmpIPredicate::ne,
                 arith::AndIOp::create(b, loc, words[i / wordBits], bit), zero);
    });
  }
}

void GpuAttentionBuilder::emitAccumulate(
    OpBuilder &b, Location loc, Value stage, const TileScores &probabilities,
    MutableArrayRef<SmallVector<Value>> acc) {
  for (int64_t kk = 0; kk < cfg.blockN / 16; ++kk) {
    SmallVector<SmallVector<Value, 4>, 2> p;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
      p.push_back(emitAccumulatorAsA(b, loc, elemType, probabilities[mt], kk));
    for (int64_t jd = 0; jd < cfg.headDim / 16; ++jd) {
      // One V fragment feeds the MMAs of every m16 tile of the warp.
      SmallVector<Value, 4> v = emitLdMatrix16x16(
          b, loc, vShared, {stage}, cst(b, loc, 16 * kk), cst(b, loc, 16 * jd),
          lanes, LdMatrixOrder::RowHalvesFirst, /*transpose=*/true);
      for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
        for (int64_t half = 0; half < 2; ++half) {
          MutableArrayRef<Value> c(acc[mt].data() + 4 * (2 * jd + half), 4);
          SmallVector<Value, 4> d = emitMma16816(
              b, loc, elemType, p[mt], {v[2 * half], v[2 * half + 1]}, c);
          llvm::copy(d, c.begin());
        }
      }
    }
  }
}

LoopState GpuAttentionBuilder::emitKvTile(OpBuilder &b, Location loc,
                                          const TileKeys &keys, Value stage,
                                          bool partial, LoopState state) {
  // The mask depends on positions only: evaluating it before Q.K^T keeps
  // the scores out of the registers its code needs.
  SmallVector<Value> keepBits;
  if (partial)
    keepBits = emitMaskBits(b, loc, keys, stage);
  TileScores scores = emitScores(b, loc, stage);
  if (partial) {
    emitApplyMaskBits(b, loc, keepBits, scores);
  } else {
    // FULL tiles carry no mask code; only a ragged last tile (fewer than
    // BN keys) drops its missing columns of every m16 tile, behind a
    // uniform branch.
    Value ragged = cmp(b, loc, arith::CmpIPredicate::slt, keys.numKeys,
                       cst(b, loc, cfg.blockN));
    SmallVector<Value> flat;
    for (const SmallVector<Value> &s : scores)
      flat.append(s);
    SmallVector<Type> types(flat.size(), b.getF32Type());
    auto branch = scf::IfOp::create(b, loc, types, ragged, true);
    {
      OpBuilder tb = OpBuilder::atBlockEnd(branch.thenBlock());
      SmallVector<Value> bounded;
      for (const SmallVector<Value> &s : scores) {
        SmallVector<Value> tile(s);
        emitKeyBound(tb, loc, keys, tile);
        bounded.append(tile);
      }
      scf::YieldOp::create(tb, loc, bounded);
    }
    {
      OpBuilder eb = OpBuilder::atBlockEnd(branch.elseBlock());
      scf::YieldOp::create(eb, loc, flat);
    }
    int64_t perTile = cfg.blockN / 8 * 4;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
      ValueRange r = branch.getResults().slice(mt * perTile, perTile);
      scores[mt].assign(r.begin(), r.end());
    }
  }
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    SoftmaxStep step =
        emitSoftmaxStep(b, loc, scores[mt], state.rows[mt], log2Scale);
    if (blockMaxRow)
      emitStoreTileRowMax(b, loc, keys, mt, step.tileMax);
    emitRescaleAccumulators(b, loc, state.acc[mt], step.alpha);
    state.rows[mt] = step.state;
  }
  emitAccumulate(b, loc, stage, scores, state.acc);
  return state;
}
