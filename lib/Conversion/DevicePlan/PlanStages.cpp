//===- PlanStages.cpp - the plan builder's stages, item by item -----------===//
//
// Implements sattn/Conversion/DevicePlan.h. Each stage is written once,
// for one item, so that the GPU kernels (a thread per item) and the CPU
// function (a loop per stage) are the same code. The run rules here must
// match the host planner's Range-only plans (lib/Core/Planner.cpp,
// appendSegments): a KV tile reaching past Lk is never FULL, FULL and
// PARTIAL tiles form maximal runs in key order.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/DevicePlan.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/TileIntervals.h"
#include "sattn/Core/KernelAbi.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
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

PlanBuilderEnv deviceplan::bindPlanParams(OpBuilder &b, Location loc,
                                          KernelOp kernel, int64_t bm, int64_t bn,
                                          ValueRange scalars, ValueRange buffers,
                                          ValueRange tables) {
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
    env.summaryFirst[table.getSymName()] = chunk;
    chunk = add(b, loc, chunk, ceilDiv(b, loc, entries, abi::kSummaryChunk));
  }
  env.summaryChunks = chunk;
  env.numQueryTiles = ceilDiv(b, loc, env.lq, env.blockM);
  env.numKeyTiles = ceilDiv(b, loc, env.lk, env.blockN);
  return env;
}

namespace {

Value i32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 32);
}
Value loadIndex(OpBuilder &b, Location loc, Value memref, Value at) {
  return toIndex(b, loc, memref::LoadOp::create(b, loc, memref, at));
}
void storeIndex(OpBuilder &b, Location loc, Value v, Value memref, Value at) {
  memref::StoreOp::create(
      b, loc, arith::IndexCastOp::create(b, loc, b.getI64Type(), v), memref, at);
}

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
  Value shift = sub(b, loc, env.lk, env.lq);
  Value one = cst(b, loc, 1);
  Value row0 = mul(b, loc, m, cst(b, loc, env.blockM));
  t.qLo = add(b, loc, row0, shift);
  t.qHi = add(b, loc, min(b, loc, add(b, loc, row0, cst(b, loc, env.blockM)), env.lq),
              sub(b, loc, shift, one));
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

/// Summary chunk `item`: the minimum and maximum of its table's entries.
void emitSummarize(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value item) {
  KernelOp kernel = env.kernel;
  for (mask::TableOp table : kernel.getBody().front().getOps<mask::TableOp>()) {
    StringRef name = table.getSymName();
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
  FailureOr<TileTruth> truth = emitTileDecision(b, loc, env.mask, tenv);
  if (failed(truth))
    return failure();
  Value full = arith::AndIOp::create(
      b, loc, truth->must,
      arith::XOrIOp::create(b, loc, t.keysClipped,
                            arith::ConstantIntOp::create(b, loc, 1, 1)));
  // skip / full / undecided; a must-kept tile clipped at Lk is partial.
  Value status = arith::SelectOp::create(
      b, loc, truth->may,
      arith::SelectOp::create(
          b, loc, full, i32(b, loc, kFull),
          arith::SelectOp::create(b, loc, truth->must, i32(b, loc, kPartial),
                                  i32(b, loc, kUndecided))),
      i32(b, loc, kSkip));
  memref::StoreOp::create(b, loc, status, env.status, tile);
  Value undecided = cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kUndecided));
  scf::IfOp::create(b, loc, undecided, [&](OpBuilder &ib, Location il) {
    Value one = arith::ConstantIntOp::create(ib, il, 1, 64);
    Value slot = memref::AtomicRMWOp::create(ib, il, arith::AtomicRMWKind::addi,
                                             one, env.work, ValueRange{cst(ib, il, 0)});
    storeIndex(ib, il, tile, env.work, add(ib, il, toIndex(ib, il, slot), cst(ib, il, 1)));
    scf::YieldOp::create(ib, il);
  });
  return success();
}

/// One query row of an undecided tile, pair by pair: ors kSeenKept and
/// kSeenDropped into the tile's status.
LogicalResult emitResolve(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                          Value slot, Value row) {
  Value tile = loadIndex(b, loc, env.work, add(b, loc, slot, cst(b, loc, 1)));
  TileCoords t = tileAt(b, loc, env, tile);
  Value q = add(b, loc, t.qLo, row);
  Value inside = cmp(b, loc, CmpIPredicate::sle, q, t.qHi);
  bool failedMask = false;
  scf::IfOp::create(b, loc, inside, [&](OpBuilder &ib, Location il) {
    // Four pairs per iteration: kept / dropped do not mind repeats.
    Value f = arith::ConstantIntOp::create(ib, il, 0, 1);
    SmallVector<Value> seen = reduceUnrolled(
        ib, il, t.kLo, add(ib, il, t.kHi, cst(ib, il, 1)), 4, ValueRange{f, f},
        [&](OpBuilder &lb, Location ll, Value k, ValueRange acc) {
          ElementMaskEnv menv{t.batch, t.head, q, k, env.lk, env.tables};
          FailureOr<Value> keep = emitElementMask(lb, ll, env.mask, menv);
          if (failed(keep)) {
            failedMask = true;
            keep = arith::ConstantIntOp::create(lb, ll, 0, 1).getResult();
          }
          Value drop = arith::XOrIOp::create(
              lb, ll, *keep, arith::ConstantIntOp::create(lb, ll, 1, 1));
          return SmallVector<Value>{arith::OrIOp::create(lb, ll, acc[0], *keep),
                                    arith::OrIOp::create(lb, ll, acc[1], drop)};
        });
    auto bit = [&](Value seen, int32_t flag) {
      return arith::SelectOp::create(ib, il, seen, i32(ib, il, flag), i32(ib, il, 0));
    };
    Value bits = arith::OrIOp::create(ib, il, bit(seen[0], kSeenKept),
                                      bit(seen[1], kSeenDropped));
    Value any = cmp(ib, il, CmpIPredicate::ne, bits, i32(ib, il, 0));
    scf::IfOp::create(ib, il, any, [&](OpBuilder &sb, Location sl) {
      memref::AtomicRMWOp::create(sb, sl, arith::AtomicRMWKind::ori, bits,
                                  env.status, ValueRange{tile});
      scf::YieldOp::create(sb, sl);
    });
    scf::YieldOp::create(ib, il);
  });
  return failure(failedMask);
}

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

/// Walks the KV tiles of (c, m) in key order and returns the number of
/// segments (maximal runs of equal non-skip status); with `write`, also
/// writes them from row `first` on. Position N (past the last tile) reads
/// as skip and closes the last run.
Value emitRuns(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c,
               Value m, Value first, bool write) {
  Value base = mul(b, loc, add(b, loc, mul(b, loc, c, env.numQueryTiles), m),
                   env.numKeyTiles);
  Value zero = cst(b, loc, 0);
  auto emitSegment = [&](OpBuilder &sb, Location sl, Value status, Value lo,
                         Value hi, Value row) {
    Value isFull = arith::ExtUIOp::create(
        sb, sl, sb.getI64Type(),
        cmp(sb, sl, CmpIPredicate::eq, status, i32(sb, sl, kFull)));
    Value fields[7] = {arith::ConstantIntOp::create(sb, sl, 0, 64), isFull,
                       arith::IndexCastOp::create(sb, sl, sb.getI64Type(), lo),
                       arith::IndexCastOp::create(sb, sl, sb.getI64Type(), hi),
                       arith::ConstantIntOp::create(sb, sl, 0, 64),
                       arith::ConstantIntOp::create(sb, sl, 1, 64),
                       arith::ConstantIntOp::create(sb, sl, 1, 64)};
    for (auto [i, v] : llvm::enumerate(fields))
      memref::StoreOp::create(sb, sl, v, env.segments,
                              ValueRange{row, cst(sb, sl, i)});
  };
  // Positions 0 ... N, kWalkUnroll at a time; carried: the previous
  // status, the start of its run, the next row to write.
  Value n = env.numKeyTiles;
  Value last = sub(b, loc, n, cst(b, loc, 1));
  Value positions = add(b, loc, n, cst(b, loc, 1));
  auto loop = scf::ForOp::create(
      b, loc, zero, positions, cst(b, loc, kWalkUnroll),
      ValueRange{i32(b, loc, kSkip), zero, first},
      [&](OpBuilder &lb, Location ll, Value g, ValueRange carried) {
        SmallVector<Value> at, raws;
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          at.push_back(add(lb, ll, g, cst(lb, ll, u)));
          Value safe = max(lb, ll, min(lb, ll, at.back(), last), cst(lb, ll, 0));
          raws.push_back(memref::LoadOp::create(lb, ll, env.status, add(lb, ll, base, safe)));
        }
        Value prev = carried[0], start = carried[1], row = carried[2];
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          Value t = at[u];
          Value keyEnd = mul(lb, ll, add(lb, ll, t, cst(lb, ll, 1)),
                             cst(lb, ll, env.blockN));
          Value clipped = cmp(lb, ll, CmpIPredicate::sgt, keyEnd, env.lk);
          Value inside = cmp(lb, ll, CmpIPredicate::slt, t, n);
          Value s = arith::SelectOp::create(lb, ll, inside,
                                            finalStatus(lb, ll, raws[u], clipped),
                                            i32(lb, ll, kSkip));
          Value changed = cmp(lb, ll, CmpIPredicate::ne, s, prev);
          Value closes = arith::AndIOp::create(
              lb, ll, changed, cmp(lb, ll, CmpIPredicate::ne, prev, i32(lb, ll, kSkip)));
          if (write)
            scf::IfOp::create(lb, ll, closes, [&](OpBuilder &sb, Location sl) {
              emitSegment(sb, sl, prev, start, t, row);
              scf::YieldOp::create(sb, sl);
            });
          row = arith::SelectOp::create(lb, ll, closes, add(lb, ll, row, cst(lb, ll, 1)), row);
          start = arith::SelectOp::create(lb, ll, changed, t, start);
          prev = s;
        }
        scf::YieldOp::create(lb, ll, ValueRange{prev, start, row});
      });
  return sub(b, loc, loop.getResult(2), first);
}

/// The offsets of class `c`: an exclusive prefix sum of its tiles' counts
/// from row c * T * N, the start of the class's share of the segment
/// buffer (which holds T * N rows per class: a query tile has at most N
/// segments), so that classes are summed independently.
void emitScan(OpBuilder &b, Location loc, const PlanBuilderEnv &env, Value c) {
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
  Value base = mul(b, loc, mul(b, loc, c, t), env.numKeyTiles);
  // kWalkUnroll counts per iteration, read before they are summed.
  auto tiles = scf::ForOp::create(
      b, loc, cst(b, loc, 0), t, cst(b, loc, kWalkUnroll), ValueRange{base},
      [&](OpBuilder &mb, Location ml, Value g, ValueRange carried) {
        Value last = sub(mb, ml, t, cst(mb, ml, 1));
        SmallVector<Value> at, counts;
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
          at.push_back(add(mb, ml, g, cst(mb, ml, u)));
          counts.push_back(loadIndex(
              mb, ml, env.counts,
              add(mb, ml, mul(mb, ml, c, t), min(mb, ml, at.back(), last))));
        }
        Value acc = carried[0];
        for (int64_t u = 0; u < kWalkUnroll; ++u) {
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

} // namespace

Value deviceplan::emitStageItems(OpBuilder &b, Location loc, Stage stage,
                                 const PlanBuilderEnv &env) {
  Type i64 = b.getI64Type();
  auto asI64 = [&](Value v) -> Value { return arith::IndexCastOp::create(b, loc, i64, v); };
  Value classTiles = mul(b, loc, env.numClasses, env.numQueryTiles);
  switch (stage) {
  case Stage::Summarize:
    return asI64(env.summaryChunks);
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
    return asI64(classTiles);
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
  case Stage::Write: {
    Value c = div(b, loc, item, env.numQueryTiles);
    Value m = rem(b, loc, item, env.numQueryTiles);
    if (stage == Stage::Count) {
      Value n = emitRuns(b, loc, env, c, m, cst(b, loc, 0), /*write=*/false);
      storeIndex(b, loc, n, env.counts, item);
    } else {
      Value first = loadIndex(
          b, loc, env.offsets,
          add(b, loc, mul(b, loc, c, add(b, loc, env.numQueryTiles, cst(b, loc, 1))), m));
      emitRuns(b, loc, env, c, m, first, /*write=*/true);
    }
    return success();
  }
  case Stage::Scan:
    emitScan(b, loc, env, item);
    return success();
  }
  llvm_unreachable("unknown stage");
}
