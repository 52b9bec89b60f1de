//===- MaskDialect.cpp - mask dialect registration ------------------------===//
//
// Registers the mask dialect's type and operations.
//
//===----------------------------------------------------------------------===//

#include "Mask/IR/MaskDialect.h"
#include "Mask/IR/MaskOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace sattn::mask;

#include "Mask/IR/MaskDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "Mask/IR/MaskTypes.cpp.inc"

void MaskDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "Mask/IR/MaskTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "Mask/IR/MaskOps.cpp.inc"
      >();
}
