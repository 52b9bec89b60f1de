//===- MaskDialect.td - mask dialect umbrella --------------*- tablegen -*-===//
//
// Umbrella file handed to mlir-tblgen for the mask dialect.
//
//===----------------------------------------------------------------------===//

include "Mask/IR/MaskOps.td"
