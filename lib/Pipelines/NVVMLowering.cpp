//===- NVVMLowering.cpp - sattn's passes around convert-gpu-to-nvvm -------===//
//
// Implements NVVMLowering.h: the pieces that let the GPU pipeline lower with
// a 32-bit index, kept out of the pipeline's assembly in GPUPipeline.cpp.
//
//===----------------------------------------------------------------------===//

#include "NVVMLowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace sattn::pipeline {
#define GEN_PASS_DEF_NVGPUTONVVMINDEX
#define GEN_PASS_DEF_EXPANDINTEGERABS
#define GEN_PASS_DEF_FOLDMEMREFTOPOINTERCASTS
#include "sattn/Pipelines/Passes.h.inc"
} // namespace sattn::pipeline

#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/Support/CommandLine.h"

#include <mutex>

using namespace mlir;

namespace {
/// 32-bit shared, constant and local pointers in the NVPTX backend
/// (llc's -nvptx-short-ptr). The backend takes its data layout from this
/// option, not from the module, so a p3:32 entry in the module's layout alone
/// changes nothing. Shared addresses then stay 32-bit: no cvt.u64.u32 and
/// 64-bit adds for every ldmatrix, cp.async and shared load or store.
void useShortNVPTXPointers() {
  // Once per process: passes on several gpu.modules may run in parallel.
  static std::once_flag once;
  std::call_once(once, [] {
    auto &options = llvm::cl::getRegisteredOptions();
    auto it = options.find("nvptx-short-ptr");
    if (it == options.end())
      return;
    auto *flag = static_cast<llvm::cl::opt<bool> *>(it->second);
    flag->setValue(true);
  });
}

/// convert-nvgpu-to-nvvm with a chosen index width. The upstream pass builds
/// its type converter with the default options (64-bit index) and has no
/// option to change that; its 64-bit memref descriptors and index casts then
/// meet convert-gpu-to-nvvm's 32-bit ones, and reconcile-unrealized-casts
/// cannot remove the pairs (index -> i64 after i32 -> index).
struct NVGPUToNVVMIndexPass
    : public sattn::pipeline::impl::NVGPUToNVVMIndexBase<NVGPUToNVVMIndexPass> {
  using NVGPUToNVVMIndexBase::NVGPUToNVVMIndexBase;
  void runOnOperation() override {
    useShortNVPTXPointers();
    MLIRContext *ctx = &getContext();
    LowerToLLVMOptions options(ctx);
    options.overrideIndexBitwidth(indexBitwidth);
    LLVMTypeConverter converter(ctx, options);
    nvgpu::populateCommonGPUTypeAndAttributeConversions(converter);
    // cp.async tokens have no NVVM value; the patterns drop them.
    converter.addConversion([&](nvgpu::DeviceAsyncTokenType type) -> Type {
      return converter.convertType(IntegerType::get(type.getContext(), 32));
    });
    RewritePatternSet patterns(ctx);
    populateNVGPUToNVVMConversionPatterns(converter, patterns);
    LLVMConversionTarget target(*ctx);
    target.addLegalDialect<LLVM::LLVMDialect, NVVM::NVVMDialect>();
    target.addIllegalDialect<nvgpu::NVGPUDialect>();
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

/// math.absi as arith: convert-gpu-to-nvvm maps an i32 absi to libdevice's
/// __nv_abs, which the PTX-only flow does not link (with 64-bit index, the
/// i64 form fell through to the generic lowering).
struct ExpandIntegerAbs
    : public sattn::pipeline::impl::ExpandIntegerAbsBase<ExpandIntegerAbs> {
  void runOnOperation() override {
    SmallVector<math::AbsIOp> ops;
    getOperation()->walk([&](math::AbsIOp op) { ops.push_back(op); });
    for (math::AbsIOp op : ops) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value x = op.getOperand();
      Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
      Value neg = arith::SubIOp::create(b, loc, zero, x);
      Value isNeg =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, zero);
      op.replaceAllUsesWith(
          arith::SelectOp::create(b, loc, isNeg, neg, x).getResult());
      op.erase();
    }
  }
};

/// The lowering reads a kernel pointer argument through
/// `unrealized_conversion_cast %arg : memref<T> to !llvm.ptr`
/// (GpuAttentionBuilder's rebased views). After convert-gpu-to-nvvm the
/// memref comes from a cast of its bare-pointer descriptor; take the
/// descriptor's aligned pointer so that reconcile-unrealized-casts finds no
/// memref left.
struct FoldMemRefToPointerCasts
    : public sattn::pipeline::impl::FoldMemRefToPointerCastsBase<
          FoldMemRefToPointerCasts> {
  void runOnOperation() override {
    SmallVector<UnrealizedConversionCastOp> casts;
    getOperation()->walk([&](UnrealizedConversionCastOp op) {
      if (op->getNumOperands() == 1 && op->getNumResults() == 1 &&
          isa<LLVM::LLVMPointerType>(op.getResult(0).getType()) &&
          isa<MemRefType>(op.getOperand(0).getType()))
        casts.push_back(op);
    });
    for (UnrealizedConversionCastOp op : casts) {
      auto inner =
          op.getOperand(0).getDefiningOp<UnrealizedConversionCastOp>();
      if (!inner || inner->getNumOperands() != 1 ||
          !isa<LLVM::LLVMStructType>(inner.getOperand(0).getType())) {
        op.emitError("pointer of a memref without an LLVM descriptor");
        return signalPassFailure();
      }
      OpBuilder b(op);
      Value aligned = LLVM::ExtractValueOp::create(
          b, op.getLoc(), inner.getOperand(0), ArrayRef<int64_t>{1});
      op.getResult(0).replaceAllUsesWith(aligned);
      op.erase();
      if (inner->use_empty())
        inner.erase();
    }
  }
};
} // namespace
