//===- MaskBase.td - mask dialect definition ---------------*- tablegen -*-===//
//
// The mask dialect is sattn's mask algebra: a value of type !mask.mask is a
// predicate over (b, h, q, k) with absolute query/key positions. Named
// patterns stay named ops so that tile planning can exploit their structure.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_BASE_TD
#define SATTN_MASK_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Mask_Dialect : Dialect {
  let name = "mask";
  let cppNamespace = "::sattn::mask";
  let summary = "Sparse-attention mask algebra";
  let description = [{
    Values of type `!mask.mask` denote sets of kept (b, h, q, k) index tuples.
    Named static patterns, dynamic (estimated) patterns, set combinators and
    free-form predicates over the index variables compose into one mask.
  }];
  let useDefaultTypePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def Mask_MaskType : TypeDef<Mask_Dialect, "Mask"> {
  let mnemonic = "mask";
  let summary = "a set of kept (b, h, q, k) attention pairs";
}
// Lets ODS generate builders that need no result type.
def Mask_MaskTypeBuildable : Type<CPred<"::llvm::isa<::sattn::mask::MaskType>($_self)">,
    "mask", "::sattn::mask::MaskType">,
    BuildableType<"$_builder.getType<::sattn::mask::MaskType>()">;

def Mask_BlockScorer : I32EnumAttr<"BlockScorer", "estimator scoring KV blocks", [
    I32EnumAttrCase<"mean_pool", 0>,
    I32EnumAttrCase<"antidiagonal", 1>]> {
  let cppNamespace = "::sattn::mask";
}

#endif // SATTN_MASK_BASE_TD
