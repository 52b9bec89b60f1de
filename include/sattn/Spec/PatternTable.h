//===- PatternTable.h - the named patterns of the spec language --*- C++ -*-===//
//
// One table describes every named pattern a spec may call: its name, its
// parameters in positional order with their kinds and defaults, and whether
// it is static or estimated at run time. The type checker binds arguments
// against this table, the emitter switches on `PatternKind`, and the summary
// printer and "did you mean" suggestions read the names from it, so adding a
// pattern means adding one row here and one case in the emitter.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPEC_PATTERNTABLE_H
#define SATTN_SPEC_PATTERNTABLE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace sattn::spec {

enum class PatternKind {
  Causal,
  Full,
  Empty,
  Window,
  Sink,
  Prefix,
  TailQueries,
  AShape,
  TriShape,
  Strided,
  StridedBlocks,
  Dilated,
  Power,
  Document,
  BlockTable,
  PerHead,
  VerticalSlash,
  BlockTopK,
  XAttention,
  Gate,
  Stripe,
  Nsa,
};

enum class ParamKind {
  Int,        // a constant integer expression
  Float,      // a float or integer literal, optionally negated
  Bool,       // true or false
  Table,      // the name of a table declared in the kernel
  HeadOffset, // an affine integer expression of h (strided's offset)
};

struct ParamInfo {
  enum class Default {
    Required, // must be given
    Absent,   // optional without a value (e.g. gate's top_ratio)
    Value,    // defaults to intDefault / floatDefault / boolDefault
    HeadVar,  // HeadOffset defaulting to `h`
  };
  llvm::StringRef name;
  ParamKind kind;
  Default defaultKind;
  int64_t intDefault = 0;
  double floatDefault = 0.0;
  bool boolDefault = false;
  llvm::StringRef alias = {}; // a second accepted keyword, if any
};

struct PatternInfo {
  llvm::StringRef name;
  PatternKind kind;
  bool isDynamic;
  llvm::ArrayRef<ParamInfo> params;
  /// per_head: a selector, then any number of masks.
  bool isPerHead = false;
  /// Usage text for messages when the parameter list alone cannot say it
  /// (gate takes a threshold or a top ratio).
  llvm::StringRef usage = {};
};

/// The pattern called `name`, or null.
const PatternInfo *lookupPattern(llvm::StringRef name);

/// Every pattern, in documentation order.
llvm::ArrayRef<PatternInfo> getAllPatterns();

} // namespace sattn::spec

#endif // SATTN_SPEC_PATTERNTABLE_H
