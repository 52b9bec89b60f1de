//===- ManifestWriter.cpp - kernel manifests for libsattn_runtime ---------===//
//
// One JSON document per kernel, in the exact format libsattn_runtime parses
// (docs/MANIFEST.md). The mask program lets tools and tests rebuild the
// reference mask without MLIR.
//
//===----------------------------------------------------------------------===//

#include "sattn/Artifacts/ManifestWriter.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/KernelAbi.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

FailureOr<std::string>
sattn::writeManifest(KernelOp kernel, const MaskProgram &program,
                     const target::LaunchInfo &launch, llvm::StringRef chip,
                     const ManifestBuildInfo &build) {
  llvm::json::Array tables;
  kernel.walk([&](mask::TableOp table) {
    llvm::json::Array dims;
    for (Attribute d : table.getDims())
      dims.push_back(cast<StringAttr>(d).getValue().str());
    Type elem = table.getElementType();
    tables.push_back(llvm::json::Object{
        {"name", table.getSymName().str()},
        {"element", elem.isInteger(1) ? "i1" : elem.isInteger(32) ? "i32" : "i64"},
        {"dims", std::move(dims)}});
  });
  // The kernel's parameter names from the ABI table; the runtime refuses a
  // list that differs from its own. The compiled kernel recorded the names
  // it was built with, which must be the same.
  std::vector<std::string> tableNames;
  kernel.walk([&](mask::TableOp table) { tableNames.push_back(table.getSymName().str()); });
  std::vector<std::string> names =
      abi::paramNames(tableNames, launch.family, kernel.getBlockMax());
  if (!launch.params.empty()) {
    bool same = launch.params.size() == names.size();
    for (size_t i = 0; same && i < names.size(); ++i)
      same = launch.params[i].name == names[i];
    if (!same)
      return kernel.emitError("internal error: the compiled kernel's parameters "
                              "differ from the kernel ABI table");
  }
  llvm::json::Array params;
  for (const std::string &name : names)
    params.push_back(name);
  // sm_90a and sm_90 both need compute capability 9.0; sm_80 needs 8.0.
  int64_t capability = 0;
  llvm::StringRef digits = chip;
  digits.consume_front("sm_");
  digits = digits.take_while([](char c) { return c >= '0' && c <= '9'; });
  if (digits.getAsInteger(10, capability))
    return kernel.emitError() << "unknown target chip '" << chip << "'";
  llvm::json::Object manifest{
      {"format", "sattn.kernel-manifest/1"},
      {"name", kernel.getSymName().str()},
      {"entry", launch.entryName},
      {"dtype", kernel.getDtype().isBF16() ? "bf16" : "f16"},
      {"head_dim", (int64_t)kernel.getHeadDim()},
      {"heads", (int64_t)kernel.getHeads()},
      {"kv_heads", (int64_t)kernel.getKvHeads()},
      {"scale", kernel.getScale().convertToDouble()},
      {"return_lse", kernel.getReturnLse()},
      {"block_max", kernel.getBlockMax()},
      {"target", chip.str()},
      {"min_compute_capability", capability},
      {"block_m", launch.blockM},
      {"block_n", launch.blockN},
      {"warps", launch.warps},
      {"stages", launch.stages},
      {"threads", launch.threadsPerBlock},
      {"shared_bytes", launch.dynamicSharedMemoryBytes},
      {"tables", std::move(tables)},
      {"params", std::move(params)},
      {"kernel", std::string(abi::familyName(launch.family))},
      // Whether plans may hold Gather and List segments: a Hopper kernel
      // built without gathers loads KV tiles only as whole TMA boxes.
      {"plan_gathers", launch.planGathers},
      {"mask_program", maskProgramToJSON(program)}};
  if (launch.devicePlan) {
    // The plan builder's stage kernels (sattn/Conversion/DevicePlan.h), in
    // launch order, all with the same parameters.
    llvm::json::Array stages, planParams;
    for (std::string_view stage : abi::kDevicePlanStages)
      stages.push_back(target::devicePlanEntryName(launch.entryName, stage));
    for (const std::string &param : abi::devicePlanParamNames(tableNames))
      planParams.push_back(param);
    manifest["device_plan"] = llvm::json::Object{
        {"entries", std::move(stages)},
        {"threads", abi::kDevicePlanThreads},
        {"params", std::move(planParams)},
        {"class_by_batch", launch.planClassByBatch},
        {"class_by_head", launch.planClassByHead},
        {"list_keys", launch.planListKeys},
        {"list_unit_rows", launch.planListUnitRows}};
  }
  if (launch.estimator) {
    // The compiled estimator's stage kernels (sattn/Conversion/Estimators.h)
    // and the table they write, which every launch then reads.
    const plan::EstimatorSpec &e = *launch.estimator;
    abi::EstimatorShape kind{};
    kind.block = e.block;
    e.setKindFields(kind);
    int count = 0;
    const std::string_view *names = kind.stageNames(count);
    llvm::json::Array stages, estimatorParams;
    for (int i = 0; i < count; ++i)
      stages.push_back(target::estimatorEntryName(launch.entryName, names[i]));
    for (std::string_view param : abi::kEstimatorParams)
      estimatorParams.push_back(std::string(param));
    llvm::json::Object record{{"kind", e.kind}, {"block", e.block}, {"table", e.table}};
    if (e.isNsa()) {
      record["compress_block"] = e.compressBlock;
      record["compress_stride"] = e.compressStride;
      record["select_count"] = e.selectCount;
      record["local"] = e.localBlocks;
      record["window"] = e.window;
      // The branch kernels the caller mixes with this one (docs/ESTIMATORS.md).
      record["compressed_kernel"] = e.compressedKernel;
      record["sliding_kernel"] =
          e.slidingKernel.empty() ? llvm::json::Value(nullptr) : llvm::json::Value(e.slidingKernel);
    } else if (e.isGate()) {
      record["hidden"] = e.hidden;
      record["threshold"] = e.threshold;
      record["top_ratio"] = e.topRatio;
      record["rope_base"] = e.ropeBase;
    } else if (e.isStripe()) {
      record["group"] = e.group;
      record["step"] = e.step;
      record["theta"] = e.theta;
    } else if (e.isLines()) {
      record["vertical"] = e.vertical;
      record["slash"] = e.slash;
      record["forced_vertical"] = e.forcedVertical;
      record["forced_slash"] = e.forcedSlash;
      record["last_q"] = e.lastQ;
    } else {
      record["scorer"] = e.scorer;
      record["top_k"] = e.topK;
      record["tau"] = e.tau;
      record["stride"] = e.stride;
    }
    // How the stages compute logits of query rows (docs/ESTIMATORS.md).
    if (e.hasQueryLogits())
      record["logits"] = e.tensorLogits ? "tensor" : "exact";
    record["entries"] = std::move(stages);
    record["threads"] = abi::kEstimatorThreads;
    record["params"] = std::move(estimatorParams);
    manifest["estimator"] = std::move(record);
  }
  if (launch.backward) {
    // The backward kernel (docs/KERNEL_ABI.md, "Backward kernel"): the
    // forward's plan and grid, its own block and shared memory.
    llvm::json::Array backwardParams;
    for (const std::string &param : abi::backwardParamNames(tableNames))
      backwardParams.push_back(param);
    manifest["backward"] = llvm::json::Object{
        {"entry", launch.backward->entryName},
        {"warps", launch.backward->warps},
        {"threads", 32 * launch.backward->warps},
        {"stages", launch.backward->stages},
        {"shared_bytes", launch.backward->dynamicSharedMemoryBytes},
        {"params", std::move(backwardParams)}};
  }
  auto addKnown = [&](const char *key, std::optional<int64_t> value) {
    if (value)
      manifest[key] = *value;
  };
  addKnown("opt_level", build.optLevel);
  addKnown("registers", build.registers);
  addKnown("spill_store_bytes", build.spillStoreBytes);
  addKnown("spill_load_bytes", build.spillLoadBytes);
  addKnown("compile_ms", build.compileMs);
  if (!build.compiler.empty())
    manifest["compiler"] = build.compiler;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)));
  return text;
}
