//===- Parser.h - recursive-descent parser for .sattn files ---*- C++ -*-===//
//
// Turns the main buffer of a SourceMgr into a SpecFile. The parser stops at
// the first error, which it reports through SpecDiagnostics.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_PARSER_H
#define SATTN_SPEC_PARSER_H

#include "sattn/Spec/AST.h"

#include <memory>

namespace sattn::spec {

class SpecDiagnostics;

/// Parses `buffer` (the main buffer `diag` reports against). Returns null
/// after reporting an error.
std::unique_ptr<SpecFile> parseSpec(llvm::StringRef buffer,
                                    SpecDiagnostics &diag);

} // namespace sattn::spec

#endif // SATTN_SPEC_PARSER_H
