//===- MaskEval.h - what a mask program keeps -----------------*- C++ -*-===//
//
// The reference semantics of docs/MASK_SEMANTICS.md on a MaskProgram:
// keep(b, h, q, k) for absolute positions, reading only the program's arrays
// and the caller's tables. CompiledMask (the compiler's front end) and the
// tile planner's exact tier both call these, so there is one evaluator.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_MASKEVAL_H
#define SATTN_CORE_MASKEVAL_H

#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"

#include <string>

namespace sattn {

/// True when node `node` keeps the pair (q, k) of batch b and head h. Tables
/// missing from `inputs` or indices out of range read 0.
bool evalMaskNode(const MaskProgram &program, uint32_t node,
                  const MaskInputs &inputs, int64_t b, int64_t h, int64_t q,
                  int64_t k);

inline bool evalMask(const MaskProgram &program, const MaskInputs &inputs,
                     int64_t b, int64_t h, int64_t q, int64_t k) {
  return evalMaskNode(program, program.root, inputs, b, h, q, k);
}

/// The head offset of a strided node at head h.
int64_t evalHeadOffset(const MaskProgram &program, const Node &node,
                       int64_t h);

/// Checks that `inputs` provides every table the program reads with the
/// shape implied by its declaration; returns a message, or "" when
/// consistent.
std::string checkMaskInputs(const MaskProgram &program,
                            const MaskInputs &inputs);

} // namespace sattn

#endif // SATTN_CORE_MASKEVAL_H
