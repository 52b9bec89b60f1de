//===- MaskProgram.h - a compiled mask as plain data -----------*- C++ -*-===//
//
// A mask compiled into flat arrays: one node per distinct mask op (children
// by index), postfix affine steps for head offsets, a register program per
// free-form predicate, and the tables the mask reads. It is the contract
// between the compiler's front end (CompiledMask::compile turns mask-dialect
// ops into it) and everything that runs without MLIR: the evaluator and the
// tile planner in the core, libsattn_runtime (which reads it from the
// manifest) and python/sattn/mask_program.py. Plain C++17, standard library
// only, so the runtime compiles the same sources the compiler does.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_MASKPROGRAM_H
#define SATTN_CORE_MASKPROGRAM_H

#include "sattn/Core/Limits.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sattn {

constexpr const char *kMaskProgramFormat = "sattn.mask-program/1";
/// Limits the verifier enforces (sattn/Core/Limits.h), so that evaluation
/// needs no heap and planning stays bounded.
using limits::kMaxAffineDepth;
using limits::kMaxTableRank;
constexpr int kMaxNodeDepth = limits::kMaxMaskDepth;

enum class NodeKind : uint8_t {
  Full,
  Empty,
  Causal,
  Window,
  SymmetricWindow,
  Sink,
  TailQueries,
  Strided,
  StridedBlocks,
  Dilated,
  Power,
  Prefix,
  Document,
  BlockTable,
  Union,
  Intersect,
  Complement,
  PerHead,
  Predicate,
};
constexpr int kNumNodeKinds = 19;

/// One mask op. `first`/`count` index the operand array (combinators,
/// per_head: one operand per head), the affine steps (strided), or the
/// instruction array (predicate); complement's child is `first`. `param`
/// holds the op's integer parameters, pre-digested (docs/MANIFEST.md):
///   window/symmetric_window/sink/tail_queries/prefix: [size]
///   strided: [stride]; dilated: [dilation, window * dilation (saturated)]
///   strided_blocks: [block, local, vert_stride, offset, first dense head,
///                    group size (1 unless per kv group), step]
///   power: [block, window blocks, sink blocks]
///   document: [table slot, table rank]; block_table: [table slot, block]
///   predicate: [registers, result register]
struct Node {
  NodeKind kind = NodeKind::Empty;
  uint32_t first = 0;
  uint32_t count = 0;
  int64_t param[7] = {0, 0, 0, 0, 0, 0, 0};
};

/// Postfix program for an affine expression of one dimension (the head).
enum class AffineOpcode : uint8_t {
  Constant,
  Dim,
  Add,
  Mul,
  Mod,
  FloorDiv,
  CeilDiv
};
constexpr int kNumAffineOpcodes = 7;

struct AffineStep {
  AffineOpcode opcode = AffineOpcode::Constant;
  int64_t constant = 0;
};

enum class Opcode : uint8_t {
  Constant,
  Add,
  Sub,
  Mul,
  DivS,
  DivU,
  FloorDivS,
  CeilDivS,
  RemS,
  RemU,
  MinS,
  MaxS,
  MinU,
  MaxU,
  CmpEq,
  CmpNe,
  CmpSlt,
  CmpSle,
  CmpSgt,
  CmpSge,
  CmpUlt,
  CmpUle,
  CmpUgt,
  CmpUge,
  And,
  Or,
  Xor,
  Select,
  /// Sign-extends `a` from `operandWidth` bits, then truncates to `width`.
  SignExtend,
  /// Truncates `a` to `width` bits (also zero extension, since values are
  /// stored zero-extended).
  Truncate,
  AbsI,
  /// Reads table `immediate` at the `b` indices starting at lookupArgs[a].
  Lookup,
};
constexpr int kNumOpcodes = 32;

/// One predicate instruction: dst = op(a, b, c). Every register holds the
/// zero-extended bits of a value of `width` bits (i1 is 0 or 1, index 64).
/// Registers 0..3 are b, h, q, k; instruction i of a predicate writes
/// register 4 + i.
struct Instruction {
  Opcode opcode = Opcode::Constant;
  uint8_t width = 64;
  /// Width of the operands, for sign-sensitive ops on sub-64-bit types.
  uint8_t operandWidth = 64;
  uint32_t dst = 0, a = 0, b = 0, c = 0;
  int64_t immediate = 0;
};

/// One dimension of a table declaration ("b", "h", "q", "k", "q/64",
/// "k/64", "7").
struct TableDim {
  enum Kind { Batch, Head, QueryPos, KeyPos, Literal } kind = Literal;
  int64_t blockSize = 1; // positions (QueryPos/KeyPos) or heads (Head) per entry
  int64_t extent = 0;    // for Literal
  /// The extent of a Head, QueryPos or KeyPos dimension over `n` heads or
  /// positions: one entry per blockSize of them.
  int64_t blocksOf(int64_t n) const { return (n + blockSize - 1) / blockSize; }
  /// The extent a table's dimension has for `heads` heads, `batch` sequences
  /// and `lk` key positions (query positions share the key axis).
  int64_t extentFor(int64_t heads, int64_t batch, int64_t lk) const {
    switch (kind) {
    case Batch:
      return batch;
    case Head:
      return blocksOf(heads);
    case QueryPos:
    case KeyPos:
      return blocksOf(lk);
    case Literal:
      return extent;
    }
    return 0;
  }
};
/// Parses a table dimension; false when the text is not a valid one.
bool parseTableDim(std::string_view text, TableDim &dim);
/// Checks a table declaration against the limits: rank, block sizes, fixed
/// extents and their product. Returns a message, or "" when valid.
std::string checkTableDims(const std::vector<TableDim> &dims);

/// A table read by the mask, with its declaration.
struct TableRef {
  std::string name;
  bool isBool = false;
  unsigned elementWidth = 64;
  std::vector<TableDim> dims;
  std::vector<std::string> dimTexts;
};

struct MaskProgram {
  int64_t heads = 1;
  int64_t kvHeads = 1;
  uint32_t root = 0;
  std::vector<Node> nodes;
  std::vector<uint32_t> operands;
  std::vector<AffineStep> affine;
  std::vector<Instruction> program;
  std::vector<uint32_t> lookupArgs;
  std::vector<TableRef> tables;
};

/// Names used by the JSON form, indexed by the enum values.
const char *nodeKindName(NodeKind kind);
const char *affineOpcodeName(AffineOpcode opcode);
const char *opcodeName(Opcode opcode);

/// Checks every index and parameter that evaluation relies on (children,
/// operand/affine/instruction ranges, registers, table slots, acyclicity),
/// so that evaluating a program read from a file cannot crash. Returns a
/// message, or "" when the program is well formed.
std::string verifyMaskProgram(const MaskProgram &program);

/// Reads the JSON form (format "sattn.mask-program/1", written by
/// CompiledMask::toJSON) and verifies it. On failure returns false and sets
/// `error`.
bool parseMaskProgram(std::string_view text, MaskProgram &out,
                      std::string &error);

namespace json {
struct Value;
}
/// The same from an already parsed JSON value (e.g. the "mask_program"
/// member of a manifest).
bool readMaskProgram(const json::Value &value, MaskProgram &out,
                     std::string &error);

} // namespace sattn

#endif // SATTN_CORE_MASKPROGRAM_H
