//===- SparseAttnToCPU.cpp - convert-sattn-to-cpu -------------------------===//
//
// The pass that adds `@NAME_cpu` for every `sattn.kernel @NAME`. Named mask
// patterns are expanded into predicates on a private copy of each kernel
// (`sattn-expand-masks`), so the element-mask emitter only sees what it
// handles while the kernel itself keeps the named patterns the tile
// planner's closed forms rely on.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Passes.h"
#include "sattn/Conversion/SparseAttnToCPU.h"

#include "Mask/Transforms/Passes.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/PassManager.h"

namespace sattn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOCPU
#include "sattn/Conversion/Passes.h.inc"
} // namespace sattn

using namespace mlir;
using namespace sattn;

namespace {

struct ConvertSparseAttnToCPUPass
    : public sattn::impl::ConvertSparseAttnToCPUBase<
          ConvertSparseAttnToCPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<KernelOp> kernels(module.getOps<KernelOp>());
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    cpu::CpuLoweringOptions options{blockM, blockN};
    for (KernelOp kernel : kernels) {
      std::string name = cpu::entryName(kernel.getSymName());
      if (module.lookupSymbol(name)) {
        kernel.emitError() << "cannot add @" << name
                           << ": the symbol already exists";
        return signalPassFailure();
      }
      // Expand a copy: a scratch module owns it and is dropped afterwards.
      OwningOpRef<ModuleOp> scratch = ModuleOp::create(kernel.getLoc());
      scratch->push_back(kernel->clone());
      PassManager expand(&getContext(), ModuleOp::getOperationName());
      expand.addPass(mask::createExpandMasks());
      if (failed(expand.run(*scratch)))
        return signalPassFailure();
      auto copy = *scratch->getOps<KernelOp>().begin();
      if (failed(cpu::buildCpuEntry(builder, copy, options)))
        return signalPassFailure();
    }
    if (eraseKernels)
      for (KernelOp kernel : kernels)
        kernel.erase();
  }
};

} // namespace
