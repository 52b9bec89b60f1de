//===- ColumnLists.cpp - sparse key columns as gathered key lists ---------===//
//
// Implements the column-list part of sattn/Conversion/DevicePlan.h: finding
// the column term, and the code the stages share to read it (summarize's
// per-tile counts and bit words, classify's column bits). Why: a
// mask such as `causal & (vcol[h, k] | slash[h, q - k])` keeps a thousand
// scattered key columns; a Range-only plan visits every KV tile one of them
// crosses as a PARTIAL tile (at 32K nearly all of them). With a column term
// the builder decides tiles on the *rest* of the mask (the column lookup
// read as false) and lists, per query tile, the column keys of the tiles the
// rest skips: one List segment, a few dense gathered tiles. This is sound
// for any mask in which the lookup is monotone (reached through and / or
// only): a pair dropped by the rest can be kept only on a column key, every
// such key of a skipped tile is listed, listed keys are masked with the
// whole mask (PARTIAL), and a tile FULL for the rest is FULL for the mask.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/DevicePlan.h"

#include "PlanSegments.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::deviceplan::stages;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

namespace {

/// Whether `v` (an i1 inside a predicate body) reaches the body's yield
/// through arith.ori / arith.andi only.
bool reachesYieldMonotonically(Value v) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (isa<mask::YieldOp>(user))
      continue;
    if (!isa<arith::OrIOp, arith::AndIOp>(user) ||
        !reachesYieldMonotonically(user->getResult(0)))
      return false;
  }
  return !v.use_empty();
}

/// Whether mask value `v` reaches the kernel's mask through unions and
/// intersections only (never a complement or a per-head choice).
bool reachesMaskMonotonically(Value v, Value mask) {
  if (v == mask)
    return true;
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (!isa<mask::UnionOp, mask::IntersectOp>(user) ||
        !reachesMaskMonotonically(user->getResult(0), mask))
      return false;
  }
  return !v.use_empty();
}

/// The divisor `c` of an index `q / c` (floordivsi or divsi of the query
/// position by a positive constant): the unit of query rows that share
/// their columns (AnchorAttention's `sel[b, h, q / U, k]`); 0 otherwise.
int64_t queryUnitRows(Value index) {
  Operation *def = index.getDefiningOp();
  if (!def || !isa<arith::FloorDivSIOp, arith::DivSIOp>(def))
    return 0;
  auto arg = dyn_cast<BlockArgument>(def->getOperand(0));
  APInt c;
  if (!arg || arg.getArgNumber() != 2 || !matchPattern(def->getOperand(1), m_ConstantInt(&c)) ||
      !c.isStrictlyPositive())
    return 0;
  return c.getSExtValue();
}

} // namespace

bool deviceplan::isTableRowIndex(Value index) {
  if (auto arg = dyn_cast<BlockArgument>(index))
    return arg.getArgNumber() < 2;
  return matchPattern(index, m_Constant()) || queryUnitRows(index) > 0;
}

TableRowIndex deviceplan::tableRowIndex(Value index) {
  APInt c;
  if (auto arg = dyn_cast<BlockArgument>(index))
    return {arg.getArgNumber() == 0 ? TableRowIndex::Batch : TableRowIndex::Head, 0};
  if (matchPattern(index, m_ConstantInt(&c)))
    return {TableRowIndex::Constant, c.getSExtValue()};
  return {TableRowIndex::Unit, queryUnitRows(index)};
}

SmallVector<Value, 4> deviceplan::emitTableRowIndices(OpBuilder &b, Location loc,
                                                      ArrayRef<TableRowIndex> rows, Value batch,
                                                      Value head, Value unit) {
  SmallVector<Value, 4> indices;
  for (const TableRowIndex &row : rows)
    indices.push_back(row.kind == TableRowIndex::Batch  ? batch
                      : row.kind == TableRowIndex::Head ? head
                      : row.kind == TableRowIndex::Unit ? unit
                                                        : cst(b, loc, row.value));
  return indices;
}

bool deviceplan::isMonotoneTerm(Value term, mask::PredicateOp predicate, Value mask) {
  return reachesYieldMonotonically(term) &&
         reachesMaskMonotonically(predicate.getResult(), mask);
}

std::optional<std::pair<mask::LookupOp, mask::PredicateOp>>
deviceplan::findMonotoneLookup(KernelOp kernel,
                               function_ref<bool(mask::LookupOp, Block *body)> matches) {
  Value mask = kernel.getMask();
  std::optional<std::pair<mask::LookupOp, mask::PredicateOp>> found;
  kernel.walk([&](mask::LookupOp lookup) {
    if (found || !lookup.getType().isInteger(1) || lookup.getIndices().empty())
      return;
    auto predicate = lookup->getParentOfType<mask::PredicateOp>();
    if (!predicate || !matches(lookup, &predicate.getBody().front()))
      return;
    if (isMonotoneTerm(lookup.getResult(), predicate, mask))
      found = std::make_pair(lookup, predicate);
  });
  return found;
}

std::optional<ColumnTerm> deviceplan::findColumnTerm(KernelOp kernel) {
  auto found = findMonotoneLookup(kernel, [](mask::LookupOp lookup, Block *body) {
    auto key = dyn_cast<BlockArgument>(lookup.getIndices().back());
    return key && key.getOwner() == body && key.getArgNumber() == 3 &&
           llvm::all_of(lookup.getIndices().drop_back(), isTableRowIndex) &&
           llvm::count_if(lookup.getIndices(), queryUnitRows) <= 1;
  });
  if (!found)
    return std::nullopt;
  return ColumnTerm{found->first, found->second};
}

int64_t deviceplan::listUnitRows(KernelOp kernel) {
  std::optional<ColumnTerm> term = findColumnTerm(kernel);
  if (!term)
    return 0;
  for (Value index : term->lookup.getIndices())
    if (int64_t rows = queryUnitRows(index))
      return rows;
  return 0;
}

int64_t deviceplan::listKeyCapacity(KernelOp kernel, bool planGathers) {
  if (!planGathers || !findColumnTerm(kernel))
    return 0;
  // An estimated vertical_slash keeps `vertical` columns per (batch, head),
  // so no query tile lists more; a table of the caller's may hold more, and
  // a query tile whose columns overflow falls back to PARTIAL tiles.
  if (auto record = kernel->getAttrOfType<DictionaryAttr>(plan::kEstimatorAttrName)) {
    auto kind = record.getAs<StringAttr>("kind");
    auto vertical = record.getAs<IntegerAttr>("vertical");
    if (kind && kind.getValue() == "vertical_slash" && vertical && vertical.getInt() > 0)
      return vertical.getInt();
  }
  return kDefaultListKeys;
}

std::shared_ptr<OwningOpRef<Operation *>>
deviceplan::cloneWithTermAs(KernelOp kernel, ArrayRef<Operation *> terms, bool value) {
  // A term's position in walk order names it in the copy.
  llvm::SmallDenseSet<int64_t, 4> positions;
  int64_t position = 0;
  kernel.walk([&](Operation *op) {
    if (llvm::is_contained(terms, op))
      positions.insert(position);
    ++position;
  });
  auto copy = std::make_shared<OwningOpRef<Operation *>>(kernel->clone());
  SmallVector<Operation *, 4> copied;
  position = 0;
  cast<KernelOp>(copy->get()).walk([&](Operation *op) {
    if (positions.contains(position++))
      copied.push_back(op);
  });
  for (Operation *op : copied) {
    OpBuilder b(op);
    Value constant = arith::ConstantIntOp::create(b, op->getLoc(), value ? 1 : 0, 1);
    op->getResult(0).replaceAllUsesWith(constant);
    op->erase();
  }
  return copy;
}

ColumnPlan deviceplan::buildColumnPlan(KernelOp kernel) {
  ColumnPlan plan;
  std::optional<ColumnTerm> term = findColumnTerm(kernel);
  if (!term)
    return plan;
  plan.rest = cloneWithTermAs(kernel, {term->lookup.getOperation()}, false);
  plan.restMask = cast<KernelOp>(plan.rest->get()).getMask();
  plan.onColumns = cloneWithTermAs(kernel, {term->lookup.getOperation()}, true);
  plan.onColumnsMask = cast<KernelOp>(plan.onColumns->get()).getMask();
  plan.table = term->lookup.getTable();
  for (Value index : term->lookup.getIndices().drop_back()) {
    plan.rowIndices.push_back(tableRowIndex(index));
    if (plan.rowIndices.back().kind == TableRowIndex::Unit)
      plan.unitRows = plan.rowIndices.back().value;
  }
  return plan;
}

Value deviceplan::columnTiles(OpBuilder &b, Location loc, const PlanBuilderEnv &env) {
  return mul(b, loc, mul(b, loc, env.numClasses, env.numUnits), env.numKeyTiles);
}

Value deviceplan::emitColumnWord(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                                 Value batch, Value head, Value unit, Value lo, Value end) {
  // Eight keys per iteration, their lookups in flight together; a key
  // past `end` sets no bit.
  constexpr int64_t unroll = 8;
  Value wordEnd = min(b, loc, add(b, loc, lo, cst(b, loc, kColumnWordKeys)), end);
  Type i64 = b.getI64Type();
  auto loop = scf::ForOp::create(
      b, loc, lo, wordEnd, cst(b, loc, unroll),
      ValueRange{arith::ConstantIntOp::create(b, loc, 0, 64)},
      [&](OpBuilder &lb, Location ll, Value iv, ValueRange carried) {
        Value last = sub(lb, ll, wordEnd, cst(lb, ll, 1));
        Value acc = carried[0];
        for (int64_t u = 0; u < unroll; ++u) {
          Value k = add(lb, ll, iv, cst(lb, ll, u));
          Value kept = arith::AndIOp::create(
              lb, ll, cmp(lb, ll, CmpIPredicate::slt, k, wordEnd),
              emitColumnAt(lb, ll, env, batch, head, unit, min(lb, ll, k, last)));
          Value bit = arith::ShLIOp::create(
              lb, ll, arith::ConstantIntOp::create(lb, ll, 1, 64),
              arith::IndexCastOp::create(lb, ll, i64, sub(lb, ll, k, lo)));
          acc = arith::OrIOp::create(
              lb, ll, acc,
              arith::SelectOp::create(lb, ll, kept, bit,
                                      arith::ConstantIntOp::create(lb, ll, 0, 64)));
        }
        scf::YieldOp::create(lb, ll, ValueRange{acc});
      });
  return loop.getResult(0);
}

Value deviceplan::columnUnit(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                             Value q) {
  return env.columns.unitRows ? div(b, loc, q, cst(b, loc, env.columns.unitRows))
                              : cst(b, loc, 0);
}

Value deviceplan::columnTileIndex(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                                  Value c, Value unit, Value n) {
  return add(b, loc, mul(b, loc, add(b, loc, mul(b, loc, c, env.numUnits), unit),
                         env.numKeyTiles),
             n);
}

Value deviceplan::emitColumnAt(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                               Value batch, Value head, Value unit, Value k) {
  SmallVector<Value, 4> indices =
      emitTableRowIndices(b, loc, env.columns.rowIndices, batch, head, unit);
  indices.push_back(k);
  return emitTableLookup(b, loc, env.tables.lookup(env.columns.table), indices,
                         b.getI1Type());
}

void deviceplan::emitColumnSummaries(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                                     Value item) {
  scf::IfOp::create(b, loc, cmp(b, loc, CmpIPredicate::slt, item, columnTiles(b, loc, env)),
                    [&](OpBuilder &ib, Location il) {
                      Value cu = div(ib, il, item, env.numKeyTiles);
                      Value c = div(ib, il, cu, env.numUnits);
                      Value unit = rem(ib, il, cu, env.numUnits);
                      Value lo = mul(ib, il, rem(ib, il, item, env.numKeyTiles),
                                     cst(ib, il, env.blockN));
                      Value end = min(ib, il, add(ib, il, lo, cst(ib, il, env.blockN)), env.lk);
                      Value batch = div(ib, il, c, env.classHeads);
                      Value head = rem(ib, il, c, env.classHeads);
                      // The tile's column keys as bit words, and their number.
                      Value n = cst(ib, il, 0);
                      int64_t words = columnWords(env);
                      for (int64_t w = 0; w < words; ++w) {
                        Value word = emitColumnWord(
                            ib, il, env, batch, head, unit,
                            add(ib, il, lo, cst(ib, il, w * kColumnWordKeys)), end);
                        memref::StoreOp::create(
                            ib, il, word, env.counts,
                            ValueRange{add(ib, il, env.tileColumnWords,
                                           add(ib, il, mul(ib, il, item, cst(ib, il, words)),
                                               cst(ib, il, w)))});
                        n = add(ib, il, n,
                                toIndex(ib, il, math::CtPopOp::create(ib, il, word)));
                      }
                      storeIndex(ib, il, n, env.counts, add(ib, il, env.tileColumns, item));
                      scf::YieldOp::create(ib, il);
                    });
}

FailureOr<Value> deviceplan::emitColumnBits(OpBuilder &b, Location loc,
                                            const PlanBuilderEnv &env, Value c, Value m, Value n,
                                            const TileMaskEnv &tenv, Value status) {
  // The tile's column keys: of its query unit, or of every unit a tile
  // spanning several touches (such a query tile gets no list: its bound
  // goes past the capacity below).
  Value unitLo = columnUnit(b, loc, env, tenv.qLo), unitHi = columnUnit(b, loc, env, tenv.qHi);
  auto summed = scf::ForOp::create(
      b, loc, unitLo, add(b, loc, unitHi, cst(b, loc, 1)), cst(b, loc, 1),
      ValueRange{cst(b, loc, 0)},
      [&](OpBuilder &lb, Location ll, Value unit, ValueRange acc) {
        Value at = add(lb, ll, env.tileColumns,
                       columnTileIndex(lb, ll, env, c, unit, n));
        scf::YieldOp::create(lb, ll,
                             ValueRange{add(lb, ll, acc[0], loadIndex(lb, ll, env.counts, at))});
      });
  Value columns = summed.getResult(0);
  Value spans = cmp(b, loc, CmpIPredicate::ne, unitLo, unitHi);
  Value open = arith::AndIOp::create(b, loc, restLeavesOpen(b, loc, status),
                                     cmp(b, loc, CmpIPredicate::ne, columns, cst(b, loc, 0)));
  return emitFromWholeBounds(
      b, loc, env, tenv, open,
      [&](OpBuilder &ib, Location il, const TileTruth &whole,
          Value wholeFull) -> FailureOr<Value> {
        bool failedMask = false;
        auto inner = scf::IfOp::create(
            ib, il, whole.may,
            [&](OpBuilder &cb, Location cl) {
              // A tile the whole mask keeps entirely is a FULL tile, not
              // listed keys (kWholeFull).
              Value n[1] = {columns};
              scf::IfOp::create(
                  cb, cl,
                  arith::AndIOp::create(
                      cb, cl, cmp(cb, cl, CmpIPredicate::ne, n[0], cst(cb, cl, 0)),
                      arith::XOrIOp::create(cb, cl, wholeFull,
                                            arith::ConstantIntOp::create(cb, cl, 1, 1))),
                  [&](OpBuilder &ab, Location al) {
                    Value bound = arith::SelectOp::create(
                        ab, al, spans, cst(ab, al, env.listKeys + 1), n[0]);
                    Value at = add(ab, al, env.columnBounds,
                                   add(ab, al, mul(ab, al, c, env.numQueryTiles), m));
                    memref::AtomicRMWOp::create(
                        ab, al, arith::AtomicRMWKind::addi,
                        arith::IndexCastOp::create(ab, al, ab.getI64Type(), bound), env.counts,
                        ValueRange{at});
                    scf::YieldOp::create(ab, al);
                  });
              // A listed pair's mask is the mask with the column read as
              // true: unless that keeps the whole tile, its keys need mask
              // code once listed (the count stage knows which tiles are).
              FailureOr<TileTruth> onColumns =
                  emitTileDecision(cb, cl, env.columns.onColumnsMask, tenv);
              Value masked = i32(cb, cl, kColumnsMasked);
              if (succeeded(onColumns))
                masked = arith::SelectOp::create(cb, cl, onColumns->must, i32(cb, cl, 0), masked);
              else
                failedMask = true;
              Value bits = arith::OrIOp::create(
                  cb, cl,
                  arith::ShLIOp::create(
                      cb, cl, arith::IndexCastOp::create(cb, cl, cb.getI32Type(), n[0]),
                      i32(cb, cl, kColumnShift)),
                  masked);
              scf::YieldOp::create(
                  cb, cl,
                  ValueRange{arith::SelectOp::create(cb, cl, wholeFull, i32(cb, cl, kWholeFull),
                                                     bits)});
            },
            [&](OpBuilder &eb, Location el) {
              scf::YieldOp::create(eb, el, ValueRange{i32(eb, el, 0)});
            });
        if (failedMask)
          return failure();
        return inner.getResult(0);
      });
}
