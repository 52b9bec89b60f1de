//===- RuntimeDevicePlanTest.cpp - device plans in libsattn_runtime -------===//
//
// What libsattn_runtime checks about a kernel's plan builder without a GPU:
// the manifest's "device_plan" record (five identifier entries, block size,
// class axes, the parameter list this runtime packs), the workspace size
// query (from the tile grid, per class axis; refused without a builder or
// for shapes beyond its 32-bit indexing) and the build's argument checks.
// The builds themselves run on the GPU (bench/device_plan.py) and, as the
// same code on the CPU, in DevicePlanTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

using namespace runtime_test;

namespace {

std::string devicePlanRecord(const std::string &entries, const std::string &params,
                             bool byBatch = true, bool byHead = false) {
  return R"({"entries": )" + entries + R"(, "threads": 256, "params": )" + params +
         R"(, "class_by_batch": )" + (byBatch ? "true" : "false") +
         R"(, "class_by_head": )" + (byHead ? "true" : "false") + "}";
}

const std::string kEntries = R"(["s_plan_summarize", "s_plan_classify", "s_plan_resolve",
                                 "s_plan_count", "s_plan_scan", "s_plan_write"])";
const std::string kParams =
    R"(["lq", "lk", "batch", "num_classes", "class_heads", "status", "work", "counts",
        "offsets", "segments", "class_index", "summaries", "table_doc", "table_blocks"])";

size_t workspace(const sattn_kernel *k, int64_t batch, int64_t lq, int64_t lk,
                 sattn_status expect = SATTN_OK) {
  size_t bytes = 1;
  EXPECT_EQ(sattn_device_plan_workspace(k, batch, lq, lk, &bytes), expect)
      << sattn_last_error();
  return bytes;
}

TEST(RuntimeDevicePlan, ManifestRecordIsChecked) {
  ManifestBuilder m;
  m.set("device_plan", devicePlanRecord(kEntries, kParams));
  loadOrDie(m.str());
  expectManifestError(m.set("device_plan", "[]").str(), {"\"device_plan\" must be an object"});
  expectManifestError(
      m.set("device_plan", devicePlanRecord(R"(["a", "b"])", kParams)).str(),
      {"entries", "has 2 entries, expected 6"});
  expectManifestError(
      m.set("device_plan",
            devicePlanRecord(R"(["a", "b", "c", "d", "e", "not an identifier"])", kParams))
          .str(),
      {"entries", "identifiers"});
  // A list packed differently (an older builder without summaries).
  expectManifestError(
      m.set("device_plan",
            devicePlanRecord(kEntries, R"(["lq", "lk", "batch", "num_classes", "class_heads",
                                           "status", "work", "counts", "offsets", "segments",
                                           "class_index", "table_doc", "table_blocks"])"))
          .str(),
      {"params", "device plan parameters"});
  expectManifestError(
      m.set("device_plan", R"({"entries": )" + kEntries + R"(, "threads": 0})").str(),
      {"threads", "expected a value in [1, 1024]"});
}

TEST(RuntimeDevicePlan, WorkspaceComesFromTheTileGrid) {
  // 64 x 64 tiles, 32 heads; B = 2, Lq = 100, Lk = 130: T = 2, N = 3;
  // tables doc [2, 130] and blocks [32, 3, 3]: 9 + 9 summary chunks; counts
  // hold a total and one piece count per row (N = 3 < kRunChunk).
  ManifestBuilder m;
  KernelPtr byBatch = loadOrDie(m.set("device_plan", devicePlanRecord(kEntries, kParams)).str());
  KernelPtr byBoth =
      loadOrDie(m.set("device_plan", devicePlanRecord(kEntries, kParams, true, true)).str());
  auto expected = [](int64_t classes, int64_t batch) {
    int64_t grid = classes * 2 * 3;
    auto round = [](int64_t bytes) { return (std::max<int64_t>(bytes, 8) + 255) / 256 * 256; };
    return size_t(round(4 * grid) + round(8 * (grid + 1)) + round(8 * classes * 2 * 2) +
                  round(8 * classes * 3) + round(56 * grid) + round(8 * batch * 32) +
                  round(16 * (9 + 9)));
  };
  EXPECT_EQ(workspace(byBatch.get(), 2, 100, 130), expected(2, 2));
  EXPECT_EQ(workspace(byBoth.get(), 2, 100, 130), expected(64, 2));
  EXPECT_LT(workspace(byBatch.get(), 2, 100, 130), workspace(byBoth.get(), 2, 100, 130));

  // Bad shapes and shapes beyond 32-bit indexing are refused by name.
  workspace(byBatch.get(), 0, 100, 130, SATTN_ERROR_SHAPE);
  workspace(byBatch.get(), 2, 131, 130, SATTN_ERROR_SHAPE);
  workspace(byBoth.get(), 8, 1 << 20, 1 << 20, SATTN_ERROR_SHAPE); // 2^38 tiles
  EXPECT_NE(std::string(sattn_last_error()).find("32-bit indexing"), std::string::npos)
      << sattn_last_error();

  // A kernel compiled without a builder says so.
  KernelPtr none = loadOrDie(ManifestBuilder().str());
  workspace(none.get(), 2, 100, 130, SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("no device plan builder"), std::string::npos);
  EXPECT_EQ(sattn_device_plan_workspace(nullptr, 1, 1, 1, nullptr), SATTN_ERROR_INVALID_ARGUMENT);
}

TEST(RuntimeDevicePlan, BuildChecksItsArgumentsBeforeAnyLaunch) {
  ManifestBuilder m;
  KernelPtr k = loadOrDie(m.set("device_plan", devicePlanRecord(kEntries, kParams)).str());
  sattn_plan plan;
  // Wrong table count, NULL out, a misaligned or short workspace: no driver
  // is needed to refuse them.
  EXPECT_EQ(sattn_device_plan_build(k.get(), 2, 100, 130, nullptr, 0, nullptr, 0, nullptr,
                                    &plan),
            SATTN_ERROR_TABLE);
  EXPECT_NE(std::string(sattn_last_error()).find("reads 2 runtime table(s)"), std::string::npos)
      << sattn_last_error();
  EXPECT_EQ(sattn_device_plan_build(k.get(), 2, 100, 130, nullptr, 0, nullptr, 0, nullptr,
                                    nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
  alignas(256) static int64_t doc[2 * 130], blocks[32 * 3 * 3];
  sattn_tensor tables[2] = {};
  tables[0] = sattn_tensor{doc, SATTN_DTYPE_I64, 2, {2, 130}, {130, 1}};
  tables[1] = sattn_tensor{blocks, SATTN_DTYPE_I64, 3, {32, 3, 3}, {9, 3, 1}};
  size_t need = workspace(k.get(), 2, 100, 130);
  EXPECT_EQ(sattn_device_plan_build(k.get(), 2, 100, 130, tables, 2,
                                    reinterpret_cast<void *>(uintptr_t(0x10008)), need,
                                    nullptr, &plan),
            SATTN_ERROR_ALIGNMENT);
  EXPECT_EQ(sattn_device_plan_build(k.get(), 2, 100, 130, tables, 2,
                                    reinterpret_cast<void *>(uintptr_t(0x10000)), need - 1,
                                    nullptr, &plan),
            SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find(" needed (sattn_device_plan_workspace)"), std::string::npos)
      << sattn_last_error();
}

TEST(RuntimeDevicePlan, LayoutSaysWhereTheBuildPutsThePlan) {
  // B = 2, Lq = 100, Lk = 130, 64 x 64 tiles, classes by batch: T = 2, N = 3,
  // 2 classes. The layout is the plan of a workspace at address 0: its
  // buffers are distinct 256-byte aligned offsets inside the workspace.
  ManifestBuilder m;
  KernelPtr k = loadOrDie(m.set("device_plan", devicePlanRecord(kEntries, kParams)).str());
  sattn_plan plan;
  ASSERT_EQ(sattn_device_plan_layout(k.get(), 2, 100, 130, &plan), SATTN_OK)
      << sattn_last_error();
  EXPECT_EQ(plan.num_query_tiles, 2);
  EXPECT_EQ(plan.num_classes, 2);
  EXPECT_EQ(plan.num_segments, 2 * 2 * 3);
  EXPECT_EQ(plan.block_m, 64);
  EXPECT_EQ(plan.block_n, 64);
  size_t need = workspace(k.get(), 2, 100, 130);
  uintptr_t at[3] = {reinterpret_cast<uintptr_t>(plan.segments),
                     reinterpret_cast<uintptr_t>(plan.offsets),
                     reinterpret_cast<uintptr_t>(plan.class_index)};
  for (uintptr_t offset : at) {
    EXPECT_EQ(offset % 256, 0u);
    EXPECT_LT(offset, need);
  }
  EXPECT_NE(at[0], at[1]);
  EXPECT_NE(at[1], at[2]);
  EXPECT_NE(at[0], at[2]);
  // Refused as the workspace query is, and *out is cleared.
  EXPECT_EQ(sattn_device_plan_layout(k.get(), 0, 100, 130, &plan), SATTN_ERROR_SHAPE);
  EXPECT_EQ(plan.segments, nullptr);
  KernelPtr none = loadOrDie(ManifestBuilder().str());
  EXPECT_EQ(sattn_device_plan_layout(none.get(), 2, 100, 130, &plan), SATTN_ERROR_MANIFEST);
  EXPECT_EQ(sattn_device_plan_layout(k.get(), 2, 100, 130, nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
}

} // namespace
