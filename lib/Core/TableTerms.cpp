//===- TableTerms.cpp - exact key sets of column / diagonal table masks ---===//
//
// Tier 1 for predicates such as `vcol[h, k] | slash[h, q - k]`: a bool table
// indexed by the key is a set of columns, one indexed by q - k a set of
// diagonals, and & / | of them combine exactly. For a block of query rows
// [qa, qb] a column set keeps its columns for every row; a diagonal at
// offset o keeps the band [qa - o, qb - o] for some row, and a run of
// consecutive offsets [o1, o2] at least as long as the block keeps
// [qb - o2, qa - o1] for every row. A table may also be indexed by the query
// block q / N (AnchorAttention's stripes: `sel[b, h, q / 2048, k]`): its row
// is fixed within each block of N rows, so a query tile inside one block
// gets that row's exact set, and one spanning several blocks the union (some
// row keeps) and the intersection (every row keeps) of theirs. The planner
// turns these key-exact sets into a few dense tiles plus gathered keys,
// instead of visiting (and classifying pair by pair) every tile a column or
// a diagonal crosses.
//
//===----------------------------------------------------------------------===//

#include "PlannerImpl.h"

#include <algorithm>

using namespace sattn;
using namespace sattn::plan;

namespace {
constexpr uint32_t kFirstInstructionRegister = 4; // b, h, q, k come first
constexpr uint32_t kRegH = 1, kRegQ = 2, kRegK = 3, kRegB = 0;
} // namespace

std::optional<TableTerms> TableTerms::match(const MaskProgram &program,
                                            const Node &node) {
  TableTerms out;
  auto instructionOf = [&](uint32_t reg) -> const Instruction * {
    if (reg < kFirstInstructionRegister ||
        reg - kFirstInstructionRegister >= node.count)
      return nullptr;
    return &program.program[node.first + reg - kFirstInstructionRegister];
  };
  // Returns the term index, or -1 when the value is not a supported term.
  auto build = [&](auto &self, uint32_t reg, int depth) -> int {
    const Instruction *inst = instructionOf(reg);
    if (!inst || depth > kMaxNodeDepth || inst->width != 1)
      return -1;
    if (inst->opcode == Opcode::And || inst->opcode == Opcode::Or) {
      int lhs = self(self, inst->a, depth + 1);
      int rhs = lhs < 0 ? -1 : self(self, inst->b, depth + 1);
      if (rhs < 0)
        return -1;
      Term t;
      t.kind = inst->opcode == Opcode::And ? Term::And : Term::Or;
      t.lhs = lhs;
      t.rhs = rhs;
      out.terms.push_back(t);
      return int(out.terms.size()) - 1;
    }
    if (inst->opcode != Opcode::Lookup)
      return -1;
    const TableRef &table = program.tables[inst->immediate];
    if (!table.isBool || inst->b != table.dims.size())
      return -1;
    Term t;
    t.table = static_cast<uint32_t>(inst->immediate);
    int positionDims = 0;
    for (uint32_t d = 0; d < inst->b; ++d) {
      uint32_t arg = program.lookupArgs[inst->a + d];
      const Instruction *def = instructionOf(arg);
      const TableDim &dim = table.dims[d];
      bool positionDim = (dim.kind == TableDim::KeyPos ||
                          dim.kind == TableDim::QueryPos) &&
                         dim.blockSize == 1;
      if (arg == kRegB) {
        t.index.push_back(kBatch);
      } else if (arg == kRegH) {
        t.index.push_back(kHead);
      } else if (arg == kRegK && positionDim) {
        t.kind = Term::Column;
        t.index.push_back(kPosition);
        ++positionDims;
      } else if (def && def->opcode == Opcode::Sub && def->width == 64 &&
                 def->a == kRegQ && def->b == kRegK && positionDim) {
        t.kind = Term::Diagonal;
        t.index.push_back(kPosition);
        ++positionDims;
      } else if (const Instruction *divisor =
                     def && (def->opcode == Opcode::FloorDivS || def->opcode == Opcode::DivS) &&
                             def->width == 64 &&
                             def->a == kRegQ && dim.kind == TableDim::QueryPos &&
                             t.queryBlock == 0
                         ? instructionOf(def->b)
                         : nullptr;
                 divisor && divisor->opcode == Opcode::Constant && divisor->width == 64 &&
                 divisor->immediate >= 2) {
        // q / N with q >= 0: truncating and floor division agree.
        t.queryBlock = divisor->immediate;
        t.index.push_back(kQueryBlock);
      } else if (def && def->opcode == Opcode::Constant && def->width == 64 &&
                 def->immediate >= 0) {
        t.index.push_back(def->immediate);
      } else {
        return -1;
      }
    }
    if (positionDims != 1)
      return -1;
    out.terms.push_back(std::move(t));
    return int(out.terms.size()) - 1;
  };
  out.root = build(build, static_cast<uint32_t>(node.param[1]), 0);
  if (out.root < 0)
    return std::nullopt;
  return out;
}

const std::vector<int64_t> &
TableTerms::positions(const MaskProgram &program, const MaskInputs &inputs,
                      const Term &term, int64_t b, int64_t h, int64_t qBlock,
                      TermCache &cache) const {
  std::vector<int64_t> key = {int64_t(term.table)};
  for (int64_t i : term.index)
    key.push_back(i == kBatch ? b : i == kHead ? h : i == kQueryBlock ? qBlock : i);
  auto [it, inserted] = cache.rows.try_emplace(key);
  if (!inserted)
    return it->second;
  auto found = inputs.tables.find(program.tables[term.table].name);
  if (found == inputs.tables.end() ||
      found->second.shape.size() != term.index.size())
    return it->second; // reads 0 everywhere
  const TableData &data = found->second;
  // Row-major offset of the row (position index 0) and the position stride.
  int64_t base = 0, stride = 0, extent = 0;
  for (size_t d = 0; d < term.index.size(); ++d) {
    int64_t i = key[d + 1], n = data.shape[d];
    base *= n;
    stride *= n;
    if (term.index[d] == kPosition) {
      stride = 1;
      extent = n;
      continue;
    }
    if (i < 0 || i >= n)
      return it->second; // out-of-range indices read 0
    base += i;
  }
  for (int64_t p = 0; p < extent; ++p) {
    int64_t flat = base + p * stride;
    if (flat < int64_t(data.size()) && (data.data()[flat] & 1))
      it->second.push_back(p);
  }
  return it->second;
}

void TableTerms::termSets(const MaskProgram &program, const MaskInputs &inputs,
                          int id, int64_t b, int64_t h, int64_t qa, int64_t qb,
                          Run window, TermCache &cache, KeySet &may,
                          KeySet &must) const {
  const Term &t = terms[id];
  if (t.kind == Term::And || t.kind == Term::Or) {
    KeySet rMay, rMust;
    termSets(program, inputs, t.lhs, b, h, qa, qb, window, cache, may, must);
    termSets(program, inputs, t.rhs, b, h, qa, qb, window, cache, rMay, rMust);
    bool uni = t.kind == Term::Or;
    may = uni ? may.unite(rMay, Approx::Over) : may.intersect(rMay, Approx::Over);
    must = uni ? must.unite(rMust, Approx::Under)
               : must.intersect(rMust, Approx::Under);
    return;
  }
  if (t.queryBlock == 0)
    return leafSets(program, inputs, t, b, h, qa, qb, window, cache, may, must);
  // Rows of several query blocks: some row keeps what one block's rows may
  // keep, every row what every block's rows must.
  for (int64_t block = qa / t.queryBlock; block <= qb / t.queryBlock; ++block) {
    KeySet blockMay, blockMust;
    leafSets(program, inputs, t, b, h, std::max(qa, block * t.queryBlock),
             std::min(qb, (block + 1) * t.queryBlock - 1), window, cache, blockMay, blockMust);
    bool first = block == qa / t.queryBlock;
    may = first ? blockMay : may.unite(blockMay, Approx::Over);
    must = first ? blockMust : must.intersect(blockMust, Approx::Under);
  }
}

void TableTerms::leafSets(const MaskProgram &program, const MaskInputs &inputs,
                          const Term &t, int64_t b, int64_t h, int64_t qa, int64_t qb,
                          Run window, TermCache &cache, KeySet &may, KeySet &must) const {
  int64_t qBlock = t.queryBlock ? qa / t.queryBlock : 0;
  const std::vector<int64_t> &pos = positions(program, inputs, t, b, h, qBlock, cache);
  // The sorted positions between lo and hi (inclusive).
  auto between = [&](int64_t lo, int64_t hi) {
    return std::make_pair(std::lower_bound(pos.begin(), pos.end(), lo),
                          std::upper_bound(pos.begin(), pos.end(), hi));
  };
  std::vector<Run> runs;
  if (t.kind == Term::Column) {
    auto [first, last] = between(window.lo, window.hi - 1);
    for (auto it = first; it != last; ++it)
      runs.push_back(Run{*it, *it + 1});
    may = must = KeySet::ofRuns({runs.data(), runs.size()});
    return;
  }
  // Diagonals at offsets o = q - k: the band [qa - o, qb - o] of each offset
  // some row keeps (those that reach the window), in increasing key order,
  // and the keys every row keeps from runs of consecutive offsets.
  auto [first, last] = between(qa - window.hi + 1, qb - window.lo);
  for (auto it = last; it != first;) {
    int64_t o = *--it;
    runs.push_back(Run{qa - o, qb - o + 1});
  }
  may = KeySet::ofRuns({runs.data(), runs.size()});
  runs.clear();
  for (auto i = first; i != last;) {
    auto j = i;
    while (j + 1 != last && *(j + 1) == *j + 1)
      ++j;
    if (*j - *i >= qb - qa)
      runs.push_back(Run{qb - *j, qa - *i + 1});
    i = j + 1;
  }
  must = KeySet::ofRuns({runs.data(), runs.size()});
}

void TableTerms::sets(const MaskProgram &program, const MaskInputs &inputs,
                      int64_t b, int64_t h, int64_t qa, int64_t qb, Run window,
                      TermCache &cache, KeySet &may, KeySet &must) const {
  termSets(program, inputs, root, b, h, qa, qb, window, cache, may, must);
}
