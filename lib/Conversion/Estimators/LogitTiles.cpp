//===- LogitTiles.cpp - logits of a tile of rows against a window of keys -===//
//
// The load and logit phases of the logit tile stages (LogitTiles.h): one
// copy of the shared-memory layout and of the in-order dot products that
// vertical_slash's and stripe's references fix, so that every such stage
// reproduces its reference bit for bit; or, where the runner has tensor
// cores, the same logits of query rows with f32 sums.
//
//===----------------------------------------------------------------------===//

#include "LogitTiles.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>
#include <cassert>

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

/// The most rows a logit item takes (a divisor of the tile's rows, so that
/// the items cover them) while the tile still has a thread's worth of items.
static int64_t microRowsOf(abi::EstimatorTile t) {
  int64_t most = std::max<int64_t>(1, t.rows * t.keys / abi::kEstimatorThreads);
  while (t.rows % most != 0)
    --most;
  return most;
}

LogitTile::LogitTile(abi::EstimatorTile t, int64_t headDim, bool tensorLogits)
    : rows(t.rows), keys(t.keys), headDim(headDim),
      keyStride(headDim + (tensorLogits && t.rows >= kTensorRowsAtLeast
                               ? abi::kEstimatorTensorKeyPad
                               : abi::kEstimatorKeyPad)),
      microRows(microRowsOf(t)) {}

TileSlice::TileSlice(OpBuilder &b, Location loc, const EstimatorEnv &env, Value slice)
    : index(slice) {
  KernelOp kernel = env.kernel;
  head = rem(b, loc, slice, cst(b, loc, kernel.getHeads()));
  batch = div(b, loc, slice, cst(b, loc, kernel.getHeads()));
  kvHead = div(b, loc, head, cst(b, loc, kernel.getHeads() / kernel.getKvHeads()));
}

Value stages::queryValue(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileSlice &sl,
                         Value row, Value inside, Value column) {
  Scalar s{b, loc};
  return s.select(inside, env.load(b, loc, false, sl.batch, sl.head, row, column), s.f64(0.0));
}

/// Whether a tile's rows are multiplied on tensor cores: input rows, a
/// runner with tensor cores, enough rows. They are then stored in the input
/// type after the keys, else as f64 (the in-order f64 sums read them there,
/// with no conversion in their inner loop).
static bool onTensorCores(const TileRunner &run, const LogitTile &ts, bool inputRows) {
  return (inputRows || ts.splitRows) && ts.tensorRows(bool(run.tensorLogits));
}

/// Items a thread loads before it stores any, so that their global loads
/// are in flight together (one item at a time, each waited for its load).
constexpr int64_t kLoadUnroll = 4;

namespace {

using LoadFn = function_ref<Value(OpBuilder &, Location, Value)>;
using StoreFn = function_ref<void(OpBuilder &, Location, Value, Value)>;

/// `items` items of a load phase, each read by `load` (a value or a vector)
/// and written by `store`.
struct LoadRange {
  int64_t items;
  LoadFn load;
  StoreFn store;
};

/// One phase over the ranges' items: groups of kLoadUnroll items `threads`
/// apart (so that consecutive threads still take consecutive items), each
/// thread's loads of a group issued before its stores.
void emitLoadRanges(OpBuilder &b, Location loc, const TileRunner &run,
                    ArrayRef<LoadRange> ranges) {
  constexpr int64_t threads = abi::kEstimatorThreads, span = threads * kLoadUnroll;
  auto groupsOf = [&](const LoadRange &r) { return (r.items + span - 1) / span * threads; };
  auto emitGroup = [&](OpBuilder &gb, Location gl, Value group, const LoadRange &r) {
    Value first =
        add(gb, gl, mul(gb, gl, div(gb, gl, group, cst(gb, gl, threads)), cst(gb, gl, span)),
            rem(gb, gl, group, cst(gb, gl, threads)));
    SmallVector<Value, kLoadUnroll> at, values;
    for (int64_t u = 0; u < kLoadUnroll; ++u) {
      at.push_back(add(gb, gl, first, cst(gb, gl, u * threads)));
      values.push_back(r.load(gb, gl, min(gb, gl, at.back(), cst(gb, gl, r.items - 1))));
    }
    for (int64_t u = 0; u < kLoadUnroll; ++u)
      scf::IfOp::create(gb, gl, cmp(gb, gl, CmpIPredicate::slt, at[u], cst(gb, gl, r.items)),
                        [&](OpBuilder &sb, Location storeLoc) {
                          r.store(sb, storeLoc, at[u], values[u]);
                          scf::YieldOp::create(sb, storeLoc);
                        });
  };
  SmallVector<LoadRange> used;
  int64_t total = 0;
  for (const LoadRange &r : ranges)
    if (r.items > 0) {
      used.push_back(r);
      total += groupsOf(r);
    }
  // Group g belongs to the first range whose groups reach past it.
  std::function<void(OpBuilder &, Location, Value, size_t)> dispatch =
      [&](OpBuilder &db, Location dl, Value g, size_t i) {
        if (i + 1 == used.size())
          return emitGroup(db, dl, g, used[i]);
        Value groups = cst(db, dl, groupsOf(used[i]));
        scf::IfOp::create(
            db, dl, cmp(db, dl, CmpIPredicate::slt, g, groups),
            [&](OpBuilder &tb, Location tl) {
              emitGroup(tb, tl, g, used[i]);
              scf::YieldOp::create(tb, tl);
            },
            [&](OpBuilder &eb, Location el) {
              dispatch(eb, el, sub(eb, el, g, groups), i + 1);
              scf::YieldOp::create(eb, el);
            });
      };
  run.phase(b, loc, cst(b, loc, total), [&](OpBuilder &pb, Location pl, Value g) {
    if (!used.empty())
      dispatch(pb, pl, g, 0);
  });
}

/// Writes the kInputVector elements of `v` to the key buffer from entry
/// `slot`: in one 16-byte store where rows are `stride` entries apart with
/// 16-byte boundaries (the tensor tiles' pad), else a 4-byte aligned pair
/// at a time (rows padded by two elements start at 4-byte boundaries).
void storeKeyRowVector(OpBuilder &b, Location loc, const TileRunner &run, Value slot, Value v,
                      int64_t stride) {
  if (stride % kInputVector == 0) {
    vector::StoreOp::create(b, loc, v, run.keys, ValueRange{slot}, /*nontemporal=*/false,
                            llvm::MaybeAlign(16));
    return;
  }
  for (int64_t i = 0; i < kInputVector; i += 2) {
    Value pair = vector::ShuffleOp::create(b, loc, v, v, ArrayRef<int64_t>{i, i + 1});
    vector::StoreOp::create(b, loc, pair, run.keys, ValueRange{add(b, loc, slot, cst(b, loc, i))},
                            /*nontemporal=*/false, llvm::MaybeAlign(4));
  }
}

/// The rows of a load phase: none, computed f64 rows, or query rows.
struct TileRows {
  TileRowValue value = nullptr;
  TileQueryRow query = nullptr;
};

/// What a load phase puts in the window: nothing, keys of the slice's KV
/// head, or query rows of its head.
enum class TileWindow { None, Keys, Queries };

void emitLoads(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
               const LogitTile &ts, const TileSlice &sl, TileRows rows, Value k0,
               TileWindow window, int64_t keyStep) {
  bool queries = window == TileWindow::Queries;
  Value headDim = cst(b, loc, ts.headDim);
  bool tensorRows = rows.query && onTensorCores(run, ts, /*inputRows=*/true);
  bool splitRows = rows.value && onTensorCores(run, ts, /*inputRows=*/false);
  // Element by element.
  auto loadRow = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    Value r = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    if (rows.value)
      return rows.value(nb, nl, r, x);
    QueryRowRef ref = rows.query(nb, nl, r);
    return queryValue(nb, nl, env, sl, ref.row, ref.inside, x);
  };
  auto storeRow = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    if (!tensorRows && !splitRows) {
      Scalar ns{nb, nl};
      return ns.storeAt(v, run.shared, item);
    }
    // An input element (or 0) as f64: back to the input type exactly; a
    // computed value: its rounding, then what that rounding left out.
    Value row = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    Value slot = add(nb, nl, cst(nb, nl, ts.inputRowsAt()),
                     add(nb, nl, mul(nb, nl, row, cst(nb, nl, ts.keyStride)), x));
    Value hi = arith::TruncFOp::create(nb, nl, env.inputType, v);
    memref::StoreOp::create(nb, nl, hi, run.keys, ValueRange{slot});
    if (!splitRows)
      return;
    Scalar ns{nb, nl};
    Value rest = ns.fsub(v, arith::ExtFOp::create(nb, nl, nb.getF64Type(), hi));
    memref::StoreOp::create(nb, nl, arith::TruncFOp::create(nb, nl, env.inputType, rest), run.keys,
                            ValueRange{add(nb, nl, slot, cst(nb, nl, ts.rows * ts.keyStride))});
  };
  // Entry w of the window: its key (query row), whether it is in the
  // sequence, and the row read for it (clamped into the sequence).
  Value length = queries ? env.lq : env.lk;
  auto keyOf = [&](OpBuilder &nb, Location nl, Value w) -> QueryRowRef {
    Value key = add(nb, nl, k0, keyStep == 1 ? w : mul(nb, nl, w, cst(nb, nl, keyStep)));
    Value inside =
        arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sge, key, cst(nb, nl, 0)),
                              cmp(nb, nl, CmpIPredicate::slt, key, length));
    Value clamped =
        max(nb, nl, cst(nb, nl, 0), min(nb, nl, key, sub(nb, nl, length, cst(nb, nl, 1))));
    return {clamped, inside};
  };
  Value windowHead = queries ? sl.head : sl.kvHead;
  auto loadKey = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    Value w = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    QueryRowRef key = keyOf(nb, nl, w);
    Value k = env.loadElement(nb, nl, !queries, sl.batch, windowHead, key.row, x);
    Value zero = arith::ConstantOp::create(nb, nl, nb.getFloatAttr(env.inputType, 0.0));
    return arith::SelectOp::create(nb, nl, key.inside, k, zero);
  };
  auto storeKey = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    Value w = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    Value slot = add(nb, nl, mul(nb, nl, w, cst(nb, nl, ts.keyStride)), x);
    memref::StoreOp::create(nb, nl, v, run.keys, ValueRange{slot});
  };
  int64_t rowItems = rows.value || rows.query ? ts.rowEntries() : 0;
  int64_t keyItems = window != TileWindow::None ? ts.keys * ts.headDim : 0;
  auto scalarPhase = [&](OpBuilder &sb, Location sl2) {
    emitLoadRanges(sb, sl2, run,
                   {LoadRange{rowItems, loadRow, storeRow}, LoadRange{keyItems, loadKey, storeKey}});
  };
  if (!run.loadVector || ts.headDim % kInputVector != 0)
    return scalarPhase(b, loc);

  // kInputVector elements at a time (one 16-byte load each), where the
  // launch's tensors allow it: query rows on tensor cores and keys.
  Value perRow = cst(b, loc, ts.headDim / kInputVector);
  VectorType vectorType = VectorType::get({kInputVector}, env.inputType);
  auto zeros = [&](OpBuilder &nb, Location nl) -> Value {
    return arith::ConstantOp::create(
        nb, nl, DenseElementsAttr::get(vectorType, nb.getFloatAttr(env.inputType, 0.0)));
  };
  auto vectorAt = [&](OpBuilder &nb, Location nl, Value item) {
    return std::make_pair(div(nb, nl, item, perRow),
                          mul(nb, nl, rem(nb, nl, item, perRow), cst(nb, nl, kInputVector)));
  };
  auto loadRowVector = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    auto [r, x] = vectorAt(nb, nl, item);
    QueryRowRef ref = rows.query(nb, nl, r);
    Value v = run.loadVector(nb, nl, false, sl.batch, sl.head, ref.row, x);
    return arith::SelectOp::create(nb, nl, ref.inside, v, zeros(nb, nl));
  };
  auto storeRowVector = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    auto [r, x] = vectorAt(nb, nl, item);
    Value slot = add(nb, nl, cst(nb, nl, ts.inputRowsAt()),
                     add(nb, nl, mul(nb, nl, r, cst(nb, nl, ts.keyStride)), x));
    storeKeyRowVector(nb, nl, run, slot, v, ts.keyStride);
  };
  auto loadKeyVector = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    auto [w, x] = vectorAt(nb, nl, item);
    QueryRowRef key = keyOf(nb, nl, w);
    Value v = run.loadVector(nb, nl, !queries, sl.batch, windowHead, key.row, x);
    return arith::SelectOp::create(nb, nl, key.inside, v, zeros(nb, nl));
  };
  auto storeKeyVector = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    auto [w, x] = vectorAt(nb, nl, item);
    storeKeyRowVector(nb, nl, run, add(nb, nl, mul(nb, nl, w, cst(nb, nl, ts.keyStride)), x), v,
                     ts.keyStride);
  };
  scf::IfOp::create(
      b, loc, run.vectorsAligned,
      [&](OpBuilder &vb, Location vl) {
        SmallVector<LoadRange, 2> ranges;
        if (tensorRows)
          ranges.push_back(LoadRange{rowItems / kInputVector, loadRowVector, storeRowVector});
        else
          ranges.push_back(LoadRange{rowItems, loadRow, storeRow});
        ranges.push_back(LoadRange{keyItems / kInputVector, loadKeyVector, storeKeyVector});
        emitLoadRanges(vb, vl, run, ranges);
        scf::YieldOp::create(vb, vl);
      },
      [&](OpBuilder &eb, Location el) {
        scalarPhase(eb, el);
        scf::YieldOp::create(eb, el);
      });
}

} // namespace

void stages::emitTileLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                               const TileRunner &run, const LogitTile &ts, const TileSlice &sl,
                               TileRowValue rowValue, Value k0, bool keys, int64_t keyStep) {
  emitLoads(b, loc, env, run, ts, sl, TileRows{rowValue, nullptr}, k0,
            keys ? TileWindow::Keys : TileWindow::None, keyStep);
}

void stages::emitTileQueryWindowLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                                          const TileRunner &run, const LogitTile &ts,
                                          const TileSlice &sl, TileRowValue rowValue,
                                          Value firstRow) {
  emitLoads(b, loc, env, run, ts, sl, TileRows{rowValue, nullptr}, firstRow, TileWindow::Queries,
            1);
}

void stages::emitTileQueryLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                                    const TileRunner &run, const LogitTile &ts,
                                    const TileSlice &sl, TileQueryRow queryRow, Value k0,
                                    bool keys, int64_t keyStep) {
  emitLoads(b, loc, env, run, ts, sl, TileRows{nullptr, queryRow}, k0,
            keys ? TileWindow::Keys : TileWindow::None, keyStep);
}

/// Head-dimension elements per iteration of a logit's dot product.
constexpr int64_t kDotUnroll = 8;

void stages::emitTileLogitPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                                const TileRunner &run, const LogitTile &ts, bool inputRows,
                                function_ref<void(OpBuilder &, Location, Value, Value, Value)> use,
                                bool scaled) {
  if (onTensorCores(run, ts, inputRows)) {
    // The dot products land in the f64 row area (unused: the rows are in
    // the key buffer), then an ordinary phase hands them to `use`, so that
    // the stage's code on a logit does not share registers with the mma
    // fragments (vertical_slash's lines spilled at sm_80 when it did; even
    // XAttention's add into a slot ran 4 % slower there than through this
    // phase, session 31).
    assert(ts.rowEntries() >= ts.rows * ts.keys && "the row area holds the tile's logits");
    // Rows of paddedDotRow slots where the row area has room for them (not
    // the stripe's compare at head_dim 64: 16 rows of 64 keys in 16 x 64).
    int64_t stride = ts.rowEntries() >= ts.rows * paddedDotRow(ts.keys) ? paddedDotRow(ts.keys)
                                                                         : ts.keys;
    emitTileDotPhase(b, loc, env, run, ts, inputRows, /*dotsAt=*/0, stride);
    run.phase(b, loc, cst(b, loc, ts.rows * ts.keys), [&](OpBuilder &pb, Location pl, Value at) {
      Scalar s{pb, pl};
      Value row = div(pb, pl, at, cst(pb, pl, ts.keys)), key = rem(pb, pl, at, cst(pb, pl, ts.keys));
      Value dot = s.loadAt(run.shared, add(pb, pl, mul(pb, pl, row, cst(pb, pl, stride)), key));
      use(pb, pl, row, key, scaled ? s.fmul(s.f64(env.scale), dot) : dot);
    });
    return;
  }
  int64_t groups = ts.rows / ts.microRows;
  Value keys = cst(b, loc, ts.keys);
  auto flags = inputRows ? arith::FastMathFlags::contract : arith::FastMathFlags::none;
  run.phase(b, loc, cst(b, loc, groups * ts.keys), [&](OpBuilder &pb, Location pl, Value item) {
    Scalar s{pb, pl};
    Value w = rem(pb, pl, item, keys);
    Value firstRow = mul(pb, pl, div(pb, pl, item, keys), cst(pb, pl, ts.microRows));
    Value keyAt = mul(pb, pl, w, cst(pb, pl, ts.keyStride));
    Value rowAt = mul(pb, pl, firstRow, cst(pb, pl, ts.headDim));
    // One head-dimension element x: the key's element (converted once)
    // times each row's; the sums run over x in order. With exact products a
    // fused multiply-add (allowed by `contract`) rounds as multiply then
    // add.
    auto accumulate = [&](OpBuilder &nb, Location nl, Value x, SmallVectorImpl<Value> &acc) {
      Scalar ns{nb, nl};
      Value k = memref::LoadOp::create(nb, nl, run.keys, ValueRange{add(nb, nl, keyAt, x)});
      if (k.getType() != nb.getF64Type())
        k = arith::ExtFOp::create(nb, nl, nb.getF64Type(), k);
      for (int64_t m = 0; m < ts.microRows; ++m) {
        Value q =
            ns.loadAt(run.shared, add(nb, nl, add(nb, nl, rowAt, cst(nb, nl, m * ts.headDim)), x));
        Value product = arith::MulFOp::create(nb, nl, q, k, flags);
        acc[m] = arith::AddFOp::create(nb, nl, acc[m], product, flags);
      }
    };
    // kDotUnroll elements an iteration, whatever the loop body: their
    // addresses are constant offsets and their loads issue together (left
    // to itself, LLVM unrolled lines' four-row body by four elements).
    int64_t unrolled = ts.headDim / kDotUnroll * kDotUnroll;
    SmallVector<Value> zeros(ts.microRows, s.f64(0.0));
    auto dots =
        scf::ForOp::create(pb, pl, cst(pb, pl, 0), cst(pb, pl, unrolled), cst(pb, pl, kDotUnroll),
                           zeros, [&](OpBuilder &nb, Location nl, Value x0, ValueRange carried) {
                             SmallVector<Value> acc(carried);
                             for (int64_t u = 0; u < kDotUnroll; ++u)
                               accumulate(nb, nl, add(nb, nl, x0, cst(nb, nl, u)), acc);
                             scf::YieldOp::create(nb, nl, acc);
                           });
    SmallVector<Value> sums(dots.getResults());
    for (int64_t x = unrolled; x < ts.headDim; ++x)
      accumulate(pb, pl, cst(pb, pl, x), sums);
    for (int64_t m = 0; m < ts.microRows; ++m)
      use(pb, pl, add(pb, pl, firstRow, cst(pb, pl, m)), w,
          scaled ? s.fmul(s.f64(env.scale), sums[m]) : sums[m]);
  });
}

void stages::emitTileDotPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                              const TileRunner &run, const LogitTile &ts, bool inputRows,
                              int64_t dotsAt, int64_t rowStride) {
  auto slot = [&](OpBuilder &nb, Location nl, Value row, Value key) {
    Value inRow = add(nb, nl, mul(nb, nl, row, cst(nb, nl, rowStride)), key);
    return add(nb, nl, cst(nb, nl, dotsAt), inRow);
  };
  if (onTensorCores(run, ts, inputRows)) {
    TensorLogitBlock block = ts.tensorBlock();
    if (inputRows)
      block.loRowsAt = -1;
    run.tensorLogits(b, loc, block,
                     [&](OpBuilder &nb, Location nl, Value row, Value key, Value dot) {
                       Scalar ns{nb, nl};
                       ns.storeAt(arith::ExtFOp::create(nb, nl, nb.getF64Type(), dot), run.shared,
                                  slot(nb, nl, row, key));
                     });
    return;
  }
  emitTileLogitPhase(
      b, loc, env, run, ts, inputRows,
      [&](OpBuilder &nb, Location nl, Value row, Value key, Value dot) {
        Scalar ns{nb, nl};
        ns.storeAt(dot, run.shared, slot(nb, nl, row, key));
      },
      /*scaled=*/false);
}
