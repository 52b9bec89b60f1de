//===- SemaChecker.h - the spec checker shared by Sema*.cpp -----*- C++ -*-===//
//
// Private to lib/Spec: the checker class of Sema.cpp (kernels, tables,
// expressions) and SemaPatterns.cpp (pattern calls and their arguments),
// split so that each file holds one job.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_SPEC_SEMACHECKER_H
#define SATTN_LIB_SPEC_SEMACHECKER_H

#include "sattn/Spec/AST.h"
#include "sattn/Spec/Diagnostics.h"
#include "sattn/Spec/PatternTable.h"

#include "llvm/Support/LogicalResult.h"

#include <optional>
#include <string>

namespace sattn::spec::detail {

using llvm::LogicalResult;

/// "1 mask", "2 masks", "1 index", "2 indices".
std::string plural(int64_t n, llvm::StringRef word);

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


} // namespace sattn::spec::detail

#endif // SATTN_LIB_SPEC_SEMACHECKER_H
