//===- LatticeGathers.cpp - strided keys as Gather segments ---------------===//
//
// Implements the lattice part of sattn/Conversion/DevicePlan.h: finding the
// lattice term, the lattice of a class, classify's lattice bits and the
// Gather segments of a gathered run (PlanSegments.h). Why: a
// mask such as `causal & document(doc) & (strided(8, h % 8) | window(512))`
// (S2-Attention on packed documents) keeps every 8th key of each tile below
// the window; a Range-only plan visits each such tile as PARTIAL, eight
// times the work of the kept keys. With a lattice term the builder decides
// tiles on the *rest* of the mask (the term read as false) and gathers the
// lattice keys of each run of tiles that the rest skips into one Gather
// segment (dense BN-key tiles of strided keys), as the host planner does
// with PlanOptions::gathers. Sound for any mask monotone in the term: a
// pair the rest drops can be kept only where the term holds, i.e. on a
// lattice key, and every lattice key of a skipped tile that the whole mask
// may keep is gathered; gathered keys are masked with the whole mask unless
// the mask with the term read as true keeps every pair of their tiles (on a
// lattice key the term is true, so both masks agree there).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/DevicePlan.h"

#include "PlanSegments.h"

#include "sattn/Conversion/IndexArith.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::deviceplan;
using namespace sattn::indexarith;

using arith::CmpIPredicate;

namespace {

/// Whether `v` is a body argument `number` of `body`.
bool isArg(Value v, Block *body, unsigned number) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == body && arg.getArgNumber() == number;
}

/// Whether `v` is computed by arith ops and table reads from the batch and
/// head arguments of `body` and constants alone, so that the stages can
/// compute it per class (emitPredicateBodyValue at any q and k).
bool isRowValue(Value v, Block *body) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getOwner() == body && arg.getArgNumber() < 2;
  Operation *def = v.getDefiningOp();
  if (!def || def->getNumRegions() || def->getNumResults() != 1 ||
      !def->getResult(0).getType().isIntOrIndex() ||
      !(def->getDialect()->getNamespace() == "arith" || isa<mask::LookupOp>(def)))
    return false;
  return llvm::all_of(def->getOperands(), [&](Value x) { return isRowValue(x, body); });
}

/// The positive constant of `v`, or 0.
int64_t positiveConstant(Value v) {
  APInt c;
  if (!matchPattern(v, m_ConstantInt(&c)) || !c.isStrictlyPositive() || c.getBitWidth() > 64)
    return 0;
  return c.getSExtValue();
}

/// A period the stages can compute with in a GPU's 32-bit index.
int64_t periodConstant(Value v) {
  int64_t period = positiveConstant(v);
  return period <= kLatticeShiftLimit ? period : 0;
}

/// `x floormod P` for a constant P > 0 as the mask builders spell it
/// (ExpandMasks' and the spec emitter's `select(r < 0, r + P, r)` with
/// `r = remsi(x, P)`), or `remsi(k, P)` of the key (never negative): x and P.
std::optional<std::pair<Value, int64_t>> matchFloorMod(Value v, Block *body) {
  if (auto rem = v.getDefiningOp<arith::RemSIOp>()) {
    int64_t period = periodConstant(rem.getRhs());
    if (period && isArg(rem.getLhs(), body, 3))
      return std::make_pair(rem.getLhs(), period);
    return std::nullopt;
  }
  auto select = v.getDefiningOp<arith::SelectOp>();
  if (!select)
    return std::nullopt;
  auto rem = select.getFalseValue().getDefiningOp<arith::RemSIOp>();
  auto lifted = select.getTrueValue().getDefiningOp<arith::AddIOp>();
  auto negative = select.getCondition().getDefiningOp<arith::CmpIOp>();
  if (!rem || !lifted || !negative)
    return std::nullopt;
  int64_t period = periodConstant(rem.getRhs());
  Value other = lifted.getLhs() == rem.getResult() ? lifted.getRhs() : lifted.getLhs();
  bool liftsByPeriod = (lifted.getLhs() == rem.getResult() || lifted.getRhs() == rem.getResult()) &&
                       positiveConstant(other) == period;
  APInt zero;
  bool belowZero = negative.getPredicate() == CmpIPredicate::slt &&
                   negative.getLhs() == rem.getResult() &&
                   matchPattern(negative.getRhs(), m_ConstantInt(&zero)) && zero.isZero();
  if (!period || !liftsByPeriod || !belowZero)
    return std::nullopt;
  return std::make_pair(rem.getLhs(), period);
}

/// The term of `compare` in predicate `p`, if it is one (see LatticeTerm).
std::optional<LatticeTerm> matchLattice(arith::CmpIOp compare, mask::PredicateOp p) {
  Block *body = &p.getBody().front();
  CmpIPredicate pred = compare.getPredicate();
  Value lhs = compare.getLhs(), rhs = compare.getRhs();
  auto fm = matchFloorMod(lhs, body);
  if (!fm) { // F on the right: Y == F, W > F, W >= F
    fm = matchFloorMod(rhs, body);
    std::swap(lhs, rhs);
    if (pred == CmpIPredicate::sgt)
      pred = CmpIPredicate::slt;
    else if (pred == CmpIPredicate::sge)
      pred = CmpIPredicate::sle;
    else if (pred != CmpIPredicate::eq)
      return std::nullopt;
  }
  if (!fm || !isRowValue(rhs, body))
    return std::nullopt;
  LatticeTerm term;
  term.compare = compare;
  term.predicate = p;
  term.period = fm->second;
  term.bound = rhs;
  switch (pred) {
  case CmpIPredicate::eq:
    term.form = LatticeTerm::Equal;
    break;
  case CmpIPredicate::slt:
    term.form = LatticeTerm::Below;
    break;
  case CmpIPredicate::sle:
    term.form = LatticeTerm::AtMost;
    break;
  default:
    return std::nullopt;
  }
  // x: the key, k - s, k + s or s + k.
  Value x = fm->first;
  if (isArg(x, body, 3))
    return term;
  if (auto sub = x.getDefiningOp<arith::SubIOp>()) {
    if (isArg(sub.getLhs(), body, 3) && isRowValue(sub.getRhs(), body)) {
      term.shift = sub.getRhs();
      return term;
    }
    return std::nullopt;
  }
  if (auto add = x.getDefiningOp<arith::AddIOp>()) {
    Value s = isArg(add.getLhs(), body, 3) ? add.getRhs()
              : isArg(add.getRhs(), body, 3) ? add.getLhs()
                                              : Value();
    if (s && isRowValue(s, body)) {
      term.shift = s;
      term.negateShift = true;
      return term;
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<LatticeTerm> deviceplan::findLatticeTerm(KernelOp kernel) {
  Value mask = kernel.getMask();
  std::optional<LatticeTerm> found;
  kernel.walk([&](arith::CmpIOp compare) {
    auto predicate = compare->getParentOfType<mask::PredicateOp>();
    if (found || !predicate || compare->getParentOp() != predicate)
      return;
    std::optional<LatticeTerm> term = matchLattice(compare, predicate);
    if (term && isMonotoneTerm(compare.getResult(), predicate, mask))
      found = term;
  });
  return found;
}

bool deviceplan::hasLatticeGathers(KernelOp kernel, bool planGathers) {
  return planGathers && !findColumnTerm(kernel) && findLatticeTerm(kernel).has_value();
}

LatticePlan deviceplan::buildLatticePlan(KernelOp kernel) {
  LatticePlan plan;
  std::optional<LatticeTerm> term = findLatticeTerm(kernel);
  if (!term)
    return plan;
  plan.term = *term;
  plan.rest = cloneWithTermAs(kernel, {term->compare.getOperation()}, false);
  plan.restMask = cast<KernelOp>(plan.rest->get()).getMask();
  plan.onLattice = cloneWithTermAs(kernel, {term->compare.getOperation()}, true);
  plan.onLatticeMask = cast<KernelOp>(plan.onLattice->get()).getMask();
  return plan;
}

LatticeParams deviceplan::emitLatticeParams(OpBuilder &b, Location loc,
                                            const PlanBuilderEnv &env, Value batch,
                                            Value head) {
  const LatticeTerm &term = env.lattice.term;
  // Row values read neither q nor k: any position does.
  ElementMaskEnv menv{batch, head, cst(b, loc, 0), cst(b, loc, 0), env.lk, env.tables};
  bool lowered = true;
  auto rowValue = [&](Value inBody) -> Value {
    FailureOr<Value> v = emitPredicateBodyValue(b, loc, term.predicate, inBody, menv);
    lowered &= succeeded(v);
    return succeeded(v) ? *v : cst(b, loc, 0);
  };
  LatticeParams l;
  int64_t period = term.period;
  l.period = cst(b, loc, period);
  Value zero = cst(b, loc, 0), one = cst(b, loc, 1);
  auto floorMod = [&](Value x) {
    Value r = rem(b, loc, x, l.period);
    return arith::SelectOp::create(b, loc, cmp(b, loc, CmpIPredicate::slt, r, zero),
                                   add(b, loc, r, l.period), r)
        .getResult();
  };
  // The shift as its residue in [0, P) (only residues matter, and they
  // cannot overflow what follows); k + x shifts by -x.
  Value shift = zero;
  l.valid = arith::ConstantIntOp::create(b, loc, 1, 1);
  if (term.shift) {
    Value raw = rowValue(term.shift);
    l.valid = arith::AndIOp::create(
        b, loc, cmp(b, loc, CmpIPredicate::sgt, raw, cst(b, loc, -kLatticeShiftLimit)),
        cmp(b, loc, CmpIPredicate::slt, raw, cst(b, loc, kLatticeShiftLimit)));
    shift = floorMod(raw);
    if (term.negateShift)
      shift = floorMod(sub(b, loc, l.period, shift));
  }
  Value bound = rowValue(term.bound);
  switch (term.form) {
  case LatticeTerm::Equal: {
    // (k - shift) floormod P == Y: the keys k - shift - Y = 0 mod P, none
    // where Y is not a remainder.
    Value inside = arith::AndIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sge, bound, zero),
                                         cmp(b, loc, CmpIPredicate::slt, bound, l.period));
    l.start = add(b, loc, shift, arith::SelectOp::create(b, loc, inside, bound, zero));
    l.width = arith::SelectOp::create(b, loc, inside, one, zero);
    break;
  }
  case LatticeTerm::Below:
    l.start = shift;
    l.width = max(b, loc, min(b, loc, bound, l.period), zero);
    break;
  case LatticeTerm::AtMost:
    l.start = shift;
    l.width = max(b, loc, add(b, loc, min(b, loc, bound, sub(b, loc, l.period, one)), one), zero);
    break;
  }
  // A value the element mask cannot emit (never for lowerable masks):
  // PARTIAL Range tiles, as for a shift out of range.
  if (!lowered)
    l.valid = arith::ConstantIntOp::create(b, loc, 0, 1);
  return l;
}

/// Lattice keys below x, counted from a fixed origin (differences count).
static Value keysBelow(OpBuilder &b, Location loc, const LatticeParams &l, Value x) {
  Value d = sub(b, loc, x, l.start);
  Value periods = arith::FloorDivSIOp::create(b, loc, d, l.period);
  Value into = sub(b, loc, d, mul(b, loc, periods, l.period));
  return add(b, loc, mul(b, loc, periods, l.width), min(b, loc, into, l.width));
}

Value deviceplan::emitLatticeKeys(OpBuilder &b, Location loc, const LatticeParams &l, Value lo,
                                  Value hi) {
  return sub(b, loc, keysBelow(b, loc, l, hi), keysBelow(b, loc, l, lo));
}

Value deviceplan::emitLatticeKeyAt(OpBuilder &b, Location loc, const LatticeParams &l, Value lo,
                                   Value j) {
  // base = lo - ((lo - start) floormod period); idx = j + min(width, lo -
  // base); key = base + (idx / width) * period + idx % width.
  Value d = sub(b, loc, lo, l.start);
  Value into = sub(b, loc, d, mul(b, loc, arith::FloorDivSIOp::create(b, loc, d, l.period),
                                  l.period));
  Value base = sub(b, loc, lo, into);
  Value width = max(b, loc, l.width, cst(b, loc, 1)); // only read with keys
  Value idx = add(b, loc, j, min(b, loc, l.width, into));
  return add(b, loc, add(b, loc, base, mul(b, loc, div(b, loc, idx, width), l.period)),
             rem(b, loc, idx, width));
}

/// The first and the last key of the tile of `tenv` that the bounds of
/// `mask` leave possible (the tile's `may` holds): a binary search for the
/// shortest prefix and the shortest suffix of its keys that may keep a pair.
static FailureOr<std::pair<Value, Value>> emitMayKeys(OpBuilder &b, Location loc, Value mask,
                                                       const TileMaskEnv &tenv) {
  bool failedMask = false;
  Type indexType = b.getIndexType();
  auto search = [&](bool prefix) {
    auto loop = scf::WhileOp::create(
        b, loc, TypeRange{indexType, indexType}, ValueRange{tenv.kLo, tenv.kHi},
        [&](OpBuilder &cb, Location cl, ValueRange range) {
          scf::ConditionOp::create(cb, cl, cmp(cb, cl, CmpIPredicate::slt, range[0], range[1]),
                                   range);
        },
        [&](OpBuilder &lb, Location ll, ValueRange range) {
          // prefix: the first key k whose prefix [kLo, k] may keep a pair;
          // else the last k whose suffix [k, kHi] may.
          Value lo = range[0], hi = range[1];
          Value mid = div(lb, ll, add(lb, ll, add(lb, ll, lo, hi), cst(lb, ll, prefix ? 0 : 1)),
                          cst(lb, ll, 2));
          TileMaskEnv part = tenv;
          (prefix ? part.kHi : part.kLo) = mid;
          FailureOr<TileTruth> truth = emitTileDecision(lb, ll, mask, part);
          Value may = arith::ConstantIntOp::create(lb, ll, 1, 1);
          if (succeeded(truth))
            may = truth->may;
          else
            failedMask = true;
          Value one = cst(lb, ll, 1);
          Value nextLo = prefix ? arith::SelectOp::create(lb, ll, may, lo, add(lb, ll, mid, one))
                                : arith::SelectOp::create(lb, ll, may, mid, lo);
          Value nextHi = prefix ? arith::SelectOp::create(lb, ll, may, mid, hi)
                                : arith::SelectOp::create(lb, ll, may, hi, sub(lb, ll, mid, one));
          scf::YieldOp::create(lb, ll, ValueRange{nextLo, nextHi});
        });
    return loop.getResult(0);
  };
  Value first = search(true), last = search(false);
  if (failedMask)
    return failure();
  return std::make_pair(first, last);
}

FailureOr<Value> deviceplan::emitLatticeBits(OpBuilder &b, Location loc,
                                             const PlanBuilderEnv &env, const TileMaskEnv &tenv,
                                             Value status) {
  LatticeParams l = emitLatticeParams(b, loc, env, tenv.b, tenv.h);
  Value keys = emitLatticeKeys(b, loc, l, tenv.kLo, add(b, loc, tenv.kHi, cst(b, loc, 1)));
  // Without valid parameters the key count means nothing: every tile the
  // whole mask may keep is marked, to be visited as a PARTIAL Range tile.
  Value invalid =
      arith::XOrIOp::create(b, loc, l.valid, arith::ConstantIntOp::create(b, loc, 1, 1));
  auto i32 = [&](OpBuilder &ib, Location il, int32_t v) -> Value {
    return arith::ConstantIntOp::create(ib, il, v, 32);
  };
  Value rest = arith::OrIOp::create(
      b, loc, cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kSkip)),
      cmp(b, loc, CmpIPredicate::eq, status, i32(b, loc, kUndecided)));
  Value open = arith::AndIOp::create(
      b, loc, rest,
      arith::OrIOp::create(b, loc, cmp(b, loc, CmpIPredicate::sgt, keys, cst(b, loc, 0)),
                           invalid));
  bool failedMask = false;
  auto bits = scf::IfOp::create(
      b, loc, open,
      [&](OpBuilder &ib, Location il) {
        FailureOr<TileTruth> whole = emitTileDecision(ib, il, env.mask, tenv);
        FailureOr<TileTruth> onLattice =
            emitTileDecision(ib, il, env.lattice.onLatticeMask, tenv);
        if (failed(whole) || failed(onLattice)) {
          failedMask = true;
          scf::YieldOp::create(ib, il, ValueRange{i32(ib, il, 0)});
          return;
        }
        Value may = arith::SelectOp::create(ib, il, whole->may, i32(ib, il, kLatticeMay),
                                            i32(ib, il, 0));
        Value isFull = arith::AndIOp::create(ib, il, onLattice->must, l.valid);
        Value full = arith::SelectOp::create(ib, il, isFull, i32(ib, il, kLatticeFull),
                                             i32(ib, il, 0));
        Value bits = arith::OrIOp::create(ib, il, may, full);
        if (env.blockN <= kLatticeTrimKeys) {
          // A masked gathered tile: the keys at its ends no pair may keep.
          Value masked = arith::AndIOp::create(
              ib, il, whole->may,
              arith::XOrIOp::create(ib, il, isFull, arith::ConstantIntOp::create(ib, il, 1, 1)));
          auto trimmed = scf::IfOp::create(
              ib, il, masked,
              [&](OpBuilder &tb, Location tl) {
                FailureOr<std::pair<Value, Value>> keys = emitMayKeys(tb, tl, env.mask, tenv);
                if (failed(keys)) {
                  failedMask = true;
                  scf::YieldOp::create(tb, tl, ValueRange{i32(tb, tl, 0)});
                  return;
                }
                auto field = [&](Value n, int32_t shift) -> Value {
                  return arith::ShLIOp::create(
                      tb, tl, arith::IndexCastOp::create(tb, tl, tb.getI32Type(), n),
                      i32(tb, tl, shift));
                };
                scf::YieldOp::create(
                    tb, tl,
                    ValueRange{arith::OrIOp::create(
                        tb, tl, field(sub(tb, tl, keys->first, tenv.kLo), kLatticeTrimLoShift),
                        field(sub(tb, tl, tenv.kHi, keys->second), kLatticeTrimHiShift))});
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, ValueRange{i32(eb, el, 0)});
              });
          bits = arith::OrIOp::create(ib, il, bits, trimmed.getResult(0));
        }
        scf::YieldOp::create(ib, il, ValueRange{bits});
      },
      [&](OpBuilder &eb, Location el) {
        // No lattice key: the term is false on the whole tile, so the
        // mask keeps no more than the rest there.
        scf::YieldOp::create(eb, el,
                             ValueRange{arith::SelectOp::create(
                                 eb, el, rest, i32(eb, el, kLatticeNone), i32(eb, el, 0))});
      });
  if (failedMask)
    return failure();
  return bits.getResult(0);
}

/// The Gather segments of a run of kGathered KV tiles ending before tile
/// `end`, over keys [lo, hi) (its tiles' span less the trimmed keys at its
/// ends), whose tiles up to `fullEnd` have kLatticeFull or kLatticeNone:
/// none when it holds no lattice key; one, FULL when every tile has; else,
/// when the FULL prefix holds j >= BN lattice keys (j the largest multiple
/// of BN not above its keys), a FULL segment of its first j keys then a
/// PARTIAL one of the rest (no more BN-key tiles than one segment, j / BN
/// of them without mask code); else one PARTIAL.
namespace {

struct GatherRun {
  Value lo, hi, split, splitAt, allFull;
  Value present; // i1: the run holds a lattice key (else it makes no segment)
};
GatherRun gatherRun(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                    const LatticeParams &l, Value lo, Value hi, Value end, Value fullEnd) {
  Value bn = cst(b, loc, env.blockN);
  GatherRun r;
  r.lo = lo;
  r.hi = max(b, loc, hi, lo);
  r.allFull = cmp(b, loc, CmpIPredicate::eq, fullEnd, end);
  r.present = cmp(b, loc, CmpIPredicate::sgt, emitLatticeKeys(b, loc, l, r.lo, r.hi),
                  cst(b, loc, 0));
  Value fullKeys = emitLatticeKeys(
      b, loc, l, r.lo, max(b, loc, min(b, loc, mul(b, loc, fullEnd, bn), r.hi), r.lo));
  Value j = sub(b, loc, fullKeys, rem(b, loc, fullKeys, bn));
  r.split = arith::AndIOp::create(
      b, loc, arith::XOrIOp::create(b, loc, r.allFull, arith::ConstantIntOp::create(b, loc, 1, 1)),
      cmp(b, loc, CmpIPredicate::sgt, j, cst(b, loc, 0)));
  r.splitAt = emitLatticeKeyAt(b, loc, l, r.lo, j);
  return r;
}

} // namespace

Value stages::emitGatheredRun(OpBuilder &b, Location loc, const PlanBuilderEnv &env,
                              const LatticeParams &l, Value lo, Value hi, Value end,
                              Value fullEnd, Value row, bool write) {
  GatherRun run = gatherRun(b, loc, env, l, lo, hi, end, fullEnd);
  if (write) {
    Value firstFull = arith::OrIOp::create(b, loc, run.allFull, run.split);
    Value firstHi = arith::SelectOp::create(b, loc, run.split, run.splitAt, run.hi);
    scf::IfOp::create(b, loc, run.present, [&](OpBuilder &pb, Location pl) {
      stages::storeSegmentRow(pb, pl, env, row, /*kind=*/1, firstFull, run.lo, firstHi, l.start,
                              l.period, l.width);
      scf::YieldOp::create(pb, pl);
    });
    scf::IfOp::create(b, loc, run.split, [&](OpBuilder &pb, Location pl) {
      stages::storeSegmentRow(pb, pl, env, add(pb, pl, row, cst(pb, pl, 1)), /*kind=*/1,
                              arith::ConstantIntOp::create(pb, pl, 0, 1), run.splitAt, run.hi,
                              l.start, l.period, l.width);
      scf::YieldOp::create(pb, pl);
    });
  }
  auto one = [&](Value bit) -> Value {
    return arith::SelectOp::create(b, loc, bit, cst(b, loc, 1), cst(b, loc, 0));
  };
  return add(b, loc, one(run.present), one(run.split));
}
