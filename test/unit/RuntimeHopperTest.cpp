//===- RuntimeHopperTest.cpp - sm_90a ("wgmma") kernels without a GPU -----===//
//
// The manifest keys of the sm_90a kernel family ("kernel", "plan_gathers")
// and what the runtime requires of such a kernel at load (its parameter
// list with the tensor maps, the sm_90a target, head_dim and tiles that fit
// TMA boxes; gathers only where the manifest says so), then the launch checks its tensor maps add
// (sattn_validate, so no GPU is needed), and that the runtime plans such a
// kernel with Range segments only, buffer for buffer as the compiler's
// planner does with gathers off. The maps' geometry itself is checked in
// TensorMapsTest.cpp, the driver calls in test/Runtime/fake-driver-hopper.test.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Artifacts/ManifestWriter.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/JSON.h"

using namespace runtime_test;

namespace {

/// The builder's tables are "doc" and "blocks".
std::string paramList(bool tensorMaps) {
  std::string list = R"(["q", "k", "v", "o", "lse", "q_sb", "q_sh", "q_ss", "k_sb", "k_sh",
      "k_ss", "v_sb", "v_sh", "v_ss", "o_sb", "o_sh", "o_ss", "lse_sb", "lse_sh", "lq", "lk",
      "segments", "offsets", "class_index", "num_query_tiles", "table_doc", "table_blocks")";
  return list + (tensorMaps ? R"(, "tma_q", "tma_k", "tma_v"])" : "]");
}

/// A valid "wgmma" manifest: head_dim 128, 64 x 64 tiles, sm_90a.
ManifestBuilder wgmma() {
  ManifestBuilder b;
  b.set("kernel", "\"wgmma\"").set("plan_gathers", "false").set("params", paramList(true));
  return b;
}

TEST(RuntimeHopperManifest, WgmmaKernelsWithTheirParamsLoad) {
  EXPECT_NE(loadOrDie(wgmma().str()), nullptr);
  // "params" stays optional; f16, the other head_dims and the largest tiles.
  EXPECT_NE(loadOrDie(wgmma().erase("params").str()), nullptr);
  EXPECT_NE(loadOrDie(wgmma().set("dtype", "\"f16\"").str()), nullptr);
  for (const char *d : {"64", "192", "256"})
    EXPECT_NE(loadOrDie(wgmma().set("head_dim", d).str()), nullptr) << d;
  EXPECT_NE(loadOrDie(wgmma().set("block_m", "256").set("block_n", "256").str()), nullptr);
  // "mma_sync" is the default and may be written out; it may also ask for
  // Range-only plans.
  EXPECT_NE(loadOrDie(ManifestBuilder().set("kernel", "\"mma_sync\"").str()), nullptr);
  EXPECT_NE(loadOrDie(ManifestBuilder().set("params", paramList(false)).str()), nullptr);
  EXPECT_NE(loadOrDie(ManifestBuilder().set("plan_gathers", "false").str()), nullptr);
  EXPECT_NE(loadOrDie(ManifestBuilder().set("plan_gathers", "true").str()), nullptr);
}

TEST(RuntimeHopperManifest, UnknownKernelFamiliesAreRefused) {
  std::string text = ManifestBuilder().set("kernel", "\"tcgen05\"").str();
  expectManifestError(text, {"key \"kernel\" is \"tcgen05\", expected \"mma_sync\" or \"wgmma\"",
                             byteAt(text, "\"tcgen05\"")});
  expectManifestError(ManifestBuilder().set("kernel", "\"WGMMA\"").str(),
                      {"key \"kernel\" is \"WGMMA\""});
  expectManifestError(ManifestBuilder().set("kernel", "1").str(),
                      {"key \"kernel\" must be a string, found a number"});
  expectManifestError(ManifestBuilder().set("plan_gathers", "0").str(),
                      {"key \"plan_gathers\" must be a boolean, found a number"});
}

TEST(RuntimeHopperManifest, ParamsMustBeThoseOfTheFamily) {
  // Tensor maps missing from a "wgmma" kernel, or present in a "mma_sync" one.
  expectManifestError(wgmma().set("params", paramList(false)).str(),
                      {"differs from this runtime's kernel ABI", "for a \"wgmma\" kernel",
                       "parameter 27 is nothing, expected tma_q"});
  expectManifestError(ManifestBuilder().set("params", paramList(true)).str(),
                      {"for a \"mma_sync\" kernel", "parameter 27 is tma_q, expected nothing"});
  std::string swapped = paramList(true);
  swapped.replace(swapped.find("\"tma_k\", \"tma_v\""), 16, "\"tma_v\", \"tma_k\"");
  expectManifestError(wgmma().set("params", swapped).str(),
                      {"parameter 28 is tma_v, expected tma_k"});
  // The maps come after the tables, not before.
  std::string early = paramList(false);
  early.replace(early.find("\"table_doc\""), 0, "\"tma_q\", \"tma_k\", \"tma_v\", ");
  expectManifestError(wgmma().set("params", early).str(),
                      {"parameter 25 is tma_q, expected table_doc"});
}

TEST(RuntimeHopperManifest, WgmmaKernelsMayReadGathers) {
  // A "wgmma" kernel built with gathers says so; absent means true, as for
  // every kernel. Either way the planner follows the key.
  for (const char *gathers : {"true", "false"}) {
    auto m = loadOrDie(wgmma().set("plan_gathers", gathers).str());
    ASSERT_NE(m, nullptr) << gathers;
  }
  EXPECT_NE(loadOrDie(wgmma().erase("plan_gathers").str()), nullptr);
}

TEST(RuntimeHopperManifest, WgmmaNeedsSm90aAndTmaSizedTiles) {
  for (const char *target : {"\"sm_90\"", "\"sm_100a\"", "\"sm_80\""}) {
    std::string text = wgmma().set("target", target).str();
    expectManifestError(text, {std::string("key \"target\" is ") + target +
                                   ", but a \"wgmma\" kernel is built for \"sm_90a\" only",
                               byteAt(text, target)});
  }
  for (const char *d : {"96", "32", "320", "100"})
    expectManifestError(wgmma().set("head_dim", d).str(),
                        {std::string("key \"head_dim\" is ") + d +
                             ", but a \"wgmma\" kernel needs a multiple of 64 up to 256"});
  expectManifestError(wgmma().set("block_m", "512").str(),
                      {"key \"block_m\" is 512, but a \"wgmma\" kernel needs at most 256"});
  expectManifestError(wgmma().set("block_n", "384").str(),
                      {"key \"block_n\" is 384, but a \"wgmma\" kernel needs at most 256"});
  // The same sizes are fine for a mma.sync kernel.
  EXPECT_NE(loadOrDie(ManifestBuilder().set("head_dim", "96").set("block_m", "512").str()),
            nullptr);
}

//===----------------------------------------------------------------------===//
// Launch checks of the tensor maps
//===----------------------------------------------------------------------===//

/// LaunchFixture's launch (B = 2, H = 32, KV_H = 8, Lq = 100, Lk = 130,
/// D = 128, fake aligned pointers) of a "wgmma" kernel (`hopper`) and of
/// the same kernel built for mma.sync (`kernel`).
class RuntimeHopperValidate : public LaunchFixture {
protected:
  void SetUp() override {
    LaunchFixture::SetUp();
    hopper = loadOrDie(wgmma().str());
  }
  sattn_status validateHopper() { return validate(hopper.get()); }

  KernelPtr hopper;
};

TEST_F(RuntimeHopperValidate, ContiguousAndStridedLayoutsPass) {
  EXPECT_EQ(validateHopper(), SATTN_OK) << sattn_last_error();
  // Q as a (B, Lq, H, D) buffer.
  q.strides[0] = LQ * H * D;
  q.strides[1] = D;
  q.strides[2] = H * D;
  EXPECT_EQ(validateHopper(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeHopperValidate, BroadcastStridesAreRefusedForTensorMapsOnly) {
  v.strides[0] = 0; // V shared by the batch
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  expect(validateHopper(), SATTN_ERROR_STRIDE,
         {"v dimension 0 (batch) has stride 0 with extent 2; TMA cannot broadcast"});
  v.strides[0] = KVH * LK * D;
  k.strides[1] = 0; // one K head for all
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  expect(validateHopper(), SATTN_ERROR_STRIDE,
         {"k dimension 1 (heads) has stride 0 with extent 8"});
}

TEST_F(RuntimeHopperValidate, StridesOf2To40BytesAreRefused) {
  q.strides[0] = int64_t(1) << 39; // 2^40 bytes of bf16
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  expect(validateHopper(), SATTN_ERROR_STRIDE,
         {"q dimension 0 (batch) has stride 549755813888 elements = 1099511627776 bytes; "
          "a tensor map's strides stay below 2^40 bytes"});
  q.strides[0] = (int64_t(1) << 39) - 8; // the largest multiple of 16 bytes below
  EXPECT_EQ(validateHopper(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeHopperValidate, ExtentsOfOneTakeAnyStride) {
  // One query row (decoding): its row stride is never used, and neither
  // validation nor the tensor map asks it to be a multiple of 16 bytes.
  q = sattn::runtime::tensor(fake(1), SATTN_DTYPE_BF16, {B, H, 1, D});
  o = sattn::runtime::tensor(fake(4), SATTN_DTYPE_BF16, {B, H, 1, D});
  q.strides[2] = 3;
  plan.num_query_tiles = 1;
  EXPECT_EQ(validateHopper(), SATTN_OK) << sattn_last_error();
  q.strides[2] = 0;
  EXPECT_EQ(validateHopper(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeHopperValidate, ValidationOrderIsKept) {
  // Checks every kernel has come first: a misaligned row stride is the
  // alignment error of RuntimeValidateTest, whatever the family.
  k.strides[2] = D + 4;
  k.strides[1] = LK * (D + 4);
  k.strides[0] = KVH * LK * (D + 4);
  expect(validateHopper(), SATTN_ERROR_ALIGNMENT, {"k dimension 2 (Lk) has stride 132 elements"});
  expect(validate(), SATTN_ERROR_ALIGNMENT, {"k dimension 2 (Lk) has stride 132 elements"});
}

//===----------------------------------------------------------------------===//
// Plans
//===----------------------------------------------------------------------===//

/// The runtime's plan of `json` for B = 1, Lq = Lk = 1024 (no tables).
std::vector<int64_t> runtimeSegments(const std::string &json) {
  auto kernel = sattn::runtime::Kernel::fromMemory(json, kPtx, sizeof kPtx - 1);
  sattn::runtime::HostPlan plan = sattn::runtime::HostPlan::build(kernel, 1, 1024, 1024, {});
  sattn_plan view = plan.view();
  return std::vector<int64_t>(view.segments, view.segments + view.num_segments * 7);
}

TEST(RuntimeHopperPlan, WgmmaKernelsArePlannedWithRangesOnly) {
  // S2 token strides (examples/s2_strided.sattn): every 8th key, which
  // plans with gathers visit as Gather segments.
  mlir::MLIRContext context(sattn::tile_plan_test::allDialects());
  const std::string name = "/s2_strided.sattn";
  std::string file;
  for (const std::string &f : sattn::tile_plan_test::exampleSpecFiles())
    if (f.size() > name.size() && f.compare(f.size() - name.size(), name.size(), name) == 0)
      file = f;
  ASSERT_FALSE(file.empty());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      sattn::tile_plan_test::compileSpecFile(file, context);
  ASSERT_TRUE(module);
  sattn::KernelOp kernel = *module->getOps<sattn::KernelOp>().begin();
  auto eval = sattn::tile_plan_test::staticEvaluator(kernel);
  ASSERT_TRUE(mlir::succeeded(eval));
  sattn::target::LaunchInfo launch;
  launch.kernelName = kernel.getSymName().str();
  launch.entryName = "sattn_" + launch.kernelName;
  launch.blockM = launch.blockN = 64;
  launch.warps = 12;
  launch.stages = 2;
  launch.threadsPerBlock = 384;
  launch.dynamicSharedMemoryBytes = 98304;
  auto text = sattn::writeManifest(kernel, eval->program(), launch, "sm_90a");
  ASSERT_TRUE(mlir::succeeded(text));
  auto parsed = llvm::json::parse(*text);
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  auto json = [&] {
    std::string out;
    llvm::raw_string_ostream(out) << *parsed;
    return out;
  };

  // As written (gathers allowed): Gather rows (kind 1) in the buffer.
  std::vector<int64_t> gathering = runtimeSegments(json());
  bool anyGather = false;
  for (size_t r = 0; r < gathering.size(); r += 7)
    anyGather |= gathering[r] == sattn::plan::Segment::Gather;
  EXPECT_TRUE(anyGather);

  // As a "wgmma" kernel: Range rows only, the compiler planner's buffer.
  llvm::json::Object &root = *parsed->getAsObject();
  root["kernel"] = "wgmma";
  root["plan_gathers"] = false;
  for (const char *map : {"tma_q", "tma_k", "tma_v"})
    root.getArray("params")->push_back(map);
  std::vector<int64_t> ranges = runtimeSegments(json());
  ASSERT_FALSE(ranges.empty());
  for (size_t r = 0; r < ranges.size(); r += 7)
    ASSERT_EQ(ranges[r], sattn::plan::Segment::Range) << "row " << r / 7;
  auto planner = sattn::plan::TilePlanner::build(kernel, sattn::plan::PlanOptions{64, 64, false});
  ASSERT_TRUE(mlir::succeeded(planner));
  sattn::MaskInputs in;
  in.batch = 1;
  in.lq = in.lk = 1024;
  std::string error;
  auto expected = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(expected)) << error;
  EXPECT_EQ(ranges, expected->flatten().segments);
  EXPECT_NE(ranges, gathering);
}

} // namespace
