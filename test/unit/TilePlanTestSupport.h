//===- TilePlanTestSupport.h - helpers of the tile plan tests ---*- C++ -*-===//
//
// The pattern kernels, their random runtime tables and the brute-force plan
// check that TilePlanTest.cpp (plans with Gather and List segments) and
// TilePlanRangeOnlyTest.cpp (the Range-only plans of the sm_90a kernel)
// share, and the example specs both the planner and the CPU attention tests
// run over. The check compares a plan with the reference evaluator pair by
// pair:
//   1. no kept pair is skipped and no key is visited twice in a tile;
//   2. FULL segments hold only kept pairs;
//   3. for named patterns the plan is minimal: every visited range tile and
//      every gathered key is kept by some row of the query tile.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_TILEPLANTESTSUPPORT_H
#define SATTN_TEST_UNIT_TILEPLANTESTSUPPORT_H

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace sattn::tile_plan_test {

using namespace sattn::plan;

struct PatternCase {
  const char *name;
  const char *body; // ops of the kernel body; the last value is yielded as %m
  bool minimal;     // property 3 holds
};

inline const PatternCase kCases[] = {
    {"causal", "%m = mask.causal", true},
    {"dense", "%m = mask.full", true},
    {"window", "%m = mask.window 7", true},
    {"symmetric", "%m = mask.window 5 symmetric", true},
    {"sink", "%m = mask.sink 6", true},
    {"streaming",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%u = mask.union %s, %w\n%m = mask.intersect %c, %u",
     true},
    {"tri_shape",
     "%c = mask.causal\n%s = mask.sink 4\n%w = mask.window 9\n"
     "%t = mask.tail_queries 5\n%u = mask.union %s, %w, %t\n"
     "%m = mask.intersect %c, %u",
     true},
    {"strided",
     "%c = mask.causal\n%s = mask.strided stride 4 offset affine_map<(h) -> (h mod 4)>\n"
     "%m = mask.intersect %c, %s",
     true},
    {"s2_token",
     "%c = mask.causal\n%w = mask.window 6\n"
     "%s = mask.strided stride 3 offset affine_map<(h) -> (h * 2 + 1)>\n"
     "%u = mask.union %w, %s\n%m = mask.intersect %c, %u",
     true},
    {"s2_blocks",
     "%m = mask.strided_blocks block 8 local 2 vert_stride 3 offset 1 "
     "dense_heads 1 per_kv_group",
     true},
    {"s2_blocks_per_head",
     "%m = mask.strided_blocks block 4 local 1 vert_stride 4 offset 0 dense_heads 0",
     true},
    {"dilated", "%m = mask.dilated window 4 dilation 3", true},
    {"power", "%m = mask.power block 8 window 2 sink 1", true},
    {"power_small_blocks", "%m = mask.power block 4 window 0 sink 0", true},
    {"prefix", "%m = mask.prefix 6", true},
    {"document", "%c = mask.causal\n%d = mask.document @doc\n%m = mask.intersect %c, %d", true},
    {"block_table",
     "%c = mask.causal\n%b = mask.block_table @keep block 8\n%m = mask.intersect %c, %b",
     true},
    {"per_head",
     "%c = mask.causal\n%w = mask.window 5\n%s = mask.sink 3\n"
     "%m = mask.per_head %c, %w, %s assign [0, 1, 2, 1]",
     true},
    {"neighborhood_2d",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c8 = arith.constant 8 : index\n  %c1 = arith.constant 1 : index\n"
     "  %qr = arith.floordivsi %q, %c8 : index\n  %kr = arith.floordivsi %k, %c8 : index\n"
     "  %qc = arith.remsi %q, %c8 : index\n  %kc = arith.remsi %k, %c8 : index\n"
     "  %dr = arith.subi %qr, %kr : index\n  %dc = arith.subi %qc, %kc : index\n"
     "  %ar = math.absi %dr : index\n  %ac = math.absi %dc : index\n"
     "  %r = arith.cmpi sle, %ar, %c1 : index\n  %cc = arith.cmpi sle, %ac, %c1 : index\n"
     "  %y = arith.andi %r, %cc : i1\n  mask.yield %y\n}",
     true},
    {"longformer",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c3 = arith.constant 3 : index\n  %d = arith.subi %q, %k : index\n"
     "  %a = math.absi %d : index\n  %near = arith.cmpi sle, %a, %c3 : index\n"
     "  %gk = mask.lookup @glob[%k] : i1\n  %gq = mask.lookup @glob[%q] : i1\n"
     "  %o = arith.ori %near, %gk : i1\n  %y = arith.ori %o, %gq : i1\n  mask.yield %y\n}",
     true},
    // Column and diagonal tables (MInference vertical-slash): planned from
    // the exact key sets of TableTerms, with key lists and bands.
    {"vertical_slash",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.ori %v, %s : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     true},
    {"columns_and_diagonals",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  %d = arith.subi %q, %k : index\n"
     "  %s = mask.lookup @slash[%h, %d] : i1\n  %y = arith.andi %v, %s : i1\n"
     "  mask.yield %y\n}",
     true},
    {"columns", "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %v = mask.lookup @vcol[%h, %k] : i1\n  mask.yield %v\n}",
     true},
    // Key columns per query block (AnchorAttention's stripes, units of 8
    // rows): query tiles of 4 to 32 rows inside one unit or across several.
    {"unit_columns", "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c8 = arith.constant 8 : index\n  %u = arith.floordivsi %q, %c8 : index\n"
     "  %v = mask.lookup @units[%b, %h, %u, %k] : i1\n  mask.yield %v\n}",
     true},
    {"stripes",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c16 = arith.constant 16 : index\n  %c8 = arith.constant 8 : index\n"
     "  %first = arith.cmpi slt, %k, %c16 : index\n"
     "  %g = arith.floordivsi %q, %c16 : index\n  %gs = arith.muli %g, %c16 : index\n"
     "  %own = arith.cmpi sge, %k, %gs : index\n  %u = arith.floordivsi %q, %c8 : index\n"
     "  %v = mask.lookup @units[%b, %h, %u, %k] : i1\n"
     "  %a = arith.ori %first, %own : i1\n  %y = arith.ori %a, %v : i1\n"
     "  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     true},
    // Predicates of q - k alone: unions of diagonal bands (DiagonalBands),
    // planned from exact offset runs, including offsets on both sides of
    // the diagonal, periodic bands and a select on the offset.
    {"diagonal_points",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %d = arith.subi %q, %k : index\n  %e = arith.subi %k, %q : index\n"
     "  %c0 = arith.constant 0 : index\n  %c5 = arith.constant 5 : index\n"
     "  %c9 = arith.constant 9 : index\n"
     "  %a = arith.cmpi eq, %d, %c0 : index\n  %b5 = arith.cmpi eq, %d, %c5 : index\n"
     "  %n9 = arith.cmpi eq, %e, %c9 : index\n"
     "  %o = arith.ori %a, %b5 : i1\n  %y = arith.ori %o, %n9 : i1\n  mask.yield %y\n}",
     true},
    {"diagonal_periodic",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %d = arith.subi %q, %k : index\n  %c7 = arith.constant 7 : index\n"
     "  %c2 = arith.constant 2 : index\n  %c20 = arith.constant 20 : index\n"
     "  %r = arith.remsi %d, %c7 : index\n  %lt = arith.cmpi slt, %r, %c2 : index\n"
     "  %far = arith.cmpi sgt, %d, %c20 : index\n"
     "  %s = arith.select %far, %c2, %r : index\n"
     "  %y = arith.cmpi slt, %s, %c2 : index\n  %z = arith.andi %y, %lt : i1\n"
     "  mask.yield %z\n}\n%m = mask.intersect %c, %p",
     true},
    // Predicates of k alone (columns) and of q alone (rows).
    {"key_axis",
     "%c = mask.causal\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c5 = arith.constant 5 : index\n  %c1 = arith.constant 1 : index\n"
     "  %c3 = arith.constant 3 : index\n  %r = arith.remsi %k, %c5 : index\n"
     "  %a = arith.cmpi eq, %r, %c1 : index\n  %e = arith.cmpi eq, %k, %c3 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}\n%m = mask.intersect %c, %p",
     true},
    {"query_axis",
     "%w = mask.window 6\n%p = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c4 = arith.constant 4 : index\n  %c0 = arith.constant 0 : index\n"
     "  %c3 = arith.constant 3 : index\n  %r = arith.remsi %q, %c4 : index\n"
     "  %a = arith.cmpi eq, %r, %c0 : index\n  %e = arith.cmpi slt, %q, %c3 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}\n%m = mask.union %w, %p",
     true},
    // Predicates that mix shapes: split at their top-level | into parts of
    // one axis each (PredicateSplit.cpp); an & inside a part stays whole.
    {"mixed_axes",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c7 = arith.constant 7 : index\n  %c3 = arith.constant 3 : index\n"
     "  %c5 = arith.constant 5 : index\n  %c0 = arith.constant 0 : index\n"
     "  %rk = arith.remsi %k, %c7 : index\n  %a = arith.cmpi eq, %rk, %c3 : index\n"
     "  %rq = arith.remsi %q, %c5 : index\n  %e = arith.cmpi eq, %rq, %c0 : index\n"
     "  %y = arith.ori %a, %e : i1\n  mask.yield %y\n}",
     true},
    {"band_or_global_pairs",
     "%m = mask.predicate(%b, %h, %q, %k) {\n"
     "  %c4 = arith.constant 4 : index\n  %c0 = arith.constant 0 : index\n"
     "  %d = arith.subi %q, %k : index\n  %r = arith.remsi %d, %c4 : index\n"
     "  %a = arith.cmpi eq, %r, %c0 : index\n  %g = mask.lookup @glob[%k] : i1\n"
     "  %gq = mask.lookup @glob[%q] : i1\n  %o = arith.andi %g, %gq : i1\n"
     "  %y = arith.ori %a, %o : i1\n  mask.yield %y\n}",
     true},
    {"complement",
     "%c = mask.causal\n%w = mask.window 5\n%n = mask.complement %w\n"
     "%m = mask.intersect %c, %n",
     false},
};

inline std::string kernelText(const PatternCase &c) {
  return std::string("sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 4, "
                     "kv_heads = 2, scale = 0.125) {\n"
                     "mask.table @doc : i32 [\"b\", \"k\"]\n"
                     "mask.table @keep : i1 [\"h\", \"q/8\", \"k/8\"]\n"
                     "mask.table @glob : i1 [\"k\"]\n"
                     "mask.table @vcol : i1 [\"h\", \"k\"]\n"
                     "mask.table @slash : i1 [\"h\", \"k\"]\n"
                     "mask.table @units : i1 [\"b\", \"h\", \"q/8\", \"k\"]\n"
                     "mask.table @sel : i1 [\"b\", \"h\", \"q/64\", \"k\"]\n") +
         c.body + "\nsattn.yield %m\n}\n";
}

inline MaskInputs randomInputs(std::mt19937 &rng, int64_t lq, int64_t lk) {
  MaskInputs in;
  in.batch = 2;
  in.lq = lq;
  in.lk = lk;
  TableData doc{{2, lk}, std::vector<int64_t>(2 * lk)};
  for (int64_t b = 0; b < 2; ++b) {
    int64_t id = 0;
    for (int64_t k = 0; k < lk; ++k) {
      if (rng() % 23 == 0)
        ++id;
      doc.values[b * lk + k] = id;
    }
  }
  int64_t nb = (lk + 7) / 8;
  TableData keep{{4, nb, nb}, std::vector<int64_t>(4 * nb * nb)};
  for (auto &v : keep.values)
    v = rng() % 4 == 0;
  TableData glob{{lk}, std::vector<int64_t>(lk)};
  for (auto &v : glob.values)
    v = rng() % 17 == 0;
  in.tables["doc"] = doc;
  in.tables["keep"] = keep;
  in.tables["glob"] = glob;
  // Sparse columns and diagonals, the first two of each forced in.
  for (const char *name : {"vcol", "slash"}) {
    TableData t{{4, lk}, std::vector<int64_t>(4 * lk)};
    for (int64_t i = 0; i < 4 * lk; ++i)
      t.values[i] = i % lk < 2 || rng() % 9 == 0;
    in.tables[name] = t;
  }
  // Keys per unit of 8 (units) and of 64 (sel) query rows, about one in
  // seven, from their own generator (the other tables' random sequence
  // stays as it was).
  std::mt19937 unitRng(uint32_t(lk * 7919 + lq));
  for (auto [name, rows] : {std::pair<const char *, int64_t>{"units", 8}, {"sel", 64}}) {
    int64_t unitCount = (lk + rows - 1) / rows;
    TableData t{{2, 4, unitCount, lk}, std::vector<int64_t>(2 * 4 * unitCount * lk)};
    for (auto &v : t.values)
      v = unitRng() % 7 == 0;
    in.tables[name] = t;
  }
  return in;
}

/// A registry of every dialect sattn uses, for a test's MLIRContext.
inline mlir::DialectRegistry allDialects() {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  return registry;
}

/// The pattern of kCases called `name` (a test failure and null if none).
inline const PatternCase *patternCase(const std::string &name) {
  for (const PatternCase &c : kCases)
    if (name == c.name)
      return &c;
  ADD_FAILURE() << "no pattern " << name;
  return nullptr;
}

/// A pattern's kernel parsed into a context of its own, with its reference
/// evaluator; a test failure is recorded and ok() is false if either fails.
class PatternKernel {
public:
  explicit PatternKernel(const PatternCase &c) : context(allDialects()) {
    module = mlir::parseSourceString<mlir::ModuleOp>(kernelText(c), &context);
    EXPECT_TRUE(module) << kernelText(c);
    if (!module)
      return;
    kernel = *module->getOps<KernelOp>().begin();
    mlir::FailureOr<CompiledMask> compiled = CompiledMask::compile(kernel);
    EXPECT_TRUE(mlir::succeeded(compiled)) << c.name;
    if (mlir::succeeded(compiled))
      eval.emplace(std::move(*compiled));
  }
  bool ok() const { return kernel && eval; }

private:
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;

public:
  KernelOp kernel;
  std::optional<CompiledMask> eval;
};

/// The `iter`-th random problem of the property tests: Lk in [1, 150], Lq =
/// Lk every third time and otherwise in [1, Lk], tiles cycling through five
/// sizes, random tables; `trace` describes it for SCOPED_TRACE.
struct RandomProblem {
  int64_t lq, lk, blockM, blockN;
  MaskInputs in;
  std::string trace;
};

inline RandomProblem randomProblem(std::mt19937 &rng, int iter, const std::string &name) {
  static const int64_t kTileSizes[][2] = {{8, 8}, {16, 8}, {8, 16}, {32, 32}, {16, 4}};
  RandomProblem p;
  p.lk = 1 + rng() % 150;
  p.lq = iter % 3 == 0 ? p.lk : 1 + rng() % p.lk;
  p.blockM = kTileSizes[iter % 5][0];
  p.blockN = kTileSizes[iter % 5][1];
  p.in = randomInputs(rng, p.lq, p.lk);
  p.trace = name + " lq=" + std::to_string(p.lq) + " lk=" + std::to_string(p.lk) +
            " BM=" + std::to_string(p.blockM) + " BN=" + std::to_string(p.blockN);
  return p;
}

/// MInference-like "vcol" and "slash" tables for the 4 heads of
/// randomInputs: the first `forced` columns and diagonals of each head, then
/// `columns` and `diagonals` random ones.
inline void sparseColumnsAndDiagonals(MaskInputs &in, int forced, int columns,
                                      int diagonals, std::mt19937 &rng) {
  const int64_t lk = in.lk;
  for (auto [name, count] :
       {std::pair<const char *, int>{"vcol", columns}, {"slash", diagonals}}) {
    TableData &t = in.tables[name];
    std::fill(t.values.begin(), t.values.end(), 0);
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t i = 0; i < forced; ++i)
        t.values[h * lk + i] = 1;
      for (int i = 0; i < count; ++i)
        t.values[h * lk + rng() % lk] = 1;
    }
  }
}

/// Keys visited by one segment of (b, h).
inline std::vector<int64_t> segmentKeys(const TilePlan &plan, int64_t b, int64_t h,
                                 const Segment &s, int64_t bn, int64_t lk) {
  std::vector<int64_t> keys;
  if (s.kind == Segment::Range) {
    for (int64_t k = s.lo * bn; k < std::min(s.hi * bn, lk); ++k)
      keys.push_back(k);
  } else {
    int64_t n = s.numKeys(bn, lk);
    for (int64_t j = 0; j < n; ++j)
      keys.push_back(plan.gatheredKey(b, h, s, j));
  }
  return keys;
}

/// Properties 1-3 of the file comment for every query tile of every (b, h).
inline void checkPlanProperties(const TilePlan &plan, const CompiledMask &evaluator,
                         const MaskInputs &in, int64_t bn, bool minimal) {
  int64_t lk = in.lk;
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t h = 0; h < plan.heads; ++h)
      for (int64_t m = 0; m < plan.numQueryTiles; ++m) {
        auto [qa, qb] = plan.queryRange(m);
        std::vector<int> visits(lk, 0);
        for (const Segment &s : plan.segments(b, h, m)) {
          auto keys = segmentKeys(plan, b, h, s, bn, lk);
          bool anyKept = false;
          for (int64_t k : keys) {
            ASSERT_GE(k, 0);
            ASSERT_LT(k, lk);
            ++visits[k];
            bool keptBySomeRow = false;
            for (int64_t q = qa; q <= qb; ++q) {
              bool kept = evaluator.keep(in, b, h, q, k);
              keptBySomeRow |= kept;
              if (s.full)
                ASSERT_TRUE(kept) << "FULL segment holds dropped pair q=" << q
                                  << " k=" << k << " h=" << h;
            }
            anyKept |= keptBySomeRow;
            if (minimal && s.kind != Segment::Range)
              EXPECT_TRUE(keptBySomeRow)
                  << "gathered key " << k << " is kept by no row, h=" << h;
          }
          if (minimal && s.kind == Segment::Range)
            for (int64_t t = s.lo; t < s.hi; ++t) {
              bool tileKept = false;
              for (int64_t k = t * bn;
                   k < std::min((t + 1) * bn, lk) && !tileKept; ++k)
                for (int64_t q = qa; q <= qb && !tileKept; ++q)
                  tileKept = evaluator.keep(in, b, h, q, k);
              EXPECT_TRUE(tileKept) << "visited tile " << t
                                    << " has no kept pair, h=" << h;
            }
          (void)anyKept;
        }
        for (int64_t k = 0; k < lk; ++k) {
          ASSERT_LE(visits[k], 1) << "key " << k << " visited twice";
          if (visits[k])
            continue;
          for (int64_t q = qa; q <= qb; ++q)
            ASSERT_FALSE(evaluator.keep(in, b, h, q, k))
                << "kept pair skipped: q=" << q << " k=" << k << " h=" << h
                << " b=" << b;
        }
      }
}

/// Random contents for a declared table: 0/1 for bool tables (about one in
/// five kept), small ids in runs of equal values (like document ids) for
/// integer tables.
inline TableData randomTable(mask::TableOp table, int64_t batch, int64_t heads,
                             int64_t lk, std::mt19937 &rng) {
  TableData data;
  int64_t elements = 1;
  for (mlir::Attribute attr : table.getDims()) {
    mask::TableDim dim;
    EXPECT_TRUE(mask::parseTableDim(mlir::cast<mlir::StringAttr>(attr).getValue(), dim));
    int64_t extent = dim.kind == mask::TableDim::Batch   ? batch
                     : dim.kind == mask::TableDim::Head  ? dim.blocksOf(heads)
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

/// examples/*.sattn of the source tree, sorted.
inline std::vector<std::string> exampleSpecFiles() {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  llvm::SmallString<256> dir(__FILE__);
  path::remove_filename(dir); // test/unit
  path::remove_filename(dir); // test
  path::remove_filename(dir); // the source root
  path::append(dir, "examples");
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    if (path::extension(it->path()) == ".sattn")
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

/// The module of a spec file (a test failure and null if it does not compile).
inline mlir::OwningOpRef<mlir::ModuleOp> compileSpecFile(const std::string &file,
                                                         mlir::MLIRContext &context) {
  auto buffer = llvm::MemoryBuffer::getFile(file);
  EXPECT_TRUE(bool(buffer)) << file;
  if (!buffer)
    return nullptr;
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  std::string diagnostics;
  llvm::raw_string_ostream diagOS(diagnostics);
  spec::SpecCompilation compiled = spec::compileSpec(sourceMgr, context, diagOS);
  EXPECT_EQ(compiled.status, spec::SpecStatus::Success) << diagnostics;
  return std::move(compiled.module);
}

/// examples/dynamic.sattn with its estimated patterns lowered to the tables
/// their compiled estimators write (sattn-lower-estimators); null, with a
/// test failure, when that fails.
inline mlir::OwningOpRef<mlir::ModuleOp> loweredDynamicExamples(mlir::MLIRContext &context) {
  std::string file;
  for (const std::string &candidate : exampleSpecFiles())
    if (llvm::StringRef(candidate).ends_with("/dynamic.sattn"))
      file = candidate;
  EXPECT_FALSE(file.empty()) << "examples/dynamic.sattn not found";
  if (file.empty())
    return nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> module = compileSpecFile(file, context);
  if (!module)
    return nullptr;
  mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
  pm.addPass(createLowerEstimators());
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  return module;
}

/// The reference evaluator of a kernel, or failure for a dynamic one (no
/// static semantics), without diagnostics.
inline mlir::FailureOr<CompiledMask> staticEvaluator(KernelOp kernel) {
  mlir::ScopedDiagnosticHandler quiet(kernel->getContext(),
                                      [](mlir::Diagnostic &) { return mlir::success(); });
  return CompiledMask::compile(kernel);
}

} // namespace sattn::tile_plan_test

#endif // SATTN_TEST_UNIT_TILEPLANTESTSUPPORT_H
