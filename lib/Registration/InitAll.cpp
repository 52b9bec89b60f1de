//===- InitAll.cpp - one registration point for sattn ---------------------===//
//
// Implements the registration functions declared in sattn/InitAll.h.
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"

#include "Mask/IR/MaskOps.h"
#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Transforms/Passes.h"
#include "sattn/Conversion/Passes.h"
#include "sattn/Pipelines/Pipelines.h"
#include "sattn/Pipelines/GPUPipeline.h"
#include "sattn/Target/PTX.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void sattn::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<sattn::SparseAttnDialect, sattn::mask::MaskDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect,
                  mlir::func::FuncDialect>();
  // What the CPU lowering produces, so that its output parses again.
  registry.insert<mlir::scf::SCFDialect, mlir::memref::MemRefDialect,
                  mlir::cf::ControlFlowDialect, mlir::LLVM::LLVMDialect>();
  // What the GPU lowering produces, and what lowers it to PTX.
  sattn::target::registerGPUCompilationDialects(registry);
}

void sattn::registerAllPasses() {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  sattn::mask::registerMaskPasses();
  sattn::registerSparseAttnPasses();
  sattn::registerSattnConversionPasses();
  sattn::registerSattnPipelines();
  sattn::registerSattnGPUPipeline();
  sattn::target::registerSattnTargetPasses();
}
