//===- KernelAbi.h - the one table of kernel parameters --------*- C++ -*-===//
//
// The parameters every attention kernel takes, in order, with their kinds
// (docs/KERNEL_ABI.md explains each). It is the single definition: the GPU
// and CPU builders take argument positions and types from it, the manifest
// writer records the names, and libsattn_runtime packs its launch
// parameters by walking it and refuses a manifest whose parameter list
// differs. test/Docs/kernel-abi.test checks KERNEL_ABI.md against it.
// Plain C++17, because the runtime compiles it without MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_KERNELABI_H
#define SATTN_CORE_KERNELABI_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sattn::abi {

/// The fixed parameters, in ABI order; one table pointer per `mask.table`
/// follows them, in declaration order, named "table_<symbol>".
enum ParamId : unsigned {
  Q, K, V, O, Lse,
  QStrideBatch, QStrideHead, QStrideRow,
  KStrideBatch, KStrideHead, KStrideRow,
  VStrideBatch, VStrideHead, VStrideRow,
  OStrideBatch, OStrideHead, OStrideRow,
  LseStrideBatch, LseStrideHead,
  Lq, Lk,
  Segments, Offsets, ClassIndex,
  NumQueryTiles,
  kNumFixedParams,
};

/// What a parameter is on the wire: 8 bytes, except tensor maps.
enum class ParamKind : uint8_t {
  ElementPointer, // device pointer to the kernel's element type (bf16 / f16)
  F32Pointer,     // device pointer to float (null allowed: LSE not requested)
  Int64,          // a stride in elements, a length or a count
  Int64Pointer,   // device pointer to int64 (plan buffers, tables)
  TensorMap,      // a 128-byte CUtensorMap passed by value (sm_90a kernels)
};

struct Param {
  ParamId id;
  std::string_view name;
  ParamKind kind;
};

inline constexpr Param kFixedParams[kNumFixedParams] = {
    {Q, "q", ParamKind::ElementPointer},
    {K, "k", ParamKind::ElementPointer},
    {V, "v", ParamKind::ElementPointer},
    {O, "o", ParamKind::ElementPointer},
    {Lse, "lse", ParamKind::F32Pointer},
    {QStrideBatch, "q_sb", ParamKind::Int64},
    {QStrideHead, "q_sh", ParamKind::Int64},
    {QStrideRow, "q_ss", ParamKind::Int64},
    {KStrideBatch, "k_sb", ParamKind::Int64},
    {KStrideHead, "k_sh", ParamKind::Int64},
    {KStrideRow, "k_ss", ParamKind::Int64},
    {VStrideBatch, "v_sb", ParamKind::Int64},
    {VStrideHead, "v_sh", ParamKind::Int64},
    {VStrideRow, "v_ss", ParamKind::Int64},
    {OStrideBatch, "o_sb", ParamKind::Int64},
    {OStrideHead, "o_sh", ParamKind::Int64},
    {OStrideRow, "o_ss", ParamKind::Int64},
    {LseStrideBatch, "lse_sb", ParamKind::Int64},
    {LseStrideHead, "lse_sh", ParamKind::Int64},
    {Lq, "lq", ParamKind::Int64},
    {Lk, "lk", ParamKind::Int64},
    {Segments, "segments", ParamKind::Int64Pointer},
    {Offsets, "offsets", ParamKind::Int64Pointer},
    {ClassIndex, "class_index", ParamKind::Int64Pointer},
    {NumQueryTiles, "num_query_tiles", ParamKind::Int64},
};

/// Each row sits at the position of its id, so the table can be indexed.
constexpr bool tableInOrder() {
  for (unsigned i = 0; i < kNumFixedParams; ++i)
    if (kFixedParams[i].id != i)
      return false;
  return true;
}
static_assert(tableInOrder(), "kFixedParams must list the parameters in ABI order");

/// Prefix of the table parameters' names.
inline constexpr std::string_view kTableParamPrefix = "table_";

/// The kernel families: the portable mma.sync kernel (sm_80 and newer) and
/// the Hopper kernel (sm_90a: TMA, wgmma, warp specialisation). Their
/// parameter lists differ only in the tensor maps the Hopper kernel takes
/// after the tables.
enum class KernelFamily : uint8_t { MmaSync, Wgmma };

/// The manifest's spelling of a family ("kernel" key).
constexpr std::string_view familyName(KernelFamily family) {
  return family == KernelFamily::Wgmma ? "wgmma" : "mma_sync";
}

/// The tensor maps of a Hopper kernel, after the tables: Q, K and V, each a
/// 4-D map {D, L, heads, batch} (innermost first) of boxes
/// {kTensorMapBoxColumns, block rows, 1, 1} with the 128-byte swizzle; Q's
/// box has block_m rows, K's and V's block_n (docs/KERNEL_ABI.md).
inline constexpr std::string_view kTensorMapParams[] = {"tma_q", "tma_k", "tma_v"};
constexpr int kNumTensorMaps = 3;
constexpr int64_t kTensorMapBytes = 128, kTensorMapAlign = 64;
/// Elements per box row: 64 two-byte elements, the 128-byte swizzle span.
constexpr int64_t kTensorMapBoxColumns = 64;

/// The outputs of a kernel compiled with `block_max` (always a portable
/// kernel), after the tables: `row_max`, f32 (B, H, N, Lq) with N =
/// ceil(Lk / block_n), the largest base-2 logit of each row in each KV tile
/// the row's query tile visits (scratch: other entries are not written);
/// `block_max`, f32 (B, H, T, N) with T = num_query_tiles, the largest
/// attention probability of each (query tile, KV tile), 0 where the plan
/// visits no pair. Both row-major contiguous (docs/KERNEL_ABI.md, "Block
/// maxima").
inline constexpr std::string_view kBlockMaxParams[] = {"row_max", "block_max"};
constexpr int kNumBlockMaxParams = 2;

/// Number of parameters of a kernel of `family` reading `numTables` tables
/// (with the block-max outputs when `blockMax`).
constexpr int paramCount(int numTables,
                         KernelFamily family = KernelFamily::MmaSync,
                         bool blockMax = false) {
  return kNumFixedParams + numTables +
         (family == KernelFamily::Wgmma ? kNumTensorMaps : 0) +
         (blockMax ? kNumBlockMaxParams : 0);
}

/// The names of all parameters of a kernel of `family` reading `tables`
/// (declaration order): the fixed ones, then "table_<name>" per table, then
/// the tensor maps of a Hopper kernel or the block-max outputs.
inline std::vector<std::string>
paramNames(const std::vector<std::string> &tables,
           KernelFamily family = KernelFamily::MmaSync, bool blockMax = false) {
  std::vector<std::string> names;
  names.reserve(paramCount(static_cast<int>(tables.size()), family, blockMax));
  for (const Param &param : kFixedParams)
    names.emplace_back(param.name);
  for (const std::string &table : tables)
    names.push_back(std::string(kTableParamPrefix) + table);
  if (family == KernelFamily::Wgmma)
    for (std::string_view map : kTensorMapParams)
      names.emplace_back(map);
  if (blockMax)
    for (std::string_view output : kBlockMaxParams)
      names.emplace_back(output);
  return names;
}

/// The device plan builder's stage kernels (docs/DEVICE_PLANS.md), named
/// `<entry>_plan_<stage>`, launched in this order with blocks of
/// kDevicePlanThreads threads (any 1-D grid: grid-stride loops), all with
/// the parameters kDevicePlanParams (five int64 scalars, the int32 status
/// buffer, six int64 buffers), then "table_<name>" per table.
inline constexpr std::string_view kDevicePlanStages[] = {
    "summarize", "classify", "resolve", "count", "scan", "write"};
constexpr int kNumDevicePlanStages = 6;
constexpr int64_t kDevicePlanThreads = 256;
inline constexpr std::string_view kDevicePlanParams[] = {
    "lq",     "lk",   "batch",  "num_classes", "class_heads",
    "status", "work", "counts", "offsets",     "segments", "class_index",
    "summaries"};
constexpr int kNumDevicePlanScalars = 5;
constexpr int kNumDevicePlanBuffers =
    int(std::size(kDevicePlanParams)) - kNumDevicePlanScalars;
/// Table entries per summary chunk (the summaries buffer holds a min and a
/// max per chunk of each table's flattened buffer).
constexpr int64_t kSummaryChunk = 32;
/// KV tiles per item of the count and write stages: a query tile's row of
/// N statuses is walked in ceil(N / kRunChunk) pieces. The counts buffer
/// holds C * T row totals, then a count per piece (C * T * pieces).
constexpr int64_t kRunChunk = 32;
/// Keys per bit word of a KV tile's column keys (column lists).
constexpr int64_t kColumnWordKeys = 64;

/// The sizes of a device plan build that depend on the tile grid (C
/// classes, T query tiles, N KV tiles) and the kernel's column lists
/// (docs/DEVICE_PLANS.md): what libsattn_runtime and the CPU executor
/// allocate, and the generated stages index.
struct DevicePlanSizes {
  /// Pieces of kRunChunk KV tiles per query tile.
  int64_t pieces = 0;
  /// Segment rows (a query tile owns N, or N + 1 with lists), then the
  /// list keys' words, rounded up to whole rows of 7.
  int64_t segmentRows = 0, listWords = 0;
  /// (class, query unit, KV tile) items of the column counts.
  int64_t columnTiles = 0;
  /// Index of the column bounds in `counts` (C * T of them, zero before
  /// classify), and the words of `counts`.
  int64_t columnBounds = 0, countsWords = 0;
};
constexpr int64_t columnWords(int64_t blockN) {
  return (blockN + kColumnWordKeys - 1) / kColumnWordKeys;
}
constexpr DevicePlanSizes devicePlanSizes(int64_t classes, int64_t tiles, int64_t keyTiles,
                                          int64_t blockN, int64_t lk, int64_t listKeys,
                                          int64_t listUnitRows) {
  DevicePlanSizes s;
  int64_t rows = classes * tiles;
  s.pieces = (keyTiles + kRunChunk - 1) / kRunChunk;
  s.segmentRows = rows * (keyTiles + (listKeys ? 1 : 0));
  s.listWords = (rows * listKeys + 6) / 7 * 7;
  s.columnTiles =
      classes * (listUnitRows ? (lk + listUnitRows - 1) / listUnitRows : 1) * keyTiles;
  // Row totals and piece counts; with lists also the column bounds, the
  // listed keys per piece and per row, and each column tile's count and
  // bit words.
  s.columnBounds = rows * (1 + s.pieces);
  s.countsWords = s.columnBounds + (listKeys ? rows * (2 + s.pieces) +
                                                   s.columnTiles * (1 + columnWords(blockN))
                                             : 0);
  return s;
}

/// The device plan builder's parameter names for a kernel reading `tables`.
inline std::vector<std::string> devicePlanParamNames(const std::vector<std::string> &tables) {
  std::vector<std::string> names(std::begin(kDevicePlanParams), std::end(kDevicePlanParams));
  for (const std::string &table : tables)
    names.push_back(std::string(kTableParamPrefix) + table);
  return names;
}

/// The backward kernel (docs/KERNEL_ABI.md, "Backward kernel"), named
/// `<entry>_bwd`: dQ, dK and dV of the forward over the forward's own plan
/// (same block_m and block_n), one CTA per (query tile, head, batch). Its
/// parameters, in order, then "table_<name>" per table: the forward's
/// tensors and the incoming gradient dO (element type; LSE f32, required),
/// the three gradients (f32, contiguous: dQ (B, H, Lq, D), dK and dV
/// (B, KV_H, Lk, D); dK and dV zeroed before the launch, the kernel adds
/// into them with atomics), the strides of Q, K, V, O, LSE and dO, the
/// plan as for the forward, and `dkv_scales`: NULL for float32 dK and dV,
/// or (the deterministic backward) a device f32 pair {s_k, s_v} of powers
/// of two, with dK and dV int64 buffers of the same shapes into which the
/// kernel adds round(x * s) of every share x (integer sums do not depend
/// on the order of the adds; the caller divides by s).
inline constexpr std::string_view kBackwardParams[] = {
    "q",     "k",     "v",     "o",      "lse",    "d_o",   "d_q",
    "d_k",   "d_v",   "q_sb",  "q_sh",   "q_ss",   "k_sb",  "k_sh",
    "k_ss",  "v_sb",  "v_sh",  "v_ss",   "o_sb",   "o_sh",  "o_ss",
    "lse_sb", "lse_sh", "do_sb", "do_sh", "do_ss", "lq",    "lk",
    "segments", "offsets", "class_index", "num_query_tiles", "dkv_scales"};
constexpr int kNumBackwardParams = int(std::size(kBackwardParams));
/// Positions in kBackwardParams (the builder and the runtime index by them).
enum BackwardParamId : unsigned {
  BwdQ = 0, BwdK, BwdV, BwdO, BwdLse, BwdDO, BwdDQ, BwdDK, BwdDV,
  BwdQStrides = 9, BwdKStrides = 12, BwdVStrides = 15, BwdOStrides = 18,
  BwdLseStrides = 21, BwdDOStrides = 23,
  BwdLq = 26, BwdLk, BwdSegments, BwdOffsets, BwdClassIndex, BwdNumQueryTiles,
  BwdDkvScales,
};
static_assert(BwdDkvScales + 1 == kNumBackwardParams,
              "BackwardParamId must match kBackwardParams");
/// The backward kernel's parameter names for a kernel reading `tables`.
inline std::vector<std::string> backwardParamNames(const std::vector<std::string> &tables) {
  std::vector<std::string> names(std::begin(kBackwardParams), std::end(kBackwardParams));
  for (const std::string &table : tables)
    names.push_back(std::string(kTableParamPrefix) + table);
  return names;
}

/// A kernel's compiled estimator (docs/ESTIMATORS.md, "Compiled
/// estimators"): stage kernels named `<entry>_estimate_<stage>`, launched
/// in the order EstimatorShape::launches() gives with blocks of
/// kEstimatorThreads threads (grid-stride loops), all with the parameters
/// kEstimatorParams: Q and K (the kernel's element type), their strides for
/// batch, head and row (int64), lq, lk, batch (int64), the f64 scratch
/// buffer "pooled", the int64 table the estimator writes (the kernel's
/// table named in the manifest) and "weights", the f32 learned weights of an
/// estimator that has them (gate; null for the others): per query head h,
/// wq (head_dim x hidden, row-major) then wk (3 head_dim x hidden), so head
/// h's wq starts at h * 4 * head_dim * hidden. nsa's compress stage reads
/// a caller's compressed keys there when not null: (batch, KV head,
/// compressed block, column), row-major.
///
/// Stages of block_topk (either scorer), each launched once:
inline constexpr std::string_view kBlockEstimatorStages[] = {"pool", "score", "select"};
/// Stages of vertical_slash: softmax statistics of the last queries' rows
/// (per key chunk, then per row), the column and diagonal scores, an exact
/// top-k by radix selection over the scores' order codes (count and decide
/// launched kRadixPasses times, a digit each), then the ties and the 0 / 1
/// table.
inline constexpr std::string_view kLineEstimatorStages[] = {
    "row_chunks", "row_stats", "lines", "radix_count", "radix_decide", "tie_count", "select"};
/// Stages of stripe (AnchorAttention): each query position's anchor, the
/// pooled queries and anchors of every (unit, query block), and the 0 / 1
/// comparison of every (unit, key).
inline constexpr std::string_view kStripeEstimatorStages[] = {"anchors", "pool", "compare"};
/// Stages of gate (SeerAttention's AttnGate): the pooled blocks (queries:
/// mean; keys: maximum, minimum, mean), their projections by the weights
/// with the rotary embedding, the logit of every causal block pair, the
/// softmax of each query block row, and the 0 / 1 selection.
inline constexpr std::string_view kGateEstimatorStages[] = {"pool", "project", "logits",
                                                             "score", "select"};
/// Stages of nsa (Native Sparse Attention's selection): the compressed keys
/// (block means), each query row's softmax statistics over the compressed
/// keys it sees, the importance of every (group, row, selection block), and
/// the 0 / 1 selection of each (group, row).
inline constexpr std::string_view kNsaEstimatorStages[] = {"compress", "stats", "importance",
                                                            "select"};
constexpr int kMaxEstimatorStages = 7;
/// 8-bit digits of the 64-bit order codes, most significant first.
constexpr int kRadixPasses = 8;
constexpr int64_t kRadixBins = 256;
/// Keys per item of the vertical_slash stages that walk a row of keys.
constexpr int64_t kEstimatorChunk = 256;
constexpr int64_t kEstimatorThreads = 256;
/// vertical_slash's two logit stages are tile stages: a block of
/// kEstimatorThreads threads computes a tile of `rows` last rows against a
/// window of `keys` keys from shared memory (queries as f64, keys in their
/// own type), so that every input element is read from global memory once
/// per tile. The window shrinks with the head dimension to stay within the
/// 48 KiB of static shared memory. row_chunks' tiles are (slice, rows, a
/// chunk of kEstimatorChunk keys walked in windows); lines' tiles are
/// (slice, line, `keys` columns or `keys - rows + 1` diagonals), each
/// walking every row block.
struct EstimatorTile {
  int64_t rows, keys;
};
constexpr EstimatorTile rowChunkTile(int64_t headDim) {
  return headDim <= 128 ? EstimatorTile{8, 64} : EstimatorTile{4, 32};
}
constexpr EstimatorTile lineTile(int64_t headDim) {
  return headDim <= 128 ? EstimatorTile{16, 64} : EstimatorTile{8, 32};
}
/// stripe's anchors and compare are tile stages of the same sizes: anchors'
/// tiles are (slice, `rows` query rows), walking the windows of keys of
/// their anchor regions; compare's are (slice, unit, `keys` keys), walking
/// the unit's pooled query blocks `rows` at a time.
constexpr EstimatorTile stripeTile(int64_t headDim) { return lineTile(headDim); }
/// block_topk's antidiagonal scorer has two tile stages. pool's tiles are
/// (slice, lineTile rows group rows), walking the windows of lineTile keys
/// key groups up to their last row twice (the rows' maxima, then their
/// sums). score's tiles are (slice, query block, antidiagonalMassBlocks key
/// blocks): the query block's group rows, `rows` at a time, against
/// windows of `keys` key groups, a whole number of key blocks per window;
/// a key block with more groups than lineTile keys spans windows and is
/// taken one row at a time, so that its mass still adds its rows'
/// probabilities in the reference's order (rows, then keys).
constexpr EstimatorTile antidiagonalMassTile(int64_t headDim, int64_t groupsPerBlock) {
  EstimatorTile t = lineTile(headDim);
  if (groupsPerBlock > t.keys)
    return EstimatorTile{1, t.keys};
  return EstimatorTile{groupsPerBlock < t.rows ? groupsPerBlock : t.rows,
                       t.keys / groupsPerBlock * groupsPerBlock};
}
/// pool's tiles on tensor-core builds at head_dim <= 128: twice lineTile's
/// rows (32 x 64), which halves the key loads per group row; the f64 rows
/// the exact form keeps are not needed there, so the tile still fits the
/// 48 KB of static shared memory.
constexpr EstimatorTile antidiagonalPoolTile(int64_t headDim, bool tensorLogits) {
  EstimatorTile t = lineTile(headDim);
  return tensorLogits && headDim <= 128 ? EstimatorTile{2 * t.rows, t.keys} : t;
}
/// Key blocks per score tile: those its window holds, or 1 when a key
/// block spans windows.
constexpr int64_t antidiagonalMassBlocks(int64_t headDim, int64_t groupsPerBlock) {
  int64_t blocks = antidiagonalMassTile(headDim, groupsPerBlock).keys / groupsPerBlock;
  return blocks > 1 ? blocks : 1;
}
/// nsa's stats and importance are tile stages: `rows` compressed keys (f64)
/// against a window of `keys` query rows of a head (where other stages keep
/// keys). Tiles: stats (slice, window), importance (batch, KV head, window,
/// nsaImportanceBlocks selection blocks), walking chunks of compressed keys.
/// Tensor-core builds at head_dim <= 128 take windows of 64 queries: each
/// compressed key read from global memory serves twice the queries, and
/// their f64 rows need no room (they go to the key buffer as hi and lo
/// rows), so the tile still fits the 48 KB of static shared memory.
constexpr EstimatorTile nsaTile(int64_t headDim, bool tensorLogits) {
  if (headDim > 128)
    return EstimatorTile{8, 32};
  return tensorLogits ? EstimatorTile{16, 64} : EstimatorTile{16, 32};
}
/// The most selection blocks of an importance tile (f64 slots per query).
constexpr int64_t kNsaMostTileBlocks = 16;
/// Selection blocks per importance tile: J blocks of l' keys overlap J l' / d
/// + floor((l - 1) / d) compressed blocks of l keys every d, computed in
/// chunks of nsaTile rows; J (at most kNsaMostTileBlocks) is the one whose
/// chunks hold the largest share of blocks that only it needs (the others
/// are padding, or blocks its neighbour computes too), the most of equals.
constexpr int64_t nsaImportanceBlocks(int64_t headDim, int64_t selectBlock, int64_t compressBlock,
                                      int64_t compressStride) {
  if (compressStride < 1 || compressBlock < 1 || selectBlock < compressStride)
    return 1;
  // (The tile's rows do not depend on tensorLogits.)
  int64_t rows = nsaTile(headDim, false).rows, perBlock = selectBlock / compressStride;
  int64_t extra = (compressBlock - 1) / compressStride;
  int64_t best = 1, bestOwn = perBlock, bestComputed = 0;
  for (int64_t j = 1; j <= kNsaMostTileBlocks; ++j) {
    int64_t own = j * perBlock;
    int64_t computed = (own + extra + rows - 1) / rows * rows;
    if (j == 1 || own * bestComputed >= bestOwn * computed) {
      best = j;
      bestOwn = own;
      bestComputed = computed;
    }
  }
  return best;
}
/// Key rows in shared memory are padded by this many elements, so that the
/// 32 lanes reading 32 different keys' element x hit 32 different banks.
constexpr int64_t kEstimatorKeyPad = 2;
/// Tiles whose logits run on tensor cores pad rows by 8 elements instead:
/// an mma fragment's lanes read a 16-bit pair at column 2c of row g (g < 8,
/// c < 4), which rows 4 words apart (mod 32) spread over 32 banks, where
/// rows 1 word apart (the pad of 2) put up to 4 lanes on one bank; rows are
/// then 16-byte aligned too.
constexpr int64_t kEstimatorTensorKeyPad = 8;
inline constexpr std::string_view kEstimatorParams[] = {
    "q",    "k",    "q_sb",  "q_sh",   "q_ss", "k_sb", "k_sh",
    "k_ss", "lq",   "lk",    "batch",  "pooled", "table", "weights"};
constexpr int kNumEstimatorParams = int(std::size(kEstimatorParams));
/// Query block rows and key blocks one item of the score stage covers: per
/// column of the head dimension it reads 8 pooled query values (the same
/// for a warp's threads) and 4 pooled keys for 32 products.
constexpr int64_t kEstimatorScoreRows = 8, kEstimatorScoreKeys = 2;
/// The estimator's sizes for one call. `stride` is 0 for the mean-pool
/// scorer and the antidiagonal stride otherwise; `lastQ` is 0 for
/// block_topk and vertical_slash's last_q otherwise.
struct EstimatorShape {
  int64_t batch, heads, kvHeads, headDim, lk, block, stride;
  int64_t lastQ = 0;
  /// block_topk's top_k (0: selection by mass).
  int64_t topK = 0;
  /// stripe's anchor group and query blocks per unit (group > 0: stripe).
  int64_t group = 0, step = 0;
  /// gate's hidden features (> 0: gate) and top_ratio (> 0: selection by
  /// count, a tile stage; 0: by threshold).
  int64_t hidden = 0;
  double topRatio = 0;
  /// nsa's compressed blocks of compressBlock keys every compressStride
  /// keys (> 0: nsa; `block` is the selection block), the blocks selected
  /// per query and the local ones among them.
  int64_t compressBlock = 0, compressStride = 0, selectCount = 0, localBlocks = 0;
  /// Whether the logits of query rows run on tensor cores (the manifest's
  /// "logits": "tensor"); the antidiagonal pool's tiles depend on it.
  bool tensorLogits = false;
  bool lines() const { return lastQ > 0; }
  bool stripe() const { return group > 0; }
  bool gate() const { return hidden > 0; }
  bool nsa() const { return compressBlock > 0; }
  /// nsa's compressed blocks that lie inside the keys.
  int64_t compressedBlocks() const {
    return lk < compressBlock ? 0 : (lk - compressBlock) / compressStride + 1;
  }
  /// nsa's windows of nsaTile query rows (for lk rows) and ranges of
  /// nsaImportanceBlocks selection blocks.
  int64_t nsaWindows() const {
    int64_t keys = nsaTile(headDim, tensorLogits).keys;
    return (lk + keys - 1) / keys;
  }
  int64_t nsaBlockRanges() const {
    int64_t perTile = nsaImportanceBlocks(headDim, block, compressBlock, compressStride);
    return (blocks() + perTile - 1) / perTile;
  }
  /// f32 entries of a gate's weights: heads x (4 head_dim x hidden).
  int64_t weightEntries() const { return gate() ? heads * 4 * headDim * hidden : 0; }
  /// stripe's selection units of block * step positions.
  int64_t units() const { return (lk + block * step - 1) / (block * step); }
  /// Whether stage `i` is a tile stage (a block of kEstimatorThreads threads
  /// per tile): vertical_slash's row_chunks and lines, block_topk's select
  /// by count and the antidiagonal scorer's pool and score, stripe's
  /// anchors and compare.
  bool tileStage(int i) const {
    if (nsa())
      return i == 1 || i == 2;
    if (gate())
      return i == 4 && topRatio > 0;
    if (stripe() || lines())
      return i == 0 || i == 2;
    return (stride > 0 && i < 2) || (i == 2 && topK > 0);
  }
  int64_t blocks() const { return (lk + block - 1) / block; }
  int64_t groups() const { return (lk + stride - 1) / stride; }
  int64_t chunks() const { return (lk + kEstimatorChunk - 1) / kEstimatorChunk; }
  int64_t slices() const { return batch * heads; }
  /// vertical_slash's tiles per slice: row_chunks' (row blocks x chunks),
  /// lines' column tiles and diagonal tiles.
  int64_t rowChunkTiles() const {
    int64_t rows = rowChunkTile(headDim).rows;
    return (lastQ + rows - 1) / rows * chunks();
  }
  int64_t columnTiles() const {
    int64_t keys = lineTile(headDim).keys;
    return (lk + keys - 1) / keys;
  }
  int64_t diagonalTiles() const {
    EstimatorTile t = lineTile(headDim);
    int64_t lines = t.keys - t.rows + 1;
    return (lk + lines - 1) / lines;
  }
  /// The stage names of the kind.
  const std::string_view *stageNames(int &count) const {
    if (nsa()) {
      count = int(std::size(kNsaEstimatorStages));
      return kNsaEstimatorStages;
    }
    if (stripe()) {
      count = int(std::size(kStripeEstimatorStages));
      return kStripeEstimatorStages;
    }
    if (gate()) {
      count = int(std::size(kGateEstimatorStages));
      return kGateEstimatorStages;
    }
    count = lines() ? int(std::size(kLineEstimatorStages)) : int(std::size(kBlockEstimatorStages));
    return lines() ? kLineEstimatorStages : kBlockEstimatorStages;
  }
  /// Stage indices in launch order.
  std::vector<int> launches() const {
    if (nsa())
      return {0, 1, 2, 3};
    if (gate())
      return {0, 1, 2, 3, 4};
    if (!lines())
      return {0, 1, 2};
    std::vector<int> order{0, 1, 2};
    for (int pass = 0; pass < kRadixPasses; ++pass)
      order.insert(order.end(), {3, 4});
    order.insert(order.end(), {5, 6});
    return order;
  }
  /// vertical_slash's scratch, in f64 entries from the start: the chunk
  /// statistics (maximum, sum) of every (slice, last row, chunk), the row
  /// statistics (maximum, sum), the radix state of every (slice, line):
  /// prefix code bits, rank still to take, pass; its histogram; the ties
  /// per (slice, line, chunk).
  struct LineScratch {
    int64_t chunkStats, rowStats, radixState, histogram, ties, end;
  };
  LineScratch lineScratch() const {
    LineScratch at;
    at.chunkStats = 0;
    at.rowStats = at.chunkStats + slices() * lastQ * chunks() * 2;
    at.radixState = at.rowStats + slices() * lastQ * 2;
    at.histogram = at.radixState + slices() * 2 * 3;
    at.ties = at.histogram + slices() * 2 * kRadixBins;
    at.end = at.ties + slices() * 2 * chunks();
    return at;
  }
  /// stripe's scratch, in f64 entries: the anchor of every (slice, key
  /// position) (positions before the first query unused), then for every
  /// (slice, unit, query block) its pooled query (head_dim entries) and
  /// pooled anchor.
  struct StripeScratch {
    int64_t anchors, pooled, end;
  };
  StripeScratch stripeScratch() const {
    StripeScratch at;
    at.anchors = 0;
    at.pooled = slices() * lk;
    at.end = at.pooled + slices() * units() * step * (headDim + 1);
    return at;
  }
  /// gate's scratch, in f64 entries: the pooled query blocks (slice, block,
  /// head_dim), the pooled key blocks (batch, KV head, block, 3 head_dim:
  /// maximum, minimum, mean), then the projected and rotated query blocks
  /// (slice, block, hidden) and key blocks (slice, hidden, block: the logits
  /// stage's threads, consecutive key blocks, read consecutive entries; keys
  /// per query head: each has its own wk).
  struct GateScratch {
    int64_t pooledQueries, pooledKeys, queries, keys, end;
  };
  GateScratch gateScratch() const {
    GateScratch at;
    at.pooledQueries = 0;
    at.pooledKeys = slices() * blocks() * headDim;
    at.queries = at.pooledKeys + batch * kvHeads * blocks() * 3 * headDim;
    at.keys = at.queries + slices() * blocks() * hidden;
    at.end = at.keys + slices() * blocks() * hidden;
    return at;
  }
  /// nsa's scratch, in f64 entries: the compressed keys (batch, KV head,
  /// compressed block, head_dim; f32 values), then the softmax maximum and
  /// sum of every (slice, key position) row over its compressed keys
  /// (positions before the first query unused). The importances live in the
  /// table ([B, KV, Lk, blocks]) until the selection.
  struct NsaScratch {
    int64_t keys, stats, end;
  };
  NsaScratch nsaScratch() const {
    NsaScratch at;
    at.keys = 0;
    at.stats = batch * kvHeads * compressedBlocks() * headDim;
    at.end = at.stats + slices() * lk * 2;
    return at;
  }
  /// f64 entries of the scratch buffer. nsa: nsaScratch(). gate: gateScratch(). Mean pool: the pooled queries
  /// (batch * heads * blocks * head_dim) then the pooled keys (batch *
  /// kv_heads * blocks * head_dim). Antidiagonal: the softmax maximum and
  /// sum of every group row (batch * heads * groups * 2). vertical_slash:
  /// lineScratch().
  int64_t scratchEntries() const {
    if (nsa())
      return nsaScratch().end;
    if (gate())
      return gateScratch().end;
    if (stripe())
      return stripeScratch().end;
    if (lines())
      return lineScratch().end;
    return stride ? batch * heads * groups() * 2
                  : batch * (heads + kvHeads) * blocks() * headDim;
  }
  /// Items of stage `i` (stageNames order). block_topk: pool (mean pool:
  /// one per pooled entry; antidiagonal: a thread of a tile of group rows),
  /// score (mean pool: kEstimatorScoreRows query blocks x
  /// kEstimatorScoreKeys key blocks; antidiagonal: a thread of a tile of
  /// key blocks, antidiagonalMassTile),
  /// select (a query block; by count, a thread of a tile that is a query
  /// block). vertical_slash: row_chunks and lines a thread
  /// of a tile (kEstimatorThreads per tile: one block), row_stats (slice,
  /// last row), radix_count (slice, line, key), radix_decide (slice, line),
  /// tie_count and select (slice, line, chunk). stripe: anchors a thread of
  /// a tile of stripeTile rows (the grid is sized for lk rows: tiles past
  /// lq exit), pool (slice, unit, query block, pooled entry: head_dim
  /// columns and the anchor), compare a thread of a tile
  /// (slice, unit, stripeTile keys).
  int64_t stageItems(int i) const {
    if (nsa()) {
      switch (i) {
      case 0: // a column of a compressed key
        return batch * kvHeads * compressedBlocks() * headDim;
      case 1: // a thread of a tile of nsaTile query rows (sized for lk rows:
              // tiles past lq exit)
        return slices() * nsaWindows() * kEstimatorThreads;
      case 2: // a thread of a tile (batch, KV head, query rows, selection blocks)
        return batch * kvHeads * nsaWindows() * nsaBlockRanges() * kEstimatorThreads;
      default: // a (batch, KV head, key position) row
        return batch * kvHeads * lk;
      }
    }
    if (gate()) {
      int64_t n = blocks();
      switch (i) {
      case 0: // a column of a pooled query block or key block
        return batch * (heads + kvHeads) * n * headDim;
      case 1: // a rotary pair of a projected query block or key block
        return 2 * slices() * n * (hidden / 2);
      case 2: // a block pair
        return slices() * n * n;
      case 3: // a query block row
        return slices() * n;
      default:
        return slices() * n * (topRatio > 0 ? kEstimatorThreads : 1);
      }
    }
    if (stripe()) {
      EstimatorTile t = stripeTile(headDim);
      if (i == 1)
        return slices() * units() * step * (headDim + 1);
      int64_t tiles = i == 0 ? (lk + t.rows - 1) / t.rows : units() * ((lk + t.keys - 1) / t.keys);
      return slices() * tiles * kEstimatorThreads;
    }
    if (lines()) {
      switch (i) {
      case 0:
        return slices() * rowChunkTiles() * kEstimatorThreads;
      case 1:
        return slices() * lastQ;
      case 2:
        return slices() * (columnTiles() + diagonalTiles()) * kEstimatorThreads;
      case 3:
        return slices() * 2 * lk;
      case 4:
        return slices() * 2;
      default:
        return slices() * 2 * chunks();
      }
    }
    int64_t n = blocks(), slices = batch * heads;
    if (stride && i < 2) {
      int64_t rows = antidiagonalPoolTile(headDim, tensorLogits).rows;
      int64_t perTile = antidiagonalMassBlocks(headDim, block / stride);
      int64_t tiles = i == 0 ? (groups() + rows - 1) / rows : n * ((n + perTile - 1) / perTile);
      return slices * tiles * kEstimatorThreads;
    }
    switch (i) {
    case 0:
      return batch * (heads + kvHeads) * n * headDim;
    case 1:
      return slices * ((n + kEstimatorScoreRows - 1) / kEstimatorScoreRows) *
             ((n + kEstimatorScoreKeys - 1) / kEstimatorScoreKeys);
    default:
      return slices * n * (topK > 0 ? kEstimatorThreads : 1);
    }
  }
};
} // namespace sattn::abi

#endif // SATTN_CORE_KERNELABI_H
