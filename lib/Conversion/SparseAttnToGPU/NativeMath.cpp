//===- NativeMath.cpp - softmax math without libdevice --------------------===//
//
// Implements NativeMath.h.
//
//===----------------------------------------------------------------------===//

#include "NativeMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;

void sattn::gpucodegen::lowerSoftmaxMathToNVPTX(Operation *root,
                                                bool flushSubnormals) {
  SmallVector<Operation *> ops;
  root->walk([&](Operation *op) {
    if (isa<math::Exp2Op, math::LogOp, math::FmaOp>(op) &&
        op->getResult(0).getType().isF32())
      ops.push_back(op);
  });
  IRRewriter rewriter(root->getContext());
  for (Operation *op : ops) {
    rewriter.setInsertionPoint(op);
    Location loc = op->getLoc();
    Value x = op->getOperand(0);
    // Intrinsic calls: convert-gpu-to-nvvm would redirect llvm.intr.exp2
    // and llvm.intr.fma to libdevice as well.
    Type f32 = rewriter.getF32Type();
    auto call = [&](StringRef intrinsic, ValueRange args) {
      return LLVM::CallIntrinsicOp::create(
                 rewriter, loc, f32, rewriter.getStringAttr(intrinsic), args)
          .getResult(0);
    };
    Value result;
    if (isa<math::FmaOp>(op)) {
      result = call("llvm.nvvm.fma.rn.f", op->getOperands());
    } else if (isa<math::Exp2Op>(op)) {
      result = call(flushSubnormals ? "llvm.nvvm.ex2.approx.ftz.f32"
                                    : "llvm.nvvm.ex2.approx.f32",
                    x);
    } else {
      Value ln2 = arith::ConstantOp::create(
          rewriter, loc, rewriter.getF32FloatAttr(static_cast<float>(M_LN2)));
      result = arith::MulFOp::create(rewriter, loc,
                                     call("llvm.nvvm.lg2.approx.f", x), ln2);
    }
    rewriter.replaceOp(op, result);
  }
}
