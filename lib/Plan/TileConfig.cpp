//===- TileConfig.cpp - the tile configuration of a kernel ----------------===//
//
// Default tile shapes per head dimension, the mask-driven choice of tall
// tiles, the checks that keep a configuration within what the portable
// kernel emits (whole m16 warp tiles, KV tiles in multiples of the k16 MMA
// step, async copies that divide evenly among the threads, shared memory a
// block can hold), and the `sattn.tile_plan` record in the IR.
//
//===----------------------------------------------------------------------===//

#include "sattn/Plan/TileConfig.h"

#include "TileShapePolicy.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::plan;

/// Both kernels are built for head_dim 64, 128 and 256.
static bool isSupportedHeadDim(int64_t headDim) {
  return headDim == 64 || headDim == 128 || headDim == 256;
}

TileConfig sattn::plan::hopperTileConfig(int64_t headDim, int64_t stages) {
  TileConfig c;
  c.family = abi::KernelFamily::Wgmma;
  c.blockM = 128;
  // At head_dim 256 a consumer thread holds 128 f32 accumulators of O; 64-key
  // tiles keep the scores (32 f32) and probabilities (16 registers) within
  // the consumers' 240 registers, and two stages within shared memory.
  c.blockN = headDim == 256 ? 64 : 128;
  c.rowsPerWarp = 16;
  c.warps = 12;
  c.stages = stages ? stages : 2;
  return c;
}

/// The Hopper kernel's shapes, FlashAttention-3's: 128 query rows in two
/// consumer warpgroups, 128-key tiles (64 at head_dim 256); the number of
/// ring stages is free within shared memory.
static std::string checkHopperConfig(const TileConfig &c, int64_t headDim) {
  if (!isSupportedHeadDim(headDim))
    return llvm::formatv(
        "the wgmma kernel supports head_dim 64, 128 and 256 (got {0})",
        headDim);
  TileConfig h = hopperTileConfig(headDim, c.stages);
  if (c.blockM != h.blockM || c.blockN != h.blockN || c.warps != h.warps ||
      c.rowsPerWarp != h.rowsPerWarp)
    return llvm::formatv(
        "the wgmma kernel at head_dim {0} has {1}x{2} tiles, {3} warps and "
        "{4} rows per warp (got {5}x{6}, {7}, {8})",
        headDim, h.blockM, h.blockN, h.warps, h.rowsPerWarp, c.blockM,
        c.blockN, c.warps, c.rowsPerWarp);
  if (c.stages < 2 || c.stages > 8)
    return llvm::formatv("the wgmma kernel takes 2 to 8 stages (got {0})",
                         c.stages);
  if (c.sharedMemoryBytes(headDim) > kMaxSharedMemoryBytes)
    return llvm::formatv("{0} stages of the wgmma kernel at head_dim {1} need "
                         "{2} bytes of shared memory, more than the {3} a "
                         "block can have",
                         c.stages, headDim, c.sharedMemoryBytes(headDim),
                         kMaxSharedMemoryBytes);
  return "";
}

std::string sattn::plan::checkTileConfig(const TileConfig &c, int64_t headDim) {
  if (c.family == abi::KernelFamily::Wgmma)
    return checkHopperConfig(c, headDim);
  if (!isSupportedHeadDim(headDim))
    return llvm::formatv("head_dim {0} is not supported (64, 128 or 256)",
                         headDim);
  if (c.blockM <= 0 || c.blockN <= 0 || c.warps <= 0 || c.stages <= 0)
    return "tile sizes, warps and stages must be positive";
  if (c.rowsPerWarp != 16 && c.rowsPerWarp != 32)
    return llvm::formatv("rows-per-warp {0} is not supported (16 or 32: one "
                         "or two m16 MMA tiles)",
                         c.rowsPerWarp);
  if (c.rowsPerWarp > 16 && headDim > 128)
    return llvm::formatv("rows-per-warp {0} at head_dim {1} needs {1} f32 "
                         "accumulators per thread, more than fit in registers",
                         c.rowsPerWarp, headDim);
  if (c.blockM != c.rowsPerWarp * c.warps)
    return llvm::formatv("block-m {0} does not match {1} warps of {2} rows",
                         c.blockM, c.warps, c.rowsPerWarp);
  if (c.warps > 16)
    return llvm::formatv("{0} warps exceed the 1024 threads of a block",
                         c.warps);
  if (c.blockN % 16 != 0)
    return llvm::formatv("block-n {0} is not a multiple of 16 (the k16 step "
                         "of mma.sync)",
                         c.blockN);
  if (c.stages > 8)
    return llvm::formatv("{0} stages are more than the 8 supported", c.stages);
  // Each thread issues whole 16-byte copies (8 elements) of a K/V tile.
  if ((c.blockN * headDim / 8) % (32 * c.warps) != 0)
    return llvm::formatv("a {0}x{1} KV tile does not split evenly into "
                         "16-byte copies over {2} threads",
                         c.blockN, headDim, 32 * c.warps);
  if (c.sharedMemoryBytes(headDim) > kMaxSharedMemoryBytes)
    return llvm::formatv("the tiles need {0} bytes of shared memory, more "
                         "than the {1} a block can have",
                         c.sharedMemoryBytes(headDim), kMaxSharedMemoryBytes);
  return "";
}

TileConfig sattn::plan::portableTileConfig(int64_t headDim) {
  // mma.sync needs the same tiles for bf16 and f16; only head_dim changes
  // the register budget. 64x64 tiles with 4 warps and 2 stages run two
  // blocks per SM and measured fastest on an H200 among 16-row shapes
  // (bench/RESULTS.md: 128x64 with 8 warps, or a third stage, lose 6-25%;
  // 64x128 spills). At 256 the accumulator alone takes 128 registers per
  // thread, so KV tiles shrink to one k16 step (with 32 keys, kernels whose
  // masks read tables spill).
  TileConfig c;
  c.blockN = headDim == 256 ? 16 : 64;
  return c;
}

FailureOr<TileConfig> sattn::plan::chooseTileConfig(int64_t headDim,
                                                   const MaskProgram &program,
                                                   const TileRequest &request,
                                                   std::string &error) {
  // The Hopper kernel takes a stage count and no other tile option.
  // With a backward pass head_dim 256 stays portable (TileRequest::backward).
  bool backwardFits = !request.backward || headDim <= 128;
  if (request.hopper && !request.blockMax && request.onlyStages() && isSupportedHeadDim(headDim) &&
      backwardFits) {
    TileConfig hopper = hopperTileConfig(headDim, request.stages);
    // At head_dim 256 O's accumulators take the consumers' 240 registers;
    // the 232 they keep when the producer copies gathered rows spill.
    HopperPlanForm form = chooseHopperPlanForm(
        program, hopper, portableTileConfig(headDim), /*gathersFit=*/headDim <= 128);
    if (form != HopperPlanForm::None) {
      hopper.gathers = form == HopperPlanForm::Gathers;
      error = checkHopperConfig(hopper, headDim);
      if (!error.empty())
        return failure();
      return hopper;
    }
  }
  TileConfig c = portableTileConfig(headDim);
  c.rangeOnly = request.blockMax;
  if (request.empty() && !request.blockMax && prefersTallTiles(program, headDim)) {
    c.rowsPerWarp = 32;
    c.blockN = 32;
  }
  if (request.blockM < 0 || request.blockN < 0 || request.warps < 0 ||
      request.stages < 0 || request.rowsPerWarp < 0) {
    error = "tile options must not be negative";
    return failure();
  }
  if (request.rowsPerWarp)
    c.rowsPerWarp = request.rowsPerWarp;
  int64_t rows = c.rowsPerWarp;
  if (request.blockM && request.blockM % rows != 0) {
    error = llvm::formatv("block-m {0} is not a multiple of {1} (each warp "
                          "owns {1} query rows)",
                          request.blockM, rows);
    return failure();
  }
  if (request.warps)
    c.warps = request.warps;
  else if (request.blockM)
    c.warps = request.blockM / rows;
  c.blockM = request.blockM ? request.blockM : rows * c.warps;
  if (request.blockN)
    c.blockN = request.blockN;
  if (request.stages)
    c.stages = request.stages;
  error = checkTileConfig(c, headDim);
  if (!error.empty())
    return failure();
  return c;
}

void sattn::plan::recordTilePlan(KernelOp kernel, const TileConfig &c,
                                 ArrayRef<std::string> tiers,
                                 int64_t headClasses) {
  Builder b(kernel.getContext());
  SmallVector<Attribute> tierNames;
  for (const std::string &t : tiers)
    tierNames.push_back(b.getStringAttr(t));
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("block_m", b.getI64IntegerAttr(c.blockM)),
      b.getNamedAttr("block_n", b.getI64IntegerAttr(c.blockN)),
      b.getNamedAttr("head_classes", b.getI64IntegerAttr(headClasses)),
      b.getNamedAttr("kernel", b.getStringAttr(llvm::StringRef(abi::familyName(c.family)))),
      b.getNamedAttr("rows_per_warp", b.getI64IntegerAttr(c.rowsPerWarp)),
      b.getNamedAttr("stages", b.getI64IntegerAttr(c.stages)),
      b.getNamedAttr("tiers", b.getArrayAttr(tierNames)),
      b.getNamedAttr("warps", b.getI64IntegerAttr(c.warps)),
  };
  // Only a Hopper kernel has the choice; the portable one always gathers.
  if (c.family == abi::KernelFamily::Wgmma && c.gathers)
    fields.push_back(b.getNamedAttr("gathers", b.getBoolAttr(true)));
  kernel->setAttr(kTilePlanAttrName, b.getDictionaryAttr(fields));
}

FailureOr<TileConfig> sattn::plan::readTilePlan(KernelOp kernel) {
  auto record = kernel->getAttrOfType<DictionaryAttr>(kTilePlanAttrName);
  if (!record)
    return kernel.emitError()
           << "has no '" << kTilePlanAttrName
           << "' dictionary: run sattn-plan-tiles before lowering";
  TileConfig c;
  std::pair<StringRef, int64_t *> fields[] = {
      {"block_m", &c.blockM}, {"block_n", &c.blockN},
      {"rows_per_warp", &c.rowsPerWarp}, {"warps", &c.warps},
      {"stages", &c.stages}};
  for (auto [name, value] : fields) {
    auto attr = record.getAs<IntegerAttr>(name);
    if (!attr)
      return kernel.emitError() << "'" << kTilePlanAttrName
                                << "' has no integer '" << name << "'";
    *value = attr.getInt();
  }
  // Records written before there were two kernel families have no "kernel".
  if (Attribute family = record.get("kernel")) {
    auto name = dyn_cast<StringAttr>(family);
    if (name && name.getValue() == llvm::StringRef(abi::familyName(abi::KernelFamily::Wgmma)))
      c.family = abi::KernelFamily::Wgmma;
    else if (!name ||
             name.getValue() !=
                 llvm::StringRef(abi::familyName(abi::KernelFamily::MmaSync)))
      return kernel.emitError()
             << "'" << kTilePlanAttrName
             << "': 'kernel' must be \"mma_sync\" or \"wgmma\"";
  }
  if (Attribute gathers = record.get("gathers")) {
    auto flag = dyn_cast<BoolAttr>(gathers);
    if (!flag)
      return kernel.emitError() << "'" << kTilePlanAttrName
                                << "': 'gathers' must be a bool";
    if (flag.getValue() && c.family != abi::KernelFamily::Wgmma)
      return kernel.emitError()
             << "'" << kTilePlanAttrName
             << "': 'gathers' is an option of the \"wgmma\" kernel only (the "
                "\"mma_sync\" kernel always reads gathers)";
    c.gathers = flag.getValue();
  }
  if (kernel.getBlockMax()) {
    if (c.family != abi::KernelFamily::MmaSync)
      return kernel.emitError() << "'" << kTilePlanAttrName
                                << "': a block_max kernel is an \"mma_sync\" kernel";
    c.rangeOnly = true;
  }
  std::string error = checkTileConfig(c, kernel.getHeadDim());
  if (!error.empty())
    return kernel.emitError() << "'" << kTilePlanAttrName << "': " << error;
  return c;
}
