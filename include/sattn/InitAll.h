//===- InitAll.h - one registration point for sattn -----------*- C++ -*-===//
//
// sparse-opt, sattn-compile and the tests register dialects and passes
// through these two functions only, so every tool sees the same set.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_INITALL_H
#define SATTN_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace sattn {
/// Registers the sattn and mask dialects plus the upstream dialects that
/// sattn IR uses (arith, math, func, ...).
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every sattn pass and pipeline with the global pass registry.
void registerAllPasses();
} // namespace sattn

#endif // SATTN_INITALL_H
