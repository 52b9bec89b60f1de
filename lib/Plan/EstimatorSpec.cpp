//===- EstimatorSpec.cpp - the sattn.estimator kernel attribute -----------===//
//
// Reads and writes `sattn.estimator` (sattn/Plan/EstimatorSpec.h). Reading
// checks every field, since the attribute can come from hand-written IR
// given to sparse-opt: a bad one is a diagnostic, never a wrong estimator.
//
//===----------------------------------------------------------------------===//

#include "sattn/Plan/EstimatorSpec.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"

#include <cmath>

using namespace mlir;
using namespace sattn;
using namespace sattn::plan;

FailureOr<EstimatorSpec>
plan::parseEstimator(Attribute raw, function_ref<InFlightDiagnostic()> emitError) {
  auto fail = [&](const Twine &why) -> FailureOr<EstimatorSpec> {
    return emitError() << "'" << kEstimatorAttrName << "' " << why;
  };
  auto dict = dyn_cast<DictionaryAttr>(raw);
  if (!dict)
    return fail("must be a dictionary");
  EstimatorSpec spec;
  auto str = [&](StringRef key, std::string &out) {
    auto a = dict.getAs<StringAttr>(key);
    if (a)
      out = a.getValue().str();
    return bool(a);
  };
  auto integer = [&](StringRef key, int64_t &out) {
    auto a = dict.getAs<IntegerAttr>(key);
    if (a)
      out = a.getInt();
    return bool(a);
  };
  auto real = [&](StringRef key, double &out) {
    auto a = dict.getAs<FloatAttr>(key);
    if (a)
      out = a.getValueAsDouble();
    return bool(a);
  };
  if (!str("kind", spec.kind) || !str("table", spec.table) || !integer("block", spec.block))
    return fail("needs kind and table (strings) and block (an integer)");
  if (spec.block < 1 || spec.block > (int64_t(1) << 30))
    return fail("has block " + Twine(spec.block) + ", not in [1, 2^30]");
  std::string logits;
  if (str("logits", logits)) {
    if (logits != "tensor" && logits != "exact")
      return fail("has logits '" + logits + "', not 'tensor' or 'exact'");
    spec.tensorLogits = logits == "tensor";
  }
  if (spec.kind == "vertical_slash") {
    if (!integer("vertical", spec.vertical) || !integer("slash", spec.slash) ||
        !integer("forced_vertical", spec.forcedVertical) ||
        !integer("forced_slash", spec.forcedSlash) || !integer("last_q", spec.lastQ))
      return fail("of kind vertical_slash needs vertical, slash, forced_vertical, "
                  "forced_slash and last_q (integers)");
    if (spec.vertical < 0 || spec.slash < 0 || spec.forcedVertical < 0 ||
        spec.forcedSlash < 0 || spec.forcedVertical > spec.vertical ||
        spec.forcedSlash > spec.slash || spec.lastQ < 1 || spec.lastQ > 4096)
      return fail("needs 0 <= forced <= kept counts and 1 <= last_q <= 4096");
    return spec;
  }
  if (spec.kind == "stripe") {
    if (!integer("group", spec.group) || !integer("step", spec.step) ||
        !real("theta", spec.theta))
      return fail("of kind stripe needs group and step (integers) and theta (a float)");
    int64_t unit = 0;
    if (spec.step < 1 || spec.step > (int64_t(1) << 30) ||
        __builtin_mul_overflow(spec.block, spec.step, &unit) || spec.group < 1 ||
        spec.group % unit != 0)
      return fail("needs a group that is a multiple of block x step (group " +
                  Twine(spec.group) + ", block " + Twine(spec.block) + ", step " +
                  Twine(spec.step) + ")");
    if (!(spec.theta > 0) || !std::isfinite(spec.theta))
      return fail("needs a finite theta > 0");
    return spec;
  }
  if (spec.kind == "gate") {
    if (!integer("hidden", spec.hidden) || !real("threshold", spec.threshold) ||
        !real("top_ratio", spec.topRatio) || !real("rope_base", spec.ropeBase))
      return fail("of kind gate needs hidden (an integer), threshold, top_ratio and "
                  "rope_base (floats)");
    if (spec.hidden < 2 || spec.hidden % 2 != 0 || spec.hidden > 4096)
      return fail("needs an even hidden size in [2, 4096], got " + Twine(spec.hidden));
    if ((spec.threshold > 0) == (spec.topRatio > 0) || spec.threshold < 0 ||
        spec.threshold >= 1 || spec.topRatio < 0 || spec.topRatio > 1)
      return fail("needs exactly one of threshold in (0, 1) and top_ratio in (0, 1]");
    if (!(spec.ropeBase > 1) || !std::isfinite(spec.ropeBase))
      return fail("needs a finite rope_base above 1");
    return spec;
  }
  if (spec.kind == "nsa") {
    if (!integer("compress_block", spec.compressBlock) ||
        !integer("compress_stride", spec.compressStride) ||
        !integer("select_count", spec.selectCount) || !integer("local", spec.localBlocks) ||
        !integer("window", spec.window) || !str("compressed_kernel", spec.compressedKernel))
      return fail("of kind nsa needs compress_block, compress_stride, select_count, local "
                  "and window (integers) and compressed_kernel (a string)");
    (void)str("sliding_kernel", spec.slidingKernel); // absent without a window
    if ((spec.window > 0) != !spec.slidingKernel.empty())
      return fail("needs sliding_kernel exactly when window > 0");
    constexpr int64_t kMax = int64_t(1) << 30;
    if (spec.compressStride < 1 || spec.compressStride > spec.compressBlock ||
        spec.compressBlock > kMax || spec.block % spec.compressStride != 0)
      return fail("needs 1 <= compress_stride <= compress_block <= 2^30 and a select block "
                  "that is a multiple of the stride (compress " + Twine(spec.compressBlock) +
                  " / " + Twine(spec.compressStride) + ", select block " + Twine(spec.block) +
                  ")");
    if (spec.localBlocks < 0 || spec.localBlocks + 1 > spec.selectCount ||
        spec.selectCount > kMax || spec.window < 0 || spec.window > kMax)
      return fail("needs 0 <= local < select_count <= 2^30 and 0 <= window <= 2^30");
    return spec;
  }
  if (!str("scorer", spec.scorer) || !integer("top_k", spec.topK) || !real("tau", spec.tau))
    return fail("of kind block_topk needs scorer (a string), top_k (an integer) and tau "
                "(a float)");
  (void)integer("stride", spec.stride); // optional: 0 for mean_pool
  if (spec.kind != "block_topk" ||
      (spec.scorer != "mean_pool" && spec.scorer != "antidiagonal"))
    return fail("names an estimator that is not compiled: kind '" + spec.kind +
                "', scorer '" + spec.scorer +
                "' (block_topk with mean_pool or antidiagonal, vertical_slash, stripe, gate and "
                "nsa are)");
  if (spec.scorer == "antidiagonal" ? spec.stride < 1 || spec.block % spec.stride != 0
                                    : spec.stride != 0)
    return fail("needs a stride that divides block for the antidiagonal scorer and none "
                "for mean_pool (stride " + Twine(spec.stride) + ", block " +
                Twine(spec.block) + ")");
  if ((spec.topK > 0) == (spec.tau > 0) || spec.topK < 0 || spec.tau < 0 ||
      spec.tau > 1)
    return fail("needs exactly one of top_k > 0 and tau in (0, 1]");
  return spec;
}

FailureOr<std::optional<EstimatorSpec>> plan::readEstimator(KernelOp kernel) {
  Attribute raw = kernel->getAttr(kEstimatorAttrName);
  if (!raw)
    return std::optional<EstimatorSpec>();
  FailureOr<EstimatorSpec> spec =
      parseEstimator(raw, [&] { return kernel.emitOpError(); });
  if (failed(spec))
    return failure();
  if (!isa_and_nonnull<mask::TableOp>(SymbolTable::lookupSymbolIn(kernel, spec->table)))
    return kernel.emitOpError() << "'" << kEstimatorAttrName << "' names table '"
                                << spec->table << "', which the kernel does not declare";
  return std::optional<EstimatorSpec>(*spec);
}

void plan::writeEstimator(KernelOp kernel, const EstimatorSpec &spec) {
  Builder b(kernel.getContext());
  SmallVector<NamedAttribute> fields{
      b.getNamedAttr("kind", b.getStringAttr(spec.kind)),
      b.getNamedAttr("block", b.getI64IntegerAttr(spec.block)),
      b.getNamedAttr("table", b.getStringAttr(spec.table))};
  auto integer = [&](StringRef key, int64_t v) {
    fields.push_back(b.getNamedAttr(key, b.getI64IntegerAttr(v)));
  };
  auto real = [&](StringRef key, double v) {
    fields.push_back(b.getNamedAttr(key, b.getF64FloatAttr(v)));
  };
  if (spec.isNsa()) {
    integer("compress_block", spec.compressBlock);
    integer("compress_stride", spec.compressStride);
    integer("select_count", spec.selectCount);
    integer("local", spec.localBlocks);
    integer("window", spec.window);
    fields.push_back(
        b.getNamedAttr("compressed_kernel", b.getStringAttr(spec.compressedKernel)));
    if (!spec.slidingKernel.empty())
      fields.push_back(b.getNamedAttr("sliding_kernel", b.getStringAttr(spec.slidingKernel)));
  } else if (spec.isGate()) {
    integer("hidden", spec.hidden);
    real("threshold", spec.threshold);
    real("top_ratio", spec.topRatio);
    real("rope_base", spec.ropeBase);
  } else if (spec.isStripe()) {
    integer("group", spec.group);
    integer("step", spec.step);
    real("theta", spec.theta);
  } else if (spec.isLines()) {
    integer("vertical", spec.vertical);
    integer("slash", spec.slash);
    integer("forced_vertical", spec.forcedVertical);
    integer("forced_slash", spec.forcedSlash);
    integer("last_q", spec.lastQ);
  } else {
    fields.push_back(b.getNamedAttr("scorer", b.getStringAttr(spec.scorer)));
    integer("top_k", spec.topK);
    real("tau", spec.tau);
    integer("stride", spec.stride);
  }
  kernel->setAttr(kEstimatorAttrName, b.getDictionaryAttr(fields));
}
