//===- plan_bench.cpp - cost of building tile plans at long lengths -------===//
//
// Plan building runs at launch time for every new sequence length, so it
// must be cheap: O(visited segments), never O(L^2). This benchmark plans
// A-shape, S2 strided (token stride with per-head offsets) and power masks
// with 32 heads at L = 128K and 1M tokens and reports the median time, the
// plan's size and the process's peak memory. Not a test: it prints a table
// and writes JSON.
//
// Usage: plan-bench [--json FILE] [--repeats N] [--only SUBSTRING]
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlan.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace sattn;

namespace {
struct Case {
  const char *name;
  const char *body;
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
};

double peakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}
} // namespace

int main(int argc, char **argv) {
  std::string jsonPath, only;
  int repeats = 5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      jsonPath = argv[++i];
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
      repeats = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: plan-bench [--json FILE] [--repeats N] "
                           "[--only SUBSTRING]\n");
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
    std::string text =
        std::string("sattn.kernel @k(dtype = bf16, head_dim = 128, heads = 32, "
                    "kv_heads = 32, scale = 0.088) {\n") +
        c.body + "\nsattn.yield %m\n}\n";
    auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
    if (!module)
      return 2;
    auto kernel = *module->getOps<KernelOp>().begin();
    auto planner = plan::TilePlanner::build(kernel, plan::PlanOptions{128, 128});
    if (mlir::failed(planner))
      return 2;
    for (int64_t length : {int64_t(128) * 1024, int64_t(1024) * 1024}) {
      MaskInputs in;
      in.lq = in.lk = length;
      std::vector<double> ms;
      size_t bytes = 0;
      int64_t classes = 0, segments = 0;
      double visited = 0;
      for (int r = 0; r < repeats; ++r) {
        std::string error;
        auto t0 = std::chrono::steady_clock::now();
        auto p = planner->plan(in, error);
        auto t1 = std::chrono::steady_clock::now();
        if (mlir::failed(p)) {
          std::fprintf(stderr, "plan failed: %s\n", error.c_str());
          return 2;
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
      std::printf("%-28s %9lld %6d %10.2f %9.2f %8lld %10lld %8.4f\n", c.name,
                  (long long)length, 32, median, bytes / 1048576.0,
                  (long long)classes, (long long)segments, visited);
      char row[512];
      std::snprintf(row, sizeof row,
                    "  {\"pattern\": \"%s\", \"L\": %lld, \"heads\": 32, "
                    "\"plan_ms\": %.3f, \"plan_bytes\": %zu, \"classes\": %lld, "
                    "\"segments\": %lld, \"visited_fraction\": %.5f},\n",
                    c.name, (long long)length, median, bytes,
                    (long long)classes, (long long)segments, visited);
      json += row;
    }
  }
  std::printf("peak RSS of the whole run: %.1f MiB\n", peakRssMiB());
  if (!jsonPath.empty()) {
    if (json.size() > 2)
      json.erase(json.size() - 2, 1); // trailing comma
    json += "]\n";
    std::ofstream(jsonPath) << json;
  }
  return 0;
}
