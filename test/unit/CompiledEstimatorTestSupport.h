//===- CompiledEstimatorTestSupport.h - compiled estimator tests -*- C++ -*-===//
//
// CompiledEstimatorTest, CompiledGateTest, CompiledNsaTest and
// CompiledTensorLogitsTest parse modules of kernels with dynamic masks (or
// take one of examples/dynamic.sattn), lower their estimators
// (sattn-lower-estimators), JIT them for the CPU (exact or in the
// tensor-core form), optionally stopping the estimators after some launches
// to read their scores, slice Q and K for the reference estimators, build
// a slice's reference table (nsa: a GQA group's reference and its
// selection as table rows), and compare causal block pairs of a table with
// a reference bit for bit. One copy of each here.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_COMPILEDESTIMATORTESTSUPPORT_H
#define SATTN_TEST_UNIT_COMPILEDESTIMATORTESTSUPPORT_H

#include "CpuAttentionTestSupport.h"
#include "TilePlanTestSupport.h"

#include "sattn/Core/Estimators.h"
#include "sattn/Core/Nsa.h"
#include "sattn/Plan/EstimatorSpec.h"
#include "sattn/InitAll.h"

#include "SparseAttn/Transforms/Passes.h"

#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstring>
#include <optional>

namespace sattn::cpu_attention_test {

/// `module` JIT-compiled for the CPU as these tests run it (16 x 16 tiles);
/// `launches` >= 0 stops the estimators after that many launches; `tensor`
/// builds the estimators in their tensor-core form (f32 logits).
inline mlir::FailureOr<CpuAttention> compileForEstimatorTests(mlir::ModuleOp module,
                                                              std::string &error,
                                                              int64_t launches = -1,
                                                              bool tensor = false) {
  CpuAttentionOptions options;
  options.blockM = options.blockN = 16;
  options.optLevel = kOptLevel;
  options.estimatorLaunches = launches;
  options.tensorEstimators = tensor;
  return CpuAttention::compile(module, options, error);
}

/// The kernels of `source`, lowered (estimated tables in place) for the
/// tests to read, and compiled for the CPU (16 x 16 tiles) from the
/// unlowered module; `launches` >= 0 stops the estimators after that many
/// launches.
struct LoweredKernels {
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module, lowered;
  std::optional<CpuAttention> cpu;
  std::string error;

  LoweredKernels(const char *source, int64_t launches, bool tensor = false) {
    registerAllDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(source, context.get());
    if (!module)
      return;
    lowered = module->clone();
    mlir::PassManager pm(context.get(), mlir::ModuleOp::getOperationName());
    pm.addPass(createLowerEstimators());
    if (mlir::failed(pm.run(*lowered))) {
      error = "sattn-lower-estimators failed";
      return;
    }
    auto compiled = compileForEstimatorTests(*module, error, launches, tensor);
    if (mlir::succeeded(compiled))
      cpu.emplace(std::move(*compiled));
  }
  KernelOp kernel(llvm::StringRef name) {
    for (KernelOp k : lowered->getOps<KernelOp>())
      if (k.getSymName() == name)
        return k;
    return nullptr;
  }
};

/// examples/dynamic.sattn's kernel `name`, lowered, alone in a module, from
/// the spec file; null when the file has no such kernel.
inline mlir::OwningOpRef<mlir::ModuleOp> dynamicExample(mlir::MLIRContext &context,
                                                         llvm::StringRef name) {
  mlir::OwningOpRef<mlir::ModuleOp> lowered = tile_plan_test::loweredDynamicExamples(context);
  if (!lowered)
    return nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> single = mlir::ModuleOp::create(lowered->getLoc());
  for (KernelOp kernel : lowered->getOps<KernelOp>())
    if (kernel.getSymName() == name)
      single->push_back(kernel->clone());
  if (single->getOps<KernelOp>().empty())
    return nullptr;
  return single;
}

/// Slice (b, h) of a [B, H, L, D] tensor, as the reference estimators read it.
inline estimate::Rows sliceRows(const Tensor &t, int64_t b, int64_t h) {
  const CpuTensor &v = t.view;
  return {v.data + b * v.strides[0] + h * v.strides[1], v.sizes[2], v.sizes[3], v.strides[2]};
}

/// The reference table of (b, h) from the same tensors: the block table
/// (block_topk), the kept columns then the kept diagonals (vertical_slash),
/// or the kept keys of each unit (stripe).
inline std::vector<uint8_t> referenceEntries(const Tensor &q, const Tensor &k, int64_t b, int64_t h,
                                      int64_t kvh, double scale,
                                      const plan::EstimatorSpec &spec) {
  estimate::Rows qr = sliceRows(q, b, h), kr = sliceRows(k, b, kvh);
  std::string error;
  if (spec.isStripe()) {
    estimate::StripeSelection sel =
        estimate::stripe(qr, kr, scale, {spec.group, spec.block, spec.step, spec.theta}, error);
    EXPECT_TRUE(error.empty()) << error;
    return sel.kept;
  }
  if (spec.isLines()) {
    estimate::VerticalSlashParams p;
    p.vertical = spec.vertical;
    p.slash = spec.slash;
    p.lastQ = spec.lastQ;
    p.forcedVertical = spec.forcedVertical;
    p.forcedSlash = spec.forcedSlash;
    estimate::VerticalSlashIndices kept = estimate::verticalSlash(qr, kr, scale, p, error);
    EXPECT_TRUE(error.empty()) << error;
    std::vector<uint8_t> rows(2 * kr.rows, 0);
    for (int64_t c : kept.columns)
      rows[c] = 1;
    for (int64_t o : kept.offsets)
      rows[kr.rows + o] = 1;
    return rows;
  }
  estimate::BlockSelectParams p;
  p.scorer = spec.stride ? estimate::BlockScorer::Antidiagonal : estimate::BlockScorer::MeanPool;
  p.stride = spec.stride;
  p.block = spec.block;
  p.topK = spec.topK;
  p.tau = spec.tau;
  estimate::BlockSelection sel = estimate::selectBlocks(qr, kr, scale, p, error);
  EXPECT_TRUE(error.empty()) << error;
  return sel.kept;
}

/// nsa's reference parameters from a kernel's estimator record.
inline estimate::NsaParams nsaParamsOf(const plan::EstimatorSpec &spec) {
  estimate::NsaParams p;
  p.compressBlock = spec.compressBlock;
  p.compressStride = spec.compressStride;
  p.selectBlock = spec.block;
  p.selectCount = spec.selectCount;
  p.window = spec.window;
  p.localBlocks = spec.localBlocks;
  return p;
}

/// The reference NSA of group (b, g): query heads [g G, (g + 1) G) of q
/// with K and V's KV head g, query head h's gates at gates[h - g G] ([lq,
/// 3] each).
inline estimate::NsaOutput nsaReference(const Tensor &q, const Tensor &k, const Tensor &v,
                                        int64_t b, int64_t g, int64_t group,
                                        const std::vector<const float *> &gates, double scale,
                                        const plan::EstimatorSpec &spec,
                                        const Tensor *compressedK = nullptr,
                                        const Tensor *compressedV = nullptr) {
  estimate::NsaGroup in;
  for (int64_t h = g * group; h < (g + 1) * group; ++h)
    in.q.push_back(sliceRows(q, b, h));
  in.gates = gates;
  in.k = sliceRows(k, b, g);
  in.v = sliceRows(v, b, g);
  // A caller's compression: [B, KV, compressed blocks, D] keys and values.
  if (compressedK && compressedV) {
    in.compressedK = sliceRows(*compressedK, b, g);
    in.compressedV = sliceRows(*compressedV, b, g);
  }
  std::string error;
  estimate::NsaOutput out = estimate::nsa(in, scale, nsaParamsOf(spec), error);
  EXPECT_TRUE(error.empty()) << error;
  return out;
}

/// The selection of `ref` as a group's rows of the compiled table: [lk,
/// blocks] entries of 0 / 1, positions before the first query (lk - lq)
/// all 0.
inline std::vector<uint8_t> nsaSelectionRows(const estimate::NsaOutput &ref, int64_t lq,
                                             int64_t lk, int64_t selectCount) {
  int64_t blocks = ref.selectBlocks, shift = lk - lq;
  std::vector<uint8_t> rows(lk * blocks, 0);
  for (int64_t i = 0; i < lq && int64_t(ref.selected.size()) >= lq * selectCount; ++i)
    for (int64_t t = 0; t < selectCount; ++t)
      if (int64_t j = ref.selected[i * selectCount + t]; j >= 0)
        rows[(i + shift) * blocks + j] = 1;
  return rows;
}

/// Compares the causal block pairs (query blocks from `firstBlock`, key
/// blocks J <= I) of slice (b, h) of an (n x n)-per-slice table of f64 bits
/// with `ref` ([I * n + J]) bit for bit; counts them into `compared` and
/// reports the first mismatches.
inline void compareBlockBits(const std::vector<int64_t> &table, int64_t b, int64_t h,
                             int64_t heads, int64_t n, int64_t firstBlock,
                             const std::vector<double> &ref, int64_t &compared,
                             int64_t &mismatches) {
  for (int64_t i = firstBlock; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double got;
      std::memcpy(&got, &table[((b * heads + h) * n + i) * n + j], sizeof got);
      ++compared;
      if (std::memcmp(&got, &ref[i * n + j], sizeof got) != 0 && ++mismatches <= 5)
        ADD_FAILURE() << "b=" << b << " h=" << h << " block (" << i << ", " << j << "): " << got
                      << ", reference " << ref[i * n + j];
    }
}

} // namespace sattn::cpu_attention_test

#endif // SATTN_TEST_UNIT_COMPILEDESTIMATORTESTSUPPORT_H
