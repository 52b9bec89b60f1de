//===- MaskEval.cpp - evaluation of mask programs -------------------------===//
//
// Implements docs/MASK_SEMANTICS.md on the flat program: nodes recurse by
// index, predicates run as straight-line register programs over 64-bit
// values, so keep() never touches IR. Programs read from files are verified
// first (verifyMaskProgram), which is what makes the unchecked indexing here
// safe.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/MaskEval.h"

#include "sattn/Core/IntegerSemantics.h"

#include <algorithm>
#include <limits>
#include <sstream>

using namespace sattn;
using namespace sattn::ints;

namespace {

/// Arguments of one keep() query.
struct Query {
  const MaskInputs &inputs;
  int64_t b, h, q, k;
};

/// The evaluation functions over one program.
struct Evaluator {
  const MaskProgram &prog;

  bool eval(uint32_t index, const Query &query) const;
  int64_t evalAffine(const Node &node, int64_t h) const;
  bool runPredicate(const Node &node, const Query &query) const;
  int64_t readTable(const MaskInputs &inputs, uint32_t slot,
                    const int64_t *indices, size_t rank) const;
  int64_t readTable(const MaskInputs &inputs, uint32_t slot,
                    std::initializer_list<int64_t> indices) const {
    return readTable(inputs, slot, indices.begin(), indices.size());
  }
};

} // namespace

int64_t Evaluator::readTable(const MaskInputs &inputs, uint32_t slot,
                             const int64_t *indices, size_t rank) const {
  const TableRef &ref = prog.tables[slot];
  auto it = inputs.tables.find(ref.name);
  if (it == inputs.tables.end())
    return 0;
  const TableData &data = it->second;
  if (data.shape.size() != rank)
    return 0;
  uint64_t flat = 0;
  for (size_t d = 0; d < rank; ++d) {
    int64_t index = indices[d], extent = data.shape[d];
    if (index < 0 || index >= extent)
      return 0;
    flat = flat * static_cast<uint64_t>(extent) + static_cast<uint64_t>(index);
  }
  if (flat >= data.size())
    return 0;
  int64_t value = data.data()[flat];
  return ref.isBool ? value != 0 : value;
}

int64_t Evaluator::evalAffine(const Node &node, int64_t h) const {
  int64_t stack[kMaxAffineDepth];
  size_t depth = 0;
  for (uint32_t i = node.first; i < node.first + node.count; ++i) {
    const AffineStep &step = prog.affine[i];
    if (step.opcode == AffineOpcode::Constant) {
      stack[depth++] = step.constant;
      continue;
    }
    if (step.opcode == AffineOpcode::Dim) {
      stack[depth++] = h;
      continue;
    }
    int64_t rhs = stack[--depth];
    int64_t &lhs = stack[depth - 1];
    switch (step.opcode) {
    case AffineOpcode::Add:
      lhs = wrapAdd(lhs, rhs);
      break;
    case AffineOpcode::Mul:
      lhs = wrapMul(lhs, rhs);
      break;
    case AffineOpcode::Mod:
      lhs = floorModSigned(lhs, rhs);
      break;
    case AffineOpcode::FloorDiv:
      lhs = floorDivSigned(lhs, rhs);
      break;
    case AffineOpcode::CeilDiv:
      lhs = ceilDivSigned(lhs, rhs);
      break;
    default: // leaf opcodes are handled above
      break;
    }
  }
  return stack[depth - 1];
}

bool Evaluator::runPredicate(const Node &node,
                                       const Query &query) const {
  // Small programs keep their registers on the stack (the tile planner
  // evaluates pairs of undecided tiles one by one).
  constexpr int64_t kStackRegisters = 64;
  uint64_t small[kStackRegisters];
  std::vector<uint64_t> large;
  uint64_t *regs = small;
  if (node.param[0] > kStackRegisters) {
    large.assign(node.param[0], 0);
    regs = large.data();
  } else {
    std::fill(small, small + std::max<int64_t>(node.param[0], 4), 0);
  }
  regs[0] = static_cast<uint64_t>(query.b);
  regs[1] = static_cast<uint64_t>(query.h);
  regs[2] = static_cast<uint64_t>(query.q);
  regs[3] = static_cast<uint64_t>(query.k);
  for (uint32_t i = node.first; i < node.first + node.count; ++i) {
    const Instruction &inst = prog.program[i];
    uint64_t a = regs[inst.a], b = regs[inst.b];
    int64_t sa = signExtendFrom(a, inst.operandWidth);
    int64_t sb = signExtendFrom(b, inst.operandWidth);
    uint64_t result = 0;
    switch (inst.opcode) {
    case Opcode::Constant:
      result = static_cast<uint64_t>(inst.immediate);
      break;
    case Opcode::Add:
      result = a + b;
      break;
    case Opcode::Sub:
      result = a - b;
      break;
    case Opcode::Mul:
      result = a * b;
      break;
    case Opcode::DivS:
      result = static_cast<uint64_t>(divSigned(sa, sb));
      break;
    case Opcode::DivU:
      result = divUnsigned(a, b);
      break;
    case Opcode::FloorDivS:
      result = static_cast<uint64_t>(floorDivSigned(sa, sb));
      break;
    case Opcode::CeilDivS:
      result = static_cast<uint64_t>(ceilDivSigned(sa, sb));
      break;
    case Opcode::RemS:
      result = static_cast<uint64_t>(remSigned(sa, sb));
      break;
    case Opcode::RemU:
      result = remUnsigned(a, b);
      break;
    case Opcode::MinS:
      result = sa <= sb ? a : b;
      break;
    case Opcode::MaxS:
      result = sa >= sb ? a : b;
      break;
    case Opcode::MinU:
      result = std::min(a, b);
      break;
    case Opcode::MaxU:
      result = std::max(a, b);
      break;
    case Opcode::CmpEq:
      result = a == b;
      break;
    case Opcode::CmpNe:
      result = a != b;
      break;
    case Opcode::CmpSlt:
      result = sa < sb;
      break;
    case Opcode::CmpSle:
      result = sa <= sb;
      break;
    case Opcode::CmpSgt:
      result = sa > sb;
      break;
    case Opcode::CmpSge:
      result = sa >= sb;
      break;
    case Opcode::CmpUlt:
      result = a < b;
      break;
    case Opcode::CmpUle:
      result = a <= b;
      break;
    case Opcode::CmpUgt:
      result = a > b;
      break;
    case Opcode::CmpUge:
      result = a >= b;
      break;
    case Opcode::And:
      result = a & b;
      break;
    case Opcode::Or:
      result = a | b;
      break;
    case Opcode::Xor:
      result = a ^ b;
      break;
    case Opcode::Select:
      result = (a & 1) ? b : regs[inst.c];
      break;
    case Opcode::SignExtend:
      result = static_cast<uint64_t>(sa);
      break;
    case Opcode::Truncate:
      result = a;
      break;
    case Opcode::AbsI:
      result = sa < 0 ? uint64_t(0) - a : a;
      break;
    case Opcode::Lookup: {
      int64_t indices[kMaxTableRank];
      for (uint32_t j = 0; j < inst.b; ++j)
        indices[j] = static_cast<int64_t>(regs[prog.lookupArgs[inst.a + j]]);
      result = static_cast<uint64_t>(
          readTable(query.inputs, static_cast<uint32_t>(inst.immediate),
                    indices, inst.b));
      break;
    }
    }
    regs[inst.dst] = truncateTo(result, inst.width);
  }
  return regs[node.param[1]] & 1;
}

bool Evaluator::eval(uint32_t index, const Query &query) const {
  const Node &node = prog.nodes[index];
  const int64_t *p = node.param;
  int64_t q = query.q, k = query.k;
  switch (node.kind) {
  case NodeKind::Full:
    return true;
  case NodeKind::Empty:
    return false;
  case NodeKind::Causal:
    return k <= q;
  case NodeKind::Window: // q - W < k <= q
    return wrapSub(q, p[0]) < k && k <= q;
  case NodeKind::SymmetricWindow: { // abs(q - k) <= R
    int64_t d = wrapSub(q, k);
    int64_t distance = d < 0 ? wrapSub(0, d) : d;
    return distance <= p[0];
  }
  case NodeKind::Sink:
    return k < p[0];
  case NodeKind::TailQueries:
    return q >= wrapSub(query.inputs.lk, p[0]);
  case NodeKind::Strided: // k floormod S == f(h) floormod S
    return floorModSigned(k, p[0]) ==
           floorModSigned(evalAffine(node, query.h), p[0]);
  case NodeKind::StridedBlocks: {
    // param: block, local, vert_stride, offset, first dense head, group
    // size (1 unless per_kv_group), step.
    int64_t hh = divSigned(query.h, p[5]);
    if (!(k <= q))
      return false;
    if (hh >= p[4])
      return true;
    int64_t qBlock = divSigned(q, p[0]), kBlock = divSigned(k, p[0]);
    if (qBlock < kBlock)
      return false;
    if (wrapSub(qBlock, kBlock) < p[1])
      return true;
    int64_t column = wrapAdd(wrapAdd(kBlock, wrapMul(hh, p[6])), p[3]);
    return floorModSigned(column, p[2]) == 0;
  }
  case NodeKind::Dilated: { // param: dilation, window * dilation
    int64_t d = wrapSub(q, k);
    return k <= q && d < p[1] && remSigned(d, p[0]) == 0;
  }
  case NodeKind::Power: { // param: block, window blocks, sink blocks
    int64_t qBlock = divSigned(q, p[0]), kBlock = divSigned(k, p[0]);
    int64_t d = wrapSub(qBlock, kBlock);
    bool powerOfTwo = d > 0 && (d & (d - 1)) == 0;
    return k <= q && kBlock <= qBlock &&
           (d == 0 || powerOfTwo || d < p[1] || kBlock < p[2]);
  }
  case NodeKind::Prefix:
    return k < p[0] || k <= q;
  case NodeKind::Document: { // param: table slot, table rank
    uint32_t slot = static_cast<uint32_t>(p[0]);
    if (p[1] == 1)
      return readTable(query.inputs, slot, {q}) ==
             readTable(query.inputs, slot, {k});
    return readTable(query.inputs, slot, {query.b, q}) ==
           readTable(query.inputs, slot, {query.b, k});
  }
  case NodeKind::BlockTable: // param: table slot, block
    return readTable(query.inputs, static_cast<uint32_t>(p[0]),
                     {query.h, divSigned(q, p[1]), divSigned(k, p[1])}) != 0;
  case NodeKind::Union:
    for (uint32_t i = node.first; i < node.first + node.count; ++i)
      if (eval(prog.operands[i], query))
        return true;
    return false;
  case NodeKind::Intersect:
    for (uint32_t i = node.first; i < node.first + node.count; ++i)
      if (!eval(prog.operands[i], query))
        return false;
    return true;
  case NodeKind::Complement:
    return !eval(node.first, query);
  case NodeKind::PerHead:
    // operands[first + h] is the node deciding for head h.
    if (query.h < 0 || query.h >= static_cast<int64_t>(node.count))
      return false;
    return eval(prog.operands[node.first + query.h], query);
  case NodeKind::Predicate:
    return runPredicate(node, query);
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Public functions
//===----------------------------------------------------------------------===//

bool sattn::evalMaskNode(const MaskProgram &program, uint32_t node,
                         const MaskInputs &inputs, int64_t b, int64_t h,
                         int64_t q, int64_t k) {
  return Evaluator{program}.eval(node, Query{inputs, b, h, q, k});
}

int64_t sattn::evalHeadOffset(const MaskProgram &program, const Node &node,
                              int64_t h) {
  return Evaluator{program}.evalAffine(node, h);
}

std::string sattn::checkMaskInputs(const MaskProgram &program,
                                   const MaskInputs &inputs) {
  std::ostringstream os;
  if (inputs.batch <= 0) {
    os << "batch must be positive, got " << inputs.batch;
    return os.str();
  }
  if (inputs.lq < 0 || inputs.lk < 0 || inputs.lq > inputs.lk) {
    os << "lengths must satisfy 0 <= lq <= lk, got lq = " << inputs.lq
       << ", lk = " << inputs.lk;
    return os.str();
  }
  for (const TableRef &ref : program.tables) {
    auto it = inputs.tables.find(ref.name);
    if (it == inputs.tables.end()) {
      os << "table @" << ref.name << " is read by the mask but not provided";
      return os.str();
    }
    const TableData &data = it->second;
    if (data.shape.size() != ref.dims.size()) {
      os << "table @" << ref.name << " has rank " << data.shape.size()
         << " but is declared with " << ref.dims.size() << " dimensions";
      return os.str();
    }
    int64_t elements = 1;
    for (unsigned d = 0; d < ref.dims.size(); ++d) {
      const TableDim &dim = ref.dims[d];
      int64_t expected = dim.extentFor(program.heads, inputs.batch, inputs.lk);
      std::string why;
      switch (dim.kind) {
      case TableDim::Batch:
        why = "batch";
        break;
      case TableDim::Head:
        why = dim.blockSize == 1 ? std::string("heads")
                                 : "ceil(heads / " + std::to_string(dim.blockSize) + ")";
        break;
      case TableDim::QueryPos:
      case TableDim::KeyPos:
        why = dim.blockSize == 1
                  ? std::string("lk")
                  : "ceil(lk / " + std::to_string(dim.blockSize) + ")";
        break;
      case TableDim::Literal:
        why = "literal";
        break;
      }
      if (data.shape[d] != expected) {
        os << "table @" << ref.name << " dimension " << d << " (\""
           << ref.dimTexts[d] << "\") has extent " << data.shape[d]
           << ", expected " << expected << " (" << why << ")";
        return os.str();
      }
      elements = saturatingMul(elements, expected);
    }
    if (static_cast<int64_t>(data.size()) != elements) {
      os << "table @" << ref.name << " holds " << data.size()
         << " values but its shape needs " << elements;
      return os.str();
    }
    int64_t lo = ref.isBool ? 0 : std::numeric_limits<int64_t>::min();
    int64_t hi = ref.isBool ? 1 : std::numeric_limits<int64_t>::max();
    if (ref.elementWidth == 32) {
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
    }
    const int64_t *values = data.data();
    for (size_t i = 0; i < data.size(); ++i) {
      int64_t value = values[i];
      if (value < lo || value > hi) {
        os << "table @" << ref.name << " value " << value << " at flat index "
           << i << " does not fit its element type i" << ref.elementWidth;
        return os.str();
      }
    }
  }
  return os.str();
}
