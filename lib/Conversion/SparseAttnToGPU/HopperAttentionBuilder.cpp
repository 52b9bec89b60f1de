//===- HopperAttentionBuilder.cpp - one planned attention kernel on sm_90a ===//
//
// Builds `gpu.func @sattn_NAME` for sm_90a, FlashAttention-3's structure
// over the tile plan. One CTA per (query tile m, head h, batch b) of
// BM = 128 rows, 384 threads in three warpgroups:
//
//   warpgroup 0, producer (setmaxnreg 24), one elected thread:
//     TMA Q tile -> shared; for each segment s of (class of (b, h), m):
//       for each KV tile of s: wait until the ring stage is free, TMA K
//       and V into it, each completing on the stage's "full" mbarrier
//       (built with gathers, the whole warpgroup runs this loop and copies
//       the rows of Gather and List tiles with cp.async instead)
//   warpgroups 1 and 2, consumers (setmaxnreg 240), 64 query rows each:
//     for the KV tiles in the same order, FA3's intra-warpgroup overlap:
//       S(n) = Q K_n^T (wgmma, both operands in shared memory)
//       O += P(n-1) V(n-1) (wgmma, P in registers) runs meanwhile
//       PARTIAL tiles: element mask (MaskToArith) on S(n), ragged tiles
//       drop keys >= Lk; online softmax (WarpSoftmax) -> P(n)
//       release K(n) and V(n-1) to the producer (the "empty" mbarriers)
//   epilogue: O = acc / sum -> global, LSE; rows without a kept key get
//   O = 0 and LSE = -inf.
// Block x runs query tile grid.numQueryTiles - 1 - x (the heaviest first under
// causal-like masks).
//
// The stream of KV tiles runs across segment boundaries (the overlap and
// the ring do not restart per segment), so one-tile segments such as bands
// and document blocks keep the tensor cores busy.
//
//===----------------------------------------------------------------------===//

#include "HopperAttentionBuilder.h"

#include "HopperSync.h"
#include "WarpMma.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"
#include "sattn/Target/LaunchInfo.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

SmallVector<Value> ConsumerState::flatten() const {
  SmallVector<Value> v(acc.begin(), acc.end());
  v.append({rows.max[0], rows.max[1], rows.sum[0], rows.sum[1]});
  v.append(probs.begin(), probs.end());
  return v;
}

ConsumerState ConsumerState::unflatten(ValueRange v, int64_t numAcc,
                                       int64_t numProbs) {
  ConsumerState s;
  s.acc.assign(v.begin(), v.begin() + numAcc);
  s.rows.max = {v[numAcc], v[numAcc + 1]};
  s.rows.sum = {v[numAcc + 2], v[numAcc + 3]};
  ValueRange probs = v.slice(numAcc + 4, numProbs);
  s.probs.assign(probs.begin(), probs.end());
  return s;
}

/// The generic pointer behind a 0-d memref argument, advanced by `offset`
/// elements (i64) of `element`.
static Value emitRowsPointer(OpBuilder &b, Location loc, Value memref,
                             Type element, Value offset) {
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  Value ptr =
      UnrealizedConversionCastOp::create(b, loc, ptrType, memref).getResult(0);
  return LLVM::GEPOp::create(b, loc, ptrType, element, ptr,
                             ArrayRef<LLVM::GEPArg>{offset});
}

Value HopperAttentionBuilder::barrier(OpBuilder &b, Location loc,
                                      int64_t offset, Value stage) {
  Value bar = hopper::emitSharedOffset(b, loc, smem, offset);
  if (!stage)
    return bar;
  return hopper::emitSharedOffset(
      b, loc, bar,
      arith::MulIOp::create(b, loc, stage, hopper::i32Const(b, loc, 8)));
}

Value HopperAttentionBuilder::emitKeyTiles(OpBuilder &b, Location loc,
                                           const SegmentRecord &seg,
                                           const SegmentTiles &tiles) {
  if (cfg.gathers)
    return tiles.numTiles;
  return arith::SelectOp::create(b, loc, seg.isGather, cst(b, loc, 0),
                                 emitRangeTileCount(b, loc, seg, grid.lk, cfg.blockN));
}

std::pair<Value, Value>
HopperAttentionBuilder::stageAndParity(OpBuilder &b, Location loc, Value n) {
  // Tile n uses stage n % S; that stage's (n / S)-th use completes the
  // phase of parity (n / S) & 1 of its barriers.
  Value n32 = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), n);
  Value stages = hopper::i32Const(b, loc, cfg.stages);
  Value stage = arith::RemUIOp::create(b, loc, n32, stages);
  Value parity = arith::AndIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, n32, stages),
      hopper::i32Const(b, loc, 1));
  return {stage, parity};
}

void HopperAttentionBuilder::emitPrologue(OpBuilder &b, Location loc,
                                          Block &block) {
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  grid = emitGridCoordinates(b, loc, kernel, block);
  // Query tiles run last first: under causal-like masks the last tiles
  // visit the most KV tiles, and starting them first shortens the tail of
  // the grid.
  tileIdx = sub(b, loc, sub(b, loc, grid.numQueryTiles, cst(b, loc, 1)),
                grid.tileIdx);
  log2Scale = emitLog2Scale(b, loc, kernel.getScale().convertToDouble());

  // O and LSE rows of (b, h): 64-bit base offsets, as in the portable kernel.
  Type i64 = b.getI64Type();
  auto wide = [&](Value v) { return arith::IndexCastUIOp::create(b, loc, i64, v); };
  auto base = [&](unsigned strides) {
    return add(b, loc, mul(b, loc, wide(grid.batchIdx), arg(strides)),
               mul(b, loc, wide(grid.headIdx), arg(strides + 1)));
  };
  oBase = emitRowsPointer(b, loc, arg(kArgO), elemType, base(kArgOStrides));
  oRowStride = arg(kArgOStrides + 2);
  if (kernel.getReturnLse())
    lseBase = emitRowsPointer(b, loc, arg(kArgLse), b.getF32Type(),
                              base(kArgLseStrides));

  if (cfg.gathers) {
    // K and V rows of (b, kv head), for the producer's gathered copies.
    auto kvBase = [&](unsigned strides) {
      return add(b, loc, mul(b, loc, wide(grid.batchIdx), arg(strides)),
                 mul(b, loc, wide(grid.kvHead), arg(strides + 1)));
    };
    kRows = emitRowsPointer(b, loc, arg(kArgK), elemType, kvBase(kArgKStrides));
    vRows = emitRowsPointer(b, loc, arg(kArgV), elemType, kvBase(kArgVStrides));
    kRowStride = arg(kArgKStrides + 2);
    vRowStride = arg(kArgVStrides + 2);
  }
  plan = emitPlanViews(b, loc, kernel, block, grid);
  unsigned maps = kNumFixedArgs + plan.tables.size();
  tensorMapQ = arg(maps);
  tensorMapK = arg(maps + 1);
  tensorMapV = arg(maps + 2);
  smem = hopper::emitAlignedSharedBase(b, loc);
}

void HopperAttentionBuilder::emitBarrierInit(OpBuilder &b, Location loc) {
  // Full barriers complete on the producer's arrivals plus the bytes of
  // the TMA copies; empty ones on one arrival per consumer warpgroup.
  Value first = cmp(b, loc, arith::CmpIPredicate::eq, grid.threadId, cst(b, loc, 0));
  scf::IfOp::create(b, loc, first, [&](OpBuilder &b, Location loc) {
    hopper::emitMbarrierInit(b, loc, barrier(b, loc, layout.fullQ()), 1);
    // With gathers every producer thread arrives on a KV tile's "full"
    // barrier: on completion of its row copies, or at once beside thread
    // 0's expect-tx for a TMA tile.
    int64_t fullArrivals = cfg.gathers ? kWarpgroupThreads : 1;
    for (int64_t s = 0; s < cfg.stages; ++s) {
      hopper::emitMbarrierInit(b, loc, barrier(b, loc, layout.fullK() + 8 * s),
                               fullArrivals);
      hopper::emitMbarrierInit(b, loc, barrier(b, loc, layout.fullV() + 8 * s),
                               fullArrivals);
      hopper::emitMbarrierInit(b, loc, barrier(b, loc, layout.emptyK() + 8 * s),
                               kConsumerWarpgroups);
      hopper::emitMbarrierInit(b, loc, barrier(b, loc, layout.emptyV() + 8 * s),
                               kConsumerWarpgroups);
    }
    NVVM::FenceMbarrierInitOp::create(b, loc);
    scf::YieldOp::create(b, loc);
  });
  NVVM::Barrier0Op::create(b, loc);
}

void HopperAttentionBuilder::emitPlanRows(OpBuilder &b, Location loc) {
  std::tie(firstSegment, lastSegment) =
      emitSegmentRows(b, loc, kernel, plan.offsets, plan.classIndex,
                      grid.batchIdx, grid.headIdx, grid.numQueryTiles, tileIdx);
}

void HopperAttentionBuilder::emitEpilogue(OpBuilder &b, Location loc,
                                          const ConsumerState &state) {
  std::array<RowEpilogue, 2> rows = emitRowEpilogues(b, loc, state.rows);
  Type i64 = b.getI64Type();
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  for (int half = 0; half < 2; ++half) {
    Value row = queryRow[half];
    Value inRange = cmp(b, loc, arith::CmpIPredicate::ult, row, grid.lq);
    scf::IfOp::create(b, loc, inRange, [&](OpBuilder &b, Location loc) {
      Value row64 = arith::IndexCastUIOp::create(b, loc, i64, row);
      Value rowStart = add(b, loc, mul(b, loc, row64, oRowStride),
                           arith::IndexCastUIOp::create(b, loc, i64, quadColumn));
      Value rowPtr = LLVM::GEPOp::create(b, loc, ptrType, elemType, oBase,
                                         ArrayRef<LLVM::GEPArg>{rowStart});
      for (int64_t j = 0; j < cfg.headDim / 8; ++j) {
        Value x = emitOutputElement(b, loc, rows[half], state.acc[4 * j + 2 * half]);
        Value y =
            emitOutputElement(b, loc, rows[half], state.acc[4 * j + 2 * half + 1]);
        Value at = LLVM::GEPOp::create(b, loc, ptrType, elemType, rowPtr,
                                       ArrayRef<LLVM::GEPArg>{int32_t(8 * j)});
        LLVM::StoreOp::create(b, loc, emitPackPair(b, loc, elemType, x, y), at,
                              /*alignment=*/4);
      }
      if (lseBase) {
        Value writer = cmp(b, loc, arith::CmpIPredicate::eq, quadColumn,
                           cst(b, loc, 0));
        scf::IfOp::create(b, loc, writer, [&](OpBuilder &b, Location loc) {
          Value at = LLVM::GEPOp::create(b, loc, ptrType, b.getF32Type(),
                                         lseBase, ArrayRef<LLVM::GEPArg>{row64});
          LLVM::StoreOp::create(b, loc, rows[half].lse, at, /*alignment=*/4);
          scf::YieldOp::create(b, loc);
        });
      }
      scf::YieldOp::create(b, loc);
    });
  }
}

FailureOr<gpu::GPUFuncOp> HopperAttentionBuilder::build(OpBuilder &builder,
                                                        StringRef name) {
  if (failed(verifyElementMaskLowerable(kernel.getMask())))
    return failure();
  // Window masks need whole 32-key words and 16-row warps (wgmma's).
  if (cfg.blockN % 32 == 0)
    separatedMask = separateMask(kernel.getMask());
  Location loc = kernel.getLoc();
  assert(layout.sharedMemoryBytes() == cfg.sharedMemoryBytes() &&
         "the kernel's layout and the tile plan's shared memory disagree");
  hopper::declareDynamicSharedMemory(builder, loc);
  auto func = gpu::GPUFuncOp::create(
      builder, loc, name, kernelSignature(kernel, elemType, cfg.family));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  setLaunchAttributes(func, kernel, cfg);
  // .maxntid lets ptxas plan registers for 384 threads (168 at entry);
  // setmaxnreg moves them between the roles.
  func->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                builder.getDenseI32ArrayAttr(
                    {static_cast<int32_t>(cfg.threads()), 1, 1}));
  int64_t maps = kNumFixedArgs +
                 llvm::range_size(kernel.getBody().front().getOps<mask::TableOp>());
  func->setAttr(target::kTensorMapArgsAttr,
                builder.getDenseI64ArrayAttr({maps, maps + 1, maps + 2}));

  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  emitPrologue(b, loc, block);
  emitBarrierInit(b, loc);
  emitPlanRows(b, loc);
  Value warpgroup = arith::DivUIOp::create(b, loc, grid.threadId,
                                           cst(b, loc, kWarpgroupThreads));
  Value isProducer =
      cmp(b, loc, arith::CmpIPredicate::eq, warpgroup, cst(b, loc, 0));
  scf::IfOp::create(
      b, loc, isProducer,
      [&](OpBuilder &b, Location loc) {
        emitProducer(b, loc);
        scf::YieldOp::create(b, loc);
      },
      [&](OpBuilder &b, Location loc) {
        emitConsumer(b, loc);
        scf::YieldOp::create(b, loc);
      });
  gpu::ReturnOp::create(b, loc);
  if (failedMask) {
    func.erase();
    return failure();
  }
  return func;
}

FailureOr<gpu::GPUFuncOp>
gpucodegen::buildHopperAttentionKernel(OpBuilder &builder, KernelOp kernel,
                                       const KernelConfig &config,
                                       StringRef name) {
  HopperAttentionBuilder b(kernel, config);
  return b.build(builder, name);
}
