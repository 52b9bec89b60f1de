//===- PredicateSplit.cpp - predicates split at their top-level | -------===//
//
// Tier 1 recognises predicates of one shape as a whole: a function of q - k,
// of k or of q alone (AxisPredicate), or & / | of column and diagonal table
// lookups (TableTerms). A predicate that mixes shapes, such as
// `abs(q - k) <= 256 | global[q] | global[k]` or `k % 128 == 3 | q % 256 ==
// 0`, fell to tiers 2 and 3, which classify every tile its bands or columns
// cross (seconds at 32K). The same predicate is the union of its operands,
// each a predicate of its own: split that way, every part that has a tier-1
// shape gets key-exact sets, and the rest stays exact through tiers 2 and
// 3. Only | is split: the keys some row of a query tile keeps are, for a
// union, exactly the union of each part's, while for an intersection the
// intersection of the parts' sets can hold keys no single row keeps (tiles
// visited for nothing). The planner splits only where a part gains a
// tier-1 shape, and on its private copy of the program (manifests keep the
// compiled program).
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::plan;

namespace {

constexpr uint32_t kFirstRegister = 4; // b, h, q, k come first
/// Most operands one split produces, and most nested splits: beyond these,
/// predicates are planned as a whole as before.
constexpr size_t kMaxParts = 64;
constexpr int kMaxSplitDepth = 4;

/// The registers `inst` reads (lookups: their index registers).
void operandsOf(const MaskProgram &p, const Instruction &inst,
                std::vector<uint32_t> &out) {
  switch (inst.opcode) {
  case Opcode::Constant:
    return;
  case Opcode::Lookup:
    for (uint32_t i = inst.a; i < inst.a + inst.b; ++i)
      out.push_back(p.lookupArgs[i]);
    return;
  case Opcode::SignExtend:
  case Opcode::Truncate:
  case Opcode::AbsI:
    out.push_back(inst.a);
    return;
  case Opcode::Select:
    out.insert(out.end(), {inst.a, inst.b, inst.c});
    return;
  default:
    out.insert(out.end(), {inst.a, inst.b});
  }
}

/// A predicate on its own: the instructions of another predicate that
/// compute one of its registers, renumbered.
struct Slice {
  std::vector<Instruction> code;
  std::vector<uint32_t> lookupArgs;
  uint32_t yield = 0;
};

const Instruction *instructionOf(const MaskProgram &p, const Node &n,
                                 uint32_t reg) {
  if (reg < kFirstRegister || reg - kFirstRegister >= n.count)
    return nullptr;
  return &p.program[n.first + reg - kFirstRegister];
}

Slice sliceOf(const MaskProgram &p, const Node &n, uint32_t reg) {
  std::vector<bool> needed(kFirstRegister + n.count, false);
  std::vector<uint32_t> work{reg}, operands;
  while (!work.empty()) {
    uint32_t r = work.back();
    work.pop_back();
    if (needed[r])
      continue;
    needed[r] = true;
    if (const Instruction *inst = instructionOf(p, n, r)) {
      operands.clear();
      operandsOf(p, *inst, operands);
      work.insert(work.end(), operands.begin(), operands.end());
    }
  }
  Slice s;
  std::vector<uint32_t> renamed(kFirstRegister + n.count, 0);
  for (uint32_t r = 0; r < kFirstRegister; ++r)
    renamed[r] = r;
  for (uint32_t j = 0; j < n.count; ++j) {
    uint32_t r = kFirstRegister + j;
    if (!needed[r])
      continue;
    Instruction inst = p.program[n.first + j];
    renamed[r] = kFirstRegister + static_cast<uint32_t>(s.code.size());
    inst.dst = renamed[r];
    if (inst.opcode == Opcode::Lookup) {
      uint32_t first = static_cast<uint32_t>(s.lookupArgs.size());
      for (uint32_t i = inst.a; i < inst.a + inst.b; ++i)
        s.lookupArgs.push_back(renamed[p.lookupArgs[i]]);
      inst.a = first;
    } else if (inst.opcode != Opcode::Constant) {
      // Operands that are not read are 0, and stay 0 (renamed[0] == 0).
      inst.a = renamed[inst.a];
      inst.b = renamed[inst.b];
      inst.c = renamed[inst.c];
    }
    s.code.push_back(inst);
  }
  s.yield = renamed[reg];
  return s;
}

class Splitter {
public:
  explicit Splitter(const MaskProgram &source) : source(source) {}

  /// The program with every beneficial split made, children before parents.
  MaskProgram run() {
    out = source;
    out.nodes.clear();
    out.operands.clear();
    std::vector<uint32_t> index(source.nodes.size());
    for (size_t i = 0; i < source.nodes.size(); ++i) {
      Node n = source.nodes[i];
      switch (n.kind) {
      case NodeKind::Union:
      case NodeKind::Intersect:
      case NodeKind::PerHead: {
        uint32_t first = static_cast<uint32_t>(out.operands.size());
        for (uint32_t j = n.first; j < n.first + n.count; ++j)
          out.operands.push_back(index[source.operands[j]]);
        n.first = first;
        break;
      }
      case NodeKind::Complement:
        n.first = index[n.first];
        break;
      default:
        break;
      }
      index[i] = n.kind == NodeKind::Predicate ? emitPredicate(source, n, 0)
                                               : append(n);
    }
    out.root = index[source.root];
    return std::move(out);
  }

private:
  const MaskProgram &source;
  MaskProgram out;

  uint32_t append(const Node &n) {
    out.nodes.push_back(n);
    return static_cast<uint32_t>(out.nodes.size() - 1);
  }

  static bool tierOne(const MaskProgram &p, const Node &n) {
    return TableTerms::match(p, n).has_value() ||
           AxisPredicate::match(p, n).has_value();
  }

  /// The operands of the | tree at the yield of `n` (one register when the
  /// yield is not an |).
  static std::vector<uint32_t> parts(const MaskProgram &p, const Node &n) {
    std::vector<uint32_t> found;
    const Instruction *top = instructionOf(p, n, n.param[1]);
    const Opcode op = Opcode::Or;
    if (!top || top->width != 1 || top->opcode != op)
      return {static_cast<uint32_t>(n.param[1])};
    std::vector<uint32_t> work{static_cast<uint32_t>(n.param[1])};
    while (!work.empty() && found.size() + work.size() <= kMaxParts) {
      uint32_t r = work.back();
      work.pop_back();
      const Instruction *inst = instructionOf(p, n, r);
      if (inst && inst->opcode == op && inst->width == 1) {
        work.push_back(inst->b);
        work.push_back(inst->a);
      } else {
        found.push_back(r);
      }
    }
    if (!work.empty())
      return {static_cast<uint32_t>(n.param[1])};
    return found;
  }

  /// A one-node program holding `slice` (with the source's tables).
  static std::pair<MaskProgram, Node> standalone(const MaskProgram &tables,
                                                 const Slice &s) {
    MaskProgram p;
    p.tables = tables.tables;
    p.program = s.code;
    p.lookupArgs = s.lookupArgs;
    Node n;
    n.kind = NodeKind::Predicate;
    n.count = static_cast<uint32_t>(s.code.size());
    n.param[0] = kFirstRegister + n.count;
    n.param[1] = s.yield;
    return {std::move(p), n};
  }

  /// Whether splitting predicate `n` of `p` gives some part a tier-1 shape.
  static bool gains(const MaskProgram &p, const Node &n, int depth) {
    if (depth >= kMaxSplitDepth)
      return false;
    std::vector<uint32_t> regs = parts(p, n);
    if (regs.size() < 2)
      return false;
    for (uint32_t r : regs) {
      auto [partProgram, part] = standalone(p, sliceOf(p, n, r));
      if (tierOne(partProgram, part) || gains(partProgram, part, depth + 1))
        return true;
    }
    return false;
  }

  /// Emits predicate `n` of `p` into `out`, split where that pays; returns
  /// the index of the node that stands for it.
  uint32_t emitPredicate(const MaskProgram &p, const Node &n, int depth) {
    if (tierOne(p, n) || !gains(p, n, depth)) {
      // Copy as is (its instructions into out's pool when from a slice).
      Node copy = n;
      if (&p != &source) {
        copy.first = static_cast<uint32_t>(out.program.size());
        uint32_t lookupBase = static_cast<uint32_t>(out.lookupArgs.size());
        for (Instruction inst : p.program) {
          if (inst.opcode == Opcode::Lookup)
            inst.a += lookupBase;
          out.program.push_back(inst);
        }
        out.lookupArgs.insert(out.lookupArgs.end(), p.lookupArgs.begin(),
                              p.lookupArgs.end());
      }
      return append(copy);
    }
    std::vector<uint32_t> regs = parts(p, n);
    std::vector<uint32_t> children;
    for (uint32_t r : regs) {
      auto [partProgram, part] = standalone(p, sliceOf(p, n, r));
      children.push_back(emitPredicate(partProgram, part, depth + 1));
    }
    Node combined;
    combined.kind = NodeKind::Union;
    combined.first = static_cast<uint32_t>(out.operands.size());
    combined.count = static_cast<uint32_t>(children.size());
    out.operands.insert(out.operands.end(), children.begin(), children.end());
    return append(combined);
  }
};

} // namespace

MaskProgram sattn::plan::splitPredicates(const MaskProgram &program) {
  MaskProgram split = Splitter(program).run();
  // Limits (nodes, instructions, depth) still hold, or nothing is split.
  return verifyMaskProgram(split).empty() ? split : program;
}
