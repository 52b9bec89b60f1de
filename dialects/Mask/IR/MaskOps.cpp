//===- MaskOps.cpp - mask dialect verifiers and custom syntax -------------===//
//
// Parameter verifiers for every pattern (so a bad spec is rejected with a
// precise message before any lowering runs), symbol checks for runtime
// tables, and the custom syntax of `mask.predicate`.
//
//===----------------------------------------------------------------------===//

#include "Mask/IR/MaskOps.h"
#include "sattn/Core/Limits.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace sattn::mask;

#include "Mask/IR/MaskEnums.cpp.inc"

#define GET_OP_CLASSES
#include "Mask/IR/MaskOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Emits "'<name>' must be <relation>, got <value>" unless `ok`.
static LogicalResult checkParam(Operation *op, bool ok, StringRef name,
                                StringRef relation, int64_t value) {
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' must be " << relation
                           << ", got " << value;
}
/// Pattern arguments are bounded above by the one limit every layer
/// enforces (sattn/Core/Limits.h): a window or stride longer than any
/// sequence means nothing more, and the bound keeps the planner's
/// arithmetic on them far from overflow.
static LogicalResult atMostLimit(Operation *op, StringRef name, int64_t v) {
  return checkParam(op, v <= sattn::limits::kMaxPatternValue, name,
                    "at most " +
                        std::to_string(sattn::limits::kMaxPatternValue),
                    v);
}
static LogicalResult positive(Operation *op, StringRef name, int64_t v) {
  if (failed(checkParam(op, v > 0, name, "positive", v)))
    return failure();
  return atMostLimit(op, name, v);
}
static LogicalResult nonNegative(Operation *op, StringRef name, int64_t v) {
  if (failed(checkParam(op, v >= 0, name, "non-negative", v)))
    return failure();
  return atMostLimit(op, name, v);
}

/// Looks up the table `name` from `op` and checks that it is declared, and
/// declared by a `mask.table` rather than by some other symbol.
static FailureOr<TableOp> lookupTable(Operation *op, FlatSymbolRefAttr name,
                                      SymbolTableCollection &symbols) {
  Operation *symbol = symbols.lookupNearestSymbolFrom(op, name);
  if (!symbol)
    return op->emitOpError() << "uses table " << name
                             << " but no 'mask.table' declares it";
  auto table = dyn_cast<TableOp>(symbol);
  if (!table) {
    InFlightDiagnostic diag = op->emitOpError();
    diag << "uses " << name << " as a table but it names a '"
         << symbol->getName() << "', not a 'mask.table'";
    diag.attachNote(symbol->getLoc()) << name << " is declared here";
    return diag;
  }
  return table;
}

//===----------------------------------------------------------------------===//
// Pattern verifiers
//===----------------------------------------------------------------------===//

LogicalResult WindowOp::verify() {
  if (getSymmetric())
    return nonNegative(*this, "size", getSize());
  return positive(*this, "size", getSize());
}

LogicalResult SinkOp::verify() { return positive(*this, "count", getCount()); }

LogicalResult TailQueriesOp::verify() {
  return positive(*this, "count", getCount());
}

LogicalResult StridedOp::verify() {
  if (failed(positive(*this, "stride", getStride())))
    return failure();
  AffineMap map = getOffset();
  if (map.getNumDims() != 1 || map.getNumSymbols() != 0 ||
      map.getNumResults() != 1)
    return emitOpError() << "'offset' must be a head expression: an affine "
                            "map of one dimension (h) with one result, got "
                         << AffineMapAttr::get(map);
  return success();
}

LogicalResult StridedBlocksOp::verify() {
  if (failed(positive(*this, "block", getBlockSize())) ||
      failed(nonNegative(*this, "local", getLocalBlocks())) ||
      failed(positive(*this, "vert_stride", getVertStride())) ||
      failed(nonNegative(*this, "dense_heads", getDenseHeads())))
    return failure();
  return success();
}

LogicalResult DilatedOp::verify() {
  if (failed(positive(*this, "window", getWindow())) ||
      failed(positive(*this, "dilation", getDilation())))
    return failure();
  return success();
}

LogicalResult PowerOp::verify() {
  if (failed(positive(*this, "block", getBlockSize())) ||
      failed(nonNegative(*this, "window", getWindowBlocks())) ||
      failed(nonNegative(*this, "sink", getSinkBlocks())))
    return failure();
  return success();
}

LogicalResult PrefixOp::verify() {
  return nonNegative(*this, "length", getLength());
}

LogicalResult DocumentOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto table = lookupTable(*this, getTableAttr(), symbols);
  if (failed(table))
    return failure();
  Type elem = table->getElementType();
  if (!elem.isInteger(32) && !elem.isInteger(64))
    return emitOpError() << "document ids table " << getTableAttr()
                         << " must hold i32 or i64, got " << elem;
  ArrayAttr dims = table->getDims();
  bool ok = dims.size() == 1 || dims.size() == 2;
  for (unsigned i = 0; ok && i < dims.size(); ++i) {
    TableDim dim;
    parseTableDim(cast<StringAttr>(dims[i]).getValue(), dim);
    bool last = i + 1 == dims.size();
    ok = last ? ((dim.kind == TableDim::KeyPos ||
                  dim.kind == TableDim::QueryPos) &&
                 dim.blockSize == 1)
              : dim.kind == TableDim::Batch;
  }
  if (!ok)
    return emitOpError() << "document ids table " << getTableAttr()
                         << " must have dims [\"k\"] or [\"b\", \"k\"], got "
                         << dims;
  return success();
}

LogicalResult BlockTableOp::verify() {
  return positive(*this, "block", getBlockSize());
}

LogicalResult BlockTableOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto table = lookupTable(*this, getTableAttr(), symbols);
  if (failed(table))
    return failure();
  if (!table->getElementType().isInteger(1))
    return emitOpError() << "block table " << getTableAttr()
                         << " must hold i1, got " << table->getElementType();
  ArrayAttr dims = table->getDims();
  TableDim d0, d1, d2;
  bool ok = dims.size() == 3 &&
            parseTableDim(cast<StringAttr>(dims[0]).getValue(), d0) &&
            parseTableDim(cast<StringAttr>(dims[1]).getValue(), d1) &&
            parseTableDim(cast<StringAttr>(dims[2]).getValue(), d2) &&
            d0.kind == TableDim::Head && d0.blockSize == 1 && d1.kind == TableDim::QueryPos &&
            d2.kind == TableDim::KeyPos &&
            d1.blockSize == (int64_t)getBlockSize() &&
            d2.blockSize == (int64_t)getBlockSize();
  if (!ok)
    return emitOpError() << "block table " << getTableAttr()
                         << " must have dims [\"h\", \"q/" << getBlockSize()
                         << "\", \"k/" << getBlockSize() << "\"], got "
                         << dims;
  return success();
}

//===----------------------------------------------------------------------===//
// Dynamic pattern verifiers
//===----------------------------------------------------------------------===//

LogicalResult VerticalSlashOp::verify() {
  if (failed(nonNegative(*this, "vertical", getNumVertical())) ||
      failed(nonNegative(*this, "slash", getNumSlash())) ||
      failed(positive(*this, "last_q", getLastQ())) ||
      failed(nonNegative(*this, "forced vertical", getForcedVertical())) ||
      failed(nonNegative(*this, "forced slash", getForcedSlash())) ||
      failed(positive(*this, "block", getBlockSize())))
    return failure();
  if (getNumVertical() + getNumSlash() == 0)
    return emitOpError("keeps nothing: 'vertical' and 'slash' are both 0");
  if (getForcedVertical() > getNumVertical())
    return emitOpError() << "forces " << getForcedVertical()
                         << " vertical columns but keeps only "
                         << getNumVertical();
  if (getForcedSlash() > getNumSlash())
    return emitOpError() << "forces " << getForcedSlash()
                         << " slash diagonals but keeps only "
                         << getNumSlash();
  return success();
}

LogicalResult BlockTopKOp::verify() {
  if (failed(positive(*this, "block", getBlockSize())))
    return failure();
  // The getter returns an unsigned value: check it as the signed i64 it is.
  if (std::optional<uint64_t> k = getTopK();
      k && failed(positive(*this, "top_k", static_cast<int64_t>(*k))))
    return failure();
  if (auto tau = getTau(); tau && !(tau->convertToDouble() > 0.0 &&
                                    tau->convertToDouble() <= 1.0))
    return emitOpError() << "'tau' must be in (0, 1], got "
                         << tau->convertToDouble();
  if (getTopK().has_value() == getTau().has_value())
    return emitOpError("needs exactly one of 'top_k' and 'tau'");
  if (getScorer() == BlockScorer::mean_pool) {
    if (getStride())
      return emitOpError("'stride' applies only to the antidiagonal scorer");
    if (getTau())
      return emitOpError("the mean_pool scorer selects by 'top_k', not 'tau'");
    return success();
  }
  if (!getStride())
    return emitOpError("the antidiagonal scorer needs a 'stride'");
  int64_t stride = *getStride();
  if (stride <= 0 || getBlockSize() % stride != 0)
    return emitOpError() << "'stride' must be positive and divide the block "
                            "size "
                         << getBlockSize() << ", got " << stride;
  return success();
}

LogicalResult GateOp::verify() {
  if (failed(positive(*this, "block", getBlockSize())) ||
      failed(positive(*this, "hidden", getHidden())))
    return failure();
  if (getThreshold().has_value() == getTopRatio().has_value())
    return emitOpError("needs exactly one of 'threshold' and 'top_ratio'");
  if (auto t = getThreshold(); t && !(t->convertToDouble() > 0.0 &&
                                      t->convertToDouble() < 1.0))
    return emitOpError() << "'threshold' must be in (0, 1), got "
                         << t->convertToDouble();
  if (auto r = getTopRatio(); r && !(r->convertToDouble() > 0.0 &&
                                     r->convertToDouble() <= 1.0))
    return emitOpError() << "'top_ratio' must be in (0, 1], got "
                         << r->convertToDouble();
  return success();
}

LogicalResult StripeOp::verify() {
  if (failed(positive(*this, "group", getGroup())) ||
      failed(positive(*this, "block", getBlockSize())) ||
      failed(positive(*this, "step", getStep())))
    return failure();
  if (getGroup() % getBlockSize() != 0)
    return emitOpError() << "'group' (" << getGroup()
                         << ") must be a multiple of 'block' ("
                         << getBlockSize() << ")";
  int64_t unit = 0;
  if (__builtin_mul_overflow(getBlockSize(), getStep(), &unit) || getGroup() % unit != 0)
    return emitOpError() << "'group' (" << getGroup() << ") must be a multiple of 'block' x "
                         << "'step' (" << getBlockSize() << " x " << getStep()
                         << "): a selection of 'step' query blocks lies in one group";
  if (!(getTheta().convertToDouble() > 0.0))
    return emitOpError() << "'theta' must be positive, got "
                         << getTheta().convertToDouble();
  return success();
}

LogicalResult NsaOp::verify() {
  if (failed(positive(*this, "compress block", getCompressBlock())) ||
      failed(positive(*this, "compress stride", getCompressStride())) ||
      failed(positive(*this, "select block", getSelectBlock())) ||
      failed(positive(*this, "select count", getSelectCount())) ||
      failed(nonNegative(*this, "window", getWindow())) ||
      failed(nonNegative(*this, "local", getLocalBlocks())))
    return failure();
  if (getCompressStride() > getCompressBlock())
    return emitOpError() << "compress stride " << getCompressStride()
                         << " exceeds compress block " << getCompressBlock()
                         << ": keys between blocks would never be seen";
  if (getSelectBlock() % getCompressStride() != 0)
    return emitOpError() << "select block " << getSelectBlock()
                         << " must be a multiple of the compress stride "
                         << getCompressStride();
  if (getLocalBlocks() + 1 > getSelectCount())
    return emitOpError() << "forces block 0 and " << getLocalBlocks()
                         << " local blocks but selects only "
                         << getSelectCount();
  return success();
}

//===----------------------------------------------------------------------===//
// Combinators
//===----------------------------------------------------------------------===//

LogicalResult UnionOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  return success();
}

LogicalResult IntersectOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  return success();
}

LogicalResult PerHeadOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  if (getAssignment().empty())
    return emitOpError("'assign' must name a mask for every head");
  int64_t n = getInputs().size();
  for (auto [h, idx] : llvm::enumerate(getAssignment()))
    if (idx < 0 || idx >= n)
      return emitOpError() << "head " << h << " is assigned mask " << idx
                           << " but only " << n << " are given";
  return success();
}

//===----------------------------------------------------------------------===//
// Tables
//===----------------------------------------------------------------------===//

LogicalResult TableOp::verify() {
  Type elem = getElementType();
  if (!elem.isInteger(1) && !elem.isInteger(32) && !elem.isInteger(64))
    return emitOpError() << "element type must be i1, i32 or i64, got "
                         << elem;
  if (getDims().empty())
    return emitOpError("needs at least one dimension");
  std::vector<TableDim> dims;
  for (Attribute attr : getDims()) {
    TableDim dim;
    StringRef text = cast<StringAttr>(attr).getValue();
    if (!parseTableDim(text, dim))
      return emitOpError() << "unknown dimension \"" << text
                           << "\": expected b, h, q, k, h/N, q/N, k/N or a "
                              "positive integer";
    dims.push_back(dim);
  }
  // The same limits as the spec front end and the runtime (rank, sizes).
  std::string limit = ::sattn::checkTableDims(dims);
  if (!limit.empty())
    return emitOpError() << limit;
  return success();
}

int64_t TableOp::getDimBlockSize(unsigned i) {
  TableDim dim;
  parseTableDim(cast<StringAttr>(getDims()[i]).getValue(), dim);
  bool positional =
      dim.kind == TableDim::QueryPos || dim.kind == TableDim::KeyPos;
  return positional ? dim.blockSize : 0;
}

LogicalResult LookupOp::verify() {
  // Only a predicate gives the lookup's indices a meaning (they are computed
  // from the (b, h, q, k) arguments); anywhere else it reads nothing.
  if (!(*this)->getParentOfType<PredicateOp>())
    return emitOpError("is only valid inside a 'mask.predicate' body");
  return success();
}

LogicalResult LookupOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto table = lookupTable(*this, getTableAttr(), symbols);
  if (failed(table))
    return failure();
  size_t rank = table->getDims().size();
  if (getIndices().size() != rank)
    return emitOpError() << "indexes table " << getTableAttr() << " with "
                         << getIndices().size() << " indices but it has "
                         << rank << " dimensions";
  bool isBool = table->getElementType().isInteger(1);
  Type expected = isBool ? Type(IntegerType::get(getContext(), 1))
                         : Type(IndexType::get(getContext()));
  if (getResult().getType() != expected)
    return emitOpError() << "reads table " << getTableAttr() << " of "
                         << table->getElementType() << " as "
                         << getResult().getType() << "; expected "
                         << expected;
  return success();
}

//===----------------------------------------------------------------------===//
// Predicate
//===----------------------------------------------------------------------===//

void PredicateOp::build(OpBuilder &builder, OperationState &state) {
  Region *body = state.addRegion();
  Block *block = new Block();
  body->push_back(block);
  Type index = builder.getIndexType();
  for (int i = 0; i < 4; ++i)
    block->addArgument(index, state.location);
  state.addTypes(MaskType::get(builder.getContext()));
}

ParseResult PredicateOp::parse(OpAsmParser &parser, OperationState &result) {
  SmallVector<OpAsmParser::Argument> args;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseArgumentList(args, OpAsmParser::Delimiter::Paren,
                               /*allowType=*/false))
    return failure();
  if (args.size() != 4)
    return parser.emitError(loc, "expected four index arguments (b, h, q, k)");
  for (auto &arg : args)
    arg.type = parser.getBuilder().getIndexType();
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, args) ||
      parser.parseOptionalAttrDict(result.attributes))
    return failure();
  result.addTypes(MaskType::get(parser.getContext()));
  return success();
}

void PredicateOp::print(OpAsmPrinter &p) {
  p << "(";
  llvm::interleaveComma(getBody().getArguments(), p,
                        [&](BlockArgument arg) { p.printOperand(arg); });
  p << ") ";
  p.printRegion(getBody(), /*printEntryBlockArgs=*/false);
  p.printOptionalAttrDict((*this)->getAttrs());
}

void PredicateOp::getAsmBlockArgumentNames(Region &region,
                                           OpAsmSetValueNameFn setNameFn) {
  if (region.empty() || region.front().getNumArguments() != 4)
    return;
  static const char *const names[] = {"b", "h", "q", "k"};
  for (auto [arg, name] : llvm::zip(region.front().getArguments(), names))
    setNameFn(arg, name);
}

/// The ops a predicate body may contain (docs/MASK_SEMANTICS.md): integer
/// arith, math.absi and mask.lookup. Everything else has no reference
/// semantics in the evaluator and no lowering.
static bool isAllowedInPredicate(Operation &op) {
  return isa<arith::ConstantOp, arith::AddIOp, arith::SubIOp, arith::MulIOp,
             arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp,
             arith::CeilDivSIOp, arith::RemSIOp, arith::RemUIOp,
             arith::MinSIOp, arith::MaxSIOp, arith::MinUIOp, arith::MaxUIOp,
             arith::CmpIOp, arith::AndIOp, arith::OrIOp, arith::XOrIOp,
             arith::SelectOp, arith::IndexCastOp, arith::ExtUIOp,
             arith::ExtSIOp, arith::TruncIOp, math::AbsIOp, LookupOp>(op);
}

LogicalResult PredicateOp::verify() {
  // Checked on entry, before the body is verified, so that a malformed body
  // is reported in terms of the predicate.
  Block &block = getBody().front();
  if (block.getNumArguments() != 4 ||
      llvm::any_of(block.getArgumentTypes(),
                   [](Type t) { return !t.isIndex(); }))
    return emitOpError("body must take four index arguments (b, h, q, k)");
  if (block.empty() || !isa<YieldOp>(block.back()))
    return emitOpError("body must end with 'mask.yield'");
  return success();
}

LogicalResult PredicateOp::verifyRegions() {
  Block &block = getBody().front();
  // Disallowed ops first: they are the more fundamental error.
  for (Operation &op : block.without_terminator())
    if (!isAllowedInPredicate(op))
      return op.emitOpError()
             << "is not allowed in a mask predicate: only integer arith ops, "
                "math.absi and mask.lookup are";
  for (Operation &op : block.without_terminator()) {
    for (Type type : op.getResultTypes())
      if (!type.isIndex() && !(type.isInteger() &&
                               type.getIntOrFloatBitWidth() <= 64))
        return op.emitOpError()
               << "produces a value of type " << type
               << " but a mask predicate computes on index and integers of "
                  "at most 64 bits only";
  }
  return success();
}
