//===- Sema.cpp - name resolution and type checking of specs --------------===//
//
// Implements the checks described in Sema.h. The checker reports the first
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
#include "sattn/Spec/ConstantEval.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/Patterns.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Casting.h"

#include <cmath>

using namespace sattn::spec;
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

/// "1 mask", "2 masks", "1 index", "2 indices".
static std::string plural(int64_t n, llvm::StringRef word) {
  std::string text = (llvm::Twine(n) + " " + word).str();
  if (n == 1)
    return text;
  if (word == "index")
    return (llvm::Twine(n) + " indices").str();
  return text + "s";
}

namespace {

class Sema {
public:
  explicit Sema(SpecDiagnostics &diag) : diag(diag) {}

  LogicalResult checkFile(SpecFile &file);

private:
  LogicalResult checkKernel(KernelDecl &kernel);
  LogicalResult checkConfig(KernelDecl &kernel);
  LogicalResult checkTables(KernelDecl &kernel);

  /// Type-checks `expr` and records its type; nullopt after an error.
  std::optional<ValueType> check(Expr &expr);
  std::optional<ValueType> checkUnary(UnaryExpr &unary);
  std::optional<ValueType> checkBinary(BinaryExpr &binary);
  std::optional<ValueType> checkLogical(LogicalExpr &logical);
  std::optional<ValueType> checkCall(CallExpr &call);
  std::optional<ValueType> checkBuiltin(CallExpr &call, Builtin builtin);
  std::optional<ValueType> checkIndex(IndexExpr &index);
  LogicalResult reportUnknownCall(CallExpr &call);

  LogicalResult checkPattern(CallExpr &call, const PatternInfo &info);
  LogicalResult checkPerHead(CallExpr &call);
  LogicalResult resolveParam(const PatternInfo &info, const ParamInfo &param,
                             Expr &value, ResolvedParam &resolved);
  std::optional<double> evaluateFloat(const Expr &expr);
  /// Checks that `expr` is affine in h; returns whether it is constant.
  std::optional<bool> checkHeadAffine(const Expr &expr);
  LogicalResult checkPatternConstraints(CallExpr &call);
  const TableDecl *lookupTableOrReport(llvm::StringRef name, llvm::SMLoc loc);

  SpecDiagnostics &diag;
  KernelDecl *kernel = nullptr;
};

} // namespace

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

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// "window(size, symmetric = false)", the signature shown with arity errors.
static std::string getSignature(const PatternInfo &info) {
  if (!info.usage.empty())
    return info.usage.str();
  std::string text = info.name.str() + "(";
  for (auto [i, param] : llvm::enumerate(info.params)) {
    if (i)
      text += ", ";
    text += param.name.str();
    if (param.defaultKind == ParamInfo::Default::Value) {
      text += " = ";
      switch (param.kind) {
      case ParamKind::Int:
        text += std::to_string(param.intDefault);
        break;
      case ParamKind::Float:
        text += formatSpecFloat(param.floatDefault);
        break;
      case ParamKind::Bool:
        text += param.boolDefault ? "true" : "false";
        break;
      default:
        break;
      }
    } else if (param.defaultKind == ParamInfo::Default::HeadVar) {
      text += " = h";
    }
  }
  return text + ")";
}

LogicalResult Sema::checkPattern(CallExpr &call, const PatternInfo &info) {
  call.pattern = &info;
  if (info.isDynamic && !llvm::is_contained(kernel->dynamicPatterns, info.name))
    kernel->dynamicPatterns.push_back(info.name);
  if (info.isPerHead)
    return checkPerHead(call);

  // Bind positional arguments in order, then keywords by name.
  llvm::SmallVector<Argument *> bound(info.params.size(), nullptr);
  unsigned nextPositional = 0;
  bool sawKeyword = false;
  for (Argument &arg : call.getArgs()) {
    if (arg.name.empty()) {
      if (sawKeyword) {
        diag.error(arg.value->getLoc(),
                   "positional argument after a keyword argument in '" +
                       info.name + "'");
        return failure();
      }
      if (nextPositional >= info.params.size()) {
        if (info.params.empty())
          diag.error(arg.value->getLoc(),
                     "'" + info.name + "' takes no arguments");
        else
          diag.error(arg.value->getLoc(),
                     "too many arguments to '" + info.name + "': it takes " +
                         plural(info.params.size(), "argument") +
                         " (usage: " + getSignature(info) + ")");
        return failure();
      }
      bound[nextPositional++] = &arg;
      continue;
    }
    sawKeyword = true;
    const ParamInfo *match = nullptr;
    for (const ParamInfo &param : info.params)
      if (param.name == arg.name ||
          (!param.alias.empty() && param.alias == arg.name))
        match = &param;
    if (!match) {
      llvm::SmallVector<llvm::StringRef> names;
      for (const ParamInfo &param : info.params)
        names.push_back(param.name);
      std::string message =
          ("'" + info.name + "' has no argument '" + arg.name + "'").str();
      std::string suggestion = didYouMean(arg.name, names);
      if (!suggestion.empty())
        message += suggestion;
      else if (names.empty())
        message += ": it takes no arguments";
      else
        message += " (usage: " + getSignature(info) + ")";
      diag.error(arg.nameLoc, message);
      return failure();
    }
    size_t index = match - info.params.data();
    if (Argument *previous = bound[index]) {
      diag.error(arg.nameLoc, "argument '" + match->name + "' of '" +
                                  info.name + "' is given twice");
      diag.note(previous->name.empty() ? previous->value->getLoc()
                                       : previous->nameLoc,
                "first given here");
      return failure();
    }
    bound[index] = &arg;
  }

  call.params.assign(info.params.size(), ResolvedParam());
  for (auto [i, param] : llvm::enumerate(info.params)) {
    ResolvedParam &resolved = call.params[i];
    if (Argument *arg = bound[i]) {
      resolved.given = true;
      resolved.present = true;
      resolved.loc = arg->value->getLoc();
      if (failed(resolveParam(info, param, *arg->value, resolved)))
        return failure();
      continue;
    }
    resolved.loc = call.getLoc();
    switch (param.defaultKind) {
    case ParamInfo::Default::Required:
      diag.error(call.getLoc(), "missing argument '" + param.name + "' of '" +
                                    info.name +
                                    "' (usage: " + getSignature(info) + ")");
      return failure();
    case ParamInfo::Default::Absent:
      break;
    case ParamInfo::Default::Value:
      resolved.present = true;
      resolved.intValue = param.intDefault;
      resolved.floatValue = param.floatDefault;
      resolved.boolValue = param.boolDefault;
      break;
    case ParamInfo::Default::HeadVar:
      resolved.present = true;
      break;
    }
  }
  return checkPatternConstraints(call);
}

LogicalResult Sema::resolveParam(const PatternInfo &info,
                                 const ParamInfo &param, Expr &value,
                                 ResolvedParam &resolved) {
  std::string what =
      ("argument '" + param.name + "' of '" + info.name + "'").str();

  if (param.kind == ParamKind::Table) {
    auto *name = dyn_cast<CallExpr>(&value);
    if (!name || name->hasParens()) {
      diag.error(value.getLoc(), what + " must be the name of a table");
      return failure();
    }
    resolved.table = lookupTableOrReport(name->getCallee(), value.getLoc());
    if (!resolved.table)
      return failure();
    resolved.tableName = name->getCallee();
    return success();
  }

  if (param.kind == ParamKind::Bool) {
    auto *literal = dyn_cast<BoolLiteralExpr>(&value);
    if (!literal) {
      diag.error(value.getLoc(), what + " must be true or false");
      return failure();
    }
    value.setType(ValueType::Bool);
    resolved.boolValue = literal->getValue();
    return success();
  }

  std::optional<ValueType> type = check(value);
  if (!type)
    return failure();

  switch (param.kind) {
  case ParamKind::Int: {
    if (*type != ValueType::Int) {
      diag.error(value.getLoc(),
                 what + " must be an integer, got " + getTypeName(*type));
      return failure();
    }
    EvalError error;
    std::optional<int64_t> constant = evaluateInt(value, std::nullopt, error);
    if (!constant) {
      diag.error(error.loc,
                 what +
                     (error.isNonConstant ? " must be a constant: "
                                          : " is not a valid constant: ") +
                     error.reason);
      return failure();
    }
    // Larger values would overflow the planner's and the kernels' index
    // arithmetic; every length sattn runs is below this bound anyway.
    if (*constant > sattn::limits::kMaxPatternValue ||
        *constant < -sattn::limits::kMaxPatternValue) {
      diag.error(value.getLoc(),
                 what + " is " + llvm::Twine(*constant) +
                     ", outside the supported range [-" +
                     llvm::Twine(sattn::limits::kMaxPatternValue) + ", " +
                     llvm::Twine(sattn::limits::kMaxPatternValue) + "]");
      return failure();
    }
    resolved.intValue = *constant;
    return success();
  }
  case ParamKind::Float: {
    if (*type != ValueType::Int && *type != ValueType::Float) {
      diag.error(value.getLoc(),
                 what + " must be a number, got " + getTypeName(*type));
      return failure();
    }
    std::optional<double> number = evaluateFloat(value);
    if (!number) {
      // An Int-typed argument failed as an integer constant: say why.
      EvalError error;
      if (*type == ValueType::Int && !evaluateInt(value, std::nullopt, error)) {
        diag.error(error.loc,
                   what +
                       (error.isNonConstant ? " must be a constant: "
                                            : " is not a valid constant: ") +
                       error.reason);
        return failure();
      }
      diag.error(value.getLoc(), what + " must be a constant number");
      return failure();
    }
    resolved.floatValue = *number;
    return success();
  }
  case ParamKind::HeadOffset: {
    if (*type != ValueType::Int) {
      diag.error(value.getLoc(), "offset must be an expression of h, got " +
                                     getTypeName(*type));
      return failure();
    }
    if (!checkHeadAffine(value))
      return failure();
    resolved.expr = &value;
    return success();
  }
  case ParamKind::Table:
  case ParamKind::Bool:
    break;
  }
  return success();
}

std::optional<double> Sema::evaluateFloat(const Expr &expr) {
  if (auto *literal = dyn_cast<FloatLiteralExpr>(&expr))
    return literal->getValue();
  if (expr.getType() == ValueType::Int) {
    EvalError error;
    if (std::optional<int64_t> value = evaluateInt(expr, std::nullopt, error))
      return static_cast<double>(*value);
    return std::nullopt;
  }
  if (auto *unary = dyn_cast<UnaryExpr>(&expr);
      unary && unary->getOp() == UnaryExpr::Op::Neg)
    if (std::optional<double> operand = evaluateFloat(unary->getOperand()))
      return -*operand;
  return std::nullopt;
}

std::optional<bool> Sema::checkHeadAffine(const Expr &expr) {
  EvalError error;
  if (evaluateInt(expr, std::nullopt, error))
    return true;
  if (!error.isNonConstant) {
    diag.error(error.loc, "offset is not a valid constant: " + error.reason);
    return std::nullopt;
  }
  auto notAffine = [&](llvm::SMLoc loc, const llvm::Twine &why) {
    diag.error(loc, "offset must be an expression of h that is affine: " + why);
    return std::nullopt;
  };
  switch (expr.getKind()) {
  case Expr::Kind::Var: {
    IndexVar var = cast<VarExpr>(expr).getVar();
    if (var == IndexVar::H)
      return false;
    diag.error(expr.getLoc(),
               "offset must be an expression of h, but it uses '" +
                   getVarName(var) + "'");
    return std::nullopt;
  }
  case Expr::Kind::Index:
    diag.error(expr.getLoc(),
               "offset must be an expression of h, but it reads table '" +
                   cast<IndexExpr>(expr).getTableName() + "'");
    return std::nullopt;
  case Expr::Kind::Unary:
    if (!checkHeadAffine(cast<UnaryExpr>(expr).getOperand()))
      return std::nullopt;
    return false;
  case Expr::Kind::Binary: {
    auto &binary = cast<BinaryExpr>(expr);
    std::optional<bool> lhsConstant = checkHeadAffine(binary.getLhs());
    if (!lhsConstant)
      return std::nullopt;
    std::optional<bool> rhsConstant = checkHeadAffine(binary.getRhs());
    if (!rhsConstant)
      return std::nullopt;
    switch (binary.getOp()) {
    case BinaryExpr::Op::Add:
    case BinaryExpr::Op::Sub:
      return false;
    case BinaryExpr::Op::Mul:
      if (!*lhsConstant && !*rhsConstant)
        return notAffine(binary.getOpLoc(),
                         "it multiplies two terms that depend on h");
      return false;
    case BinaryExpr::Op::Div:
    case BinaryExpr::Op::Mod: {
      if (!*rhsConstant)
        return notAffine(binary.getOpLoc(), "divide only by a constant");
      EvalError divisorError;
      std::optional<int64_t> divisor =
          evaluateInt(binary.getRhs(), std::nullopt, divisorError);
      if (!divisor || *divisor <= 0)
        return notAffine(binary.getRhs().getLoc(),
                         "the divisor must be a positive constant");
      return false;
    }
    default:
      break;
    }
    break;
  }
  case Expr::Kind::Call:
    return notAffine(expr.getLoc(), "'" + cast<CallExpr>(expr).getCallee() +
                                        "' of an expression of h is not");
  default:
    break;
  }
  diag.error(expr.getLoc(), "offset must be an expression of h");
  return std::nullopt;
}

LogicalResult Sema::checkPerHead(CallExpr &call) {
  const char *usage = "per_head needs a selector and at least one mask, as in "
                      "per_head(h % 2, causal, window(512))";
  Expr *selector = nullptr;
  llvm::SmallVector<Expr *> masks;
  for (Argument &arg : call.getArgs()) {
    if (arg.name.empty()) {
      masks.push_back(arg.value.get());
      continue;
    }
    if (arg.name != "selector") {
      diag.error(arg.nameLoc, "'per_head' has no argument '" + arg.name +
                                  "': it takes a selector, then the masks");
      return failure();
    }
    if (selector) {
      diag.error(arg.nameLoc,
                 "argument 'selector' of 'per_head' is given twice");
      return failure();
    }
    selector = arg.value.get();
  }
  if (!selector && !masks.empty())
    selector = masks.front(), masks.erase(masks.begin());
  if (!selector || masks.empty()) {
    diag.error(call.getLoc(), usage);
    return failure();
  }

  std::optional<ValueType> selectorType = check(*selector);
  if (!selectorType)
    return failure();
  if (*selectorType != ValueType::Int) {
    diag.error(selector->getLoc(),
               "the per_head selector must be an int expression of h, got " +
                   getTypeName(*selectorType));
    return failure();
  }
  for (auto [i, mask] : llvm::enumerate(masks)) {
    std::optional<ValueType> type = check(*mask);
    if (!type)
      return failure();
    if (*type != ValueType::Mask && *type != ValueType::Bool) {
      diag.error(mask->getLoc(), "per_head mask " + llvm::Twine(i) +
                                     " must be a mask or bool expression, "
                                     "got " +
                                     getTypeName(*type));
      return failure();
    }
  }

  int64_t heads = kernel->config.heads;
  int64_t numMasks = masks.size();
  call.assignment.clear();
  call.assignment.reserve(heads);
  for (int64_t h = 0; h < heads; ++h) {
    EvalError error;
    std::optional<int64_t> choice = evaluateInt(*selector, h, error);
    if (!choice) {
      if (error.isNonConstant)
        diag.error(error.loc,
                   "the per_head selector must be an expression of h: " +
                       error.reason);
      else
        diag.error(error.loc, "the per_head selector overflows for head " +
                                  llvm::Twine(h));
      return failure();
    }
    if (*choice < 0 || *choice >= numMasks) {
      diag.error(selector->getLoc(),
                 "the per_head selector gives " + llvm::Twine(*choice) +
                     " for head " + llvm::Twine(h) + ", but only " +
                     plural(numMasks, "mask") +
                     (numMasks == 1 ? " follows" : " follow") +
                     " it (valid: 0 to " + llvm::Twine(numMasks - 1) + ")");
      return failure();
    }
    call.assignment.push_back(*choice);
  }
  call.selector = selector;
  call.maskOperands.assign(masks.begin(), masks.end());
  return success();
}

LogicalResult Sema::checkPatternConstraints(CallExpr &call) {
  const PatternInfo &info = *call.pattern;
  auto paramNamed = [&](llvm::StringRef name) -> ResolvedParam & {
    for (auto [i, param] : llvm::enumerate(info.params))
      if (param.name == name)
        return call.params[i];
    llvm_unreachable("pattern table and Sema disagree on a parameter name");
  };
  auto requirePositive = [&](llvm::StringRef name) {
    ResolvedParam &param = paramNamed(name);
    if (param.intValue > 0)
      return success();
    diag.error(param.loc, "argument '" + name + "' of '" + info.name +
                              "' must be positive, got " +
                              llvm::Twine(param.intValue));
    return failure();
  };

  switch (info.kind) {
  case PatternKind::AShape:
    return failure(failed(requirePositive("sink")) ||
                   failed(requirePositive("local")));
  case PatternKind::TriShape:
    return failure(failed(requirePositive("sink")) ||
                   failed(requirePositive("local")) ||
                   failed(requirePositive("last")));
  case PatternKind::Document: {
    ResolvedParam &ids = paramNamed("ids");
    const TableDecl &table = *ids.table;
    bool goodDims =
        (table.dims.size() == 1 || table.dims.size() == 2) &&
        (table.dims.back().text == "k" || table.dims.back().text == "q") &&
        (table.dims.size() == 1 || table.dims.front().text == "b");
    if (table.elementType == ElementType::Bool || !goodDims) {
      diag.error(ids.loc, "document ids table '" + table.name +
                              "' must be declared i32[k], i32[b, k] (or "
                              "i64)");
      diag.note(table.loc, "table '" + table.name + "' is declared here");
      return failure();
    }
    return success();
  }
  case PatternKind::BlockTable: {
    ResolvedParam &keep = paramNamed("keep");
    int64_t block = paramNamed("block").intValue;
    // A non-positive block is reported by the op verifier with its own
    // message; "declare it as bool[h, q/0, k/0]" would mislead.
    if (block <= 0)
      return success();
    const TableDecl &table = *keep.table;
    std::string q = "q/" + std::to_string(block);
    std::string k = "k/" + std::to_string(block);
    bool good = table.elementType == ElementType::Bool &&
                table.dims.size() == 3 && table.dims[0].text == "h" &&
                table.dims[1].text == q && table.dims[2].text == k;
    if (!good) {
      diag.error(keep.loc, "block table '" + table.name +
                               "' must be declared bool[h, " + q + ", " + k +
                               "] for block " + llvm::Twine(block));
      diag.note(table.loc, "table '" + table.name + "' is declared here");
      return failure();
    }
    return success();
  }
  case PatternKind::Gate: {
    // The threshold form is the default unless the ratio form is chosen.
    ResolvedParam &threshold = paramNamed("threshold");
    ResolvedParam &ratio = paramNamed("top_ratio");
    if (!threshold.present && !ratio.present) {
      threshold.present = true;
      threshold.floatValue = 0.001;
    }
    return success();
  }
  default:
    return success();
  }
}

LogicalResult sattn::spec::checkSpec(SpecFile &file, SpecDiagnostics &diag) {
  return Sema(diag).checkFile(file);
}
