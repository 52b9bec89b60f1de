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
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilder.h"

#include "TileCopy.h"
#include "WarpMma.h"
#include "WarpSoftmax.h"

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

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

namespace {

constexpr int64_t kDynamic = ShapedType::kDynamic;
/// Marks the KV tile loops: "full-range", "full-gather", "partial-range",
/// "partial-gather".
constexpr llvm::StringLiteral kKvLoopAttr = "sattn.kv_loop";


SmallVector<mask::TableOp> kernelTables(KernelOp kernel) {
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

  FailureOr<gpu::GPUFuncOp> build(OpBuilder &builder, StringRef name);

private:
  FunctionType signature(MLIRContext *ctx) const;
  void setLaunchAttributes(gpu::GPUFuncOp func);

  void emitPrologue(OpBuilder &b, Location loc, Block &entry);
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
  LoopState emitKvTile(OpBuilder &b, Location loc, const TileKeys &keys,
                       Value stage, bool partial, LoopState state);
  TileScores emitScores(OpBuilder &b, Location loc, Value stage);
  SmallVector<Value> emitMaskBits(OpBuilder &b, Location loc,
                                  const TileKeys &keys, Value stage);
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
  void emitEpilogue(OpBuilder &b, Location loc, const LoopState &state);

  /// Column (within the KV tile) of element e of 8-column tile j, as a
  /// constant plus the thread's part (2 * quad), which is kept separate so
  /// that no per-column value is loop-invariant.
  int64_t columnOffset(int64_t j, int64_t e) const {
    return 8 * j + columnInPairOf(e);
  }
  MemRefType globalTileType(Type element) const;
  Value emitGlobalTile(OpBuilder &b, Location loc, Value ptr, Value offset,
                       Value rows, Value rowStride);
  Value emitBuffer(OpBuilder &b, Location loc, Value ptr, Type element,
                   ArrayRef<int64_t> shape, Value extent, Value offset = {});

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

  Value threadId, batchIdx, headIdx, tileIdx, kvHead, batchCount;
  Value lq, lk, numQueryTiles;
  Value qTile, kTile, vTile, oTile, lseRow; // global views of (b, h)
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

} // namespace

SmallVector<std::string> gpucodegen::kernelArgNames(KernelOp kernel) {
  SmallVector<std::string> names = {
      "q",    "k",        "v",       "o",           "lse",
      "q_sb", "q_sh",     "q_ss",    "k_sb",        "k_sh",
      "k_ss", "v_sb",     "v_sh",    "v_ss",        "o_sb",
      "o_sh", "o_ss",     "lse_sb",  "lse_sh",      "lq",
      "lk",   "segments", "offsets", "class_index", "num_query_tiles"};
  assert(names.size() == kNumFixedArgs && "one name per fixed argument");
  for (mask::TableOp table : kernelTables(kernel))
    names.push_back(("table_" + table.getSymName()).str());
  return names;
}

FunctionType GpuAttentionBuilder::signature(MLIRContext *ctx) const {
  // 0-d memrefs: with the bare-pointer calling convention each becomes one
  // pointer parameter; the kernel builds its own strided views from it.
  auto ptrTo = [&](Type t) { return MemRefType::get({}, t); };
  Type i64 = IntegerType::get(ctx, 64);
  SmallVector<Type> inputs(4, ptrTo(elemType));
  inputs.push_back(ptrTo(Float32Type::get(ctx)));
  inputs.append(3 * 4 + 2 + 2, i64); // strides, lq, lk
  inputs.append(3, ptrTo(i64));      // segments, offsets, class_index
  inputs.push_back(i64);             // num_query_tiles
  inputs.append(kernelTables(kernel).size(), ptrTo(i64));
  assert(inputs.size() == kNumFixedArgs + kernelTables(kernel).size());
  return FunctionType::get(ctx, inputs, {});
}

MemRefType GpuAttentionBuilder::globalTileType(Type element) const {
  MLIRContext *ctx = element.getContext();
  return MemRefType::get({kDynamic, cfg.headDim}, element,
                         StridedLayoutAttr::get(ctx, kDynamic, {kDynamic, 1}));
}

/// A strided view of `ptr` advanced by the i64 element offset `base`: the
/// offset goes into the pointer (64-bit address arithmetic, once per CTA)
/// and the view's descriptor holds offset 0, so the index arithmetic on the
/// view (kGpuIndexBitwidth wide) never sees it. The descriptor is built in
/// the LLVM dialect and cast to the memref type; convert-gpu-to-nvvm's
/// casts back to the descriptor cancel these.
static Value emitRebasedView(OpBuilder &b, Location loc, Value ptr,
                             Value base, MemRefType type,
                             ArrayRef<OpFoldResult> sizes,
                             ArrayRef<OpFoldResult> strides) {
  MLIRContext *ctx = b.getContext();
  Type idx = IntegerType::get(ctx, kGpuIndexBitwidth);
  auto llvmPtr = LLVM::LLVMPointerType::get(ctx);
  Value raw =
      UnrealizedConversionCastOp::create(b, loc, llvmPtr, ptr).getResult(0);
  Value rebased = LLVM::GEPOp::create(b, loc, llvmPtr, type.getElementType(),
                                     raw, ValueRange{base});
  auto arrayTy = LLVM::LLVMArrayType::get(idx, type.getRank());
  auto descTy = LLVM::LLVMStructType::getLiteral(
      ctx, {llvmPtr, llvmPtr, idx, arrayTy, arrayTy});
  auto toIdx = [&](OpFoldResult v) -> Value {
    if (auto attr = dyn_cast<Attribute>(v))
      return LLVM::ConstantOp::create(
          b, loc, idx,
          b.getIntegerAttr(idx, cast<IntegerAttr>(attr).getInt()));
    return arith::IndexCastOp::create(b, loc, idx, cast<Value>(v));
  };
  Value desc = LLVM::PoisonOp::create(b, loc, descTy);
  desc = LLVM::InsertValueOp::create(b, loc, desc, rebased, ArrayRef<int64_t>{0});
  desc = LLVM::InsertValueOp::create(b, loc, desc, rebased, ArrayRef<int64_t>{1});
  desc = LLVM::InsertValueOp::create(
      b, loc, desc,
      LLVM::ConstantOp::create(b, loc, idx, b.getIntegerAttr(idx, 0)),
      ArrayRef<int64_t>{2});
  for (int64_t i = 0; i < type.getRank(); ++i) {
    desc = LLVM::InsertValueOp::create(b, loc, desc, toIdx(sizes[i]),
                                       ArrayRef<int64_t>{3, i});
    desc = LLVM::InsertValueOp::create(b, loc, desc, toIdx(strides[i]),
                                       ArrayRef<int64_t>{4, i});
  }
  return UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
}

Value GpuAttentionBuilder::emitGlobalTile(OpBuilder &b, Location loc, Value ptr,
                                          Value offset, Value rows,
                                          Value rowStride) {
  return emitRebasedView(
      b, loc, ptr, offset, globalTileType(elemType),
      ArrayRef<OpFoldResult>{rows, b.getIndexAttr(cfg.headDim)},
      ArrayRef<OpFoldResult>{rowStride, b.getIndexAttr(1)});
}

Value GpuAttentionBuilder::emitBuffer(OpBuilder &b, Location loc, Value ptr,
                                      Type element, ArrayRef<int64_t> shape,
                                      Value extent, Value offset) {
  // `extent` sizes the dynamic dimension. The kernel does not know how long
  // plan and table buffers are (their readers bound every index
  // themselves); for those it is a placeholder that no access reads.
  SmallVector<OpFoldResult> sizes, strides;
  SmallVector<int64_t> staticShape;
  int64_t stride = 1;
  for (int64_t i = shape.size() - 1; i >= 0; --i) {
    strides.insert(strides.begin(), b.getIndexAttr(stride));
    if (shape[i] == kDynamic) {
      sizes.insert(sizes.begin(), OpFoldResult(extent));
    } else {
      sizes.insert(sizes.begin(), b.getIndexAttr(shape[i]));
      stride *= shape[i];
    }
    staticShape.insert(staticShape.begin(), shape[i]);
  }
  MemRefLayoutAttrInterface layout;
  if (offset) {
    assert(shape.size() == 1 && "offset views are rank 1");
    layout = StridedLayoutAttr::get(b.getContext(), kDynamic, {1});
  }
  auto type = MemRefType::get(staticShape, element, layout);
  if (offset)
    return emitRebasedView(b, loc, ptr, offset, type, sizes, strides);
  return memref::ReinterpretCastOp::create(b, loc, type, ptr,
                                           b.getIndexAttr(0), sizes, strides);
}

void GpuAttentionBuilder::emitPrologue(OpBuilder &b, Location loc,
                                       Block &block) {
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  auto idxArg = [&](unsigned i) { return toIndex(b, loc, arg(i)); };

  threadId = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  tileIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  headIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  batchIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  batchCount = gpu::GridDimOp::create(b, loc, gpu::Dimension::z);
  int64_t group = kernel.getHeads() / kernel.getKvHeads();
  kvHead = arith::DivUIOp::create(b, loc, headIdx, cst(b, loc, group));

  lq = idxArg(kArgLq);
  lk = idxArg(kArgLk);
  numQueryTiles = idxArg(kArgNumQueryTiles);

  // Global views of this CTA's (batch, head): rows x headDim. The base
  // offset b * stride_b + h * stride_h can pass 2^31 elements; it is
  // computed in i64 and folded into the view's pointer (emitRebasedView).
  auto base = [&](unsigned strides, Value head) {
    Type i64 = b.getI64Type();
    auto wide = [&](Value v) {
      return arith::IndexCastUIOp::create(b, loc, i64, v);
    };
    return add(b, loc, mul(b, loc, wide(batchIdx), arg(strides)),
               mul(b, loc, wide(head), arg(strides + 1)));
  };
  qTile = emitGlobalTile(b, loc, arg(kArgQ), base(kArgQStrides, headIdx), lq,
                         idxArg(kArgQStrides + 2));
  kTile = emitGlobalTile(b, loc, arg(kArgK), base(kArgKStrides, kvHead), lk,
                         idxArg(kArgKStrides + 2));
  vTile = emitGlobalTile(b, loc, arg(kArgV), base(kArgVStrides, kvHead), lk,
                         idxArg(kArgVStrides + 2));
  oTile = emitGlobalTile(b, loc, arg(kArgO), base(kArgOStrides, headIdx), lq,
                         idxArg(kArgOStrides + 2));
  if (kernel.getReturnLse())
    lseRow = emitBuffer(b, loc, arg(kArgLse), b.getF32Type(), {kDynamic}, lq,
                        base(kArgLseStrides, headIdx));
  Type i64 = b.getI64Type();
  Value unknown = cst(b, loc, 0);
  segments = emitBuffer(b, loc, arg(kArgSegments), i64, {kDynamic, 7}, unknown);
  offsets = emitBuffer(b, loc, arg(kArgOffsets), i64, {kDynamic}, unknown);
  classIndex =
      emitBuffer(b, loc, arg(kArgClassIndex), i64, {kDynamic}, unknown);

  for (auto [i, table] : llvm::enumerate(kernelTables(kernel))) {
    TableBinding binding;
    binding.buffer =
        emitBuffer(b, loc, arg(kNumFixedArgs + i), i64, {kDynamic}, unknown);
    binding.extents = emitTableExtents(b, loc, table, batchCount,
                                       cst(b, loc, kernel.getHeads()), lk);
    tables[table.getSymName()] = binding;
  }

  // Shared memory: [Q tile][K stages][V stages], rows padded (KernelConfig).
  auto workgroup = gpu::AddressSpaceAttr::get(
      b.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  Value dynShared = gpu::DynamicSharedMemoryOp::create(
      b, loc, MemRefType::get({kDynamic}, b.getI8Type(), nullptr, workgroup));
  auto view = [&](int64_t byteOffset, ArrayRef<int64_t> shape) -> Value {
    return memref::ViewOp::create(
        b, loc, MemRefType::get(shape, elemType, nullptr, workgroup), dynShared,
        cst(b, loc, byteOffset), ValueRange{});
  };
  qShared = view(cfg.qOffset(), {cfg.blockM, cfg.rowStride()});
  kShared = view(cfg.kOffset(), {cfg.stages, cfg.blockN, cfg.rowStride()});
  vShared = view(cfg.vOffset(), {cfg.stages, cfg.blockN, cfg.rowStride()});
  qSharedFlat = view(cfg.qOffset(), {cfg.blockM * cfg.rowStride()});
  kSharedFlat =
      view(cfg.kOffset(), {cfg.stages * cfg.blockN * cfg.rowStride()});
  vSharedFlat =
      view(cfg.vOffset(), {cfg.stages * cfg.blockN * cfg.rowStride()});
  keysShared = memref::ViewOp::create(
      b, loc,
      MemRefType::get({cfg.stages, cfg.blockN}, b.getI32Type(), nullptr,
                      workgroup),
      dynShared, cst(b, loc, cfg.keysOffset()), ValueRange{});

  emitThreadCoordinates(b, loc, threadId);
  log2Scale = emitLog2Scale(b, loc, kernel.getScale().convertToDouble());
}

void GpuAttentionBuilder::emitThreadCoordinates(OpBuilder &b, Location loc,
                                                Value tid) {
  threadId = tid;
  lanes = emitWarpLanes(b, loc, threadId);
  quadColumn = mul(b, loc, lanes.quad, cst(b, loc, 2));
  warpRow =
      mul(b, loc, arith::DivUIOp::create(b, loc, threadId, cst(b, loc, 32)),
          cst(b, loc, cfg.rowsPerWarp));
  // Query row i sits at absolute position i + (Lk - Lq).
  Value shift = arith::SubIOp::create(b, loc, lk, lq);
  Value tileRow0 = mul(b, loc, tileIdx, cst(b, loc, cfg.blockM));
  queryRow.assign(cfg.mTiles(), RowPair{});
  queryPos.assign(cfg.mTiles(), RowPair{});
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    for (int half = 0; half < 2; ++half) {
      Value inTile = add(b, loc, add(b, loc, warpRow, lanes.group),
                         cst(b, loc, 16 * mt + 8 * half));
      queryRow[mt][half] = add(b, loc, tileRow0, inTile);
      queryPos[mt][half] = add(b, loc, queryRow[mt][half], shift);
    }
  }
}

Value GpuAttentionBuilder::emitOpaqueThreadId(OpBuilder &b, Location loc) {
  // Every address and column a thread uses is a loop-invariant function of
  // its thread index. LLVM hoists them all out of the KV loop (after
  // reassociating away the per-tile parts) and keeps dozens of 64-bit
  // values live through the MMAs, which spills. Reading the index through
  // an asm statement that LLVM may not hoist makes it recompute them per
  // tile instead, where they fold into immediate address offsets.
  Value tid = LLVM::InlineAsmOp::create(
                  b, loc, b.getI32Type(), ValueRange{}, "mov.u32 $0, %tid.x;",
                  "=r", /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::tailcallkind::TailCallKind::None,
                  /*asm_dialect=*/LLVM::AsmDialectAttr(),
                  /*operand_attrs=*/ArrayAttr())
                  .getResult(0);
  return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), tid);
}

void GpuAttentionBuilder::emitQueryTile(OpBuilder &b, Location loc) {
  Value tileRow0 = mul(b, loc, tileIdx, cst(b, loc, cfg.blockM));
  TileCopySlots slots = emitTileCopySlots(b, loc, cfg, threadId, cfg.blockM);
  Value first = add(b, loc, tileRow0, slots.firstRow);
  Value zero = cst(b, loc, 0);
  SmallVector<RowSource> sources;
  for (int64_t pass = 0; pass < slots.passes; ++pass) {
    Value row = add(b, loc, first, cst(b, loc, pass * slots.rowsPerPass));
    Value valid = cmp(b, loc, arith::CmpIPredicate::ult, row, lq);
    sources.push_back(
        {arith::SelectOp::create(b, loc, valid, row, zero), valid});
  }
  emitAsyncTileCopy(b, loc, cfg, slots, sources,
                    {TileCopyOperand{qTile, qSharedFlat, zero}});
  emitCommitGroup(b, loc);
  emitWaitGroups(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
  if (!cfg.qInRegisters)
    return;
  qFrags.resize(cfg.mTiles());
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
    for (int64_t kk = 0; kk < cfg.headDim / 16; ++kk)
      qFrags[mt].push_back(emitLdMatrix16x16(
          b, loc, qShared, {}, mTileRow(b, loc, mt), cst(b, loc, 16 * kk),
          lanes, LdMatrixOrder::RowHalvesFirst, /*transpose=*/false));
}

TileKeys GpuAttentionBuilder::emitTileKeys(OpBuilder &b, Location loc,
                                           const SegmentRecord &seg,
                                           const SegmentTiles &tiles,
                                           bool gather, Value t) {
  Value bn = cst(b, loc, cfg.blockN);
  TileKeys keys;
  keys.gather = gather;
  keys.cursor = tiles.gather;
  if (gather) {
    keys.j0 = mul(b, loc, t, bn);
    keys.numKeys = min(
        b, loc, bn, arith::SubIOp::create(b, loc, tiles.gather.count, keys.j0));
  } else {
    keys.k0 = mul(b, loc, add(b, loc, seg.lo, t), bn);
    keys.numKeys =
        min(b, loc, bn, arith::SubIOp::create(b, loc, lk, keys.k0));
  }
  return keys;
}

Value GpuAttentionBuilder::emitKey(OpBuilder &b, Location loc,
                                   const TileKeys &keys, int64_t offset,
                                   Value threadPart) {
  Value base = keys.gather ? keys.j0 : keys.k0;
  Value position =
      add(b, loc, add(b, loc, base, cst(b, loc, offset)), threadPart);
  if (!keys.gather)
    return position;
  return emitGatheredKey(b, loc, keys.cursor, position);
}

Value GpuAttentionBuilder::emitKeyExists(OpBuilder &b, Location loc,
                                         const TileKeys &keys, int64_t offset,
                                         Value threadPart) {
  // threadPart + offset < numKeys, with the constant on the tile side.
  Value limit =
      arith::SubIOp::create(b, loc, keys.numKeys, cst(b, loc, offset));
  return cmp(b, loc, arith::CmpIPredicate::slt, threadPart, limit);
}

void GpuAttentionBuilder::emitIssueKvTile(OpBuilder &b, Location loc,
                                          const TileKeys &keys, Value stage) {
  TileCopySlots slots = emitTileCopySlots(b, loc, cfg, threadId, cfg.blockN);
  Value zero = cst(b, loc, 0);
  if (keys.gather) {
    // One thread per tile row evaluates the lattice formula (a division)
    // and publishes the key; the copies and the element masks of PARTIAL
    // tiles read it back. Missing rows get key 0, a valid row.
    for (int64_t first = 0; first < cfg.blockN; first += cfg.threads()) {
      Value row = add(b, loc, threadId, cst(b, loc, first));
      Value inTile =
          cmp(b, loc, arith::CmpIPredicate::ult, row, cst(b, loc, cfg.blockN));
      scf::IfOp::create(b, loc, inTile, [&](OpBuilder &b, Location loc) {
        Value valid = emitKeyExists(b, loc, keys, 0, row);
        Value key = arith::SelectOp::create(
            b, loc, valid, emitKey(b, loc, keys, 0, row), zero);
        memref::StoreOp::create(
            b, loc, arith::IndexCastOp::create(b, loc, b.getI32Type(), key),
            keysShared, ValueRange{stage, row});
        scf::YieldOp::create(b, loc);
      });
    }
    gpu::BarrierOp::create(b, loc);
  }
  SmallVector<RowSource> sources;
  for (int64_t pass = 0; pass < slots.passes; ++pass) {
    int64_t offset = pass * slots.rowsPerPass;
    Value valid = emitKeyExists(b, loc, keys, offset, slots.firstRow);
    Value key;
    if (keys.gather) {
      Value row = add(b, loc, slots.firstRow, cst(b, loc, offset));
      key = arith::IndexCastOp::create(
          b, loc, b.getIndexType(),
          memref::LoadOp::create(b, loc, keysShared, ValueRange{stage, row}));
    } else {
      key = arith::SelectOp::create(
          b, loc, valid, emitKey(b, loc, keys, offset, slots.firstRow), zero);
    }
    sources.push_back({key, valid});
  }
  Value tile = mul(b, loc, stage, cst(b, loc, cfg.blockN * cfg.rowStride()));
  emitAsyncTileCopy(b, loc, cfg, slots, sources,
                    {TileCopyOperand{kTile, kSharedFlat, tile},
                     TileCopyOperand{vTile, vSharedFlat, tile}});
}

TileScores GpuAttentionBuilder::emitScores(OpBuilder &b, Location loc,
                                           Value stage) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  TileScores s(cfg.mTiles(), SmallVector<Value>(cfg.blockN / 8 * 4, zero));
  for (int64_t kk = 0; kk < cfg.headDim / 16; ++kk) {
    SmallVector<SmallVector<Value, 4>, 2> a;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
      a.push_back(cfg.qInRegisters
                      ? qFrags[mt][kk]
                      : emitLdMatrix16x16(b, loc, qShared, {},
                                          mTileRow(b, loc, mt),
                                          cst(b, loc, 16 * kk), lanes,
                                          LdMatrixOrder::RowHalvesFirst, false));
    for (int64_t jp = 0; jp < cfg.blockN / 16; ++jp) {
      // One K fragment feeds the MMAs of every m16 tile of the warp.
      SmallVector<Value, 4> k = emitLdMatrix16x16(
          b, loc, kShared, {stage}, cst(b, loc, 16 * jp), cst(b, loc, 16 * kk),
          lanes, LdMatrixOrder::ColHalvesFirst, /*transpose=*/false);
      for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
        for (int64_t half = 0; half < 2; ++half) {
          int64_t tile = 2 * jp + half;
          MutableArrayRef<Value> c(s[mt].data() + 4 * tile, 4);
          SmallVector<Value, 4> d = emitMma16816(
              b, loc, elemType, a[mt], {k[2 * half], k[2 * half + 1]}, c);
          llvm::copy(d, c.begin());
        }
      }
    }
  }
  return s;
}

void GpuAttentionBuilder::emitKeyBound(OpBuilder &b, Location loc,
                                       const TileKeys &keys,
                                       MutableArrayRef<Value> scores) {
  emitMaskScores(b, loc, scores, [&](int64_t j, int64_t e) -> Value {
    return emitKeyExists(b, loc, keys, columnOffset(j, e), quadColumn);
  });
}

SmallVector<Value> GpuAttentionBuilder::emitMaskBits(OpBuilder &b,
                                                     Location loc,
                                                     const TileKeys &keys,
                                                     Value stage) {
  // A loop over the thread's elements, rolled but for cfg.maskUnroll
  // elements per iteration: the mask code is emitted a few times per tile
  // loop instead of once per element, which keeps PARTIAL tiles of
  // table-reading masks small and their registers few, while the table
  // reads of those few elements overlap. Element
  // i = mt * BN/2 + 4 * j + e (m16 tile mt, 8-column tile j) sets bit
  // i % 64 of word i / 64 when kept; one loop per word (one word unless
  // the warp holds more than 64 elements per thread).
  int64_t perTile = cfg.blockN / 8 * 4;
  int64_t elements = cfg.mTiles() * perTile;
  int64_t wordBits = elements <= 32 ? 32 : 64;
  Type bitsType = b.getIntegerType(wordBits);
  SmallVector<Value> words;
  for (int64_t first = 0; first < elements; first += wordBits) {
    int64_t end = std::min(elements, first + wordBits);
    Value none =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
    auto loop = scf::ForOp::create(
        b, loc, cst(b, loc, first), cst(b, loc, end), cst(b, loc, 1),
        ValueRange{none},
        [&](OpBuilder &b, Location loc, Value i, ValueRange carried) {
          auto udiv = [&](Value x, int64_t n) -> Value {
            return arith::DivUIOp::create(b, loc, x, cst(b, loc, n));
          };
          auto urem = [&](Value x, int64_t n) -> Value {
            return arith::RemUIOp::create(b, loc, x, cst(b, loc, n));
          };
          // The element within its m16 tile.
          Value w = cfg.mTiles() == 1 ? i : urem(i, perTile);
          Value e = urem(w, 4);
          Value half = udiv(e, 2);
          // Column 8j + e % 2 + 2 * quad of the tile.
          Value column = add(
              b, loc,
              add(b, loc, mul(b, loc, udiv(w, 4), cst(b, loc, 8)), urem(e, 2)),
              quadColumn);
          Value key;
          if (keys.gather)
            key = toIndex(b, loc,
                          memref::LoadOp::create(b, loc, keysShared,
                                                 ValueRange{stage, column}));
          else
            key = add(b, loc, keys.k0, column);
          // Row group + 8 * half of m16 tile mt: 16 rows past the last.
          Value q =
              add(b, loc, queryPos[0][0], mul(b, loc, half, cst(b, loc, 8)));
          if (cfg.mTiles() > 1)
            q = add(b, loc, q,
                    mul(b, loc, udiv(i, perTile), cst(b, loc, 16)));
          ElementMaskEnv env{batchIdx, headIdx, q, key, lk, tables};
          FailureOr<Value> keep =
              emitElementMask(b, loc, kernel.getMask(), env);
          Value bits = carried.front();
          if (failed(keep)) {
            failedMask = true;
          } else {
            // Columns past the tile's keys hold zero-filled rows (or, in a
            // gather, keys of the next lattice period), never a kept pair.
            Value exists =
                cmp(b, loc, arith::CmpIPredicate::slt, column, keys.numKeys);
            Value kept = arith::AndIOp::create(b, loc, *keep, exists);
            Value shift =
                first == 0 ? i
                           : arith::SubIOp::create(b, loc, i, cst(b, loc, first))
                                 .getResult();
            Value bit = arith::ShLIOp::create(
                b, loc, arith::ExtUIOp::create(b, loc, bitsType, kept),
                arith::IndexCastUIOp::create(b, loc, bitsType, shift));
            bits = arith::OrIOp::create(b, loc, bits, bit);
          }
          scf::YieldOp::create(b, loc, bits);
        });
    // A few elements per iteration, so that the table reads of masks that
    // have them are in flight together instead of one latency each.
    // (At least two iterations remain: unrolling a loop fully replaces it.)
    int64_t factor = cfg.maskUnroll;
    while (factor > 1 && ((end - first) % factor || (end - first) / factor < 2))
      factor /= 2;
    if (factor > 1)
      (void)loopUnrollByFactor(loop, factor);
    words.push_back(loop.getResult(0));
  }
  return words;
}

void GpuAttentionBuilder::emitApplyMaskBits(OpBuilder &b, Location loc,
                                            ArrayRef<Value> words,
                                            TileScores &scores) {
  Type bitsType = words.front().getType();
  int64_t wordBits = bitsType.getIntOrFloatBitWidth();
  int64_t perTile = cfg.blockN / 8 * 4;
  Value zero = arith::ConstantOp::create(b, loc, b.getIntegerAttr(bitsType, 0));
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    emitMaskScores(b, loc, scores[mt], [&](int64_t j, int64_t e) -> Value {
      int64_t i = mt * perTile + 4 * j + e;
      Value bit = arith::ConstantOp::create(
          b, loc,
          b.getIntegerAttr(bitsType,
                           static_cast<int64_t>(uint64_t(1) << (i % wordBits))));
      return cmp(b, loc, arith::CmpIPredicate::ne,
                 arith::AndIOp::create(b, loc, words[i / wordBits], bit), zero);
    });
  }
}

void GpuAttentionBuilder::emitAccumulate(
    OpBuilder &b, Location loc, Value stage, const TileScores &probabilities,
    MutableArrayRef<SmallVector<Value>> acc) {
  for (int64_t kk = 0; kk < cfg.blockN / 16; ++kk) {
    SmallVector<SmallVector<Value, 4>, 2> p;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
      p.push_back(emitAccumulatorAsA(b, loc, elemType, probabilities[mt], kk));
    for (int64_t jd = 0; jd < cfg.headDim / 16; ++jd) {
      // One V fragment feeds the MMAs of every m16 tile of the warp.
      SmallVector<Value, 4> v = emitLdMatrix16x16(
          b, loc, vShared, {stage}, cst(b, loc, 16 * kk), cst(b, loc, 16 * jd),
          lanes, LdMatrixOrder::RowHalvesFirst, /*transpose=*/true);
      for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
        for (int64_t half = 0; half < 2; ++half) {
          MutableArrayRef<Value> c(acc[mt].data() + 4 * (2 * jd + half), 4);
          SmallVector<Value, 4> d = emitMma16816(
              b, loc, elemType, p[mt], {v[2 * half], v[2 * half + 1]}, c);
          llvm::copy(d, c.begin());
        }
      }
    }
  }
}

LoopState GpuAttentionBuilder::emitKvTile(OpBuilder &b, Location loc,
                                          const TileKeys &keys, Value stage,
                                          bool partial, LoopState state) {
  // The mask depends on positions only: evaluating it before Q.K^T keeps
  // the scores out of the registers its code needs.
  SmallVector<Value> keepBits;
  if (partial)
    keepBits = emitMaskBits(b, loc, keys, stage);
  TileScores scores = emitScores(b, loc, stage);
  if (partial) {
    emitApplyMaskBits(b, loc, keepBits, scores);
  } else {
    // FULL tiles carry no mask code; only a ragged last tile (fewer than
    // BN keys) drops its missing columns of every m16 tile, behind a
    // uniform branch.
    Value ragged = cmp(b, loc, arith::CmpIPredicate::slt, keys.numKeys,
                       cst(b, loc, cfg.blockN));
    SmallVector<Value> flat;
    for (const SmallVector<Value> &s : scores)
      flat.append(s);
    SmallVector<Type> types(flat.size(), b.getF32Type());
    auto branch = scf::IfOp::create(b, loc, types, ragged, true);
    {
      OpBuilder tb = OpBuilder::atBlockEnd(branch.thenBlock());
      SmallVector<Value> bounded;
      for (const SmallVector<Value> &s : scores) {
        SmallVector<Value> tile(s);
        emitKeyBound(tb, loc, keys, tile);
        bounded.append(tile);
      }
      scf::YieldOp::create(tb, loc, bounded);
    }
    {
      OpBuilder eb = OpBuilder::atBlockEnd(branch.elseBlock());
      scf::YieldOp::create(eb, loc, flat);
    }
    int64_t perTile = cfg.blockN / 8 * 4;
    for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
      ValueRange r = branch.getResults().slice(mt * perTile, perTile);
      scores[mt].assign(r.begin(), r.end());
    }
  }
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    SoftmaxStep step =
        emitSoftmaxStep(b, loc, scores[mt], state.rows[mt], log2Scale);
    emitRescaleAccumulators(b, loc, state.acc[mt], step.alpha);
    state.rows[mt] = step.state;
  }
  emitAccumulate(b, loc, stage, scores, state.acc);
  return state;
}

void GpuAttentionBuilder::emitIssueFirstTileOfNext(OpBuilder &b, Location loc,
                                                   const SegmentPosition &pos,
                                                   Value stage) {
  Value nextIndex = add(b, loc, pos.index, cst(b, loc, 1));
  Value hasNext = cmp(b, loc, arith::CmpIPredicate::slt, nextIndex, pos.last);
  scf::IfOp::create(b, loc, hasNext, [&](OpBuilder &b, Location loc) {
    SegmentRecord next = emitLoadSegment(b, loc, segments, nextIndex);
    SegmentTiles tiles = emitSegmentTiles(b, loc, next, lk, cfg.blockN);
    Value nonEmpty =
        cmp(b, loc, arith::CmpIPredicate::sgt, tiles.numTiles, cst(b, loc, 0));
    scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &b, Location loc) {
      scf::IfOp::create(
          b, loc, next.isGather,
          [&](OpBuilder &tb, Location tl) {
            TileKeys keys = emitTileKeys(tb, tl, next, tiles, true, cst(tb, tl, 0));
            emitIssueKvTile(tb, tl, keys, stage);
            scf::YieldOp::create(tb, tl);
          },
          [&](OpBuilder &eb, Location el) {
            TileKeys keys = emitTileKeys(eb, el, next, tiles, false, cst(eb, el, 0));
            emitIssueKvTile(eb, el, keys, stage);
            scf::YieldOp::create(eb, el);
          });
      scf::YieldOp::create(b, loc);
    });
    scf::YieldOp::create(b, loc);
  });
}

LoopState GpuAttentionBuilder::emitSegment(OpBuilder &b, Location loc,
                                           const SegmentRecord &seg,
                                           const SegmentTiles &tiles,
                                           const SegmentPosition &pos,
                                           bool partial, bool gather,
                                           LoopState state) {
  int64_t stages = cfg.stages;
  Value n = tiles.numTiles;
  Value stagesValue = cst(b, loc, stages);
  auto stageOf = [&](OpBuilder &b, Location loc, Value t) -> Value {
    return arith::RemUIOp::create(b, loc, add(b, loc, pos.firstTile, t),
                                  stagesValue);
  };
  // Prologue: tiles 0 .. stages - 2, one commit group each, except tile 0
  // when the previous segment issued (and committed) it already. Stream
  // positions keep these stages clear of the previous segment's last tile,
  // which other warps may still read.
  for (int64_t i = 0; i + 1 < stages; ++i) {
    auto issue = [&](OpBuilder &b, Location loc) {
      Value ti = cst(b, loc, i);
      Value exists = cmp(b, loc, arith::CmpIPredicate::slt, ti, n);
      scf::IfOp::create(b, loc, exists, [&](OpBuilder &tb, Location tl) {
        ThreadScope scope(*this, tb, tl);
        TileKeys keys = emitTileKeys(tb, tl, seg, tiles, gather, ti);
        emitIssueKvTile(tb, tl, keys, stageOf(tb, tl, ti));
        scf::YieldOp::create(tb, tl);
      });
      emitCommitGroup(b, loc);
    };
    if (i > 0 || !cfg.prefetchAcrossSegments) {
      issue(b, loc);
      continue;
    }
    Value notAhead = arith::XOrIOp::create(
        b, loc, pos.ahead,
        arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    scf::IfOp::create(b, loc, notAhead, [&](OpBuilder &tb, Location tl) {
      issue(tb, tl);
      scf::YieldOp::create(tb, tl);
    });
  }
  auto loop = scf::ForOp::create(
      b, loc, cst(b, loc, 0), n, cst(b, loc, 1), state.flatten(),
      [&](OpBuilder &b, Location loc, Value t, ValueRange carried) {
        ThreadScope scope(*this, b, loc);
        // Every warp is done with tile t - 1, whose stage the prefetch
        // below refills.
        gpu::BarrierOp::create(b, loc);
        Value next = add(b, loc, t, cst(b, loc, stages - 1));
        Value exists = cmp(b, loc, arith::CmpIPredicate::slt, next, n);
        scf::IfOp::create(
            b, loc, exists,
            [&](OpBuilder &tb, Location tl) {
              TileKeys keys = emitTileKeys(tb, tl, seg, tiles, gather, next);
              emitIssueKvTile(tb, tl, keys, stageOf(tb, tl, next));
              scf::YieldOp::create(tb, tl);
            },
            [&](OpBuilder &eb, Location el) {
              if (!cfg.prefetchAcrossSegments) {
                scf::YieldOp::create(eb, el);
                return;
              }
              // The last tile prefetches the next segment's first.
              Value isLast = cmp(eb, el, arith::CmpIPredicate::eq,
                                 add(eb, el, t, cst(eb, el, 1)), n);
              scf::IfOp::create(eb, el, isLast, [&](OpBuilder &lb, Location ll) {
                emitIssueFirstTileOfNext(lb, ll, pos, stageOf(lb, ll, n));
                scf::YieldOp::create(lb, ll);
              });
              scf::YieldOp::create(eb, el);
            });
        // Always commit, possibly an empty group, so that "all but the
        // newest stages - 1 groups" is always tile t.
        emitCommitGroup(b, loc);
        emitWaitGroups(b, loc, stages - 1);
        gpu::BarrierOp::create(b, loc);
        Value stage = stageOf(b, loc, t);
        TileKeys keys = emitTileKeys(b, loc, seg, tiles, gather, t);
        LoopState s =
            emitKvTile(b, loc, keys, stage, partial,
                       LoopState::unflatten(carried, cfg.mTiles()));
        scf::YieldOp::create(b, loc, s.flatten());
      });
  // Names the variant in the IR, for readers and tests.
  loop->setAttr(
      kKvLoopAttr,
      StringAttr::get(b.getContext(), Twine(partial ? "partial" : "full") +
                                          "-" + (gather ? "gather" : "range")));
  return LoopState::unflatten(loop.getResults(), cfg.mTiles());
}

LoopState GpuAttentionBuilder::emitSegments(OpBuilder &b, Location loc,
                                            LoopState state) {
  Value flat = add(
      b, loc, mul(b, loc, batchIdx, cst(b, loc, kernel.getHeads())), headIdx);
  Value cls = toIndex(b, loc, memref::LoadOp::create(b, loc, classIndex, flat));
  // Segments of (class, m): rows [offsets[c * (T + 1) + m], ... + 1).
  Value slot =
      add(b, loc, mul(b, loc, cls, add(b, loc, numQueryTiles, cst(b, loc, 1))),
          tileIdx);
  Value first = toIndex(b, loc, memref::LoadOp::create(b, loc, offsets, slot));
  Value last = toIndex(b, loc,
                       memref::LoadOp::create(
                           b, loc, offsets, add(b, loc, slot, cst(b, loc, 1))));
  // Carried besides the softmax state (when prefetching across segments):
  // the stream position of the next segment's tile 0 and the previous
  // segment's tile count.
  bool across = cfg.prefetchAcrossSegments;
  int64_t extra = across ? 2 : 0;
  SmallVector<Value> init = state.flatten();
  if (across) {
    init.push_back(cst(b, loc, 0));
    init.push_back(cst(b, loc, 0));
  }
  auto loop = scf::ForOp::create(
      b, loc, first, last, cst(b, loc, 1), init,
      [&](OpBuilder &b, Location loc, Value s, ValueRange carried) {
        SegmentRecord seg = emitLoadSegment(b, loc, segments, s);
        SegmentTiles tiles = emitSegmentTiles(b, loc, seg, lk, cfg.blockN);
        ValueRange softmax = carried.drop_back(extra);
        Value zero = cst(b, loc, 0);
        SegmentPosition pos{s, last, zero,
                            arith::ConstantOp::create(b, loc, b.getBoolAttr(false))};
        if (across) {
          // The previous segment's last tile issued this one's first when
          // both have tiles (see emitIssueFirstTileOfNext).
          pos.firstTile = carried[carried.size() - 2];
          Value previousTiles = carried.back();
          pos.ahead = arith::AndIOp::create(
              b, loc,
              cmp(b, loc, arith::CmpIPredicate::sgt, previousTiles, zero),
              cmp(b, loc, arith::CmpIPredicate::sgt, tiles.numTiles, zero));
        } else {
          // Every segment numbers its stages from 0: the previous segment's
          // last tiles may still be read from the stages the prologue
          // overwrites.
          gpu::BarrierOp::create(b, loc);
        }
        LoopState in = LoopState::unflatten(softmax, cfg.mTiles());
        SmallVector<Type> types(softmax.getTypes());
        // Four uniform variants, so that each tile loop holds only its own
        // key arithmetic and, on FULL segments, no mask code.
        auto byMask = scf::IfOp::create(b, loc, types, seg.isFull, true);
        for (bool partial : {false, true}) {
          OpBuilder mb = OpBuilder::atBlockEnd(partial ? byMask.elseBlock()
                                                       : byMask.thenBlock());
          auto byKind = scf::IfOp::create(mb, loc, types, seg.isGather, true);
          for (bool gather : {true, false}) {
            OpBuilder kb = OpBuilder::atBlockEnd(gather ? byKind.thenBlock()
                                                        : byKind.elseBlock());
            LoopState out =
                emitSegment(kb, loc, seg, tiles, pos, partial, gather, in);
            scf::YieldOp::create(kb, loc, out.flatten());
          }
          scf::YieldOp::create(mb, loc, byKind.getResults());
        }
        SmallVector<Value> results(byMask.getResults());
        if (across) {
          results.push_back(add(b, loc, pos.firstTile, tiles.numTiles));
          results.push_back(tiles.numTiles);
        }
        scf::YieldOp::create(b, loc, results);
      });
  return LoopState::unflatten(loop.getResults().drop_back(extra), cfg.mTiles());
}

void GpuAttentionBuilder::emitEpilogue(OpBuilder &b, Location loc,
                                       const LoopState &state) {
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    std::array<RowEpilogue, 2> rows =
        emitRowEpilogues(b, loc, state.rows[mt]);
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
}

void GpuAttentionBuilder::setLaunchAttributes(gpu::GPUFuncOp func) {
  Builder b(func.getContext());
  func->setAttr(target::kKernelNameAttr, b.getStringAttr(kernel.getSymName()));
  func->setAttr(target::kBlockMAttr, b.getI64IntegerAttr(cfg.blockM));
  func->setAttr(target::kBlockNAttr, b.getI64IntegerAttr(cfg.blockN));
  func->setAttr(target::kWarpsAttr, b.getI64IntegerAttr(cfg.warps));
  func->setAttr(target::kStagesAttr, b.getI64IntegerAttr(cfg.stages));
  func->setAttr(target::kSharedMemoryAttr,
                b.getI64IntegerAttr(cfg.sharedMemoryBytes()));
  // Without a residency target ptxas caps registers to fit more blocks
  // than the shared memory allows anyway (174 per thread for 4-warp
  // head_dim 128 kernels, 128 and spills for 8-warp head_dim 64 ones).
  // .minnctapersm 1 lets it use what the code needs (213); two 4-warp
  // blocks still fit an SM (bench/RESULTS.md: dense 211 -> 259 TFLOP/s).
  func->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                b.getI32IntegerAttr(1));
  SmallVector<Attribute> names;
  for (const std::string &name : kernelArgNames(kernel))
    names.push_back(b.getStringAttr(name));
  func->setAttr(target::kParamNamesAttr, b.getArrayAttr(names));
}

FailureOr<gpu::GPUFuncOp> GpuAttentionBuilder::build(OpBuilder &builder,
                                                     StringRef name) {
  if (failed(verifyElementMaskLowerable(kernel.getMask())))
    return failure();
  Location loc = kernel.getLoc();
  auto func = gpu::GPUFuncOp::create(builder, loc, name,
                                     signature(builder.getContext()));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  func.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr(
      {static_cast<int32_t>(cfg.threads()), 1, 1}));
  setLaunchAttributes(func);

  Block &block = func.getBody().front();
  OpBuilder b = OpBuilder::atBlockBegin(&block);
  emitPrologue(b, loc, block);
  emitQueryTile(b, loc);

  LoopState state;
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt) {
    state.acc.emplace_back(cfg.headDim / 8 * 4, zero);
    state.rows.push_back(emitInitialRowState(b, loc));
  }
  state = emitSegments(b, loc, state);
  emitEpilogue(b, loc, state);
  gpu::ReturnOp::create(b, loc);

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
