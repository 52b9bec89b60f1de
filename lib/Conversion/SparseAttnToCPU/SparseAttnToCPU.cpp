//===- SparseAttnToCPU.cpp - convert-sattn-to-cpu -------------------------===//
//
// The pass that adds `@NAME_cpu` (and on request `@NAME_plan_cpu` and
// `@NAME_bwd_cpu`) for every `sattn.kernel @NAME`, and `@NAME_estimate_cpu`
// for a kernel with a compiled estimator (`sattn.estimator`). Named mask
// patterns are expanded into predicates on a private copy of each kernel
// (`sattn-expand-masks`), so the element-mask emitter only sees what it
// handles while the kernel itself keeps the named patterns the tile
// planner's closed forms rely on.
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/Passes.h"
#include "sattn/Conversion/SparseAttnToCPU.h"

#include "sattn/Conversion/MaskToArith.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

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
    cpu::CpuLoweringOptions options{blockM, blockN, devicePlanLists};
    for (KernelOp kernel : kernels) {
      std::string name = cpu::entryName(kernel.getSymName());
      if (module.lookupSymbol(name)) {
        kernel.emitError() << "cannot add @" << name
                           << ": the symbol already exists";
        return signalPassFailure();
      }
      FailureOr<ExpandedKernel> copy = expandKernelCopy(kernel);
      if (failed(copy) ||
          failed(cpu::buildCpuEntry(builder, copy->kernel(), options)))
        return signalPassFailure();
      if (devicePlans &&
          failed(cpu::buildCpuPlanEntry(builder, copy->kernel(), options)))
        return signalPassFailure();
      if (backward &&
          failed(cpu::buildCpuBackwardEntry(builder, copy->kernel(), options)))
        return signalPassFailure();
      FailureOr<std::optional<plan::EstimatorSpec>> estimator =
          plan::readEstimator(kernel);
      if (failed(estimator))
        return signalPassFailure();
      if (*estimator) {
        (*estimator)->tensorLogits = tensorEstimators && (*estimator)->hasQueryLogits();
        if (failed(cpu::buildCpuEstimatorEntry(builder, kernel, **estimator, estimatorLaunches)))
          return signalPassFailure();
      }
    }
    if (eraseKernels)
      for (KernelOp kernel : kernels)
        kernel.erase();
  }
};

} // namespace
