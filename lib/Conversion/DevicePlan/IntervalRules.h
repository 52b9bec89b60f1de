//===- IntervalRules.h - integer intervals over a tile --------*- C++ -*-===//
//
// The integer half of TileIntervals: emitted code for the range of an
// index value of a predicate body over every pair of a tile, op by op.
// Besides the bounds, each interval says whether its bounds are attained
// (`tight`), whether every value between them is (`dense`), and which
// positions it depends on, so that comparisons can say not only "may" and
// "must" but also "some pair surely keeps / drops" (TileTruth). Private to
// lib/Conversion/DevicePlan.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_DEVICEPLAN_INTERVALRULES_H
#define SATTN_LIB_CONVERSION_DEVICEPLAN_INTERVALRULES_H

#include "mlir/IR/Builders.h"

namespace sattn::tileintervals {

/// Positions an interval depends on (bits).
enum PositionVars : unsigned { kNoPositions = 0, kQueryPosition = 1, kKeyPosition = 2 };

/// An integer value over the tile: lo <= v <= hi for every pair unless
/// `unbounded`. `tight`: lo and hi are each the value of some pair;
/// `dense`: every integer in [lo, hi] is (i1 values, meaningful only when
/// bounded). `positions`: the positions it depends on: values over
/// disjoint positions take their values independently.
struct Interval {
  mlir::Value lo, hi, unbounded, tight, dense;
  unsigned positions = kNoPositions;
};

mlir::Value boolConst(mlir::OpBuilder &b, mlir::Location loc, bool v);
mlir::Value andI(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y);
mlir::Value orI(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value y);
mlir::Value notI(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);
mlir::Value select(mlir::OpBuilder &b, mlir::Location loc, mlir::Value c, mlir::Value x,
                   mlir::Value y);

/// Whether two intervals depend on disjoint positions.
inline bool independent(const Interval &x, const Interval &y) {
  return (x.positions & y.positions) == 0;
}

/// Emits interval arithmetic. Every rule is sound for every input: an
/// interval whose computation may wrap is unbounded.
class IntervalRules {
public:
  IntervalRules(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  /// A value fixed over the tile (a constant, the batch or head index).
  Interval point(mlir::Value v);
  Interval unbounded();
  /// A position ranging over [lo, hi] (every value attained).
  Interval position(mlir::Value lo, mlir::Value hi, unsigned which);

  Interval addSub(const Interval &x, const Interval &y, bool subtract);
  Interval mulConstant(const Interval &x, int64_t c);
  /// Division by a constant, as `op` (divsi, floordivsi or ceildivsi) divides.
  Interval divConstant(mlir::Operation &op, const Interval &x, int64_t c);
  Interval remConstant(const Interval &x, int64_t c);
  Interval absolute(const Interval &x);
  Interval minMax(const Interval &x, const Interval &y, bool isMin);
  /// The hull of two intervals (neither bound attained for sure).
  Interval hull(const Interval &x, const Interval &y);

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace sattn::tileintervals

#endif // SATTN_LIB_CONVERSION_DEVICEPLAN_INTERVALRULES_H
