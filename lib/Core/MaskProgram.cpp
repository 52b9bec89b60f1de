//===- MaskProgram.cpp - names, table dims and the program verifier -------===//
//
// What every user of a MaskProgram needs besides evaluation: the names of
// the JSON form, the table dimension grammar (shared with the mask dialect's
// verifier), and the structural check that makes a program read from a file
// as safe to evaluate as one the compiler just built.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/MaskProgram.h"
#include "sattn/Core/IntegerSemantics.h"

#include <algorithm>
#include <charconv>

using namespace sattn;

static const char *const kNodeNames[kNumNodeKinds] = {
    "full",     "empty",        "causal",     "window",   "symmetric_window",
    "sink",     "tail_queries", "strided",    "strided_blocks",
    "dilated",  "power",        "prefix",     "document", "block_table",
    "union",    "intersect",    "complement", "per_head", "predicate"};
static const char *const kAffineNames[kNumAffineOpcodes] = {
    "const", "dim", "add", "mul", "mod", "floordiv", "ceildiv"};
static const char *const kOpcodeNames[kNumOpcodes] = {
    "const",  "add",  "sub",  "mul",  "divs",      "divu",     "floordivs",
    "ceildivs", "rems", "remu", "mins", "maxs",    "minu",     "maxu",
    "eq",     "ne",   "slt",  "sle",  "sgt",       "sge",      "ult",
    "ule",    "ugt",  "uge",  "and",  "or",        "xor",      "select",
    "sext",   "trunc", "absi", "lookup"};

const char *sattn::nodeKindName(NodeKind kind) {
  return kNodeNames[static_cast<int>(kind)];
}
const char *sattn::affineOpcodeName(AffineOpcode opcode) {
  return kAffineNames[static_cast<int>(opcode)];
}
const char *sattn::opcodeName(Opcode opcode) {
  return kOpcodeNames[static_cast<int>(opcode)];
}

static std::string_view trim(std::string_view text) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
  };
  while (!text.empty() && space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && space(text.back()))
    text.remove_suffix(1);
  return text;
}

/// A positive decimal integer and nothing else.
static bool parsePositive(std::string_view text, int64_t &value) {
  if (text.empty() || text.front() < '0' || text.front() > '9')
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  return ec == std::errc() && end == text.data() + text.size() && value > 0;
}

bool sattn::parseTableDim(std::string_view text, TableDim &dim) {
  text = trim(text);
  if (text == "b") {
    dim.kind = TableDim::Batch;
    return true;
  }
  // "h", "q", "k", or one entry per N of them: "h/N" (a GQA group's
  // heads), "q/N", "k/N".
  if (!text.empty() && (text.front() == 'h' || text.front() == 'q' || text.front() == 'k')) {
    dim.kind = text.front() == 'h'   ? TableDim::Head
               : text.front() == 'q' ? TableDim::QueryPos
                                     : TableDim::KeyPos;
    std::string_view rest = trim(text.substr(1));
    if (rest.empty()) {
      dim.blockSize = 1;
      return true;
    }
    if (rest.front() != '/')
      return false;
    int64_t block;
    if (!parsePositive(trim(rest.substr(1)), block))
      return false;
    dim.blockSize = block;
    return true;
  }
  int64_t extent;
  if (!parsePositive(text, extent))
    return false;
  dim.kind = TableDim::Literal;
  dim.extent = extent;
  return true;
}

std::string sattn::checkTableDims(const std::vector<TableDim> &dims) {
  if (dims.empty() || dims.size() > static_cast<size_t>(kMaxTableRank))
    return "a table has 1 to " + std::to_string(kMaxTableRank) +
           " dimensions, got " + std::to_string(dims.size());
  int64_t fixed = 1;
  for (const TableDim &dim : dims) {
    if (dim.kind == TableDim::QueryPos || dim.kind == TableDim::KeyPos ||
        dim.kind == TableDim::Head) {
      std::string error =
          limits::checkPatternValue("a table's block size", dim.blockSize, 1);
      if (!error.empty())
        return error;
    } else if (dim.kind == TableDim::Literal) {
      if (dim.extent < 1 || !limits::checkedMul(fixed, dim.extent, fixed) ||
          fixed > limits::kMaxTableElements)
        return "the fixed extents of a table must be positive with a "
               "product of at most " +
               std::to_string(limits::kMaxTableElements);
    }
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Verifier
//===----------------------------------------------------------------------===//

namespace {
class Verifier {
public:
  explicit Verifier(const MaskProgram &p) : p(p) {}
  std::string run();

private:
  bool fail(const std::string &message) {
    if (error.empty())
      error = message;
    return false;
  }
  static std::string at(size_t i) { return "node " + std::to_string(i); }
  /// [first, first + count) lies in an array of `size` elements.
  static bool inRange(uint32_t first, uint32_t count, size_t size) {
    return static_cast<uint64_t>(first) + count <= size;
  }
  bool node(size_t i);
  bool params(size_t i, const Node &n);
  bool child(size_t parent, uint32_t c);
  bool affine(size_t i, const Node &n);
  bool predicate(size_t i, const Node &n);
  static std::string checkTypes(const Instruction &inst,
                                const std::vector<unsigned> &widths);
  bool slot(size_t i, int64_t s, int64_t rank);

  const MaskProgram &p;
  std::string error;
};
} // namespace

bool Verifier::child(size_t parent, uint32_t c) {
  // Children are compiled before their parents, so indices only go down:
  // evaluation always terminates.
  if (c >= parent)
    return fail(at(parent) + " refers to node " + std::to_string(c) +
                ", which does not precede it");
  return true;
}

bool Verifier::slot(size_t i, int64_t s, int64_t rank) {
  if (s < 0 || s >= static_cast<int64_t>(p.tables.size()))
    return fail(at(i) + " reads table slot " + std::to_string(s) + " of " +
                std::to_string(p.tables.size()));
  if (rank >= 0 && static_cast<int64_t>(p.tables[s].dims.size()) != rank)
    return fail(at(i) + " reads table @" + p.tables[s].name + " with " +
                std::to_string(rank) + " indices but it has rank " +
                std::to_string(p.tables[s].dims.size()));
  return true;
}

bool Verifier::affine(size_t i, const Node &n) {
  if (!inRange(n.first, n.count, p.affine.size()))
    return fail(at(i) + " has affine steps out of range");
  int depth = 0;
  for (uint32_t j = n.first; j < n.first + n.count; ++j) {
    AffineOpcode op = p.affine[j].opcode;
    if (static_cast<int>(op) >= kNumAffineOpcodes)
      return fail(at(i) + " has an unknown affine opcode");
    depth += op == AffineOpcode::Constant || op == AffineOpcode::Dim ? 1 : -1;
    if (depth < 1 || depth > kMaxAffineDepth)
      return fail(at(i) + " has a malformed head expression");
  }
  if (depth != 1)
    return fail(at(i) + " has a malformed head expression");
  return true;
}

bool Verifier::predicate(size_t i, const Node &n) {
  if (!inRange(n.first, n.count, p.program.size()))
    return fail(at(i) + " has instructions out of range");
  int64_t regs = n.param[0];
  if (regs != 4 + static_cast<int64_t>(n.count))
    return fail(at(i) + " declares " + std::to_string(regs) +
                " registers for " + std::to_string(n.count) + " instructions");
  if (n.param[1] < 0 || n.param[1] >= regs)
    return fail(at(i) + " yields register " + std::to_string(n.param[1]) +
                " of " + std::to_string(regs));
  // Register widths: b, h, q, k are index values (64 bits); instruction j
  // writes register 4 + j with its own width.
  std::vector<unsigned> widths(4, 64);
  for (uint32_t j = 0; j < n.count; ++j) {
    const Instruction &inst = p.program[n.first + j];
    std::string where = at(i) + " instruction " + std::to_string(j);
    if (static_cast<int>(inst.opcode) >= kNumOpcodes)
      return fail(where + " has an unknown opcode");
    if (inst.dst != 4 + j)
      return fail(where + " writes register " + std::to_string(inst.dst) +
                  ", expected " + std::to_string(4 + j));
    if (inst.width < 1 || inst.width > 64 || inst.operandWidth < 1 ||
        inst.operandWidth > 64)
      return fail(where + " has a width outside [1, 64]");
    if (inst.opcode == Opcode::Lookup) {
      if (!slot(i, inst.immediate, inst.b) || inst.b > kMaxTableRank ||
          !inRange(inst.a, inst.b, p.lookupArgs.size()))
        return fail(where + " has lookup arguments out of range");
      for (uint32_t k = inst.a; k < inst.a + inst.b; ++k) {
        if (p.lookupArgs[k] >= inst.dst)
          return fail(where + " reads a register not yet written");
        if (widths[p.lookupArgs[k]] != 64)
          return fail(where + " indexes a table with a value that is not an index");
      }
      const TableRef &table = p.tables[inst.immediate];
      if (inst.width != (table.isBool ? 1u : 64u))
        return fail(where + " reads table '" + table.name + "' as " +
                    std::to_string(inst.width) +
                    "-bit values (lookups give i1 for bool tables, index otherwise)");
      widths.push_back(inst.width);
      continue;
    }
    // Operands that are not read are 0 in programs the compiler writes.
    if (inst.a >= inst.dst || inst.b >= inst.dst || inst.c >= inst.dst)
      return fail(where + " reads a register not yet written");
    if (std::string error = checkTypes(inst, widths); !error.empty())
      return fail(where + " (" + opcodeName(inst.opcode) + ") " + error);
    widths.push_back(inst.width);
  }
  if (widths[n.param[1]] != 1)
    return fail(at(i) + " yields a value that is not a boolean (i1)");
  return true;
}

/// The typing rules of predicate instructions, as CompiledMask writes them
/// (the evaluator and the planner's interval analysis both rely on them):
/// operands of arithmetic and comparisons have `operandWidth` bits, and so
/// does the result of arithmetic; comparisons give i1; select takes an i1
/// condition and two values of its own width; constants fit their width.
std::string Verifier::checkTypes(const Instruction &inst,
                                 const std::vector<unsigned> &widths) {
  auto width = [&](uint32_t reg) { return std::to_string(widths[reg]); };
  const unsigned w = inst.width, ow = inst.operandWidth;
  switch (inst.opcode) {
  case Opcode::Constant:
    if (ints::truncateTo(static_cast<uint64_t>(inst.immediate), w) !=
        static_cast<uint64_t>(inst.immediate))
      return "has a constant that does not fit in " + std::to_string(w) + " bits";
    return "";
  case Opcode::Select:
    if (ow != 1 || widths[inst.a] != 1)
      return "has a condition of " + width(inst.a) + " bits, expected i1";
    if (widths[inst.b] != w || widths[inst.c] != w)
      return "selects between values of " + width(inst.b) + " and " +
             width(inst.c) + " bits for a " + std::to_string(w) + "-bit result";
    return "";
  case Opcode::SignExtend:
  case Opcode::Truncate:
    if (widths[inst.a] != ow)
      return "reads a " + width(inst.a) + "-bit value declared as " +
             std::to_string(ow) + " bits";
    return "";
  case Opcode::AbsI:
    if (widths[inst.a] != ow || w != ow)
      return "mixes widths " + width(inst.a) + ", " + std::to_string(ow) +
             " and " + std::to_string(w);
    return "";
  default:
    break;
  }
  bool compare = inst.opcode >= Opcode::CmpEq && inst.opcode <= Opcode::CmpUge;
  if (widths[inst.a] != ow || widths[inst.b] != ow)
    return "reads values of " + width(inst.a) + " and " + width(inst.b) +
           " bits declared as " + std::to_string(ow) + " bits";
  if (compare ? w != 1 : w != ow)
    return "gives a " + std::to_string(w) + "-bit result from " +
           std::to_string(ow) + "-bit operands";
  return "";
}

/// Every integer parameter of `n` that names a size, stride, block or
/// offset lies within the pattern limits (limits::kMaxPatternValue), so the
/// planner's closed forms cannot overflow.
bool Verifier::params(size_t i, const Node &n) {
  const int64_t *param = n.param;
  auto check = [&](const char *what, int64_t value, int64_t lo) {
    std::string error = limits::checkPatternValue(what, value, lo);
    return error.empty() || fail(at(i) + " (" + nodeKindName(n.kind) + "): " +
                                 error);
  };
  constexpr int64_t kOffset = -limits::kMaxPatternValue;
  switch (n.kind) {
  case NodeKind::Window:
  case NodeKind::Sink:
  case NodeKind::TailQueries:
    return check("size", param[0], 1);
  case NodeKind::SymmetricWindow:
  case NodeKind::Prefix:
    return check("size", param[0], 0);
  case NodeKind::Strided:
    return check("stride", param[0], 1);
  case NodeKind::StridedBlocks:
    return check("block", param[0], 1) && check("local", param[1], 0) &&
           check("vert_stride", param[2], 1) &&
           check("offset", param[3], kOffset) &&
           check("first dense head", param[4], 0) &&
           check("group size", param[5], 1) && check("step", param[6], 1);
  case NodeKind::Dilated:
    // [dilation, window * dilation]: both factors are pattern values.
    if (!check("dilation", param[0], 1))
      return false;
    if (param[1] % param[0] != 0)
      return fail(at(i) + " has a dilated span that is not a multiple of its "
                          "dilation");
    return check("window", param[1] / param[0], 1);
  case NodeKind::Power:
    return check("block", param[0], 1) && check("window", param[1], 0) &&
           check("sink", param[2], 0);
  case NodeKind::BlockTable:
    return check("block", param[1], 1);
  default:
    return true;
  }
}

bool Verifier::node(size_t i) {
  const Node &n = p.nodes[i];
  const int64_t *param = n.param;
  if (!params(i, n))
    return false;
  switch (n.kind) {
  case NodeKind::Full:
  case NodeKind::Empty:
  case NodeKind::Causal:
  case NodeKind::Window:
  case NodeKind::SymmetricWindow:
  case NodeKind::Sink:
  case NodeKind::TailQueries:
  case NodeKind::Prefix:
  case NodeKind::StridedBlocks:
  case NodeKind::Dilated:
  case NodeKind::Power:
    return true;
  case NodeKind::Strided:
    return affine(i, n);
  case NodeKind::Document:
    if (param[1] != 1 && param[1] != 2)
      return fail(at(i) + " has a document table of rank " +
                  std::to_string(param[1]));
    return slot(i, param[0], param[1]);
  case NodeKind::BlockTable:
    return slot(i, param[0], 3);
  case NodeKind::Union:
  case NodeKind::Intersect:
  case NodeKind::PerHead:
    if (n.count == 0 || !inRange(n.first, n.count, p.operands.size()))
      return fail(at(i) + " has operands out of range");
    if (n.kind == NodeKind::PerHead && n.count != p.heads)
      return fail(at(i) + " assigns " + std::to_string(n.count) +
                  " heads but the program has " + std::to_string(p.heads));
    for (uint32_t j = n.first; j < n.first + n.count; ++j)
      if (!child(i, p.operands[j]))
        return false;
    return true;
  case NodeKind::Complement:
    return child(i, n.first);
  case NodeKind::Predicate:
    return predicate(i, n);
  }
  return fail(at(i) + " has an unknown kind");
}

std::string Verifier::run() {
  std::string config = limits::checkHeads(p.heads, p.kvHeads);
  if (!config.empty())
    return config;
  if (p.nodes.empty() || p.root >= p.nodes.size())
    return "root " + std::to_string(p.root) + " is not one of the " +
           std::to_string(p.nodes.size()) + " nodes";
  if (static_cast<int64_t>(p.nodes.size()) > limits::kMaxMaskNodes)
    return "the mask has " + std::to_string(p.nodes.size()) +
           " distinct nodes, more than the limit of " +
           std::to_string(limits::kMaxMaskNodes);
  if (static_cast<int64_t>(p.program.size()) >
      limits::kMaxPredicateInstructions)
    return "the mask's predicates have " + std::to_string(p.program.size()) +
           " instructions, more than the limit of " +
           std::to_string(limits::kMaxPredicateInstructions);
  for (const TableRef &t : p.tables) {
    if (t.dims.size() != t.dimTexts.size())
      return "table @" + t.name + " has an invalid declaration";
    std::string dims = checkTableDims(t.dims);
    if (!dims.empty())
      return "table @" + t.name + ": " + dims;
  }
  for (size_t i = 0; i < p.nodes.size(); ++i)
    if (!node(i))
      return error;
  // Evaluation and planning recurse over the node DAG: bound its depth.
  std::vector<int> depth(p.nodes.size(), 1);
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const Node &n = p.nodes[i];
    if (n.kind == NodeKind::Complement)
      depth[i] = depth[n.first] + 1;
    else if (n.kind == NodeKind::Union || n.kind == NodeKind::Intersect ||
             n.kind == NodeKind::PerHead)
      for (uint32_t j = n.first; j < n.first + n.count; ++j)
        depth[i] = std::max(depth[i], depth[p.operands[j]] + 1);
    if (depth[i] > kMaxNodeDepth)
      return at(i) + " nests deeper than " + std::to_string(kMaxNodeDepth);
  }
  return "";
}

std::string sattn::verifyMaskProgram(const MaskProgram &program) {
  return Verifier(program).run();
}
