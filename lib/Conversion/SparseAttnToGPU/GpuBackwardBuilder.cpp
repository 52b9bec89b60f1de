//===- GpuBackwardBuilder.cpp - the backward kernel's assembly -------------===//
//
// Signature (abi::kBackwardParams), configuration, shared-memory layout,
// prologue and epilogue of `gpu.func @sattn_NAME_bwd`; GpuBackwardBuilder.h
// has the algorithm, GpuBackwardKvTile.cpp the tile body. The segment walk
// and the KV loads are the forward's (GpuAttentionSegments.cpp).
//
//===----------------------------------------------------------------------===//

#include "GpuBackwardBuilder.h"

#include "NativeMath.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

/// Dynamic shared memory an sm_90 block may use (227 KiB).
static constexpr int64_t kMaxSharedBytes = 232448;

BackwardLayout gpucodegen::backwardLayoutFor(const KernelConfig &c) {
  BackwardLayout l;
  l.probabilityStride = c.blockN + 8;
  l.dOOffset = (c.keysOffset() + c.stages * c.blockN * 4 + 15) / 16 * 16;
  l.pOffset = l.dOOffset + c.blockM * c.rowBytes();
  l.dsOffset = l.pOffset + c.blockM * l.probabilityStride * c.elementBytes();
  l.totalBytes = l.dsOffset + c.blockM * l.probabilityStride * c.elementBytes();
  return l;
}

FailureOr<KernelConfig> gpucodegen::backwardConfigFor(const KernelConfig &forward,
                                                      std::string &reason) {
  // dQ of 16 rows (headDim / 2 f32 per thread) stays in registers next to
  // a chunk's S and dP and, after the chunks, a 16 x 64 dK or dV block. At
  // head_dim 256 dQ alone takes 128 registers: the portable forward's
  // 16-key tiles keep the chunks small, and dK and dV are accumulated 16
  // columns at a time (GpuBackwardKvTile.cpp).
  KernelConfig c = forward;
  c.family = abi::KernelFamily::MmaSync;
  c.rowsPerWarp = 16;
  c.warps = forward.blockM / 16;
  c.qInRegisters = false;
  c.prefetchAcrossSegments = true;
  c.maskUnroll = 4;
  if (forward.blockM % 16 || forward.blockN % 16 || c.warps < 1 || c.warps > 8) {
    reason = "the backward kernel needs block sizes that are multiples of 16 "
             "with at most 128 query rows";
    return failure();
  }
  for (int64_t stages : {2, 1}) {
    c.stages = stages;
    if (backwardLayoutFor(c).totalBytes <= kMaxSharedBytes)
      return c;
  }
  reason = "a backward tile of " + std::to_string(forward.blockM) + " x " +
           std::to_string(forward.blockN) + " at head_dim " + std::to_string(forward.headDim) +
           " does not fit in shared memory";
  // The one case the tile choice avoids by itself (TileRequest::backward).
  if (forward.family == abi::KernelFamily::Wgmma)
    reason += " (sattn-plan-tiles{backward=1} keeps such kernels portable)";
  return failure();
}

static FunctionType backwardSignature(KernelOp kernel, Type elemType) {
  MLIRContext *ctx = kernel.getContext();
  auto ptrTo = [&](Type t) -> Type { return MemRefType::get({}, t); };
  Type i64 = IntegerType::get(ctx, 64), f32 = Float32Type::get(ctx);
  SmallVector<Type> inputs;
  for (unsigned i = 0; i < abi::kNumBackwardParams; ++i) {
    switch (i) {
    case abi::BwdQ: case abi::BwdK: case abi::BwdV: case abi::BwdO: case abi::BwdDO:
      inputs.push_back(ptrTo(elemType));
      break;
    case abi::BwdLse: case abi::BwdDQ: case abi::BwdDK: case abi::BwdDV:
    case abi::BwdDkvScales:
      inputs.push_back(ptrTo(f32));
      break;
    case abi::BwdSegments: case abi::BwdOffsets: case abi::BwdClassIndex:
      inputs.push_back(ptrTo(i64));
      break;
    default:
      inputs.push_back(i64);
    }
  }
  inputs.append(kernelTables(kernel).size(), ptrTo(i64));
  return FunctionType::get(ctx, inputs, {});
}

void GpuBackwardBuilder::emitBackwardPrologue(OpBuilder &b, Location loc,
                                              Block &block) {
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  auto idxArg = [&](unsigned i) { return toIndex(b, loc, arg(i)); };
  ArgPositions positions;
  positions.lq = abi::BwdLq;
  positions.lk = abi::BwdLk;
  positions.numQueryTiles = abi::BwdNumQueryTiles;
  positions.segments = abi::BwdSegments;
  positions.offsets = abi::BwdOffsets;
  positions.classIndex = abi::BwdClassIndex;
  positions.firstTable = abi::kNumBackwardParams;
  GridCoordinates grid = emitGridCoordinates(b, loc, kernel, block, positions);
  adoptGrid(grid);

  Type i64 = b.getI64Type();
  auto wide = [&](Value v) { return arith::IndexCastUIOp::create(b, loc, i64, v); };
  auto base = [&](unsigned strides, Value head) {
    return add(b, loc, mul(b, loc, wide(batchIdx), arg(strides)),
               mul(b, loc, wide(head), arg(strides + 1)));
  };
  qTile = emitGlobalTile(b, loc, arg(abi::BwdQ), base(abi::BwdQStrides, headIdx), lq,
                         idxArg(abi::BwdQStrides + 2));
  kTile = emitGlobalTile(b, loc, arg(abi::BwdK), base(abi::BwdKStrides, kvHead), lk,
                         idxArg(abi::BwdKStrides + 2));
  vTile = emitGlobalTile(b, loc, arg(abi::BwdV), base(abi::BwdVStrides, kvHead), lk,
                         idxArg(abi::BwdVStrides + 2));
  oTile = emitGlobalTile(b, loc, arg(abi::BwdO), base(abi::BwdOStrides, headIdx), lq,
                         idxArg(abi::BwdOStrides + 2));
  // dO's rows are copied with Q's, in the same slots.
  Value doTile = emitGlobalTile(b, loc, arg(abi::BwdDO), base(abi::BwdDOStrides, headIdx),
                                lq, idxArg(abi::BwdDOStrides + 2));
  lseRow = emitBufferView(b, loc, arg(abi::BwdLse), b.getF32Type(), {kDynamic}, lq,
                          base(abi::BwdLseStrides, headIdx));
  // The gradients are contiguous f32: (B, H, Lq, D) and (B, KV_H, Lk, D).
  Type f32 = b.getF32Type();
  Value dim = cst(b, loc, cfg.headDim);
  auto slice = [&](Value heads, Value head, Value length) {
    Value row = add(b, loc, mul(b, loc, wide(batchIdx), wide(heads)), wide(head));
    return mul(b, loc, mul(b, loc, row, wide(length)), wide(dim));
  };
  Value heads = cst(b, loc, kernel.getHeads()), kvHeads = cst(b, loc, kernel.getKvHeads());
  dqView = emitGlobalTile(b, loc, arg(abi::BwdDQ), slice(heads, headIdx, lq), lq, dim, f32);
  dkView = emitGlobalTile(b, loc, arg(abi::BwdDK), slice(kvHeads, kvHead, lk), lk, dim, f32);
  dvView = emitGlobalTile(b, loc, arg(abi::BwdDV), slice(kvHeads, kvHead, lk), lk, dim, f32);
  auto llvmPtr = LLVM::LLVMPointerType::get(b.getContext());
  auto rawPointer = [&](unsigned param) -> Value {
    return UnrealizedConversionCastOp::create(b, loc, llvmPtr, arg(param)).getResult(0);
  };
  auto sliceBase = [&](unsigned param, Type element) -> Value {
    return LLVM::GEPOp::create(b, loc, llvmPtr, element, rawPointer(param),
                               ValueRange{slice(kvHeads, kvHead, lk)});
  };
  if (vectorAtomics) {
    dkBase = sliceBase(abi::BwdDK, f32);
    dvBase = sliceBase(abi::BwdDV, f32);
  }
  // The deterministic form (dkv_scales not NULL): dK and dV are int64
  // fixed-point sums at the scales of the pair it points to.
  Value scales = rawPointer(abi::BwdDkvScales);
  fixedPoint = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne,
                                    LLVM::PtrToIntOp::create(b, loc, i64, scales),
                                    arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0)));
  auto loaded = scf::IfOp::create(
      b, loc, fixedPoint,
      [&](OpBuilder &b, Location loc) {
        SmallVector<Value, 2> pair;
        for (int64_t i = 0; i < 2; ++i) {
          Value at = LLVM::GEPOp::create(b, loc, llvmPtr, f32, scales,
                                         ArrayRef<LLVM::GEPArg>{int32_t(i)});
          pair.push_back(LLVM::LoadOp::create(b, loc, f32, at));
        }
        scf::YieldOp::create(b, loc, pair);
      },
      [&](OpBuilder &b, Location loc) {
        Value one = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1));
        scf::YieldOp::create(b, loc, ValueRange{one, one});
      });
  fixedScales = {loaded.getResult(0), loaded.getResult(1)};
  dkFixedBase = sliceBase(abi::BwdDK, i64);
  dvFixedBase = sliceBase(abi::BwdDV, i64);

  PlanViews plan = emitPlanViews(b, loc, kernel, block, grid, positions);
  segments = plan.segments;
  offsets = plan.offsets;
  classIndex = plan.classIndex;
  tables = std::move(plan.tables);

  // Shared memory: the forward's [Q][K stages][V stages][keys], then
  // [dO][P][dS] (BackwardLayout).
  emitSharedViews(b, loc);
  int64_t rs = cfg.rowStride();
  doShared = emitSharedView(b, loc, layout.dOOffset, {cfg.blockM, rs});
  Value doSharedFlat = emitSharedView(b, loc, layout.dOOffset, {cfg.blockM * rs});
  pShared = emitSharedView(b, loc, layout.pOffset, {cfg.blockM, layout.probabilityStride});
  dsShared = emitSharedView(b, loc, layout.dsOffset, {cfg.blockM, layout.probabilityStride});

  emitThreadCoordinates(b, loc, threadId);
  double softmaxScale = kernel.getScale().convertToDouble();
  log2Scale = emitLog2Scale(b, loc, softmaxScale);
  scale = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(softmaxScale));

  // Q and dO tiles by the forward's copy routine (same rows, two operands).
  emitQueryRowsCopy(b, loc, {{qTile, qSharedFlat}, {doTile, doSharedFlat}});
  emitRowTerms(b, loc);
}

void GpuBackwardBuilder::emitRowTerms(OpBuilder &b, Location loc) {
  // Each quad holds two rows; its four threads split the row's columns
  // (the accumulator layout: columns 8j + 2 quad, + 1) and add up.
  Type f32 = b.getF32Type();
  auto pairType = VectorType::get({2}, elemType);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value inf = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(INFINITY));
  Value negInf = emitNegInf(b, loc);
  for (int half = 0; half < 2; ++half) {
    Value row = queryRow[0][half];
    Value valid = cmp(b, loc, arith::CmpIPredicate::ult, row, lq);
    Value safeRow = arith::SelectOp::create(b, loc, valid, row, cst(b, loc, 0));
    Value inTile = add(b, loc, add(b, loc, warpRow, lanes.group), cst(b, loc, 8 * half));
    Value sum = zero;
    for (int64_t j = 0; j < cfg.headDim / 8; ++j) {
      Value col = add(b, loc, quadColumn, cst(b, loc, 8 * j));
      Value o = vector::LoadOp::create(b, loc, pairType, oTile, ValueRange{safeRow, col});
      Value d = vector::LoadOp::create(b, loc, pairType, doShared, ValueRange{inTile, col});
      for (int64_t e = 0; e < 2; ++e) {
        auto element = [&](Value pair) -> Value {
          return arith::ExtFOp::create(b, loc, f32,
                                       vector::ExtractOp::create(b, loc, pair, ArrayRef<int64_t>{e}).getResult());
        };
        sum = math::FmaOp::create(b, loc, element(o), element(d), sum);
      }
    }
    rowDelta[half] = arith::SelectOp::create(b, loc, valid, emitQuadSum(b, loc, sum), zero);
    Value lse = memref::LoadOp::create(b, loc, lseRow, safeRow);
    Value kept = arith::AndIOp::create(
        b, loc, valid, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, lse, negInf));
    Value scaled = arith::MulFOp::create(
        b, loc, lse, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(M_LOG2E)));
    lseLog2[half] = arith::SelectOp::create(b, loc, kept, scaled, inf);
  }
}

void GpuBackwardBuilder::emitQueryGradient(OpBuilder &b, Location loc,
                                           const LoopState &state) {
  ArrayRef<Value> acc = state.acc[0];
  auto pairType = VectorType::get({2}, b.getF32Type());
  for (int half = 0; half < 2; ++half) {
    Value row = queryRow[0][half];
    Value inRange = cmp(b, loc, arith::CmpIPredicate::ult, row, lq);
    scf::IfOp::create(b, loc, inRange, [&](OpBuilder &b, Location loc) {
      for (int64_t j = 0; j < cfg.headDim / 8; ++j) {
        Value pair = vector::FromElementsOp::create(
            b, loc, pairType,
            ValueRange{arith::MulFOp::create(b, loc, scale, acc[4 * j + 2 * half]),
                       arith::MulFOp::create(b, loc, scale, acc[4 * j + 2 * half + 1])});
        vector::StoreOp::create(b, loc, pair, dqView,
                                ValueRange{row, add(b, loc, quadColumn, cst(b, loc, 8 * j))},
                                /*nontemporal=*/false, llvm::Align(8));
      }
      scf::YieldOp::create(b, loc);
    });
  }
}

FailureOr<gpu::GPUFuncOp> GpuBackwardBuilder::build(OpBuilder &builder,
                                                    StringRef name) {
  if (failed(prepareMask()))
    return failure();
  Location loc = kernel.getLoc();
  gpu::GPUFuncOp func =
      createKernelFunc(builder, loc, name, backwardSignature(kernel, elemType));

  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  emitBackwardPrologue(b, loc, block);
  // The forward's loop state: dQ's accumulators in place of O's (the row
  // state rides along unused).
  LoopState state = emitSegments(b, loc, emitInitialLoopState(b, loc));
  emitQueryGradient(b, loc, state);
  gpu::ReturnOp::create(b, loc);
  return finishKernel(func);
}

FailureOr<gpu::GPUFuncOp>
gpucodegen::buildGpuBackwardKernel(OpBuilder &builder, KernelOp kernel,
                                   const KernelConfig &forward,
                                   gpu::GPUFuncOp attention) {
  std::string reason;
  FailureOr<KernelConfig> config = backwardConfigFor(forward, reason);
  if (failed(config))
    return kernel.emitError() << "cannot build a backward kernel: " << reason;
  std::string name = target::backwardEntryName(attention.getName());
  GpuBackwardBuilder backward(kernel, *config,
                              /*vectorAtomics=*/forward.family == abi::KernelFamily::Wgmma);
  FailureOr<gpu::GPUFuncOp> func = backward.build(builder, name);
  if (failed(func))
    return failure();
  SmallVector<Attribute> names;
  std::vector<std::string> tables;
  for (mask::TableOp table : kernelTables(kernel))
    tables.push_back(table.getSymName().str());
  for (const std::string &param : abi::backwardParamNames(tables))
    names.push_back(builder.getStringAttr(param));
  (*func)->setAttr(target::kParamNamesAttr, builder.getArrayAttr(names));
  attention->setAttr(
      target::kBackwardAttr,
      builder.getDictionaryAttr({
          builder.getNamedAttr("entry", builder.getStringAttr(name)),
          builder.getNamedAttr("warps", builder.getI64IntegerAttr(config->warps)),
          builder.getNamedAttr("stages", builder.getI64IntegerAttr(config->stages)),
          builder.getNamedAttr("shared_bytes",
                               builder.getI64IntegerAttr(backwardLayoutFor(*config).totalBytes)),
      }));
  lowerSoftmaxMathToNVPTX(*func);
  return func;
}
