//===- Sema.cpp - name resolution and type checking of specs --------------===//
//
// Implements the checks described in Sema.h (kernels, tables, expressions;
// pattern calls are in SemaPatterns.cpp). The checker reports the first
// error it finds and stops: later errors in a spec are usually consequences
// of the first, and a single precise message is what a spec author needs.
//
// Typing rules: integer literals, b/h/q/k, arithmetic, abs/min/max/clamp and
// lookups into integer tables are Int; true/false, comparisons and lookups
// into bool tables are Bool; patterns are Mask. `&`, `|` and `!` take Bool or
// Mask operands and give Mask as soon as one operand is a Mask (the Bool
// operands are then lifted to a `mask.predicate` by the emitter).
// Arithmetic and comparisons need Int. Float appears only as the value of a
// float pattern argument.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/Sema.h"
#include "SemaChecker.h"

#include "sattn/Spec/ConstantEval.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/PatternTable.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Casting.h"

#include <cmath>

using namespace sattn::spec;
using namespace sattn::spec::detail;
using llvm::cast;
using llvm::dyn_cast;
using llvm::failure;
using llvm::LogicalResult;
using llvm::success;

static Builtin lookupBuiltin(llvm::StringRef name) {
  return llvm::StringSwitch<Builtin>(name)
      .Case("abs", Builtin::Abs)
      .Case("min", Builtin::Min)
      .Case("max", Builtin::Max)
      .Case("clamp", Builtin::Clamp)
      .Default(Builtin::None);
}

static unsigned getBuiltinArity(Builtin builtin) {
  switch (builtin) {
  case Builtin::Abs:
    return 1;
  case Builtin::Min:
  case Builtin::Max:
    return 2;
  case Builtin::Clamp:
    return 3;
  case Builtin::None:
    return 0;
  }
  return 0;
}

/// Pattern and builtin names, for "did you mean" on unknown calls.
static llvm::SmallVector<llvm::StringRef> getCallableNames() {
  llvm::SmallVector<llvm::StringRef> names;
  for (const PatternInfo &info : getAllPatterns())
    names.push_back(info.name);
  names.append({"abs", "min", "max", "clamp"});
  return names;
}

std::string sattn::spec::detail::plural(int64_t n, llvm::StringRef word) {
  std::string text = (llvm::Twine(n) + " " + word).str();
  if (n == 1)
    return text;
  if (word == "index")
    return (llvm::Twine(n) + " indices").str();
  return text + "s";
}


//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

LogicalResult Sema::checkFile(SpecFile &file) {
  llvm::StringMap<const KernelDecl *> seen;
  for (auto &decl : file.kernels) {
    auto [it, inserted] = seen.try_emplace(decl->name, decl.get());
    if (!inserted) {
      diag.error(decl->loc, "duplicate kernel name '" + decl->name + "'");
      diag.note(it->second->loc,
                "the first kernel '" + decl->name + "' is declared here");
      return failure();
    }
    if (failed(checkKernel(*decl)))
      return failure();
  }
  return success();
}

LogicalResult Sema::checkKernel(KernelDecl &decl) {
  kernel = &decl;
  if (failed(checkConfig(decl)) || failed(checkTables(decl)))
    return failure();
  if (!decl.mask) {
    diag.error(decl.loc, "kernel '" + decl.name +
                             "' has no mask: add 'mask = <expression>'");
    return failure();
  }
  std::optional<ValueType> type = check(*decl.mask);
  if (!type)
    return failure();
  if (*type != ValueType::Mask && *type != ValueType::Bool) {
    diag.error(decl.mask->getLoc(),
               "the mask must be a mask or bool expression, got " +
                   getTypeName(*type));
    return failure();
  }
  return success();
}

LogicalResult Sema::checkConfig(KernelDecl &decl) {
  KernelConfig &config = decl.config;
  if (decl.dtype.isSet())
    config.dtype = *decl.dtype.value;
  if (decl.headDim.isSet())
    config.headDim = *decl.headDim.value;

  if (decl.heads.isSet()) {
    int64_t heads = *decl.heads.value;
    if (heads < 1 || heads > kMaxHeads) {
      diag.error(decl.heads.valueLoc, "heads must be between 1 and " +
                                          llvm::Twine(kMaxHeads) + ", got " +
                                          llvm::Twine(heads));
      return failure();
    }
    config.heads = heads;
  }
  config.kvHeads = config.heads;
  if (decl.kvHeads.isSet()) {
    int64_t kvHeads = *decl.kvHeads.value;
    if (kvHeads < 1) {
      diag.error(decl.kvHeads.valueLoc,
                 "kv_heads must be positive, got " + llvm::Twine(kvHeads));
      return failure();
    }
    if (config.heads % kvHeads != 0) {
      diag.error(decl.kvHeads.valueLoc,
                 "heads (" + llvm::Twine(config.heads) +
                     ") must be a multiple of kv_heads (" +
                     llvm::Twine(kvHeads) + ")" +
                     (decl.heads.isSet() ? ""
                                         : "; 'heads' is not set and "
                                           "defaults to 1"));
      return failure();
    }
    config.kvHeads = kvHeads;
  }

  if (decl.scale.isSet()) {
    double scale = *decl.scale.value;
    if (!(scale > 0.0) || !std::isfinite(scale)) {
      diag.error(decl.scale.valueLoc, "scale must be positive");
      return failure();
    }
    config.scale = scale;
    config.scaleIsDefault = false;
  } else {
    config.scale = 1.0 / std::sqrt(static_cast<double>(config.headDim));
    config.scaleIsDefault = true;
  }
  if (decl.returnLse.isSet())
    config.returnLse = *decl.returnLse.value;
  if (decl.blockMax.isSet())
    config.blockMax = *decl.blockMax.value;
  return success();
}

LogicalResult Sema::checkTables(KernelDecl &decl) {
  llvm::StringMap<const TableDecl *> seen;
  for (const auto &table : decl.tables) {
    llvm::StringRef name = table->name;
    if (name == "b" || name == "h" || name == "q" || name == "k" ||
        name == "true" || name == "false") {
      diag.error(table->loc, "'" + name +
                                 "' cannot name a table: it is reserved in "
                                 "mask expressions");
      return failure();
    }
    if (table->dims.size() > size_t(sattn::limits::kMaxTableRank)) {
      diag.error(table->loc, "table '" + name + "' has " +
                                 llvm::Twine(table->dims.size()) +
                                 " dimensions; at most " +
                                 llvm::Twine(sattn::limits::kMaxTableRank) +
                                 " are supported");
      return failure();
    }
    auto [it, inserted] = seen.try_emplace(name, table.get());
    if (!inserted) {
      diag.error(table->loc, "duplicate table '" + name + "'");
      diag.note(it->second->loc,
                "the first table '" + name + "' is declared here");
      return failure();
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

std::optional<ValueType> Sema::check(Expr &expr) {
  std::optional<ValueType> type;
  switch (expr.getKind()) {
  case Expr::Kind::IntLiteral:
  case Expr::Kind::Var:
    type = ValueType::Int;
    break;
  case Expr::Kind::FloatLiteral:
    type = ValueType::Float;
    break;
  case Expr::Kind::BoolLiteral:
    type = ValueType::Bool;
    break;
  case Expr::Kind::Unary:
    type = checkUnary(cast<UnaryExpr>(expr));
    break;
  case Expr::Kind::Binary:
    type = checkBinary(cast<BinaryExpr>(expr));
    break;
  case Expr::Kind::Logical:
    type = checkLogical(cast<LogicalExpr>(expr));
    break;
  case Expr::Kind::Call:
    type = checkCall(cast<CallExpr>(expr));
    break;
  case Expr::Kind::Index:
    type = checkIndex(cast<IndexExpr>(expr));
    break;
  }
  if (type)
    expr.setType(*type);
  return type;
}

std::optional<ValueType> Sema::checkUnary(UnaryExpr &unary) {
  std::optional<ValueType> operand = check(unary.getOperand());
  if (!operand)
    return std::nullopt;
  if (unary.getOp() == UnaryExpr::Op::Neg) {
    // Float negation is only useful in a float argument (`theta = -1.5`);
    // every other use of a Float is rejected by its consumer.
    if (*operand == ValueType::Int || *operand == ValueType::Float)
      return *operand;
    diag.error(unary.getLoc(),
               "unary '-' needs an int operand, got " + getTypeName(*operand));
    return std::nullopt;
  }
  if (*operand == ValueType::Bool || *operand == ValueType::Mask)
    return *operand;
  diag.error(unary.getLoc(), "operator '!' needs a bool or mask operand, got " +
                                 getTypeName(*operand));
  return std::nullopt;
}

std::optional<ValueType> Sema::checkBinary(BinaryExpr &binary) {
  std::optional<ValueType> lhs = check(binary.getLhs());
  if (!lhs)
    return std::nullopt;
  std::optional<ValueType> rhs = check(binary.getRhs());
  if (!rhs)
    return std::nullopt;
  if (*lhs != ValueType::Int || *rhs != ValueType::Int) {
    diag.error(
        binary.getOpLoc(),
        llvm::Twine(binary.isComparison() ? "comparison '" : "operator '") +
            getOpSpelling(binary.getOp()) + "' needs int operands, got " +
            getTypeName(*lhs) + " and " + getTypeName(*rhs));
    return std::nullopt;
  }
  return binary.isComparison() ? ValueType::Bool : ValueType::Int;
}

std::optional<ValueType> Sema::checkLogical(LogicalExpr &logical) {
  bool anyMask = false;
  llvm::StringRef op = logical.getOp() == LogicalExpr::Op::And ? "&" : "|";
  for (const ExprPtr &operand : logical.getOperands()) {
    std::optional<ValueType> type = check(*operand);
    if (!type)
      return std::nullopt;
    if (*type != ValueType::Bool && *type != ValueType::Mask) {
      diag.error(operand->getLoc(), "operand of '" + op +
                                        "' must be a bool or mask, got " +
                                        getTypeName(*type));
      return std::nullopt;
    }
    anyMask |= *type == ValueType::Mask;
  }
  return anyMask ? ValueType::Mask : ValueType::Bool;
}

std::optional<ValueType> Sema::checkCall(CallExpr &call) {
  if (Builtin builtin = lookupBuiltin(call.getCallee());
      builtin != Builtin::None)
    return checkBuiltin(call, builtin);
  if (const PatternInfo *info = lookupPattern(call.getCallee())) {
    if (failed(checkPattern(call, *info)))
      return std::nullopt;
    return ValueType::Mask;
  }
  (void)reportUnknownCall(call);
  return std::nullopt;
}

LogicalResult Sema::reportUnknownCall(CallExpr &call) {
  llvm::StringRef name = call.getCallee();
  if (kernel->lookupTable(name)) {
    diag.error(call.getLoc(),
               "'" + name + "' is a table: read it with " + name + "[...]");
    return failure();
  }
  llvm::SmallVector<llvm::StringRef> callables = getCallableNames();
  std::string suggestion = didYouMean(name, callables);
  if (call.hasParens() || !suggestion.empty()) {
    diag.error(call.getLoc(), "unknown pattern '" + name + "'" + suggestion);
    return failure();
  }
  diag.error(call.getLoc(), "unknown variable '" + name +
                                "': the index variables are b, h, q and k");
  return failure();
}

std::optional<ValueType> Sema::checkBuiltin(CallExpr &call, Builtin builtin) {
  llvm::StringRef name = call.getCallee();
  if (!call.hasParens()) {
    diag.error(call.getLoc(),
               "'" + name + "' is a function: call it as " + name + "(...)");
    return std::nullopt;
  }
  unsigned arity = getBuiltinArity(builtin);
  if (call.getArgs().size() != arity) {
    diag.error(call.getLoc(), "'" + name + "' takes " +
                                  plural(arity, "argument") + ", got " +
                                  llvm::Twine(call.getArgs().size()));
    return std::nullopt;
  }
  for (auto [i, arg] : llvm::enumerate(call.getArgs())) {
    if (!arg.name.empty()) {
      diag.error(arg.nameLoc, "'" + name + "' takes no keyword arguments");
      return std::nullopt;
    }
    std::optional<ValueType> type = check(*arg.value);
    if (!type)
      return std::nullopt;
    if (*type != ValueType::Int) {
      diag.error(arg.value->getLoc(),
                 "argument " + llvm::Twine(i + 1) + " of '" + name +
                     "' must be an int, got " + getTypeName(*type));
      return std::nullopt;
    }
  }
  call.builtin = builtin;
  return ValueType::Int;
}

const TableDecl *Sema::lookupTableOrReport(llvm::StringRef name,
                                           llvm::SMLoc loc) {
  if (const TableDecl *table = kernel->lookupTable(name))
    return table;
  llvm::SmallVector<llvm::StringRef> names;
  for (const auto &table : kernel->tables)
    names.push_back(table->name);
  diag.error(loc, "undeclared table '" + name + "'" + didYouMean(name, names));
  return nullptr;
}

std::optional<ValueType> Sema::checkIndex(IndexExpr &index) {
  const TableDecl *table =
      lookupTableOrReport(index.getTableName(), index.getLoc());
  if (!table)
    return std::nullopt;
  size_t rank = table->dims.size();
  size_t given = index.getIndices().size();
  if (rank != given) {
    diag.error(index.getLoc(), "table '" + table->name + "' has " +
                                   plural(rank, "dimension") + " but " +
                                   plural(given, "index") + " " +
                                   (given == 1 ? "is" : "are") + " given");
    diag.note(table->loc, "table '" + table->name + "' is declared here");
    return std::nullopt;
  }
  for (auto [i, indexExpr] : llvm::enumerate(index.getIndices())) {
    std::optional<ValueType> type = check(*indexExpr);
    if (!type)
      return std::nullopt;
    if (*type != ValueType::Int) {
      diag.error(indexExpr->getLoc(),
                 "index " + llvm::Twine(i + 1) + " of table '" + table->name +
                     "' must be an int, got " + getTypeName(*type));
      return std::nullopt;
    }
  }
  index.table = table;
  return table->elementType == ElementType::Bool ? ValueType::Bool
                                                 : ValueType::Int;
}

LogicalResult sattn::spec::checkSpec(SpecFile &file, SpecDiagnostics &diag) {
  return Sema(diag).checkFile(file);
}
