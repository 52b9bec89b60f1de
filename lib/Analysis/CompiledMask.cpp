//===- CompiledMask.cpp - the mask front end ------------------------------===//
//
// Compiles mask-dialect ops into a MaskProgram (sattn/Core/MaskProgram.h):
// one node per distinct mask op, every predicate body into a straight-line
// register program over 64-bit values, table declarations resolved to slots.
// Evaluation, input checks and planning run on the program in the core
// (lib/Core), which is what lets libsattn_runtime share them without MLIR;
// this file is the only place that knows the ops. It also writes the
// program's JSON form.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"

#include "sattn/Core/IntegerSemantics.h"
#include "sattn/Core/Limits.h"
#include "sattn/Core/MaskEval.h"

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

using namespace mlir;
using namespace sattn;
using namespace sattn::mask;
using namespace sattn::ints;

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

/// Lowers a mask DAG into a MaskProgram. Shared subexpressions compile once.
class MaskCompiler {
public:
  explicit MaskCompiler(MaskProgram &program) : impl(program) {}

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

  MaskProgram &impl;
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

FailureOr<CompiledMask> CompiledMask::compile(KernelOp kernel) {
  return compile(kernel.getMask(), static_cast<int64_t>(kernel.getHeads()),
                 static_cast<int64_t>(kernel.getKvHeads()));
}

/// Longest chain of operations the mask's value depends on, measured without
/// recursion, so that a mask nested deeper than the compiler's recursive
/// translation can take (a 30000-deep complement chain) is refused before
/// the translation starts. Stops counting past `limit`.
static int64_t operandDepth(Value mask, int64_t limit) {
  llvm::DenseMap<Operation *, int64_t> depth;
  SmallVector<std::pair<Operation *, bool>> stack;
  if (Operation *root = mask.getDefiningOp())
    stack.push_back({root, false});
  int64_t deepest = 0;
  while (!stack.empty()) {
    auto [op, operandsDone] = stack.pop_back_val();
    if (depth.count(op))
      continue;
    if (!operandsDone) {
      stack.push_back({op, true});
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp(); def && !depth.count(def))
          stack.push_back({def, false});
      continue;
    }
    int64_t d = 1;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        d = std::max(d, depth.lookup(def) + 1);
    depth[op] = d;
    deepest = std::max(deepest, d);
    if (deepest > limit)
      return deepest;
  }
  return deepest;
}

FailureOr<CompiledMask> CompiledMask::compile(Value mask, int64_t heads,
                                              int64_t kvHeads) {
  // Mask nodes nest at most kMaxMaskDepth deep and each node's integer
  // expressions add at most kMaxAffineDepth levels.
  constexpr int64_t kMaxOperandDepth =
      limits::kMaxMaskDepth + 2 * limits::kMaxAffineDepth;
  if (int64_t d = operandDepth(mask, kMaxOperandDepth); d > kMaxOperandDepth)
    return emitError(mask.getLoc())
           << "mask is nested more than " << kMaxOperandDepth
           << " operations deep; split it or simplify it";
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
    return emitError(mask.getLoc())
           << "mask evaluator needs heads (" << heads
           << ") to be a positive multiple of kv_heads (" << kvHeads << ")";
  MaskProgram program;
  program.heads = heads;
  program.kvHeads = kvHeads;
  MaskCompiler compiler(program);
  FailureOr<uint32_t> root = compiler.compileMask(mask);
  if (failed(root))
    return failure();
  program.root = *root;
  // The core's limits (rank, nesting) hold for any mask that gets here; a
  // violation is reported rather than evaluated.
  std::string invalid = verifyMaskProgram(program);
  if (!invalid.empty())
    return emitError(mask.getLoc()) << "mask program: " << invalid;
  return CompiledMask(std::move(program));
}

bool CompiledMask::keep(const MaskInputs &inputs, int64_t b, int64_t h,
                         int64_t q, int64_t k) const {
  return evalMask(compiled, inputs, b, h, q, k);
}

std::string CompiledMask::checkInputs(const MaskInputs &inputs) const {
  return checkMaskInputs(compiled, inputs);
}

int64_t CompiledMask::heads() const { return compiled.heads; }
int64_t CompiledMask::kvHeads() const { return compiled.kvHeads; }

llvm::json::Value sattn::maskProgramToJSON(const MaskProgram &compiled) {
  llvm::json::Array nodes, affine, program, tables;
  for (const Node &n : compiled.nodes)
    nodes.push_back(llvm::json::Object{
        {"kind", nodeKindName(n.kind)},
        {"first", n.first},
        {"count", n.count},
        {"param", llvm::json::Array(ArrayRef<int64_t>(n.param))}});
  for (const AffineStep &s : compiled.affine)
    affine.push_back(llvm::json::Array{
        affineOpcodeName(s.opcode), s.constant});
  for (const Instruction &i : compiled.program)
    program.push_back(llvm::json::Object{
        {"op", opcodeName(i.opcode)},
        {"width", i.width},
        {"operand_width", i.operandWidth},
        {"dst", i.dst},
        {"a", i.a},
        {"b", i.b},
        {"c", i.c},
        {"imm", i.immediate}});
  for (const TableRef &t : compiled.tables) {
    llvm::json::Array dims;
    for (const std::string &d : t.dimTexts)
      dims.push_back(d);
    tables.push_back(llvm::json::Object{{"name", t.name},
                                        {"bool", t.isBool},
                                        {"width", t.elementWidth},
                                        {"dims", std::move(dims)}});
  }
  llvm::json::Object root{
      {"format", kMaskProgramFormat},
      {"heads", compiled.heads},
      {"kv_heads", compiled.kvHeads},
      {"root", compiled.root},
      {"nodes", std::move(nodes)},
      {"operands", llvm::json::Array(ArrayRef<uint32_t>(compiled.operands))},
      {"affine", std::move(affine)},
      {"program", std::move(program)},
      {"lookup_args", llvm::json::Array(ArrayRef<uint32_t>(compiled.lookupArgs))},
      {"tables", std::move(tables)}};
  return llvm::json::Value(std::move(root));
}

std::string CompiledMask::toJSON() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << maskProgramToJSON(compiled);
  return text;
}
