//===- GPUPipeline.cpp - sattn-gpu-pipeline -------------------------------===//
//
// From sattn kernels to PTX. sattn's own pass stops at gpu/nvgpu/nvvm ops;
// everything after is upstream, in the order that works for the ops the
// lowering emits:
//   - arith-expand: floor/ceil divisions of mask predicates have no LLVM
//     lowering of their own;
//   - convert-nvgpu-to-nvvm: ldmatrix and cp.async to NVVM (our copy of
//     the upstream pass, with a 32-bit index: kGpuIndexBitwidth);
//   - convert-scf-to-cf, math.absi to arith (an i32 absi would become a
//     libdevice call), then convert-gpu-to-nvvm with bare pointers (the
//     kernel ABI passes plain device pointers) and the same 32-bit index;
//     the rebased tile pointers' casts are resolved right after;
//   - convert-math-to-llvm afterwards: convert-gpu-to-nvvm lowers the math
//     ops that have NVVM or libdevice forms (exp2, log) and leaves integer
//     ones such as math.absi, which the generic lowering handles;
//   - nvvm-attach-target, reconcile-unrealized-casts and
//     gpu-module-to-binary{format=isa}, which keeps the PTX text.
//
//===----------------------------------------------------------------------===//

#include "sattn/Pipelines/GPUPipeline.h"

#include "sattn/Conversion/Passes.h"

#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"

using namespace mlir;

namespace {
/// convert-nvgpu-to-nvvm with a chosen index width. The upstream pass builds
/// its type converter with the default options (64-bit index) and has no
/// option to change that; its 64-bit memref descriptors and index casts then
/// meet convert-gpu-to-nvvm's 32-bit ones, and reconcile-unrealized-casts
/// cannot remove the pairs (index -> i64 after i32 -> index).
struct NVGPUToNVVMIndexPass
    : public PassWrapper<NVGPUToNVVMIndexPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(NVGPUToNVVMIndexPass)
  explicit NVGPUToNVVMIndexPass(unsigned indexBitwidth)
      : indexBitwidth(indexBitwidth) {}
  StringRef getArgument() const override { return "sattn-nvgpu-to-nvvm"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect, NVVM::NVVMDialect>();
  }
  void runOnOperation() override {
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
  unsigned indexBitwidth;
};

/// math.absi as arith: convert-gpu-to-nvvm maps an i32 absi to libdevice's
/// __nv_abs, which the PTX-only flow does not link (with 64-bit index, the
/// i64 form fell through to the generic lowering).
struct ExpandIntegerAbs
    : public PassWrapper<ExpandIntegerAbs, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ExpandIntegerAbs)
  StringRef getArgument() const override { return "sattn-expand-absi"; }
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
    : public PassWrapper<FoldMemRefToPointerCasts, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FoldMemRefToPointerCasts)
  StringRef getArgument() const override {
    return "sattn-fold-memref-pointer-casts";
  }
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

sattn::GPUCompileOptions sattn::GPUPipelineOptions::toCompileOptions() const {
  GPUCompileOptions o;
  o.chip = chip;
  o.features = features;
  o.optLevel = optLevel;
  o.blockM = blockM;
  o.blockN = blockN;
  o.warps = warps;
  o.stages = stages;
  o.rowsPerWarp = rowsPerWarp;
  return o;
}

void sattn::buildSattnToGPUPasses(OpPassManager &pm,
                                  const GPUCompileOptions &options) {
  ConvertSparseAttnToGPUOptions lowering;
  lowering.blockM = options.blockM;
  lowering.blockN = options.blockN;
  lowering.warps = options.warps;
  lowering.stages = options.stages;
  lowering.rowsPerWarp = options.rowsPerWarp;
  pm.addPass(createConvertSparseAttnToGPU(lowering));
}

/// 32-bit shared, constant and local pointers in the NVPTX backend
/// (llc's -nvptx-short-ptr). The backend takes its data layout from this
/// option, not from the module, so a p3:32 entry in the module's layout alone
/// changes nothing. Shared addresses then stay 32-bit: no cvt.u64.u32 and
/// 64-bit adds for every ldmatrix, cp.async and shared load or store.
static void useShortNVPTXPointers() {
  auto &options =
      llvm::cl::getRegisteredOptions();
  auto it = options.find("nvptx-short-ptr");
  if (it == options.end())
    return;
  auto *flag = static_cast<llvm::cl::opt<bool> *>(it->second);
  flag->setValue(true);
}

void sattn::buildGPUToPTXPasses(OpPassManager &pm,
                                const GPUCompileOptions &options) {
  useShortNVPTXPointers();
  // The greedy driver's default top-down traversal costs 0.6 s of CPU on a
  // freshly lowered kernel (about 10k ops, two thirds of spec-to-PTX time);
  // bottom-up visits the same ops and reaches the same IR in 0.08 s
  // (bench/RESULTS.md, compile time).
  GreedyRewriteConfig bottomUp;
  bottomUp.setUseTopDownTraversal(false);
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createCanonicalizerPass(bottomUp));
  kernels.addPass(createCSEPass());
  kernels.addPass(arith::createArithExpandOpsPass());
  kernels.addPass(
      std::make_unique<NVGPUToNVVMIndexPass>(kGpuIndexBitwidth));
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(std::make_unique<ExpandIntegerAbs>());
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.useBarePtrCallConv = true;
  toNVVM.indexBitwidth = kGpuIndexBitwidth;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNVVM));
  kernels.addPass(std::make_unique<FoldMemRefToPointerCasts>());
  kernels.addPass(createConvertMathToLLVMPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());

  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void sattn::buildGPUPipeline(OpPassManager &pm,
                             const GPUCompileOptions &options) {
  buildSattnToGPUPasses(pm, options);
  buildGPUToPTXPasses(pm, options);
}

void sattn::registerSattnGPUPipeline() {
  PassPipelineRegistration<GPUPipelineOptions>(
      "sattn-gpu-pipeline",
      "Lower sattn kernels to PTX: gpu.binary @sattn_NAME ops holding "
      "#gpu.object<..., assembly = PTX> (mma.sync kernels for sm_80+)",
      [](OpPassManager &pm, const GPUPipelineOptions &options) {
        buildGPUPipeline(pm, options.toCompileOptions());
      });
}
