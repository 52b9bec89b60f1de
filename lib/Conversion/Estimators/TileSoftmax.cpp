//===- TileSoftmax.cpp - softmax statistics of a tile's lines -------------===//
//
// The sweeps of TileSoftmax.h: per window, each line's maximum folded in
// (one thread per line, members in order), every exp(logit - maximum) in
// parallel, then each line's sum of them in member order; in one sweep
// (tensor-core builds) the line's thread adds the exponentials itself right
// after its maximum, one phase per window instead of three.
//
//===----------------------------------------------------------------------===//

#include "TileSoftmax.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::estimator;
using namespace sattn::estimator::stages;

namespace {

/// The logit of (line, member) of the window in the slots.
Value logitAt(OpBuilder &b, Location loc, const TileRunner &run, const TileSoftmaxLines &sm,
              Value line, Value member) {
  Scalar s{b, loc};
  return s.fmul(s.f64(sm.factor), s.loadAt(run.shared, sm.slot(b, loc, line, member)));
}

/// Folds `value(member)` over the members line `line` takes of window
/// `window`, in order, into the f64 entry `at` (unrolled by kFoldUnroll).
void foldLine(OpBuilder &b, Location loc, const TileRunner &run, const TileSoftmaxLines &sm,
              Value line, Value window, Value at,
              function_ref<Value(OpBuilder &, Location, Value)> value,
              function_ref<Value(Scalar &, Value, Value)> step) {
  Scalar s{b, loc};
  Value init = s.loadAt(run.shared, at);
  Value taken = sm.taken(b, loc, line, window);
  s.storeAt(foldInOrder(b, loc, cst(b, loc, 0), taken, init, kFoldUnroll, value, step), run.shared,
            at);
}

/// Each line's maximum over the window, folded as std::max; with `rescale`
/// its running sum (taken against the old maximum) follows a new maximum
/// (unchanged while the maximum is, -inf included), and with `sums` the
/// line's thread then adds the window's exp(logit - maximum) to it in
/// member order (the same sums as addExponentials', without their phase
/// and their trip through the slots).
void foldMaxima(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                const TileSoftmaxLines &sm, Value window, bool rescale, bool sums = false) {
  run.phase(b, loc, cst(b, loc, sm.lines), [&](OpBuilder &pb, Location pl, Value line) {
    Scalar s{pb, pl};
    Value maxAt = add(pb, pl, cst(pb, pl, sm.maxAt), line);
    Value before = s.loadAt(run.shared, maxAt);
    foldLine(
        pb, pl, run, sm, line, window, maxAt,
        [&](OpBuilder &nb, Location nl, Value member) {
          return logitAt(nb, nl, run, sm, line, member);
        },
        [](Scalar &ns, Value acc, Value x) {
          return ns.select(ns.fcmp(CmpFPredicate::OLT, acc, x), x, acc);
        });
    if (!rescale)
      return;
    Value after = s.loadAt(run.shared, maxAt);
    Value factor = s.select(s.fcmp(CmpFPredicate::OEQ, before, after), s.f64(1.0),
                            env.exp(pb, pl, s.fsub(before, after)));
    Value sumAt = add(pb, pl, cst(pb, pl, sm.sumAt), line);
    s.storeAt(s.fmul(s.loadAt(run.shared, sumAt), factor), run.shared, sumAt);
    if (!sums)
      return;
    foldLine(
        pb, pl, run, sm, line, window, sumAt,
        [&](OpBuilder &nb, Location nl, Value member) {
          Scalar ns{nb, nl};
          return env.exp(nb, nl, ns.fsub(logitAt(nb, nl, run, sm, line, member), after));
        },
        [](Scalar &ns, Value acc, Value x) { return ns.fadd(acc, x); });
  });
}

/// Every exp(logit - maximum) of the window in place of its logit, then
/// each line's sum of them in member order.
void addExponentials(OpBuilder &b, Location loc, const EstimatorEnv &env, const TileRunner &run,
                     const TileSoftmaxLines &sm, Value window) {
  Value lines = cst(b, loc, sm.lines), members = cst(b, loc, sm.members);
  run.phase(b, loc, cst(b, loc, sm.lines * sm.members), [&](OpBuilder &pb, Location pl, Value at) {
    Value line = sm.memberMajor ? rem(pb, pl, at, lines) : div(pb, pl, at, members);
    Value member = sm.memberMajor ? div(pb, pl, at, lines) : rem(pb, pl, at, members);
    Value taken = sm.taken(pb, pl, line, window);
    scf::IfOp::create(pb, pl, cmp(pb, pl, CmpIPredicate::slt, member, taken),
                      [&](OpBuilder &eb, Location el) {
                        Scalar s{eb, el};
                        Value logit = logitAt(eb, el, run, sm, line, member);
                        Value lineMax =
                            s.loadAt(run.shared, add(eb, el, cst(eb, el, sm.maxAt), line));
                        s.storeAt(env.exp(eb, el, s.fsub(logit, lineMax)), run.shared,
                                  sm.slot(eb, el, line, member));
                        scf::YieldOp::create(eb, el);
                      });
  });
  run.phase(b, loc, lines, [&](OpBuilder &pb, Location pl, Value line) {
    foldLine(
        pb, pl, run, sm, line, window, add(pb, pl, cst(pb, pl, sm.sumAt), line),
        [&](OpBuilder &nb, Location nl, Value member) {
          Scalar ns{nb, nl};
          return ns.loadAt(run.shared, sm.slot(nb, nl, line, member));
        },
        [](Scalar &ns, Value acc, Value x) { return ns.fadd(acc, x); });
  });
}

} // namespace

void stages::emitSoftmaxSweeps(OpBuilder &b, Location loc, const EstimatorEnv &env,
                               const TileRunner &run, const TileSoftmaxLines &sm, Value windows,
                               bool oneSweep, WindowLogits windowLogits) {
  run.phase(b, loc, cst(b, loc, sm.lines), [&](OpBuilder &pb, Location pl, Value line) {
    Scalar s{pb, pl};
    s.storeAt(s.f64(-std::numeric_limits<double>::infinity()), run.shared,
              add(pb, pl, cst(pb, pl, sm.maxAt), line));
    s.storeAt(s.f64(0.0), run.shared, add(pb, pl, cst(pb, pl, sm.sumAt), line));
  });
  if (oneSweep) {
    forEach(b, loc, windows, [&](OpBuilder &wb, Location wl, Value window) {
      windowLogits(wb, wl, window);
      foldMaxima(wb, wl, env, run, sm, window, /*rescale=*/true, /*sums=*/true);
    });
    return;
  }
  forEach(b, loc, windows, [&](OpBuilder &wb, Location wl, Value window) {
    windowLogits(wb, wl, window);
    foldMaxima(wb, wl, env, run, sm, window, /*rescale=*/false);
  });
  forEach(b, loc, windows, [&](OpBuilder &wb, Location wl, Value window) {
    windowLogits(wb, wl, window);
    addExponentials(wb, wl, env, run, sm, window);
  });
}
