//===- WindowMaskBits.cpp - PARTIAL tiles' masks from window words --------===//
//
// Implements WindowMaskBits.h: ballots (nvvm.vote.sync), bit reversal and
// funnel shifts (LLVM intrinsics), the rest arith on i32 / i64 words.
//
//===----------------------------------------------------------------------===//

#include "WindowMaskBits.h"

#include "HopperSync.h"

#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

/// Offsets below a warp's window: the window's first bit is offset index
/// -17, so that every thread's shift into it lies in [0, 32) (offsetWindow).
static constexpr int64_t kOffsetLead = 17;

WindowMaskBits::WindowMaskBits(OpBuilder &b, Location loc,
                               const WindowLayout &layout,
                               const ElementMaskEnv &env, Value k0)
    : b(b), loc(loc), layout(layout), env(env), k0(k0),
      words(layout.blockN / 32) {
  assert(layout.blockN % 32 == 0 && "window words hold 32 keys each");
}

FailureOr<Value> WindowMaskBits::node(const SeparatedMask &mask, unsigned n) {
  if (Value known = memo.lookup(n))
    return known;
  const SeparatedNode &node = mask.nodes[n];
  Value bits;
  if (std::optional<TermDependence> d = mask.dependenceOf(n)) {
    // A subtree of one quantity is one term: evaluated whole per value.
    bool failedTerm = false;
    auto term = [&](OpBuilder &b, Location loc, Value q, Value k) -> Value {
      ElementMaskEnv at = env;
      at.q = q;
      at.k = k;
      FailureOr<Value> v = emitSeparatedNode(b, loc, mask, n, at);
      if (failed(v)) {
        failedTerm = true;
        return arith::ConstantIntOp::create(b, loc, false, 1);
      }
      return *v;
    };
    bits = window(*d, term);
    if (failedTerm)
      return failure();
  } else {
    SmallVector<Value> inputs;
    for (unsigned child : node.children) {
      FailureOr<Value> v = this->node(mask, child);
      if (failed(v))
        return failure();
      inputs.push_back(*v);
    }
    bits = emitSeparatedCombine(b, loc, node, inputs, env.h, b.getI64Type());
  }
  memo[n] = bits;
  return bits;
}

Value WindowMaskBits::window(TermDependence d, TermAt term) {
  switch (d) {
  case TermDependence::Invariant:
    return spread(term(b, loc, layout.queryPos[0], k0), -1);
  case TermDependence::Query:
    // Values 4j and 4j + 1 are the first row's, 4j + 2 and 4j + 3 the second's.
    return arith::OrIOp::create(
        b, loc, spread(term(b, loc, layout.queryPos[0], k0), 0x3333333333333333),
        spread(term(b, loc, layout.queryPos[1], k0),
               static_cast<int64_t>(0xCCCCCCCCCCCCCCCCull)));
  case TermDependence::Key:
    return keyWindow(term);
  case TermDependence::Offset:
    return offsetWindow(term);
  }
  llvm_unreachable("unknown term dependence");
}

Value WindowMaskBits::i32(int64_t v) { return hopper::i32Const(b, loc, v); }

Value WindowMaskBits::i64(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

/// `pattern` where the i1 `v` holds, else 0.
Value WindowMaskBits::spread(Value v, int64_t pattern) {
  return arith::SelectOp::create(b, loc, v, i64(pattern), i64(0));
}

Value WindowMaskBits::ballot(Value pred) {
  return NVVM::VoteSyncOp::create(b, loc, b.getI32Type(), i32(-1), pred,
                                  NVVM::VoteSyncKind::ballot);
}

/// Bits 8i and 8i + 1 of `x` (i32, i < 4) moved to bits 4i and 4i + 1: a
/// thread's two columns of four 8-column tiles, in value order.
Value WindowMaskBits::compress(Value x) {
  Value y = arith::AndIOp::create(b, loc, x, i32(0x03030303));
  y = arith::AndIOp::create(
      b, loc, arith::OrIOp::create(b, loc, y, arith::ShRUIOp::create(b, loc, y, i32(4))),
      i32(0x00330033));
  return arith::AndIOp::create(
      b, loc, arith::OrIOp::create(b, loc, y, arith::ShRUIOp::create(b, loc, y, i32(8))),
      i32(0x3333));
}

/// Ors the compressed pairs of word m into `bits`: for row half `half`, or
/// for both rows when `half` < 0.
Value WindowMaskBits::place(Value bits, Value pairs, int64_t m, int64_t half) {
  Value nibbles =
      half < 0 ? arith::OrIOp::create(b, loc, pairs,
                                      arith::ShLIOp::create(b, loc, pairs, i32(2)))
                     .getResult()
               : pairs;
  Value wide = arith::ExtUIOp::create(b, loc, b.getI64Type(), nibbles);
  int64_t shift = 16 * m + (half < 0 ? 0 : 2 * half);
  return arith::OrIOp::create(b, loc, bits,
                              arith::ShLIOp::create(b, loc, wide, i64(shift)));
}

Value WindowMaskBits::keyWindow(TermAt term) {
  // Word m: keys k0 + 32m + lane. The thread's columns quadColumn + 8j + c
  // are bits 8j' + c of the word shifted right by quadColumn.
  Value bits = i64(0);
  Value shift = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), layout.quadColumn);
  for (int64_t m = 0; m < words; ++m) {
    Value key = add(b, loc, k0, add(b, loc, layout.lane, cst(b, loc, 32 * m)));
    Value word = ballot(term(b, loc, layout.queryPos[0], key));
    bits = place(bits, compress(arith::ShRUIOp::create(b, loc, word, shift)), m, -1);
  }
  return bits;
}

Value WindowMaskBits::offsetWindow(TermAt term) {
  // Pair (row r of the 16, column c) has offset index t = r - c + BN - 1 in
  // [0, BN + 15); window bit P = t + kOffsetLead is evaluated at the last
  // row and the key that gives that offset (k0 + BN + 31 - P). Reversed,
  // bit v of R is window bit 32 (W + 1) - 1 - v, and the thread's column
  // quadColumn + u of row half h is bit u + a_h of R with
  // a_h = 15 - 8h - group + quadColumn, in [0, 22): a funnel shift per word.
  Value lastRow = add(b, loc, sub(b, loc, layout.queryPos[0], layout.group),
                      cst(b, loc, 15));
  SmallVector<Value> window;
  for (int64_t p = 0; p <= words; ++p) {
    Value bit = add(b, loc, layout.lane, cst(b, loc, 32 * p));
    Value key = sub(
        b, loc, add(b, loc, k0, cst(b, loc, layout.blockN + 14 + kOffsetLead)), bit);
    window.push_back(ballot(term(b, loc, lastRow, key)));
  }
  SmallVector<Value> reversed;
  for (int64_t i = 0; i <= words; ++i)
    reversed.push_back(LLVM::BitReverseOp::create(b, loc, window[words - i]));
  Value bits = i64(0);
  for (int64_t half = 0; half < 2; ++half) {
    Value shift = arith::IndexCastUIOp::create(
        b, loc, b.getI32Type(),
        sub(b, loc, add(b, loc, layout.quadColumn, cst(b, loc, 15 - 8 * half)),
            layout.group));
    for (int64_t m = 0; m < words; ++m) {
      Value word = LLVM::FshrOp::create(b, loc, reversed[m + 1], reversed[m], shift);
      bits = place(bits, compress(word), m, half);
    }
  }
  return bits;
}
