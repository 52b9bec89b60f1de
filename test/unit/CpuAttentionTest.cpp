//===- CpuAttentionTest.cpp - planned attention vs a dense fp64 reference -===//
//
// Property 4: attention lowered by convert-sattn-to-cpu, JIT-compiled and
// run over the tile plan matches a naive dense masked attention computed in
// fp64 from the reference evaluator: relative error ||O - ref|| / ||ref||
// below 1e-5, LSE within 1e-5, exactly -inf LSE and zero output on rows
// that keep no key, and never a NaN. Every named static pattern, runtime
// tables, predicates, GQA/MQA, Lq < Lk, ragged lengths, batch 2 with padded
// (non-contiguous) strides and several tile sizes are covered; padding is
// filled with NaN so that reading or writing outside the views shows up.
// Every static kernel of examples/*.sattn runs through the same check, and
// CpuAttention's argument checks are exercised one by one.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/ExecutionEngine/CpuAttention.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

using namespace sattn;
using namespace sattn::plan;

namespace {

constexpr int64_t kHeadDim = 64;
constexpr double kScale = 0.125;
/// LLVM optimisation level of the JIT'd kernels: O2 costs ~0.05 s more per
/// compile than O0 and runs the shapes here about as much faster.
unsigned kOptLevel = 2;

struct PatternCase {
  const char *name;
  const char *body; // kernel body ops; the value yielded is %m
  int64_t heads = 4, kvHeads = 2;
  /// Some row keeps no key on the shapes drawn (checked to be exercised).
  bool expectEmptyRows = false;
  /// The plan gathers strided keys (checked to be exercised).
  bool expectGathers = false;
};

const char *kNeighborhood2d =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c8 = arith.constant 8 : index\n  %c1 = arith.constant 1 : index\n"
    "  %qr = arith.floordivsi %q, %c8 : index\n  %kr = arith.floordivsi %k, %c8 : index\n"
    "  %qc = arith.remsi %q, %c8 : index\n  %kc = arith.remsi %k, %c8 : index\n"
    "  %dr = arith.subi %qr, %kr : index\n  %dc = arith.subi %qc, %kc : index\n"
    "  %ar = math.absi %dr : index\n  %ac = math.absi %dc : index\n"
    "  %r = arith.cmpi sle, %ar, %c1 : index\n  %cc = arith.cmpi sle, %ac, %c1 : index\n"
    "  %y = arith.andi %r, %cc : i1\n  mask.yield %y\n}";

const char *kLongformer =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c3 = arith.constant 3 : index\n  %d = arith.subi %q, %k : index\n"
    "  %a = math.absi %d : index\n  %near = arith.cmpi sle, %a, %c3 : index\n"
    "  %gk = mask.lookup @glob[%k] : i1\n  %gq = mask.lookup @glob[%q] : i1\n"
    "  %o = arith.ori %near, %gk : i1\n  %y = arith.ori %o, %gq : i1\n  mask.yield %y\n}";

/// Divisions by runtime values that are 0 or -1 for some pairs, and a
/// lookup with indices out of range: the contract's edge cases.
const char *kDivisionEdges =
    "%m = mask.predicate(%b, %h, %q, %k) {\n"
    "  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
    "  %c9 = arith.constant 9 : index\n  %c40 = arith.constant 40 : index\n"
    "  %d = arith.subi %q, %c9 : index\n  %e = arith.subi %c1, %h : index\n"
    "  %x = arith.divsi %k, %d : index\n  %y = arith.remsi %q, %e : index\n"
    "  %z = arith.floordivsi %k, %e : index\n  %w = arith.ceildivsi %q, %d : index\n"
    "  %u = arith.remui %k, %h : index\n  %v = arith.divui %q, %h : index\n"
    "  %s1 = arith.addi %x, %y : index\n  %s2 = arith.addi %z, %w : index\n"
    "  %s3 = arith.addi %u, %v : index\n  %s4 = arith.addi %s1, %s2 : index\n"
    "  %s = arith.addi %s3, %s4 : index\n  %c5 = arith.constant 5 : index\n"
    "  %r = arith.remsi %s, %c5 : index\n  %keep1 = arith.cmpi ne, %r, %c0 : index\n"
    "  %far = arith.addi %k, %c40 : index\n  %g = mask.lookup @glob[%far] : i1\n"
    "  %causal = arith.cmpi sle, %k, %q : index\n  %a = arith.ori %keep1, %g : i1\n"
    "  %y2 = arith.andi %a, %causal : i1\n  mask.yield %y2\n}";

const PatternCase kCases[] = {
    {"causal", "%m = mask.causal"},
    {"dense", "%m = mask.full"},
    {"window", "%m = mask.window 7"},
    {"symmetric", "%m = mask.window 5 symmetric"},
    {"sink", "%m = mask.sink 6"},
    {"streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u"},
    {"tri_shape",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%t = mask.tail_queries 5\n%u = mask.union %s, %w, %t\n"
     "%m = mask.intersect %c, %u"},
    {"strided",
     "%c = mask.causal\n%s = mask.strided stride 4 offset affine_map<(h) -> (h mod 4)>\n"
     "%m = mask.intersect %c, %s",
     4, 2, /*expectEmptyRows=*/true, /*expectGathers=*/true},
    {"s2_token",
     "%c = mask.causal\n%w = mask.window 6\n"
     "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u",
     4, 2, false, /*expectGathers=*/true},
    {"s2_blocks",
     "%m = mask.strided_blocks block 8 local 2 vert_stride 3 offset 1 "
     "dense_heads 1 per_kv_group"},
    {"s2_blocks_per_head",
     "%m = mask.strided_blocks block 4 local 1 vert_stride 4 offset 0 dense_heads 0"},
    {"dilated", "%m = mask.dilated window 4 dilation 3"},
    {"power", "%m = mask.power block 8 window 2 sink 1"},
    {"prefix", "%m = mask.prefix 6"},
    {"document",
     "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d"},
    {"block_table",
     "%c = mask.causal\n%b = mask.block_table @keep block 8\n%m = mask.intersect %c, %b",
     4, 2, /*expectEmptyRows=*/true},
    {"per_head",
     "%c = mask.causal\n%w = mask.window 5\n%s = mask.sink 3\n"
     "%m = mask.per_head %c, %w, %s assign [0, 1, 2, 1]"},
    {"neighborhood_2d", kNeighborhood2d},
    {"longformer", kLongformer},
    {"complement",
     "%c = mask.causal\n%w = mask.window 5\n%n = mask.complement %w\n"
     "%m = mask.intersect %c, %n",
     4, 2, /*expectEmptyRows=*/true},
    {"empty", "%m = mask.empty", 4, 2, /*expectEmptyRows=*/true},
    {"division_edges", kDivisionEdges, 4, 2, /*expectEmptyRows=*/true},
    {"mqa_streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u",
     4, 1},
    // MInference vertical-slash from column / diagonal tables: key lists
    // (scattered columns) and bands (diagonals) read through the key pool.
    {"vertical_slash",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.ori %v, %s : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     4, 2},
    {"mha_strided",
     "%c = mask.causal\n%s = mask.strided stride 5 offset affine_map<(h) -> (h * 3)>\n"
     "%m = mask.intersect %c, %s",
     2, 2, /*expectEmptyRows=*/true, /*expectGathers=*/true},
};

std::string kernelText(const PatternCase &c) {
  return std::string("sattn.kernel @") + c.name +
         "(dtype = bf16, head_dim = 64, heads = " + std::to_string(c.heads) +
         ", kv_heads = " + std::to_string(c.kvHeads) +
         ", scale = 0.125) {\n"
         "mask.table @doc : i32 [\"b\", \"k\"]\n"
         "mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n"
         "mask.table @glob : i1 [\"k\"]\n"
         "mask.table @vcol : i1 [\"h\", \"k\"]\n"
         "mask.table @slash : i1 [\"h\", \"k\"]\n" +
         c.body + "\nsattn.yield %m\n}\n";
}

std::string moduleText() {
  std::string text;
  for (const PatternCase &c : kCases)
    text += kernelText(c);
  return text;
}

MaskInputs randomInputs(std::mt19937 &rng, int64_t batch, int64_t heads,
                        int64_t lq, int64_t lk) {
  MaskInputs in;
  in.batch = batch;
  in.lq = lq;
  in.lk = lk;
  TableData doc{{batch, lk}, std::vector<int64_t>(batch * lk)};
  for (int64_t b = 0; b < batch; ++b) {
    int64_t id = 0;
    for (int64_t k = 0; k < lk; ++k) {
      if (rng() % 23 == 0)
        ++id;
      doc.values[b * lk + k] = id;
    }
  }
  int64_t nb = (lk + 7) / 8;
  TableData keep{{heads, nb, nb}, std::vector<int64_t>(heads * nb * nb)};
  for (auto &v : keep.values)
    v = rng() % 4 == 0;
  TableData glob{{lk}, std::vector<int64_t>(lk)};
  for (auto &v : glob.values)
    v = rng() % 17 == 0;
  in.tables["doc"] = doc;
  in.tables["keep"] = keep;
  in.tables["glob"] = glob;
  // Sparse columns and diagonals; the first two of each always kept.
  for (const char *name : {"vcol", "slash"}) {
    TableData t{{heads, lk}, std::vector<int64_t>(heads * lk)};
    for (int64_t i = 0; i < heads * lk; ++i)
      t.values[i] = i % lk < 2 || rng() % 11 == 0;
    in.tables[name] = t;
  }
  return in;
}

/// A tensor in a buffer, optionally with padding after every dimension.
/// Padding holds NaN: reading it poisons the output, writing it is caught.
struct Tensor {
  std::vector<float> storage;
  CpuTensor view;

  Tensor(llvm::ArrayRef<int64_t> sizes, bool padded) {
    view.sizes.assign(sizes.begin(), sizes.end());
    view.strides.resize(sizes.size());
    int64_t stride = 1;
    for (int64_t i = sizes.size() - 1; i >= 0; --i) {
      view.strides[i] = stride;
      stride *= sizes[i] + (padded ? (i == (int64_t)sizes.size() - 1 ? 3 : 1) : 0);
    }
    storage.assign(std::max<int64_t>(stride, 1),
                   std::numeric_limits<float>::quiet_NaN());
    view.data = storage.data();
  }
  int64_t index(llvm::ArrayRef<int64_t> idx) const {
    int64_t off = 0;
    for (size_t i = 0; i < idx.size(); ++i)
      off += idx[i] * view.strides[i];
    return off;
  }
  float &at(llvm::ArrayRef<int64_t> idx) { return storage[index(idx)]; }
  float at(llvm::ArrayRef<int64_t> idx) const { return storage[index(idx)]; }
  /// Uniform in [lo, hi) from 24 random bits (std::uniform_real_distribution
  /// computes a long-double logarithm per draw, which dominated the test).
  void fillRandom(std::mt19937 &rng, float lo, float hi) {
    forEach([&](llvm::ArrayRef<int64_t> idx) {
      at(idx) = lo + (hi - lo) * static_cast<float>(rng() >> 8) * 0x1p-24f;
    });
  }
  void forEach(llvm::function_ref<void(llvm::ArrayRef<int64_t>)> fn) const {
    llvm::SmallVector<int64_t, 4> idx(view.sizes.size(), 0);
    int64_t total = 1;
    for (int64_t s : view.sizes)
      total *= s;
    for (int64_t n = 0; n < total; ++n) {
      fn(idx);
      for (int64_t d = idx.size() - 1; d >= 0; --d) {
        if (++idx[d] < view.sizes[d])
          break;
        idx[d] = 0;
      }
    }
  }
  /// Number of padding elements that are no longer NaN.
  int64_t clobberedPadding() const {
    std::vector<bool> inside(storage.size(), false);
    forEach([&](llvm::ArrayRef<int64_t> idx) { inside[index(idx)] = true; });
    int64_t n = 0;
    for (size_t i = 0; i < storage.size(); ++i)
      n += !inside[i] && !std::isnan(storage[i]);
    return n;
  }
};

struct Shape {
  int64_t batch = 1, heads = 1, kvHeads = 1, lq = 0, lk = 0;
  int64_t headDim = kHeadDim;
  double scale = kScale;
};

/// Dense masked attention in fp64: the definition, no tiling.
void referenceAttention(const CompiledMask &eval, const MaskInputs &in,
                        const Shape &s, const Tensor &q, const Tensor &k,
                        const Tensor &v, std::vector<double> &o,
                        std::vector<double> &lse) {
  int64_t group = s.heads / s.kvHeads, d = s.headDim;
  o.assign(s.batch * s.heads * s.lq * d, 0.0);
  lse.assign(s.batch * s.heads * s.lq, -std::numeric_limits<double>::infinity());
  std::vector<double> scores(s.lk);
  std::vector<int64_t> kept;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < s.lq; ++i) {
        int64_t qPos = i + s.lk - s.lq, kvh = h / group;
        kept.clear();
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t key = 0; key < s.lk; ++key) {
          if (!eval.keep(in, b, h, qPos, key))
            continue;
          double dot = 0;
          for (int64_t x = 0; x < d; ++x)
            dot += double(q.at({b, h, i, x})) * double(k.at({b, kvh, key, x}));
          scores[key] = s.scale * dot;
          mx = std::max(mx, scores[key]);
          kept.push_back(key);
        }
        if (kept.empty())
          continue;
        double sum = 0;
        double *row = &o[((b * s.heads + h) * s.lq + i) * d];
        for (int64_t key : kept) {
          double p = std::exp(scores[key] - mx);
          sum += p;
          for (int64_t x = 0; x < d; ++x)
            row[x] += p * double(v.at({b, kvh, key, x}));
        }
        for (int64_t x = 0; x < d; ++x)
          row[x] /= sum;
        lse[(b * s.heads + h) * s.lq + i] = mx + std::log(sum);
      }
}

/// Everything the tests share: one parsed module with every case, and CPU
/// kernels compiled on demand, one module per (kernel, tile sizes), so that
/// a test pays only for the kernels it runs and compile times are per kernel.
struct Suite {
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::map<std::tuple<std::string, int64_t, int64_t>, CpuAttention> compiled;
  std::string error;
  double compileSeconds = 0;
  int compiles = 0;

  Suite() {
    registerAllDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(moduleText(), context.get());
  }
  KernelOp kernel(llvm::StringRef name) {
    for (KernelOp k : module->getOps<KernelOp>())
      if (k.getSymName() == name)
        return k;
    return nullptr;
  }
  const CpuAttention *get(llvm::StringRef name, int64_t bm, int64_t bn) {
    auto key = std::make_tuple(name.str(), bm, bn);
    auto it = compiled.find(key);
    if (it != compiled.end())
      return &it->second;
    KernelOp k = kernel(name);
    if (!k) {
      error = "no kernel " + name.str();
      return nullptr;
    }
    mlir::OwningOpRef<mlir::ModuleOp> single =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(context.get()));
    single->push_back(k->clone());
    auto c = CpuAttention::compile(*single, CpuAttentionOptions{bm, bn, kOptLevel},
                                   error);
    if (mlir::failed(c))
      return nullptr;
    compileSeconds += c->compileSeconds();
    ++compiles;
    if (getenv("SATTN_VERBOSE"))
      std::cerr << "[ info ] " << name.str() << " BM=" << bm << " BN=" << bn
                << " compiled in " << c->compileSeconds() << " s\n";
    return &compiled.emplace(key, std::move(*c)).first->second;
  }
};

/// The suite lives from first use until gtest's global tear-down, not until
/// static destruction: destroying a JIT runs LLVM code (deinitializers),
/// which must not race with LLVM's own static destructors at exit.
std::unique_ptr<Suite> &suiteStorage() {
  static std::unique_ptr<Suite> s;
  return s;
}
Suite &suite() {
  if (!suiteStorage())
    suiteStorage() = std::make_unique<Suite>();
  return *suiteStorage();
}
struct SuiteTearDown : public ::testing::Environment {
  void TearDown() override { suiteStorage().reset(); }
};
[[maybe_unused]] ::testing::Environment *const suiteTearDown =
    ::testing::AddGlobalTestEnvironment(new SuiteTearDown);

// Tile sizes: the default, a square small pair (many tiles at these
// lengths), and both rectangular orientations.
const std::array<int64_t, 2> kTileSizes[] = {
    {16, 16}, {32, 8}, {8, 32}, {64, 64}};

struct Worst {
  double rel = 0, lse = 0;
};
Worst &worst() {
  static Worst w;
  return w;
}

/// What the random shapes exercised.
struct Coverage {
  int64_t emptyRows = 0, gatherTiles = 0, fullTiles = 0, partialTiles = 0;
  int64_t listSegments = 0, bandSegments = 0;
};

using TileSize = std::array<int64_t, 2>;

/// Plans, runs and checks kernel `name` on one shape against the fp64
/// reference: relative error of O and LSE below 1e-5, exact -inf LSE and
/// zero output on rows without kept keys, no NaN, nothing written outside
/// the (possibly padded) views.
void checkOneShape(const CpuAttention &cpu, KernelOp kernel,
                   const CompiledMask &eval, const Shape &shape,
                   TileSize tiles, const MaskInputs &in, bool padded,
                   std::mt19937 &rng, Coverage &counts) {
  std::string name = kernel.getSymName().str();
  SCOPED_TRACE(name + " B=" + std::to_string(shape.batch) +
               " Lq=" + std::to_string(shape.lq) +
               " Lk=" + std::to_string(shape.lk) + " BM=" +
               std::to_string(tiles[0]) + " BN=" + std::to_string(tiles[1]) +
               (padded ? " padded" : ""));
  auto planner = TilePlanner::build(kernel, PlanOptions{tiles[0], tiles[1]});
  ASSERT_TRUE(mlir::succeeded(planner));
  std::string error;
  auto plan = planner->plan(in, error);
  ASSERT_TRUE(mlir::succeeded(plan)) << error;
  PlanStats stats = plan->stats();
  counts.gatherTiles += stats.gatherTiles;
  counts.fullTiles += stats.fullTiles;
  counts.partialTiles += stats.partialTiles;
  for (int64_t b = 0; b < shape.batch; ++b)
    for (int64_t h = 0; h < shape.heads; ++h)
      for (int64_t m = 0; m < plan->numQueryTiles; ++m)
        for (const Segment &seg : plan->segments(b, h, m)) {
          counts.listSegments += seg.kind == Segment::List;
          counts.bandSegments += seg.kind == Segment::Gather && seg.period == 1;
        }

  int64_t d = shape.headDim;
  Tensor q({shape.batch, shape.heads, shape.lq, d}, padded);
  Tensor k({shape.batch, shape.kvHeads, shape.lk, d}, padded);
  Tensor v({shape.batch, shape.kvHeads, shape.lk, d}, padded);
  Tensor o({shape.batch, shape.heads, shape.lq, d}, padded);
  Tensor lse({shape.batch, shape.heads, shape.lq}, padded);
  q.fillRandom(rng, -2, 2);
  k.fillRandom(rng, -2, 2);
  v.fillRandom(rng, -1, 1);
  CpuAttentionArgs args{q.view, k.view, v.view, o.view, lse.view};
  ASSERT_TRUE(mlir::succeeded(cpu.run(name, args, *plan, in, error)))
      << error;

  std::vector<double> refO, refLse;
  referenceAttention(eval, in, shape, q, k, v, refO, refLse);

  double err2 = 0, ref2 = 0, lseErr = 0;
  int64_t nans = 0;
  for (int64_t b = 0; b < shape.batch; ++b)
    for (int64_t h = 0; h < shape.heads; ++h)
      for (int64_t i = 0; i < shape.lq; ++i) {
        int64_t row = (b * shape.heads + h) * shape.lq + i;
        float gotLse = lse.at({b, h, i});
        nans += std::isnan(gotLse);
        bool empty = std::isinf(refLse[row]);
        if (empty) {
          ++counts.emptyRows;
          EXPECT_TRUE(std::isinf(gotLse) && gotLse < 0)
              << "row without kept keys has LSE " << gotLse << " (b=" << b
              << " h=" << h << " i=" << i << ")";
        } else {
          double e = std::abs(gotLse - refLse[row]) /
                     std::max(1.0, std::abs(refLse[row]));
          lseErr = std::max(lseErr, e);
        }
        for (int64_t x = 0; x < d; ++x) {
          float got = o.at({b, h, i, x});
          nans += std::isnan(got);
          double ref = refO[row * d + x];
          if (empty)
            EXPECT_EQ(got, 0.0f) << "row without kept keys, b=" << b
                                 << " h=" << h << " i=" << i;
          err2 += (got - ref) * (got - ref);
          ref2 += ref * ref;
        }
      }
  EXPECT_EQ(nans, 0);
  double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  EXPECT_LT(rel, 1e-5);
  EXPECT_LT(lseErr, 1e-5);
  EXPECT_EQ(o.clobberedPadding(), 0) << "O written outside its view";
  EXPECT_EQ(lse.clobberedPadding(), 0) << "LSE written outside its view";
  worst().rel = std::max(worst().rel, rel);
  worst().lse = std::max(worst().lse, lseErr);
}

/// Runs kernel `c` on `iterations` random shapes (ragged lengths, Lq < Lk
/// two times in three, batch 1 or 2 and padded strides every other time),
/// tile sizes taken in turn from `tileSizes`, against the fp64 reference.
void checkOnRandomShapes(const PatternCase &c,
                         llvm::ArrayRef<TileSize> tileSizes, int iterations,
                         unsigned seed, Coverage &counts,
                         int64_t maxLength = 150) {
  Suite &s = suite();
  ASSERT_TRUE(s.module) << "module failed to parse";
  KernelOp kernel = s.kernel(c.name);
  ASSERT_TRUE(kernel);
  auto eval = CompiledMask::compile(kernel);
  ASSERT_TRUE(mlir::succeeded(eval));

  std::mt19937 rng(seed);
  for (int iter = 0; iter < iterations; ++iter) {
    TileSize ts = tileSizes[iter % tileSizes.size()];
    const CpuAttention *cpu = s.get(c.name, ts[0], ts[1]);
    ASSERT_TRUE(cpu) << s.error;
    Shape shape;
    shape.batch = 1 + iter % 2;
    shape.heads = c.heads;
    shape.kvHeads = c.kvHeads;
    shape.lk = 1 + rng() % maxLength;
    shape.lq = iter % 3 == 0 ? shape.lk : 1 + rng() % shape.lk;
    MaskInputs in = randomInputs(rng, shape.batch, shape.heads, shape.lq,
                                 shape.lk);
    ASSERT_NO_FATAL_FAILURE(checkOneShape(*cpu, kernel, *eval, shape, ts, in,
                                          /*padded=*/iter % 2 == 1, rng,
                                          counts));
  }
}

class CpuAttentionMatchesReference
    : public ::testing::TestWithParam<PatternCase> {
public:
  static void TearDownTestSuite() {
    if (!suiteStorage())
      return;
    std::cerr << "[ info ] worst relative O error " << worst().rel
              << ", worst relative LSE error " << worst().lse << "; "
              << suite().compiles << " JIT compiles so far, "
              << suite().compileSeconds / std::max(1, suite().compiles)
              << " s per kernel\n";
  }
};

/// Every case on its own tile sizes (the four pairs in turn over the cases,
/// to keep the number of JIT compiles small).
TEST_P(CpuAttentionMatchesReference, OnRandomShapes) {
  const PatternCase &c = GetParam();
  size_t index = 0;
  while (index < std::size(kCases) && std::string(kCases[index].name) != c.name)
    ++index;
  Coverage counts;
  ASSERT_NO_FATAL_FAILURE(checkOnRandomShapes(
      c, {kTileSizes[index % std::size(kTileSizes)]}, 8, 4321 + index, counts));
  if (c.expectEmptyRows)
    EXPECT_GT(counts.emptyRows, 0) << "no row without kept keys was exercised";
  if (c.expectGathers)
    EXPECT_GT(counts.gatherTiles, 0) << "no gathered tile was exercised";
  if (std::string(c.name) != "empty")
    EXPECT_GT(counts.fullTiles + counts.partialTiles, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, CpuAttentionMatchesReference, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<PatternCase> &info) {
      return std::string(info.param.name);
    });

/// Vertical-slash at lengths where columns and diagonals are sparse against
/// the tiles: the plans hold key lists and bands, which the generated code
/// reads through the key pool of the segment buffer.
TEST(CpuAttention, VerticalSlashKeyListsAndBands) {
  const PatternCase *c = nullptr;
  for (const PatternCase &candidate : kCases)
    if (std::string(candidate.name) == "vertical_slash")
      c = &candidate;
  ASSERT_TRUE(c);
  Coverage counts;
  const TileSize tiles[] = {{16, 16}, {32, 16}};
  ASSERT_NO_FATAL_FAILURE(
      checkOnRandomShapes(*c, tiles, 4, 2024, counts, /*maxLength=*/700));
  EXPECT_GT(counts.listSegments, 0) << "no key list was exercised";
  EXPECT_GT(counts.bandSegments, 0) << "no band was exercised";
  EXPECT_GT(counts.fullTiles, 0);
  EXPECT_GT(counts.partialTiles, 0);
}

/// A few cases that between them hit FULL and PARTIAL ranges and gathers,
/// tables, tail queries and empty rows, on every pair of tile sizes.
TEST(CpuAttention, TileSizeSweep) {
  for (const char *name : {"tri_shape", "s2_token", "block_table", "strided"}) {
    const PatternCase *c = nullptr;
    for (const PatternCase &candidate : kCases)
      if (std::string(candidate.name) == name)
        c = &candidate;
    ASSERT_TRUE(c);
    SCOPED_TRACE(name);
    Coverage counts;
    ASSERT_NO_FATAL_FAILURE(
        checkOnRandomShapes(*c, kTileSizes, 4, 99, counts));
    EXPECT_GT(counts.fullTiles, 0);
    EXPECT_GT(counts.partialTiles, 0);
    if (c->expectGathers)
      EXPECT_GT(counts.gatherTiles, 0);
  }
}

//===----------------------------------------------------------------------===//
// Errors come back as messages
//===----------------------------------------------------------------------===//

struct SmallProblem {
  Tensor q{{1, 4, 10, kHeadDim}, false}, k{{1, 2, 12, kHeadDim}, false},
      v{{1, 2, 12, kHeadDim}, false}, o{{1, 4, 10, kHeadDim}, false},
      lse{{1, 4, 10}, false};
  MaskInputs in;
  FlatPlan plan;
  CpuAttentionArgs args() {
    return CpuAttentionArgs{q.view, k.view, v.view, o.view, lse.view};
  }
  SmallProblem() {
    std::mt19937 rng(7);
    q.fillRandom(rng, -1, 1);
    k.fillRandom(rng, -1, 1);
    v.fillRandom(rng, -1, 1);
    in = randomInputs(rng, 1, 4, 10, 12);
    auto planner = TilePlanner::build(suite().kernel("causal"),
                                      PlanOptions{16, 16});
    std::string error;
    plan = planner->plan(in, error)->flatten();
  }
};

TEST(CpuAttention, RejectsBadArgumentsWithMessages) {
  const CpuAttention *cpu = suite().get("causal", 16, 16);
  ASSERT_TRUE(cpu) << suite().error;
  std::string error;
  {
    SmallProblem p;
    ASSERT_TRUE(mlir::succeeded(cpu->run("causal", p.args(), p.plan, p.in, error)))
        << error;
  }
  auto expectError = [&](llvm::function_ref<void(SmallProblem &)> spoil,
                         const char *needle, const char *kernel = "causal") {
    SmallProblem p;
    spoil(p);
    error.clear();
    EXPECT_TRUE(mlir::failed(cpu->run(kernel, p.args(), p.plan, p.in, error)));
    EXPECT_NE(error.find(needle), std::string::npos) << error;
  };
  expectError([](SmallProblem &) {}, "no compiled kernel", "nope");
  expectError([](SmallProblem &p) { p.q.view.sizes[1] = 3; }, "heads = 4");
  expectError([](SmallProblem &p) { p.v.view.sizes[2] = 11; }, "v: shape");
  expectError([](SmallProblem &p) { p.o.view.strides[3] = 2; },
              "innermost stride");
  expectError([](SmallProblem &p) { p.k.view.data = nullptr; }, "null data");
  expectError([](SmallProblem &p) { p.in.lk = 13; }, "mask inputs");
  expectError([](SmallProblem &p) { p.in.tables.erase("glob"); },
              "table @glob is missing");
  expectError([](SmallProblem &p) { p.in.tables["keep"].shape[0] = 2; },
              "table @keep has shape");
  expectError([](SmallProblem &p) { p.plan.numQueryTiles = 2; },
              "query tiles");
  expectError([](SmallProblem &p) { p.plan.classIndex[0] = 5; },
              "class index");
  expectError([](SmallProblem &p) { p.plan.offsets.back() = 1000; },
              "plan offsets");
  expectError([](SmallProblem &p) { p.plan.segments[5] = 0; },
              "malformed");
  expectError([](SmallProblem &p) { p.plan.segments.pop_back(); },
              "multiple of 7");
}

TEST(CpuAttention, RejectsDynamicPatternsAtCompileTime) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(
      "sattn.kernel @vs(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, "
      "scale = 0.125) {\n"
      "%m = mask.vertical_slash vertical 10 slash 20 last_q 64 forced(2, 3) "
      "block 64\nsattn.yield %m\n}\n",
      &context);
  ASSERT_TRUE(module);
  std::string error;
  auto cpu = CpuAttention::compile(*module, CpuAttentionOptions{}, error);
  EXPECT_TRUE(mlir::failed(cpu));
  EXPECT_NE(error.find("vertical_slash"), std::string::npos) << error;
}

TEST(CpuAttention, PlanFromOtherTileSizesIsRejected) {
  const CpuAttention *cpu = suite().get("causal", 16, 16);
  ASSERT_TRUE(cpu) << suite().error;
  SmallProblem p;
  auto planner = TilePlanner::build(suite().kernel("causal"), PlanOptions{8, 8});
  std::string error;
  auto plan = planner->plan(p.in, error);
  ASSERT_TRUE(mlir::succeeded(plan));
  EXPECT_TRUE(mlir::failed(cpu->run("causal", p.args(), *plan, p.in, error)));
  EXPECT_NE(error.find("tile sizes"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Every static kernel of examples/*.sattn
//===----------------------------------------------------------------------===//

/// Random contents for a declared table: 0/1 for bool tables, small ids
/// (runs of equal values, like document ids) for integer tables.
TableData randomTable(mask::TableOp table, int64_t batch, int64_t heads,
                      int64_t lk, std::mt19937 &rng) {
  TableData data;
  int64_t elements = 1;
  for (mlir::Attribute attr : table.getDims()) {
    mask::TableDim dim;
    EXPECT_TRUE(mask::parseTableDim(mlir::cast<mlir::StringAttr>(attr).getValue(), dim));
    int64_t extent = dim.kind == mask::TableDim::Batch   ? batch
                     : dim.kind == mask::TableDim::Head  ? heads
                     : dim.kind == mask::TableDim::Literal ? dim.extent
                     : (lk + dim.blockSize - 1) / dim.blockSize;
    data.shape.push_back(extent);
    elements *= extent;
  }
  bool isBool = table.getElementType().isInteger(1);
  int64_t id = 0;
  for (int64_t i = 0; i < elements; ++i) {
    if (isBool) {
      data.values.push_back(rng() % 5 == 0);
    } else {
      id += rng() % 13 == 0;
      data.values.push_back(id % 4);
    }
  }
  return data;
}

TEST(CpuAttention, EveryStaticExampleSpecMatchesReference) {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  llvm::SmallString<256> dir(__FILE__);
  path::remove_filename(dir); // test/unit
  path::remove_filename(dir); // test
  path::remove_filename(dir); // the source root
  path::append(dir, "examples");
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (path::extension(it->path()) == ".sattn")
      files.push_back(it->path());
  ASSERT_FALSE(files.empty()) << "no examples under " << dir.str().str();
  llvm::sort(files);

  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  std::mt19937 rng(2024);
  int staticKernels = 0, dynamicKernels = 0;
  for (const std::string &file : files) {
    SCOPED_TRACE(file);
    auto buffer = llvm::MemoryBuffer::getFile(file);
    ASSERT_TRUE(bool(buffer));
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
    std::string diagnostics;
    llvm::raw_string_ostream diagOS(diagnostics);
    spec::SpecCompilation compiled =
        spec::compileSpec(sourceMgr, context, diagOS);
    ASSERT_EQ(compiled.status, spec::SpecStatus::Success) << diagnostics;

    for (KernelOp kernel : compiled.module->getOps<KernelOp>()) {
      SCOPED_TRACE(kernel.getSymName().str());
      mlir::FailureOr<CompiledMask> eval = mlir::failure();
      {
        // Dynamic patterns have no static semantics: skipped, silently.
        mlir::ScopedDiagnosticHandler quiet(&context, [](mlir::Diagnostic &) {
          return mlir::success();
        });
        eval = CompiledMask::compile(kernel);
      }
      if (mlir::failed(eval)) {
        ++dynamicKernels;
        continue;
      }
      ++staticKernels;
      mlir::OwningOpRef<mlir::ModuleOp> single =
          mlir::ModuleOp::create(kernel.getLoc());
      single->push_back(kernel->clone());
      KernelOp copy = *single->getOps<KernelOp>().begin();
      std::string error;
      TileSize tiles{32, 32};
      auto cpu = CpuAttention::compile(
          *single, CpuAttentionOptions{tiles[0], tiles[1], kOptLevel}, error);
      ASSERT_TRUE(mlir::succeeded(cpu)) << error;
      if (getenv("SATTN_VERBOSE"))
        std::cerr << "[ info ] " << kernel.getSymName().str()
                  << " compiled in " << cpu->compileSeconds() << " s\n";

      Shape shape;
      shape.batch = 2;
      shape.heads = copy.getHeads();
      shape.kvHeads = copy.getKvHeads();
      shape.headDim = copy.getHeadDim();
      shape.scale = copy.getScale().convertToDouble();
      shape.lk = 57;
      shape.lq = 40;
      MaskInputs in;
      in.batch = shape.batch;
      in.lq = shape.lq;
      in.lk = shape.lk;
      for (mask::TableOp table :
           copy.getBody().front().getOps<mask::TableOp>())
        in.tables[table.getSymName().str()] =
            randomTable(table, shape.batch, shape.heads, shape.lk, rng);
      Coverage counts;
      ASSERT_NO_FATAL_FAILURE(checkOneShape(*cpu, copy, *eval, shape, tiles,
                                            in, /*padded=*/true, rng, counts));
    }
  }
  std::cerr << "[ info ] examples: " << staticKernels
            << " static kernels checked, " << dynamicKernels
            << " dynamic kernels skipped\n";
  EXPECT_GE(staticKernels, 10);
}

} // namespace
