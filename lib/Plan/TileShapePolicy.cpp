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

/// Tiles the mask `program` (which reads no tables) visits at the reference
/// length with BM x BN tiles, or -1.
int64_t visitedTiles(const MaskProgram &program, int64_t blockM,
                     int64_t blockN) {
  std::string error;
  auto planner = Planner::build(program, {blockM, blockN}, error);
  if (!planner)
    return -1;
  MaskInputs inputs;
  inputs.lq = inputs.lk = kReferenceLength;
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
