//===- GpuAttentionPrologue.cpp - kernel setup on sm_80+ --------------------===//
//
// The start of every CTA: strided views of Q, K, V, O and LSE for its
// (batch, head), the shared-memory buffers of the stages, the thread's
// coordinates (kept opaque to the optimiser, see emitOpaqueThreadId) and
// the query tile's copy into shared memory and registers.
//
//===----------------------------------------------------------------------===//

#include "GpuAttentionBuilderImpl.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::gpucodegen;
using namespace sattn::indexarith;

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
                                          Value rowStride, Type element) {
  return emitRebasedView(
      b, loc, ptr, offset, globalTileType(element ? element : elemType),
      ArrayRef<OpFoldResult>{rows, b.getIndexAttr(cfg.headDim)},
      ArrayRef<OpFoldResult>{rowStride, b.getIndexAttr(1)});
}

Value gpucodegen::emitBufferView(OpBuilder &b, Location loc, Value ptr,
                                 Type element, ArrayRef<int64_t> shape,
                                 Value extent, Value offset) {
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

void gpucodegen::emitGridStrideLoop(
    OpBuilder &b, Location loc, Value items,
    function_ref<void(OpBuilder &, Location, Value)> body) {
  Type i64 = b.getI64Type();
  auto wide = [&](Value v) -> Value { return arith::IndexCastOp::create(b, loc, i64, v); };
  Value first = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, wide(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x)),
                            wide(gpu::BlockDimOp::create(b, loc, gpu::Dimension::x))),
      wide(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x)));
  Value step =
      arith::MulIOp::create(b, loc, wide(gpu::GridDimOp::create(b, loc, gpu::Dimension::x)),
                            wide(gpu::BlockDimOp::create(b, loc, gpu::Dimension::x)));
  scf::ForOp::create(b, loc, first, items, step, ValueRange{},
                     [&](OpBuilder &ib, Location il, Value item, ValueRange) {
                       body(ib, il, item);
                       scf::YieldOp::create(ib, il);
                     });
}

GridCoordinates gpucodegen::emitGridCoordinates(OpBuilder &b, Location loc,
                                               KernelOp kernel, Block &block,
                                               const ArgPositions &positions) {
  auto idxArg = [&](unsigned i) { return toIndex(b, loc, block.getArgument(i)); };
  GridCoordinates g;
  g.threadId = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  g.tileIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  g.headIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  g.batchIdx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  g.batchCount = gpu::GridDimOp::create(b, loc, gpu::Dimension::z);
  int64_t group = kernel.getHeads() / kernel.getKvHeads();
  g.kvHead = arith::DivUIOp::create(b, loc, g.headIdx, cst(b, loc, group));
  g.lq = idxArg(positions.lq);
  g.lk = idxArg(positions.lk);
  g.numQueryTiles = idxArg(positions.numQueryTiles);
  return g;
}

PlanViews gpucodegen::emitPlanViews(OpBuilder &b, Location loc,
                                    KernelOp kernel, Block &block,
                                    const GridCoordinates &grid,
                                    const ArgPositions &positions) {
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  Type i64 = b.getI64Type();
  Value unknown = cst(b, loc, 0);
  PlanViews plan;
  plan.segments =
      emitBufferView(b, loc, arg(positions.segments), i64, {kDynamic, 7}, unknown);
  plan.offsets =
      emitBufferView(b, loc, arg(positions.offsets), i64, {kDynamic}, unknown);
  plan.classIndex =
      emitBufferView(b, loc, arg(positions.classIndex), i64, {kDynamic}, unknown);
  for (auto [i, table] : llvm::enumerate(kernelTables(kernel))) {
    TableBinding binding;
    binding.buffer = emitBufferView(b, loc, arg(positions.firstTable + i), i64,
                                    {kDynamic}, unknown);
    binding.extents = emitTableExtents(b, loc, table, grid.batchCount,
                                       cst(b, loc, kernel.getHeads()), grid.lk);
    plan.tables[table.getSymName()] = binding;
  }
  return plan;
}

std::pair<Value, Value>
gpucodegen::emitSegmentRows(OpBuilder &b, Location loc, KernelOp kernel,
                            Value offsets, Value classIndex, Value batch,
                            Value head, Value numQueryTiles, Value tile) {
  Value flat =
      add(b, loc, mul(b, loc, batch, cst(b, loc, kernel.getHeads())), head);
  Value cls = toIndex(b, loc, memref::LoadOp::create(b, loc, classIndex, flat));
  Value slot =
      add(b, loc, mul(b, loc, cls, add(b, loc, numQueryTiles, cst(b, loc, 1))),
          tile);
  Value first = toIndex(b, loc, memref::LoadOp::create(b, loc, offsets, slot));
  Value last = toIndex(
      b, loc,
      memref::LoadOp::create(b, loc, offsets, add(b, loc, slot, cst(b, loc, 1))));
  return {first, last};
}

void GpuAttentionBuilder::emitPrologue(OpBuilder &b, Location loc,
                                       Block &block) {
  auto arg = [&](unsigned i) { return block.getArgument(i); };
  auto idxArg = [&](unsigned i) { return toIndex(b, loc, arg(i)); };

  GridCoordinates grid = emitGridCoordinates(b, loc, kernel, block);
  adoptGrid(grid);

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
    lseRow = emitBufferView(b, loc, arg(kArgLse), b.getF32Type(), {kDynamic},
                            lq, base(kArgLseStrides, headIdx));
  PlanViews plan = emitPlanViews(b, loc, kernel, block, grid);
  segments = plan.segments;
  offsets = plan.offsets;
  classIndex = plan.classIndex;
  tables = std::move(plan.tables);

  emitSharedViews(b, loc);
  emitThreadCoordinates(b, loc, threadId);
  log2Scale = emitLog2Scale(b, loc, kernel.getScale().convertToDouble());
  if (kernel.getBlockMax())
    emitBlockMaxViews(b, loc, block);
}

void GpuAttentionBuilder::adoptGrid(const GridCoordinates &grid) {
  threadId = grid.threadId;
  tileIdx = grid.tileIdx;
  headIdx = grid.headIdx;
  batchIdx = grid.batchIdx;
  batchCount = grid.batchCount;
  kvHead = grid.kvHead;
  lq = grid.lq;
  lk = grid.lk;
  numQueryTiles = grid.numQueryTiles;
}

Value GpuAttentionBuilder::emitSharedView(OpBuilder &b, Location loc,
                                          int64_t byteOffset,
                                          ArrayRef<int64_t> shape, Type element) {
  auto workgroup = gpu::AddressSpaceAttr::get(
      b.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  Value dynShared = gpu::DynamicSharedMemoryOp::create(
      b, loc, MemRefType::get({kDynamic}, b.getI8Type(), nullptr, workgroup));
  return memref::ViewOp::create(
      b, loc, MemRefType::get(shape, element ? element : elemType, nullptr, workgroup),
      dynShared, cst(b, loc, byteOffset), ValueRange{});
}

void GpuAttentionBuilder::emitSharedViews(OpBuilder &b, Location loc) {
  // Shared memory: [Q tile][K stages][V stages][key slots], rows padded
  // (KernelConfig).
  int64_t rs = cfg.rowStride(), stageElements = cfg.stages * cfg.blockN * rs;
  qShared = emitSharedView(b, loc, cfg.qOffset(), {cfg.blockM, rs});
  kShared = emitSharedView(b, loc, cfg.kOffset(), {cfg.stages, cfg.blockN, rs});
  vShared = emitSharedView(b, loc, cfg.vOffset(), {cfg.stages, cfg.blockN, rs});
  qSharedFlat = emitSharedView(b, loc, cfg.qOffset(), {cfg.blockM * rs});
  kSharedFlat = emitSharedView(b, loc, cfg.kOffset(), {stageElements});
  vSharedFlat = emitSharedView(b, loc, cfg.vOffset(), {stageElements});
  keysShared = emitSharedView(b, loc, cfg.keysOffset(), {cfg.stages, cfg.blockN},
                              b.getI32Type());
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

void GpuAttentionBuilder::emitQueryRowsCopy(
    OpBuilder &b, Location loc, ArrayRef<std::pair<Value, Value>> tiles) {
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
  SmallVector<TileCopyOperand> operands;
  for (auto [global, shared] : tiles)
    operands.push_back(TileCopyOperand{global, shared, zero});
  emitAsyncTileCopy(b, loc, cfg, slots, sources, operands);
  emitCommitGroup(b, loc);
  emitWaitGroups(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
}

void GpuAttentionBuilder::emitQueryTile(OpBuilder &b, Location loc) {
  emitQueryRowsCopy(b, loc, {{qTile, qSharedFlat}});
  if (!cfg.qInRegisters)
    return;
  qFrags.resize(cfg.mTiles());
  for (int64_t mt = 0; mt < cfg.mTiles(); ++mt)
    for (int64_t kk = 0; kk < cfg.headDim / 16; ++kk)
      qFrags[mt].push_back(emitLdMatrix16x16(
          b, loc, qShared, {}, mTileRow(b, loc, mt), cst(b, loc, 16 * kk),
          lanes, LdMatrixOrder::RowHalvesFirst, /*transpose=*/false));
}
