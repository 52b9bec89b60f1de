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

LogitTile::LogitTile(abi::EstimatorTile t, int64_t headDim)
    : rows(t.rows), keys(t.keys), headDim(headDim), keyStride(headDim + abi::kEstimatorKeyPad),
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
  return inputRows && ts.tensorRows(bool(run.tensorLogits));
}

/// Items a thread loads before it stores any, so that their global loads
/// are in flight together (one item at a time, each waited for its load).
constexpr int64_t kLoadUnroll = 4;

void stages::emitTileLoadPhase(OpBuilder &b, Location loc, const EstimatorEnv &env,
                               const TileRunner &run, const LogitTile &ts, const TileSlice &sl,
                               TileRowValue rowValue, Value k0, bool inputRows, bool keys,
                               int64_t keyStep) {
  constexpr int64_t threads = abi::kEstimatorThreads, span = threads * kLoadUnroll;
  int64_t rowItems = rowValue ? ts.rowEntries() : 0;
  int64_t keyItems = keys ? ts.keys * ts.headDim : 0;
  // Groups of kLoadUnroll items `threads` apart, so that consecutive threads
  // still take consecutive items.
  int64_t rowGroups = (rowItems + span - 1) / span * threads;
  int64_t keyGroups = (keyItems + span - 1) / span * threads;
  using LoadFn = function_ref<Value(OpBuilder &, Location, Value)>;
  using StoreFn = function_ref<void(OpBuilder &, Location, Value, Value)>;
  auto emitGroup = [&](OpBuilder &gb, Location gl, Value group, int64_t items, LoadFn load,
                       StoreFn store) {
    Value first =
        add(gb, gl, mul(gb, gl, div(gb, gl, group, cst(gb, gl, threads)), cst(gb, gl, span)),
            rem(gb, gl, group, cst(gb, gl, threads)));
    SmallVector<Value, kLoadUnroll> at, values;
    for (int64_t u = 0; u < kLoadUnroll; ++u) {
      at.push_back(add(gb, gl, first, cst(gb, gl, u * threads)));
      values.push_back(load(gb, gl, min(gb, gl, at.back(), cst(gb, gl, items - 1))));
    }
    for (int64_t u = 0; u < kLoadUnroll; ++u)
      scf::IfOp::create(gb, gl, cmp(gb, gl, CmpIPredicate::slt, at[u], cst(gb, gl, items)),
                        [&](OpBuilder &sb, Location storeLoc) {
                          store(sb, storeLoc, at[u], values[u]);
                          scf::YieldOp::create(sb, storeLoc);
                        });
  };
  Value headDim = cst(b, loc, ts.headDim);
  auto loadRow = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    return rowValue(nb, nl, div(nb, nl, item, headDim), rem(nb, nl, item, headDim));
  };
  bool tensorRows = onTensorCores(run, ts, inputRows);
  auto storeRow = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    if (!tensorRows) {
      Scalar ns{nb, nl};
      return ns.storeAt(v, run.shared, item);
    }
    // An input element (or 0) as f64: back to the input type exactly.
    Value row = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    Value slot = add(nb, nl, cst(nb, nl, ts.inputRowsAt()),
                     add(nb, nl, mul(nb, nl, row, cst(nb, nl, ts.keyStride)), x));
    memref::StoreOp::create(nb, nl, arith::TruncFOp::create(nb, nl, env.inputType, v), run.keys,
                            ValueRange{slot});
  };
  auto loadKey = [&](OpBuilder &nb, Location nl, Value item) -> Value {
    Value w = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    Value key = add(nb, nl, k0, keyStep == 1 ? w : mul(nb, nl, w, cst(nb, nl, keyStep)));
    Value inside =
        arith::AndIOp::create(nb, nl, cmp(nb, nl, CmpIPredicate::sge, key, cst(nb, nl, 0)),
                              cmp(nb, nl, CmpIPredicate::slt, key, env.lk));
    Value clamped =
        max(nb, nl, cst(nb, nl, 0), min(nb, nl, key, sub(nb, nl, env.lk, cst(nb, nl, 1))));
    Value k = env.loadElement(nb, nl, true, sl.batch, sl.kvHead, clamped, x);
    Value zero = arith::ConstantOp::create(nb, nl, nb.getFloatAttr(env.inputType, 0.0));
    return arith::SelectOp::create(nb, nl, inside, k, zero);
  };
  auto storeKey = [&](OpBuilder &nb, Location nl, Value item, Value v) {
    Value w = div(nb, nl, item, headDim), x = rem(nb, nl, item, headDim);
    Value slot = add(nb, nl, mul(nb, nl, w, cst(nb, nl, ts.keyStride)), x);
    memref::StoreOp::create(nb, nl, v, run.keys, ValueRange{slot});
  };
  run.phase(b, loc, cst(b, loc, rowGroups + keyGroups), [&](OpBuilder &pb, Location pl, Value g) {
    if (rowGroups == 0)
      return emitGroup(pb, pl, g, keyItems, loadKey, storeKey);
    if (keyGroups == 0)
      return emitGroup(pb, pl, g, rowItems, loadRow, storeRow);
    scf::IfOp::create(
        pb, pl, cmp(pb, pl, CmpIPredicate::slt, g, cst(pb, pl, rowGroups)),
        [&](OpBuilder &tb, Location tl) {
          emitGroup(tb, tl, g, rowItems, loadRow, storeRow);
          scf::YieldOp::create(tb, tl);
        },
        [&](OpBuilder &eb, Location el) {
          emitGroup(eb, el, sub(eb, el, g, cst(eb, el, rowGroups)), keyItems, loadKey, storeKey);
          scf::YieldOp::create(eb, el);
        });
  });
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
    // fragments (vertical_slash's lines spilled at sm_80 when it did).
    assert(ts.rowEntries() >= ts.rows * ts.keys && "the row area holds the tile's logits");
    auto slot = [&](OpBuilder &nb, Location nl, Value row, Value key) {
      return add(nb, nl, mul(nb, nl, row, cst(nb, nl, ts.keys)), key);
    };
    TensorLogitBlock block{ts.rows, ts.keys, ts.headDim, ts.keyStride, ts.inputRowsAt(), 0};
    run.tensorLogits(b, loc, block,
                     [&](OpBuilder &nb, Location nl, Value row, Value key, Value dot) {
                       Scalar ns{nb, nl};
                       ns.storeAt(arith::ExtFOp::create(nb, nl, nb.getF64Type(), dot), run.shared,
                                  slot(nb, nl, row, key));
                     });
    run.phase(b, loc, cst(b, loc, ts.rows * ts.keys), [&](OpBuilder &pb, Location pl, Value at) {
      Scalar s{pb, pl};
      Value row = div(pb, pl, at, cst(pb, pl, ts.keys)), key = rem(pb, pl, at, cst(pb, pl, ts.keys));
      Value dot = s.loadAt(run.shared, at);
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
