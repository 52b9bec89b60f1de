//===- SemaPatterns.cpp - checking pattern calls in specs -----------------===//
//
// The pattern half of the spec checker (SemaChecker.h): a call's arguments
// matched to the pattern's signature, each resolved to a constant, table or
// per-head expression within the limits of sattn/Core/Limits.h, and the
// constraints between a pattern's arguments (table shapes, forms).
//
//===----------------------------------------------------------------------===//

#include "SemaChecker.h"
#include "sattn/Core/Limits.h"
#include "sattn/Spec/ConstantEval.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Casting.h"

#include <cmath>

using namespace sattn::spec;
using namespace sattn::spec::detail;
using llvm::cast;
using llvm::dyn_cast;
using llvm::failure;
using llvm::success;

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// "argument 'size' of 'window' must be a constant: ..." for an argument that
/// did not evaluate to an integer constant.
static LogicalResult reportNotConstant(SpecDiagnostics &diag,
                                       const std::string &what,
                                       const EvalError &error) {
  diag.error(error.loc, what +
                            (error.isNonConstant ? " must be a constant: "
                                                 : " is not a valid constant: ") +
                            error.reason);
  return failure();
}

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
      return reportNotConstant(diag, what, error);
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
        return reportNotConstant(diag, what, error);
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

