//===- CompiledNsaTest.cpp - NSA's compiled selection vs the reference ----===//
//
// A kernel whose mask is `nsa` compiles to NSA's selection as an estimator
// (compressed keys, compressed probabilities, importance, top blocks; a
// table row per GQA group and query position, read at [b, h / G, q, k / S])
// and to an attention kernel over the selected keys: NSA's selected branch. The CPU lowering (@NAME_estimate_cpu,
// the GPU's stages as loops with libm's exp) must select exactly the blocks
// of the reference (lib/Core/NsaReference.cpp, estimate::nsa) for every
// query of every GQA group, and the planned attention over that table must
// equal the reference's output with the gates (0, 1, 0): GQA and MQA, batch
// 2, Lq < Lk, keys shorter than one compressed block, strides below the
// compressed block, padded inputs, ties (constant inputs), head_dim 64, 128
// and 256, and examples/dynamic.sattn's nsa kernel. Stopped before the
// selection, the estimator's importances must equal the reference's bit for
// bit, in cases that cross the tile stages' edges (windows, chunks, ranges
// of selection blocks).
//
//===----------------------------------------------------------------------===//

#include "CompiledEstimatorTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/KernelAbi.h"
#include "sattn/Core/Nsa.h"
#include "sattn/Plan/EstimatorSpec.h"
#include "sattn/Plan/TilePlanner.h"

using namespace sattn;
using namespace sattn::cpu_attention_test;

namespace {

constexpr const char *kKernels = R"mlir(
sattn.kernel @nsa_gqa(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 2, scale = 0.125) {
  %m = mask.nsa compress (8, 4) select (16, 4) window 32 local 1
  sattn.yield %m
}
sattn.kernel @nsa_mqa(dtype = bf16, head_dim = 64, heads = 3, kv_heads = 1, scale = 0.177) {
  %m = mask.nsa compress (16, 8) select (16, 3) window 0 local 2
  sattn.yield %m
}
sattn.kernel @nsa_flat(dtype = bf16, head_dim = 128, heads = 2, kv_heads = 2, scale = 0.088) {
  %m = mask.nsa compress (8, 8) select (8, 5) window 16 local 0
  sattn.yield %m
}
sattn.kernel @nsa_g8(dtype = bf16, head_dim = 64, heads = 8, kv_heads = 1, scale = 0.125) {
  %m = mask.nsa compress (8, 4) select (8, 6) window 0 local 1
  sattn.yield %m
}
sattn.kernel @nsa_d256(dtype = bf16, head_dim = 256, heads = 2, kv_heads = 2, scale = 0.0625) {
  %m = mask.nsa compress (16, 8) select (32, 4) window 0 local 1
  sattn.yield %m
}
sattn.kernel @nsa_many(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 1, scale = 0.125) {
  %m = mask.nsa compress (8, 4) select (8, 40) window 0 local 1
  sattn.yield %m
}
)mlir";

LoweredKernels &fixture() {
  static LoweredKernels f(kKernels, -1);
  return f;
}

/// The estimators stopped after compress, stats and importance: the table
/// holds each row's importances as f64 bits.
LoweredKernels &importanceFixture() {
  static LoweredKernels f(kKernels, 3);
  return f;
}

struct Case {
  std::string kernel;
  int64_t batch, lq, lk;
  bool padded, constant;
};

/// Kernel `name`'s output on (q, k, v) over a plan for `inputs`.
Tensor attend(const CpuAttention &cpu, KernelOp kernel, const Tensor &q, const Tensor &k,
              const Tensor &v, const MaskInputs &inputs, bool padded) {
  const CpuTensor &qv = q.view;
  Tensor o({qv.sizes[0], qv.sizes[1], qv.sizes[2], qv.sizes[3]}, padded),
      lse({qv.sizes[0], qv.sizes[1], qv.sizes[2]}, padded);
  std::string error;
  auto planner = plan::TilePlanner::build(kernel, plan::PlanOptions{16, 16});
  EXPECT_TRUE(mlir::succeeded(planner));
  if (mlir::failed(planner))
    return o;
  auto tilePlan = planner->plan(inputs, error);
  EXPECT_TRUE(mlir::succeeded(tilePlan)) << error;
  CpuAttentionArgs args{q.view, k.view, v.view, o.view, lse.view};
  if (mlir::succeeded(tilePlan))
    EXPECT_TRUE(mlir::succeeded(cpu.run(kernel.getSymName(), args, *tilePlan, inputs, error)))
        << error;
  return o;
}

/// ||o - ref|| / ||ref|| over every element; ref is [B, H, Lq, D] row-major.
double relativeError(const Tensor &o, const std::vector<double> &ref) {
  const CpuTensor &v = o.view;
  double err2 = 0, ref2 = 0;
  o.forEach([&](llvm::ArrayRef<int64_t> idx) {
    double want = ref[((idx[0] * v.sizes[1] + idx[1]) * v.sizes[2] + idx[2]) * v.sizes[3] + idx[3]];
    err2 += (o.at(idx) - want) * (o.at(idx) - want);
    ref2 += want * want;
  });
  return std::sqrt(err2 / std::max(ref2, 1e-30));
}

/// What checkCase counted: selected entries, and with a caller's
/// compression the entries where its selection differs from the means'.
struct CaseCounts {
  int64_t selected = 0, differingFromMeans = 0;
};

/// Runs the estimator and the planned attention of one case and compares
/// both with the reference. `callersCompression`: random compressed keys
/// and values [B, KV, C, D] replace the block means, in the estimator (its
/// `weights`) and in the reference alike.
CaseCounts checkCase(const CpuAttention &cpu, KernelOp kernel, const Case &c, std::mt19937 &rng,
                     bool callersCompression = false) {
  SCOPED_TRACE(c.kernel + " B=" + std::to_string(c.batch) + " Lq=" + std::to_string(c.lq) +
               " Lk=" + std::to_string(c.lk) + (c.padded ? " padded" : "") +
               (c.constant ? " constant" : ""));
  plan::EstimatorSpec spec = **plan::readEstimator(kernel);
  int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads(), dim = kernel.getHeadDim();
  int64_t group = heads / kvHeads, blocks = (c.lk + spec.block - 1) / spec.block;
  Tensor q({c.batch, heads, c.lq, dim}, c.padded), k({c.batch, kvHeads, c.lk, dim}, c.padded),
      v({c.batch, kvHeads, c.lk, dim}, c.padded);
  if (c.constant) {
    q.forEach([&](llvm::ArrayRef<int64_t> idx) { q.at(idx) = 0.25f; });
    k.forEach([&](llvm::ArrayRef<int64_t> idx) { k.at(idx) = 0.5f; });
  } else {
    q.fillRandom(rng, -2, 2);
    k.fillRandom(rng, -2, 2);
  }
  v.fillRandom(rng, -1, 1);
  int64_t compressed = estimate::nsaCompressedBlocks(c.lk, nsaParamsOf(spec));
  Tensor ck({c.batch, kvHeads, compressed, dim}, false),
      cv({c.batch, kvHeads, compressed, dim}, false);
  if (callersCompression) {
    ck.fillRandom(rng, -2, 2);
    cv.fillRandom(rng, -1, 1);
  }
  std::string error, tableName;
  auto table = cpu.runEstimator(c.kernel, q.view, k.view, tableName, error,
                                callersCompression ? &ck.view : nullptr);
  EXPECT_TRUE(mlir::succeeded(table)) << error;
  CaseCounts counts;
  if (mlir::failed(table))
    return counts;
  EXPECT_EQ(tableName, spec.table);
  EXPECT_EQ((int64_t)table->size(), c.batch * kvHeads * c.lk * blocks);
  if ((int64_t)table->size() != c.batch * kvHeads * c.lk * blocks)
    return counts;
  EXPECT_EQ(q.clobberedPadding() + k.clobberedPadding(), 0);
  if (callersCompression) {
    auto means = cpu.runEstimator(c.kernel, q.view, k.view, tableName, error);
    EXPECT_TRUE(mlir::succeeded(means)) << error;
    for (size_t i = 0; mlir::succeeded(means) && i < table->size(); ++i)
      counts.differingFromMeans += (*table)[i] != (*means)[i];
  }

  // The reference per (batch, KV head) group, gates (0, 1, 0): its output
  // is the selected branch alone.
  std::vector<float> gates(c.lq * 3, 0.0f);
  for (int64_t i = 0; i < c.lq; ++i)
    gates[i * 3 + 1] = 1.0f;
  std::vector<double> refO(c.batch * heads * c.lq * dim);
  int64_t mismatches = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t g = 0; g < kvHeads; ++g) {
      estimate::NsaOutput ref =
          nsaReference(q, k, v, b, g, group, std::vector<const float *>(group, gates.data()),
                       kernel.getScale().convertToDouble(), spec,
                       callersCompression ? &ck : nullptr, callersCompression ? &cv : nullptr);
      if (ref.out.empty())
        return counts;
      std::copy(ref.out.begin(), ref.out.end(), refO.begin() + (b * heads + g * group) * c.lq * dim);
      std::vector<uint8_t> want = nsaSelectionRows(ref, c.lq, c.lk, spec.selectCount);
      for (int64_t pos = 0; pos < c.lk; ++pos)
        for (int64_t j = 0; j < blocks; ++j) {
          int64_t got = (*table)[((b * kvHeads + g) * c.lk + pos) * blocks + j];
          counts.selected += got;
          if (got != want[pos * blocks + j] && ++mismatches <= 5)
            ADD_FAILURE() << "b=" << b << " KV head " << g << " position " << pos << " block "
                          << j << ": selected " << got << ", reference "
                          << int(want[pos * blocks + j]);
        }
    }
  EXPECT_EQ(mismatches, 0);

  // The kernel's attention over the estimated table: the selected branch.
  MaskInputs inputs;
  inputs.batch = c.batch;
  inputs.lq = c.lq;
  inputs.lk = c.lk;
  inputs.tables[tableName] = TableData{{c.batch, kvHeads, c.lk, blocks}, *table};
  Tensor o = attend(cpu, kernel, q, k, v, inputs, c.padded);
  EXPECT_LT(relativeError(o, refO), 1e-5);
  return counts;
}

TEST(CompiledNsa, Compiles) {
  ASSERT_TRUE(fixture().module) << "the test kernels do not parse";
  ASSERT_TRUE(fixture().cpu) << fixture().error;
  auto spec = plan::readEstimator(fixture().kernel("nsa_gqa"));
  ASSERT_TRUE(mlir::succeeded(spec) && *spec);
  EXPECT_TRUE((*spec)->isNsa());
  EXPECT_EQ((*spec)->compressBlock, 8);
  EXPECT_EQ((*spec)->selectCount, 4);
}

TEST(CompiledNsa, SelectionAndSelectedBranchMatchReference) {
  LoweredKernels &f = fixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(20261207);
  const Case cases[] = {
      {"nsa_gqa", 2, 100, 100, false, false}, {"nsa_gqa", 2, 37, 101, true, false},
      {"nsa_gqa", 1, 5, 5, false, false},     {"nsa_gqa", 1, 64, 64, false, true},
      {"nsa_mqa", 2, 70, 90, true, false},    {"nsa_mqa", 1, 12, 12, false, false},
      {"nsa_flat", 2, 48, 48, false, false},  {"nsa_flat", 1, 33, 80, true, true},
      {"nsa_g8", 1, 150, 200, false, false},  {"nsa_g8", 2, 200, 200, true, false},
      {"nsa_d256", 1, 300, 520, false, false},
      // select_count above 32: a pass over the row per chosen block instead
      // of the one-scan list (NsaStages.cpp), at rows of up to 50 blocks.
      {"nsa_many", 1, 400, 400, false, false},  {"nsa_many", 2, 170, 230, true, true},
  };
  int64_t selected = 0;
  for (const Case &c : cases)
    selected += checkCase(*f.cpu, f.kernel(c.kernel), c, rng).selected;
  EXPECT_GT(selected, 0);
}

/// The tile stages' importances, read from the estimator stopped before
/// its selection, equal the reference's bit for bit for every row and
/// selection block it holds (j <= position / S): the same probabilities
/// added in the same order (heads, then compressed blocks). The cases
/// cross the tiles' edges: windows of query rows that start off the Lq < Lk
/// shift, chunks of compressed keys, ranges of selection blocks (checked
/// below against abi::nsaTile and abi::nsaImportanceBlocks), GQA groups of
/// 1, 2, 3 and 8, head_dim 64, 128 and 256.
TEST(CompiledNsa, ImportanceEqualsTheReferenceBitForBit) {
  LoweredKernels &f = importanceFixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(41);
  struct ImportanceCase {
    const char *kernel;
    int64_t batch, lq, lk;
  };
  int64_t compared = 0, nonzero = 0;
  bool crossedRanges = false, crossedChunks = false, shiftedWindow = false;
  for (const ImportanceCase &c : {ImportanceCase{"nsa_g8", 2, 150, 200},
                                  ImportanceCase{"nsa_gqa", 1, 37, 101},
                                  ImportanceCase{"nsa_mqa", 2, 70, 90},
                                  ImportanceCase{"nsa_flat", 1, 200, 200},
                                  ImportanceCase{"nsa_d256", 1, 300, 520}}) {
    SCOPED_TRACE(std::string(c.kernel) + " Lq=" + std::to_string(c.lq) +
                 " Lk=" + std::to_string(c.lk));
    KernelOp kernel = f.kernel(c.kernel);
    plan::EstimatorSpec spec = **plan::readEstimator(kernel);
    int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads(), dim = kernel.getHeadDim();
    int64_t group = heads / kvHeads, blocks = (c.lk + spec.block - 1) / spec.block;
    sattn::abi::EstimatorTile tile = sattn::abi::nsaTile(dim, spec.tensorLogits);
    int64_t perTile =
        sattn::abi::nsaImportanceBlocks(dim, spec.block, spec.compressBlock, spec.compressStride);
    crossedRanges |= blocks > perTile;
    crossedChunks |= estimate::nsaCompressedBlocks(c.lk, nsaParamsOf(spec)) > 2 * tile.rows;
    shiftedWindow |= c.lq > tile.keys && (c.lk - c.lq) % tile.keys != 0;
    Tensor q({c.batch, heads, c.lq, dim}, false), k({c.batch, kvHeads, c.lk, dim}, false),
        v({c.batch, kvHeads, c.lk, dim}, false);
    q.fillRandom(rng, -2, 2);
    k.fillRandom(rng, -2, 2);
    v.fillRandom(rng, -1, 1);
    std::string error, tableName;
    auto table = f.cpu->runEstimator(c.kernel, q.view, k.view, tableName, error);
    ASSERT_TRUE(mlir::succeeded(table)) << error;
    ASSERT_EQ(int64_t(table->size()), c.batch * kvHeads * c.lk * blocks);
    std::vector<float> gates(c.lq * 3, 0.0f);
    int64_t mismatches = 0, shift = c.lk - c.lq;
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t g = 0; g < kvHeads; ++g) {
        estimate::NsaOutput ref =
            nsaReference(q, k, v, b, g, group, std::vector<const float *>(group, gates.data()),
                         kernel.getScale().convertToDouble(), spec);
        ASSERT_EQ(int64_t(ref.importance.size()), c.lq * blocks);
        for (int64_t pos = shift; pos < c.lk; ++pos)
          for (int64_t j = 0; j <= pos / spec.block; ++j) {
            double got, want = ref.importance[(pos - shift) * blocks + j];
            std::memcpy(&got, &(*table)[((b * kvHeads + g) * c.lk + pos) * blocks + j],
                        sizeof got);
            ++compared;
            nonzero += want != 0;
            if (std::memcmp(&got, &want, sizeof got) != 0 && ++mismatches <= 5)
              ADD_FAILURE() << "b=" << b << " KV head " << g << " position " << pos
                            << " block " << j << ": " << got << ", reference " << want;
          }
      }
    EXPECT_EQ(mismatches, 0);
  }
  EXPECT_GT(nonzero, compared / 2);
  EXPECT_TRUE(crossedRanges && crossedChunks && shiftedWindow)
      << "the cases no longer cross the tiles' edges";
}

/// NSA's whole forward from the three kernels an nsa kernel compiles to:
/// the compressed branch (causal attention over keys and values placed where
/// their compressed blocks end, c d + l - 1: a static strided mask), the
/// selected branch (the nsa kernel) and the sliding branch (`window w`);
/// their outputs mixed by random gates equal the reference's forward.
TEST(CompiledNsa, ThreeKernelsMakeTheForward) {
  LoweredKernels &f = fixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(7);
  struct Shape {
    int64_t batch, lq, lk;
    bool padded;
  };
  for (Shape c : {Shape{2, 37, 101, true}, Shape{1, 100, 100, false}, Shape{1, 6, 6, false}}) {
    SCOPED_TRACE("B=" + std::to_string(c.batch) + " Lq=" + std::to_string(c.lq) +
                 " Lk=" + std::to_string(c.lk));
    KernelOp kernel = f.kernel("nsa_gqa");
    plan::EstimatorSpec spec = **plan::readEstimator(kernel);
    int64_t heads = kernel.getHeads(), kvHeads = kernel.getKvHeads(), dim = kernel.getHeadDim();
    int64_t group = heads / kvHeads;
    estimate::NsaParams params = nsaParamsOf(spec);
    Tensor q({c.batch, heads, c.lq, dim}, c.padded), k({c.batch, kvHeads, c.lk, dim}, c.padded),
        v({c.batch, kvHeads, c.lk, dim}, c.padded);
    q.fillRandom(rng, -2, 2);
    k.fillRandom(rng, -2, 2);
    v.fillRandom(rng, -1, 1);
    std::vector<float> gates(c.batch * heads * c.lq * 3);
    for (float &g : gates)
      g = float(rng() >> 8) * 0x1p-24f;

    // The compressed keys and values (block means, as floats) where their
    // blocks end; zero elsewhere (never attended).
    Tensor ck({c.batch, kvHeads, c.lk, dim}, c.padded), cv({c.batch, kvHeads, c.lk, dim}, c.padded);
    ck.forEach([&](llvm::ArrayRef<int64_t> idx) { ck.at(idx) = cv.at(idx) = 0.0f; });
    int64_t compressed = estimate::nsaCompressedBlocks(c.lk, params);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t g = 0; g < kvHeads; ++g)
        for (int64_t blk = 0; blk < compressed; ++blk)
          for (int64_t x = 0; x < dim; ++x) {
            double sk = 0, sv = 0;
            for (int64_t r = blk * params.compressStride;
                 r < blk * params.compressStride + params.compressBlock; ++r) {
              sk += k.at({b, g, r, x});
              sv += v.at({b, g, r, x});
            }
            int64_t end = blk * params.compressStride + params.compressBlock - 1;
            ck.at({b, g, end, x}) = float(sk / double(params.compressBlock));
            cv.at({b, g, end, x}) = float(sv / double(params.compressBlock));
          }

    std::string error, tableName;
    auto table = f.cpu->runEstimator("nsa_gqa", q.view, k.view, tableName, error);
    ASSERT_TRUE(mlir::succeeded(table)) << error;
    MaskInputs inputs;
    inputs.batch = c.batch;
    inputs.lq = c.lq;
    inputs.lk = c.lk;
    int64_t blocks = (c.lk + spec.block - 1) / spec.block;
    inputs.tables[tableName] = TableData{{c.batch, kvHeads, c.lk, blocks}, *table};
    Tensor selectedO = attend(*f.cpu, kernel, q, k, v, inputs, c.padded);
    MaskInputs plain = inputs;
    plain.tables.clear();
    // The branch kernels sattn-lower-estimators made next to the kernel.
    ASSERT_EQ(spec.compressedKernel, "nsa_gqa_compressed");
    ASSERT_EQ(spec.slidingKernel, "nsa_gqa_sliding");
    Tensor slidingO = attend(*f.cpu, f.kernel(spec.slidingKernel), q, k, v, plain, c.padded);
    Tensor compressedO =
        attend(*f.cpu, f.kernel(spec.compressedKernel), q, ck, cv, plain, c.padded);

    std::vector<double> ref(c.batch * heads * c.lq * dim);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t g = 0; g < kvHeads; ++g) {
        std::vector<const float *> groupGates;
        for (int64_t h = g * group; h < (g + 1) * group; ++h)
          groupGates.push_back(gates.data() + (b * heads + h) * c.lq * 3);
        estimate::NsaOutput out = nsaReference(q, k, v, b, g, group, groupGates,
                                               kernel.getScale().convertToDouble(), spec);
        ASSERT_FALSE(out.out.empty());
        std::copy(out.out.begin(), out.out.end(), ref.begin() + (b * heads + g * group) * c.lq * dim);
      }
    // A row without a compressed block gets 0 from that branch, as the
    // reference's.
    Tensor mixed({c.batch, heads, c.lq, dim}, c.padded);
    mixed.forEach([&](llvm::ArrayRef<int64_t> idx) {
      const float *g = gates.data() + ((idx[0] * heads + idx[1]) * c.lq + idx[2]) * 3;
      mixed.at(idx) = g[0] * compressedO.at(idx) + g[1] * selectedO.at(idx) +
                      g[2] * slidingO.at(idx);
    });
    EXPECT_LT(relativeError(mixed, ref), 1e-5);
  }
}

/// A caller's compression (NSA's learned compression MLP, or any other):
/// compressed keys given to the estimator in place of the block means
/// (CpuAttention::runEstimator's `weights`, the runtime's
/// sattn_estimator_run_weighted) select the blocks the reference selects
/// from the same compressed keys and values, and the selected branch on
/// that table equals the reference's. Random compressed keys share no
/// structure with the means, so the selection differs from the means'.
TEST(CompiledNsa, CallersCompressionSelectsAsTheReference) {
  LoweredKernels &f = fixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(2027);
  CaseCounts total;
  for (const Case &c : {Case{"nsa_gqa", 2, 37, 101, true, false},
                        Case{"nsa_mqa", 1, 90, 90, false, false},
                        Case{"nsa_g8", 1, 150, 200, false, false}}) {
    CaseCounts counts = checkCase(*f.cpu, f.kernel(c.kernel), c, rng, /*callersCompression=*/true);
    total.selected += counts.selected;
    total.differingFromMeans += counts.differingFromMeans;
  }
  EXPECT_GT(total.selected, 0);
  EXPECT_GT(total.differingFromMeans, 0) << "the caller's compressed keys changed no selection";
}

/// Compressed keys of the wrong shape, or weights for an estimator that
/// takes none, are refused with a message, not read.
TEST(CompiledNsa, CallersCompressionOfTheWrongShapeIsRefused) {
  LoweredKernels &f = fixture();
  ASSERT_TRUE(f.cpu) << f.error;
  std::mt19937 rng(5);
  Tensor q({1, 4, 40, 64}, false), k({1, 2, 40, 64}, false);
  q.fillRandom(rng, -1, 1);
  k.fillRandom(rng, -1, 1);
  // nsa_gqa: compress (8, 4) over 40 keys: 9 blocks.
  Tensor wrong({1, 2, 8, 64}, false);
  std::string error, tableName;
  auto table = f.cpu->runEstimator("nsa_gqa", q.view, k.view, tableName, error, &wrong.view);
  EXPECT_TRUE(mlir::failed(table));
  EXPECT_NE(error.find("compressed keys"), std::string::npos) << error;
}

TEST(CompiledNsa, ExampleKernelMatchesReference) {
  // examples/dynamic.sattn's nsa (64 / 4 heads, head_dim 128, compress (32,
  // 16), select (64, 16), local 2), from the spec file, at a small shape.
  mlir::OwningOpRef<mlir::ModuleOp> single = dynamicExample(*fixture().context, "nsa");
  ASSERT_TRUE(single) << "no nsa in examples/dynamic.sattn";
  std::string error;
  auto cpu = compileForEstimatorTests(*single, error);
  ASSERT_TRUE(mlir::succeeded(cpu)) << error;
  std::mt19937 rng(11);
  EXPECT_GT(checkCase(*cpu, *single->getOps<KernelOp>().begin(),
                      Case{"nsa", 1, 64, 1200, false, false}, rng)
                .selected,
            0);
}

} // namespace
