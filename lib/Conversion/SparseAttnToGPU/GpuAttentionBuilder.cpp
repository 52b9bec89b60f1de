//===- GpuAttentionBuilder.cpp - one planned attention kernel on sm_80+ ---===//
//
// Builds `gpu.func @sattn_NAME`, FlashAttention-2 with mma.sync over the
// tile plan. One CTA per (query tile m, head h, batch b); warp w owns query
// rows [Rw, Rw + R) of the tile, R = rows per warp: one m16 MMA tile
// (R = 16) or two (R = 32, FlashAttention-2's shape), which share every K
// and V fragment the warp reads from shared memory:
//
//   Q tile -> shared (cp.async) -> A fragments in registers (or per tile)
//   for segment s of (class of (b, h), m):          plan rows [first, last)
//     FULL or PARTIAL, range or gather (uniform branches, 4 loop variants):
//       prefetch KV tiles 0 .. stages-2 (range keys or gathered keys)
//       for KV tile t:
//         prefetch tile t + stages - 1; wait for tile t
//         PARTIAL: keep bits of the thread's R/8 x BN/4 elements, from
//                  the element mask (MaskToArith) in a rolled loop
//         S = Q K^T (ldmatrix + mma.sync), raw scores
//         FULL:    only a ragged last tile drops its missing keys
//         PARTIAL: dropped elements -> -inf
//         online softmax (running max per quad, partial sums per lane,
//                  p = exp2(s * log2(e) * scale - max): one FFMA each)
//         O += P V (P repacked from S's registers)
//   epilogue: O = acc / sum, LSE; rows without a kept key: 0 and -inf
//
// Gathered tiles publish their key positions in shared memory (one lattice
// evaluation per key instead of one per thread and use). Register pressure
// is the constraint that shapes the code: see emitOpaqueThreadId and
// emitMaskBits.
//
// The segment and tile arithmetic (TileIteration), element masks
// (MaskToArith) and softmax steps (OnlineSoftmax) are the builders the CPU
// reference uses, so both paths visit the same keys and compute the same
// function.
//
// This file assembles the kernel (signature, launch attributes, build, the
// epilogue); the phases live beside it (GpuAttentionBuilderImpl.h lists
// them).
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilderImpl.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

SmallVector<std::string> gpucodegen::kernelArgNames(KernelOp kernel,
                                                    abi::KernelFamily family) {
  std::vector<std::string> tables;
  for (mask::TableOp table : kernelTables(kernel))
    tables.push_back(table.getSymName().str());
  return llvm::to_vector(abi::paramNames(tables, family, kernel.getBlockMax()));
}

FunctionType gpucodegen::kernelSignature(KernelOp kernel, Type elemType,
                                         abi::KernelFamily family) {
  MLIRContext *ctx = kernel.getContext();
  // 0-d memrefs: with the bare-pointer calling convention each becomes one
  // pointer parameter; the kernel builds its own strided views from it.
  auto ptrTo = [&](Type t) { return MemRefType::get({}, t); };
  Type i64 = IntegerType::get(ctx, 64);
  auto typeOf = [&](abi::ParamKind kind) -> Type {
    switch (kind) {
    case abi::ParamKind::ElementPointer:
      return ptrTo(elemType);
    case abi::ParamKind::F32Pointer:
      return ptrTo(Float32Type::get(ctx));
    case abi::ParamKind::Int64:
      return i64;
    case abi::ParamKind::TensorMap:
      return LLVM::LLVMPointerType::get(ctx);
    case abi::ParamKind::Int64Pointer:
      break;
    }
    return ptrTo(i64);
  };
  SmallVector<Type> inputs;
  for (const abi::Param &param : abi::kFixedParams)
    inputs.push_back(typeOf(param.kind));
  inputs.append(kernelTables(kernel).size(),
                typeOf(abi::ParamKind::Int64Pointer));
  if (family == abi::KernelFamily::Wgmma)
    inputs.append(abi::kNumTensorMaps, typeOf(abi::ParamKind::TensorMap));
  if (kernel.getBlockMax())
    inputs.append(abi::kNumBlockMaxParams, typeOf(abi::ParamKind::F32Pointer));
  return FunctionType::get(ctx, inputs, {});
}

SmallVector<std::array<RowEpilogue, 2>, 2>
GpuAttentionBuilder::emitEpilogue(OpBuilder &b, Location loc, const LoopState &state) {
  SmallVector<std::array<RowEpilogue, 2>, 2> epilogues;
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    std::array<RowEpilogue, 2> rows =
        emitRowEpilogues(b, loc, state.rows[mt]);
    epilogues.push_back(rows);
    ArrayRef<Value> acc = state.acc[mt];
    for (int half = 0; half < 2; ++half) {
      Value row = queryRow[mt][half];
      Value inRange = cmp(b, loc, arith::CmpIPredicate::ult, row, lq);
      scf::IfOp::create(b, loc, inRange, [&](OpBuilder &b, Location loc) {
        for (int64_t j = 0; j < cfg.headDim / 8; ++j) {
          Value x = emitOutputElement(b, loc, rows[half], acc[4 * j + 2 * half]);
          Value y =
              emitOutputElement(b, loc, rows[half], acc[4 * j + 2 * half + 1]);
          Value pair = emitPackPair(b, loc, elemType, x, y);
          vector::StoreOp::create(
              b, loc, pair, oTile,
              ValueRange{row, add(b, loc, quadColumn, cst(b, loc, 8 * j))},
              /*nontemporal=*/false, llvm::Align(4));
        }
        if (lseRow) {
          Value writer = cmp(b, loc, arith::CmpIPredicate::eq, lanes.quad,
                             cst(b, loc, 0));
          scf::IfOp::create(b, loc, writer, [&](OpBuilder &b, Location loc) {
            memref::StoreOp::create(b, loc, rows[half].lse, lseRow, row);
            scf::YieldOp::create(b, loc);
          });
        }
        scf::YieldOp::create(b, loc);
      });
    }
  }
  return epilogues;
}

void gpucodegen::setRegisterBudget(gpu::GPUFuncOp func) {
  // Without a residency target ptxas caps registers to fit more blocks
  // than the shared memory allows anyway (174 per thread for 4-warp
  // head_dim 128 kernels, 128 and spills for 8-warp head_dim 64 ones).
  // .minnctapersm 1 lets it use what the code needs (213); two 4-warp
  // blocks still fit an SM (bench/RESULTS.md: dense 211 -> 259 TFLOP/s).
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                Builder(func.getContext()).getI32IntegerAttr(1));
}

void gpucodegen::setLaunchAttributes(gpu::GPUFuncOp func, KernelOp kernel,
                                     const KernelConfig &cfg) {
  Builder b(func.getContext());
  func->setAttr(target::kKernelNameAttr, b.getStringAttr(kernel.getSymName()));
  func->setAttr(target::kBlockMAttr, b.getI64IntegerAttr(cfg.blockM));
  func->setAttr(target::kBlockNAttr, b.getI64IntegerAttr(cfg.blockN));
  func->setAttr(target::kWarpsAttr, b.getI64IntegerAttr(cfg.warps));
  func->setAttr(target::kStagesAttr, b.getI64IntegerAttr(cfg.stages));
  func->setAttr(target::kSharedMemoryAttr,
                b.getI64IntegerAttr(cfg.sharedMemoryBytes()));
  func->setAttr(target::kKernelFamilyAttr,
                b.getStringAttr(StringRef(abi::familyName(cfg.family))));
  func->setAttr(target::kPlanGathersAttr, b.getBoolAttr(cfg.planGathers()));
  setRegisterBudget(func);
  SmallVector<Attribute> names;
  for (const std::string &name : kernelArgNames(kernel, cfg.family))
    names.push_back(b.getStringAttr(name));
  func->setAttr(target::kParamNamesAttr, b.getArrayAttr(names));
}

gpu::GPUFuncOp GpuAttentionBuilder::createKernelFunc(OpBuilder &builder,
                                                    Location loc, StringRef name,
                                                    FunctionType type) {
  auto func = gpu::GPUFuncOp::create(builder, loc, name, type);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  func.setKnownBlockSizeAttr(
      builder.getDenseI32ArrayAttr({static_cast<int32_t>(cfg.threads()), 1, 1}));
  setRegisterBudget(func);
  return func;
}

FailureOr<gpu::GPUFuncOp> GpuAttentionBuilder::build(OpBuilder &builder,
                                                     StringRef name) {
  if (failed(prepareMask()))
    return failure();
  Location loc = kernel.getLoc();
  gpu::GPUFuncOp func = createKernelFunc(
      builder, loc, name, kernelSignature(kernel, elemType, cfg.family));
  setLaunchAttributes(func, kernel, cfg);

  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  emitPrologue(b, loc, block);
  emitQueryTile(b, loc);

  LoopState state = emitSegments(b, loc, emitInitialLoopState(b, loc));
  SmallVector<std::array<RowEpilogue, 2>, 2> rows = emitEpilogue(b, loc, state);
  if (blockMaxRow)
    emitBlockMaxEpilogue(b, loc, rows);
  gpu::ReturnOp::create(b, loc);
  return finishKernel(func);
}

LogicalResult GpuAttentionBuilder::prepareMask() {
  if (failed(verifyElementMaskLowerable(kernel.getMask())))
    return failure();
  // Window masks need whole 32-key words.
  if (cfg.blockN % 32 == 0)
    separatedMask = separateMask(kernel.getMask());
  return success();
}

LoopState GpuAttentionBuilder::emitInitialLoopState(OpBuilder &b, Location loc) {
  LoopState state;
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    state.acc.emplace_back(cfg.headDim / 8 * 4, zero);
    state.rows.push_back(emitInitialRowState(b, loc));
  }
  return state;
}

FailureOr<gpu::GPUFuncOp> GpuAttentionBuilder::finishKernel(gpu::GPUFuncOp func) {
  if (failedMask) {
    func.erase();
    return failure();
  }
  return func;
}

FailureOr<gpu::GPUFuncOp>
gpucodegen::buildGpuAttentionKernel(OpBuilder &builder, KernelOp kernel,
                                    const KernelConfig &config,
                                    StringRef name) {
  GpuAttentionBuilder b(kernel, config);
  return b.build(builder, name);
}
