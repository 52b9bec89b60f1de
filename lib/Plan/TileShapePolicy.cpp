//===- TileShapePolicy.cpp - tile shape of a kernel from its mask ---------===//
//
// Measured on an H200 (bench/RESULTS.md, 2026-11-29): 128x32 tiles with 32
// rows per warp reach 291-294 useful TFLOP/s on dense and causal 32K (64x64:
// 249-258), and win on A-shape, sliding window and S2 strided masks, whose
// 128x32 plans visit 1.00-1.06x the tiles of the 64x64 plans; power masks of
// 64-token blocks visit 1.78x and run at 104 instead of 178. Plans are
// compared at one reference length: the ratio barely moves with L for
// named patterns.
//
// Registers decide which masks may use it: at head_dim 128 the two m16
// tiles take 249-255 registers per thread for bands and sinks combined by
// one & and one | (dense, causal, A-shape, streaming, sliding windows),
// while token strides (gathers), tail queries, per-head choices and strided
// blocks push ptxas over 255 for some parameters (8-100 bytes of spills).
// Only those building blocks qualify; examples-ptxas.test and
// ptxas-no-spills.mlir check the examples and test kernels.
//
//===----------------------------------------------------------------------===//

#include "TileShapePolicy.h"

#include "sattn/Core/MaskInputs.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/Core/Planner.h"

using namespace sattn;
using namespace sattn::plan;

namespace {
constexpr int64_t kReferenceLength = 8192;
/// Masks of at most this many nodes, all of the kinds below.
constexpr size_t kMaxNodes = 5;

bool fitsTallTiles(NodeKind kind) {
  switch (kind) {
  case NodeKind::Full:
  case NodeKind::Causal:
  case NodeKind::Window:
  case NodeKind::SymmetricWindow:
  case NodeKind::Sink:
  case NodeKind::Union:
  case NodeKind::Intersect:
    return true;
  default:
    return false;
  }
}
/// 128x32 must visit at most this many times the 64x64 tiles (same area).
constexpr double kMaxVisitRatio = 1.10;

/// Table entries the policy fills with zeros to plan a table mask at the
/// reference length; a mask whose tables would need more is not planned.
constexpr int64_t kMaxPolicyTableEntries = int64_t(1) << 22;

/// Every table of `program` at the reference length (batch 1), filled with
/// zeros: one document, no block kept, no shift. False when the tables
/// would be too large to plan for a tile policy.
bool zeroTables(const MaskProgram &program, MaskInputs &inputs) {
  int64_t total = 0;
  for (const TableRef &table : program.tables) {
    TableData data;
    int64_t entries = 1;
    for (const TableDim &dim : table.dims) {
      int64_t extent = dim.extentFor(program.heads, /*batch=*/1, kReferenceLength);
      data.shape.push_back(extent);
      entries *= extent;
      if (entries > kMaxPolicyTableEntries)
        return false;
    }
    total += entries;
    if (total > kMaxPolicyTableEntries)
      return false;
    data.values.assign(entries, 0);
    inputs.tables.emplace(table.name, std::move(data));
  }
  return true;
}

/// Tiles the mask `program` visits at the reference length with BM x BN
/// tiles (its tables, if any, all zeros), or -1.
int64_t visitedTiles(const MaskProgram &program, int64_t blockM,
                     int64_t blockN, bool gathers = true) {
  std::string error;
  auto planner = Planner::build(program, {blockM, blockN, gathers}, error);
  if (!planner)
    return -1;
  MaskInputs inputs;
  inputs.lq = inputs.lk = kReferenceLength;
  if (!zeroTables(program, inputs))
    return -1;
  auto p = planner->plan(inputs, error);
  return p ? p->stats().visitedTiles() : -1;
}
} // namespace

bool sattn::plan::prefersTallTiles(const MaskProgram &program,
                                   int64_t headDim) {
  if (headDim != 128)
    return false;
  if (!program.tables.empty() || program.nodes.size() > kMaxNodes)
    return false;
  for (const Node &node : program.nodes)
    if (!fitsTallTiles(node.kind))
      return false;
  int64_t narrow = visitedTiles(program, 64, 64);
  int64_t tall = visitedTiles(program, 128, 32);
  return narrow > 0 && tall >= 0 &&
         double(tall) <= kMaxVisitRatio * double(narrow);
}

/// How many more pairs the Hopper kernel's plan may cover than the portable
/// one's and still win. On whole tiles it computes about twice the pairs
/// per second (576 against 288-293 useful TFLOP/s, dense and causal 32K),
/// but PARTIAL tiles cost it mask code per pair: with 64-token power blocks
/// its plan covers 1.72x the pairs and ran at 0.79x the portable kernel's
/// speed (bench/RESULTS.md, 2026-12-04), an effective ratio of 1.36.
constexpr double kMaxHopperCoverage = 1.3;

/// Whether the mask evaluates a predicate over a table with one entry per
/// key (or query) position: per-token columns such as global tokens or
/// vertical lines, which the portable kernel gathers into key lists.
static bool readsPerTokenTable(const MaskProgram &program) {
  bool predicates = false;
  for (const Node &node : program.nodes)
    predicates |= node.kind == NodeKind::Predicate;
  if (!predicates)
    return false;
  for (const TableRef &table : program.tables)
    for (const TableDim &dim : table.dims)
      if ((dim.kind == TableDim::KeyPos || dim.kind == TableDim::QueryPos) &&
          dim.blockSize == 1)
        return true;
  return false;
}

/// Gathered keys must save at least this share of the Hopper plan's tiles:
/// a gathered tile is loaded row by row by the producer warpgroup, slower
/// than a TMA box, and its mask reads key positions from shared memory.
constexpr double kMinGatherSaving = 0.10;

HopperPlanForm sattn::plan::chooseHopperPlanForm(const MaskProgram &program,
                                                 const TileConfig &hopperTiles,
                                                 const TileConfig &portableTiles,
                                                 bool gathersFit) {
  int64_t hm = hopperTiles.blockM, hn = hopperTiles.blockN;
  // Tables decide the plan at run time: per-token columns are key lists,
  // which both plan builders gather for a kernel that reads them (Gathers;
  // the portable kernel where the producer has no room for gathered copies).
  // Documents and block tables are runs of whole blocks (Ranges), unless the
  // rest of the mask gathers: S2's token strides on packed documents. Their
  // plans are compared with every table zero (one document), the mask's
  // static part.
  if (!program.tables.empty()) {
    if (readsPerTokenTable(program))
      return gathersFit ? HopperPlanForm::Gathers : HopperPlanForm::None;
    if (!gathersFit)
      return HopperPlanForm::Ranges;
    int64_t ranges = visitedTiles(program, hm, hn, /*gathers=*/false);
    int64_t gathered = visitedTiles(program, hm, hn, /*gathers=*/true);
    bool gathers = ranges > 0 && gathered >= 0 &&
                   double(gathered) <= (1.0 - kMinGatherSaving) * double(ranges);
    return gathers ? HopperPlanForm::Gathers : HopperPlanForm::Ranges;
  }
  int64_t pm = portableTiles.blockM, pn = portableTiles.blockN;
  int64_t ranges = visitedTiles(program, hm, hn, /*gathers=*/false);
  int64_t gathered =
      gathersFit ? visitedTiles(program, hm, hn, /*gathers=*/true) : ranges;
  int64_t portable = visitedTiles(program, pm, pn);
  if (ranges < 0 || gathered < 0 || portable < 0)
    return HopperPlanForm::Ranges;
  bool gathers = double(gathered) <= (1.0 - kMinGatherSaving) * double(ranges);
  int64_t hopper = gathers ? gathered : ranges;
  if (double(hopper) * hm * hn > kMaxHopperCoverage * double(portable) * pm * pn)
    return HopperPlanForm::None;
  return gathers ? HopperPlanForm::Gathers : HopperPlanForm::Ranges;
}
