//===- HopperMma.cpp - wgmma operands and issue for sm_90a ----------------===//
//
// Descriptors follow the PTX ISA's canonical layouts for the 128-byte
// swizzle: K-major tiles are rows of 128 bytes in 1024-byte atoms of 8 rows
// (stride byte offset 1024, leading offset unused); an N-major tile (V,
// head_dim contiguous) has its next 64 columns in the next TMA box
// (leading byte offset = one box) and its next 8 keys 1024 bytes on.
//
//===----------------------------------------------------------------------===//

#include "HopperMma.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/StringExtras.h"

#include <cassert>

using namespace mlir;
using namespace sattn::gpucodegen;

Type hopper::accumulatorType(MLIRContext *ctx, int64_t n) {
  return LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(n, Float32Type::get(ctx)));
}

Value hopper::emitPackStruct(OpBuilder &b, Location loc, Type structType,
                             ValueRange values) {
  Value st = LLVM::PoisonOp::create(b, loc, structType);
  for (auto [i, v] : llvm::enumerate(values))
    st = LLVM::InsertValueOp::create(b, loc, st, v, i);
  return st;
}

SmallVector<Value> hopper::emitUnpackStruct(OpBuilder &b, Location loc,
                                            Value st) {
  auto type = cast<LLVM::LLVMStructType>(st.getType());
  SmallVector<Value> values;
  for (int64_t i = 0, e = type.getBody().size(); i < e; ++i)
    values.push_back(LLVM::ExtractValueOp::create(b, loc, st, i));
  return values;
}

SmallVector<Value> hopper::emitPin(OpBuilder &b, Location loc,
                                   ValueRange values) {
  if (values.empty())
    return {};
  Type type = values.front().getType();
  std::string reg = type.isF32() ? "=f" : "=r";
  SmallVector<std::string> constraints(values.size(), reg);
  for (size_t i = 0; i < values.size(); ++i)
    constraints.push_back(std::to_string(i));
  Type st = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(values.size(), type));
  auto pin = LLVM::InlineAsmOp::create(
      b, loc, st, values, "", llvm::join(constraints, ","),
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  return emitUnpackStruct(b, loc, pin.getResult(0));
}

Value hopper::emitSharedDescriptor(OpBuilder &b, Location loc, Value smem,
                                   int64_t leadingBytes, int64_t strideBytes) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  Value address = LLVM::PtrToIntOp::create(b, loc, i32, smem);
  Value start = arith::AndIOp::create(
      b, loc,
      arith::ShRUIOp::create(b, loc, address,
                             arith::ConstantIntOp::create(b, loc, i32, 4)),
      arith::ConstantIntOp::create(b, loc, i32, 0x3FFF));
  uint64_t fields = (uint64_t(1) << 62) |
                    (uint64_t(strideBytes >> 4) << 32) |
                    (uint64_t(leadingBytes >> 4) << 16);
  return arith::OrIOp::create(
      b, loc, arith::ExtUIOp::create(b, loc, i64, start),
      arith::ConstantIntOp::create(b, loc, i64, static_cast<int64_t>(fields)));
}

Value hopper::emitDescriptorAdvance(OpBuilder &b, Location loc, Value desc,
                                    int64_t bytes) {
  assert(bytes % 16 == 0 && "descriptor addresses are in 16-byte units");
  if (bytes == 0)
    return desc;
  return arith::AddIOp::create(
      b, loc, desc,
      arith::ConstantIntOp::create(b, loc, b.getI64Type(), bytes >> 4));
}

static NVVM::WGMMATypes wgmmaType(Type elementType) {
  return elementType.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
}

Value hopper::emitWgmmaShared(OpBuilder &b, Location loc, Type elementType,
                              int64_t n, Value acc, Value descA, Value descB,
                              bool accumulate, bool bMajorN) {
  MLIRContext *ctx = b.getContext();
  auto shape = NVVM::MMAShapeAttr::get(ctx, kWgmmaRows, n, kWgmmaK);
  return NVVM::WgmmaMmaAsyncOp::create(
      b, loc, acc.getType(), acc, descA, descB, shape,
      wgmmaType(elementType), wgmmaType(elementType), NVVM::WGMMATypes::f32,
      accumulate ? NVVM::WGMMAScaleOut::one : NVVM::WGMMAScaleOut::zero,
      NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
      NVVM::MMALayout::row, bMajorN ? NVVM::MMALayout::row : NVVM::MMALayout::col,
      NVVM::MMAIntOverflowAttr());
}

SmallVector<Value> hopper::emitWgmmaRegisterA(OpBuilder &b, Location loc,
                                              Type elementType, ValueRange acc,
                                              ValueRange a, Value descB) {
  assert(a.size() == 4 && "an m64k16 A fragment is 4 registers");
  int64_t numAcc = acc.size();
  int64_t n = 2 * numAcc;
  StringRef type = elementType.isBF16() ? "bf16" : "f16";
  SmallVector<std::string> dRegs;
  for (int64_t i = 0; i < numAcc; ++i)
    dRegs.push_back("$" + std::to_string(i));
  // Operands: accumulators out ($0..), A ($N/2..+3), the B descriptor,
  // then the accumulators in, tied to the outputs. scale-d is a predicate
  // (true: accumulate), then imm-scale-a, imm-scale-b and imm-trans-b = 1
  // (B is N-major). The register-A form has no imm-trans-a.
  auto reg = [](int64_t i) { return "$" + std::to_string(i); };
  std::string ptx = "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                    "wgmma.mma_async.sync.aligned.m64n" +
                    std::to_string(n) + "k16.f32." + type.str() + "." +
                    type.str() + " {" + llvm::join(dRegs, ", ") + "}, {" +
                    reg(numAcc) + ", " + reg(numAcc + 1) + ", " +
                    reg(numAcc + 2) + ", " + reg(numAcc + 3) + "}, " +
                    reg(numAcc + 4) + ", p, 1, 1, 1;\n}";
  SmallVector<std::string> constraints(numAcc, "=f");
  constraints.append(4, "r");
  constraints.push_back("l");
  for (int64_t i = 0; i < numAcc; ++i)
    constraints.push_back(std::to_string(i));
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  operands.append(acc.begin(), acc.end());
  auto op = LLVM::InlineAsmOp::create(
      b, loc, accumulatorType(b.getContext(), numAcc), operands, ptx,
      llvm::join(constraints, ","), /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  return emitUnpackStruct(b, loc, op.getResult(0));
}

void hopper::emitWgmmaFence(OpBuilder &b, Location loc) {
  NVVM::WgmmaFenceAlignedOp::create(b, loc);
}

void hopper::emitWgmmaCommit(OpBuilder &b, Location loc) {
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
}

void hopper::emitWgmmaWait(OpBuilder &b, Location loc, int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, pending);
}
