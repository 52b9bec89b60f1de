//===- PlanSegments.h - statuses to segments (private) --------*- C++ -*-===//
//
// The count, scan and write stages of the device plan builder, and the
// helpers the stages share. Private to lib/Conversion/DevicePlan.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H
#define SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace sattn::deviceplan::stages {

inline mlir::Value i32(mlir::OpBuilder &b, mlir::Location loc, int32_t v) {
  return mlir::arith::ConstantIntOp::create(b, loc, v, 32);
}
/// An i64 buffer element as an index, and back.
inline mlir::Value loadIndex(mlir::OpBuilder &b, mlir::Location loc, mlir::Value memref,
                             mlir::Value at) {
  return indexarith::toIndex(b, loc, mlir::memref::LoadOp::create(b, loc, memref, at));
}
inline void storeIndex(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v,
                       mlir::Value memref, mlir::Value at) {
  mlir::memref::StoreOp::create(
      b, loc, mlir::arith::IndexCastOp::create(b, loc, b.getI64Type(), v), memref, at);
}

/// With column lists, where `counts` holds the listed keys (after the
/// column bounds): a count per piece (C * T * P), then a total per row
/// (C * T, zeroed by classify).
mlir::Value pieceColumnsBase(mlir::OpBuilder &b, mlir::Location loc,
                             const PlanBuilderEnv &env);
mlir::Value rowColumnsBase(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env);

/// Count item (class, query tile, piece): the segments starting in the
/// piece, stored and added to the query tile's total.
void emitCountItem(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                   mlir::Value item);
/// Scan item (class): its class index entries and offsets.
void emitScan(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
              mlir::Value c);
/// Write item (class, query tile, piece): the segments starting in the piece.
void emitWriteItem(mlir::OpBuilder &b, mlir::Location loc, const PlanBuilderEnv &env,
                   mlir::Value item);

} // namespace sattn::deviceplan::stages

#endif // SATTN_LIB_CONVERSION_DEVICEPLAN_PLANSEGMENTS_H
