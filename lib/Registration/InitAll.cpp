//===- InitAll.cpp - one registration point for sattn ---------------------===//
//
// Implements the registration functions declared in sattn/InitAll.h.
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"

#include "Mask/IR/MaskOps.h"
#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void sattn::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<sattn::SparseAttnDialect, sattn::mask::MaskDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect,
                  mlir::func::FuncDialect>();
}

void sattn::registerAllPasses() {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  sattn::mask::registerMaskPasses();
}
