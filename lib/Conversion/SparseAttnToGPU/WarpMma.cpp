//===- WarpMma.cpp - m16n8k16 tensor-core fragments of one warp -----------===//
//
// Implements the fragment builders of WarpMma.h. Loads go through
// `nvgpu.ldmatrix` (shared-memory addressing stays in memref form); the
// multiply is `nvvm.mma.sync` because MLIR 22's `nvgpu.mma.sync` lowering
// deduces no PTX type for bf16 operands. Using the NVVM op for f16 too
// keeps one fragment representation for both element types.
//
//===----------------------------------------------------------------------===//

#include "WarpMma.h"

#include "sattn/Conversion/IndexArith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace sattn::gpucodegen;
using sattn::indexarith::cst;

WarpLanes sattn::gpucodegen::emitWarpLanes(OpBuilder &b, Location loc,
                                           Value threadId) {
  auto rem = [&](Value x, int64_t n) -> Value {
    return arith::RemUIOp::create(b, loc, x, cst(b, loc, n));
  };
  auto div = [&](Value x, int64_t n) -> Value {
    return arith::DivUIOp::create(b, loc, x, cst(b, loc, n));
  };
  auto mul = [&](Value x, int64_t n) -> Value {
    return arith::MulIOp::create(b, loc, x, cst(b, loc, n));
  };
  WarpLanes w;
  w.lane = rem(threadId, 32);
  w.group = div(w.lane, 4);
  w.quad = rem(w.lane, 4);
  // Lane l supplies row l % 8 of matrix l / 8.
  Value rowInMatrix = rem(w.lane, 8);
  Value matrix = div(w.lane, 8);
  Value lowBit = mul(rem(matrix, 2), 8), highBit = mul(div(matrix, 2), 8);
  w.rowsFirstRow = arith::AddIOp::create(b, loc, rowInMatrix, lowBit);
  w.rowsFirstCol = highBit;
  w.colsFirstRow = arith::AddIOp::create(b, loc, rowInMatrix, highBit);
  w.colsFirstCol = lowBit;
  return w;
}

SmallVector<Value, 4> sattn::gpucodegen::emitLdMatrix16x16(
    OpBuilder &b, Location loc, Value smem, ValueRange leading, Value row0,
    Value col0, const WarpLanes &lanes, LdMatrixOrder order, bool transpose) {
  bool rowsFirst = order == LdMatrixOrder::RowHalvesFirst;
  Value row = arith::AddIOp::create(
      b, loc, row0, rowsFirst ? lanes.rowsFirstRow : lanes.colsFirstRow);
  Value col = arith::AddIOp::create(
      b, loc, col0, rowsFirst ? lanes.rowsFirstCol : lanes.colsFirstCol);
  SmallVector<Value> indices(leading.begin(), leading.end());
  indices.push_back(row);
  indices.push_back(col);
  Type elementType = cast<MemRefType>(smem.getType()).getElementType();
  auto fragType = VectorType::get({4, 2}, elementType);
  Value frag = nvgpu::LdMatrixOp::create(b, loc, fragType, smem, indices,
                                         transpose, /*numTiles=*/4);
  SmallVector<Value, 4> regs;
  for (int64_t i = 0; i < 4; ++i)
    regs.push_back(vector::ExtractOp::create(b, loc, frag, i));
  return regs;
}

/// The 32-bit form nvvm.mma.sync expects for a register of `elementType`:
/// vector<2xf16> as is, bf16 pairs as i32.
static Value asMmaOperand(OpBuilder &b, Location loc, Type elementType,
                          Value reg) {
  if (elementType.isF16())
    return reg;
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), reg);
}

SmallVector<Value, 4>
sattn::gpucodegen::emitMma16816(OpBuilder &b, Location loc, Type elementType,
                                ValueRange a, ValueRange bFrag, ValueRange c) {
  assert(a.size() == 4 && bFrag.size() == 2 && c.size() == 4);
  SmallVector<Value, 4> aOps, bOps;
  for (Value r : a)
    aOps.push_back(asMmaOperand(b, loc, elementType, r));
  for (Value r : bFrag)
    bOps.push_back(asMmaOperand(b, loc, elementType, r));
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes ptxType =
      elementType.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  Value d = NVVM::MmaOp::create(
      b, loc, resultType, aOps, bOps, c, /*shape=*/{16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value, 4> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, d, i));
  return out;
}

Value sattn::gpucodegen::emitPackPair(OpBuilder &b, Location loc,
                                      Type elementType, Value x, Value y) {
  Value pair = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{x, y});
  return arith::TruncFOp::create(b, loc, VectorType::get({2}, elementType),
                                 pair);
}

SmallVector<Value, 4> sattn::gpucodegen::emitAccumulatorAsA(
    OpBuilder &b, Location loc, Type elementType, ValueRange acc, int64_t kk) {
  auto at = [&](int64_t tile, int64_t e) { return acc[tile * 4 + e]; };
  int64_t lo = 2 * kk, hi = 2 * kk + 1;
  return {emitPackPair(b, loc, elementType, at(lo, 0), at(lo, 1)),
          emitPackPair(b, loc, elementType, at(lo, 2), at(lo, 3)),
          emitPackPair(b, loc, elementType, at(hi, 0), at(hi, 1)),
          emitPackPair(b, loc, elementType, at(hi, 2), at(hi, 3))};
}
