//===- IndexArith.h - index arithmetic for the attention builders -*- C++ -*-===//
//
// One-line builders for the `index` arithmetic every attention lowering
// writes (tile bounds, key positions, loop counters), so that the CPU and
// GPU builders and the shared segment iteration spell it the same way
// instead of each keeping private copies. Division and remainder are
// signed, as the closed forms of TileIteration.h assume.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CONVERSION_INDEXARITH_H
#define SATTN_CONVERSION_INDEXARITH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace sattn::indexarith {

inline mlir::Value cst(mlir::OpBuilder &b, mlir::Location loc, int64_t v) {
  return mlir::arith::ConstantIndexOp::create(b, loc, v);
}
inline mlir::Value add(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::AddIOp::create(b, loc, x, y);
}
inline mlir::Value sub(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::SubIOp::create(b, loc, x, y);
}
inline mlir::Value mul(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::MulIOp::create(b, loc, x, y);
}
inline mlir::Value div(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::DivSIOp::create(b, loc, x, y);
}
inline mlir::Value rem(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::RemSIOp::create(b, loc, x, y);
}
inline mlir::Value min(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::MinSIOp::create(b, loc, x, y);
}
inline mlir::Value max(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::MaxSIOp::create(b, loc, x, y);
}
inline mlir::Value cmp(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::arith::CmpIPredicate p, mlir::Value x,
                       mlir::Value y) {
  return mlir::arith::CmpIOp::create(b, loc, p, x, y);
}
/// An integer value (i64 kernel argument, table entry) as an index.
inline mlir::Value toIndex(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value v) {
  return mlir::arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}
/// ceil(x / n) for x >= 0 and a positive constant n.
inline mlir::Value ceilDiv(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value x, int64_t n) {
  return div(b, loc, add(b, loc, x, cst(b, loc, n - 1)), cst(b, loc, n));
}
/// scf.for over [0, n) without loop-carried values.
inline void
forEach(mlir::OpBuilder &b, mlir::Location loc, mlir::Value n,
        llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value)>
            body) {
  mlir::scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, 1), mlir::ValueRange{},
      [&](mlir::OpBuilder &nb, mlir::Location nl, mlir::Value iv,
          mlir::ValueRange) {
        body(nb, nl, iv);
        mlir::scf::YieldOp::create(nb, nl);
      });
}

/// An scf.for over [lo, end) (end > lo) that runs `unroll` steps per
/// iteration, each on its own position, so that the reads of an iteration
/// are in flight together; steps past the end repeat the last position, so
/// `step` must be an idempotent reduction of the carried values (min, max,
/// or). Returns the final carried values.
inline llvm::SmallVector<mlir::Value> reduceUnrolled(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value lo, mlir::Value end,
    int64_t unroll, mlir::ValueRange init,
    llvm::function_ref<llvm::SmallVector<mlir::Value>(
        mlir::OpBuilder &, mlir::Location, mlir::Value, mlir::ValueRange)>
        step) {
  auto loop = mlir::scf::ForOp::create(
      b, loc, lo, end, cst(b, loc, unroll), init,
      [&](mlir::OpBuilder &nb, mlir::Location nl, mlir::Value iv,
          mlir::ValueRange carried) {
        mlir::Value last = sub(nb, nl, end, cst(nb, nl, 1));
        llvm::SmallVector<mlir::Value> acc(carried.begin(), carried.end());
        for (int64_t u = 0; u < unroll; ++u)
          acc = step(nb, nl, min(nb, nl, add(nb, nl, iv, cst(nb, nl, u)), last), acc);
        mlir::scf::YieldOp::create(nb, nl, acc);
      });
  return llvm::SmallVector<mlir::Value>(loop.getResults());
}

} // namespace sattn::indexarith

#endif // SATTN_CONVERSION_INDEXARITH_H
