//===- plan_bench.cpp - cost of building tile plans at long lengths -------===//
//
// Plan building runs at launch time for every new sequence length (and for
// every new table, for masks that read tables), so it must be cheap:
// O(visited segments), never O(L^2). This benchmark plans A-shape, S2
// strided (token stride with per-head offsets) and power masks with 32 heads
// at L = 128K and 1M tokens, and vertical-slash from column / diagonal
// tables (the comparison row: 1000 columns and 200 diagonals per head, the first
// 64 of each forced; 16 heads, 64x64 tiles) at 32K and 128K, and the kernels
// of bench/device_plan.sattn as libsattn_runtime plans them (rows
// "device_plan <kernel>": 32K, batch 1, the tiles, plan form and tables of
// bench/device_plan.py), and reports the median time, the plan's size and
// the process's peak memory. Not a test: it prints a table and writes JSON.
//
// Usage: plan-bench [--json FILE] [--repeats N] [--only SUBSTRING]
//                   [--device-plan-spec FILE]
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace sattn;

namespace {
/// Named patterns are planned with 128x128 tiles at 128K and 1M; the other
/// rows (tables, free-form predicates) with 64x64 tiles at 32K and 128K.
enum class Tables { None, VerticalSlash, Documents, Globals, NoneAtTableLengths };
struct Case {
  const char *name;
  const char *body;
  /// VerticalSlash: tables `vcol` and `slash`, 16 heads; Documents: table
  /// `doc`, 32 heads; Globals: bool table `glob` with 32 global tokens;
  /// NoneAtTableLengths: a predicate without tables, at the table rows'
  /// lengths and tiles.
  Tables tables = Tables::None;
};
const Case kCases[] = {
    {"a-shape(sink128,win2048)",
     "%c = mask.causal\n%s = mask.sink 128\n%w = mask.window 2048\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u"},
    {"s2-strided(s8,h%8,+win512)",
     "%c = mask.causal\n%w = mask.window 512\n"
     "%s = mask.strided stride 8 offset affine_map<(h) -> (h mod 8)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u"},
    {"power(block64,win5,sink1)", "%m = mask.power block 64 window 5 sink 1"},
    {"vertical-slash(1000v,200s)",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.ori %v, %s : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     Tables::VerticalSlash},
    {"window512+32 global tokens",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c = arith.constant 512 : index\n  %d = arith.subi %q, %k : index\n"
     "  %a = math.absi %d : index\n  %near = arith.cmpi sle, %a, %c : index\n"
     "  %gk = mask.lookup @glob[%k] : i1\n  %gq = mask.lookup @glob[%q] : i1\n"
     "  %o = arith.ori %near, %gk : i1\n  %y = arith.ori %o, %gq : i1\n"
     "  mask.yield %y\n}",
     Tables::Globals},
    {"columns|rows(k%128==3|q%256==0)",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c128 = arith.constant 128 : index\n  %c256 = arith.constant 256 : index\n"
     "  %c3 = arith.constant 3 : index\n  %c0 = arith.constant 0 : index\n"
     "  %rk = arith.remsi %k, %c128 : index\n  %a = arith.cmpi eq, %rk, %c3 : index\n"
     "  %rq = arith.remsi %q, %c256 : index\n  %e = arith.cmpi eq, %rq, %c0 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}",
     Tables::NoneAtTableLengths},
    {"neighbourhood 13x13, 256-wide grid",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %w = arith.constant 256 : index\n  %r = arith.constant 6 : index\n"
     "  %lo = arith.constant 6 : index\n  %hi = arith.constant 249 : index\n"
     "  %qr = arith.divsi %q, %w : index\n  %kr = arith.divsi %k, %w : index\n"
     "  %qc = arith.remsi %q, %w : index\n  %kc = arith.remsi %k, %w : index\n"
     "  %rlo = arith.maxsi %qr, %lo : index\n  %c121 = arith.constant 121 : index\n"
     "  %rc = arith.minsi %rlo, %c121 : index\n  %clo = arith.maxsi %qc, %lo : index\n"
     "  %cc = arith.minsi %clo, %hi : index\n"
     "  %dr = arith.subi %kr, %rc : index\n  %dc = arith.subi %kc, %cc : index\n"
     "  %ar = math.absi %dr : index\n  %ac = math.absi %dc : index\n"
     "  %a = arith.cmpi sle, %ar, %r : index\n  %b2 = arith.cmpi sle, %ac, %r : index\n"
     "  %y = arith.andi %a, %b2 : i1\n  mask.yield %y\n}",
     Tables::NoneAtTableLengths},
    {"documents(500-6000 tokens)",
     "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d",
     Tables::Documents},
};

/// The comparison row's vertical-slash tables: per head 1000 random columns and 200
/// random diagonals, the first 64 of each forced in.
void addVerticalSlashTables(MaskInputs &in, int64_t heads) {
  std::mt19937_64 rng(7);
  for (auto [name, count] : {std::pair<const char *, int>{"vcol", 1000},
                             {"slash", 200}}) {
    TableData t{{heads, in.lk}, std::vector<int64_t>(heads * in.lk, 0)};
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < std::min<int64_t>(64, in.lk); ++i)
        t.values[h * in.lk + i] = 1;
      for (int i = 0; i < count; ++i)
        t.values[h * in.lk + rng() % in.lk] = 1;
    }
    in.tables[name] = std::move(t);
  }
}

/// Packed documents of 500-6000 tokens (ids 0, 1, ...), batch 1.
void addDocumentTable(MaskInputs &in) {
  std::mt19937_64 rng(9);
  TableData t{{1, in.lk}, std::vector<int64_t>(in.lk, 0)};
  int64_t id = 0;
  for (int64_t k = 0; k < in.lk; ++id) {
    int64_t length = 500 + int64_t(rng() % 5501);
    for (int64_t e = std::min(in.lk, k + length); k < e; ++k)
      t.values[k] = id;
  }
  in.tables["doc"] = std::move(t);
}

/// 32 global tokens at random positions, in bool table `name`.
void addGlobalTokens(MaskInputs &in, const char *name = "glob") {
  std::mt19937_64 rng(11);
  TableData t{{in.lk}, std::vector<int64_t>(in.lk, 0)};
  for (int i = 0; i < 32; ++i)
    t.values[rng() % in.lk] = 1;
  in.tables[name] = std::move(t);
}

/// keep[h, q / 128, k / 128] with 10 % ones, drawn per head.
void addBlockKeepTable(MaskInputs &in, int64_t heads) {
  std::mt19937_64 rng(13);
  int64_t blocks = (in.lk + 127) / 128;
  TableData t{{heads, blocks, blocks},
              std::vector<int64_t>(heads * blocks * blocks, 0)};
  for (int64_t &v : t.values)
    v = rng() % 10 == 0;
  in.tables["keep"] = std::move(t);
}

double peakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

/// Plans `in` `repeats` times, prints the row `name` and appends it to
/// `json`; false (with a message) when planning fails.
bool measure(const char *name, const plan::TilePlanner &planner,
             const MaskInputs &in, int64_t heads, int repeats,
             std::string &json) {
  std::vector<double> ms;
  size_t bytes = 0;
  int64_t classes = 0, segments = 0;
  double visited = 0;
  for (int r = 0; r < repeats; ++r) {
    std::string error;
    auto t0 = std::chrono::steady_clock::now();
    auto p = planner.plan(in, error);
    auto t1 = std::chrono::steady_clock::now();
    if (mlir::failed(p)) {
      std::fprintf(stderr, "plan failed: %s\n", error.c_str());
      return false;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (r == 0) {
      bytes = p->bytes();
      classes = p->numClasses();
      plan::PlanStats s = p->stats();
      segments = s.segments;
      visited = double(s.visitedTiles()) / double(s.denseTiles);
    }
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  std::printf("%-28s %9lld %6lld %10.2f %9.2f %8lld %10lld %8.4f\n", name,
              (long long)in.lk, (long long)heads, median, bytes / 1048576.0,
              (long long)classes, (long long)segments, visited);
  char row[512];
  std::snprintf(row, sizeof row,
                "  {\"pattern\": \"%s\", \"L\": %lld, \"heads\": %lld, "
                "\"plan_ms\": %.3f, \"plan_bytes\": %zu, \"classes\": %lld, "
                "\"segments\": %lld, \"visited_fraction\": %.5f},\n",
                name, (long long)in.lk, (long long)heads, median, bytes,
                (long long)classes, (long long)segments, visited);
  json += row;
  return true;
}

/// How sattn-compile --target sm_90a builds the kernels of
/// bench/device_plan.sattn (their manifests' block_m / block_n and
/// plan_gathers), so that these rows time what sattn_plan_build runs.
struct DevicePlanKernel {
  const char *name;
  int64_t tile;
  bool gathers;
};
const DevicePlanKernel kDevicePlanKernels[] = {{"documents", 128, false},
                                               {"window_globals", 64, true},
                                               {"neighborhood", 64, true},
                                               {"block_table", 128, false}};

/// The rows "device_plan <kernel>" from the spec file at `specPath`, with
/// the tables of bench/device_plan.py's make_tables; false on failure.
bool benchDevicePlanKernels(mlir::MLIRContext &context,
                            const std::string &specPath,
                            const std::string &only, int repeats,
                            std::string &json) {
  auto buffer = llvm::MemoryBuffer::getFile(specPath);
  if (!buffer) {
    std::fprintf(stderr, "cannot read %s\n", specPath.c_str());
    return false;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  spec::SpecCompilation compiled =
      spec::compileSpec(sourceMgr, context, llvm::errs());
  if (compiled.status != spec::SpecStatus::Success)
    return false;
  for (const DevicePlanKernel &k : kDevicePlanKernels) {
    std::string name = std::string("device_plan ") + k.name;
    if (!only.empty() && name.find(only) == std::string::npos)
      continue;
    KernelOp kernel;
    for (KernelOp op : compiled.module->getOps<KernelOp>())
      if (op.getSymName() == k.name)
        kernel = op;
    if (!kernel) {
      std::fprintf(stderr, "%s has no kernel %s\n", specPath.c_str(), k.name);
      return false;
    }
    auto planner = plan::TilePlanner::build(
        kernel, plan::PlanOptions{k.tile, k.tile, k.gathers});
    if (mlir::failed(planner))
      return false;
    int64_t heads = planner->core().program().heads;
    MaskInputs in;
    in.lq = in.lk = int64_t(32) * 1024;
    if (name == "device_plan documents")
      addDocumentTable(in);
    if (name == "device_plan window_globals")
      addGlobalTokens(in, "g");
    if (name == "device_plan block_table")
      addBlockKeepTable(in, heads);
    if (!measure(name.c_str(), *planner, in, heads, repeats, json))
      return false;
  }
  return true;
}
} // namespace

int main(int argc, char **argv) {
  std::string jsonPath, only, devicePlanSpec = SATTN_DEVICE_PLAN_SPEC;
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      jsonPath = argv[++i];
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
      repeats = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--device-plan-spec") && i + 1 < argc)
      devicePlanSpec = argv[++i];
    else {
      std::fprintf(stderr, "usage: plan-bench [--json FILE] [--repeats N] "
                           "[--only SUBSTRING] [--device-plan-spec FILE]\n");
      return 1;
    }
  }
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);

  std::string json = "[\n";
  std::printf("%-28s %9s %6s %10s %9s %8s %10s %9s\n", "pattern", "L", "heads",
              "plan ms", "plan MiB", "classes", "segments", "visited");
  for (const Case &c : kCases) {
    if (!only.empty() && !std::strstr(c.name, only.c_str()))
      continue;
    int heads = c.tables == Tables::VerticalSlash ? 16 : 32;
    std::string text =
        "sattn.kernel @k(dtype = bf16, head_dim = 128, heads = " +
        std::to_string(heads) + ", kv_heads = " + std::to_string(heads) +
        ", scale = 0.088) {\n" +
        (c.tables == Tables::VerticalSlash
             ? "mask.table @vcol : i1 [\"h\", \"k\"]\n"
               "mask.table @slash : i1 [\"h\", \"k\"]\n"
         : c.tables == Tables::Documents ? "mask.table @doc : i32 [\"b\", \"k\"]\n"
         : c.tables == Tables::Globals   ? "mask.table @glob : i1 [\"k\"]\n"
                                         : "") +
        c.body + "\nsattn.yield %m\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    if (!module)
      return 2;
    auto kernel = *module->getOps<KernelOp>().begin();
    int64_t tile = c.tables == Tables::None ? 128 : 64;
    auto planner = plan::TilePlanner::build(kernel, plan::PlanOptions{tile, tile});
    if (mlir::failed(planner))
      return 2;
    std::vector<int64_t> lengths = {int64_t(128) * 1024, int64_t(1024) * 1024};
    if (c.tables != Tables::None)
      lengths = {int64_t(32) * 1024, int64_t(128) * 1024};
    for (int64_t length : lengths) {
      MaskInputs in;
      in.lq = in.lk = length;
      if (c.tables == Tables::VerticalSlash)
        addVerticalSlashTables(in, heads);
      if (c.tables == Tables::Documents)
        addDocumentTable(in);
      if (c.tables == Tables::Globals)
        addGlobalTokens(in);
      if (!measure(c.name, *planner, in, heads, repeats, json))
        return 2;
    }
  }
  if (!benchDevicePlanKernels(context, devicePlanSpec, only, repeats, json))
    return 2;
  std::printf("peak RSS of the whole run: %.1f MiB\n", peakRssMiB());
  if (!jsonPath.empty()) {
    if (json.size() > 2)
      json.erase(json.size() - 2, 1); // trailing comma
    json += "]\n";
    std::ofstream(jsonPath) << json;
  }
  return 0;
}
