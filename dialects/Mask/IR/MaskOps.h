//===- MaskOps.h - mask dialect operations --------------------*- C++ -*-===//
//
// Declares the mask dialect's operations (generated from MaskOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_IR_MASKOPS_H
#define SATTN_MASK_IR_MASKOPS_H

#include "Mask/IR/MaskDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "sattn/Core/MaskProgram.h"

#include "Mask/IR/MaskEnums.h.inc"

#define GET_OP_CLASSES
#include "Mask/IR/MaskOps.h.inc"

namespace sattn::mask {
/// Table dimensions ("b", "h", "q", "k", "q/64", "k/64", "7") are parsed by
/// the core, which mask programs read without MLIR.
using ::sattn::TableDim;
using ::sattn::parseTableDim;
} // namespace sattn::mask

#endif // SATTN_MASK_IR_MASKOPS_H
