//===- MaskDialect.h - mask dialect ---------------------------*- C++ -*-===//
//
// Declares the mask dialect and its !mask.mask type.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_IR_MASKDIALECT_H
#define SATTN_MASK_IR_MASKDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Dialect.h"

#include "Mask/IR/MaskDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "Mask/IR/MaskTypes.h.inc"

#endif // SATTN_MASK_IR_MASKDIALECT_H
