//===- GpuAttentionBuilderImpl.h - the sm_80 kernel builder's state -*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToGPU. The builder of one mma.sync
// attention kernel (GpuAttentionBuilder.cpp has the overview) keeps its
// state in one class, whose emitters are split by phase into files of one
// job each:
//   GpuAttentionBuilder.cpp   kernel assembly: signature, launch attributes,
//                             build(), epilogue
//   GpuAttentionPrologue.cpp  global views, shared buffers, thread
//                             coordinates, the query tile
//   GpuAttentionKvTile.cpp    one KV tile: its keys, loads, scores, element
//                             mask bits, online softmax and P V
//   GpuAttentionSegments.cpp  the plan's segments of a query tile and the
//                             prefetch across them
//   GpuBlockMax.cpp           block maxima of `block_max` kernels: the tiles'
//                             row maxima, then the per-tile maxima of P
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDERIMPL_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDERIMPL_H

#include "GpuAttentionBuilder.h"

//===----------------------------------------------------------------------===//

#include "TileCopy.h"
#include "WarpMma.h"
#include "WarpSoftmax.h"
#include "WindowMaskBits.h"

#include "sattn/Conversion/IndexArith.h"
#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/OnlineSoftmax.h"
#include "sattn/Conversion/Passes.h"
#include "sattn/Conversion/TileIteration.h"
#include "sattn/Target/LaunchInfo.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"

namespace sattn::gpucodegen {
using namespace mlir;
using namespace sattn::indexarith;

inline constexpr int64_t kDynamic = ShapedType::kDynamic;
/// Marks the KV tile loops: "full-range", "full-gather", "partial-range",
/// "partial-gather".
inline constexpr llvm::StringLiteral kKvLoopAttr = "sattn.kv_loop";

inline SmallVector<mask::TableOp> kernelTables(KernelOp kernel) {
  return llvm::to_vector(kernel.getBody().front().getOps<mask::TableOp>());
}

/// Values carried through the segment and tile loops, per m16 tile of the
/// warp: the output accumulators (headDim / 8 tiles of 4 f32) and the row
/// state. Flattened as all accumulators, then all row states.
struct LoopState {
  SmallVector<SmallVector<Value>, 2> acc;
  SmallVector<RowState, 2> rows;

  SmallVector<Value> flatten() const {
    SmallVector<Value> v;
    for (const SmallVector<Value> &a : acc)
      v.append(a);
    for (const RowState &r : rows)
      v.append({r.max[0], r.max[1], r.sum[0], r.sum[1]});
    return v;
  }
  static LoopState unflatten(ValueRange v, int64_t mTiles) {
    LoopState s;
    size_t rowValues = 4 * mTiles;
    size_t perTile = (v.size() - rowValues) / mTiles;
    for (int64_t mt = 0; mt < mTiles; ++mt) {
      ValueRange a = v.slice(mt * perTile, perTile);
      s.acc.emplace_back(a.begin(), a.end());
      ValueRange r = v.slice(v.size() - rowValues + 4 * mt, 4);
      RowState rows;
      rows.max = {r[0], r[1]};
      rows.sum = {r[2], r[3]};
      s.rows.push_back(rows);
    }
    return s;
  }
};

/// Per m16 tile of a warp: the scores of one KV tile (BN / 8 tiles of 4
/// f32).
using TileScores = SmallVector<SmallVector<Value>, 2>;
/// The two query rows (group and group + 8) a thread holds in an m16 tile.
using RowPair = std::array<Value, 2>;

/// The keys of KV tile t of a segment, in the closed forms of
/// TileIteration.h: range tile t holds keys k0 + [0, BN) with
/// k0 = (lo + t) * BN; gather tile t the gathered keys j0 + [0, BN) with
/// j0 = t * BN. Only the first `numKeys` exist (ragged tiles).
struct TileKeys {
  bool gather = false;
  Value k0, j0, numKeys;
  GatherCursor cursor;
};

/// Where a segment sits in the query tile's stream of KV tiles. Stages are
/// numbered by the tile's position in the whole stream (`firstTile` + t),
/// not within its segment, so that the last tile of one segment can
/// prefetch the first tile of the next into a stage no warp still reads:
/// one-tile segments (bands, key lists, 64-token blocks) then overlap their
/// loads with the previous tile's math instead of waiting for them.
struct SegmentPosition {
  Value index, last; // this segment's row, one past the query tile's last
  Value firstTile;   // stream position of the segment's tile 0
  Value ahead;       // i1: tile 0 was issued by the previous segment
};

class GpuAttentionBuilder {
public:
  GpuAttentionBuilder(KernelOp kernel, const KernelConfig &config)
      : kernel(kernel), cfg(config), elemType(config.elementType) {}
  virtual ~GpuAttentionBuilder() = default;

  FailureOr<gpu::GPUFuncOp> build(OpBuilder &builder, StringRef name);

protected:
  // The backward kernel (GpuBackwardBuilder.h) reuses every phase but the
  // KV tile's math, the prologue and the epilogue.

  void emitPrologue(OpBuilder &b, Location loc, Block &entry);
  /// The CTA's place in the grid and the lengths, as members.
  void adoptGrid(const GridCoordinates &grid);
  /// A view of dynamic shared memory at `byteOffset` (of the kernel's
  /// element type unless `element` is given).
  Value emitSharedView(OpBuilder &b, Location loc, int64_t byteOffset,
                       ArrayRef<int64_t> shape, Type element = {});
  /// The Q tile, K and V stages and key slots of KernelConfig's layout.
  void emitSharedViews(OpBuilder &b, Location loc);
  /// Copies the CTA's query rows of each (global view, flat shared view)
  /// with cp.async (rows past Lq zero-filled) and waits for them.
  void emitQueryRowsCopy(OpBuilder &b, Location loc,
                         ArrayRef<std::pair<Value, Value>> tiles);
  /// Checks that the element mask lowers and separates it into window
  /// terms where it can (separatedMask).
  LogicalResult prepareMask();
  /// Zero accumulators and the initial row state of each m16 tile.
  LoopState emitInitialLoopState(OpBuilder &b, Location loc);
  /// `func`, or failure (and `func` erased) when a mask failed to lower.
  FailureOr<gpu::GPUFuncOp> finishKernel(gpu::GPUFuncOp func);
  /// The gpu.func of a kernel with the given signature and block size:
  /// a kernel, and free to use the registers its code needs.
  gpu::GPUFuncOp createKernelFunc(OpBuilder &builder, Location loc,
                                  StringRef name, FunctionType type);
  void emitThreadCoordinates(OpBuilder &b, Location loc, Value tid);
  Value emitOpaqueThreadId(OpBuilder &b, Location loc);
  void emitQueryTile(OpBuilder &b, Location loc);
  LoopState emitSegments(OpBuilder &b, Location loc, LoopState state);
  LoopState emitSegment(OpBuilder &b, Location loc, const SegmentRecord &seg,
                        const SegmentTiles &tiles, const SegmentPosition &pos,
                        bool partial, bool gather, LoopState state);
  void emitIssueFirstTileOfNext(OpBuilder &b, Location loc,
                                const SegmentPosition &pos, Value stage);
  TileKeys emitTileKeys(OpBuilder &b, Location loc, const SegmentRecord &seg,
                        const SegmentTiles &tiles, bool gather, Value t);
  Value emitKey(OpBuilder &b, Location loc, const TileKeys &keys,
                int64_t offset, Value threadPart);
  Value emitKeyExists(OpBuilder &b, Location loc, const TileKeys &keys,
                      int64_t offset, Value threadPart);
  void emitIssueKvTile(OpBuilder &b, Location loc, const TileKeys &keys,
                       Value stage);
  virtual LoopState emitKvTile(OpBuilder &b, Location loc,
                               const TileKeys &keys, Value stage, bool partial,
                               LoopState state);
  TileScores emitScores(OpBuilder &b, Location loc, Value stage);
  SmallVector<Value> emitMaskBits(OpBuilder &b, Location loc,
                                  const TileKeys &keys, Value stage);
  /// emitMaskBits for a Range tile when the mask separates (separatedMask):
  /// the same words from window words (WindowMaskBits.h).
  SmallVector<Value> emitWindowMaskBits(OpBuilder &b, Location loc,
                                        const TileKeys &keys);
  void emitApplyMaskBits(OpBuilder &b, Location loc, ArrayRef<Value> words,
                         TileScores &scores);
  void emitKeyBound(OpBuilder &b, Location loc, const TileKeys &keys,
                    MutableArrayRef<Value> scores);
  void emitAccumulate(OpBuilder &b, Location loc, Value stage,
                      const TileScores &probabilities,
                      MutableArrayRef<SmallVector<Value>> acc);
  /// First row of m16 tile `mt` of the warp inside the query tile.
  Value mTileRow(OpBuilder &b, Location loc, int64_t mt) const {
    return mt == 0 ? warpRow : add(b, loc, warpRow, cst(b, loc, 16 * mt));
  }
  /// Writes O and LSE; returns each m16 tile's row epilogues (the rows'
  /// LSE, which block maxima read).
  SmallVector<std::array<RowEpilogue, 2>, 2> emitEpilogue(OpBuilder &b, Location loc,
                                                          const LoopState &state);

  // Block maxima (GpuBlockMax.cpp), for kernels compiled with `block_max`.
  /// Views of the CTA's rows of `row_max` and its row of `block_max`.
  void emitBlockMaxViews(OpBuilder &b, Location loc, Block &entry);
  /// Stores the tile's largest logit of each row half of m16 tile `mt`
  /// into `row_max` (one lane per quad, rows below Lq).
  void emitStoreTileRowMax(OpBuilder &b, Location loc, const TileKeys &keys,
                           int64_t mt, const std::array<Value, 2> &tileMax);
  /// After the epilogue: the block maxima of the query tile, from `row_max`
  /// and the rows' LSE (`rows`, emitEpilogue's), over the plan's tiles (0
  /// elsewhere).
  void emitBlockMaxEpilogue(OpBuilder &b, Location loc,
                            ArrayRef<std::array<RowEpilogue, 2>> rows);

  /// Column (within the KV tile) of element e of 8-column tile j, as a
  /// constant plus the thread's part (2 * quad), which is kept separate so
  /// that no per-column value is loop-invariant.
  int64_t columnOffset(int64_t j, int64_t e) const {
    return 8 * j + columnInPairOf(e);
  }
  MemRefType globalTileType(Type element) const;
  /// A rows x headDim view of (batch, head)'s slice at element `offset`
  /// (i64) of `ptr`, of the kernel's element type unless `element` is given.
  Value emitGlobalTile(OpBuilder &b, Location loc, Value ptr, Value offset,
                       Value rows, Value rowStride, Type element = {});

  /// Re-derives the thread coordinates from an opaque thread index for the
  /// code built during its lifetime (one KV tile), restoring them after.
  class ThreadScope {
  public:
    ThreadScope(GpuAttentionBuilder &builder, OpBuilder &b, Location loc)
        : builder(builder), saved{builder.threadId,   builder.lanes,
                                  builder.quadColumn, builder.warpRow,
                                  builder.queryRow,   builder.queryPos} {
      builder.emitThreadCoordinates(b, loc, builder.emitOpaqueThreadId(b, loc));
    }
    ~ThreadScope() {
      builder.threadId = saved.threadId;
      builder.lanes = saved.lanes;
      builder.quadColumn = saved.quadColumn;
      builder.warpRow = saved.warpRow;
      builder.queryRow = saved.queryRow;
      builder.queryPos = saved.queryPos;
    }

  private:
    GpuAttentionBuilder &builder;
    struct {
      Value threadId;
      WarpLanes lanes;
      Value quadColumn, warpRow;
      SmallVector<RowPair, 2> queryRow, queryPos;
    } saved;
  };

  KernelOp kernel;
  KernelConfig cfg;
  Type elemType;
  /// Set when emitting an element mask fails inside a builder callback.
  bool failedMask = false;
  /// The mask as terms of q, k and q - k, when it separates.
  std::optional<SeparatedMask> separatedMask;

  Value threadId, batchIdx, headIdx, tileIdx, kvHead, batchCount;
  Value lq, lk, numQueryTiles;
  Value qTile, kTile, vTile, oTile, lseRow; // global views of (b, h)
  /// `block_max` kernels: the (b, h) slice of row_max as a flat Lq x N view,
  /// the CTA's row of block_max (N entries), and N = ceil(Lk / BN).
  Value blockMaxRow, rowMaxSlice, kvTileCount;
  Value segments, offsets, classIndex;
  Value qShared, kShared, vShared;
  /// The same regions as rank-1 views, for the async copies.
  Value qSharedFlat, kSharedFlat, vSharedFlat;
  /// Key positions of the gathered tile in each stage (stages x BN, i32).
  Value keysShared;
  WarpLanes lanes;
  /// 2 * quad: the thread's first column in every 8-column tile.
  Value quadColumn;
  /// First row of the warp inside the query tile, and per m16 tile the two
  /// query rows (index into [0, Lq)) and absolute positions a thread holds.
  Value warpRow;
  SmallVector<RowPair, 2> queryRow, queryPos;
  /// Q operand fragments per m16 tile and k16 step when kept in registers.
  SmallVector<SmallVector<SmallVector<Value, 4>>, 2> qFrags;
  Value log2Scale;
  llvm::StringMap<TableBinding> tables;
};


} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUATTENTIONBUILDERIMPL_H
