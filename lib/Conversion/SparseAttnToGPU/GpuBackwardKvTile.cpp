//===- GpuBackwardKvTile.cpp - one KV tile of the backward kernel ----------===//
//
// The body the backward kernel runs per KV tile of the plan, once its K and
// V rows are in shared memory (GpuBackwardBuilder.h has the algorithm).
// A file of its own because, as the forward's tile, it is the inner loop
// whose registers decide the speed: the tile's keys are processed in a loop
// of 32-key chunks so that S and dP of a chunk (16 f32 each) sit next to
// dQ's accumulators without spilling (unrolled chunks of 128-key tiles
// spilled: the scheduler pulled the next chunk's loads forward).
//
//===----------------------------------------------------------------------===//

#include "GpuBackwardBuilder.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

/// Keys per chunk of the tile's first phase.
static constexpr int64_t kChunkKeys = 32;
/// Columns of dK or dV one warp accumulates at a time: 64 (32 f32 per
/// thread beside dQ's); 16 at head_dim 256, where dQ's accumulators take
/// 128 registers (with 64 or 32 columns, ptxas spilled 4-16 bytes on some
/// masks of the test specs, at 255 registers).
static int64_t unitColumns(int64_t headDim) { return headDim > 128 ? 16 : 64; }

SmallVector<Value> GpuBackwardBuilder::emitRowProducts(OpBuilder &b, Location loc,
                                                       Value rows, Value keysTile,
                                                       Value stage, Value n0,
                                                       int64_t count) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  SmallVector<Value> s(count / 8 * 4, zero);
  for (int64_t kk = 0; kk < cfg.headDim / 16; ++kk) {
    SmallVector<Value, 4> a =
        emitLdMatrix16x16(b, loc, rows, {}, warpRow, cst(b, loc, 16 * kk), lanes,
                          LdMatrixOrder::RowHalvesFirst, /*transpose=*/false);
    for (int64_t jp = 0; jp < count / 16; ++jp) {
      SmallVector<Value, 4> k = emitLdMatrix16x16(
          b, loc, keysTile, {stage}, add(b, loc, n0, cst(b, loc, 16 * jp)),
          cst(b, loc, 16 * kk),
          lanes, LdMatrixOrder::ColHalvesFirst, /*transpose=*/false);
      for (int64_t half = 0; half < 2; ++half) {
        MutableArrayRef<Value> c(s.data() + 4 * (2 * jp + half), 4);
        SmallVector<Value, 4> d =
            emitMma16816(b, loc, elemType, a, {k[2 * half], k[2 * half + 1]}, c);
        llvm::copy(d, c.begin());
      }
    }
  }
  return s;
}

void GpuBackwardBuilder::emitMaskChunk(OpBuilder &b, Location loc,
                                       const TileKeys &keys, ArrayRef<Value> words,
                                       Value n0, MutableArrayRef<Value> scores) {
  if (words.empty()) {
    // FULL tiles: only keys past a ragged tile's end.
    emitMaskScores(b, loc, scores, [&](int64_t j, int64_t e) -> Value {
      return emitKeyExists(b, loc, keys, columnOffset(j, e), add(b, loc, n0, quadColumn));
    });
    return;
  }
  // Element 4 (n0 / 8 + j) + e of the tile's word (emitMaskBits with one
  // m16 tile per warp: BN / 2 <= 64 elements), which also clears missing
  // keys: the chunk's bits start at n0 / 2.
  assert(words.size() == 1 && "one mask word per warp row tile");
  Type bitsType = words.front().getType();
  Value shift = arith::IndexCastUIOp::create(
      b, loc, bitsType, arith::DivUIOp::create(b, loc, n0, cst(b, loc, 2)));
  Value chunkBits = arith::ShRUIOp::create(b, loc, words.front(), shift);
  Value none = arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
  emitMaskScores(b, loc, scores, [&](int64_t j, int64_t e) -> Value {
    Value bit = arith::ConstantOp::create(
        b, loc, b.getIntegerAttr(bitsType, static_cast<int64_t>(uint64_t(1) << (4 * j + e))));
    return cmp(b, loc, arith::CmpIPredicate::ne,
               arith::AndIOp::create(b, loc, chunkBits, bit), none);
  });
}

void GpuBackwardBuilder::emitStoreChunk(OpBuilder &b, Location loc,
                                        ArrayRef<Value> values, Value tile,
                                        Value n0) {
  for (int64_t j = 0; j < static_cast<int64_t>(values.size()) / 4; ++j) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row = add(b, loc, add(b, loc, warpRow, lanes.group), cst(b, loc, 8 * half));
      Value col = add(b, loc, add(b, loc, quadColumn, n0), cst(b, loc, 8 * j));
      Value pair = emitPackPair(b, loc, elemType, values[4 * j + 2 * half],
                                values[4 * j + 2 * half + 1]);
      vector::StoreOp::create(b, loc, pair, tile, ValueRange{row, col},
                              /*nontemporal=*/false, llvm::Align(4));
    }
  }
}

void GpuBackwardBuilder::emitKeyGradients(OpBuilder &b, Location loc,
                                          const TileKeys &keys, Value stage) {
  // Units of 16 key rows x `width` columns, spread over the warps: one
  // key block per warp where the tile has as many, else the columns split.
  int64_t keyBlocks = cfg.blockN / 16;
  int64_t split =
      std::max<int64_t>(cfg.headDim / unitColumns(cfg.headDim), cfg.warps / keyBlocks);
  split = std::max<int64_t>(split, 1);
  int64_t width = cfg.headDim / split;
  int64_t units = keyBlocks * split, perWarp = units / cfg.warps;
  assert(units % cfg.warps == 0 && width % 16 == 0 && "unit split");
  Value warp = arith::DivUIOp::create(b, loc, threadId, cst(b, loc, 32));
  for (int64_t i = 0; i < perWarp; ++i) {
    Value unit = add(b, loc, warp, cst(b, loc, cfg.warps * i));
    Value keyRow0 = mul(b, loc, arith::DivUIOp::create(b, loc, unit, cst(b, loc, split)),
                        cst(b, loc, 16));
    Value col0 = mul(b, loc, arith::RemUIOp::create(b, loc, unit, cst(b, loc, split)),
                     cst(b, loc, width));
    // The global rows of the thread's two key rows, when they exist.
    std::array<Value, 2> keyAt, exists;
    for (int64_t half = 0; half < 2; ++half) {
      Value slot = add(b, loc, add(b, loc, keyRow0, lanes.group), cst(b, loc, 8 * half));
      exists[half] = cmp(b, loc, arith::CmpIPredicate::slt, slot, keys.numKeys);
      keyAt[half] = keys.gather
                        ? toIndex(b, loc,
                                  memref::LoadOp::create(b, loc, keysShared,
                                                         ValueRange{stage, slot}))
                        : add(b, loc, keys.k0, slot);
    }
    // dV = P^T dO, then dK = scale dS^T Q: A from the 16-bit tile read
    // transposed, B the rows (query axis = k) as V in the forward's P V.
    for (bool valueGradient : {true, false}) {
      Value left = valueGradient ? pShared : dsShared;
      Value right = valueGradient ? doShared : qShared;
      Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
      SmallVector<Value> acc(width / 8 * 4, zero);
      for (int64_t kk = 0; kk < cfg.blockM / 16; ++kk) {
        SmallVector<Value, 4> a =
            emitLdMatrix16x16(b, loc, left, {}, cst(b, loc, 16 * kk), keyRow0, lanes,
                              LdMatrixOrder::ColHalvesFirst, /*transpose=*/true);
        for (int64_t jd = 0; jd < width / 16; ++jd) {
          SmallVector<Value, 4> r = emitLdMatrix16x16(
              b, loc, right, {}, cst(b, loc, 16 * kk),
              add(b, loc, col0, cst(b, loc, 16 * jd)), lanes,
              LdMatrixOrder::RowHalvesFirst, /*transpose=*/true);
          for (int64_t half = 0; half < 2; ++half) {
            MutableArrayRef<Value> c(acc.data() + 4 * (2 * jd + half), 4);
            SmallVector<Value, 4> d =
                emitMma16816(b, loc, elemType, a, {r[2 * half], r[2 * half + 1]}, c);
            llvm::copy(d, c.begin());
          }
        }
      }
      Value target = valueGradient ? dvView : dkView;
      SmallVector<Value> scaled(acc);
      if (!valueGradient)
        for (Value &x : scaled)
          x = arith::MulFOp::create(b, loc, scale, x);
      auto floatAdds = [&](OpBuilder &b, Location loc) {
        if (vectorAtomics) {
          emitPairAtomics(b, loc, valueGradient ? dvBase : dkBase, keyAt, exists, col0, scaled);
          return;
        }
        for (int64_t half = 0; half < 2; ++half) {
          scf::IfOp::create(b, loc, exists[half], [&](OpBuilder &b, Location loc) {
            for (int64_t t = 0; t < width / 8; ++t) {
              Value col = add(b, loc, add(b, loc, col0, quadColumn), cst(b, loc, 8 * t));
              for (int64_t e = 0; e < 2; ++e)
                memref::AtomicRMWOp::create(
                    b, loc, arith::AtomicRMWKind::addf, scaled[4 * t + 2 * half + e], target,
                    ValueRange{keyAt[half], add(b, loc, col, cst(b, loc, e))});
            }
            scf::YieldOp::create(b, loc);
          });
        }
      };
      // A uniform branch: every thread of the launch takes the same side.
      scf::IfOp::create(
          b, loc, fixedPoint,
          [&](OpBuilder &b, Location loc) {
            emitFixedPointAtomics(b, loc, valueGradient ? dvFixedBase : dkFixedBase, keyAt,
                                  exists, col0, scaled, fixedScales[valueGradient ? 1 : 0]);
            scf::YieldOp::create(b, loc);
          },
          [&](OpBuilder &b, Location loc) {
            floatAdds(b, loc);
            scf::YieldOp::create(b, loc);
          });
    }
  }
}

/// The address of element `index` (an index value) after `base`.
static Value elementAddress(OpBuilder &b, Location loc, Value base, Type element,
                            Value index) {
  Value at = arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  return LLVM::GEPOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), element,
                             base, ValueRange{at});
}

/// A global reduction, which returns nothing (inline PTX: MLIR 22 has ops
/// for atomics that return the old value, none for `red`).
static void emitReduction(OpBuilder &b, Location loc, StringRef ptx, StringRef constraints,
                          ValueRange operands) {
  LLVM::InlineAsmOp::create(b, loc, TypeRange{}, operands, ptx, constraints,
                            /*has_side_effects=*/true, /*is_align_stack=*/false,
                            LLVM::tailcallkind::TailCallKind::None,
                            /*asm_dialect=*/LLVM::AsmDialectAttr(),
                            /*operand_attrs=*/ArrayAttr());
}

void GpuBackwardBuilder::emitExistingKeyRows(
    OpBuilder &b, Location loc, ArrayRef<Value> keyAt, ArrayRef<Value> exists, Value col0,
    function_ref<void(OpBuilder &, Location, Value, int64_t)> body) {
  for (int64_t half = 0; half < 2; ++half) {
    scf::IfOp::create(b, loc, exists[half], [&](OpBuilder &b, Location loc) {
      Value rowStart = add(b, loc, mul(b, loc, keyAt[half], cst(b, loc, cfg.headDim)),
                           add(b, loc, col0, quadColumn));
      body(b, loc, rowStart, half);
      scf::YieldOp::create(b, loc);
    });
  }
}

void GpuBackwardBuilder::emitFixedPointAtomics(OpBuilder &b, Location loc, Value base,
                                               ArrayRef<Value> keyAt, ArrayRef<Value> exists,
                                               Value col0, ArrayRef<Value> values,
                                               Value scale) {
  // The share x of one element becomes the integer round(x * scale) (scale
  // a power of two: the product is exact), added as 64-bit two's
  // complement: the sum of a key's shares is then the same in whatever
  // order the query tiles add them.
  emitExistingKeyRows(b, loc, keyAt, exists, col0,
                      [&](OpBuilder &b, Location loc, Value rowStart, int64_t half) {
    for (int64_t t = 0, tiles = values.size() / 4; t < tiles; ++t)
      for (int64_t e = 0; e < 2; ++e) {
        Value address = elementAddress(b, loc, base, b.getI64Type(),
                                       add(b, loc, rowStart, cst(b, loc, 8 * t + e)));
        Value x = arith::MulFOp::create(b, loc, values[4 * t + 2 * half + e], scale);
        emitReduction(b, loc,
                      "{ .reg .s64 fx; cvt.rni.s64.f32 fx, $1; red.global.add.u64 [$0], fx; }",
                      "l,f", ValueRange{address, x});
      }
  });
}

void GpuBackwardBuilder::emitPairAtomics(OpBuilder &b, Location loc, Value base,
                                         ArrayRef<Value> keyAt, ArrayRef<Value> exists,
                                         Value col0, ArrayRef<Value> values) {
  // A thread holds columns 2 quad, + 1 of its rows group and group + 8 in
  // every 8-column tile: one 8-byte vector reduction (sm_90) per pair. It
  // halves the atomics of the scalar form (1.47x on causal 32K); four
  // columns per thread after a swap with the neighbouring quad measured
  // no faster (bench/RESULTS.md, session 22).
  emitExistingKeyRows(b, loc, keyAt, exists, col0,
                      [&](OpBuilder &b, Location loc, Value rowStart, int64_t half) {
    for (int64_t t = 0, tiles = values.size() / 4; t < tiles; ++t) {
      Value address = elementAddress(b, loc, base, b.getF32Type(),
                                     add(b, loc, rowStart, cst(b, loc, 8 * t)));
      emitReduction(b, loc, "red.global.add.v2.f32 [$0], {$1, $2};", "l,f,f",
                    ValueRange{address, values[4 * t + 2 * half], values[4 * t + 2 * half + 1]});
    }
  });
}

LoopState GpuBackwardBuilder::emitKvTile(OpBuilder &b, Location loc,
                                         const TileKeys &keys, Value stage,
                                         bool partial, LoopState state) {
  SmallVector<Value> words;
  if (partial)
    words = emitMaskBits(b, loc, keys, stage);
  // The chunks run as a loop, not unrolled: straight-line chunks let the
  // scheduler hoist the next chunk's loads into this one's registers
  // (128-key tiles spilled about 100 bytes).
  int64_t chunk = std::min(cfg.blockN, kChunkKeys);
  auto chunks = scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, cfg.blockN), cst(b, loc, chunk), state.acc[0],
      [&](OpBuilder &b, Location loc, Value n0, ValueRange carried) {
        SmallVector<Value> dq(carried.begin(), carried.end());
        SmallVector<Value> s = emitRowProducts(b, loc, qShared, kShared, stage, n0, chunk);
        emitMaskChunk(b, loc, keys, words, n0, s);
        // P = 2^(S scale log2e - LSE log2e); masked scores are -inf, rows
        // without keys have LSE log2e = +inf: both give 0.
        for (int64_t i = 0, e = s.size(); i < e; ++i) {
          Value shifted = math::FmaOp::create(
              b, loc, s[i], log2Scale,
              arith::NegFOp::create(b, loc, lseLog2[rowHalfOf(i % 4)]));
          s[i] = math::Exp2Op::create(b, loc, shifted);
        }
        SmallVector<Value> ds = emitRowProducts(b, loc, doShared, vShared, stage, n0, chunk);
        for (int64_t i = 0, e = ds.size(); i < e; ++i)
          ds[i] = arith::MulFOp::create(
              b, loc, s[i],
              arith::SubFOp::create(b, loc, ds[i], rowDelta[rowHalfOf(i % 4)]));
        emitStoreChunk(b, loc, s, pShared, n0);
        emitStoreChunk(b, loc, ds, dsShared, n0);
        // dQ += dS K[n0, n0 + chunk).
        for (int64_t kk = 0; kk < chunk / 16; ++kk) {
          SmallVector<Value, 4> a = emitAccumulatorAsA(b, loc, elemType, ds, kk);
          for (int64_t jd = 0; jd < cfg.headDim / 16; ++jd) {
            SmallVector<Value, 4> k = emitLdMatrix16x16(
                b, loc, kShared, {stage}, add(b, loc, n0, cst(b, loc, 16 * kk)),
                cst(b, loc, 16 * jd), lanes, LdMatrixOrder::RowHalvesFirst,
                /*transpose=*/true);
            for (int64_t half = 0; half < 2; ++half) {
              MutableArrayRef<Value> c(dq.data() + 4 * (2 * jd + half), 4);
              SmallVector<Value, 4> d =
                  emitMma16816(b, loc, elemType, a, {k[2 * half], k[2 * half + 1]}, c);
              llvm::copy(d, c.begin());
            }
          }
        }
        scf::YieldOp::create(b, loc, dq);
      });
  state.acc[0].assign(chunks.getResults().begin(), chunks.getResults().end());
  // Every warp's P and dS rows are in shared memory.
  gpu::BarrierOp::create(b, loc);
  emitKeyGradients(b, loc, keys, stage);
  return state;
}
