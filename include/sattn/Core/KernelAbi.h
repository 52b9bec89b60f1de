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

/// Number of parameters of a kernel of `family` reading `numTables` tables.
constexpr int paramCount(int numTables,
                         KernelFamily family = KernelFamily::MmaSync) {
  return kNumFixedParams + numTables +
         (family == KernelFamily::Wgmma ? kNumTensorMaps : 0);
}

/// The names of all parameters of a kernel of `family` reading `tables`
/// (declaration order): the fixed ones, then "table_<name>" per table, then
/// the tensor maps of a Hopper kernel.
inline std::vector<std::string>
paramNames(const std::vector<std::string> &tables,
           KernelFamily family = KernelFamily::MmaSync) {
  std::vector<std::string> names;
  names.reserve(paramCount(static_cast<int>(tables.size()), family));
  for (const Param &param : kFixedParams)
    names.emplace_back(param.name);
  for (const std::string &table : tables)
    names.push_back(std::string(kTableParamPrefix) + table);
  if (family == KernelFamily::Wgmma)
    for (std::string_view map : kTensorMapParams)
      names.emplace_back(map);
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

/// The device plan builder's parameter names for a kernel reading `tables`.
inline std::vector<std::string> devicePlanParamNames(const std::vector<std::string> &tables) {
  std::vector<std::string> names(std::begin(kDevicePlanParams), std::end(kDevicePlanParams));
  for (const std::string &table : tables)
    names.push_back(std::string(kTableParamPrefix) + table);
  return names;
}

/// A kernel's compiled estimator (docs/ESTIMATORS.md, "Compiled
/// estimators"): stage kernels named `<entry>_estimate_<stage>`, launched
/// in this order with blocks of kEstimatorThreads threads (grid-stride
/// loops), all with the parameters kEstimatorParams: Q and K (the kernel's
/// element type), their strides for batch, head and row (int64), lq, lk,
/// batch (int64), the f64 scratch buffer "pooled" and the int64 table the
/// estimator writes (the kernel's table named in the manifest).
inline constexpr std::string_view kEstimatorStages[] = {"pool", "score", "select"};
constexpr int kNumEstimatorStages = 3;
constexpr int64_t kEstimatorThreads = 256;
inline constexpr std::string_view kEstimatorParams[] = {
    "q",    "k",    "q_sb",  "q_sh",   "q_ss", "k_sb", "k_sh",
    "k_ss", "lq",   "lk",    "batch",  "pooled", "table"};
constexpr int kNumEstimatorParams = int(std::size(kEstimatorParams));
/// Query block rows one item of the score stage covers (its pooled key
/// column is read once for all of them).
constexpr int64_t kEstimatorScoreRows = 8;
/// The estimator's sizes for one call. `stride` is 0 for the mean-pool
/// scorer and the antidiagonal stride otherwise.
struct EstimatorShape {
  int64_t batch, heads, kvHeads, headDim, lk, block, stride;
  int64_t blocks() const { return (lk + block - 1) / block; }
  int64_t groups() const { return (lk + stride - 1) / stride; }
  /// f64 entries of the scratch buffer. Mean pool: the pooled queries
  /// (batch * heads * blocks * head_dim) then the pooled keys (batch *
  /// kv_heads * blocks * head_dim). Antidiagonal: the softmax maximum and
  /// sum of every group row (batch * heads * groups * 2).
  int64_t scratchEntries() const {
    return stride ? batch * heads * groups() * 2
                  : batch * (heads + kvHeads) * blocks() * headDim;
  }
  /// Items of stage `i` (kEstimatorStages order): pool (mean pool: one per
  /// pooled entry; antidiagonal: one per group row), score (mean pool: 8
  /// query blocks x a key block; antidiagonal: a block pair), select (a
  /// query block).
  int64_t stageItems(int i) const {
    int64_t n = blocks(), slices = batch * heads;
    switch (i) {
    case 0:
      return stride ? slices * groups() : batch * (heads + kvHeads) * n * headDim;
    case 1:
      return stride ? slices * n * n
                    : slices * ((n + kEstimatorScoreRows - 1) / kEstimatorScoreRows) * n;
    default:
      return slices * n;
    }
  }
};
} // namespace sattn::abi

#endif // SATTN_CORE_KERNELABI_H
