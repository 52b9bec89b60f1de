//===- HopperAttentionBuilder.h - the sm_90a kernel's state ------*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToGPU. The builder of one Hopper
// attention kernel (HopperAttentionBuilder.cpp has the overview) keeps the
// values every phase reads in one class; the phases live in files of one
// job each:
//   HopperAttentionBuilder.cpp  kernel assembly: signature, shared memory
//                               and barriers, the plan rows of the tile,
//                               the split into roles, the epilogue
//   HopperProducer.cpp          the producer warpgroup: TMA loads of Q and
//                               of every KV tile of the plan into the ring
//   HopperGatheredLoads.cpp     with gathers: the rows of Gather and List
//                               tiles, copied by the whole producer
//                               warpgroup into the same ring
//   HopperConsumer.cpp          a consumer warpgroup: wgmma S = Q K^T, the
//                               element mask, online softmax, O += P V,
//                               overlapped across consecutive KV tiles
// with the building blocks HopperSync.h (TMA, mbarriers) and HopperMma.h
// (descriptors, wgmma).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERATTENTIONBUILDER_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERATTENTIONBUILDER_H

#include "GpuAttentionBuilder.h"
#include "WarpSoftmax.h"
#include "WindowMaskBits.h"

#include "sattn/Conversion/MaskSeparation.h"
#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/TileIteration.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace sattn::gpucodegen {
using namespace mlir;

/// Where everything lives in the Hopper kernel's shared memory (byte
/// offsets from the 1024-aligned base): the Q tile, `stages` K and V tiles,
/// then the mbarriers. A tile of R rows is head_dim / 64 TMA boxes of R
/// rows x 128 bytes, box c at c * R * 128 (the 128-byte swizzle).
struct HopperLayout {
  int64_t blockM, blockN, headDim, stages;
  bool gathers;
  explicit HopperLayout(const KernelConfig &c)
      : blockM(c.blockM), blockN(c.blockN), headDim(c.headDim),
        stages(c.stages), gathers(c.gathers) {}
  /// Box columns: 64 two-byte elements, the 128-byte swizzle span.
  static constexpr int64_t kBoxColumns = abi::kTensorMapBoxColumns;
  int64_t boxes() const { return headDim / kBoxColumns; }
  int64_t boxBytes(int64_t rows) const { return rows * kBoxColumns * 2; }
  int64_t tileBytes(int64_t rows) const { return boxes() * boxBytes(rows); }
  int64_t qOffset() const { return 0; }
  int64_t kOffset(int64_t stage) const {
    return tileBytes(blockM) + stage * tileBytes(blockN);
  }
  int64_t vOffset(int64_t stage) const {
    return kOffset(stages) + stage * tileBytes(blockN);
  }
  int64_t barriersOffset() const { return vOffset(stages); }
  /// mbarriers (8 bytes each): Q's, then one per stage for K full, for V
  /// full, for K empty and for V empty, in that order.
  int64_t fullQ() const { return barriersOffset(); }
  int64_t fullK() const { return fullQ() + 8; }
  int64_t fullV() const { return fullK() + 8 * stages; }
  int64_t emptyK() const { return fullV() + 8 * stages; }
  int64_t emptyV() const { return emptyK() + 8 * stages; }
  /// With gathers: the key positions (i32) of each stage's KV tile, BN per
  /// stage, written by the producer with the tile's K rows; Lk marks a
  /// slot past the end of the segment's keys.
  int64_t keys(int64_t stage) const {
    return emptyV() + 8 * stages + 4 * blockN * stage;
  }
  /// What the launch asks for: the layout plus 1 KiB to align the base.
  int64_t sharedMemoryBytes() const {
    return keys(gathers ? stages : 0) + 1024;
  }
};

/// Threads of the kernel: one producer and two consumer warpgroups.
constexpr int64_t kWarpgroupThreads = 128, kConsumerWarpgroups = 2;
/// Registers per thread after setmaxnreg: the producer gives back what the
/// consumers take from the 168 per thread of the launch (24 * 128 + 240 *
/// 256 = 168 * 384). Gathered rows need producer registers for addresses:
/// 40 * 128 + 232 * 256 = 168 * 384.
struct RegisterSplit {
  int64_t producer, consumer;
};
constexpr RegisterSplit kRegisters{24, 240}, kGatherRegisters{40, 232};

/// The softmax and output state a consumer thread carries across KV tiles:
/// its accumulators (head_dim / 2 f32), its two rows' running maximum and
/// partial sum, and the packed probabilities of the previous tile (BN / 4
/// registers of two 16-bit values), which the next step multiplies by V.
struct ConsumerState {
  SmallVector<Value> acc;
  RowState rows;
  SmallVector<Value> probs;
  SmallVector<Value> flatten() const;
  static ConsumerState unflatten(ValueRange values, int64_t numAcc,
                                 int64_t numProbs);
};

/// One KV tile of the stream as the consumers see it.
struct KvTileRef {
  Value keyTile;   // index: the tile of a Range segment (keys keyTile * BN..)
  Value partial;   // i1: the segment's tiles need the element mask
  /// With gathers only (null otherwise): the keys are those of the stage's
  /// key slots (a Gather or List segment), and fewer than BN of them.
  Value gathered, shortTile;
};

/// Which scores of a KV tile a consumer thread keeps: `masked` (i1) when
/// the tile needs masking at all (PARTIAL, or reaching past Lk), then bit
/// 4j + e of `bits` (i64) keeps accumulator value 4j + e.
struct TileMask {
  Value masked, bits;
};

class HopperAttentionBuilder {
public:
  HopperAttentionBuilder(KernelOp kernel, const KernelConfig &config)
      : kernel(kernel), cfg(config), layout(config),
        elemType(config.elementType) {}
  FailureOr<gpu::GPUFuncOp> build(OpBuilder &builder, StringRef name);

private:
  void emitPrologue(OpBuilder &b, Location loc, Block &entry);
  void emitBarrierInit(OpBuilder &b, Location loc);
  /// Rows [first, last) of the plan's segment table for this CTA's tile.
  void emitPlanRows(OpBuilder &b, Location loc);
  Value barrier(OpBuilder &b, Location loc, int64_t offset, Value stage = {});
  /// KV tiles of a plan segment: with gathers `tiles.numTiles` (computed by
  /// the caller, emitSegmentTiles); otherwise its Range tiles below Lk, and
  /// none for a Gather or List segment, which a plan of this kernel does not
  /// hold (PlanOptions::gathers is off): should one appear, both roles skip
  /// it alike, never misread it.
  Value emitKeyTiles(OpBuilder &b, Location loc, const SegmentRecord &seg,
                     const SegmentTiles &tiles);
  /// Stage and phase parity (i32) of the n-th KV tile of the stream.
  std::pair<Value, Value> stageAndParity(OpBuilder &b, Location loc, Value n);

  // HopperProducer.cpp
  void emitProducer(OpBuilder &b, Location loc);
  /// The loads of the CTA in the consumers' order. `leader` (i1) selects
  /// the thread that issues TMA copies when the whole warpgroup runs the
  /// stream (gathers); null when only that thread runs it.
  void emitLoadStream(OpBuilder &b, Location loc, Value leader);
  void emitLoadTile(OpBuilder &b, Location loc, Value tensorMap, Value dst,
                    Value row, Value head, Value bar, int64_t rows);

  // HopperGatheredLoads.cpp
  /// Copies the rows of KV tile `t` of a Gather or List segment (`cursor`)
  /// into the ring stage `stage` at `dst`, K (`isK`, which also writes the
  /// stage's key positions) or V, in the TMA boxes' swizzled layout; each
  /// producer thread arrives on `full` when its copies have landed.
  void emitLoadGatheredRows(OpBuilder &b, Location loc, bool isK,
                            const GatherCursor &cursor, Value t, Value stage,
                            Value dst, Value full);
  /// Shared memory address of the key position of column `column` (index)
  /// of ring stage `stage` (i32).
  Value emitKeySlot(OpBuilder &b, Location loc, Value stage, Value column);

  // HopperConsumer.cpp
  void emitConsumer(OpBuilder &b, Location loc);
  void emitConsumerCoordinates(OpBuilder &b, Location loc);
  /// i1: the segment's tiles need the element mask.
  Value emitPartial(OpBuilder &b, Location loc, const SegmentRecord &seg);
  /// The stream's KV tile `t` of segment `seg` (`tiles` with gathers).
  KvTileRef emitTileRef(OpBuilder &b, Location loc, const SegmentRecord &seg,
                        const SegmentTiles &tiles, Value t);
  ConsumerState emitFirstStep(OpBuilder &b, Location loc, const KvTileRef &tile);
  ConsumerState emitSteadyStep(OpBuilder &b, Location loc, Value n,
                               const KvTileRef &tile,
                               const ConsumerState &state);
  SmallVector<Value> emitTailStep(OpBuilder &b, Location loc, Value n,
                                  const ConsumerState &state);
  /// Issues S = Q K^T on K's ring stage `stage`; returns the accumulator
  /// struct, to be read after a wgmma wait.
  Value emitScoresGemm(OpBuilder &b, Location loc, Value stage);
  SmallVector<Value> emitProbsTimesV(OpBuilder &b, Location loc, Value stage,
                                     ValueRange acc, ValueRange probs);
  /// The mask of a Range tile, computed before the step's waits (a
  /// gathered tile gets `masked` false here).
  TileMask emitTileMask(OpBuilder &b, Location loc, const KvTileRef &tile);
  /// With gathers, after the step's waits: `rangeMask`, or the mask of a
  /// gathered tile from the key slots of `stage`.
  TileMask emitGatheredTileMask(OpBuilder &b, Location loc,
                                const KvTileRef &tile, Value stage,
                                const TileMask &rangeMask);
  /// With gathers, after a step's waits: fences the producer's cp.async
  /// writes before wgmma reads them.
  void emitGatheredRowsFence(OpBuilder &b, Location loc);
  void emitApplyTileMask(OpBuilder &b, Location loc, const TileMask &mask,
                         SmallVectorImpl<Value> &scores);
  /// Keep bits (i64, bit 4j + e for accumulator value 4j + e) of a KV
  /// tile whose column c holds key `keyAt(c)`: the element mask unless
  /// `full`, and k < Lk.
  Value emitKeepBits(OpBuilder &b, Location loc,
                     function_ref<Value(OpBuilder &, Location, Value)> keyAt,
                     Value full);
  /// emitKeepBits for a Range tile at key k0 when the mask separates
  /// (separatedMask): the same bits from window words (WindowMaskBits.h).
  Value emitWindowKeepBits(OpBuilder &b, Location loc, Value k0, Value full);
  SmallVector<Value> emitPackProbs(OpBuilder &b, Location loc,
                                   ArrayRef<Value> probs);
  void emitReleaseStage(OpBuilder &b, Location loc, int64_t emptyOffset,
                        Value stage);
  void emitEpilogue(OpBuilder &b, Location loc, const ConsumerState &state);

  KernelOp kernel;
  KernelConfig cfg;
  HopperLayout layout;
  Type elemType;
  bool failedMask = false;
  /// The mask as terms of q, k and q - k, when it separates.
  std::optional<SeparatedMask> separatedMask;
  RegisterSplit registers() const {
    return cfg.gathers ? kGatherRegisters : kRegisters;
  }

  GridCoordinates grid;
  /// The query tile of this CTA: grid.tileIdx counted from the last.
  Value tileIdx;
  Value oBase, lseBase;                       // !llvm.ptr of (b, h)'s rows
  Value oRowStride;                           // i64
  PlanViews plan;                             // plan buffers and tables
  Value firstSegment, lastSegment;            // index
  Value tensorMapQ, tensorMapK, tensorMapV;   // !llvm.ptr
  Value kRows, vRows;                         // !llvm.ptr, with gathers
  Value kRowStride, vRowStride;               // i64, with gathers
  Value smem;                                 // !llvm.ptr<3>, 1024-aligned
  Value log2Scale;

  // Consumer coordinates (HopperConsumer.cpp).
  Value consumer;          // index: 0 or 1
  Value leader;            // i1: thread 0 of the warpgroup
  Value lane, group;       // index: lane of the warp, lane / 4
  Value quadColumn;        // index: 2 * (lane % 4)
  std::array<Value, 2> queryRow, queryPos; // index, the two rows held
  Value descQ, descK0, descV0;             // i64 descriptors of stage 0
};

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_HOPPERATTENTIONBUILDER_H
