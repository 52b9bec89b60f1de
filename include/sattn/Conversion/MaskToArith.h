//===- MaskToArith.h - element masks as arith/math ops --------*- C++ -*-===//
//
// Emits, at a builder's insertion point, the i1 `keep(b, h, q, k)` of a mask
// value as arith/math/scf/memref ops. Every backend that applies element
// masks (the CPU reference on PARTIAL tiles, the GPU kernels per fragment
// element) uses this one emitter, so they all implement docs/MASK_SEMANTICS.md
// the same way.
//
// The emitter handles what `sattn-expand-masks` leaves behind: predicates
// (their bodies are cloned with b, h, q, k substituted; integer division and
// remainder are guarded so that division by zero yields 0 and INT_MIN / -1
// wraps, as the contract says), union / intersect / complement / per_head /
// full / empty, and tail_queries (which reads the key length). `mask.lookup`
// becomes a bounds-checked load from the table's flattened buffer; indices
// out of range read 0. Any other op (a named pattern that was not expanded,
// a dynamic pattern) is reported with a diagnostic.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_MASKTOARITH_H
#define SATTN_CONVERSION_MASKTOARITH_H

#include "Mask/IR/MaskOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

namespace sattn {
class KernelOp;

/// A copy of a kernel whose named patterns are rewritten into predicates
/// (the rewrites of `sattn-expand-masks`, applied by one walk), ready for
/// emitElementMask. The lowerings expand a copy so the original kernel keeps
/// its named patterns for the planner and the manifest; `owner` holds the
/// copy alive.
struct ExpandedKernel {
  mlir::OwningOpRef<mlir::ModuleOp> owner;
  KernelOp kernel();
};
mlir::FailureOr<ExpandedKernel> expandKernelCopy(KernelOp kernel);

/// A runtime table as the generated code sees it: a rank-1 memref of i64
/// holding the table row-major, and the extent of each declared dimension.
struct TableBinding {
  mlir::Value buffer;                        // memref<?xi64>
  llvm::SmallVector<mlir::Value, 3> extents; // index, one per dimension
};

/// Everything an element mask may read.
struct ElementMaskEnv {
  /// Batch, query head, absolute query and key positions (index).
  mlir::Value b, h, q, k;
  /// The key length Lk (index), read by `mask.tail_queries`.
  mlir::Value lk;
  /// Tables by symbol name.
  llvm::StringMap<TableBinding> tables;
};

/// Checks that every op reachable from `mask` is one the emitter handles,
/// reporting the first offender. Lets lowerings fail before building code.
mlir::LogicalResult verifyElementMaskLowerable(mlir::Value mask);

/// Emits keep(b, h, q, k) of `mask` (a `!mask.mask` value). The mask's ops
/// are read, never modified; shared subexpressions are emitted once.
mlir::FailureOr<mlir::Value> emitElementMask(mlir::OpBuilder &builder,
                                             mlir::Location loc,
                                             mlir::Value mask,
                                             const ElementMaskEnv &env);

/// Emits the value `inBody` of predicate `op`'s body (an op result or a
/// block argument of it) at env's (b, h, q, k), as emitElementMask computes
/// it there.
mlir::FailureOr<mlir::Value>
emitPredicateBodyValue(mlir::OpBuilder &builder, mlir::Location loc,
                       mask::PredicateOp op, mlir::Value inBody,
                       const ElementMaskEnv &env);

/// Emits a read of `table` at `indices` (index values, one per dimension):
/// 0 when any index lies outside [0, extent). The result is an i1 (value
/// != 0) or an index, as `resultType` asks. Branch-free: out of range it
/// loads element 0 and discards it, so the table must not be empty (no
/// kernel evaluates a mask then: every extent is at least 1 once Lk is).
mlir::Value emitTableLookup(mlir::OpBuilder &builder, mlir::Location loc,
                            const TableBinding &table,
                            mlir::ValueRange indices, mlir::Type resultType);

/// Emits the extents of `table`'s dimensions (b -> batch, h -> heads,
/// q / k -> lk, q/N / k/N -> ceil(lk / N), literal -> itself).
llvm::SmallVector<mlir::Value, 3>
emitTableExtents(mlir::OpBuilder &builder, mlir::Location loc,
                 mask::TableOp table, mlir::Value batch, mlir::Value heads,
                 mlir::Value lk);

} // namespace sattn

#endif // SATTN_CONVERSION_MASKTOARITH_H
