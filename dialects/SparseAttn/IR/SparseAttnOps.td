//===- SparseAttnOps.td - sattn dialect --------------------*- tablegen -*-===//
//
// The sattn dialect holds attention kernels: `sattn.kernel` is a symbol with
// its configuration (dtype, head_dim, heads, kv_heads, softmax scale,
// whether LSE is returned) whose body declares runtime tables and computes
// the mask the kernel applies. Tile plans attach to kernels in later stages.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_SPARSEATTN_OPS_TD
#define SATTN_SPARSEATTN_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "Mask/IR/MaskBase.td"

def SparseAttn_Dialect : Dialect {
  let name = "sattn";
  let cppNamespace = "::sattn";
  let summary = "Sparse attention kernels";
  let dependentDialects = ["::sattn::mask::MaskDialect"];
}

class SparseAttn_Op<string mnemonic, list<Trait> traits = []>
    : Op<SparseAttn_Dialect, mnemonic, traits>;

def SparseAttn_KernelOp : SparseAttn_Op<"kernel", [Symbol, SymbolTable,
    IsolatedFromAbove, SingleBlock]> {
  let summary = "a sparse attention kernel and its mask";
  let description = [{
    Computes O = softmax(scale * Q K^T restricted to the mask) V per
    (batch, head), with K/V head `h / (heads / kv_heads)` serving query head
    `h` (GQA/MQA). The body declares runtime tables (`mask.table`), builds the
    mask and ends with `sattn.yield`.

    Configuration rules: `dtype` is bf16 or f16, `head_dim` is 64, 128 or
    256, `heads` and `kv_heads` are positive with `heads` a multiple of
    `kv_heads`, and `scale` is positive and finite. `return_lse` makes the
    kernel also return the log-sum-exp of every row; `block_max` makes it
    also write, per (query tile, KV tile), the largest attention probability
    of the tile (the training target of learned block gates). Mask ops nested in the
    body are checked against the head counts (`mask.per_head` assigns every
    head, `mask.strided_blocks` makes at most all heads dense).

    ```mlir
    sattn.kernel @streaming(dtype = bf16, head_dim = 128, heads = 32,
                            kv_heads = 8, scale = 0.088388) {
      %c = mask.causal
      sattn.yield %c
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$dtype,
                       I64Attr:$head_dim, I64Attr:$heads, I64Attr:$kv_heads,
                       F64Attr:$scale, UnitAttr:$return_lse,
                       UnitAttr:$block_max);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `(` `dtype` `=` $dtype `,` `head_dim` `=` $head_dim `,`
    `heads` `=` $heads `,` `kv_heads` `=` $kv_heads `,` `scale` `=` $scale `)`
    (`return_lse` $return_lse^)? (`block_max` $block_max^)?
    attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// The mask value yielded by the body.
    ::mlir::Value getMask();
  }];
}

def SparseAttn_YieldOp : SparseAttn_Op<"yield", [Pure, Terminator,
    HasParent<"KernelOp">]> {
  let summary = "names the mask a kernel applies";
  let description = [{
    Terminates the body of a `sattn.kernel`. Its operand, a mask computed in
    the kernel body, is the mask the kernel applies.
  }];
  let arguments = (ins Mask_MaskTypeBuildable:$mask);
  let assemblyFormat = "$mask attr-dict";
}

#endif // SATTN_SPARSEATTN_OPS_TD
