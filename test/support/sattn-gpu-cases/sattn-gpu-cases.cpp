//===- sattn-gpu-cases.cpp - build GPU test cases ahead of time -----------===//
//
// The GPU machine has no MLIR, so everything compiler-side is prepared here:
// for every static kernel of the given specs, the PTX and the manifest, and
// for every test shape, random runtime tables and the tile plan built from
// them. test/Integration/GPU/run_gpu_tests.py runs the cases there.
//
// Usage: sattn-gpu-cases OUT_DIR SPEC.sattn... [--chip sm_90] [--quick]
//
//===----------------------------------------------------------------------===//

#include "sattn/Artifacts/ManifestWriter.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Target/PTX.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <fstream>
#include <random>

using namespace mlir;
using namespace sattn;
namespace cl = llvm::cl;

static cl::opt<std::string> outDir(cl::Positional, cl::desc("<out dir>"),
                                   cl::Required);
static cl::list<std::string> specs(cl::Positional, cl::desc("<spec.sattn>..."),
                                   cl::OneOrMore);
static cl::opt<std::string> chip("chip", cl::init("sm_90"));
static cl::opt<bool> quick("quick", cl::desc("Small shapes only"),
                           cl::init(false));
static cl::opt<std::string> tileOpt("tile", cl::desc("BMxBN (default: chosen)"),
                                    cl::init(""));
static cl::opt<int64_t> warpsOpt("warps", cl::init(0));
static cl::opt<int64_t> stagesOpt("stages", cl::init(0));
static cl::opt<int64_t> rowsPerWarpOpt(
    "rows-per-warp", cl::desc("Query rows per warp, 16 or 32 (0: chosen)"),
    cl::init(0));
static cl::opt<std::string> onlyKernels(
    "kernels", cl::desc("Comma-separated kernel names to build (default: all)"),
    cl::init(""));
static cl::opt<int64_t> maxLength("max-length",
                                  cl::desc("Skip shapes longer than this"),
                                  cl::init(0));
static cl::opt<bool> bench(
    "bench", cl::desc("Benchmark shapes: batch 1, L = 8K, 32K (and 128K for "
                      "dense, causal, a_shape); bool tables 10% true"),
    cl::init(false));

namespace {
struct Shape {
  const char *tag;
  int64_t batch, lq, lk;
  bool padded;
};

bool writeI64(const std::string &path, const std::vector<int64_t> &values) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(values.data()),
          values.size() * sizeof(int64_t));
  return bool(f);
}

/// Random contents for a declared table: document ids as runs of equal ids
/// (packed sequences), bool tables about 30% true (10% in --bench), other
/// ints small. Bool tables whose last dimension is a token position ("k",
/// "q") are sets of columns or diagonals: about 2% true and the first 4
/// positions always, so that plans hold the key lists and bands such sparse
/// sets produce (a dense random set would make every tile dense).
std::vector<int64_t> randomTable(mask::TableOp table,
                                 const std::vector<int64_t> &shape,
                                 std::mt19937 &rng) {
  int64_t n = 1;
  for (int64_t e : shape)
    n *= e;
  std::vector<int64_t> v(n);
  if (table.getElementType().isInteger(1)) {
    llvm::StringRef last =
        cast<StringAttr>(table.getDims()[shape.size() - 1]).getValue();
    bool positions = last == "k" || last == "q";
    int64_t row = shape.back();
    for (int64_t i = 0; i < n; ++i)
      v[i] = positions ? (i % row < 4 || rng() % 100 < 2)
                       : rng() % 100 < (bench ? 10 : 30);
    return v;
  }
  int64_t row = shape.back(), id = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i % row == 0)
      id = 0;
    else if (rng() % 97 == 0)
      ++id;
    v[i] = id;
  }
  return v;
}
} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "sattn GPU test case builder\n");
  DialectRegistry registry;
  registerAllDialects(registry);
  target::registerGPUCompilationDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  if (auto ec = llvm::sys::fs::create_directories(outDir + "/kernels")) {
    llvm::errs() << "cannot create " << outDir << ": " << ec.message() << "\n";
    return 1;
  }
  llvm::sys::fs::create_directories(outDir + "/data");

  std::vector<Shape> shapes = {{"L1", 1, 1, 1, false},
                               {"L127", 1, 127, 127, false},
                               {"L128", 1, 128, 128, false},
                               {"L1000b2pad", 2, 1000, 1000, true},
                               {"Lq1000Lk4097", 1, 1000, 4097, false},
                               {"L4097", 1, 4097, 4097, false}};
  if (!quick)
    shapes.push_back({"L32768", 1, 32768, 32768, false});
  if (bench)
    shapes = {{"L8192", 1, 8192, 8192, false},
              {"L32768", 1, 32768, 32768, false},
              {"L131072", 1, 131072, 131072, false}};

  std::mt19937 rng(20261129);
  llvm::json::Array cases;
  int failures = 0;
  for (const std::string &specPath : specs) {
    auto buffer = llvm::MemoryBuffer::getFile(specPath);
    if (!buffer) {
      llvm::errs() << "cannot read " << specPath << "\n";
      return 1;
    }
    llvm::SourceMgr sources;
    sources.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
    auto compiled = spec::compileSpec(sources, context, llvm::errs());
    if (compiled.status != spec::SpecStatus::Success)
      return 1;
    // Drop dynamic kernels: they need their estimator.
    for (KernelOp k : llvm::make_early_inc_range(compiled.module->getOps<KernelOp>())) {
      ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
      if (failed(plan::TilePlanner::build(k)))
        k.erase();
    }
    if (!onlyKernels.empty()) {
      llvm::SmallVector<llvm::StringRef> names;
      llvm::StringRef(onlyKernels).split(names, ',');
      for (KernelOp k :
           llvm::make_early_inc_range(compiled.module->getOps<KernelOp>()))
        if (!llvm::is_contained(names, k.getSymName()))
          k.erase();
    }
    target::GPUOptions options;
    options.chip = chip;
    options.warps = warpsOpt;
    options.stages = stagesOpt;
    options.rowsPerWarp = rowsPerWarpOpt;
    if (!tileOpt.empty()) {
      auto [m, n] = llvm::StringRef(tileOpt).split('x');
      if (m.getAsInteger(10, options.blockM) || n.getAsInteger(10, options.blockN)) {
        llvm::errs() << "--tile expects BMxBN\n";
        return 1;
      }
    }
    auto kernels = target::compileKernelsToPTX(*compiled.module, options);
    if (failed(kernels)) {
      llvm::errs() << "GPU compilation failed for " << specPath << "\n";
      ++failures;
      continue;
    }
    for (const target::CompiledKernel &ck : *kernels) {
      KernelOp kernel;
      for (KernelOp k : compiled.module->getOps<KernelOp>())
        if (k.getSymName() == ck.launch.kernelName)
          kernel = k;
      auto planner = plan::TilePlanner::build(
          kernel, plan::PlanOptions{ck.launch.blockM, ck.launch.blockN,
                                    ck.launch.planGathers});
      if (failed(planner))
        return 1;
      auto manifest =
          writeManifest(kernel, planner->core().program(), ck.launch, chip);
      if (failed(manifest))
        return 1;
      std::string base = outDir + "/kernels/" + ck.launch.kernelName;
      std::ofstream(base + ".json") << *manifest;
      std::ofstream(base + ".ptx") << ck.ptx;
      for (const Shape &s : shapes) {
        llvm::StringRef kname = kernel.getSymName();
        if (maxLength > 0 && s.lk > maxLength)
          continue;
        bool large = s.lk > 8192;
        if (!bench && large && kname != "causal" && kname != "streaming" &&
            kname != "s2")
          continue;
        if (bench && s.lk > 32768 && kname != "causal" && kname != "a_shape")
          continue;
        std::string name = (ck.launch.kernelName + "." + s.tag);
        MaskInputs in;
        in.batch = s.batch;
        in.lq = s.lq;
        in.lk = s.lk;
        llvm::json::Array tableFiles;
        for (auto &[tname, shape] :
             plan::declaredTableShapes(kernel, s.batch, s.lk)) {
          auto table = cast<mask::TableOp>(SymbolTable::lookupSymbolIn(kernel, tname));
          TableData data{shape, randomTable(table, shape, rng)};
          std::string file = "data/" + name + "." + tname + ".bin";
          writeI64(outDir + "/" + file, data.values);
          tableFiles.push_back(llvm::json::Object{
              {"name", tname}, {"file", file},
              {"shape", llvm::json::Array(llvm::ArrayRef<int64_t>(shape))}});
          in.tables[tname] = std::move(data);
        }
        std::string error;
        auto p = planner->plan(in, error);
        if (failed(p)) {
          llvm::errs() << name << ": " << error << "\n";
          return 1;
        }
        plan::FlatPlan flat = p->flatten();
        std::string prefix = "data/" + name;
        writeI64(outDir + "/" + prefix + ".segments.bin", flat.segments);
        writeI64(outDir + "/" + prefix + ".offsets.bin", flat.offsets);
        writeI64(outDir + "/" + prefix + ".class.bin", flat.classIndex);
        cases.push_back(llvm::json::Object{
            {"name", name},
            {"manifest", "kernels/" + ck.launch.kernelName + ".json"},
            {"batch", s.batch},
            {"lq", s.lq},
            {"lk", s.lk},
            {"padded", s.padded},
            {"tables", std::move(tableFiles)},
            {"plan",
             llvm::json::Object{
                 {"segments", prefix + ".segments.bin"},
                 {"offsets", prefix + ".offsets.bin"},
                 {"class_index", prefix + ".class.bin"},
                 {"num_segments",
                  (int64_t)flat.segments.size() / plan::FlatPlan::kSegmentFields},
                 {"num_classes", flat.numClasses},
                 {"num_query_tiles", flat.numQueryTiles}}}});
      }
      llvm::outs() << "kernel " << ck.launch.kernelName << ": BM=" << ck.launch.blockM
                   << " BN=" << ck.launch.blockN << " warps=" << ck.launch.warps
                   << " smem=" << ck.launch.dynamicSharedMemoryBytes << "\n";
    }
  }
  std::ofstream(outDir + "/cases.json")
      << llvm::formatv("{0:1}", llvm::json::Value(std::move(cases))).str();
  return failures ? 1 : 0;
}
