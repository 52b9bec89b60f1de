//===- CpuAttention.cpp - JIT-compiled CPU reference attention ------------===//
//
// Implements sattn/ExecutionEngine/CpuAttention.h: lowering a module through
// sattn-cpu-pipeline, JIT-compiling it with mlir::ExecutionEngine, and the
// argument checks that make the generated code safe to call. The generated
// code trusts its arguments (like the GPU kernels it mirrors), so
// everything it indexes with is validated here first.
//
//===----------------------------------------------------------------------===//

#include "sattn/ExecutionEngine/CpuAttention.h"

#include "CpuAttentionImpl.h"

#include "sattn/Conversion/DevicePlan.h"
#include "sattn/Conversion/MaskToArith.h"
#include "sattn/Conversion/SparseAttnToCPU.h"
#include "sattn/Pipelines/Pipelines.h"
#include "sattn/Plan/EstimatorSpec.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <mutex>

using namespace mlir;
using namespace sattn;
using namespace sattn::cpuexec;

CpuTensor CpuTensor::contiguous(float *data, ArrayRef<int64_t> sizes) {
  CpuTensor t;
  t.data = data;
  t.sizes.assign(sizes.begin(), sizes.end());
  t.strides.resize(sizes.size());
  int64_t stride = 1;
  for (int64_t i = static_cast<int64_t>(sizes.size()) - 1; i >= 0; --i) {
    t.strides[i] = stride;
    stride *= sizes[i];
  }
  return t;
}

namespace {

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, v] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(v);
  return s + "]";
}

/// Initialises LLVM's native target once per process.
void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

} // namespace

/// Expected shape of one table given this call's batch, heads and Lk.
SmallVector<int64_t, 3> cpuexec::tableShape(const TableInfo &t, int64_t batch,
                                   int64_t heads, int64_t lk) {
  SmallVector<int64_t, 3> shape;
  for (const TableDim &d : t.dims)
    shape.push_back(d.extentFor(heads, batch, lk));
  return shape;
}

LogicalResult cpuexec::tableDescriptors(
    const KernelInfo &kernel, const MaskInputs &inputs, int64_t batch,
    int64_t heads, int64_t lk,
    SmallVectorImpl<StridedMemRefType<int64_t, 1>> &descs, std::string &error) {
  for (const TableInfo &t : kernel.tables) {
    auto found = inputs.tables.find(t.name);
    if (found == inputs.tables.end()) {
      error = "table @" + t.name + " is missing from the mask inputs";
      return failure();
    }
    const TableData &data = found->second;
    SmallVector<int64_t, 3> shape = tableShape(t, batch, heads, lk);
    if (ArrayRef<int64_t>(data.shape) != ArrayRef<int64_t>(shape)) {
      error = "table @" + t.name + " has shape " + formatShape(data.shape) +
              ", expected " + formatShape(shape);
      return failure();
    }
    int64_t elements = 1;
    for (int64_t e : shape)
      elements *= e;
    if (static_cast<int64_t>(data.size()) != elements) {
      error = "table @" + t.name + " holds " + std::to_string(data.size()) +
              " values, expected " + std::to_string(elements);
      return failure();
    }
    descs.push_back(descriptor<int64_t, 1>(const_cast<int64_t *>(data.data()),
                                           {elements}, {1}));
  }
  return success();
}

CpuAttention::CpuAttention(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
CpuAttention::CpuAttention(CpuAttention &&) = default;
CpuAttention &CpuAttention::operator=(CpuAttention &&) = default;
CpuAttention::~CpuAttention() = default;

double CpuAttention::compileSeconds() const { return impl->seconds; }
const CpuAttentionOptions &CpuAttention::options() const {
  return impl->options;
}
SmallVector<std::string> CpuAttention::kernelNames() const {
  return impl->names;
}
double CpuAttention::compileSeconds(StringRef kernel) const {
  auto it = impl->kernels.find(kernel);
  return it == impl->kernels.end() ? 0.0 : it->second.seconds;
}

FailureOr<CpuAttention> CpuAttention::compile(ModuleOp module,
                                              const CpuAttentionOptions &options,
                                              std::string &error) {
  auto begin = std::chrono::steady_clock::now();
  if (options.blockM <= 0 || options.blockN <= 0 || options.optLevel > 3) {
    error = "block sizes must be positive and the optimisation level 0 to 3";
    return failure();
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  // Kernels with a dynamic pattern whose estimator is compiled read its
  // table from here on (sattn-lower-estimators), on a copy of the module.
  OwningOpRef<ModuleOp> source(module.clone());
  {
    std::string diagnostics;
    llvm::raw_string_ostream os(diagnostics);
    ScopedDiagnosticHandler handler(module.getContext(), [&](Diagnostic &d) {
      os << d.getLocation() << ": " << d << "\n";
      return success();
    });
    PassManager pm(module.getContext(), ModuleOp::getOperationName());
    pm.addPass(createLowerEstimators());
    if (failed(pm.run(*source))) {
      error = "lowering the estimators failed:\n" + diagnostics;
      return failure();
    }
  }

  for (KernelOp kernel : source->getOps<KernelOp>()) {
    KernelInfo info;
    info.name = kernel.getSymName().str();
    info.heads = kernel.getHeads();
    info.blockMax = kernel.getBlockMax();
    info.kvHeads = kernel.getKvHeads();
    info.headDim = kernel.getHeadDim();
    for (mask::TableOp table : cpu::kernelTables(kernel)) {
      TableInfo t;
      t.name = table.getSymName().str();
      for (Attribute dim : table.getDims()) {
        mask::TableDim parsed;
        StringRef text = cast<StringAttr>(dim).getValue();
        if (!mask::parseTableDim(text, parsed)) {
          error = "table @" + t.name + " has an invalid dimension '" +
                  text.str() + "'";
          return failure();
        }
        t.dims.push_back(parsed);
        t.dimTexts.push_back(text.str());
      }
      info.tables.push_back(std::move(t));
    }
    impl->names.push_back(info.name);
    impl->kernels[info.name] = std::move(info);
  }
  if (impl->kernels.empty()) {
    error = "the module holds no sattn.kernel";
    return failure();
  }

  // Each kernel is lowered and JIT-compiled on its own, so that a failure
  // names its kernel and compile time is known per kernel (about 0.1 s at
  // O2, nearly all of it LLVM's optimiser and code generator).
  MLIRContext *ctx = module.getContext();
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);
  initializeNativeTarget();
  for (KernelOp kernel : source->getOps<KernelOp>()) {
    auto kernelBegin = std::chrono::steady_clock::now();
    KernelInfo &info = impl->kernels[kernel.getSymName()];
    OwningOpRef<ModuleOp> lowered = ModuleOp::create(module.getLoc());
    lowered->push_back(kernel->clone());
    std::string diagnostics;
    {
      llvm::raw_string_ostream os(diagnostics);
      ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
        os << d.getLocation() << ": " << d << "\n";
        return success();
      });
      PassManager pm(ctx, ModuleOp::getOperationName());
      buildCpuPipeline(pm, options.blockM, options.blockN, options.devicePlans,
                       options.backward, options.estimatorLaunches,
                       options.devicePlanLists, options.tensorEstimators);
      if (failed(pm.run(*lowered))) {
        error = "lowering kernel '" + info.name +
                "' to the LLVM dialect failed:\n" + diagnostics;
        return failure();
      }
    }

    ExecutionEngineOptions engineOptions;
    auto transformer = makeOptimizingTransformer(options.optLevel,
                                                 /*sizeLevel=*/0,
                                                 /*targetMachine=*/nullptr);
    engineOptions.transformer = transformer;
    engineOptions.jitCodeGenOptLevel =
        static_cast<llvm::CodeGenOptLevel>(options.optLevel);
    engineOptions.enableGDBNotificationListener = false;
    engineOptions.enablePerfNotificationListener = false;
    auto engine = ExecutionEngine::create(*lowered, engineOptions);
    if (!engine) {
      error = "JIT compilation of kernel '" + info.name +
              "' failed: " + llvm::toString(engine.takeError());
      return failure();
    }
    (*engine)->initialize();
    // The lookup materialises (compiles) the code now, so that compile time
    // is paid and measured here rather than on the first run.
    auto lookup = [&](const std::string &function, void (*&out)(void **)) {
      std::string symbol = "_mlir_ciface_" + function;
      auto fn = (*engine)->lookupPacked(symbol);
      if (!fn) {
        error = "JIT lookup of " + symbol + " failed: " + llvm::toString(fn.takeError());
        return false;
      }
      out = *fn;
      return true;
    };
    if (!lookup(cpu::entryName(info.name), info.entry) ||
        (options.backward && !lookup(cpu::backwardEntryName(info.name), info.backwardEntry)))
      return failure();
    FailureOr<std::optional<plan::EstimatorSpec>> estimator = plan::readEstimator(kernel);
    if (failed(estimator)) {
      error = "kernel '" + info.name + "' has a malformed estimator attribute";
      return failure();
    }
    if (*estimator) {
      if (!lookup(cpu::estimatorEntryName(info.name), info.estimatorEntry))
        return failure();
      info.estimator = **estimator;
    }
    if (options.devicePlans) {
      if (!lookup(cpu::planEntryName(info.name), info.planEntry))
        return failure();
      FailureOr<ExpandedKernel> copy = expandKernelCopy(kernel);
      if (failed(copy)) {
        error = "expanding the mask of kernel '" + info.name + "' failed";
        return failure();
      }
      deviceplan::ClassAxes axes = deviceplan::classAxes(
          copy->kernel().getBody().front().getTerminator()->getOperand(0));
      info.classByBatch = axes.batch;
      info.classByHead = axes.head;
      // The CPU kernel reads every segment kind, so its plans may list columns.
      info.listKeys = deviceplan::listKeyCapacity(copy->kernel(), options.devicePlanLists);
      info.listUnitRows = deviceplan::listUnitRows(copy->kernel());
    }
    info.engine = std::move(*engine);
    info.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - kernelBegin)
                       .count();
  }
  impl->seconds = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - begin)
                      .count();
  return CpuAttention(std::move(impl));
}

LogicalResult CpuAttention::run(StringRef name, const CpuAttentionArgs &args,
                                const plan::TilePlan &plan,
                                const MaskInputs &inputs,
                                std::string &error) const {
  if (plan.blockM != impl->options.blockM ||
      plan.blockN != impl->options.blockN) {
    error = "plan tile sizes " + std::to_string(plan.blockM) + "x" +
            std::to_string(plan.blockN) + " differ from the compiled " +
            std::to_string(impl->options.blockM) + "x" +
            std::to_string(impl->options.blockN);
    return failure();
  }
  if (plan.lq != inputs.lq || plan.lk != inputs.lk ||
      plan.batch != inputs.batch) {
    error = "plan was built for other lengths or batch than the inputs";
    return failure();
  }
  return run(name, args, plan.flatten(), inputs, error);
}

LogicalResult CpuAttention::run(StringRef name, const CpuAttentionArgs &args,
                                const plan::FlatPlan &plan,
                                const MaskInputs &inputs,
                                std::string &error) const {
  FailureOr<const cpuexec::KernelInfo *> kernelOr =
      cpuexec::findKernel(*impl, name, error);
  if (failed(kernelOr))
    return failure();
  const KernelInfo &kernel = **kernelOr;
  cpuexec::CallShape shape;
  SmallVector<StridedMemRefType<int64_t, 1>> tableDescs;
  if (failed(cpuexec::checkCall(*impl, kernel, args, plan, inputs, shape,
                                tableDescs, error)))
    return failure();
  std::vector<float> lseScratch;
  CpuTensor lse = args.lse;
  if (!lse.data) {
    lseScratch.resize(std::max<int64_t>(1, shape.batch * shape.heads * shape.lq));
    lse = CpuTensor::contiguous(lseScratch.data(), {shape.batch, shape.heads, shape.lq});
  } else if (failed(checkTensor("lse", lse, {shape.batch, shape.heads, shape.lq}, error))) {
    return failure();
  }

  auto tensor4 = [](const CpuTensor &t) {
    return descriptor<float, 4>(t.data, t.sizes, t.strides);
  };
  auto q = tensor4(args.q), k = tensor4(args.k), v = tensor4(args.v),
       o = tensor4(args.o);
  auto l = descriptor<float, 3>(lse.data, lse.sizes, lse.strides);
  cpuexec::PlanDescriptors planDescs(plan);
  SmallVector<void *> pointers{&q, &k, &v, &o, &l};
  planDescs.append(pointers);
  if (!kernel.blockMax) {
    if (args.rowMax.data || args.blockMax.data) {
      error = "kernel '" + name.str() + "' was compiled without block_max";
      return failure();
    }
    cpuexec::invoke(kernel.entry, pointers, tableDescs);
    return success();
  }
  // Block maxima: row_max (B, H, N, Lq) and block_max (B, H, T, N) follow
  // the tables.
  int64_t tiles = (shape.lk + impl->options.blockN - 1) / impl->options.blockN;
  int64_t queryTiles = plan.numQueryTiles;
  if (failed(checkTensor("row_max", args.rowMax,
                         {shape.batch, shape.heads, tiles, shape.lq}, error)) ||
      failed(checkTensor("block_max", args.blockMax,
                         {shape.batch, shape.heads, queryTiles, tiles}, error)))
    return failure();
  auto rowMax = tensor4(args.rowMax), blockMax = tensor4(args.blockMax);
  cpuexec::invoke(kernel.entry, pointers, tableDescs, {&rowMax, &blockMax});
  return success();
}
