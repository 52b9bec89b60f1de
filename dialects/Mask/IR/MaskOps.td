//===- MaskOps.td - mask dialect operations ----------------*- tablegen -*-===//
//
// One op per named pattern of the spec language (docs/MASK_SEMANTICS.md
// defines each), the dynamic (estimated) patterns
// as declarations with their full parameter sets, set combinators, runtime
// table declarations and lookups, and the free-form `mask.predicate`.
// Every pattern op is Pure: masks are values, and the algebra is rewritten
// freely by canonicalisation.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_MASK_OPS_TD
#define SATTN_MASK_OPS_TD

include "Mask/IR/MaskBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

class Mask_Op<string mnemonic, list<Trait> traits = []>
    : Op<Mask_Dialect, mnemonic, traits>;

// A pattern op produces a mask and has no operands of its own.
class Mask_PatternOp<string mnemonic, list<Trait> traits = []>
    : Mask_Op<mnemonic, !listconcat(traits, [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  let results = (outs Mask_MaskTypeBuildable:$result);
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def Mask_FullOp : Mask_PatternOp<"full"> {
  let summary = "every pair is kept (dense attention)";
  let description = [{
    The universal mask: keeps every (b, h, q, k). It is the identity of
    `mask.intersect` and absorbs `mask.union`.

    ```mlir
    %all = mask.full
    ```
  }];
  let assemblyFormat = "attr-dict";
}

def Mask_EmptyOp : Mask_PatternOp<"empty"> {
  let summary = "no pair is kept";
  let description = [{
    The empty mask: keeps nothing. It is the identity of `mask.union` and
    absorbs `mask.intersect`.

    ```mlir
    %none = mask.empty
    ```
  }];
  let assemblyFormat = "attr-dict";
}

//===----------------------------------------------------------------------===//
// Named static patterns
//===----------------------------------------------------------------------===//

def Mask_CausalOp : Mask_PatternOp<"causal"> {
  let summary = "k <= q";
  let description = [{
    Causal (autoregressive) attention: a query attends to its own position
    and every earlier key, `k <= q` with absolute positions.

    ```mlir
    %c = mask.causal
    ```
  }];
  let assemblyFormat = "attr-dict";
}

def Mask_WindowOp : Mask_PatternOp<"window"> {
  let summary = "sliding window: q - size < k <= q, or |q - k| <= size when symmetric";
  let description = [{
    Causal form (default): keeps `q - size < k <= q`, so `size` keys per row
    including the diagonal; `size` must be positive. Symmetric form: keeps
    `abs(q - k) <= size`; `size` (a radius) must be non-negative.

    ```mlir
    %w = mask.window 4096
    %r = mask.window 64 symmetric
    ```
  }];
  let arguments = (ins I64Attr:$size, UnitAttr:$symmetric);
  let assemblyFormat = "$size (`symmetric` $symmetric^)? attr-dict";
  let hasVerifier = 1;
}

def Mask_SinkOp : Mask_PatternOp<"sink"> {
  let summary = "attention sink: k < count";
  let description = [{
    StreamingLLM attention sinks: every query attends to the first `count`
    key positions (`count` positive). Not causal on its own; intersect with
    `mask.causal` when wanted.

    ```mlir
    %s = mask.sink 4
    ```
  }];
  let arguments = (ins I64Attr:$count);
  let assemblyFormat = "$count attr-dict";
  let hasVerifier = 1;
}

def Mask_TailQueriesOp : Mask_PatternOp<"tail_queries"> {
  let summary = "the last `count` query positions attend everywhere: q >= Lk - count";
  let description = [{
    Used by the tri-shape pattern (MInference). Depends on the runtime key
    length Lk: query positions are absolute, so the last query is Lk - 1.
    `count` must be positive.

    ```mlir
    %t = mask.tail_queries 100
    ```
  }];
  let arguments = (ins I64Attr:$count);
  let assemblyFormat = "$count attr-dict";
  let hasVerifier = 1;
}

def Mask_StridedOp : Mask_PatternOp<"strided"> {
  let summary = "token-level stride: k mod stride == offset(h) mod stride";
  let description = [{
    S2-Attention / Sparse-Transformer strided keys. `offset` is an affine map
    of the head index `h` (one dimension, one result, no symbols), evaluated
    per head and reduced modulo `stride` (positive).

    ```mlir
    %s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>
    ```
  }];
  let arguments = (ins I64Attr:$stride, AffineMapAttr:$offset);
  let assemblyFormat = "`stride` $stride `offset` $offset attr-dict";
  let hasVerifier = 1;
}

def Mask_StridedBlocksOp : Mask_PatternOp<"strided_blocks"> {
  let summary = "S2 / DKernel block-strided pattern";
  let description = [{
    With I = q / block_size, J = k / block_size: keeps I >= J and
    (I - J < local_blocks or (J + hh * step + offset) mod vert_stride == 0),
    then token causality k <= q. hh is the head index, or the KV head index
    when `per_kv_group` is set (heads of a GQA group share one pattern);
    step = max(1, vert_stride / n) with n the number of (KV) heads. The last
    `dense_heads` (KV) heads are dense causal.
  }];
  let arguments = (ins I64Attr:$block_size, I64Attr:$local_blocks,
                       I64Attr:$vert_stride, I64Attr:$offset,
                       I64Attr:$dense_heads, UnitAttr:$per_kv_group);
  let assemblyFormat = [{
    `block` $block_size `local` $local_blocks `vert_stride` $vert_stride
    `offset` $offset `dense_heads` $dense_heads
    (`per_kv_group` $per_kv_group^)? attr-dict
  }];
  let hasVerifier = 1;
}

def Mask_DilatedOp : Mask_PatternOp<"dilated"> {
  let summary = "dilated window: k <= q, q - k < window * dilation, (q - k) mod dilation == 0";
  let description = [{
    LongNet-style dilated sliding window: `window` keys per row (diagonal
    included), `dilation` positions apart. Both parameters are positive;
    `dilation 1` is `mask.window`.

    ```mlir
    %d = mask.dilated window 64 dilation 4
    ```
  }];
  let arguments = (ins I64Attr:$window, I64Attr:$dilation);
  let assemblyFormat = "`window` $window `dilation` $dilation attr-dict";
  let hasVerifier = 1;
}

def Mask_PowerOp : Mask_PatternOp<"power"> {
  let summary = "PowerAttention: block distances 0, powers of two, a local window, sink blocks";
  let description = [{
    With I = q / block_size, J = k / block_size, d = I - J: keeps k <= q and
    J <= I and (d == 0 or d is a power of two or d < window_blocks or
    J < sink_blocks).
  }];
  let arguments = (ins I64Attr:$block_size, I64Attr:$window_blocks,
                       I64Attr:$sink_blocks);
  let assemblyFormat = [{
    `block` $block_size `window` $window_blocks `sink` $sink_blocks attr-dict
  }];
  let hasVerifier = 1;
}

def Mask_PrefixOp : Mask_PatternOp<"prefix"> {
  let summary = "prefix-LM: k < length or k <= q";
  let description = [{
    Prefix-LM (T5 / PrefixLM): the first `length` keys are visible to every
    query, the rest causally. `length` is non-negative; `prefix 0` is
    `mask.causal`. Canonicalisation turns `union(sink N, causal)` into
    `prefix N`.

    ```mlir
    %p = mask.prefix 128
    ```
  }];
  let arguments = (ins I64Attr:$length);
  let assemblyFormat = "$length attr-dict";
  let hasVerifier = 1;
}

def Mask_DocumentOp : Mask_PatternOp<"document",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "packed documents: ids[b, q] == ids[b, k] (runtime ids)";
  let description = [{
    `table` names an integer table declared with dims ["b", "k"] or ["k"]
    holding the document id of every absolute position.
  }];
  let arguments = (ins FlatSymbolRefAttr:$table);
  let assemblyFormat = "$table attr-dict";
}

def Mask_BlockTableOp : Mask_PatternOp<"block_table",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "runtime block mask: keep[h, q / block, k / block]";
  let description = [{
    `table` names a bool table declared with dims ["h", "q/B", "k/B"] where
    B is `block_size`. Token causality is not implied; intersect with
    `mask.causal` when wanted.
  }];
  let arguments = (ins FlatSymbolRefAttr:$table, I64Attr:$block_size);
  let assemblyFormat = "$table `block` $block_size attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Dynamic patterns: estimated at run time. Declarations with full parameter
// sets and verifiers; their lowering produces index lists the kernel reads.
//===----------------------------------------------------------------------===//

def Mask_VerticalSlashOp : Mask_PatternOp<"vertical_slash"> {
  let summary = "MInference vertical-slash (estimated from the last queries)";
  let description = [{
    Dynamic pattern. From the last `last_q` queries the estimator scores key
    columns (vertical lines) and diagonals `q - k` (slash lines) and keeps the
    top `vertical` columns and top `slash` diagonals per head, causally.
    `forced (fv, fs)` always keeps the first `fv` columns and the nearest `fs`
    diagonals, so `fv <= vertical` and `fs <= slash`. `block` is the kernel
    tile the estimator's index lists are built for.

    ```mlir
    %vs = mask.vertical_slash vertical 1000 slash 6096 last_q 64 forced(30, 100) block 64
    ```
  }];
  let arguments = (ins I64Attr:$num_vertical, I64Attr:$num_slash,
                       I64Attr:$last_q, I64Attr:$forced_vertical,
                       I64Attr:$forced_slash, I64Attr:$block_size);
  let assemblyFormat = [{
    `vertical` $num_vertical `slash` $num_slash `last_q` $last_q
    `forced` `(` $forced_vertical `,` $forced_slash `)` `block` $block_size attr-dict
  }];
  let hasVerifier = 1;
}

def Mask_BlockTopKOp : Mask_PatternOp<"block_topk"> {
  let summary = "block top-k / cumulative-mass selection (MInference block-sparse, XAttention)";
  let description = [{
    `mean_pool` scores KV blocks by pooled Q.K dot products and keeps
    `top_k` blocks per query block. `antidiagonal` (XAttention) scores
    stride x stride sub-tiles by antidiagonal sums and keeps the smallest set
    of blocks whose cumulative mass reaches `tau` (or `top_k` blocks when
    set). Block 0 and the diagonal block are always kept; block causal.
    Exactly one of `top_k` and `tau` is given; `stride` is given exactly for
    the antidiagonal scorer and divides `block`.

    ```mlir
    %m = mask.block_topk mean_pool block 64 {top_k = 100 : i64}
    %x = mask.block_topk antidiagonal block 128 {stride = 8 : i64, tau = 0.9 : f64}
    ```
  }];
  let arguments = (ins Mask_BlockScorer:$scorer, I64Attr:$block_size,
                       OptionalAttr<I64Attr>:$top_k,
                       OptionalAttr<F64Attr>:$tau,
                       OptionalAttr<I64Attr>:$stride);
  let assemblyFormat = "$scorer `block` $block_size attr-dict";
  let hasVerifier = 1;
}

def Mask_GateOp : Mask_PatternOp<"gate"> {
  let summary = "SeerAttention learned block gate (weights are runtime inputs)";
  let description = [{
    Dynamic pattern. Q and K are pooled over blocks of `block` tokens and
    projected to `hidden` features by per-head gate weights (runtime inputs);
    block scores are kept above `threshold` in (0, 1), or the top
    `top_ratio` in (0, 1] of blocks are kept. Exactly one of the two is
    given.

    ```mlir
    %g = mask.gate block 64 hidden 128 {threshold = 1.0e-3 : f64}
    ```
  }];
  let arguments = (ins I64Attr:$block_size, I64Attr:$hidden,
                       OptionalAttr<F64Attr>:$threshold,
                       OptionalAttr<F64Attr>:$top_ratio);
  let assemblyFormat = "`block` $block_size `hidden` $hidden attr-dict";
  let hasVerifier = 1;
}

def Mask_StripeOp : Mask_PatternOp<"stripe"> {
  let summary = "AnchorAttention stripe selection";
  let description = [{
    Dynamic pattern (AnchorAttention). Every query keeps its anchor region:
    the first `group` keys and its own group of `group` positions up to
    itself; its anchor is its largest scaled logit there. Keys between the
    two regions are kept for a unit of `step` query blocks of `block`
    positions when a block's mean query scores them within `theta`
    (positive, natural-log units) of the block's mean anchor. `group` is a
    multiple of `block` x `step`, so that a unit lies in one group.

    ```mlir
    %s = mask.stripe group 2048 block 128 step 16 theta 12.0
    ```
  }];
  let arguments = (ins I64Attr:$group, I64Attr:$block_size, I64Attr:$step,
                       F64Attr:$theta);
  let assemblyFormat = [{
    `group` $group `block` $block_size `step` $step `theta` $theta attr-dict
  }];
  let hasVerifier = 1;
}

def Mask_NsaOp : Mask_PatternOp<"nsa"> {
  let summary = "Native Sparse Attention: compressed, selected and sliding branches";
  let description = [{
    Dynamic pattern. Keys are compressed from blocks of `compress` block
    size taken every `compress` stride (stride <= block); the top `select`
    count blocks of `select` block size keys (a multiple of the compress
    stride) are attended, block 0 and `local` local blocks forced in; a
    sliding window of `window` keys completes the three branches.

    ```mlir
    %n = mask.nsa compress(32, 16) select(64, 16) window 512 local 2
    ```
  }];
  let arguments = (ins I64Attr:$compress_block, I64Attr:$compress_stride,
                       I64Attr:$select_block, I64Attr:$select_count,
                       I64Attr:$window, I64Attr:$local_blocks);
  let assemblyFormat = [{
    `compress` `(` $compress_block `,` $compress_stride `)`
    `select` `(` $select_block `,` $select_count `)`
    `window` $window `local` $local_blocks attr-dict
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Combinators
//===----------------------------------------------------------------------===//

def Mask_UnionOp : Mask_Op<"union", [Pure, Commutative, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "pairs kept by any operand";
  let description = [{
    Set union of one or more masks. Canonicalisation flattens nested unions,
    drops duplicates and `mask.empty`, and merges windows and sinks.

    ```mlir
    %a = mask.union %sink, %window
    ```
  }];
  let arguments = (ins Variadic<Mask_MaskTypeBuildable>:$inputs);
  let results = (outs Mask_MaskTypeBuildable:$result);
  let assemblyFormat = "$inputs attr-dict";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Mask_IntersectOp : Mask_Op<"intersect", [Pure, Commutative, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "pairs kept by every operand";
  let description = [{
    Set intersection of one or more masks. Canonicalisation flattens nested
    intersections, drops duplicates and `mask.full`, and merges windows and
    sinks.

    ```mlir
    %a = mask.intersect %causal, %doc
    ```
  }];
  let arguments = (ins Variadic<Mask_MaskTypeBuildable>:$inputs);
  let results = (outs Mask_MaskTypeBuildable:$result);
  let assemblyFormat = "$inputs attr-dict";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Mask_ComplementOp : Mask_Op<"complement", [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "pairs not kept by the operand";
  let description = [{
    Set complement with respect to all (b, h, q, k).

    ```mlir
    %not_causal = mask.complement %c
    ```
  }];
  let arguments = (ins Mask_MaskTypeBuildable:$input);
  let results = (outs Mask_MaskTypeBuildable:$result);
  let assemblyFormat = "$input attr-dict";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Mask_PerHeadOp : Mask_Op<"per_head", [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "each head uses one of the operand masks";
  let description = [{
    `assignment[h]` is the index of the operand mask used by head h; its
    length must equal the enclosing kernel's number of heads.

    ```mlir
    %m = mask.per_head %local, %global assign [0, 0, 1, 1]
    ```
  }];
  let arguments = (ins Variadic<Mask_MaskTypeBuildable>:$inputs,
                       DenseI64ArrayAttr:$assignment);
  let results = (outs Mask_MaskTypeBuildable:$result);
  let assemblyFormat = "$inputs `assign` $assignment attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Runtime tables and free-form predicates
//===----------------------------------------------------------------------===//

def Mask_TableOp : Mask_Op<"table", [Symbol]> {
  let summary = "declares a runtime table read by the mask";
  let description = [{
    `element_type` is i1 (bool), i32 or i64. `dims` names the extent of each
    dimension: "b" (batch), "h" (heads), "q" or "k" (absolute positions,
    extent Lk), "q/N" or "k/N" (blocks of N positions, extent ceil(Lk / N)),
    or a positive integer literal.

    ```mlir
    mask.table @keep : i1 ["h", "q/64", "k/64"]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$element_type,
                       StrArrayAttr:$dims);
  let assemblyFormat = "$sym_name `:` $element_type $dims attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of positions per entry of dimension `i` ("k/64" -> 64), 1 for
    /// plain positions, 0 for non-positional dimensions.
    int64_t getDimBlockSize(unsigned i);
  }];
}

def Mask_LookupOp : Mask_Op<"lookup", [Pure,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads a runtime table inside a predicate";
  let description = [{
    Reads the `mask.table` named by `table` with one index per dimension.
    Bool tables yield i1, integer tables yield index. Out-of-range indices
    read as 0 (false), so a malformed index never reads out of bounds. Only
    valid inside the body of a `mask.predicate`.

    ```mlir
    %d = mask.lookup @doc[%b, %q] : index
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$table, Variadic<Index>:$indices);
  let results = (outs AnyTypeOf<[I1, Index]>:$result);
  let assemblyFormat = "$table `[` $indices `]` attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mask_PredicateOp : Mask_Op<"predicate", [Pure, IsolatedFromAbove,
    DeclareOpInterfaceMethods<InferTypeOpInterface>,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>,
    SingleBlock]> {
  let summary = "free-form mask: an i1 computed from (b, h, q, k)";
  let description = [{
    The body takes four `index` arguments (b, h, q, k), with q and k absolute
    positions, and yields an i1. It may use the arith ops listed in
    docs/MASK_SEMANTICS.md, `math.absi` and `mask.lookup`, on integer and
    index values only. Integer division and remainder by zero yield 0. The
    block arguments print as %b, %h, %q and %k.

    ```mlir
    %m = mask.predicate(%b, %h, %q, %k) {
      %c8 = arith.constant 8 : index
      %r = arith.remui %k, %c8 : index
      %z = arith.constant 0 : index
      %keep = arith.cmpi eq, %r, %z : index
      mask.yield %keep
    }
    ```
  }];
  let regions = (region SizedRegion<1>:$body);
  let results = (outs Mask_MaskTypeBuildable:$result);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [OpBuilder<(ins)>];
}

def Mask_YieldOp : Mask_Op<"yield", [Pure, Terminator, ReturnLike,
    HasParent<"PredicateOp">]> {
  let summary = "returns the predicate's i1 result";
  let description = [{
    Terminates the body of a `mask.predicate`: the pair is kept when
    `condition` is true.
  }];
  let arguments = (ins I1:$condition);
  let assemblyFormat = "$condition attr-dict";
}

#endif // SATTN_MASK_OPS_TD
