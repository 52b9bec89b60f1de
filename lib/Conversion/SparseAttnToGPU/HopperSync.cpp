//===- HopperSync.cpp - TMA copies and mbarriers for sm_90a ---------------===//
//
// Thin builders over the NVVM ops. The wait is a loop around
// mbarrier.try_wait.parity (MLIR 22's looping op wants a time limit); the
// TMA destination is cast to the shared::cluster space that the
// non-multicast copy's PTX form names (a CTA is its own cluster here).
//
//===----------------------------------------------------------------------===//

#include "HopperSync.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn::gpucodegen;

/// The module-level symbol of the dynamic shared memory.
static constexpr llvm::StringLiteral kSharedSymbol = "__sattn_dynamic_smem";
static constexpr unsigned kSharedSpace = 3, kClusterSharedSpace = 7;

Value hopper::i32Const(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
}

void hopper::declareDynamicSharedMemory(OpBuilder &moduleBuilder,
                                        Location loc) {
  auto type = LLVM::LLVMArrayType::get(moduleBuilder.getI8Type(), 0);
  LLVM::GlobalOp::create(moduleBuilder, loc, type, /*isConstant=*/false,
                         LLVM::Linkage::External, kSharedSymbol, Attribute(),
                         /*alignment=*/1024, kSharedSpace);
}

Value hopper::emitAlignedSharedBase(OpBuilder &b, Location loc) {
  auto ptr = LLVM::LLVMPointerType::get(b.getContext(), kSharedSpace);
  Value raw = LLVM::AddressOfOp::create(b, loc, ptr, kSharedSymbol);
  Value address = LLVM::PtrToIntOp::create(b, loc, b.getI32Type(), raw);
  Value aligned = arith::AndIOp::create(
      b, loc, arith::AddIOp::create(b, loc, address, i32Const(b, loc, 1023)),
      i32Const(b, loc, -1024));
  return emitSharedOffset(b, loc, raw,
                          arith::SubIOp::create(b, loc, aligned, address));
}

Value hopper::emitSharedOffset(OpBuilder &b, Location loc, Value base,
                               int64_t bytes) {
  if (bytes == 0)
    return base;
  return LLVM::GEPOp::create(b, loc, base.getType(), b.getI8Type(), base,
                             ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(bytes)});
}

Value hopper::emitSharedOffset(OpBuilder &b, Location loc, Value base,
                               Value bytes) {
  return LLVM::GEPOp::create(b, loc, base.getType(), b.getI8Type(), base,
                             ArrayRef<LLVM::GEPArg>{bytes});
}

void hopper::emitMbarrierInit(OpBuilder &b, Location loc, Value barrier,
                              int64_t count) {
  NVVM::MBarrierInitOp::create(b, loc, barrier, i32Const(b, loc, count),
                               Value());
}

void hopper::emitMbarrierArrive(OpBuilder &b, Location loc, Value barrier) {
  NVVM::MBarrierArriveOp::create(b, loc, Type(), barrier, Value());
}

void hopper::emitMbarrierExpectBytes(OpBuilder &b, Location loc, Value barrier,
                                     int64_t bytes) {
  NVVM::MBarrierArriveExpectTxOp::create(b, loc, Type(), barrier,
                                         i32Const(b, loc, bytes),
                                         NVVM::MemScopeKind::CTA,
                                         /*relaxed=*/false, Value());
}

void hopper::emitMbarrierWait(OpBuilder &b, Location loc, Value barrier,
                              Value parity) {
  auto loop = scf::WhileOp::create(b, loc, TypeRange{}, ValueRange{});
  Block *before = b.createBlock(&loop.getBefore());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(before);
    Value done = NVVM::MBarrierTryWaitOp::create(b, loc, b.getI1Type(), barrier,
                                                 parity, Value());
    Value pending = arith::XOrIOp::create(
        b, loc, done, arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));
    scf::ConditionOp::create(b, loc, pending, ValueRange{});
  }
  Block *after = b.createBlock(&loop.getAfter());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(after);
    scf::YieldOp::create(b, loc);
  }
  b.setInsertionPointAfter(loop);
}

void hopper::emitTmaLoad(OpBuilder &b, Location loc, Value dst,
                         Value tensorMap, ValueRange coordinates,
                         Value barrier) {
  auto cluster = LLVM::LLVMPointerType::get(b.getContext(), kClusterSharedSpace);
  Value clusterDst = LLVM::AddrSpaceCastOp::create(b, loc, cluster, dst);
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      b, loc, clusterDst, tensorMap, coordinates, barrier, ValueRange{},
      Value(), Value(), NVVM::TMALoadMode::TILE, /*isCTAOnly=*/false,
      NVVM::CTAGroupKindAttr(), Value());
}

void hopper::emitAsyncCopy16(OpBuilder &b, Location loc, Value dst, Value src,
                             Value srcBytes) {
  NVVM::CpAsyncOp::create(
      b, loc, dst, src, b.getI32IntegerAttr(16),
      NVVM::LoadCacheModifierKindAttr::get(b.getContext(),
                                           NVVM::LoadCacheModifierKind::CG),
      srcBytes);
}

void hopper::emitAsyncCopiesArrive(OpBuilder &b, Location loc, Value barrier) {
  NVVM::CpAsyncMBarrierArriveOp::create(b, loc, barrier, /*noinc=*/true);
}

void hopper::emitNamedBarrier(OpBuilder &b, Location loc, int64_t id,
                              int64_t threads) {
  NVVM::BarrierOp::create(b, loc, Type(), i32Const(b, loc, id),
                          i32Const(b, loc, threads), NVVM::BarrierReductionAttr(),
                          Value());
}

void hopper::emitAsyncProxyFence(OpBuilder &b, Location loc) {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}
