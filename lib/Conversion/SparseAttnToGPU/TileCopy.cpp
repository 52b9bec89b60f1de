//===- TileCopy.cpp - global to shared tiles with cp.async ----------------===//
//
// Implements TileCopy.h. A row of headDim 16-bit elements is headDim / 8
// chunks of 16 bytes; thread t copies chunk t % (headDim / 8) of rows
// t / (headDim / 8) + i * (threads / (headDim / 8)). Consecutive threads
// read consecutive 16-byte chunks of a row, so a warp reads whole rows.
//
//===----------------------------------------------------------------------===//

#include "TileCopy.h"

#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace sattn::gpucodegen;
using sattn::indexarith::cst;

static constexpr int64_t kChunkElements = 8;

TileCopySlots sattn::gpucodegen::emitTileCopySlots(OpBuilder &b, Location loc,
                                                   const KernelConfig &config,
                                                   Value threadId,
                                                   int64_t rows) {
  int64_t chunksPerRow = config.chunksPerRow();
  TileCopySlots slots;
  slots.rowsPerPass = config.threads() / chunksPerRow;
  slots.passes = rows / slots.rowsPerPass;
  assert(config.threads() % chunksPerRow == 0 &&
         (rows * chunksPerRow) % config.threads() == 0 &&
         "the configuration guarantees an even split");
  slots.firstRow =
      arith::DivUIOp::create(b, loc, threadId, cst(b, loc, chunksPerRow));
  slots.column = arith::MulIOp::create(
      b, loc,
      arith::RemUIOp::create(b, loc, threadId, cst(b, loc, chunksPerRow)),
      cst(b, loc, kChunkElements));
  return slots;
}

void sattn::gpucodegen::emitAsyncTileCopy(OpBuilder &b, Location loc,
                                          const KernelConfig &config,
                                          const TileCopySlots &slots,
                                          ArrayRef<RowSource> sources,
                                          ArrayRef<TileCopyOperand> operands) {
  assert(static_cast<int64_t>(sources.size()) == slots.passes &&
         "one source per pass");
  int64_t rowStride = config.rowStride();
  Value full = cst(b, loc, kChunkElements), none = cst(b, loc, 0);
  // Shared element index of the thread's first chunk, per operand.
  SmallVector<Value> firstChunk;
  for (const TileCopyOperand &op : operands)
    firstChunk.push_back(arith::AddIOp::create(
        b, loc, op.sharedTile,
        arith::AddIOp::create(b, loc,
                              arith::MulIOp::create(b, loc, slots.firstRow,
                                                    cst(b, loc, rowStride)),
                              slots.column)));
  for (auto [pass, source] : llvm::enumerate(sources)) {
    Value elements = arith::SelectOp::create(b, loc, source.valid, full, none);
    int64_t rowOffset = pass * slots.rowsPerPass * rowStride;
    for (auto [op, first] : llvm::zip_equal(operands, firstChunk)) {
      Value dst = arith::AddIOp::create(b, loc, first, cst(b, loc, rowOffset));
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, op.shared, ValueRange{dst}, op.global,
          ValueRange{source.globalRow, slots.column},
          b.getIndexAttr(kChunkElements), elements,
          // 16-byte copies may bypass L1 (cp.async.cg): a tile is read once
          // per CTA; other CTAs find it in L2.
          b.getUnitAttr());
    }
  }
}

void sattn::gpucodegen::emitCommitGroup(OpBuilder &b, Location loc) {
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

void sattn::gpucodegen::emitWaitGroups(OpBuilder &b, Location loc,
                                       int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, static_cast<uint32_t>(pending));
}
