//===- PlanStages.cpp - the plan builder's stages, item by item -----------===//
//
// Implements sattn/Conversion/DevicePlan.h. Each stage is written once,
// for one item, so that the GPU kernels (a thread per item) and the CPU
// function (a loop per stage) are the same code. Here: the environment,
// summarize, classify, resolve and the dispatch; the stages that turn
// statuses into segments (count, scan, write) are in PlanSegments.cpp.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/DevicePlan.h"

#include "PlanSegments.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/TileIntervals.h"
#include "sattn/Core/KernelAbi.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::deviceplan::stages;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

StringRef deviceplan::stageName(Stage stage) {
  // The ABI table's names, in the enum's order.
  static_assert(std::size(abi::kDevicePlanStages) == std::size(kStages));
  std::string_view name = abi::kDevicePlanStages[static_cast<int>(stage)];
  return StringRef(name.data(), name.size());
}

ClassAxes deviceplan::classAxes(Value mask) {
  ClassAxes axes;
  llvm::SmallPtrSet<Operation *, 16> seen;
  SmallVector<Value> work{mask};
  while (!work.empty()) {
    Operation *op = work.pop_back_val().getDefiningOp();
    if (!op || !seen.insert(op).second)
      continue;
    if (auto p = dyn_cast<mask::PredicateOp>(op)) {
      Block &body = p.getBody().front();
      axes.batch |= !body.getArgument(0).use_empty();
      axes.head |= !body.getArgument(1).use_empty();
      continue;
    }
    axes.head |= isa<mask::PerHeadOp>(op);
    llvm::append_range(work, op->getOperands());
  }
  return axes;
}

namespace {

/// Whether the reads of `table` can span a whole summary chunk within one
/// tile (else its summaries would never be read, and are not computed: a
/// block table read at q / 128, k / 128 spans at most two entries of a row
/// per tile). Only a row's last index matters: summaries cover rows.
bool readsWholeChunks(KernelOp kernel, StringRef table, int64_t bm, int64_t bn) {
  bool wide = false;
  kernel.walk([&](mask::LookupOp lookup) {
    if (lookup.getTable() != table || lookup.getIndices().empty())
      return;
    Value last = lookup.getIndices().back();
    auto positionExtent = [&](Value v) -> std::optional<int64_t> {
      auto arg = dyn_cast<BlockArgument>(v);
      if (!arg || !isa<mask::PredicateOp>(arg.getOwner()->getParentOp()))
        return std::nullopt;
      switch (arg.getArgNumber()) {
      case 0: // batch and head: one entry per tile
      case 1:
        return 1;
      case 2:
        return bm;
      case 3:
        return bn;
      }
      return std::nullopt;
    };
    std::optional<int64_t> extent = positionExtent(last);
    // Unknown index expressions may span anything.
    int64_t span = extent ? *extent : abi::kSummaryChunk;
    Operation *def = last.getDefiningOp();
    if (def && isa<arith::DivSIOp, arith::FloorDivSIOp, arith::CeilDivSIOp>(def)) {
      APInt c;
      std::optional<int64_t> inner = positionExtent(def->getOperand(0));
      if (inner && matchPattern(def->getOperand(1), m_ConstantInt(&c)) && c.sgt(0))
        span = (*inner - 1) / c.getSExtValue() + 2; // a run of `inner` values
    }
    wide = wide || span >= abi::kSummaryChunk;
  });
  return wide;
}

} // namespace

PlanBuilderEnv deviceplan::bindPlanParams(OpBuilder &b, Location loc,
                                          KernelOp kernel, int64_t bm, int64_t bn,
                                          bool planGathers, ValueRange scalars,
                                          ValueRange buffers, ValueRange tables) {
  PlanBuilderEnv env;
  env.kernel = kernel;
  env.mask = kernel.getMask();
  env.blockM = bm;
  env.blockN = bn;
  env.lq = toIndex(b, loc, scalars[0]);
  env.lk = toIndex(b, loc, scalars[1]);
  env.batch = toIndex(b, loc, scalars[2]);
  env.numClasses = toIndex(b, loc, scalars[3]);
  env.classHeads = toIndex(b, loc, scalars[4]);
  env.heads = cst(b, loc, kernel.getHeads());
  env.status = buffers[0];
  env.work = buffers[1];
  env.counts = buffers[2];
  env.offsets = buffers[3];
  env.segments = buffers[4];
  env.classIndex = buffers[5];
  env.summaries = buffers[6];
  // Tables, their entry counts and first summary chunks (tables are
  // summarised one after the other, in declaration order): computed once
  // per kernel, not per item.
  Value chunk = cst(b, loc, 0);
  for (auto [table, buffer] :
       llvm::zip_equal(kernel.getBody().front().getOps<mask::TableOp>(), tables)) {
    TableBinding binding{buffer,
                         emitTableExtents(b, loc, table, env.batch, env.heads, env.lk)};
    Value entries = cst(b, loc, 1);
    for (Value e : binding.extents)
      entries = mul(b, loc, entries, e);
    env.tables[table.getSymName()] = binding;
    env.tableEntries[table.getSymName()] = entries;
    // Every table owns its chunks in the buffer (the runtime sizes it so);
    // only those whose summaries classify reads are computed.
    if (readsWholeChunks(kernel, table.getSymName(), bm, bn))
      env.summaryFirst[table.getSymName()] = chunk;
    chunk = add(b, loc, chunk, ceilDiv(b, loc, entries, abi::kSummaryChunk));
  }
  env.summaryChunks = chunk;
  env.numQueryTiles = ceilDiv(b, loc, env.lq, env.blockM);
  env.numKeyTiles = ceilDiv(b, loc, env.lk, env.blockN);
  env.numPieces = ceilDiv(b, loc, env.numKeyTiles, abi::kRunChunk);
  int64_t listKeys = listKeyCapacity(kernel, planGathers);
  if (listKeys > 0)
    env.columns = buildColumnPlan(kernel);
  else if (hasLatticeGathers(kernel, planGathers))
    env.lattice = buildLatticePlan(kernel);
  else if (hasDiagonalBands(kernel, planGathers))
    env.diagonals = buildDiagonalPlan(kernel);
  env.listKeys = env.columns.restMask ? listKeys : 0;
  // The layout of abi::devicePlanSizes, which the runtime allocates.
  Value classTiles = mul(b, loc, env.numClasses, env.numQueryTiles);
  env.classRows = mul(b, loc, env.numQueryTiles,
                      env.listKeys ? add(b, loc, env.numKeyTiles, cst(b, loc, 1))
                                   : env.numKeyTiles);
  env.columnBounds =
      mul(b, loc, classTiles, add(b, loc, env.numPieces, cst(b, loc, 1)));
  env.tileColumns = add(b, loc, env.columnBounds,
                        mul(b, loc, classTiles, add(b, loc, env.numPieces, cst(b, loc, 2))));
  env.numUnits = env.columns.unitRows ? ceilDiv(b, loc, env.lk, env.columns.unitRows)
                                       : cst(b, loc, 1);
  env.tileColumnWords = add(b, loc, env.tileColumns, columnTiles(b, loc, env));
  env.listKeyBase = mul(b, loc, mul(b, loc, env.numClasses, env.classRows),
                        cst(b, loc, 7)); // rows of 7 words
  return env;
}

std::pair<Value, Value> stages::queryTileSpan(OpBuilder &b, Location loc,
                                              const PlanBuilderEnv &env, Value m) {
  Value shift = sub(b, loc, env.lk, env.lq);
  Value row0 = mul(b, loc, m, cst(b, loc, env.blockM));
  Value qLo = add(b, loc, row0, shift);
  Value qHi = add(b, loc, min(b, loc, add(b, loc, row0, cst(b, loc, env.blockM)), env.lq),
                  sub(b, loc, shift, cst(b, loc, 1)));
  return {qLo, qHi};
}

Value stages::restLeavesOpen(OpBuilder &b, Location loc, Value status) {
  return arith::OrIOp::create(b, loc, cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip)),
                              cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kUndecided)));
}

FailureOr<Value> stages::emitFromWholeBounds(
    OpBuilder &b, Location loc, const PlanBuilderEnv &env, const TileMaskEnv &tenv, Value open,
    function_ref<FailureOr<Value>(OpBuilder &, Location, const TileTruth &, Value)> emit) {
  Value withinLk = cmp(b, loc, CmpIPredicate::sle,
                       add(b, loc, tenv.kLo, cst(b, loc, env.blockN)), env.lk);
  bool failedMask = false;
  auto computed = scf::IfOp::create(
      b, loc, open,
      [&](OpBuilder &ib, Location il) {
        FailureOr<TileTruth> whole = emitTileDecision(ib, il, env.mask, tenv);
        FailureOr<Value> bits = failure();
        if (succeeded(whole))
          bits = emit(ib, il, *whole, arith::AndIOp::create(ib, il, whole->must, withinLk));
        failedMask = failed(bits);
        scf::YieldOp::create(ib, il, ValueRange{succeeded(bits) ? *bits : i32(ib, il, 0)});
      },
      [&](OpBuilder &eb, Location el) {
        scf::YieldOp::create(eb, el, ValueRange{i32(eb, el, 0)});
      });
  if (failedMask)
    return failure();
  return computed.getResult(0);
}

namespace {

/// A tile's place: class c, query tile m, KV tile n, and what they span.
struct TileCoords {
  Value c, m, n;
  Value batch, head;     // of the class
  Value qLo, qHi;        // absolute query positions, inclusive
  Value kLo, kHi;        // key positions, inclusive
  Value keysClipped;     // i1: the tile reaches past Lk (never FULL)
};

TileCoords tileCoords(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                      Value c, Value m, Value n) {
  TileCoords t;
  t.c = c;
  t.m = m;
  t.n = n;
  t.batch = div(b, loc, c, env.classHeads);
  t.head = rem(b, loc, c, env.classHeads);
  std::tie(t.qLo, t.qHi) = queryTileSpan(b, loc, env, m);
  Value one = cst(b, loc, 1);
  Value key0 = mul(b, loc, n, cst(b, loc, env.blockN));
  Value keyEnd = add(b, loc, key0, cst(b, loc, env.blockN));
  t.kLo = key0;
  t.kHi = sub(b, loc, min(b, loc, keyEnd, env.lk), one);
  t.keysClipped = cmp(b, loc, CmpIPredicate::sgt, keyEnd, env.lk);
  return t;
}

/// (c, m, n) of a linear tile index c * T * N + m * N + n.
TileCoords tileAt(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                  Value tile) {
  Value n = rem(b, loc, tile, env.numKeyTiles);
  Value cm = div(b, loc, tile, env.numKeyTiles);
  return tileCoords(b, loc, env, div(b, loc, cm, env.numQueryTiles),
                    rem(b, loc, cm, env.numQueryTiles), n);
}

/// Summary chunk `item`: the minimum and maximum of its table's entries;
/// with column lists, item (class, query unit, KV tile) also counts the
/// tile's column keys, once for every query tile that classify decides
/// against it.
void emitSummarize(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value item) {
  KernelOp kernel = env.kernel;
  if (env.listKeys)
    emitColumnSummaries(b, loc, env, item);
  for (mask::TableOp table : kernel.getBody().front().getOps<mask::TableOp>()) {
    StringRef name = table.getSymName();
    if (!env.summaryFirst.contains(name))
      continue; // its chunks stay unwritten: nothing reads them
    Value numel = env.tableEntries.lookup(name);
    Value local = sub(b, loc, item, env.summaryFirst.lookup(name));
    Value count = ceilDiv(b, loc, numel, abi::kSummaryChunk);
    Value mine = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sge, local, cst(b, loc, 0)),
                                       cmp(b, loc, CmpIPredicate::slt, local, count));
    Value buffer = env.tables.lookup(name).buffer;
    scf::IfOp::create(b, loc, mine, [&](OpBuilder &ib, Location il) {
      Value lo = mul(ib, il, local, cst(ib, il, abi::kSummaryChunk));
      Value end = min(ib, il, add(ib, il, lo, cst(ib, il, abi::kSummaryChunk)), numel);
      Value v0 = memref::LoadOp::create(ib, il, buffer, lo);
      SmallVector<Value> r = reduceUnrolled(
          ib, il, lo, end, 8, ValueRange{v0, v0},
          [&](OpBuilder &rb, Location rl, Value k, ValueRange acc) {
            Value v = memref::LoadOp::create(rb, rl, buffer, k);
            return SmallVector<Value>{arith::MinSIOp::create(rb, rl, acc[0], v),
                                      arith::MaxSIOp::create(rb, rl, acc[1], v)};
          });
      Value slot = mul(ib, il, item, cst(ib, il, 2));
      memref::StoreOp::create(ib, il, r[0], env.summaries, slot);
      memref::StoreOp::create(ib, il, r[1], env.summaries, add(ib, il, slot, cst(ib, il, 1)));
      scf::YieldOp::create(ib, il);
    });
  }
}

/// The i32 that `emit` computes with the mask an undecided tile is probed
/// and resolved on: the decision mask, or with diagonal bands the whole
/// mask where `resolveWhole` (an i1) holds (kResolveWhole).
FailureOr<Value>
withResolveMask(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value resolveWhole,
                function_ref<FailureOr<Value>(OpBuilder &, Location, Value mask)> emit) {
  if (!env.diagonalBands())
    return emit(b, loc, env.decisionMask());
  bool failedMask = false;
  auto emitWith = [&](OpBuilder &ib, Location il, Value mask) {
    FailureOr<Value> v = emit(ib, il, mask);
    failedMask |= failed(v);
    scf::YieldOp::create(ib, il, ValueRange{succeeded(v) ? *v : i32(ib, il, 0)});
  };
  auto chosen = scf::IfOp::create(
      b, loc, resolveWhole,
      [&](OpBuilder &ib, Location il) { emitWith(ib, il, env.mask); },
      [&](OpBuilder &eb, Location el) { emitWith(eb, el, env.decisionMask()); });
  if (failedMask)
    return failure();
  return chosen.getResult(0);
}

/// Whether the status word `raw` has kResolveWhole (an i1).
Value resolvesWhole(OpBuilder &b, Location loc, Value raw) {
  return cmp(b, loc, CmpIPredicate::ne,
             arith::AndIOp::create(b, loc, raw, i32(b, loc, kResolveWhole)), i32(b, loc, 0));
}

/// kSeenKept / kSeenDropped of `mask` from a few pairs of a tile the bounds
/// left undecided: its corners and where the diagonal q = k enters and
/// leaves it. A causal or window border shows both in its corners, so that
/// most border tiles need no pair-by-pair resolve.
FailureOr<Value> probeBits(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           const TileCoords &t, Value mask) {
  auto clampKey = [&](Value q) { return max(b, loc, min(b, loc, q, t.kHi), t.kLo); };
  std::pair<Value, Value> probes[] = {{t.qLo, t.kLo}, {t.qLo, t.kHi}, {t.qHi, t.kLo},
                                      {t.qHi, t.kHi}, {t.qLo, clampKey(t.qLo)},
                                      {t.qHi, clampKey(t.qHi)}};
  Value bits = i32(b, loc, 0);
  for (auto [q, k] : probes) {
    ElementMaskEnv menv{t.batch, t.head, q, k, env.lk, env.tables};
    FailureOr<Value> keep = emitElementMask(b, loc, mask, menv);
    if (failed(keep))
      return failure();
    bits = arith::OrIOp::create(
        b, loc, bits,
        arith::SelectOp::create(b, loc, *keep, i32(b, loc, kSeenKept), i32(b, loc, kSeenDropped)));
  }
  return bits;
}

LogicalResult emitClassify(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                           Value tile) {
  TileCoords t = tileAt(b, loc, env, tile);
  TileMaskEnv tenv;
  tenv.b = t.batch;
  tenv.h = t.head;
  tenv.qLo = t.qLo;
  tenv.qHi = t.qHi;
  tenv.kLo = t.kLo;
  tenv.kHi = t.kHi;
  tenv.lk = env.lk;
  tenv.tables = env.tables;
  tenv.summaries = env.summaries;
  tenv.summaryBase = env.summaryFirst;
  FailureOr<TileTruth> truth = emitTileDecision(b, loc, env.decisionMask(), tenv);
  if (failed(truth))
    return failure();
  Value full = arith::AndIOp::create(
      b, loc, truth->must,
      arith::XOrIOp::create(b, loc, t.keysClipped,
                            arith::ConstantIntOp::create(b, loc, 1, 1)));
  // skip / full / undecided; a must-kept tile clipped at Lk is partial, and
  // so is one with a pair surely kept and a pair surely dropped.
  Value mixed = arith::AndIOp::create(b, loc, truth->someKept, truth->someDropped);
  Value partial = arith::OrIOp::create(b, loc, truth->must, mixed);
  Value status = arith::SelectOp::create(
      b, loc, truth->may,
      arith::SelectOp::create(
          b, loc, full, i32(b, loc, kFull),
          arith::SelectOp::create(b, loc, partial, i32(b, loc, kPartial),
                                  i32(b, loc, kUndecided))),
      i32(b, loc, kSkip));
  Value stored = status;
  // Column or band bits: or'ed into the stored status, except kWholeFull,
  // which makes the tile FULL; kResolveWhole makes it undecided.
  Value resolveWhole = arith::ConstantIntOp::create(b, loc, 0, 1);
  auto storeTermBits = [&](Value bits) {
    Value wholeFull = cmp(b, loc, CmpIPredicate::eq, bits, i32(b, loc, kWholeFull));
    status = arith::SelectOp::create(b, loc, wholeFull, i32(b, loc, kFull), status);
    if (env.diagonalBands()) {
      resolveWhole = cmp(b, loc, CmpIPredicate::eq, bits, i32(b, loc, kResolveWhole));
      status = arith::SelectOp::create(b, loc, resolveWhole, i32(b, loc, kUndecided), status);
    }
    stored = arith::SelectOp::create(b, loc, wholeFull, i32(b, loc, kFull),
                                     arith::OrIOp::create(b, loc, status, bits));
  };
  if (env.listKeys) {
    FailureOr<Value> columns = emitColumnBits(b, loc, env, t.c, t.m, t.n, tenv, status);
    if (failed(columns))
      return failure();
    storeTermBits(*columns);
  } else if (env.latticeGathers()) {
    FailureOr<Value> lattice = emitLatticeBits(b, loc, env, tenv, status);
    if (failed(lattice))
      return failure();
    stored = arith::OrIOp::create(b, loc, status, *lattice);
  } else if (env.diagonalBands()) {
    FailureOr<Value> bands = emitBandBits(b, loc, env, tenv, status);
    if (failed(bands))
      return failure();
    storeTermBits(*bands);
  }
  memref::StoreOp::create(b, loc, stored, env.status, tile);
  // The row's segment total, which the count stage adds to.
  scf::IfOp::create(b, loc, cmp(b, loc, CmpIPredicate::eq, t.n, cst(b, loc, 0)),
                    [&](OpBuilder &ib, Location il) {
                      storeIndex(ib, il, cst(ib, il, 0), env.counts,
                                 add(ib, il, mul(ib, il, t.c, env.numQueryTiles), t.m));
                      if (env.listKeys)
                        storeIndex(ib, il, cst(ib, il, 0), env.counts,
                                   add(ib, il, rowColumnsBase(ib, il, env),
                                       add(ib, il, mul(ib, il, t.c, env.numQueryTiles), t.m)));
                      scf::YieldOp::create(ib, il);
                    });
  Value undecided = cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kUndecided));
  bool failedMask = false;
  scf::IfOp::create(b, loc, undecided, [&](OpBuilder &ib, Location il) {
    FailureOr<Value> seen = withResolveMask(
        ib, il, env, resolveWhole,
        [&](OpBuilder &pb, Location pl, Value mask) { return probeBits(pb, pl, env, t, mask); });
    if (failed(seen)) {
      failedMask = true;
      seen = i32(ib, il, 0);
    }
    // With what the bounds of the decision mask know for sure (not of the
    // whole mask a kResolveWhole tile is resolved on).
    auto bit = [&](Value known, int32_t flag) {
      return arith::SelectOp::create(
          ib, il,
          arith::AndIOp::create(
              ib, il, known,
              arith::XOrIOp::create(ib, il, resolveWhole,
                                    arith::ConstantIntOp::create(ib, il, 1, 1))),
          i32(ib, il, flag), i32(ib, il, 0));
    };
    seen = arith::OrIOp::create(
               ib, il, *seen,
               arith::OrIOp::create(ib, il, bit(truth->someKept, kSeenKept),
                                    bit(truth->someDropped, kSeenDropped)))
               .getResult();
    // A kept and a dropped pair found: PARTIAL without resolving.
    Value both = cmp(ib, il, CmpIPredicate::eq, *seen, i32(ib, il, kSeenKept | kSeenDropped));
    scf::IfOp::create(
        ib, il, both,
        [&](OpBuilder &tb, Location tl) {
          memref::StoreOp::create(tb, tl, i32(tb, tl, kPartial), env.status, tile);
          scf::YieldOp::create(tb, tl);
        },
        [&](OpBuilder &eb, Location el) {
          memref::StoreOp::create(eb, el, arith::OrIOp::create(eb, el, stored, *seen),
                                  env.status, tile);
          Value one = arith::ConstantIntOp::create(eb, el, 1, 64);
          Value slot = memref::AtomicRMWOp::create(eb, el, arith::AtomicRMWKind::addi, one,
                                                   env.work, ValueRange{cst(eb, el, 0)});
          storeIndex(eb, el, tile, env.work, add(eb, el, toIndex(eb, el, slot), cst(eb, el, 1)));
          scf::YieldOp::create(eb, el);
        });
    scf::YieldOp::create(ib, il);
  });
  return failure(failedMask);
}

/// One query row of an undecided tile, pair by pair: ors kSeenKept and
/// kSeenDropped of its mask (the decision mask, or the whole mask for a
/// kResolveWhole tile) into the tile's status. The row stops once both are
/// known (from its own pairs, the classify probes or rows that finished
/// before).
LogicalResult emitResolve(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                          Value slot, Value row) {
  Value tile = loadIndex(b, loc, env.work, add(b, loc, slot, cst(b, loc, 1)));
  TileCoords t = tileAt(b, loc, env, tile);
  Value q = add(b, loc, t.qLo, row);
  Value inside = cmp(b, loc, CmpIPredicate::sle, q, t.qHi);
  constexpr int32_t kBoth = kSeenKept | kSeenDropped;
  bool failedMask = false;
  scf::IfOp::create(b, loc, inside, [&](OpBuilder &ib, Location il) {
    Value raw = memref::LoadOp::create(ib, il, env.status, tile);
    Value known = arith::AndIOp::create(ib, il, raw, i32(ib, il, kBoth));
    Value end = add(ib, il, t.kHi, cst(ib, il, 1));
    // Four pairs per iteration; carried: the next key, the bits seen.
    Type indexType = ib.getIndexType();
    auto resolveRow = [&](OpBuilder &ib, Location il, Value mask) -> FailureOr<Value> {
      auto loop = scf::WhileOp::create(
          ib, il, TypeRange{indexType, ib.getI32Type()}, ValueRange{t.kLo, known},
          [&](OpBuilder &cb, Location cl, ValueRange carried) {
            Value go = arith::AndIOp::create(
                cb, cl, cmp(cb, cl, CmpIPredicate::slt, carried[0], end),
                cmp(cb, cl, CmpIPredicate::ne, carried[1], i32(cb, cl, kBoth)));
            scf::ConditionOp::create(cb, cl, go, carried);
          },
          [&](OpBuilder &lb, Location ll, ValueRange carried) {
            Value bits = carried[1];
            Value last = sub(lb, ll, end, cst(lb, ll, 1));
            for (int64_t u = 0; u < 4; ++u) {
              // Steps past the end repeat the last key: seen bits do not mind.
              Value k = min(lb, ll, add(lb, ll, carried[0], cst(lb, ll, u)), last);
              ElementMaskEnv menv{t.batch, t.head, q, k, env.lk, env.tables};
              FailureOr<Value> keep = emitElementMask(lb, ll, mask, menv);
              if (failed(keep)) {
                failedMask = true;
                keep = arith::ConstantIntOp::create(lb, ll, 0, 1).getResult();
              }
              bits = arith::OrIOp::create(
                  lb, ll, bits,
                  arith::SelectOp::create(lb, ll, *keep, i32(lb, ll, kSeenKept),
                                          i32(lb, ll, kSeenDropped)));
            }
            scf::YieldOp::create(lb, ll, ValueRange{add(lb, ll, carried[0], cst(lb, ll, 4)), bits});
          });
      return loop.getResult(1);
    };
    FailureOr<Value> seen =
        withResolveMask(ib, il, env, resolvesWhole(ib, il, raw), resolveRow);
    if (failed(seen)) {
      failedMask = true;
      seen = known;
    }
    Value fresh = arith::XOrIOp::create(ib, il, *seen, known);
    Value any = cmp(ib, il, CmpIPredicate::ne, fresh, i32(ib, il, 0));
    scf::IfOp::create(ib, il, any, [&](OpBuilder &sb, Location sl) {
      memref::AtomicRMWOp::create(sb, sl, arith::AtomicRMWKind::ori, fresh,
                                  env.status, ValueRange{tile});
      scf::YieldOp::create(sb, sl);
    });
    scf::YieldOp::create(ib, il);
  });
  return failure(failedMask);
}

} // namespace

Value deviceplan::emitStageItems(OpBuilder &b, Location loc, Stage stage,
                                 const PlanBuilderEnv &env) {
  Type i64 = b.getI64Type();
  auto asI64 = [&](Value v) -> Value { return arith::IndexCastOp::create(b, loc, i64, v); };
  Value classTiles = mul(b, loc, env.numClasses, env.numQueryTiles);
  switch (stage) {
  case Stage::Summarize:
    // With column lists also an item per (class, query unit, KV tile).
    return asI64(env.listKeys ? max(b, loc, env.summaryChunks, columnTiles(b, loc, env))
                              : env.summaryChunks);
  case Stage::Classify:
    return asI64(mul(b, loc, classTiles, env.numKeyTiles));
  case Stage::Resolve: {
    // In i64: undecided tiles x rows may pass 2^31 (index is 32-bit on GPUs).
    Value undecided = memref::LoadOp::create(b, loc, env.work, cst(b, loc, 0));
    return arith::MulIOp::create(b, loc, undecided,
                                 arith::ConstantIntOp::create(b, loc, env.blockM, 64));
  }
  case Stage::Count:
  case Stage::Write:
    return asI64(mul(b, loc, classTiles, env.numPieces));
  case Stage::Scan:
    return asI64(env.numClasses);
  }
  llvm_unreachable("unknown stage");
}

LogicalResult deviceplan::emitStageItem(OpBuilder &b, Location loc, Stage stage,
                                        const PlanBuilderEnv &env, Value wideItem) {
  if (stage == Stage::Resolve) {
    Value bm = arith::ConstantIntOp::create(b, loc, env.blockM, 64);
    return emitResolve(b, loc, env,
                       toIndex(b, loc, arith::DivSIOp::create(b, loc, wideItem, bm)),
                       toIndex(b, loc, arith::RemSIOp::create(b, loc, wideItem, bm)));
  }
  Value item = toIndex(b, loc, wideItem);
  switch (stage) {
  case Stage::Summarize:
    emitSummarize(b, loc, env, item);
    return success();
  case Stage::Classify:
    return emitClassify(b, loc, env, item);
  case Stage::Resolve:
    llvm_unreachable("handled above");
  case Stage::Count:
    emitCountItem(b, loc, env, item);
    return success();
  case Stage::Write:
    emitWriteItem(b, loc, env, item);
    return success();
  case Stage::Scan:
    emitScan(b, loc, env, item);
    return success();
  }
  llvm_unreachable("unknown stage");
}
