//===- MaskEvaluator.cpp - reference semantics of masks -------------------===//
//
// Implements docs/MASK_SEMANTICS.md. A mask is compiled once into a flat
// array of nodes (one per distinct mask op, children referenced by index)
// and every predicate body into a straight-line register program over
// 64-bit values, so keep() never touches the IR: it only reads these
// arrays and the caller's tables. All integer arithmetic goes through the
// helpers at the top of the file, which define the contract's corner cases
// (wrap-around, division by zero yields 0) without undefined behaviour.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/MaskEvaluator.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/JSON.h"

#include <limits>

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;

//===----------------------------------------------------------------------===//
// Integer semantics shared by patterns, predicates and affine offsets
//===----------------------------------------------------------------------===//

namespace {

/// Wrap-around arithmetic: computed on uint64_t so that overflow is defined.
int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

// Signed division family. Division or remainder by zero yields 0; the one
// overflowing quotient (INT64_MIN / -1) wraps to INT64_MIN like every other
// overflow, and its remainder is 0.
int64_t divSigned(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return wrapSub(0, a);
  return a / b;
}
int64_t remSigned(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  return a % b;
}
int64_t floorDivSigned(int64_t a, int64_t b) {
  int64_t q = divSigned(a, b);
  if (remSigned(a, b) != 0 && ((a < 0) != (b < 0)))
    --q;
  return q;
}
int64_t ceilDivSigned(int64_t a, int64_t b) {
  int64_t q = divSigned(a, b);
  if (remSigned(a, b) != 0 && ((a < 0) == (b < 0)))
    ++q;
  return q;
}
/// a - b * floor(a / b): for b > 0 the result lies in [0, b).
int64_t floorModSigned(int64_t a, int64_t b) {
  int64_t r = remSigned(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}
uint64_t divUnsigned(uint64_t a, uint64_t b) { return b == 0 ? 0 : a / b; }
uint64_t remUnsigned(uint64_t a, uint64_t b) { return b == 0 ? 0 : a % b; }

/// The low `width` bits of `v`: the canonical (zero-extended) form in which
/// the predicate program stores an iN value.
uint64_t truncateTo(uint64_t v, unsigned width) {
  return width >= 64 ? v : v & ((uint64_t(1) << width) - 1);
}
/// Reads a canonical iN value as a signed 64-bit integer.
int64_t signExtendFrom(uint64_t v, unsigned width) {
  if (width >= 64)
    return static_cast<int64_t>(v);
  uint64_t signBit = uint64_t(1) << (width - 1);
  v = truncateTo(v, width);
  return static_cast<int64_t>((v ^ signBit) - signBit);
}

/// a * b, saturated at INT64_MAX; used for window spans of non-negative
/// parameters so that huge attributes mean "unbounded", not a wrapped span.
int64_t saturatingMul(int64_t a, int64_t b) {
  int64_t result;
  if (__builtin_mul_overflow(a, b, &result))
    return std::numeric_limits<int64_t>::max();
  return result;
}

//===----------------------------------------------------------------------===//
// Compiled form
//===----------------------------------------------------------------------===//

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

/// One mask op. `first`/`count` index the operand array (combinators,
/// per_head), the affine program (strided) or the instruction array
/// (predicate); `param` holds the op's integer parameters, pre-digested.
struct Node {
  NodeKind kind;
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
struct AffineStep {
  AffineOpcode opcode;
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

/// One predicate instruction: dst = op(a, b, c). Every register holds the
/// zero-extended bits of a value of `width` bits (i1 is 0 or 1, index 64).
struct Instruction {
  Opcode opcode;
  uint8_t width = 64;
  /// Width of the operands, for sign-sensitive ops on sub-64-bit types.
  uint8_t operandWidth = 64;
  uint32_t dst = 0, a = 0, b = 0, c = 0;
  int64_t immediate = 0;
};

/// A table read by the mask, with its declaration.
struct TableRef {
  std::string name;
  bool isBool = false;
  unsigned elementWidth = 64;
  SmallVector<TableDim> dims;
  SmallVector<std::string> dimTexts;
};

/// Arguments of one keep() query.
struct Query {
  const MaskInputs &inputs;
  int64_t b, h, q, k;
};

} // namespace

struct MaskEvaluator::Impl {
  int64_t heads = 1;
  int64_t kvHeads = 1;
  uint32_t root = 0;
  std::vector<Node> nodes;
  std::vector<uint32_t> operands;
  std::vector<AffineStep> affine;
  std::vector<Instruction> program;
  std::vector<uint32_t> lookupArgs;
  std::vector<TableRef> tables;

  bool eval(uint32_t index, const Query &query) const;
  int64_t evalAffine(const Node &node, int64_t h) const;
  bool runPredicate(const Node &node, const Query &query) const;
  int64_t readTable(const MaskInputs &inputs, uint32_t slot,
                    ArrayRef<int64_t> indices) const;
};

//===----------------------------------------------------------------------===//
// Evaluation
//===----------------------------------------------------------------------===//

int64_t MaskEvaluator::Impl::readTable(const MaskInputs &inputs, uint32_t slot,
                                       ArrayRef<int64_t> indices) const {
  const TableRef &ref = tables[slot];
  auto it = inputs.tables.find(ref.name);
  if (it == inputs.tables.end())
    return 0;
  const TableData &data = it->second;
  if (data.shape.size() != indices.size())
    return 0;
  uint64_t flat = 0;
  for (auto [index, extent] : llvm::zip_equal(indices, data.shape)) {
    if (index < 0 || index >= extent)
      return 0;
    flat = flat * static_cast<uint64_t>(extent) + static_cast<uint64_t>(index);
  }
  if (flat >= data.values.size())
    return 0;
  int64_t value = data.values[flat];
  return ref.isBool ? value != 0 : value;
}

int64_t MaskEvaluator::Impl::evalAffine(const Node &node, int64_t h) const {
  SmallVector<int64_t, 16> stack;
  for (const AffineStep &step :
       ArrayRef(affine).slice(node.first, node.count)) {
    if (step.opcode == AffineOpcode::Constant) {
      stack.push_back(step.constant);
      continue;
    }
    if (step.opcode == AffineOpcode::Dim) {
      stack.push_back(h);
      continue;
    }
    int64_t rhs = stack.pop_back_val();
    int64_t &lhs = stack.back();
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
    default:
      llvm_unreachable("leaf opcodes handled above");
    }
  }
  return stack.back();
}

bool MaskEvaluator::Impl::runPredicate(const Node &node,
                                       const Query &query) const {
  SmallVector<uint64_t, 32> regs(node.param[0], 0);
  regs[0] = static_cast<uint64_t>(query.b);
  regs[1] = static_cast<uint64_t>(query.h);
  regs[2] = static_cast<uint64_t>(query.q);
  regs[3] = static_cast<uint64_t>(query.k);
  for (const Instruction &inst :
       ArrayRef(program).slice(node.first, node.count)) {
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
      SmallVector<int64_t, 4> indices;
      for (uint32_t reg : ArrayRef(lookupArgs).slice(inst.a, inst.b))
        indices.push_back(static_cast<int64_t>(regs[reg]));
      result = static_cast<uint64_t>(readTable(
          query.inputs, static_cast<uint32_t>(inst.immediate), indices));
      break;
    }
    }
    regs[inst.dst] = truncateTo(result, inst.width);
  }
  return regs[node.param[1]] & 1;
}

bool MaskEvaluator::Impl::eval(uint32_t index, const Query &query) const {
  const Node &node = nodes[index];
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
    for (uint32_t child : ArrayRef(operands).slice(node.first, node.count))
      if (eval(child, query))
        return true;
    return false;
  case NodeKind::Intersect:
    for (uint32_t child : ArrayRef(operands).slice(node.first, node.count))
      if (!eval(child, query))
        return false;
    return true;
  case NodeKind::Complement:
    return !eval(node.first, query);
  case NodeKind::PerHead:
    // operands[first + h] is the node deciding for head h.
    if (query.h < 0 || query.h >= static_cast<int64_t>(node.count))
      return false;
    return eval(operands[node.first + query.h], query);
  case NodeKind::Predicate:
    return runPredicate(node, query);
  }
  llvm_unreachable("unknown node kind");
}

//===----------------------------------------------------------------------===//
// Compilation
//===----------------------------------------------------------------------===//

namespace {

/// Bit width of a predicate value, or 0 for types the evaluator does not
/// model (floats, vectors, integers wider than 64 bits).
unsigned widthOf(Type type) {
  if (type.isIndex())
    return 64;
  if (auto integer = dyn_cast<IntegerType>(type))
    return integer.getWidth() <= 64 ? integer.getWidth() : 0;
  return 0;
}

std::optional<Opcode> compareOpcode(arith::CmpIPredicate predicate) {
  using P = arith::CmpIPredicate;
  switch (predicate) {
  case P::eq:
    return Opcode::CmpEq;
  case P::ne:
    return Opcode::CmpNe;
  case P::slt:
    return Opcode::CmpSlt;
  case P::sle:
    return Opcode::CmpSle;
  case P::sgt:
    return Opcode::CmpSgt;
  case P::sge:
    return Opcode::CmpSge;
  case P::ult:
    return Opcode::CmpUlt;
  case P::ule:
    return Opcode::CmpUle;
  case P::ugt:
    return Opcode::CmpUgt;
  case P::uge:
    return Opcode::CmpUge;
  }
  return std::nullopt;
}

/// Opcode of a two-operand arith op the contract lists, if `op` is one.
std::optional<Opcode> binaryOpcode(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<Opcode>>(op)
      .Case([](arith::AddIOp) { return Opcode::Add; })
      .Case([](arith::SubIOp) { return Opcode::Sub; })
      .Case([](arith::MulIOp) { return Opcode::Mul; })
      .Case([](arith::DivSIOp) { return Opcode::DivS; })
      .Case([](arith::DivUIOp) { return Opcode::DivU; })
      .Case([](arith::FloorDivSIOp) { return Opcode::FloorDivS; })
      .Case([](arith::CeilDivSIOp) { return Opcode::CeilDivS; })
      .Case([](arith::RemSIOp) { return Opcode::RemS; })
      .Case([](arith::RemUIOp) { return Opcode::RemU; })
      .Case([](arith::MinSIOp) { return Opcode::MinS; })
      .Case([](arith::MaxSIOp) { return Opcode::MaxS; })
      .Case([](arith::MinUIOp) { return Opcode::MinU; })
      .Case([](arith::MaxUIOp) { return Opcode::MaxU; })
      .Case([](arith::AndIOp) { return Opcode::And; })
      .Case([](arith::OrIOp) { return Opcode::Or; })
      .Case([](arith::XOrIOp) { return Opcode::Xor; })
      .Default([](Operation *) { return std::nullopt; });
}

/// Lowers a mask DAG into an Impl. Shared subexpressions compile once.
class MaskCompiler {
public:
  explicit MaskCompiler(MaskEvaluator::Impl &impl) : impl(impl) {}

  FailureOr<uint32_t> compileMask(Value mask);

private:
  FailureOr<uint32_t> compileOp(Operation *op);
  FailureOr<uint32_t> compilePredicate(PredicateOp predicate);
  LogicalResult compileAffine(AffineExpr expr, Operation *op);
  FailureOr<uint32_t> tableSlot(Operation *user, FlatSymbolRefAttr name);

  uint32_t addNode(NodeKind kind, std::initializer_list<int64_t> params = {}) {
    Node node;
    node.kind = kind;
    llvm::copy(params, node.param);
    impl.nodes.push_back(node);
    return static_cast<uint32_t>(impl.nodes.size() - 1);
  }

  MaskEvaluator::Impl &impl;
  DenseMap<Value, uint32_t> compiled;
  DenseMap<Operation *, uint32_t> tableSlots;
  SymbolTableCollection symbols;
};

} // namespace

FailureOr<uint32_t> MaskCompiler::tableSlot(Operation *user,
                                            FlatSymbolRefAttr name) {
  auto table = symbols.lookupNearestSymbolFrom<TableOp>(user, name);
  if (!table)
    return user->emitError()
           << "reads table " << name << " but no 'mask.table' declares it";
  auto [it, inserted] =
      tableSlots.try_emplace(table.getOperation(), impl.tables.size());
  if (!inserted)
    return it->second;
  TableRef ref;
  ref.name = table.getSymName().str();
  ref.isBool = table.getElementType().isInteger(1);
  ref.elementWidth = table.getElementType().getIntOrFloatBitWidth();
  for (Attribute attr : table.getDims()) {
    StringRef text = cast<StringAttr>(attr).getValue();
    TableDim dim;
    if (!parseTableDim(text, dim))
      return table.emitError() << "has unknown dimension \"" << text << "\"";
    ref.dims.push_back(dim);
    ref.dimTexts.push_back(text.str());
  }
  impl.tables.push_back(std::move(ref));
  return it->second;
}

LogicalResult MaskCompiler::compileAffine(AffineExpr expr, Operation *op) {
  if (auto constant = dyn_cast<AffineConstantExpr>(expr)) {
    impl.affine.push_back({AffineOpcode::Constant, constant.getValue()});
    return success();
  }
  if (auto dim = dyn_cast<AffineDimExpr>(expr)) {
    if (dim.getPosition() != 0)
      return op->emitError() << "head expression uses d" << dim.getPosition()
                             << "; only the head (d0) is defined";
    impl.affine.push_back({AffineOpcode::Dim});
    return success();
  }
  auto binary = dyn_cast<AffineBinaryOpExpr>(expr);
  if (!binary)
    return op->emitError()
           << "head expression uses symbols, which have no value here";
  if (failed(compileAffine(binary.getLHS(), op)) ||
      failed(compileAffine(binary.getRHS(), op)))
    return failure();
  AffineOpcode opcode;
  switch (binary.getKind()) {
  case AffineExprKind::Add:
    opcode = AffineOpcode::Add;
    break;
  case AffineExprKind::Mul:
    opcode = AffineOpcode::Mul;
    break;
  case AffineExprKind::Mod:
    opcode = AffineOpcode::Mod;
    break;
  case AffineExprKind::FloorDiv:
    opcode = AffineOpcode::FloorDiv;
    break;
  case AffineExprKind::CeilDiv:
    opcode = AffineOpcode::CeilDiv;
    break;
  default:
    llvm_unreachable("not a binary affine expression");
  }
  impl.affine.push_back({opcode});
  return success();
}

FailureOr<uint32_t> MaskCompiler::compilePredicate(PredicateOp predicate) {
  Block &body = predicate.getBody().front();
  DenseMap<Value, uint32_t> regOf;
  DenseMap<Value, unsigned> widthOfValue;
  for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
    regOf[arg] = static_cast<uint32_t>(i);
    widthOfValue[arg] = 64;
  }
  uint32_t numRegs = body.getNumArguments();
  uint32_t first = static_cast<uint32_t>(impl.program.size());

  auto unsupported = [](Operation *op) {
    return op->emitError() << "'" << op->getName()
                           << "' is not supported in a mask predicate; "
                              "MASK_SEMANTICS.md lists the allowed ops";
  };

  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() != 1 || op.getNumRegions() != 0)
      return unsupported(&op);
    Value result = op.getResult(0);
    unsigned width = widthOf(result.getType());
    if (width == 0)
      return op.emitError()
             << "'" << op.getName() << "' produces " << result.getType()
             << "; mask predicates compute on integers of "
                "at most 64 bits and index";
    Instruction inst{};
    inst.width = static_cast<uint8_t>(width);
    inst.dst = numRegs;
    // Operands are defined earlier in the block (or are block arguments),
    // so each has a register already.
    auto operand = [&](unsigned i) { return regOf.lookup(op.getOperand(i)); };
    auto operandWidth = [&](unsigned i) {
      return static_cast<uint8_t>(widthOfValue.lookup(op.getOperand(i)));
    };

    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      auto attr = dyn_cast<IntegerAttr>(constant.getValue());
      if (!attr)
        return unsupported(&op);
      inst.opcode = Opcode::Constant;
      inst.immediate = static_cast<int64_t>(
          truncateTo(attr.getValue().getZExtValue(), width));
    } else if (std::optional<Opcode> opcode = binaryOpcode(&op)) {
      inst.opcode = *opcode;
      inst.a = operand(0);
      inst.b = operand(1);
      inst.operandWidth = operandWidth(0);
    } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      std::optional<Opcode> opcode = compareOpcode(cmp.getPredicate());
      if (!opcode)
        return unsupported(&op);
      inst.opcode = *opcode;
      inst.a = operand(0);
      inst.b = operand(1);
      inst.operandWidth = operandWidth(0);
    } else if (isa<arith::SelectOp>(op)) {
      inst.opcode = Opcode::Select;
      inst.a = operand(0);
      inst.b = operand(1);
      inst.c = operand(2);
      inst.operandWidth = 1;
    } else if (isa<arith::IndexCastOp, arith::ExtSIOp>(op)) {
      // index_cast sign-extends when widening and truncates when narrowing.
      inst.opcode = Opcode::SignExtend;
      inst.a = operand(0);
      inst.operandWidth = operandWidth(0);
    } else if (isa<arith::ExtUIOp, arith::TruncIOp>(op)) {
      inst.opcode = Opcode::Truncate;
      inst.a = operand(0);
      inst.operandWidth = operandWidth(0);
    } else if (isa<math::AbsIOp>(op)) {
      inst.opcode = Opcode::AbsI;
      inst.a = operand(0);
      inst.operandWidth = operandWidth(0);
    } else if (auto lookup = dyn_cast<LookupOp>(op)) {
      FailureOr<uint32_t> slot = tableSlot(&op, lookup.getTableAttr());
      if (failed(slot))
        return failure();
      inst.opcode = Opcode::Lookup;
      inst.immediate = *slot;
      inst.a = static_cast<uint32_t>(impl.lookupArgs.size());
      inst.b = static_cast<uint32_t>(lookup.getIndices().size());
      for (Value index : lookup.getIndices())
        impl.lookupArgs.push_back(regOf.lookup(index));
    } else {
      return unsupported(&op);
    }
    for (Value v : op.getOperands())
      if (!regOf.count(v))
        return op.emitError()
               << "uses a value defined outside the predicate body";
    regOf[result] = numRegs++;
    widthOfValue[result] = width;
    impl.program.push_back(inst);
  }

  Value condition = cast<mask::YieldOp>(body.getTerminator()).getCondition();
  auto resultReg = regOf.find(condition);
  if (resultReg == regOf.end())
    return predicate.emitError("yields a value defined outside its body");
  Node node;
  node.kind = NodeKind::Predicate;
  node.first = first;
  node.count = static_cast<uint32_t>(impl.program.size()) - first;
  node.param[0] = numRegs;
  node.param[1] = resultReg->second;
  impl.nodes.push_back(node);
  return static_cast<uint32_t>(impl.nodes.size() - 1);
}

FailureOr<uint32_t> MaskCompiler::compileMask(Value mask) {
  auto it = compiled.find(mask);
  if (it != compiled.end())
    return it->second;
  Operation *op = mask.getDefiningOp();
  if (!op || op->getDialect() == nullptr ||
      op->getDialect()->getNamespace() != "mask") {
    if (op)
      return op->emitError() << "'" << op->getName()
                             << "' does not produce a mask the evaluator "
                                "knows";
    return emitError(mask.getLoc(), "mask is a block argument, not a mask op");
  }
  FailureOr<uint32_t> index = compileOp(op);
  if (succeeded(index))
    compiled[mask] = *index;
  return index;
}

FailureOr<uint32_t> MaskCompiler::compileOp(Operation *op) {
  // Combinators compile their operands first; the operand list is appended
  // afterwards so that it stays contiguous.
  auto combinator = [&](NodeKind kind,
                        ValueRange inputs) -> FailureOr<uint32_t> {
    SmallVector<uint32_t> children;
    for (Value input : inputs) {
      FailureOr<uint32_t> child = compileMask(input);
      if (failed(child))
        return failure();
      children.push_back(*child);
    }
    uint32_t node = addNode(kind);
    impl.nodes[node].first = static_cast<uint32_t>(impl.operands.size());
    impl.nodes[node].count = static_cast<uint32_t>(children.size());
    llvm::append_range(impl.operands, children);
    return node;
  };

  return llvm::TypeSwitch<Operation *, FailureOr<uint32_t>>(op)
      .Case([&](FullOp) { return addNode(NodeKind::Full); })
      .Case([&](EmptyOp) { return addNode(NodeKind::Empty); })
      .Case([&](CausalOp) { return addNode(NodeKind::Causal); })
      .Case([&](WindowOp w) {
        return addNode(w.getSymmetric() ? NodeKind::SymmetricWindow
                                        : NodeKind::Window,
                       {static_cast<int64_t>(w.getSize())});
      })
      .Case([&](SinkOp s) {
        return addNode(NodeKind::Sink, {static_cast<int64_t>(s.getCount())});
      })
      .Case([&](TailQueriesOp t) {
        return addNode(NodeKind::TailQueries,
                       {static_cast<int64_t>(t.getCount())});
      })
      .Case([&](StridedOp s) -> FailureOr<uint32_t> {
        AffineMap map = s.getOffset();
        if (map.getNumResults() != 1)
          return s.emitError("head expression must have one result");
        uint32_t first = static_cast<uint32_t>(impl.affine.size());
        if (failed(compileAffine(map.getResult(0), s)))
          return failure();
        uint32_t node =
            addNode(NodeKind::Strided, {static_cast<int64_t>(s.getStride())});
        impl.nodes[node].first = first;
        impl.nodes[node].count =
            static_cast<uint32_t>(impl.affine.size()) - first;
        return node;
      })
      .Case([&](StridedBlocksOp s) {
        bool perGroup = s.getPerKvGroup();
        int64_t n = perGroup ? impl.kvHeads : impl.heads;
        int64_t group = perGroup ? impl.heads / impl.kvHeads : 1;
        int64_t vertStride = static_cast<int64_t>(s.getVertStride());
        int64_t step = std::max<int64_t>(1, vertStride / n);
        return addNode(NodeKind::StridedBlocks,
                       {static_cast<int64_t>(s.getBlockSize()),
                        static_cast<int64_t>(s.getLocalBlocks()), vertStride,
                        static_cast<int64_t>(s.getOffset()),
                        n - static_cast<int64_t>(s.getDenseHeads()), group,
                        step});
      })
      .Case([&](DilatedOp d) {
        int64_t dilation = static_cast<int64_t>(d.getDilation());
        return addNode(
            NodeKind::Dilated,
            {dilation,
             saturatingMul(static_cast<int64_t>(d.getWindow()), dilation)});
      })
      .Case([&](PowerOp p) {
        return addNode(NodeKind::Power,
                       {static_cast<int64_t>(p.getBlockSize()),
                        static_cast<int64_t>(p.getWindowBlocks()),
                        static_cast<int64_t>(p.getSinkBlocks())});
      })
      .Case([&](PrefixOp p) {
        return addNode(NodeKind::Prefix, {static_cast<int64_t>(p.getLength())});
      })
      .Case([&](DocumentOp d) -> FailureOr<uint32_t> {
        FailureOr<uint32_t> slot = tableSlot(d, d.getTableAttr());
        if (failed(slot))
          return failure();
        int64_t rank = impl.tables[*slot].dims.size();
        if (rank != 1 && rank != 2)
          return d.emitError() << "document ids table must have rank 1 or "
                                  "2, got "
                               << rank;
        return addNode(NodeKind::Document, {*slot, rank});
      })
      .Case([&](BlockTableOp t) -> FailureOr<uint32_t> {
        FailureOr<uint32_t> slot = tableSlot(t, t.getTableAttr());
        if (failed(slot))
          return failure();
        return addNode(NodeKind::BlockTable,
                       {*slot, static_cast<int64_t>(t.getBlockSize())});
      })
      .Case(
          [&](UnionOp u) { return combinator(NodeKind::Union, u.getInputs()); })
      .Case([&](IntersectOp i) {
        return combinator(NodeKind::Intersect, i.getInputs());
      })
      .Case([&](ComplementOp c) -> FailureOr<uint32_t> {
        FailureOr<uint32_t> child = compileMask(c.getInput());
        if (failed(child))
          return failure();
        uint32_t node = addNode(NodeKind::Complement);
        impl.nodes[node].first = *child;
        return node;
      })
      .Case([&](PerHeadOp p) -> FailureOr<uint32_t> {
        ArrayRef<int64_t> assignment = p.getAssignment();
        if (static_cast<int64_t>(assignment.size()) != impl.heads)
          return p.emitError() << "assigns " << assignment.size()
                               << " heads but the kernel has " << impl.heads;
        SmallVector<uint32_t> inputs;
        for (Value input : p.getInputs()) {
          FailureOr<uint32_t> child = compileMask(input);
          if (failed(child))
            return failure();
          inputs.push_back(*child);
        }
        uint32_t node = addNode(NodeKind::PerHead);
        impl.nodes[node].first = static_cast<uint32_t>(impl.operands.size());
        impl.nodes[node].count = static_cast<uint32_t>(assignment.size());
        for (int64_t which : assignment) {
          if (which < 0 || which >= static_cast<int64_t>(inputs.size()))
            return p.emitError() << "assigns mask " << which << " but only "
                                 << inputs.size() << " are given";
          impl.operands.push_back(inputs[which]);
        }
        return node;
      })
      .Case([&](PredicateOp p) { return compilePredicate(p); })
      .Case<VerticalSlashOp, BlockTopKOp, GateOp, StripeOp, NsaOp>(
          [&](Operation *dynamic) -> FailureOr<uint32_t> {
            return dynamic->emitError()
                   << "'" << dynamic->getName()
                   << "' is a dynamic pattern: its kept pairs come from a "
                      "run-time estimator, so it has no static semantics "
                      "to evaluate";
          })
      .Default([&](Operation *other) -> FailureOr<uint32_t> {
        return other->emitError() << "'" << other->getName()
                                  << "' is not a mask the evaluator knows";
      });
}

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

MaskEvaluator::MaskEvaluator(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
MaskEvaluator::MaskEvaluator(MaskEvaluator &&) = default;
MaskEvaluator &MaskEvaluator::operator=(MaskEvaluator &&) = default;
MaskEvaluator::~MaskEvaluator() = default;

FailureOr<MaskEvaluator> MaskEvaluator::build(KernelOp kernel) {
  return build(kernel.getMask(), static_cast<int64_t>(kernel.getHeads()),
               static_cast<int64_t>(kernel.getKvHeads()));
}

FailureOr<MaskEvaluator> MaskEvaluator::build(Value mask, int64_t heads,
                                              int64_t kvHeads) {
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
    return emitError(mask.getLoc())
           << "mask evaluator needs heads (" << heads
           << ") to be a positive multiple of kv_heads (" << kvHeads << ")";
  auto impl = std::make_unique<Impl>();
  impl->heads = heads;
  impl->kvHeads = kvHeads;
  MaskCompiler compiler(*impl);
  FailureOr<uint32_t> root = compiler.compileMask(mask);
  if (failed(root))
    return failure();
  impl->root = *root;
  return MaskEvaluator(std::move(impl));
}

bool MaskEvaluator::keep(const MaskInputs &inputs, int64_t b, int64_t h,
                         int64_t q, int64_t k) const {
  return impl->eval(impl->root, Query{inputs, b, h, q, k});
}

int64_t MaskEvaluator::heads() const { return impl->heads; }

std::string MaskEvaluator::toJSON() const {
  static const char *kNodeNames[] = {
      "full",     "empty",          "causal",   "window",   "symmetric_window",
      "sink",     "tail_queries",   "strided",  "strided_blocks",
      "dilated",  "power",          "prefix",   "document", "block_table",
      "union",    "intersect",      "complement", "per_head", "predicate"};
  static const char *kAffineNames[] = {"const", "dim",      "add",    "mul",
                                       "mod",   "floordiv", "ceildiv"};
  static const char *kOpcodeNames[] = {
      "const", "add",   "sub",   "mul",   "divs",  "divu",  "floordivs",
      "ceildivs", "rems", "remu", "mins", "maxs", "minu", "maxu", "eq", "ne",
      "slt",   "sle",   "sgt",   "sge",   "ult",   "ule",   "ugt",   "uge",
      "and",   "or",    "xor",   "select", "sext", "trunc", "absi", "lookup"};
  llvm::json::Array nodes, affine, program, tables;
  for (const Node &n : impl->nodes)
    nodes.push_back(llvm::json::Object{
        {"kind", kNodeNames[static_cast<int>(n.kind)]},
        {"first", n.first},
        {"count", n.count},
        {"param", llvm::json::Array(ArrayRef<int64_t>(n.param))}});
  for (const AffineStep &s : impl->affine)
    affine.push_back(llvm::json::Array{
        kAffineNames[static_cast<int>(s.opcode)], s.constant});
  for (const Instruction &i : impl->program)
    program.push_back(llvm::json::Object{
        {"op", kOpcodeNames[static_cast<int>(i.opcode)]},
        {"width", i.width},
        {"operand_width", i.operandWidth},
        {"dst", i.dst},
        {"a", i.a},
        {"b", i.b},
        {"c", i.c},
        {"imm", i.immediate}});
  for (const TableRef &t : impl->tables) {
    llvm::json::Array dims;
    for (const std::string &d : t.dimTexts)
      dims.push_back(d);
    tables.push_back(llvm::json::Object{{"name", t.name},
                                        {"bool", t.isBool},
                                        {"width", t.elementWidth},
                                        {"dims", std::move(dims)}});
  }
  llvm::json::Object root{
      {"format", "sattn.mask-program/1"},
      {"heads", impl->heads},
      {"kv_heads", impl->kvHeads},
      {"root", impl->root},
      {"nodes", std::move(nodes)},
      {"operands", llvm::json::Array(ArrayRef<uint32_t>(impl->operands))},
      {"affine", std::move(affine)},
      {"program", std::move(program)},
      {"lookup_args", llvm::json::Array(ArrayRef<uint32_t>(impl->lookupArgs))},
      {"tables", std::move(tables)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(root));
  return text;
}
int64_t MaskEvaluator::kvHeads() const { return impl->kvHeads; }

std::string MaskEvaluator::checkInputs(const MaskInputs &inputs) const {
  std::string message;
  llvm::raw_string_ostream os(message);
  if (inputs.batch <= 0) {
    os << "batch must be positive, got " << inputs.batch;
    return message;
  }
  if (inputs.lq < 0 || inputs.lk < 0 || inputs.lq > inputs.lk) {
    os << "lengths must satisfy 0 <= lq <= lk, got lq = " << inputs.lq
       << ", lk = " << inputs.lk;
    return message;
  }
  for (const TableRef &ref : impl->tables) {
    auto it = inputs.tables.find(ref.name);
    if (it == inputs.tables.end()) {
      os << "table @" << ref.name << " is read by the mask but not provided";
      return message;
    }
    const TableData &data = it->second;
    if (data.shape.size() != ref.dims.size()) {
      os << "table @" << ref.name << " has rank " << data.shape.size()
         << " but is declared with " << ref.dims.size() << " dimensions";
      return message;
    }
    int64_t elements = 1;
    for (unsigned d = 0; d < ref.dims.size(); ++d) {
      const TableDim &dim = ref.dims[d];
      int64_t expected = 0;
      std::string why;
      switch (dim.kind) {
      case TableDim::Batch:
        expected = inputs.batch;
        why = "batch";
        break;
      case TableDim::Head:
        expected = impl->heads;
        why = "heads";
        break;
      case TableDim::QueryPos:
      case TableDim::KeyPos:
        expected = (inputs.lk + dim.blockSize - 1) / dim.blockSize;
        why = dim.blockSize == 1
                  ? std::string("lk")
                  : "ceil(lk / " + std::to_string(dim.blockSize) + ")";
        break;
      case TableDim::Literal:
        expected = dim.extent;
        why = "literal";
        break;
      }
      if (data.shape[d] != expected) {
        os << "table @" << ref.name << " dimension " << d << " (\""
           << ref.dimTexts[d] << "\") has extent " << data.shape[d]
           << ", expected " << expected << " (" << why << ")";
        return message;
      }
      elements *= expected;
    }
    if (static_cast<int64_t>(data.values.size()) != elements) {
      os << "table @" << ref.name << " holds " << data.values.size()
         << " values but its shape needs " << elements;
      return message;
    }
    int64_t lo = ref.isBool ? 0 : std::numeric_limits<int64_t>::min();
    int64_t hi = ref.isBool ? 1 : std::numeric_limits<int64_t>::max();
    if (ref.elementWidth == 32) {
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
    }
    for (auto [i, value] : llvm::enumerate(data.values)) {
      if (value < lo || value > hi) {
        os << "table @" << ref.name << " value " << value << " at flat index "
           << i << " does not fit its element type i" << ref.elementWidth;
        return message;
      }
    }
  }
  return message;
}
