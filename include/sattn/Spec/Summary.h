//===- Summary.h - human-readable kernel summaries ------------*- C++ -*-===//
//
// The default output of `sattn-compile`: a few lines per kernel with its
// effective configuration (defaults applied) and its mask in spec syntax
// with every pattern parameter spelled out; and the canonical spec form
// (`--emit=spec`), which the fuzzer uses to check the printer against the
// parser.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_SUMMARY_H
#define SATTN_SPEC_SUMMARY_H

#include "sattn/Spec/AST.h"

namespace sattn::spec {

/// Prints the summary of a checked kernel.
void printKernelSummary(const KernelDecl &kernel, llvm::raw_ostream &os);

/// Prints a checked kernel back as canonical spec text: every setting
/// explicit (defaults applied), every pattern parameter spelled out, minimal
/// parentheses. Compiling the result gives the same IR as the original.
void printKernelSpec(const KernelDecl &kernel, llvm::raw_ostream &os);

} // namespace sattn::spec

#endif // SATTN_SPEC_SUMMARY_H
