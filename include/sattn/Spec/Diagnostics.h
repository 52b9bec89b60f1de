//===- Diagnostics.h - spec-file error reporting --------------*- C++ -*-===//
//
// Every problem found in a `.sattn` file, whether by the lexer, the parser,
// the type checker or the MLIR verifier run on the emitted IR, is reported in
// one format: `file:line:col: error: message`, the source line, and a caret
// under the column. This class owns that format so that all stages agree.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_DIAGNOSTICS_H
#define SATTN_SPEC_DIAGNOSTICS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/SMLoc.h"

#include <string>
#include <utility>

namespace llvm {
class SourceMgr;
class raw_ostream;
} // namespace llvm

namespace sattn::spec {

/// Prints spec diagnostics for the main buffer of a SourceMgr.
class SpecDiagnostics {
public:
  SpecDiagnostics(llvm::SourceMgr &sourceMgr, llvm::raw_ostream &os);

  void error(llvm::SMLoc loc, const llvm::Twine &message);
  void note(llvm::SMLoc loc, const llvm::Twine &message);

  unsigned getNumErrors() const { return numErrors; }
  bool hadError() const { return numErrors != 0; }

  /// The name printed in front of every diagnostic ("<stdin>" for stdin).
  llvm::StringRef getFilename() const;

  /// 1-based line and column of `loc` in the main buffer.
  std::pair<unsigned, unsigned> getLineAndColumn(llvm::SMLoc loc) const;

  /// The location of a 1-based line/column pair, or an invalid SMLoc when it
  /// lies outside the main buffer.
  llvm::SMLoc getLoc(unsigned line, unsigned column) const;

  /// Start and end of the main buffer.
  llvm::SMLoc getBufferStart() const;
  llvm::SMLoc getBufferEnd() const;

private:
  void print(llvm::SMLoc loc, bool isError, const llvm::Twine &message);

  llvm::SourceMgr &sourceMgr;
  llvm::raw_ostream &os;
  unsigned mainBuffer;
  unsigned numErrors = 0;
};

/// Returns the candidate closest to `name` by edit distance when it is close
/// enough to be a plausible typo, or an empty string.
llvm::StringRef findClosestName(llvm::StringRef name,
                                llvm::ArrayRef<llvm::StringRef> candidates);

/// "; did you mean 'x'?" for the closest candidate, or "".
std::string didYouMean(llvm::StringRef name,
                       llvm::ArrayRef<llvm::StringRef> candidates);

} // namespace sattn::spec

#endif // SATTN_SPEC_DIAGNOSTICS_H
