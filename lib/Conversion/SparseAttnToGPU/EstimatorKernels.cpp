//===- EstimatorKernels.cpp - a kernel's estimator as GPU kernels ---------===//
//
// Adds, next to the attention gpu.func of a kernel with a compiled
// estimator (`sattn.estimator`, sattn/Conversion/Estimators.h), one
// gpu.func per estimator stage: `@sattn_NAME_estimate_{pool,score,select}`.
// Each runs its stage's items over a grid-stride loop (a tile stage: its
// tiles over a block-stride loop, phases separated by barriers, buffers in
// static shared memory), so any 1-D launch covers them; all take the
// parameters abi::kEstimatorParams, so the runtime packs them once. Q and K are read through views rebased per
// (batch, head) slice in 64 bits, like the attention kernels' tiles.
//
//===----------------------------------------------------------------------===//

#include "EstimatorTensorLogits.h"
#include "GpuAttentionBuilder.h"
#include "GpuAttentionBuilderImpl.h"

#include "sattn/Conversion/Estimators.h"
#include "sattn/Conversion/IndexArith.h"
#include "sattn/Target/LaunchInfo.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

namespace {

/// Parameter positions (abi::kEstimatorParams).
enum EstimatorParam : unsigned {
  kQ,
  kK,
  kQStrideB,
  kKStrideB = kQStrideB + 3,
  kLq = kKStrideB + 3,
  kLk,
  kBatch,
  kPooled,
  kTable,
  kWeights,
  kNumParams,
};
static_assert(kNumParams == abi::kNumEstimatorParams,
              "the positions of abi::kEstimatorParams");

FunctionType estimatorSignature(MLIRContext *ctx, Type element) {
  Type i64 = IntegerType::get(ctx, 64);
  auto ptrTo = [](Type t) { return MemRefType::get({}, t); };
  SmallVector<Type> inputs{ptrTo(element), ptrTo(element)};
  inputs.append(kPooled - kQStrideB, i64);
  inputs.append({ptrTo(Float64Type::get(ctx)), ptrTo(i64), ptrTo(Float32Type::get(ctx))});
  return FunctionType::get(ctx, inputs, {});
}

/// Whether Q's and K's base addresses are 16-byte aligned and their six
/// strides multiples of 16 bytes: then every row of every slice starts at a
/// 16-byte boundary, and so does every group of kInputVector elements.
Value emitVectorsAligned(OpBuilder &b, Location loc, Type element,
                         function_ref<Value(unsigned)> arg) {
  int64_t perVector = 16 / (element.getIntOrFloatBitWidth() / 8);
  Value all = arith::ConstantIntOp::create(b, loc, 1, 1);
  auto both = [&](Value c) { all = arith::AndIOp::create(b, loc, all, c); };
  for (unsigned tensor : {kQ, kK}) {
    Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, arg(tensor));
    both(cmp(b, loc, arith::CmpIPredicate::eq, rem(b, loc, address, cst(b, loc, 16)),
             cst(b, loc, 0)));
  }
  for (unsigned s = kQStrideB; s < kLq; ++s) {
    Value stride = arg(s);
    Value r = arith::RemSIOp::create(
        b, loc, stride, arith::ConstantIntOp::create(b, loc, perVector, 64));
    both(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, r,
                               arith::ConstantIntOp::create(b, loc, 0, 64)));
  }
  return all;
}

/// Static shared memory a block may use without opting in (the stage
/// launches pass no dynamic shared memory and set no attribute).
constexpr int64_t kStaticSharedLimit = 48 * 1024;
/// Blocks per SM a tile stage asks ptxas to fit (.minnctapersm): four of
/// 48 KB of shared memory fit in sm_80's 164 KB and sm_90's 228 KB.
constexpr int32_t kTileBlocksPerSM = 4;

LogicalResult buildStage(OpBuilder &builder, KernelOp kernel, const plan::EstimatorSpec &spec,
                StringRef entry, int stage) {
  Location loc = kernel.getLoc();
  Type element = kernel.getDtype();
  std::string_view stageName = estimator::stageNames(spec)[stage];
  // Tensor-core builds' logits are f32 sums: their probabilities take exp
  // through f32 (ex2.approx), the exact builds' emitExpF64's f64 arithmetic.
  bool fastExp = spec.tensorLogits;
  auto func = gpu::GPUFuncOp::create(
      builder, loc,
      target::estimatorEntryName(entry, StringRef(stageName.data(), stageName.size())),
      estimatorSignature(builder.getContext(), element));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(abi::kEstimatorThreads), 1, 1}));
  // Without .minnctapersm 1, ptxas capped item stages with nested loops and
  // the f64 exp at 80 registers and spilled (the antidiagonal score stage,
  // when it was one); with it, 142 and none.
  // A tile stage's buffers live in static shared memory (42 KB for
  // vertical_slash's): kTileBlocksPerSM blocks fit in an SM's shared
  // memory if registers let them; asking for them caps a thread at 64
  // registers, without spills at head_dim 64-256 (ptxas -v), where ptxas
  // alone takes 90-119: two blocks of latency-bound f64 code per SM.
  bool tiled = estimator::isTileStage(spec, stage);
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                builder.getI32IntegerAttr(tiled ? kTileBlocksPerSM : 1));
  Value sharedBuffer, keyBuffer, countBuffer;
  if (tiled) {
    estimator::TileBuffers entries =
        estimator::tileBufferEntries(spec, stage, kernel.getHeadDim());
    int64_t bytes = entries.f64Entries * 8 +
                    entries.keyEntries * element.getIntOrFloatBitWidth() / 8 +
                    entries.countEntries * 4;
    if (bytes > kStaticSharedLimit)
      return kernel.emitError() << "estimator stage '" << stageName << "' needs " << bytes
                                << " bytes of shared memory per block, above the "
                                << kStaticSharedLimit << " a launch gets without opting in";
    auto workgroup = gpu::AddressSpaceAttr::get(builder.getContext(),
                                                gpu::GPUDialect::getWorkgroupAddressSpace());
    // 16-byte aligned: LLVM vectorizes neighbouring shared-memory accesses
    // into 16-byte loads and stores (v4.b32, v2.b64) whatever alignment the
    // buffer's type alone would give (i32: 4, a misaligned-address fault).
    auto attribute = [&](int64_t entries, Type type) -> Value {
      if (entries == 0)
        return Value();
      Value buffer = func.addWorkgroupAttribution(
          MemRefType::get({entries}, type, nullptr, workgroup), loc);
      func.setWorkgroupAttributionAttr(func.getNumWorkgroupAttributions() - 1,
                                       LLVM::LLVMDialect::getAlignAttrName(),
                                       builder.getI64IntegerAttr(16));
      return buffer;
    };
    sharedBuffer = attribute(entries.f64Entries, builder.getF64Type());
    keyBuffer = attribute(entries.keyEntries, element);
    countBuffer = attribute(entries.countEntries, builder.getI32Type());
  }
  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  auto arg = [&](unsigned i) -> Value { return block.getArgument(i); };
  Type i64 = b.getI64Type();
  Value unknown = cst(b, loc, 0);
  constexpr int64_t dyn = ShapedType::kDynamic;

  // Element (b, h, row, column) of Q or K: the slice's base in i64 goes into
  // the pointer; row * stride + column stays within a slice (< 2^31, as the
  // runtime checks for every launch).
  auto wide = [&](OpBuilder &lb, Location ll, Value v) -> Value {
    return arith::IndexCastOp::create(lb, ll, i64, v);
  };
  // The slice's view of Q or K and the index of (row, column) in it.
  auto elementAt = [&, element](OpBuilder &lb, Location ll, bool key, Value bIdx, Value h,
                                Value row, Value column) -> std::pair<Value, Value> {
    unsigned strides = key ? kKStrideB : kQStrideB;
    Value base = arith::AddIOp::create(
        lb, ll, arith::MulIOp::create(lb, ll, wide(lb, ll, bIdx), arg(strides)),
        arith::MulIOp::create(lb, ll, wide(lb, ll, h), arg(strides + 1)));
    Value view = emitBufferView(lb, ll, arg(key ? kK : kQ), element, {dyn},
                                cst(lb, ll, 0), base);
    return {view, add(lb, ll, mul(lb, ll, row, toIndex(lb, ll, arg(strides + 2))), column)};
  };
  estimator::InputLoader loadElement = [&](OpBuilder &lb, Location ll, bool key, Value bIdx,
                                           Value h, Value row, Value column) -> Value {
    auto [view, at] = elementAt(lb, ll, key, bIdx, h, row, column);
    return memref::LoadOp::create(lb, ll, view, ValueRange{at});
  };
  estimator::EstimatorEnv env = estimator::bindEstimatorParams(
      b, loc, kernel, spec, arg(kLq), arg(kLk), arg(kBatch), loadElement, element,
      estimator::F64Functions{fastExp ? estimator::emitExpThroughF32 : estimator::emitExpF64,
                              estimator::emitSinCosF64, estimator::emitPowF64},
      emitBufferView(b, loc, arg(kPooled), b.getF64Type(), {dyn}, unknown),
      emitBufferView(b, loc, arg(kTable), i64, {dyn}, unknown),
      emitBufferView(b, loc, arg(kWeights), b.getF32Type(), {dyn}, unknown));

  if (!tiled) {
    emitGridStrideLoop(b, loc, estimator::emitStageItems(b, loc, stage, env),
                       [&](OpBuilder &ib, Location il, Value item) {
                         estimator::emitStageItem(ib, il, stage, env, item);
                       });
    gpu::ReturnOp::create(b, loc);
    return success();
  }
  // A tile per block (a block-stride loop over tiles, so any grid covers
  // them); a phase's items are strided over the block's threads and end
  // at a barrier. Every bound is uniform over the block.
  estimator::TileRunner run;
  run.shared = sharedBuffer;
  run.keys = keyBuffer;
  run.counts = countBuffer;
  if (spec.tensorLogits) {
    run.tensorLogits = [&, element](OpBuilder &pb, Location pl,
                                    const estimator::TensorLogitBlock &logits,
                                    estimator::TensorLogitUse use) {
      emitEstimatorTensorLogits(pb, pl, element, keyBuffer, logits, use);
    };
    run.tensorLogitTerms = [&, element](OpBuilder &pb, Location pl,
                                        const estimator::TensorLogitBlock &logits, int64_t terms,
                                        estimator::TensorTermLoad load,
                                        estimator::TensorLogitUse use) {
      emitEstimatorTensorLogitTerms(pb, pl, element, keyBuffer, logits, terms, load, use);
    };
    // 16-byte loads of 8 elements where both tensors' base addresses and
    // every stride allow them (contiguous head dims of 64-256 elements do).
    run.loadVector = [&, element](OpBuilder &lb, Location ll, bool key, Value bIdx, Value h,
                                  Value row, Value column) -> Value {
      auto [view, at] = elementAt(lb, ll, key, bIdx, h, row, column);
      return vector::LoadOp::create(lb, ll, VectorType::get({estimator::kInputVector}, element),
                                    view, ValueRange{at}, /*nontemporal=*/false,
                                    llvm::MaybeAlign(16));
    };
    run.vectorsAligned = emitVectorsAligned(b, loc, element, arg);
  }
  run.phase = [](OpBuilder &pb, Location pl, Value count,
                 function_ref<void(OpBuilder &, Location, Value)> body) {
    Value thread = gpu::ThreadIdOp::create(pb, pl, gpu::Dimension::x);
    scf::ForOp::create(pb, pl, thread, count, cst(pb, pl, abi::kEstimatorThreads), ValueRange{},
                       [&](OpBuilder &ib, Location il, Value item, ValueRange) {
                         body(ib, il, item);
                         scf::YieldOp::create(ib, il);
                       });
    gpu::BarrierOp::create(pb, pl);
  };
  Value tiles = toIndex(b, loc, estimator::emitStageTiles(b, loc, stage, env));
  scf::ForOp::create(b, loc, gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), tiles,
                     gpu::GridDimOp::create(b, loc, gpu::Dimension::x), ValueRange{},
                     [&](OpBuilder &tb, Location tl, Value tile, ValueRange) {
                       estimator::emitStageTile(
                           tb, tl, stage, env,
                           arith::IndexCastOp::create(tb, tl, tb.getI64Type(), tile), run);
                       scf::YieldOp::create(tb, tl);
                     });
  gpu::ReturnOp::create(b, loc);
  return success();
}

} // namespace

LogicalResult gpucodegen::buildEstimatorKernels(OpBuilder &builder, KernelOp kernel,
                                                gpu::GPUFuncOp attention, bool exactLogits) {
  FailureOr<std::optional<plan::EstimatorSpec>> spec = plan::readEstimator(kernel);
  if (failed(spec))
    return failure();
  if (!*spec)
    return success();
  (*spec)->tensorLogits = !exactLogits && (*spec)->hasQueryLogits();
  for (int stage = 0, e = estimator::stageNames(**spec).size(); stage < e; ++stage)
    if (failed(buildStage(builder, kernel, **spec, attention.getName(), stage)))
      return failure();
  // The record says what these stages do, whatever the kernel's said.
  NamedAttrList record(kernel->getAttrOfType<DictionaryAttr>(plan::kEstimatorAttrName));
  if ((*spec)->tensorLogits)
    record.set("logits", builder.getStringAttr("tensor"));
  else
    record.erase("logits");
  attention->setAttr(target::kEstimatorAttr, record.getDictionary(builder.getContext()));
  return success();
}
