//===- TensorMapParams.cpp - sattn-tensor-map-params ----------------------===//
//
// Turns the tensor-map arguments of lowered sm_90a kernels into by-value
// grid constants. They have to be by value: a tensor map in device memory
// would need a copy per launch (and per stream), while a kernel parameter
// travels with the launch, also inside a captured CUDA graph.
//
//===----------------------------------------------------------------------===//

#include "NVVMLowering.h"

#include "sattn/Core/KernelAbi.h"
#include "sattn/Target/LaunchInfo.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace sattn::pipeline {
#define GEN_PASS_DEF_TENSORMAPPARAMS
#include "sattn/Pipelines/Passes.h.inc"
} // namespace sattn::pipeline

using namespace mlir;

namespace {
struct TensorMapParams
    : public sattn::pipeline::impl::TensorMapParamsBase<TensorMapParams> {
  void runOnOperation() override {
    getOperation()->walk([&](LLVM::LLVMFuncOp func) {
      auto positions =
          func->getAttrOfType<DenseI64ArrayAttr>(sattn::target::kTensorMapArgsAttr);
      if (!positions)
        return;
      Builder b(func.getContext());
      auto bytes = LLVM::LLVMArrayType::get(b.getI8Type(),
                                            sattn::abi::kTensorMapBytes);
      for (int64_t i : positions.asArrayRef()) {
        if (i < 0 || i >= func.getNumArguments() ||
            !isa<LLVM::LLVMPointerType>(func.getArgument(i).getType())) {
          func.emitError() << "'" << sattn::target::kTensorMapArgsAttr
                           << "' names argument " << i
                           << ", which is not a pointer argument";
          return signalPassFailure();
        }
        func.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                        TypeAttr::get(bytes));
        func.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                        b.getI64IntegerAttr(sattn::abi::kTensorMapAlign));
        func.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                        b.getUnitAttr());
      }
    });
  }
};
} // namespace
