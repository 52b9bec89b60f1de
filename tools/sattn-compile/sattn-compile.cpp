//===- sattn-compile.cpp - the sattn spec compiler driver -----------------===//
//
// Reads a .sattn spec (a file or `-` for stdin), checks it, and prints either
// a short summary of every kernel with its tile plan at a reference length
// (default), the verified MLIR module (`--emit=mlir`, parseable by
// sparse-opt), the spec in canonical form with every default spelled out
// (`--emit=spec`), the tile map of a plan as text and optionally PNG
// (`--emit=tilemap`), or the compiled mask program as JSON
// (`--emit=mask-program`, what python/sattn evaluates). Exit status: 0 on
// success, 1 when the spec is wrong (diagnostics in `file:line:col: error:`
// form), 2 on an internal compiler error.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/MaskEvaluator.h"
#include "sattn/Artifacts/Manifest.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TileMap.h"
#include "sattn/Plan/TilePlan.h"
#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Spec/Summary.h"
#include "sattn/Target/PTX.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

namespace cl = llvm::cl;
using namespace sattn::spec;

namespace {
enum class EmitKind { Summary, Mlir, Spec, TileMap, MaskProgram, Ptx };

enum ExitCode { ExitSuccess = 0, ExitInputError = 1, ExitInternalError = 2 };
} // namespace

static cl::OptionCategory category("sattn-compile options");

static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<spec.sattn>"),
                                          cl::init("-"), cl::cat(category));

static cl::opt<EmitKind> emitKind(
    "emit", cl::desc("What to print"), cl::init(EmitKind::Summary),
    cl::values(clEnumValN(EmitKind::Summary, "summary",
                          "a short summary of each kernel (default)"),
               clEnumValN(EmitKind::Mlir, "mlir", "the sattn/mask MLIR module"),
               clEnumValN(EmitKind::Spec, "spec",
                          "the spec in canonical form (defaults spelled "
                          "out)"),
               clEnumValN(EmitKind::TileMap, "tilemap",
                          "the tile plan for --lq/--lk as text (and --png)"),
               clEnumValN(EmitKind::MaskProgram, "mask-program",
                          "the compiled mask program as JSON, one line per "
                          "kernel"),
               clEnumValN(EmitKind::Ptx, "ptx",
                          "GPU artifacts into the directory -o: NAME.ptx, "
                          "NAME.json (manifest) and NAME.cubin when ptxas is "
                          "found")),
    cl::cat(category));

static cl::opt<std::string> kernelName("kernel",
                                       cl::desc("Only this kernel of the file"),
                                       cl::value_desc("name"), cl::init(""),
                                       cl::cat(category));

static cl::opt<std::string> outputFilename("o", cl::desc("Output file"),
                                           cl::value_desc("file"),
                                           cl::init("-"), cl::cat(category));

static cl::opt<int64_t> lengthOpt(
    "length", cl::desc("Reference sequence length for the summary's plan and "
                       "the default of --lq/--lk"),
    cl::init(32768), cl::cat(category));
static cl::opt<int64_t> lqOpt("lq", cl::desc("Query length for --emit=tilemap"),
                              cl::init(0), cl::cat(category));
static cl::opt<int64_t> lkOpt("lk", cl::desc("Key length for --emit=tilemap"),
                              cl::init(0), cl::cat(category));
static cl::opt<int64_t> headOpt("head", cl::desc("Head drawn by --emit=tilemap"),
                                cl::init(0), cl::cat(category));
static cl::opt<std::string> tileOpt("tile",
                                    cl::desc("Tile sizes BMxBN for planning"),
                                    cl::value_desc("BMxBN"), cl::init("128x128"),
                                    cl::cat(category));
static cl::opt<std::string> pngOpt(
    "png", cl::desc("With --emit=tilemap: also write the map as a PNG (one "
                    "file per kernel: NAME is inserted before .png when the "
                    "spec has several kernels)"),
    cl::value_desc("file.png"), cl::init(""), cl::cat(category));

static cl::opt<std::string> targetOpt("target",
                                      cl::desc("GPU target for --emit=ptx"),
                                      cl::value_desc("sm_80|sm_90|sm_90a"),
                                      cl::init("sm_90"), cl::cat(category));
static cl::opt<int64_t> warpsOpt("warps",
                                 cl::desc("Warps per block (0: chosen)"),
                                 cl::init(0), cl::cat(category));
static cl::opt<int64_t> stagesOpt("stages",
                                  cl::desc("KV tiles in flight (0: chosen)"),
                                  cl::init(0), cl::cat(category));

/// Writes `text` to `path`; false (with a message) on failure.
static bool writeFile(const std::string &path, llvm::StringRef text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (!ec)
    os << text;
  if (ec || os.has_error()) {
    llvm::errs() << "sattn-compile: error: cannot write '" << path
                 << "': " << ec.message() << "\n";
    return false;
  }
  return true;
}

/// --emit=ptx: PTX, manifest and (with ptxas) cubin per static kernel, and
/// a line per kernel with the launch configuration and ptxas's report.
static int emitGpuArtifacts(mlir::ModuleOp module, const std::string &dir,
                            const sattn::plan::PlanOptions &tile,
                            bool tileGiven) {
  if (dir == "-") {
    llvm::errs() << "sattn-compile: error: --emit=ptx writes files: give the "
                    "output directory with -o DIR\n";
    return ExitInputError;
  }
  if (auto ec = llvm::sys::fs::create_directories(dir)) {
    llvm::errs() << "sattn-compile: error: cannot create '" << dir
                 << "': " << ec.message() << "\n";
    return ExitInputError;
  }
  // Dynamic kernels need their estimator, which has no GPU lowering yet.
  for (sattn::KernelOp k :
       llvm::make_early_inc_range(module.getOps<sattn::KernelOp>())) {
    mlir::ScopedDiagnosticHandler quiet(
        k.getContext(), [](mlir::Diagnostic &) { return mlir::success(); });
    if (mlir::failed(sattn::plan::TilePlanner::build(k))) {
      llvm::outs() << k.getSymName()
                   << ": skipped (dynamic pattern: needs its estimator)\n";
      k.erase();
    }
  }
  sattn::target::GPUOptions options;
  options.chip = targetOpt;
  if (tileGiven) {
    options.blockM = tile.blockM;
    options.blockN = tile.blockN;
  }
  options.warps = warpsOpt;
  options.stages = stagesOpt;
  auto start = std::chrono::steady_clock::now();
  auto kernels = sattn::target::compileKernelsToPTX(module, options);
  if (mlir::failed(kernels))
    return ExitInputError; // diagnostics name the problem
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  std::optional<std::string> ptxas = sattn::target::findPtxas();
  for (const sattn::target::CompiledKernel &ck : *kernels) {
    sattn::KernelOp kernel;
    for (sattn::KernelOp k : module.getOps<sattn::KernelOp>())
      if (k.getSymName() == ck.launch.kernelName)
        kernel = k;
    auto manifest = sattn::writeManifest(kernel, ck.launch, targetOpt);
    if (mlir::failed(manifest))
      return ExitInternalError;
    std::string base = dir + "/" + ck.launch.kernelName;
    if (!writeFile(base + ".ptx", ck.ptx) ||
        !writeFile(base + ".json", *manifest))
      return ExitInputError;
    llvm::outs() << ck.launch.kernelName << ": " << ck.launch.blockM << "x"
                 << ck.launch.blockN << " tiles, " << ck.launch.warps
                 << " warps, " << ck.launch.stages << " stages, "
                 << ck.launch.dynamicSharedMemoryBytes
                 << " B shared memory -> " << base << ".{ptx,json}";
    if (!ptxas) {
      llvm::outs() << "; no ptxas found, so no cubin (the driver JIT-compiles "
                      "the PTX at load)\n";
      continue;
    }
    std::string cubin = base + ".cubin", log = base + ".ptxas.log";
    std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                  llvm::StringRef(log)};
    llvm::StringRef arch = targetOpt;
    std::string archFlag = "-arch=" + arch.str();
    int rc = llvm::sys::ExecuteAndWait(
        *ptxas, {*ptxas, archFlag, "-v", base + ".ptx", "-o", cubin},
        std::nullopt, redirects);
    auto logText = llvm::MemoryBuffer::getFile(log);
    if (rc != 0 || !logText) {
      llvm::outs() << "\n";
      llvm::errs() << "sattn-compile: error: ptxas failed on " << base
                   << ".ptx (log: " << log << ")\n";
      return ExitInternalError;
    }
    for (const auto &f : sattn::target::parsePtxasLog((*logText)->getBuffer()))
      llvm::outs() << ", .cubin: " << f.registers << " registers, "
                   << f.spillStoreBytes << "/" << f.spillLoadBytes
                   << " B spilled";
    llvm::outs() << "\n";
    llvm::sys::fs::remove(log);
  }
  llvm::outs() << "compiled " << kernels->size() << " kernel(s) for "
               << targetOpt << " in " << llvm::format("%.2f", seconds)
               << " s\n";
  return ExitSuccess;
}

/// Parses "BMxBN".
static bool parseTile(llvm::StringRef text, sattn::plan::PlanOptions &opts) {
  auto [m, n] = text.split('x');
  return !m.getAsInteger(10, opts.blockM) && !n.getAsInteger(10, opts.blockN) &&
         opts.blockM > 0 && opts.blockN > 0 && opts.blockM <= 4096 &&
         opts.blockN <= 4096;
}

/// Appends the kernel's plan at the reference length to its summary.
static void printPlanSummary(sattn::KernelOp kernel,
                             const sattn::plan::PlanOptions &opts,
                             int64_t length, llvm::raw_ostream &os) {
  // Dynamic masks cannot be planned ahead; say so in the summary instead of
  // printing the planner's diagnostic.
  mlir::ScopedDiagnosticHandler quiet(kernel.getContext(),
                                      [](mlir::Diagnostic &) { return mlir::success(); });
  auto planner = sattn::plan::TilePlanner::build(kernel, opts);
  if (mlir::failed(planner)) {
    os << "  plan:      none (dynamic patterns are planned from their "
          "estimator at run time)\n";
    return;
  }
  sattn::MaskInputs in = sattn::plan::zeroTableInputs(kernel, length, length);
  std::string error;
  auto start = std::chrono::steady_clock::now();
  auto plan = planner->plan(in, error);
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
  if (mlir::failed(plan)) {
    os << "  plan:      failed: " << error << "\n";
    return;
  }
  sattn::plan::PlanStats st = plan->stats();
  double visited = st.visitedTiles(), dense = st.denseTiles;
  os << "  plan:      L = " << length << ", " << opts.blockM << "x"
     << opts.blockN << " tiles" << (kernel.getBody().front().getOps<sattn::mask::TableOp>().empty()
                                         ? ""
                                         : ", tables all zero")
     << ": visits " << st.visitedTiles() << " of " << st.denseTiles << " ("
     << llvm::format("%.2f", 100.0 * visited / dense) << "%), "
     << st.fullTiles << " full, " << st.partialTiles << " partial, "
     << st.gatherTiles << " gathered; " << plan->numClasses()
     << " head class(es); built in " << llvm::format("%.2f", ms) << " ms\n";
  os << "  estimate:  " << llvm::format("%.1f", visited > 0 ? dense / visited : 0.0)
     << "x fewer tiles than dense attention\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  // --mlir-print-debuginfo and friends apply to --emit=mlir; tests use it
  // to check that every op carries its spec location.
  mlir::registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv, "sattn-compile: sparse-attention spec compiler\n");

  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &errorMessage);
  if (!input) {
    llvm::errs() << "sattn-compile: error: " << errorMessage << "\n";
    return ExitInputError;
  }

  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());

  mlir::DialectRegistry registry;
  sattn::registerAllDialects(registry);
  sattn::target::registerGPUCompilationDialects(registry);
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);

  SpecCompilation compilation =
      compileSpec(sourceMgr, context, llvm::errs(), kernelName);
  if (compilation.status == SpecStatus::InternalError)
    return ExitInternalError;
  if (compilation.status != SpecStatus::Success)
    return ExitInputError;

  sattn::plan::PlanOptions planOptions;
  if (!parseTile(tileOpt, planOptions)) {
    llvm::errs() << "sattn-compile: error: --tile expects BMxBN with sizes in "
                    "[1, 4096], got '"
                 << tileOpt << "'\n";
    return ExitInputError;
  }
  if (emitKind == EmitKind::Ptx)
    return emitGpuArtifacts(*compilation.module, outputFilename, planOptions,
                            tileOpt.getNumOccurrences() > 0);

  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << "sattn-compile: error: " << errorMessage << "\n";
    return ExitInputError;
  }

  if (lengthOpt <= 0 || lqOpt < 0 || lkOpt < 0) {
    llvm::errs() << "sattn-compile: error: lengths must be positive\n";
    return ExitInputError;
  }
  auto kernels = llvm::to_vector(compilation.module->getOps<sattn::KernelOp>());

  if (emitKind == EmitKind::Mlir) {
    compilation.module->print(output->os());
    output->os() << "\n";
  } else if (emitKind == EmitKind::MaskProgram) {
    for (sattn::KernelOp kernel : kernels) {
      auto evaluator = sattn::MaskEvaluator::build(kernel);
      if (mlir::failed(evaluator))
        return ExitInputError; // the diagnostic names the dynamic pattern
      output->os() << evaluator->toJSON() << "\n";
    }
  } else if (emitKind == EmitKind::TileMap) {
    int64_t lk = lkOpt ? lkOpt : (lqOpt ? lqOpt : lengthOpt);
    int64_t lq = lqOpt ? lqOpt : lk;
    if (lq > lk) {
      llvm::errs() << "sattn-compile: error: --lq (" << lq
                   << ") must not exceed --lk (" << lk << ")\n";
      return ExitInputError;
    }
    for (sattn::KernelOp kernel : kernels) {
      if (headOpt < 0 || headOpt >= (int64_t)kernel.getHeads()) {
        llvm::errs() << "sattn-compile: error: --head " << headOpt
                     << " is out of range: kernel " << kernel.getSymName()
                     << " has " << kernel.getHeads() << " heads\n";
        return ExitInputError;
      }
      auto planner = sattn::plan::TilePlanner::build(kernel, planOptions);
      if (mlir::failed(planner))
        return ExitInputError;
      std::string error;
      auto plan = planner->plan(sattn::plan::zeroTableInputs(kernel, lq, lk), error);
      if (mlir::failed(plan)) {
        llvm::errs() << "sattn-compile: error: " << error << "\n";
        return ExitInputError;
      }
      output->os() << "kernel " << kernel.getSymName() << "\n"
                   << sattn::plan::renderTileMapText(*plan, 0, headOpt);
      if (!pngOpt.empty()) {
        std::string path = pngOpt;
        if (kernels.size() > 1) {
          llvm::StringRef base(pngOpt);
          base.consume_back(".png");
          path = (base + "-" + kernel.getSymName() + ".png").str();
        }
        if (!sattn::plan::writeTileMapPng(*plan, 0, headOpt, path, error)) {
          llvm::errs() << "sattn-compile: error: " << error << "\n";
          return ExitInputError;
        }
      }
    }
  } else {
    bool first = true;
    for (const auto &kernel : compilation.ast->kernels) {
      if (!kernelName.empty() && kernel->name != kernelName)
        continue;
      if (!first)
        output->os() << "\n";
      first = false;
      if (emitKind == EmitKind::Spec) {
        printKernelSpec(*kernel, output->os());
        continue;
      }
      printKernelSummary(*kernel, output->os());
      for (sattn::KernelOp op : kernels)
        if (op.getSymName() == kernel->name)
          printPlanSummary(op, planOptions, lengthOpt, output->os());
    }
  }
  output->keep();
  return ExitSuccess;
}
