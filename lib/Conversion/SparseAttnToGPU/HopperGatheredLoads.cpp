//===- HopperGatheredLoads.cpp - gathered KV tiles of the sm_90a kernel ---===//
//
// TMA copies boxes of consecutive rows; the keys of a Gather or List
// segment (token strides, small power blocks, key lists) are scattered
// rows. A kernel built with gathers lets the whole producer warpgroup copy
// them with cp.async into the same ring stage a box would fill, in the
// box's 128-byte-swizzled layout, so that the consumers' wgmma descriptors
// do not change:
//
//   K: thread i writes the position of key t * BN + i of the segment (Lk
//      past its end) to the stage's key slots; bar.sync among the 128
//      producer threads;
//   K and V: thread i copies 16-byte chunk i % (head_dim / 8) of rows
//      i / (head_dim / 8) + p * (1024 / head_dim), zero-filled past the
//      end, then arrives on the stage's "full" barrier once they land
//      (cp.async.mbarrier.arrive.noinc; the barrier counts 128 arrivals,
//      which a TMA tile gets from thread 0's expect-tx and 127 plain ones).
//
// The key slots also tell the consumers which key each column holds, for
// the element mask of PARTIAL tiles and for the short last tile of a
// segment. Copies through the generic proxy are fenced by the consumers
// before their wgmma reads them (HopperConsumer.cpp).
//
//===----------------------------------------------------------------------===//

#include "HopperAttentionBuilder.h"

#include "HopperSync.h"

#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

/// The producer warpgroup's named barrier (0 is __syncthreads).
constexpr int64_t kProducerBarrierId = 1;
/// 16-byte chunks: 8 two-byte elements; 8 chunks make a 128-byte box row.
constexpr int64_t kChunkElements = 8, kChunksPerBoxRow = 8;

Value HopperAttentionBuilder::emitKeySlot(OpBuilder &b, Location loc,
                                          Value stage, Value column) {
  Type i32 = b.getI32Type();
  Value slot = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, stage, hopper::i32Const(b, loc, cfg.blockN)),
      arith::IndexCastUIOp::create(b, loc, i32, column));
  return hopper::emitSharedOffset(
      b, loc, hopper::emitSharedOffset(b, loc, smem, layout.keys(0)),
      arith::MulIOp::create(b, loc, slot, hopper::i32Const(b, loc, 4)));
}

void HopperAttentionBuilder::emitLoadGatheredRows(
    OpBuilder &b, Location loc, bool isK, const GatherCursor &cursor, Value t,
    Value stage, Value dst, Value full) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  Value lane = grid.threadId; // 0 .. 127 in the producer warpgroup
  Value lk32 = arith::IndexCastUIOp::create(b, loc, i32, grid.lk);
  if (isK) {
    Value write = cmp(b, loc, arith::CmpIPredicate::ult, lane, cst(b, loc, cfg.blockN));
    scf::IfOp::create(b, loc, write, [&](OpBuilder &b, Location loc) {
      Value j = add(b, loc, mul(b, loc, t, cst(b, loc, cfg.blockN)), lane);
      Value inSegment = cmp(b, loc, arith::CmpIPredicate::slt, j, cursor.count);
      auto key = scf::IfOp::create(b, loc, TypeRange{i32}, inSegment,
                                   /*withElseRegion=*/true);
      {
        OpBuilder tb = OpBuilder::atBlockEnd(key.thenBlock());
        Value k = emitGatheredKey(tb, loc, cursor, j);
        scf::YieldOp::create(tb, loc,
                             ValueRange{arith::IndexCastUIOp::create(tb, loc, i32, k)});
      }
      {
        OpBuilder eb = OpBuilder::atBlockEnd(key.elseBlock());
        scf::YieldOp::create(eb, loc, ValueRange{lk32});
      }
      LLVM::StoreOp::create(b, loc, key.getResult(0),
                            emitKeySlot(b, loc, stage, lane), /*alignment=*/4);
      scf::YieldOp::create(b, loc);
    });
    hopper::emitNamedBarrier(b, loc, kProducerBarrierId, kWarpgroupThreads);
  }

  int64_t chunksPerRow = cfg.chunksPerRow();
  int64_t rowsPerPass = kWarpgroupThreads / chunksPerRow;
  Value chunk = arith::RemUIOp::create(b, loc, lane, cst(b, loc, chunksPerRow));
  Value firstRow = arith::DivUIOp::create(b, loc, lane, cst(b, loc, chunksPerRow));
  // Chunk c of a row goes to box c / 8, at 16-byte position (c % 8) ^
  // (row % 8) of the row's 128 bytes there (the 128-byte swizzle).
  Value box = arith::DivUIOp::create(b, loc, chunk, cst(b, loc, kChunksPerBoxRow));
  Value inRow = arith::RemUIOp::create(b, loc, chunk, cst(b, loc, kChunksPerBoxRow));
  Value column = mul(b, loc, chunk, cst(b, loc, kChunkElements));
  Value rows = isK ? kRows : vRows;
  Value rowStride = isK ? kRowStride : vRowStride;
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  auto globalPtr = LLVM::LLVMPointerType::get(b.getContext(), 1);
  scf::ForOp::create(
      b, loc, cst(b, loc, 0), cst(b, loc, cfg.blockN / rowsPerPass), cst(b, loc, 1),
      ValueRange{}, [&](OpBuilder &b, Location loc, Value pass, ValueRange) {
        Value row = add(b, loc, firstRow, mul(b, loc, pass, cst(b, loc, rowsPerPass)));
        Value key = LLVM::LoadOp::create(b, loc, i32, emitKeySlot(b, loc, stage, row),
                                         /*alignment=*/4);
        Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, key, lk32);
        Value safeKey = arith::SelectOp::create(b, loc, valid, key,
                                                hopper::i32Const(b, loc, 0));
        Value offset = arith::AddIOp::create(
            b, loc,
            arith::MulIOp::create(b, loc, arith::ExtUIOp::create(b, loc, i64, safeKey),
                                  rowStride),
            arith::IndexCastUIOp::create(b, loc, i64, column));
        Value src = LLVM::GEPOp::create(b, loc, ptrType, elemType, rows,
                                        ArrayRef<LLVM::GEPArg>{offset});
        src = LLVM::AddrSpaceCastOp::create(b, loc, globalPtr, src);
        Value swizzled = arith::XOrIOp::create(
            b, loc, inRow, arith::RemUIOp::create(b, loc, row, cst(b, loc, 8)));
        Value bytes = add(
            b, loc,
            add(b, loc, mul(b, loc, box, cst(b, loc, layout.boxBytes(cfg.blockN))),
                mul(b, loc, row, cst(b, loc, HopperLayout::kBoxColumns * 2))),
            mul(b, loc, swizzled, cst(b, loc, 16)));
        Value to = hopper::emitSharedOffset(
            b, loc, dst, arith::IndexCastUIOp::create(b, loc, i32, bytes));
        Value srcBytes = arith::SelectOp::create(b, loc, valid, hopper::i32Const(b, loc, 16),
                                                 hopper::i32Const(b, loc, 0));
        hopper::emitAsyncCopy16(b, loc, to, src, srcBytes);
        scf::YieldOp::create(b, loc);
      });
  hopper::emitAsyncCopiesArrive(b, loc, full);
}
