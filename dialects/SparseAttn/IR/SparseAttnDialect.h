//===- SparseAttnDialect.h - sattn dialect --------------------*- C++ -*-===//
//
// Declares the sattn dialect (attention kernels) and its operations.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPARSEATTN_IR_SPARSEATTNDIALECT_H
#define SATTN_SPARSEATTN_IR_SPARSEATTNDIALECT_H

#include "Mask/IR/MaskOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/SymbolTable.h"

#include "SparseAttn/IR/SparseAttnDialect.h.inc"

#define GET_OP_CLASSES
#include "SparseAttn/IR/SparseAttnOps.h.inc"

#endif // SATTN_SPARSEATTN_IR_SPARSEATTNDIALECT_H
