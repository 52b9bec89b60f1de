//===- RuntimePlanTest.cpp - plans built by libsattn_runtime --------------===//
//
// The runtime builds tile plans from the manifest's mask program with the
// core planner; the compiler builds them from the IR through TilePlanner.
// These tests prove the two agree buffer for buffer on every static example
// kernel at the GPU test shapes (random tables included), that manifests
// without a usable mask program are refused with SATTN_ERROR_MANIFEST, and
// that every other plan-building error has its status and message.
//
//===----------------------------------------------------------------------===//

#include "TilePlanTestSupport.h"

#include "sattn/Artifacts/ManifestWriter.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/runtime.h"
#include "sattn/runtime.hpp"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace sattn;

namespace {

constexpr char kPtx[] = "// dummy image: plan building never touches it\n";
constexpr int64_t kBlock = 64;

struct Shape {
  int64_t batch, lq, lk;
};
const Shape kShapes[] = {{1, 1, 1},       {1, 127, 127},   {1, 128, 128},
                         {2, 1000, 1000}, {1, 1000, 4097}, {1, 4097, 4097}};

/// Random contents like test/support/sattn-gpu-cases: bool tables about 30%
/// true, integer tables runs of equal ids (packed documents) per row.
std::vector<int64_t> randomValues(bool isBool, const std::vector<int64_t> &shape,
                                  std::mt19937 &rng) {
  int64_t n = 1;
  for (int64_t e : shape)
    n *= e;
  std::vector<int64_t> v(n);
  int64_t row = shape.empty() ? 1 : shape.back(), id = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (isBool) {
      v[i] = rng() % 100 < 30;
      continue;
    }
    id = i % row == 0 ? 0 : id + (rng() % 97 == 0);
    v[i] = id;
  }
  return v;
}

sattn_tensor hostTensor(std::vector<int64_t> &values,
                        const std::vector<int64_t> &shape) {
  sattn_tensor t{};
  t.data = values.data();
  t.dtype = SATTN_DTYPE_I64;
  t.rank = static_cast<int32_t>(shape.size());
  int64_t stride = 1;
  for (int d = t.rank - 1; d >= 0; --d) {
    t.shape[d] = shape[d];
    t.strides[d] = stride;
    stride *= shape[d];
  }
  return t;
}

target::LaunchInfo launchInfo(KernelOp kernel) {
  target::LaunchInfo launch;
  launch.kernelName = kernel.getSymName().str();
  launch.entryName = "sattn_" + launch.kernelName;
  launch.blockM = kBlock;
  launch.blockN = kBlock;
  launch.warps = 4;
  launch.stages = 2;
  launch.threadsPerBlock = 128;
  launch.dynamicSharedMemoryBytes = 32768;
  return launch;
}

std::string sourceRoot() {
  llvm::SmallString<256> dir(__FILE__);
  llvm::sys::path::remove_filename(dir); // test/unit
  llvm::sys::path::remove_filename(dir); // test
  llvm::sys::path::remove_filename(dir); // the source root
  return dir.str().str();
}

/// Every .sattn file the equality test covers.
std::vector<std::string> specFiles() {
  namespace fs = llvm::sys::fs;
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(sourceRoot() + "/examples", ec), end;
       it != end && !ec; it.increment(ec))
    if (llvm::sys::path::extension(it->path()) == ".sattn")
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  files.push_back(sourceRoot() + "/test/Integration/GPU/gqa_mqa.sattn");
  return files;
}

class Specs {
public:
  Specs() : context(tile_plan_test::allDialects()) {}

  mlir::ModuleOp compile(const std::string &file) {
    mlir::OwningOpRef<mlir::ModuleOp> module = tile_plan_test::compileSpecFile(file, context);
    if (!module)
      return nullptr;
    modules.push_back(std::move(module));
    return *modules.back();
  }

  /// The manifest of a kernel as sattn-compile writes it; "" for kernels
  /// without static semantics (dynamic patterns).
  std::string manifest(KernelOp kernel) {
    auto compiled = tile_plan_test::staticEvaluator(kernel);
    if (mlir::failed(compiled))
      return "";
    auto text = writeManifest(kernel, compiled->program(), launchInfo(kernel),
                              "sm_90");
    return mlir::succeeded(text) ? *text : "";
  }

  mlir::MLIRContext &ctx() { return context; }

private:
  mlir::MLIRContext context;
  std::vector<mlir::OwningOpRef<mlir::ModuleOp>> modules;
};

/// Compares the runtime's plan for one shape with the compiler's.
void expectSamePlan(KernelOp kernel, const plan::TilePlanner &planner,
                    const sattn::runtime::Kernel &kernelHandle, const Shape &s,
                    std::mt19937 &rng) {
  const sattn_kernel *loaded = kernelHandle.get();
  SCOPED_TRACE("batch " + std::to_string(s.batch) + ", lq " + std::to_string(s.lq) +
               ", lk " + std::to_string(s.lk));
  MaskInputs in;
  in.batch = s.batch;
  in.lq = s.lq;
  in.lk = s.lk;
  int32_t numTables = sattn_kernel_num_tables(loaded);
  std::vector<std::vector<int64_t>> storage(numTables);
  std::vector<sattn_tensor> tables;
  for (int32_t i = 0; i < numTables; ++i) {
    std::string name = sattn_kernel_table_name(loaded, i);
    int64_t dims[4];
    int32_t rank = sattn_kernel_table_shape(loaded, i, s.batch, s.lk, dims);
    std::vector<int64_t> shape(dims, dims + rank);
    auto table = mlir::cast<mask::TableOp>(
        mlir::SymbolTable::lookupSymbolIn(kernel, name));
    storage[i] = randomValues(table.getElementType().isInteger(1), shape, rng);
    in.tables[name] = TableData{shape, storage[i]};
    tables.push_back(hostTensor(storage[i], shape));
  }

  std::string error;
  auto expected = planner.plan(in, error);
  ASSERT_TRUE(mlir::succeeded(expected)) << error;
  plan::FlatPlan flat = expected->flatten();

  sattn_host_plan *built = nullptr;
  ASSERT_EQ(sattn_plan_build(loaded, s.batch, s.lq, s.lk, tables.data(), numTables,
                             &built),
            SATTN_OK)
      << sattn_last_error();
  sattn_plan view;
  sattn_host_plan_view(built, &view);
  EXPECT_EQ(view.num_query_tiles, flat.numQueryTiles);
  EXPECT_EQ(view.num_classes, flat.numClasses);
  EXPECT_EQ(view.block_m, kBlock);
  EXPECT_EQ(view.block_n, kBlock);
  ASSERT_EQ(view.num_segments * plan::FlatPlan::kSegmentFields,
            static_cast<int64_t>(flat.segments.size()));
  auto same = [](const int64_t *data, const std::vector<int64_t> &want) {
    return std::vector<int64_t>(data, data + want.size()) == want;
  };
  EXPECT_TRUE(same(view.segments, flat.segments));
  EXPECT_TRUE(same(view.offsets, flat.offsets));
  ASSERT_EQ(static_cast<int64_t>(flat.classIndex.size()), s.batch * kernel.getHeads());
  EXPECT_TRUE(same(view.class_index, flat.classIndex));
  int64_t visited = -1, dense = -1;
  sattn_host_plan_stats(built, &visited, &dense);
  plan::PlanStats stats = expected->stats();
  EXPECT_EQ(visited, stats.visitedTiles());
  EXPECT_EQ(dense, stats.denseTiles);
  sattn_host_plan_destroy(built);
}

TEST(RuntimePlan, SameBuffersAsTheCompilerOnEveryStaticExample) {
  Specs specs;
  std::mt19937 rng(20261129);
  int staticKernels = 0, dynamicKernels = 0, plans = 0;
  for (const std::string &file : specFiles()) {
    SCOPED_TRACE(file);
    mlir::ModuleOp module = specs.compile(file);
    ASSERT_TRUE(module);
    for (KernelOp kernel : module.getOps<KernelOp>()) {
      SCOPED_TRACE(kernel.getSymName().str());
      std::string manifest = specs.manifest(kernel);
      if (manifest.empty()) {
        // Only dynamic masks lack static semantics, hence a mask program.
        EXPECT_NE(file.find("dynamic.sattn"), std::string::npos);
        ++dynamicKernels;
        continue;
      }
      ++staticKernels;
      mlir::FailureOr<plan::TilePlanner> planner =
          plan::TilePlanner::build(kernel, plan::PlanOptions{kBlock, kBlock});
      ASSERT_TRUE(mlir::succeeded(planner));
      auto loaded = sattn::runtime::Kernel::fromMemory(manifest, kPtx, sizeof kPtx - 1);
      for (const Shape &s : kShapes) {
        ASSERT_NO_FATAL_FAILURE(expectSamePlan(kernel, *planner, loaded, s, rng));
        ++plans;
      }
    }
  }
  std::cerr << "[ info ] runtime plans: " << staticKernels << " static kernels, "
            << plans << " plans identical; " << dynamicKernels
            << " dynamic kernels have no mask program\n";
  EXPECT_GE(staticKernels, 20);
  EXPECT_GE(dynamicKernels, 4);
}

//===----------------------------------------------------------------------===//
// Manifests without a usable mask program
//===----------------------------------------------------------------------===//

/// A manifest of one small kernel with tables, as JSON to edit.
class PlanErrors : public ::testing::Test {
protected:
  void SetUp() override {
    mlir::ModuleOp module = specs.compile(sourceRoot() + "/examples/document.sattn");
    ASSERT_TRUE(module);
    for (KernelOp k : module.getOps<KernelOp>())
      if (!k.getBody().front().getOps<mask::TableOp>().empty() && !kernel)
        kernel = k;
    ASSERT_TRUE(kernel);
    std::string text = specs.manifest(kernel);
    auto parsed = llvm::json::parse(text);
    ASSERT_TRUE(bool(parsed));
    manifest = std::move(*parsed);
  }

  static std::string str(const llvm::json::Value &v) {
    std::string s;
    llvm::raw_string_ostream(s) << v;
    return s;
  }

  llvm::json::Object &program() {
    return *manifest.getAsObject()->getObject("mask_program");
  }

  /// Loads the (edited) manifest, builds a plan for L = 256 with zero tables,
  /// and returns the status; `message` gets sattn_last_error().
  sattn_status build(std::string &message, int64_t batch = 1, int64_t lq = 256,
                     int64_t lk = 256) {
    sattn_kernel *k = nullptr;
    std::string json = str(manifest);
    sattn_status s = sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k);
    EXPECT_EQ(s, SATTN_OK) << sattn_last_error();
    if (s != SATTN_OK)
      return s;
    zeroTables(k, batch, lk);
    sattn_host_plan *plan = nullptr;
    s = sattn_plan_build(k, batch, lq, lk, tensors.data(),
                         static_cast<int32_t>(tensors.size()), &plan);
    message = sattn_last_error();
    EXPECT_EQ(plan == nullptr, s != SATTN_OK);
    sattn_host_plan_destroy(plan);
    sattn_kernel_destroy(k);
    return s;
  }

  void zeroTables(const sattn_kernel *k, int64_t batch, int64_t lk) {
    storage.clear();
    tensors.clear();
    int32_t n = sattn_kernel_num_tables(k);
    storage.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      int64_t dims[4];
      int32_t rank = sattn_kernel_table_shape(k, i, batch, lk, dims);
      std::vector<int64_t> shape(dims, dims + rank);
      int64_t count = 1;
      for (int64_t e : shape)
        count *= e;
      storage[i].assign(count, 0);
      tensors.push_back(hostTensor(storage[i], shape));
    }
  }

  Specs specs;
  KernelOp kernel;
  llvm::json::Value manifest = nullptr;
  std::vector<std::vector<int64_t>> storage;
  std::vector<sattn_tensor> tensors;
};

TEST_F(PlanErrors, ValidManifestBuilds) {
  std::string message;
  EXPECT_EQ(build(message), SATTN_OK) << message;
}

TEST_F(PlanErrors, ParamsOutsideTheKernelAbiAreRefusedAtLoad) {
  // The writer records the ABI table's names; a kernel built against another
  // parameter list would read garbage, so the runtime refuses to load it.
  llvm::json::Array *params = manifest.getAsObject()->getArray("params");
  ASSERT_TRUE(params);
  ASSERT_GT(params->size(), 25u);
  EXPECT_EQ((*params)[0], llvm::json::Value("q"));
  EXPECT_EQ(params->back(), llvm::json::Value("table_doc"));
  std::string message;
  EXPECT_EQ(build(message), SATTN_OK) << message;

  std::swap((*params)[5], (*params)[6]); // q_sb <-> q_sh
  std::string json = str(manifest);
  sattn_kernel *k = nullptr;
  EXPECT_EQ(sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k),
            SATTN_ERROR_MANIFEST);
  EXPECT_EQ(k, nullptr);
  message = sattn_last_error();
  EXPECT_NE(message.find("differs from this runtime's kernel ABI"), std::string::npos)
      << message;
  EXPECT_NE(message.find("parameter 5 is q_sh, expected q_sb"), std::string::npos)
      << message;
  params->pop_back(); // a table parameter missing
  std::swap((*params)[5], (*params)[6]);
  json = str(manifest);
  EXPECT_EQ(sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k),
            SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("is nothing, expected table_doc"),
            std::string::npos)
      << sattn_last_error();
}

TEST_F(PlanErrors, MissingMaskProgramIsAManifestError) {
  manifest.getAsObject()->erase("mask_program");
  std::string message;
  EXPECT_EQ(build(message), SATTN_ERROR_MANIFEST);
  EXPECT_NE(message.find("no \"mask_program\""), std::string::npos) << message;
}

TEST_F(PlanErrors, CorruptMaskProgramsAreManifestErrors) {
  struct Corruption {
    const char *what;
    std::function<void(llvm::json::Object &)> edit;
    const char *expected;
  };
  std::vector<Corruption> cases = {
      {"wrong format", [](auto &p) { p["format"] = "sattn.mask-program/2"; },
       "format is \"sattn.mask-program/2\""},
      {"truncated nodes",
       [](auto &p) { p.getArray("nodes")->clear(); },
       "is not one of the 0 nodes"},
      {"root out of range", [](auto &p) { p["root"] = 999; }, "root 999"},
      {"missing operands", [](auto &p) { p.erase("operands"); },
       "missing key \"operands\""},
      {"unknown node kind",
       [](auto &p) { (*(*p.getArray("nodes"))[0].getAsObject())["kind"] = "spiral"; },
       "\"spiral\", not a node kind"},
      {"short param",
       [](auto &p) {
         (*(*p.getArray("nodes"))[0].getAsObject())["param"] = llvm::json::Array{1};
       },
       "must have 7 values"},
      {"table slot out of range",
       [](auto &p) {
         for (llvm::json::Value &n : *p.getArray("nodes")) {
           llvm::json::Object &o = *n.getAsObject();
           if (*o.getString("kind") == "document")
             (*o.getArray("param"))[0] = 7;
         }
       },
       "reads table slot 7"},
      {"heads differ", [](auto &p) { p["heads"] = 3; p["kv_heads"] = 3; },
       "heads / 3 kv_heads but the kernel has"},
      {"not an object", [](auto &p) { p.clear(); }, "missing key \"format\""},
  };
  for (const Corruption &c : cases) {
    SCOPED_TRACE(c.what);
    SetUp();
    c.edit(program());
    std::string message;
    EXPECT_EQ(build(message), SATTN_ERROR_MANIFEST);
    EXPECT_NE(message.find("mask_program"), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
  // A cycle through a node that refers forward.
  SetUp();
  llvm::json::Array &nodes = *program().getArray("nodes");
  nodes.push_back(llvm::json::Object{{"kind", "complement"},
                                     {"first", static_cast<int64_t>(nodes.size())},
                                     {"count", 0},
                                     {"param", llvm::json::Array{0, 0, 0, 0, 0, 0, 0}}});
  std::string message;
  EXPECT_EQ(build(message), SATTN_ERROR_MANIFEST);
  EXPECT_NE(message.find("does not precede it"), std::string::npos) << message;
  // A truncated manifest does not load at all.
  std::string json = str(manifest);
  json.resize(json.size() / 2);
  sattn_kernel *k = nullptr;
  EXPECT_EQ(sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k),
            SATTN_ERROR_MANIFEST);
  EXPECT_EQ(k, nullptr);
}

TEST_F(PlanErrors, EveryStatusWithItsMessage) {
  std::string json = str(manifest);
  auto k = sattn::runtime::Kernel::fromMemory(json, kPtx, sizeof kPtx - 1);
  zeroTables(k.get(), 1, 256);
  int32_t n = static_cast<int32_t>(tensors.size());
  ASSERT_GE(n, 1);
  sattn_host_plan *plan = nullptr;
  auto expect = [&](sattn_status status, const char *text, int64_t batch, int64_t lq,
                    int64_t lk, const sattn_tensor *t, int32_t count) {
    SCOPED_TRACE(text);
    plan = reinterpret_cast<sattn_host_plan *>(&plan);
    EXPECT_EQ(sattn_plan_build(k.get(), batch, lq, lk, t, count, &plan), status);
    EXPECT_EQ(plan, nullptr);
    std::string message = sattn_last_error();
    EXPECT_NE(message.find(text), std::string::npos) << message;
  };
  expect(SATTN_ERROR_SHAPE, "batch must be in [1,", 0, 256, 256, tensors.data(), n);
  expect(SATTN_ERROR_SHAPE, "0 <= lq <= lk", 1, 300, 256, tensors.data(), n);
  expect(SATTN_ERROR_SHAPE, "0 <= lq <= lk", 1, -1, 256, tensors.data(), n);
  expect(SATTN_ERROR_SHAPE, "0 <= lq <= lk", 1, 1, int64_t(1) << 50, tensors.data(), n);
  expect(SATTN_ERROR_TABLE, "declares 1 table(s), got 0", 1, 256, 256, nullptr, 0);
  expect(SATTN_ERROR_TABLE, "host_tables is NULL", 1, 256, 256, nullptr, n);
  // Shapes are per (batch, lk): the tables were made for batch 1, lk 256.
  expect(SATTN_ERROR_TABLE, "has extent 256, expected 300", 1, 256, 300, tensors.data(), n);
  std::vector<sattn_tensor> bad = tensors;
  bad[0].dtype = SATTN_DTYPE_F32;
  expect(SATTN_ERROR_TABLE, "must be int64", 1, 256, 256, bad.data(), n);
  bad = tensors;
  bad[0].rank = 3;
  expect(SATTN_ERROR_TABLE, "has rank 3", 1, 256, 256, bad.data(), n);
  bad = tensors;
  bad[0].strides[bad[0].rank - 1] = 2;
  expect(SATTN_ERROR_TABLE, "contiguous row-major", 1, 256, 256, bad.data(), n);
  bad = tensors;
  bad[0].data = nullptr;
  expect(SATTN_ERROR_TABLE, "has no data", 1, 256, 256, bad.data(), n);
  storage[0][5] = int64_t(1) << 40; // does not fit the declared i32
  expect(SATTN_ERROR_TABLE, "does not fit its element type", 1, 256, 256,
         tensors.data(), n);
  storage[0][5] = 0;

  EXPECT_EQ(sattn_plan_build(k.get(), 1, 256, 256, tensors.data(), n, nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("out is NULL"), std::string::npos);
  EXPECT_EQ(sattn_plan_build(nullptr, 1, 256, 256, tensors.data(), n, &plan),
            SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("kernel is NULL"), std::string::npos);
  // NULL plans and views are ignored, never dereferenced.
  sattn_host_plan_view(nullptr, nullptr);
  sattn_plan view;
  sattn_host_plan_view(nullptr, &view);
  EXPECT_EQ(view.segments, nullptr);
  sattn_host_plan_stats(nullptr, nullptr, nullptr);
  sattn_host_plan_destroy(nullptr);
  EXPECT_EQ(sattn_plan_upload(nullptr, nullptr), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sattn_device_plan_get(nullptr), nullptr);
  sattn_device_plan_destroy(nullptr);

  // An empty problem (lq = 0) is a valid plan with no query tiles.
  ASSERT_EQ(sattn_plan_build(k.get(), 1, 0, 256, tensors.data(), n, &plan), SATTN_OK);
  sattn_host_plan_view(plan, &view);
  EXPECT_EQ(view.num_query_tiles, 0);
  EXPECT_EQ(view.num_segments, 0);
  sattn_host_plan_destroy(plan);
}

TEST_F(PlanErrors, RaiiWrappers) {
  std::string json = str(manifest);
  auto k = sattn::runtime::Kernel::fromMemory(json, kPtx, sizeof kPtx - 1);
  zeroTables(k.get(), 2, 1000);
  sattn::runtime::HostPlan plan = sattn::runtime::HostPlan::build(k, 2, 1000, 1000, tensors);
  EXPECT_EQ(plan.view().num_query_tiles, (1000 + kBlock - 1) / kBlock);
  EXPECT_GT(plan.visitedTiles(), 0);
  EXPECT_LE(plan.visitedTiles(), plan.denseTiles());
  try {
    sattn::runtime::HostPlan::build(k, 0, 1, 1, tensors);
    ADD_FAILURE() << "expected an exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_SHAPE);
  }
}

} // namespace
