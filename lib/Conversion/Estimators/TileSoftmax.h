//===- TileSoftmax.h - softmax statistics of a tile's lines --*- C++ -*-===//
//
// The softmax statistics (maximum, then the sum of exp(logit - maximum))
// that XAttention's pool (a line per group row of the tile) and nsa's stats
// (a line per query of the tile's window) keep over logits that arrive a
// window at a time in the tile's f64 buffer. Why one copy: the exact form
// must fold every line in the reference's order (all maxima as std::max,
// then the sums in key order: two sweeps), the tensor-core form takes one
// sweep with a running maximum, and both stages need the same phases for
// either.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_ESTIMATORS_TILESOFTMAX_H
#define SATTN_LIB_CONVERSION_ESTIMATORS_TILESOFTMAX_H

#include "StageBuilders.h"

namespace sattn::estimator::stages {

/// A tile's lines and where their statistics live: line i keeps its
/// maximum at f64 entry maxAt + i and its sum at sumAt + i. A window's
/// logit of (line, member) is `factor` times the f64 entry slot(line,
/// member); line i takes the members [0, taken(i, window)) of window
/// `window`, in member order.
struct TileSoftmaxLines {
  int64_t lines, members;
  int64_t maxAt, sumAt;
  double factor;
  function_ref<Value(OpBuilder &, Location, Value line, Value member)> slot;
  function_ref<Value(OpBuilder &, Location, Value line, Value window)> taken;
  /// The exponentials' phase takes its items member by member (consecutive
  /// threads on consecutive lines): where the slots of a member's lines are
  /// consecutive entries.
  bool memberMajor = false;
};

/// Fills window `window`'s slots (all of them are read after it returns).
using WindowLogits = function_ref<void(OpBuilder &, Location, Value window)>;

/// The statistics of every line over windows [0, windows): a phase sets the
/// maxima to -inf and the sums to 0, then the windows' logits (from
/// `windowLogits`) are folded in. `oneSweep` false (exact builds): the
/// reference's order, every window for the maxima (folded as std::max),
/// then every window again for the sums of exp(logit - maximum), each line
/// in member order. `oneSweep` true (tensor-core builds, whose logits are
/// f32 sums already): each window once, the running sum rescaled by
/// exp(old - new) when a line's maximum grows.
void emitSoftmaxSweeps(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                       const TileSoftmaxLines &sm, Value windows, bool oneSweep,
                       WindowLogits windowLogits);

} // namespace sattn::estimator::stages

#endif // SATTN_LIB_CONVERSION_ESTIMATORS_TILESOFTMAX_H
