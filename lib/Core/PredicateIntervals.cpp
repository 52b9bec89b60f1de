//===- PredicateIntervals.cpp - tier-2 interval analysis of predicates ----===//
//
// A free-form predicate's instructions (from the MaskProgram) are compiled
// once into a register program over closed integer intervals. Evaluated with q and k ranging over a query tile
// and a range of KV tiles, it answers "kept for all pairs", "kept for none",
// or "undecided"; only undecided single tiles reach the exact (tier-3)
// classifier. Table lookups use the runtime table when the index box is
// small, so masks such as `is_global[k]` decide most tiles here.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include "sattn/Core/IntegerSemantics.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

using namespace sattn;
using namespace sattn::plan;

using Interval = PredicateIntervals::Interval;
using Instr = PredicateIntervals::Instr;

static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
static const Interval kAnything{kMin, kMax};
static const Interval kUndecided{0, 1};

static int64_t saturate(__int128 v) {
  return v < kMin ? kMin : v > kMax ? kMax : (int64_t)v;
}
static bool exact(Interval i) { return i.lo == i.hi; }
static bool isBool(Interval i) { return i.lo >= 0 && i.hi <= 1; }

/// Every value of a signed `width`-bit integer (width >= 2).
static Interval anyOfWidth(unsigned width) {
  if (width >= 64)
    return kAnything;
  int64_t half = int64_t(1) << (width - 1);
  return {-half, half - 1};
}

/// The result of an arithmetic instruction of `width` bits whose exact
/// (unbounded) bounds are [lo, hi]. Predicate arithmetic wraps around, so
/// when some pair of operands would overflow the width the result may be
/// any value of the width: a saturated bound would be unsound.
static Interval wrapped(__int128 lo, __int128 hi, unsigned width) {
  Interval any = anyOfWidth(width);
  if (lo < any.lo || hi > any.hi)
    return any;
  return {(int64_t)lo, (int64_t)hi};
}

/// True for the opcodes whose result on i1 operands depends on reading true
/// as -1 (signed order, signed division and remainder).
static bool isSignedOnBool(Opcode opcode) {
  switch (opcode) {
  case Opcode::CmpSlt:
  case Opcode::CmpSle:
  case Opcode::CmpSgt:
  case Opcode::CmpSge:
  case Opcode::MinS:
  case Opcode::MaxS:
  case Opcode::DivS:
  case Opcode::FloorDivS:
  case Opcode::CeilDivS:
  case Opcode::RemS:
    return true;
  default:
    return false;
  }
}

/// The interval rule of one program instruction. Unsigned operations,
/// truncations and sign extensions of i1 (true becomes -1) have none.
static Instr intervalInstr(const MaskProgram &program,
                           const Instruction &inst) {
  Instr in{Instr::Unknown, Opcode::CmpEq, 0, {}, "", inst.width,
           inst.operandWidth};
  auto args = [&](int n) {
    uint32_t regs[3] = {inst.a, inst.b, inst.c};
    in.args.assign(regs, regs + n);
  };
  switch (inst.opcode) {
  case Opcode::Constant:
    in.op = Instr::Const;
    // Stored zero-extended; intervals are signed (i1 stays 0/1).
    in.imm = inst.width == 1 ? inst.immediate
                             : ints::signExtendFrom(inst.immediate, inst.width);
    break;
  case Opcode::Add:
  case Opcode::Sub:
  case Opcode::Mul:
  case Opcode::DivS:
  case Opcode::FloorDivS:
  case Opcode::CeilDivS:
  case Opcode::RemS:
  case Opcode::MinS:
  case Opcode::MaxS:
  case Opcode::And:
  case Opcode::Or:
  case Opcode::Xor: {
    static const std::pair<Opcode, Instr::Op> kBinary[] = {
        {Opcode::Add, Instr::Add},       {Opcode::Sub, Instr::Sub},
        {Opcode::Mul, Instr::Mul},       {Opcode::DivS, Instr::FloorDiv},
        {Opcode::FloorDivS, Instr::FloorDiv}, {Opcode::CeilDivS, Instr::CeilDiv},
        {Opcode::RemS, Instr::Rem},      {Opcode::MinS, Instr::Min},
        {Opcode::MaxS, Instr::Max},      {Opcode::And, Instr::And},
        {Opcode::Or, Instr::Or},         {Opcode::Xor, Instr::Xor}};
    for (auto [opcode, op] : kBinary)
      if (opcode == inst.opcode)
        in.op = op;
    // Truncating division: exact bounds only for a non-negative dividend.
    in.imm = inst.opcode == Opcode::DivS;
    args(2);
    // Signed operations on i1 read true as -1, which the 0/1 intervals of
    // i1 values do not model (sattn-runtime-fuzz: a signed compare of two
    // i1 lookups was planned as unsigned and dropped kept pairs).
    if (inst.operandWidth == 1 && isSignedOnBool(inst.opcode))
      in.op = Instr::Unknown;
    break;
  }
  case Opcode::CmpEq:
  case Opcode::CmpNe:
  case Opcode::CmpSlt:
  case Opcode::CmpSle:
  case Opcode::CmpSgt:
  case Opcode::CmpSge:
  case Opcode::CmpUlt:
  case Opcode::CmpUle:
  case Opcode::CmpUgt:
  case Opcode::CmpUge:
    in.op = inst.operandWidth == 1 && isSignedOnBool(inst.opcode) ? Instr::Unknown
                                                                  : Instr::Cmp;
    in.pred = inst.opcode;
    args(2);
    break;
  case Opcode::Select:
    in.op = Instr::Select;
    args(3);
    break;
  case Opcode::SignExtend:
    // index_cast / extsi keep the signed value (narrowing wraps to the
    // width); an i1 operand would map true to -1.
    in.op = inst.operandWidth == 1 ? Instr::Unknown : Instr::Copy;
    args(1);
    break;
  case Opcode::Truncate:
    // extui of a non-negative value and trunci keep it when it fits.
    in.op = inst.width > inst.operandWidth ? Instr::ZeroExtend
                                           : Instr::Copy;
    args(1);
    break;
  case Opcode::AbsI:
    in.op = Instr::Abs;
    args(1);
    break;
  case Opcode::Lookup:
    in.op = Instr::Lookup;
    in.table = program.tables[inst.immediate].name;
    in.args.assign(program.lookupArgs.begin() + inst.a,
                   program.lookupArgs.begin() + inst.a + inst.b);
    break;
  default:
    args(2);
    break;
  }
  return in;
}

PredicateIntervals PredicateIntervals::compile(const MaskProgram &program,
                                               const Node &node) {
  PredicateIntervals p;
  for (int i = 0; i < 4; ++i)
    p.code.push_back(Instr{Instr::Copy, Opcode::CmpEq, 0, {i}, ""});
  // Instruction j writes register 4 + j (verifyMaskProgram).
  for (uint32_t j = 0; j < node.count; ++j)
    p.code.push_back(intervalInstr(program, program.program[node.first + j]));
  p.result = static_cast<int>(node.param[1]);

  // Which of (b, h, q, k) flow into the result.
  std::vector<std::array<bool, 4>> uses(p.code.size());
  for (size_t i = 0; i < p.code.size(); ++i) {
    uses[i] = {false, false, false, false};
    if (i < 4)
      uses[i][i] = true;
    else
      for (int a : p.code[i].args)
        for (int j = 0; j < 4; ++j)
          uses[i][j] = uses[i][j] || uses[a][j];
  }
  for (int j = 0; j < 4; ++j)
    p.argUsed[j] = uses[p.result][j];
  p.keyDependent.resize(p.code.size());
  for (size_t i = 4; i < p.code.size(); ++i) {
    p.keyDependent[i] = uses[i][3];
    if (uses[i][3])
      p.keyCode.push_back(static_cast<uint32_t>(i));
  }
  return p;
}

static Interval cmp(Opcode pred, Interval a, Interval b) {
  auto decide = [](bool always, bool never) {
    return always ? Interval{1, 1} : never ? Interval{0, 0} : kUndecided;
  };
  bool nonNeg = a.lo >= 0 && b.lo >= 0;
  switch (pred) {
  case Opcode::CmpEq:
    return decide(exact(a) && exact(b) && a.lo == b.lo,
                  a.hi < b.lo || b.hi < a.lo);
  case Opcode::CmpNe:
    return decide(a.hi < b.lo || b.hi < a.lo,
                  exact(a) && exact(b) && a.lo == b.lo);
  case Opcode::CmpSlt:
    return decide(a.hi < b.lo, a.lo >= b.hi);
  case Opcode::CmpSle:
    return decide(a.hi <= b.lo, a.lo > b.hi);
  case Opcode::CmpSgt:
    return decide(a.lo > b.hi, a.hi <= b.lo);
  case Opcode::CmpSge:
    return decide(a.lo >= b.hi, a.hi < b.lo);
  case Opcode::CmpUlt:
    return nonNeg ? decide(a.hi < b.lo, a.lo >= b.hi) : kUndecided;
  case Opcode::CmpUle:
    return nonNeg ? decide(a.hi <= b.lo, a.lo > b.hi) : kUndecided;
  case Opcode::CmpUgt:
    return nonNeg ? decide(a.lo > b.hi, a.hi <= b.lo) : kUndecided;
  case Opcode::CmpUge:
    return nonNeg ? decide(a.lo >= b.hi, a.hi < b.lo) : kUndecided;
  default:
    return kUndecided;
  }
}

/// Division by an interval that excludes 0. For a divisor of fixed sign,
/// floor, ceiling and truncating division are monotone in each operand, so
/// the bounds are among the four corners. A divisor interval holding 0
/// (division by zero yields 0) or the one wrapping quotient INT64_MIN / -1
/// give no bound.
static Interval divide(Interval a, Interval b, Instr::Op op, bool truncating) {
  if (exact(b) && b.lo == 0)
    return {0, 0};
  if (b.lo <= 0 && b.hi >= 0)
    return kAnything;
  if (a.lo == kMin && b.lo <= -1 && b.hi >= -1)
    return kAnything;
  auto quotient = [&](int64_t x, int64_t y) {
    if (truncating)
      return ints::divSigned(x, y);
    return op == Instr::CeilDiv ? ints::ceilDivSigned(x, y)
                                : ints::floorDivSigned(x, y);
  };
  int64_t q[4] = {quotient(a.lo, b.lo), quotient(a.lo, b.hi),
                  quotient(a.hi, b.lo), quotient(a.hi, b.hi)};
  return {*std::min_element(q, q + 4), *std::max_element(q, q + 4)};
}

/// Signed (truncating) remainder by a constant: the sign of the dividend,
/// magnitude below |c|.
static Interval remainder(Interval a, Interval b) {
  if (!exact(b))
    return kAnything;
  int64_t c = b.lo;
  if (c == 0 || c == -1 || c == 1)
    return {0, 0};
  if (c == kMin)
    return a.lo > kMin ? a : kAnything;
  c = c < 0 ? -c : c;
  if (a.lo >= 0 && a.hi - a.lo < c && a.lo / c == a.hi / c)
    return {a.lo % c, a.hi % c};
  if (a.lo >= 0)
    return {0, c - 1};
  if (a.hi <= 0)
    return {-(c - 1), 0};
  return {-(c - 1), c - 1};
}

static Interval lookup(const MaskInputs &in, const std::string &name,
                       const std::vector<Interval> &idx) {
  auto it = in.tables.find(name);
  if (it == in.tables.end() || it->second.shape.size() != idx.size())
    return {0, 0};
  const TableData &t = it->second;
  // Clip the index box to the table; out-of-range indices read 0.
  bool outside = false;
  std::vector<Interval> box;
  int64_t entries = 1;
  for (size_t d = 0; d < idx.size(); ++d) {
    Interval i = idx[d];
    if (i.lo < 0 || i.hi >= t.shape[d])
      outside = true;
    Interval c{std::max<int64_t>(i.lo, 0), std::min<int64_t>(i.hi, t.shape[d] - 1)};
    if (c.lo > c.hi)
      return {0, 0};
    box.push_back(c);
    entries = saturate((__int128)entries * (c.hi - c.lo + 1));
  }
  if (entries > 4096)
    return kAnything;
  Interval r{kMax, kMin};
  if (outside)
    r = {0, 0};
  std::vector<int64_t> pos(box.size());
  for (size_t d = 0; d < box.size(); ++d)
    pos[d] = box[d].lo;
  while (true) {
    int64_t flat = 0;
    for (size_t d = 0; d < box.size(); ++d)
      flat = flat * t.shape[d] + pos[d];
    int64_t v = flat < (int64_t)t.size() ? t.data()[flat] : 0;
    r = {std::min(r.lo, v), std::max(r.hi, v)};
    size_t d = box.size();
    while (d > 0 && pos[d - 1] == box[d - 1].hi) {
      pos[d - 1] = box[d - 1].lo;
      --d;
    }
    if (d == 0)
      break;
    ++pos[d - 1];
  }
  return r;
}

/// The interval of instruction `c` given the registers before it.
static Interval step(const Instr &c, const Interval *r, const MaskInputs &in) {
  auto a = [&](int j) { return r[c.args[j]]; };
  switch (c.op) {
  case Instr::Const:
    return {c.imm, c.imm};
  case Instr::Add:
    return wrapped((__int128)a(0).lo + a(1).lo,
                   (__int128)a(0).hi + a(1).hi, c.width);
  case Instr::Sub:
    return wrapped((__int128)a(0).lo - a(1).hi,
                   (__int128)a(0).hi - a(1).lo, c.width);
  case Instr::Mul: {
    __int128 p[4] = {(__int128)a(0).lo * a(1).lo, (__int128)a(0).lo * a(1).hi,
                     (__int128)a(0).hi * a(1).lo, (__int128)a(0).hi * a(1).hi};
    return wrapped(*std::min_element(p, p + 4), *std::max_element(p, p + 4),
                   c.width);
  }
  case Instr::FloorDiv:
  case Instr::CeilDiv: {
    Interval q = divide(a(0), a(1), c.op, /*truncating=*/c.imm == 1);
    return wrapped(q.lo, q.hi, c.width);
  }
  case Instr::Rem:
    return remainder(a(0), a(1));
  case Instr::Min:
    return {std::min(a(0).lo, a(1).lo), std::min(a(0).hi, a(1).hi)};
  case Instr::Max:
    return {std::max(a(0).lo, a(1).lo), std::max(a(0).hi, a(1).hi)};
  case Instr::Abs: {
    Interval x = a(0);
    __int128 lo = x.lo, hi = x.hi;
    if (x.lo >= 0)
      return x;
    if (x.hi <= 0)
      return wrapped(-hi, -lo, c.width);
    return wrapped(0, std::max(-lo, hi), c.width);
  }
  case Instr::Cmp:
    return cmp(c.pred, a(0), a(1));
  case Instr::And:
  case Instr::Or:
  case Instr::Xor: {
    Interval x = a(0), y = a(1);
    if (!isBool(x) || !isBool(y))
      return kAnything;
    if (c.op == Instr::And)
      return {x.lo & y.lo, x.hi & y.hi};
    if (c.op == Instr::Or)
      return {x.lo | y.lo, x.hi | y.hi};
    return exact(x) && exact(y) ? Interval{x.lo ^ y.lo, x.lo ^ y.lo}
                                : kUndecided;
  }
  case Instr::Select: {
    Interval cond = a(0);
    if (exact(cond))
      return cond.lo ? a(1) : a(2);
    return {std::min(a(1).lo, a(2).lo), std::max(a(1).hi, a(2).hi)};
  }
  case Instr::Copy:
    // Also narrowing casts: the value survives only when it fits.
    return c.width == 1 ? (isBool(a(0)) ? a(0) : kUndecided)
                        : wrapped(a(0).lo, a(0).hi, c.width);
  case Instr::ZeroExtend: {
    // Bits of a negative operand read as a large unsigned value.
    Interval x = a(0);
    if (x.lo >= 0 || c.operandWidth == 1)
      return c.operandWidth == 1 ? Interval{std::max<int64_t>(x.lo, 0),
                                            std::min<int64_t>(x.hi, 1)}
                                 : x;
    if (c.operandWidth < 64 && c.width > c.operandWidth)
      return {0, (int64_t(1) << c.operandWidth) - 1};
    return kAnything;
  }
  case Instr::Lookup: {
    std::vector<Interval> idx;
    for (size_t j = 0; j < c.args.size(); ++j)
      idx.push_back(a(j));
    return lookup(in, c.table, idx);
  }
  case Instr::Unknown:
    return kAnything;
  }
  return kAnything;
}

Interval PredicateIntervals::evaluate(const MaskInputs &in, int64_t b,
                                      int64_t h, int64_t qa, int64_t qb,
                                      int64_t ka, int64_t kb) const {
  // Tiles are classified with many evaluations: registers of small
  // programs live on the stack.
  constexpr size_t kStackRegisters = 64;
  Interval stackRegisters[kStackRegisters];
  std::vector<Interval> heapRegisters;
  Interval *r = stackRegisters;
  if (code.size() > kStackRegisters) {
    heapRegisters.resize(code.size());
    r = heapRegisters.data();
  }
  r[0] = {b, b};
  r[1] = {h, h};
  r[2] = {qa, qb};
  r[3] = {ka, kb};
  for (size_t i = 4; i < code.size(); ++i)
    r[i] = step(code[i], r, in);
  Interval yielded = r[result];
  return isBool(yielded) ? yielded : kUndecided;
}

PredicateIntervals::KeySweep
PredicateIntervals::sweep(const MaskInputs &in, int64_t b, int64_t h,
                          int64_t qa, int64_t qb) const {
  KeySweep s(*this, in);
  s.registers.resize(code.size());
  Interval *r = s.registers.data();
  r[0] = {b, b};
  r[1] = {h, h};
  r[2] = {qa, qb};
  r[3] = kAnything; // read only by the instructions evaluate() reruns
  for (size_t i = 4; i < code.size(); ++i)
    if (!keyDependent[i])
      r[i] = step(code[i], r, in);
  return s;
}

Interval PredicateIntervals::KeySweep::evaluate(int64_t ka, int64_t kb) {
  Interval *r = registers.data();
  r[3] = {ka, kb};
  for (uint32_t i : program.keyCode)
    r[i] = step(program.code[i], r, inputs);
  Interval yielded = r[program.result];
  return isBool(yielded) ? yielded : kUndecided;
}
