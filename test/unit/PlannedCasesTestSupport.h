//===- PlannedCasesTestSupport.h - masks over every segment kind -*- C++ -*-===//
//
// The kernels the CPU tests of what rides on the forward's plan (the
// backward's gradients, block maxima) run: bands and sinks, strided gathers,
// a document table, block tables, a complement with empty rows, MQA; their
// random tables; and a fixture that parses them once per suite and JIT
// compiles each kernel once per tile shape.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_PLANNEDCASESTESTSUPPORT_H
#define SATTN_TEST_UNIT_PLANNEDCASESTESTSUPPORT_H

#include "CpuAttentionTestSupport.h"

#include "sattn/InitAll.h"

#include "mlir/Parser/Parser.h"

#include <map>
#include <memory>
#include <tuple>

namespace sattn::cpu_attention_test {

struct PlannedCase {
  const char *name;
  const char *body; // the value yielded is %m
  int64_t heads = 4, kvHeads = 2;
};

inline const PlannedCase kPlannedCases[] = {
    {"causal", "%m = mask.causal"},
    {"streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u"},
    {"s2_token",
     "%c = mask.causal\n%w = mask.window 6\n"
     "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u"},
    {"document",
     "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d"},
    {"block_table",
     "%c = mask.causal\n%b = mask.block_table @keep block 8\n%m = mask.intersect %c, %b"},
    {"complement",
     "%c = mask.causal\n%w = mask.window 5\n%n = mask.complement %w\n"
     "%m = mask.intersect %c, %n"},
    {"mqa_dense", "%m = mask.full", 4, 1},
};

/// The cases as `sattn.kernel`s (head_dim 64, scale 0.125) declaring the
/// tables @doc and @keep, with `attributes` (e.g. "return_lse block_max")
/// after each kernel's configuration.
inline std::string plannedCasesModule(const std::string &attributes = "") {
  std::string text;
  for (const PlannedCase &c : kPlannedCases)
    text += std::string("sattn.kernel @") + c.name +
            "(dtype = bf16, head_dim = 64, heads = " + std::to_string(c.heads) +
            ", kv_heads = " + std::to_string(c.kvHeads) + ", scale = 0.125) " + attributes +
            " {\n"
            "mask.table @doc : i32 [\"b\", \"k\"]\n"
            "mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n" +
            c.body + "\nsattn.yield %m\n}\n";
  return text;
}

/// Random documents and block keep bits for the cases' tables.
inline MaskInputs randomPlannedInputs(std::mt19937 &rng, int64_t batch, int64_t heads,
                                      int64_t lq, int64_t lk) {
  MaskInputs in;
  in.batch = batch;
  in.lq = lq;
  in.lk = lk;
  in.tables["doc"] = randomDocuments(rng, batch, lk);
  in.tables["keep"] = randomBlockKeep(rng, heads, lk);
  return in;
}

/// Shape `iter` (0, 1, 2) of a case: tiles 16x16, 32x8, 8x32 in turn,
/// batch 1 or 2, Lk in [20, 110), Lq < Lk on iteration 1, padded strides on
/// odd iterations; `label` for SCOPED_TRACE.
struct PlannedShape {
  TileSize tiles;
  Shape shape;
  bool padded = false;
  std::string label;
};
inline PlannedShape plannedShape(const PlannedCase &c, int iter, std::mt19937 &rng) {
  static constexpr TileSize kTiles[] = {{16, 16}, {32, 8}, {8, 32}};
  PlannedShape p;
  p.tiles = kTiles[iter % 3];
  p.shape.heads = c.heads;
  p.shape.kvHeads = c.kvHeads;
  p.shape.batch = 1 + iter % 2;
  p.shape.lk = 20 + rng() % 90;
  p.shape.lq = iter == 1 ? p.shape.lk - rng() % p.shape.lk : p.shape.lk;
  p.padded = iter % 2 == 1;
  p.label = std::string(c.name) + " B=" + std::to_string(p.shape.batch) +
            " Lq=" + std::to_string(p.shape.lq) + " Lk=" + std::to_string(p.shape.lk) +
            " BM=" + std::to_string(p.tiles[0]) + " BN=" + std::to_string(p.tiles[1]) +
            (p.padded ? " padded" : "");
  return p;
}

/// A suite over one parsed module: SetUpTestSuite calls setUpModule(text),
/// TearDownTestSuite tearDownModule() (the JITs go before LLVM's static
/// destructors run); get() compiles kernel `name` alone for BM x BN tiles
/// with `options` once and caches it.
class PlannedCasesTest : public ::testing::Test {
protected:
  static void setUpModule(const std::string &text) {
    registerAllDialects(registry());
    context() = std::make_unique<mlir::MLIRContext>(registry());
    module() = mlir::parseSourceString<mlir::ModuleOp>(text, context().get());
  }
  static void tearDownModule() {
    compiled().clear();
    module() = nullptr;
    context().reset();
  }
  static mlir::DialectRegistry &registry() {
    static mlir::DialectRegistry r;
    return r;
  }
  static std::unique_ptr<mlir::MLIRContext> &context() {
    static std::unique_ptr<mlir::MLIRContext> c;
    return c;
  }
  static mlir::OwningOpRef<mlir::ModuleOp> &module() {
    static mlir::OwningOpRef<mlir::ModuleOp> m;
    return m;
  }
  static std::map<std::tuple<std::string, int64_t, int64_t>, CpuAttention> &compiled() {
    static std::map<std::tuple<std::string, int64_t, int64_t>, CpuAttention> c;
    return c;
  }
  static KernelOp kernel(llvm::StringRef name) {
    for (KernelOp k : module()->getOps<KernelOp>())
      if (k.getSymName() == name)
        return k;
    return nullptr;
  }
  /// Kernel `name` JIT-compiled alone for BM x BN tiles (with its
  /// backward when `backward`).
  static const CpuAttention *get(llvm::StringRef name, TileSize tiles, bool backward,
                                 std::string &error) {
    auto key = std::make_tuple(name.str(), tiles[0], tiles[1]);
    auto it = compiled().find(key);
    if (it != compiled().end())
      return &it->second;
    mlir::OwningOpRef<mlir::ModuleOp> single =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(context().get()));
    single->push_back(kernel(name)->clone());
    CpuAttentionOptions options{tiles[0], tiles[1], kOptLevel};
    options.backward = backward;
    auto c = CpuAttention::compile(*single, options, error);
    if (mlir::failed(c))
      return nullptr;
    return &compiled().emplace(key, std::move(*c)).first->second;
  }
  /// Runs `check` on every case at its three shapes (plannedShape), with
  /// the case's kernel, compiled mask and JIT (see get).
  static void forEachPlannedShape(
      std::mt19937 &rng, bool backward,
      llvm::function_ref<void(const PlannedCase &, const CompiledMask &, TileSize,
                              const Shape &, bool padded, const CpuAttention &)>
          check) {
    ASSERT_TRUE(module()) << "module failed to parse";
    for (const PlannedCase &c : kPlannedCases) {
      KernelOp k = kernel(c.name);
      ASSERT_TRUE(k) << c.name;
      auto eval = CompiledMask::compile(k);
      ASSERT_TRUE(mlir::succeeded(eval));
      for (int iter = 0; iter < 3; ++iter) {
        PlannedShape planned = plannedShape(c, iter, rng);
        SCOPED_TRACE(planned.label);
        std::string error;
        const CpuAttention *cpu = get(c.name, planned.tiles, backward, error);
        ASSERT_TRUE(cpu) << error;
        check(c, *eval, planned.tiles, planned.shape, planned.padded, *cpu);
      }
    }
  }
};

} // namespace sattn::cpu_attention_test

#endif // SATTN_TEST_UNIT_PLANNEDCASESTESTSUPPORT_H
