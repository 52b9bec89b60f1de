//===- RuntimeEstimatorTest.cpp - compiled estimators in libsattn_runtime -===//
//
// What libsattn_runtime checks about a kernel's compiled estimator without a
// GPU: the manifest's "estimator" record (the kind's identifier entries,
// block size, one selection or vertical_slash's counts, gate's hidden size
// and selection, nsa's blocks and counts and its per-GQA-group table ("h/N"
// dimension), the table it writes being one of the kernel's, the
// parameter list this runtime packs), the table index, workspace and
// weights queries, and the argument checks of sattn_estimator_run and
// sattn_estimator_run_weighted (Q and K as for a launch, a gate's weights,
// the table as the kernel's table of that name, the workspace). The launches
// themselves, through the fake driver, are test/Runtime/fake-driver-
// estimator.test; the stages run on the GPU (test/Integration/GPU/
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
                                "lq", "lk", "batch", "pooled", "table", "weights"])";

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
  // The list before "weights" joined it: its stages would read one
  // parameter less than this runtime passes.
  std::string before = kParams;
  before.replace(before.find(", \"weights\""), 11, "");
  expectManifestError(withEstimator(record("keep", R"("top_k": 4, "tau": 0)",
                                           R"(["a", "b", "c"])", before))
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
  // "logits" says how the logits of query rows are summed: tensor cores or
  // exact f64 (the antidiagonal pool's tiles depend on it); nothing else.
  for (const char *how : {"tensor", "exact"}) {
    std::string summed =
        record("keep", std::string(R"("top_k": 0, "tau": 0.9, "stride": 8, "logits": ")") + how +
                           "\"");
    summed.replace(summed.find("mean_pool"), 9, "antidiagonal");
    loadOrDie(withEstimator(summed).str());
  }
  std::string fast = record("keep", R"("top_k": 0, "tau": 0.9, "stride": 8, "logits": "fast")");
  fast.replace(fast.find("mean_pool"), 9, "antidiagonal");
  expectManifestError(withEstimator(fast).str(),
                      {"logits", "is \"fast\", expected \"tensor\" or \"exact\""});
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

  // The antidiagonal pool's tiles: 16 group rows, 32 where the logits run
  // on tensor cores (38 groups of stride 8 at Lk = 300: 3 tiles or 2).
  sattn::abi::EstimatorShape pool{2, 4, 2, 64, 300, 64, 8};
  EXPECT_TRUE(pool.tileStage(0) && pool.tileStage(1));
  EXPECT_EQ(pool.stageItems(0), slices * 3 * 256);
  pool.tensorLogits = true;
  EXPECT_EQ(pool.stageItems(0), slices * 2 * 256);

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

/// A kernel (H = 4, KV_H = 2, D = 64) with `tables` whose estimator record
/// holds `fields` (kind, block, selection, table) and `entries`.
std::string kindManifest(const std::string &tables, const std::string &fields,
                         const std::string &entries) {
  ManifestBuilder m;
  m.set("heads", "4").set("kv_heads", "2").set("head_dim", "64").set("tables", tables);
  m.set("estimator", "{" + fields + R"(, "entries": )" + entries +
                         R"(, "threads": 256, "params": )" + kParams + "}");
  return m.str();
}

/// A gate kernel (H = 4, KV_H = 2, D = 64, blocks of 64) whose estimator
/// record carries `fields` (hidden, selection, rotary base) and `entries`.
std::string gateManifest(
    const std::string &fields =
        R"("hidden": 16, "threshold": 0, "top_ratio": 0.5, "rope_base": 10000.0)",
    const std::string &entries =
        R"(["g_pool", "g_project", "g_logits", "g_score", "g_select"])") {
  return kindManifest(kTables, R"("kind": "gate", "block": 64, )" + fields +
                                   R"(, "table": "keep")",
                      entries);
}

TEST(RuntimeEstimator, GateRecord) {
  KernelPtr k = loadOrDie(gateManifest());
  int32_t index = -1;
  ASSERT_EQ(sattn_estimator_table(k.get(), &index), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(index, 1);
  // The weights: per query head wq (64 x 16) then wk (192 x 16).
  int64_t shape[3] = {-1, -1, -1};
  ASSERT_EQ(sattn_estimator_weights(k.get(), shape), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(shape[0], 4);
  EXPECT_EQ(shape[1], 256);
  EXPECT_EQ(shape[2], 16);
  EXPECT_EQ(sattn_estimator_weights(k.get(), nullptr), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sattn_estimator_weights(nullptr, shape), SATTN_ERROR_INVALID_ARGUMENT);

  // Other estimators take none, and a kernel without one has none.
  KernelPtr blocks = loadOrDie(withEstimator().str());
  shape[0] = shape[1] = shape[2] = 5;
  EXPECT_EQ(sattn_estimator_weights(blocks.get(), shape), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error())
                .find("the block_topk estimator of kernel 'streaming' takes no weights"),
            std::string::npos)
      << sattn_last_error();
  EXPECT_EQ(shape[0] + shape[1] + shape[2], 0);
  KernelPtr none = loadOrDie(ManifestBuilder().str());
  EXPECT_EQ(sattn_estimator_weights(none.get(), shape), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("has no compiled estimator"), std::string::npos)
      << sattn_last_error();

  // The scratch: pooled query blocks, pooled key blocks (maximum, minimum,
  // mean), the projected query and key blocks. B = 2, Lk = 130: 3 blocks.
  sattn::abi::EstimatorShape gate{2, 4, 2, 64, 130, 64, 0};
  gate.hidden = 16;
  gate.topRatio = 0.5;
  int64_t slices = 8, n = 3;
  int64_t entries = slices * n * 64 + 2 * 2 * n * 3 * 64 + 2 * slices * n * 16;
  EXPECT_EQ(gate.scratchEntries(), entries);
  size_t bytes = 0;
  ASSERT_EQ(sattn_estimator_workspace(k.get(), 2, 130, &bytes), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(bytes, size_t((entries * 8 + 255) / 256 * 256));
  EXPECT_EQ(gate.launches(), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(gate.weightEntries(), 4 * 256 * 16);
  // A logit per block pair, a softmax per row. Selection by count is a tile
  // stage (a block per query block row); by threshold a thread per row.
  EXPECT_EQ(gate.stageItems(2), slices * n * n);
  EXPECT_EQ(gate.stageItems(3), slices * n);
  EXPECT_TRUE(gate.tileStage(4) && !gate.tileStage(0) && !gate.tileStage(2) &&
              !gate.tileStage(3));
  EXPECT_EQ(gate.stageItems(4), slices * n * 256);
  gate.topRatio = 0;
  EXPECT_FALSE(gate.tileStage(4));
  EXPECT_EQ(gate.stageItems(4), slices * n);
  loadOrDie(gateManifest(R"("hidden": 16, "threshold": 0.01, "top_ratio": 0, "rope_base": 500)"));
}

TEST(RuntimeEstimator, GateRecordIsChecked) {
  auto fields = [](const std::string &hidden, const std::string &threshold,
                   const std::string &ratio, const std::string &base) {
    return R"("hidden": )" + hidden + R"(, "threshold": )" + threshold + R"(, "top_ratio": )" +
           ratio + R"(, "rope_base": )" + base;
  };
  expectManifestError(gateManifest(fields("15", "0", "0.5", "10000")),
                      {"\"hidden\"", "is 15, expected an even size"});
  expectManifestError(gateManifest(fields("0", "0", "0.5", "10000")),
                      {"\"hidden\"", "expected a value in [2, 65536]"});
  expectManifestError(gateManifest(fields("16", "0.1", "0.5", "10000")),
                      {"\"threshold\"", "is 0.1 and \"top_ratio\" is 0.5",
                       "exactly one of threshold in (0, 1) and top_ratio in (0, 1]"});
  expectManifestError(gateManifest(fields("16", "0", "0", "10000")), {"exactly one of"});
  expectManifestError(gateManifest(fields("16", "1", "0", "10000")), {"exactly one of"});
  expectManifestError(gateManifest(fields("16", "0", "1.5", "10000")), {"exactly one of"});
  expectManifestError(gateManifest(fields("16", "0", "0.5", "1")),
                      {"\"rope_base\"", "is 1, expected a rotary base above 1"});
  expectManifestError(
      gateManifest(R"("hidden": 16, "threshold": 0, "top_ratio": 0.5)"),
      {"missing key \"rope_base\" of estimator"});
  expectManifestError(gateManifest(fields("16", "0", "0.5", "10000"), R"(["a", "b", "c"])"),
                      {"entries", "has 3 entries, expected 5 (pool, project, logits, score, "
                                  "select)"});
}

/// Valid arguments of a gate kernel's estimator with fake aligned device
/// pointers: B = 2, H = 4, KV_H = 2, Lq = 100, Lk = 130, D = 64, hidden 16.
class RuntimeGateEstimator : public ::testing::Test {
protected:
  static constexpr int64_t B = 2, H = 4, KVH = 2, LQ = 100, LK = 130, D = 64, F = 16;

  void SetUp() override {
    kernel = loadOrDie(gateManifest());
    q = sattn::runtime::tensor(fake(1), SATTN_DTYPE_BF16, {B, H, LQ, D});
    k = sattn::runtime::tensor(fake(2), SATTN_DTYPE_BF16, {B, KVH, LK, D});
    weights = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {H, 4 * D, F});
    table = sattn::runtime::tensor(fake(4), SATTN_DTYPE_I64, {B, H, 3, 3});
    ASSERT_EQ(sattn_estimator_workspace(kernel.get(), B, LK, &need), SATTN_OK);
  }

  static void *fake(uintptr_t i) { return reinterpret_cast<void *>(i << 32); }

  sattn_status run(const sattn_tensor *w) {
    return sattn_estimator_run_weighted(kernel.get(), &q, &k, w, &table, fake(5), need,
                                        nullptr);
  }

  /// The status is `want` and the message contains every needle.
  static void expect(sattn_status got, sattn_status want, std::vector<std::string> needles) {
    EXPECT_EQ(got, want) << sattn_status_string(got) << ": " << sattn_last_error();
    std::string message = sattn_last_error();
    for (const std::string &n : needles)
      EXPECT_NE(message.find(n), std::string::npos)
          << "message \"" << message << "\" lacks \"" << n << "\"";
  }

  KernelPtr kernel;
  sattn_tensor q, k, weights, table;
  size_t need = 0;
};

TEST_F(RuntimeGateEstimator, NeedsItsWeights) {
  // sattn_estimator_run cannot pass them; the message names the entry point
  // that can, before any other check.
  expect(sattn_estimator_run(kernel.get(), &q, &k, &table, fake(5), need, nullptr),
         SATTN_ERROR_NULL_POINTER,
         {"sattn_estimator_run: the gate estimator needs its weights: use "
          "sattn_estimator_run_weighted",
          "(4, 256, 16)", "kernel 'streaming'"});
  expect(sattn_estimator_run(kernel.get(), nullptr, &k, &table, fake(5), need, nullptr),
         SATTN_ERROR_NULL_POINTER, {"needs its weights"});
  expect(run(nullptr), SATTN_ERROR_NULL_POINTER,
         {"sattn_estimator_run_weighted: the gate estimator needs its weights"});
  // Valid arguments pass every check and reach the driver, which this
  // GPU-less machine lacks.
  sattn_status status = run(&weights);
  EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
      << sattn_status_string(status) << ": " << sattn_last_error();
}

TEST_F(RuntimeGateEstimator, WeightsAreChecked) {
  sattn_tensor w = weights;
  w.dtype = SATTN_DTYPE_BF16;
  expect(run(&w), SATTN_ERROR_DTYPE,
         {"weights has dtype bf16, expected f32 (the gate's weights are float32)"});
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {H * 4 * D, F});
  expect(run(&w), SATTN_ERROR_SHAPE,
         {"weights has rank 2, expected 3 (heads, 4 * head_dim, hidden)"});
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {2, 4 * D, F});
  expect(run(&w), SATTN_ERROR_SHAPE,
         {"weights dimension 0 (heads) is 2, expected 4 (the kernel's heads)"});
  // A wq alone (D rows per head) is not the (wq, wk) pair.
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {H, D, F});
  expect(run(&w), SATTN_ERROR_SHAPE,
         {"weights dimension 1 (4 * head_dim) is 64, expected 256 (wq's head_dim rows, then "
          "wk's 3 * head_dim rows, with head_dim 64)"});
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {H, 4 * D, 32});
  expect(run(&w), SATTN_ERROR_SHAPE,
         {"weights dimension 2 (hidden) is 32, expected 16 (the gate's hidden size)"});
  // The stages take no strides: a transposed or padded tensor is refused.
  w = weights;
  w.strides[1] = 32;
  w.strides[0] = 4 * D * 32;
  expect(run(&w), SATTN_ERROR_STRIDE,
         {"weights dimension 1 (4 * head_dim) has stride 32, expected 16",
          "row-major contiguous"});
  w = weights;
  w.strides[0] = 0;
  expect(run(&w), SATTN_ERROR_STRIDE, {"weights dimension 0 (heads) has stride 0"});
  w = weights;
  w.data = reinterpret_cast<void *>(uintptr_t(fake(3)) + 4);
  expect(run(&w), SATTN_ERROR_ALIGNMENT, {"weights data pointer", "is not 16-byte aligned"});
  w = weights;
  w.data = nullptr;
  expect(run(&w), SATTN_ERROR_NULL_POINTER, {"weights has no data (NULL pointer)"});
  // Q and K are checked before the weights, the table after them.
  sattn_tensor wrongHeads = q;
  wrongHeads.shape[1] = 8;
  w.data = fake(3);
  w.dtype = SATTN_DTYPE_F16;
  expect(sattn_estimator_run_weighted(kernel.get(), &wrongHeads, &k, &w, &table, fake(5), need,
                                      nullptr),
         SATTN_ERROR_SHAPE, {"q dimension 1 (heads)"});
  sattn_tensor smallTable = table;
  smallTable.shape[3] = 2;
  expect(sattn_estimator_run_weighted(kernel.get(), &q, &k, &weights, &smallTable, fake(5),
                                      need, nullptr),
         SATTN_ERROR_TABLE, {"table 1 (\"keep\") dimension 3"});
}

TEST_F(RuntimeGateEstimator, OtherEstimatorsTakeNoWeights) {
  KernelPtr blocks = loadOrDie(withEstimator().str());
  size_t bytes = 0;
  ASSERT_EQ(sattn_estimator_workspace(blocks.get(), B, LK, &bytes), SATTN_OK);
  expect(sattn_estimator_run_weighted(blocks.get(), &q, &k, &weights, &table, fake(5), bytes,
                                      nullptr),
         SATTN_ERROR_INVALID_ARGUMENT,
         {"sattn_estimator_run_weighted: weights were given, but the block_topk estimator of "
          "kernel 'streaming' takes none (gate's takes its weights, nsa's optionally a caller's "
          "compressed keys); pass NULL"});
  // Without weights it is sattn_estimator_run, checks and all.
  sattn_status status = sattn_estimator_run_weighted(blocks.get(), &q, &k, nullptr, &table,
                                                     fake(5), bytes, nullptr);
  EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
      << sattn_status_string(status) << ": " << sattn_last_error();
  KernelPtr none = loadOrDie(ManifestBuilder().str());
  expect(sattn_estimator_run_weighted(none.get(), &q, &k, &weights, &table, fake(5), bytes,
                                      nullptr),
         SATTN_ERROR_INVALID_ARGUMENT, {"has no compiled estimator"});
  expect(sattn_estimator_run_weighted(nullptr, &q, &k, &weights, &table, fake(5), bytes, nullptr),
         SATTN_ERROR_INVALID_ARGUMENT, {"sattn_estimator_run_weighted: kernel is NULL"});
}

} // namespace

/// An nsa kernel (H = 4, KV_H = 2, D = 64; compressed blocks of 16 every 8,
/// 4 selection blocks of 32, 1 local) whose selection table has a row per
/// GQA group and query position.
std::string nsaManifest(
    const std::string &fields = R"("compress_block": 16, "compress_stride": 8, )"
                                R"("select_count": 4, "local": 1, "window": 64)",
    const std::string &entries = R"(["n_compress", "n_stats", "n_importance", "n_select"])") {
  return kindManifest(
      R"([{"name": "sel", "element": "i1", "dims": ["b", "h/2", "q", "k/32"]}])",
      R"("kind": "nsa", "block": 32, )" + fields +
          R"(, "compressed_kernel": "x_compressed", "sliding_kernel": "x_sliding", )"
          R"("table": "sel")",
      entries);
}

TEST(RuntimeEstimator, NsaRecordAndGroupTable) {
  KernelPtr k = loadOrDie(nsaManifest());
  int32_t index = -1;
  ASSERT_EQ(sattn_estimator_table(k.get(), &index), SATTN_OK) << sattn_last_error();
  EXPECT_EQ(index, 0);
  // The scratch: compressed keys (B, KV_H, blocks, D), then each (slice,
  // position)'s softmax maximum and sum. B = 2, Lk = 130: 15 compressed
  // blocks ((130 - 16) / 8 + 1).
  size_t bytes = 0;
  ASSERT_EQ(sattn_estimator_workspace(k.get(), 2, 130, &bytes), SATTN_OK) << sattn_last_error();
  int64_t entries = 2 * 2 * 15 * 64 + 2 * 4 * 130 * 2;
  EXPECT_EQ(bytes, size_t((entries * 8 + 255) / 256 * 256));
  sattn::abi::EstimatorShape nsa{2, 4, 2, 64, 130, 32, 0};
  nsa.compressBlock = 16;
  nsa.compressStride = 8;
  nsa.selectCount = 4;
  nsa.localBlocks = 1;
  EXPECT_EQ(nsa.compressedBlocks(), 15);
  EXPECT_EQ(nsa.scratchEntries(), entries);
  EXPECT_EQ(nsa.launches(), (std::vector<int>{0, 1, 2, 3}));
  // stats and importance are tile stages: windows of 32 query rows (sized
  // for Lk: 5), importance's with ranges of 15 selection blocks (16 keys
  // every 8 overlap 15 * 4 + 1 = 61 compressed blocks, 4 chunks of 16): 1.
  EXPECT_TRUE(nsa.tileStage(1) && nsa.tileStage(2) && !nsa.tileStage(0) && !nsa.tileStage(3));
  EXPECT_EQ(sattn::abi::nsaImportanceBlocks(64, 32, 16, 8), 15);
  EXPECT_EQ(nsa.stageItems(1), 2 * 4 * 5 * 256);
  EXPECT_EQ(nsa.stageItems(2), 2 * 2 * 5 * 1 * 256);
  EXPECT_EQ(nsa.stageItems(3), 2 * 2 * 130);
  // Tensor-core builds take windows of 64 query rows (3 for Lk = 130).
  sattn::abi::EstimatorShape tensorNsa = nsa;
  tensorNsa.tensorLogits = true;
  EXPECT_EQ(tensorNsa.stageItems(1), 2 * 4 * 3 * 256);
  EXPECT_EQ(tensorNsa.stageItems(2), 2 * 2 * 3 * 1 * 256);
  // A range's blocks fill its chunks best: 8-key blocks over compressed
  // blocks of 8 every 8 take 16 (16 compressed blocks, one chunk), 32-key
  // ones over 32 every 16 take 15 (61 of 64 rows), as do 16-key ones over 8
  // every 4 in chunks of 8 rows at head_dim 256 (61 of 64).
  EXPECT_EQ(sattn::abi::nsaImportanceBlocks(128, 8, 8, 8), 16);
  EXPECT_EQ(sattn::abi::nsaImportanceBlocks(128, 64, 32, 16), 15);
  EXPECT_EQ(sattn::abi::nsaTile(256, true).rows, 8);
  EXPECT_EQ(sattn::abi::nsaImportanceBlocks(256, 16, 8, 4), 15);

  // The table is [B, KV_H, Lk, ceil(Lk / 32)]: a per-query-head table is
  // refused at its head dimension, before the workspace is looked at.
  const int64_t B = 2, H = 4, KVH = 2, LQ = 100, LK = 130, D = 64, N = 5;
  sattn_tensor q{reinterpret_cast<void *>(uintptr_t(0x10000)), SATTN_DTYPE_BF16, 4,
                 {B, H, LQ, D}, {H * LQ * D, LQ * D, D, 1}};
  sattn_tensor kk{reinterpret_cast<void *>(uintptr_t(0x20000)), SATTN_DTYPE_BF16, 4,
                  {B, KVH, LK, D}, {KVH * LK * D, LK * D, D, 1}};
  sattn_tensor perHead{reinterpret_cast<void *>(uintptr_t(0x30000)), SATTN_DTYPE_I64, 4,
                       {B, H, LK, N}, {H * LK * N, LK * N, N, 1}};
  void *ws = reinterpret_cast<void *>(uintptr_t(0x40000));
  EXPECT_EQ(sattn_estimator_run(k.get(), &q, &kk, &perHead, ws, bytes, nullptr),
            SATTN_ERROR_TABLE);
  EXPECT_NE(std::string(sattn_last_error()).find("dimension 1"), std::string::npos)
      << sattn_last_error();
  sattn_tensor perGroup{perHead.data, SATTN_DTYPE_I64, 4, {B, KVH, LK, N},
                        {KVH * LK * N, LK * N, N, 1}};
  EXPECT_EQ(sattn_estimator_run(k.get(), &q, &kk, &perGroup, ws, bytes - 8, nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("needed (sattn_estimator_workspace)"),
            std::string::npos)
      << sattn_last_error();
}

TEST(RuntimeEstimator, NsaRecordIsChecked) {
  auto fields = [](const std::string &block, const std::string &stride,
                   const std::string &count, const std::string &local) {
    return R"("compress_block": )" + block + R"(, "compress_stride": )" + stride +
           R"(, "select_count": )" + count + R"(, "local": )" + local + R"(, "window": 64)";
  };
  expectManifestError(nsaManifest(fields("16", "32", "4", "1")), {"\"compress_stride\""});
  expectManifestError(nsaManifest(fields("16", "8", "4", "4")), {"\"local\""});
  expectManifestError(nsaManifest(fields("48", "24", "4", "1")),
                      {"\"block\"", "must be a multiple of compress_stride"});
  expectManifestError(nsaManifest(fields("16", "8", "4", "1"), R"(["a", "b", "c"])"),
                      {"entries", "expected 4 (compress, stats, importance, select)"});
}

/// nsa's estimator takes a caller's compression in the weights' place,
/// optionally: f32 compressed keys (B, KV_H, C, D), C the compressed blocks
/// of Lk keys, row-major contiguous and 16-byte aligned; every other form
/// is refused with what was expected, before anything is launched.
TEST(RuntimeEstimator, NsaCompressedKeysAreChecked) {
  KernelPtr k = loadOrDie(nsaManifest());
  const int64_t B = 2, H = 4, KVH = 2, LQ = 100, LK = 130, D = 64, N = 5, C = 15;
  auto fake = [](uintptr_t i) { return reinterpret_cast<void *>(i << 32); };
  sattn_tensor q = sattn::runtime::tensor(fake(1), SATTN_DTYPE_BF16, {B, H, LQ, D});
  sattn_tensor kk = sattn::runtime::tensor(fake(2), SATTN_DTYPE_BF16, {B, KVH, LK, D});
  sattn_tensor table = sattn::runtime::tensor(fake(4), SATTN_DTYPE_I64, {B, KVH, LK, N});
  sattn_tensor keys = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {B, KVH, C, D});
  size_t bytes = 0;
  ASSERT_EQ(sattn_estimator_workspace(k.get(), B, LK, &bytes), SATTN_OK) << sattn_last_error();
  auto run = [&](const sattn_tensor *w) {
    return sattn_estimator_run_weighted(k.get(), &q, &kk, w, &table, fake(5), bytes, nullptr);
  };
  auto expect = [](sattn_status got, sattn_status want, const std::string &needle) {
    EXPECT_EQ(got, want) << sattn_status_string(got) << ": " << sattn_last_error();
    EXPECT_NE(std::string(sattn_last_error()).find(needle), std::string::npos)
        << sattn_last_error();
  };
  // Valid keys, and none, pass every check and reach the driver this
  // GPU-less machine lacks.
  const sattn_tensor *givenOrNone[] = {&keys, nullptr};
  for (const sattn_tensor *w : givenOrNone) {
    sattn_status status = run(w);
    EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
        << sattn_status_string(status) << ": " << sattn_last_error();
  }
  sattn_tensor w = keys;
  w.dtype = SATTN_DTYPE_BF16;
  expect(run(&w), SATTN_ERROR_DTYPE, "compressed keys has dtype bf16, expected f32");
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {B, KVH, C + 1, D});
  expect(run(&w), SATTN_ERROR_SHAPE,
         "compressed keys dimension 2 (compressed blocks) is 16, expected 15 (the compressed "
         "blocks of Lk keys, floor((Lk - 16) / 8) + 1");
  w = sattn::runtime::tensor(fake(3), SATTN_DTYPE_F32, {B, H, C, D});
  expect(run(&w), SATTN_ERROR_SHAPE, "compressed keys dimension 1 (kv_heads) is 4, expected 2");
  w = keys;
  w.strides[2] = 2 * D;
  w.strides[1] = C * 2 * D;
  w.strides[0] = KVH * C * 2 * D;
  expect(run(&w), SATTN_ERROR_STRIDE, "row-major contiguous");
  w = keys;
  w.data = reinterpret_cast<void *>(uintptr_t(fake(3)) + 4);
  expect(run(&w), SATTN_ERROR_ALIGNMENT, "is not 16-byte aligned");
  // sattn_estimator_weights: nsa has no learned weights; its message says
  // what the compressed keys are.
  int64_t shape[3] = {7, 7, 7};
  EXPECT_EQ(sattn_estimator_weights(k.get(), shape), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("optional compressed keys"), std::string::npos)
      << sattn_last_error();
  EXPECT_EQ(shape[0], 0);
}
