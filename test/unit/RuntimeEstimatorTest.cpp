//===- RuntimeEstimatorTest.cpp - compiled estimators in libsattn_runtime -===//
//
// What libsattn_runtime checks about a kernel's compiled estimator without a
// GPU: the manifest's "estimator" record (the kind's identifier entries,
// block size, one selection or vertical_slash's counts, the table it
// writes being one of the kernel's, the parameter list this runtime packs), the table index and workspace
// queries, and the argument checks of sattn_estimator_run (Q and K as for a
// launch, the table as the kernel's table of that name, the workspace).
// The stages themselves run on the GPU (test/Integration/GPU/
// estimator_test.py) and, as the same code on the CPU, in
// CompiledEstimatorTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

#include "sattn/Core/KernelAbi.h"

using namespace runtime_test;

namespace {

const std::string kTables =
    R"([{"name": "doc", "element": "i32", "dims": ["b", "k"]},
        {"name": "keep", "element": "i1", "dims": ["b", "h", "q/64", "k/64"]}])";
const std::string kParams = R"(["q", "k", "q_sb", "q_sh", "q_ss", "k_sb", "k_sh", "k_ss",
                                "lq", "lk", "batch", "pooled", "table"])";

std::string record(const std::string &table = "keep", const std::string &selection =
                                                          R"("top_k": 4, "tau": 0)",
                   const std::string &entries = R"(["e_pool", "e_score", "e_select"])",
                   const std::string &params = kParams) {
  return R"({"kind": "block_topk", "scorer": "mean_pool", "block": 64, )" + selection +
         R"(, "table": ")" + table + R"(", "entries": )" + entries +
         R"(, "threads": 256, "params": )" + params + "}";
}

ManifestBuilder withEstimator(const std::string &rec = record()) {
  ManifestBuilder m;
  m.set("heads", "4").set("kv_heads", "2").set("head_dim", "64").set("tables", kTables);
  m.set("estimator", rec);
  return m;
}

TEST(RuntimeEstimator, ManifestRecordIsChecked) {
  KernelPtr k = loadOrDie(withEstimator().str());
  int32_t index = -7;
  ASSERT_EQ(sattn_estimator_table(k.get(), &index), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(index, 1);
  expectManifestError(withEstimator("[]").str(), {"\"estimator\" must be an object"});
  expectManifestError(withEstimator(record("nope")).str(),
                      {"table", "names 'nope', which is not one of the kernel's tables"});
  expectManifestError(withEstimator(record("keep", R"("top_k": 4, "tau": 0.5)")).str(),
                      {"exactly one of top_k > 0 and tau"});
  expectManifestError(withEstimator(record("keep", R"("top_k": 0, "tau": 0)")).str(),
                      {"exactly one of top_k > 0 and tau"});
  expectManifestError(withEstimator(record("keep", R"("top_k": 4, "tau": 0)",
                                           R"(["a", "b"])"))
                          .str(),
                      {"entries", "has 2 entries, expected 3"});
  expectManifestError(
      withEstimator(record("keep", R"("top_k": 4, "tau": 0)", R"(["a", "b", "c"])",
                           R"(["q", "k", "lq", "lk"])"))
          .str(),
      {"params", "estimator parameters"});
  // The antidiagonal scorer needs a stride that divides the block; mean pool
  // takes none.
  std::string antidiagonal = record("keep", R"("top_k": 0, "tau": 0.9, "stride": 8)");
  antidiagonal.replace(antidiagonal.find("mean_pool"), 9, "antidiagonal");
  loadOrDie(withEstimator(antidiagonal).str());
  std::string noStride = record("keep", R"("top_k": 0, "tau": 0.9)");
  noStride.replace(noStride.find("mean_pool"), 9, "antidiagonal");
  expectManifestError(withEstimator(noStride).str(), {"stride", "must divide block"});
  expectManifestError(withEstimator(record("keep", R"("top_k": 4, "tau": 0, "stride": 8)")).str(),
                      {"stride", "be 0 for mean_pool"});
  std::string learned = record();
  learned.replace(learned.find("mean_pool"), 9, "learned");
  expectManifestError(withEstimator(learned).str(), {"does not run (block_topk, learned"});
}

TEST(RuntimeEstimator, VerticalSlashRecord) {
  // One [b, h, 2, k] table, seven stages, its own parameters checked.
  const std::string tables =
      R"([{"name": "lines", "element": "i1", "dims": ["b", "h", "2", "k"]}])";
  auto lines = [&](const std::string &counts, const std::string &entries) {
    ManifestBuilder m;
    m.set("heads", "4").set("kv_heads", "2").set("head_dim", "64").set("tables", tables);
    m.set("estimator", R"({"kind": "vertical_slash", "block": 64, )" + counts +
                           R"(, "table": "lines", "entries": )" + entries +
                           R"(, "threads": 256, "params": )" + kParams + "}");
    return m.str();
  };
  const std::string seven = R"(["a", "b", "c", "d", "e", "f", "g"])";
  const std::string counts =
      R"("vertical": 10, "slash": 5, "forced_vertical": 2, "forced_slash": 1, "last_q": 64)";
  KernelPtr k = loadOrDie(lines(counts, seven));
  int32_t index = -1;
  ASSERT_EQ(sattn_estimator_table(k.get(), &index), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(index, 0);
  // B = 2, H = 4, Lk = 300 (2 chunks of 256 keys), last_q 64: chunk and row
  // statistics, a radix state and 256 bins per line, ties per chunk.
  sattn::abi::EstimatorShape shape{2, 4, 2, 64, 300, 64, 0};
  shape.lastQ = 64;
  int64_t slices = 8, entries = slices * 64 * 2 * 2 + slices * 64 * 2 + slices * 2 * 3 +
                               slices * 2 * 256 + slices * 2 * 2;
  EXPECT_EQ(shape.scratchEntries(), entries);
  size_t bytes = 0;
  ASSERT_EQ(sattn_estimator_workspace(k.get(), 2, 300, &bytes), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(bytes, size_t((entries * 8 + 255) / 256 * 256));
  std::vector<int> launches = shape.launches();
  ASSERT_EQ(launches.size(), size_t(3 + 2 * sattn::abi::kRadixPasses + 2));
  EXPECT_EQ(launches[3], 3);
  EXPECT_EQ(launches[4], 4);
  EXPECT_EQ(launches.back(), 6);
  // Tile stages, a block of 256 threads per tile (head_dim 64: 8 rows by a
  // chunk for row_chunks; 64 columns or 49 diagonals by 16 rows for lines).
  EXPECT_EQ(shape.stageItems(0), slices * (64 / 8) * 2 * 256);
  EXPECT_EQ(shape.stageItems(2), slices * (5 + 7) * 256);
  EXPECT_EQ(shape.stageItems(4), slices * 2);       // radix_decide: a line per item
  EXPECT_TRUE(shape.tileStage(0) && shape.tileStage(2) && !shape.tileStage(3));

  // block_topk's select is a tile stage (a block per query block row) when
  // it keeps a count, a thread per row when it keeps a mass.
  sattn::abi::EstimatorShape blocks{2, 4, 2, 64, 300, 64, 0};
  blocks.topK = 3;
  EXPECT_TRUE(blocks.tileStage(2) && !blocks.tileStage(0) && !blocks.tileStage(1));
  EXPECT_EQ(blocks.stageItems(2), slices * 5 * 256);
  blocks.topK = 0;
  EXPECT_FALSE(blocks.tileStage(2));
  EXPECT_EQ(blocks.stageItems(2), slices * 5);

  expectManifestError(lines(counts, R"(["a", "b", "c"])"),
                      {"entries", "has 3 entries, expected 7", "radix_count"});
  expectManifestError(
      lines(R"("vertical": 10, "slash": 5, "forced_vertical": 12, "forced_slash": 1, "last_q": 64)",
            seven),
      {"forced_vertical"});
  expectManifestError(
      lines(R"("vertical": 10, "slash": 5, "forced_vertical": 2, "forced_slash": 1, "last_q": 0)",
            seven),
      {"last_q"});
  expectManifestError(lines(R"("vertical": 10, "forced_vertical": 2, "forced_slash": 1, "last_q": 8)",
                            seven),
                      {"slash"});
}

TEST(RuntimeEstimator, WorkspaceHoldsThePooledRows) {
  KernelPtr k = loadOrDie(withEstimator().str());
  size_t bytes = 0;
  // B = 2, H = 4, KV_H = 2, D = 64, Lk = 130: 3 blocks of 64.
  ASSERT_EQ(sattn_estimator_workspace(k.get(), 2, 130, &bytes), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(bytes, size_t((2 * (4 + 2) * 3 * 64 * 8 + 255) / 256 * 256));
  EXPECT_EQ((sattn::abi::EstimatorShape{2, 4, 2, 64, 130, 64, 0}.scratchEntries()),
            2 * 6 * 3 * 64);
  // The antidiagonal scorer keeps a maximum and a sum per group row.
  EXPECT_EQ((sattn::abi::EstimatorShape{2, 4, 2, 64, 130, 64, 8}.scratchEntries()),
            2 * 4 * 17 * 2);
  EXPECT_EQ(sattn_estimator_workspace(k.get(), 0, 130, &bytes), SATTN_ERROR_SHAPE);
  EXPECT_EQ(sattn_estimator_workspace(nullptr, 1, 1, &bytes), SATTN_ERROR_INVALID_ARGUMENT);

  // A kernel without an estimator says so, in every query.
  KernelPtr none = loadOrDie(ManifestBuilder().str());
  int32_t index = 3;
  EXPECT_EQ(sattn_estimator_table(none.get(), &index), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(index, -1);
  EXPECT_NE(std::string(sattn_last_error()).find("has no compiled estimator"), std::string::npos)
      << sattn_last_error();
  EXPECT_EQ(sattn_estimator_workspace(none.get(), 1, 64, &bytes), SATTN_ERROR_INVALID_ARGUMENT);
}

TEST(RuntimeEstimator, RunChecksItsArgumentsBeforeAnyLaunch) {
  KernelPtr k = loadOrDie(withEstimator().str());
  const int64_t B = 2, H = 4, KVH = 2, LQ = 100, LK = 130, D = 64;
  sattn_tensor q{reinterpret_cast<void *>(uintptr_t(0x10000)), SATTN_DTYPE_BF16, 4,
                 {B, H, LQ, D}, {H * LQ * D, LQ * D, D, 1}};
  sattn_tensor kk{reinterpret_cast<void *>(uintptr_t(0x20000)), SATTN_DTYPE_BF16, 4,
                  {B, KVH, LK, D}, {KVH * LK * D, LK * D, D, 1}};
  sattn_tensor table{reinterpret_cast<void *>(uintptr_t(0x30000)), SATTN_DTYPE_I64, 4,
                     {B, H, 3, 3}, {H * 9, 9, 3, 1}};
  void *ws = reinterpret_cast<void *>(uintptr_t(0x40000));
  size_t need = 0;
  ASSERT_EQ(sattn_estimator_workspace(k.get(), B, LK, &need), SATTN_OK);
  auto run = [&](const sattn_tensor &qq, const sattn_tensor &kt, const sattn_tensor &t,
                 void *w, size_t bytes, sattn_status expect, const char *says) {
    EXPECT_EQ(sattn_estimator_run(k.get(), &qq, &kt, &t, w, bytes, nullptr), expect)
        << sattn_last_error();
    EXPECT_NE(std::string(sattn_last_error()).find(says), std::string::npos)
        << sattn_last_error();
  };
  sattn_tensor f16 = q;
  f16.dtype = SATTN_DTYPE_F16;
  run(f16, kk, table, ws, need, SATTN_ERROR_DTYPE, "q");
  sattn_tensor wrongHeads = kk;
  wrongHeads.shape[1] = 4;
  run(q, wrongHeads, table, ws, need, SATTN_ERROR_SHAPE, "kv_heads");
  sattn_tensor longQ = q;
  longQ.shape[2] = LK + 1;
  run(longQ, kk, table, ws, need, SATTN_ERROR_SHAPE, "Lq <= Lk");
  sattn_tensor smallTable = table;
  smallTable.shape[3] = 2;
  run(q, kk, smallTable, ws, need, SATTN_ERROR_TABLE, "table 1 (\"keep\") dimension 3");
  sattn_tensor strided = table;
  strided.strides[2] = 4;
  run(q, kk, strided, ws, need, SATTN_ERROR_TABLE, "not contiguous");
  run(q, kk, table, reinterpret_cast<void *>(uintptr_t(0x40008)), need, SATTN_ERROR_ALIGNMENT,
      "aligned to 256 bytes");
  run(q, kk, table, ws, need - 1, SATTN_ERROR_INVALID_ARGUMENT,
      "needed (sattn_estimator_workspace)");
  // A table past 2^31 entries (4 heads x 23171^2 blocks) is beyond the
  // estimator's 32-bit indexing.
  const int64_t n = 23171, bigLk = n * 64;
  sattn_tensor bigQ{q.data, SATTN_DTYPE_BF16, 4, {1, H, 64, D}, {H * 64 * D, 64 * D, D, 1}};
  sattn_tensor bigK{kk.data, SATTN_DTYPE_BF16, 4, {1, KVH, bigLk, D},
                    {KVH * bigLk * D, bigLk * D, D, 1}};
  sattn_tensor bigTable{table.data, SATTN_DTYPE_I64, 4, {1, H, n, n}, {H * n * n, n * n, n, 1}};
  run(bigQ, bigK, bigTable, ws, need, SATTN_ERROR_TABLE, "more than 2^31 - 1 elements");
  EXPECT_EQ(sattn_estimator_run(k.get(), nullptr, &kk, &table, ws, need, nullptr),
            SATTN_ERROR_NULL_POINTER);
  EXPECT_EQ(sattn_estimator_run(nullptr, &q, &kk, &table, ws, need, nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
}

} // namespace
