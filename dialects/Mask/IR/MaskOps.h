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

#include "Mask/IR/MaskEnums.h.inc"

#define GET_OP_CLASSES
#include "Mask/IR/MaskOps.h.inc"

namespace sattn::mask {
/// Parses a table dimension ("b", "h", "q", "k", "q/64", "k/64", "7").
/// Returns false when the text is not a valid dimension.
struct TableDim {
  enum Kind { Batch, Head, QueryPos, KeyPos, Literal } kind;
  int64_t blockSize = 1; // positions per entry for QueryPos/KeyPos
  int64_t extent = 0;    // for Literal
};
bool parseTableDim(llvm::StringRef text, TableDim &dim);
} // namespace sattn::mask

#endif // SATTN_MASK_IR_MASKOPS_H
