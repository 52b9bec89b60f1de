//===- sattn-compile.cpp - the sattn spec compiler driver -----------------===//
//
// Reads a .sattn spec (a file or `-` for stdin) and checks it. With
// `-o DIR` (or an --emit list of artifacts) it compiles every static kernel
// into DIR (ArtifactDirectory.cpp: PTX, cubin, C header, manifest, IR after
// every stage, tile map) and prints a one-screen summary. Otherwise it
// prints to stdout (or -o FILE) a short summary of every kernel with its
// tile plan at a reference length (default), the verified MLIR module
// (`--emit=mlir`, parseable by sparse-opt), the spec in canonical form with
// every default spelled out (`--emit=spec`), the tile map of a plan as text
// and optionally PNG (`--emit=tilemap`), or the compiled mask program as
// JSON (`--emit=mask-program`, what python/sattn evaluates). Exit status: 0
// on success, 1 when the input is wrong (the spec, an option, the output
// path; diagnostics in `file:line:col: error:` form), 2 on an internal
// compiler error.
//
//===----------------------------------------------------------------------===//

#include "ArtifactDirectory.h"
#include "TableFiles.h"

#include "sattn/Core/Limits.h"
#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/EstimatorSpec.h"
#include "sattn/Plan/TileConfig.h"
#include "sattn/Plan/TileMap.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/SpecCompiler.h"
#include "sattn/Spec/Summary.h"
#include "sattn/Target/PTX.h"
#include "sattn/Version.h"

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "SparseAttn/Transforms/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

namespace cl = llvm::cl;
using namespace sattn::spec;
using namespace sattn::tool;

namespace {
/// What goes to stdout (or -o FILE); Artifacts writes a directory.
enum class EmitKind { Summary, Mlir, Spec, TileMap, MaskProgram, Artifacts };
} // namespace

static cl::OptionCategory category("sattn-compile options");

static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<spec.sattn>"),
                                          cl::init("-"), cl::cat(category));

static cl::opt<std::string> emitOpt(
    "emit",
    cl::desc("What to produce. To stdout (or -o FILE): summary (default "
             "without -o), mlir, spec, tilemap, mask-program. Into the "
             "directory -o DIR: a comma list of ptx, cubin, header, manifest, "
             "mlir, tilemap (default ptx,cubin,header,manifest; `ptx` alone "
             "means ptx,cubin,manifest)"),
    cl::value_desc("kind|list"), cl::init(""), cl::cat(category));

static cl::opt<std::string> kernelName("kernel",
                                       cl::desc("Only this kernel of the file"),
                                       cl::value_desc("name"), cl::init(""),
                                       cl::cat(category));

static cl::opt<std::string> outputFilename(
    "o", cl::desc("Output file, or the artifact directory"),
                                           cl::value_desc("file|dir"),
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
                                    cl::desc("Tile sizes BMxBN of the kernels (-o DIR) and of the plans the summary and "
             "--emit=tilemap show (default: the tiles -o compiles each kernel with; "
             "128x128 for a kernel without a GPU lowering)"),
                                    cl::value_desc("BMxBN"), cl::init("128x128"),
                                    cl::cat(category));
static cl::opt<std::string> pngOpt(
    "png", cl::desc("With --emit=tilemap: write the map as a PNG with title, axes "
                    "and legend (one file per kernel: NAME is inserted before "
                    ".png when the spec has several kernels); stdout then gets "
                    "only the map's sizes and counts"),
    cl::value_desc("file.png"), cl::init(""), cl::cat(category));
static cl::list<std::string> tableOpt(
    "table", cl::desc("Contents of runtime table NAME for the plans the summary and "
                      "the tile maps show (default: all zero): a .npy array or "
                      "text of integers in row-major order, of the declared shape "
                      "at batch 1 and the planned key length; repeatable"),
    cl::value_desc("NAME=FILE"), cl::cat(category));

static cl::opt<std::string> targetOpt("target",
                                      cl::desc("GPU target of the artifacts"),
                                      cl::value_desc("sm_80|sm_86|sm_89|sm_90|sm_90a"),
                                      cl::init("sm_90"), cl::cat(category));
static cl::opt<unsigned> optLevelOpt(
    "O", cl::Prefix,
    cl::desc("Optimisation level 0-3 of the NVPTX backend and ptxas "
             "(default 3)"),
    cl::init(3), cl::cat(category));
static cl::opt<int64_t> warpsOpt("warps",
                                 cl::desc("Warps per block (0: chosen)"),
                                 cl::init(0), cl::cat(category));
static cl::opt<int64_t> stagesOpt("stages",
                                  cl::desc("KV tiles in flight (0: chosen)"),
                                  cl::init(0), cl::cat(category));
static cl::opt<int64_t> rowsPerWarpOpt(
    "rows-per-warp",
    cl::desc("Query rows per warp, 16 or 32 (0: chosen from the mask when no "
             "tile option is set, else 16)"),
    cl::init(0), cl::cat(category));

static cl::opt<bool> backwardOpt(
    "backward",
    cl::desc("Also compile each kernel's backward kernel (dQ, dK, dV over the "
             "forward's plan; the forward then always returns LSE, which the "
             "backward reads)"),
    cl::init(false), cl::cat(category));

static cl::opt<bool> exactEstimatorsOpt(
    "exact-estimators",
    cl::desc("Compute compiled estimators' logits of query rows in f64 in the reference's "
             "order, so that their tables equal the reference's bit for bit (default: on "
             "tensor cores, exact products summed in f32; docs/ESTIMATORS.md)"),
    cl::init(false), cl::cat(category));

/// The GPU targets the lowering supports (mma.sync needs sm_80 or newer;
/// the PTX ISA requested is 8.0).
static bool isSupportedTarget(llvm::StringRef chip) {
  return llvm::is_contained({"sm_80", "sm_86", "sm_87", "sm_89", "sm_90",
                             "sm_90a"},
                            chip);
}

/// Decides between stdout and directory output and checks the options of
/// the latter. `-o PATH` without --emit, or an --emit list naming ptx,
/// cubin, header or manifest (or more than one item), writes the directory
/// PATH; `--emit=mlir` and `--emit=tilemap` alone do so when PATH is an
/// existing directory or ends in '/', and print otherwise.
static int chooseOutput(EmitKind &kind, std::optional<ArtifactSet> &artifacts) {
  llvm::StringRef emit = emitOpt;
  llvm::StringRef out = outputFilename;
  bool toDirectory = false;
  if (emit.empty()) {
    toDirectory = out != "-";
  } else if (emit == "mlir" || emit == "tilemap") {
    toDirectory = out != "-" && (out.ends_with("/") ||
                                 llvm::sys::fs::is_directory(out));
    kind = emit == "mlir" ? EmitKind::Mlir : EmitKind::TileMap;
  } else {
    auto stdoutKind = llvm::StringSwitch<std::optional<EmitKind>>(emit)
                          .Case("summary", EmitKind::Summary)
                          .Case("spec", EmitKind::Spec)
                          .Case("mask-program", EmitKind::MaskProgram)
                          .Default(std::nullopt);
    if (stdoutKind)
      kind = *stdoutKind;
    else
      toDirectory = true;
  }
  // The target and level shape the summary's tiles too: check them always.
  if (!isSupportedTarget(targetOpt)) {
    llvm::errs() << "sattn-compile: error: --target '" << targetOpt
                 << "' is not supported (sm_80, sm_86, sm_87, sm_89, sm_90, "
                    "sm_90a)\n";
    return ExitInputError;
  }
  if (optLevelOpt > 3) {
    llvm::errs() << "sattn-compile: error: -O" << optLevelOpt
                 << ": the optimisation level is 0, 1, 2 or 3\n";
    return ExitInputError;
  }
  if (!toDirectory)
    return ExitSuccess;
  kind = EmitKind::Artifacts;
  std::string error;
  artifacts = parseArtifactList(emit.empty() ? "ptx,cubin,header,manifest" : emit,
                                error);
  if (!artifacts) {
    llvm::errs() << "sattn-compile: error: " << error << "\n";
    return ExitInputError;
  }
  if (out == "-") {
    llvm::errs() << "sattn-compile: error: --emit=" << emit
                 << " writes files: give the output directory with -o DIR\n";
    return ExitInputError;
  }
  return ExitSuccess;
}

/// Parses "BMxBN".
static bool parseTile(llvm::StringRef text, sattn::plan::PlanOptions &opts) {
  auto [m, n] = text.split('x');
  return !m.getAsInteger(10, opts.blockM) && !n.getAsInteger(10, opts.blockN) &&
         opts.blockM > 0 && opts.blockN > 0 && opts.blockM <= 4096 &&
         opts.blockN <= 4096;
}

/// The tile planner of `kernel` for the tiles the summary and the tile map
/// plan with: --tile when given, else the ones sattn-plan-tiles chooses under
/// the other tile options (what -o compiles the kernel with), so that both
/// report the same tile counts; tile options the kernel cannot have fall back
/// to --tile's default. `label` says which. The mask is compiled once. Fails
/// with the planner's diagnostic for masks it cannot plan.
static mlir::FailureOr<sattn::plan::TilePlanner>
plannerForReport(sattn::KernelOp kernel, const sattn::target::GPUOptions &gpu,
                 const sattn::plan::PlanOptions &given, std::string &label) {
  auto planner = sattn::plan::TilePlanner::build(kernel);
  if (mlir::failed(planner))
    return mlir::failure();
  sattn::plan::PlanOptions tiles = given;
  label = "--tile";
  if (tileOpt.getNumOccurrences() == 0) {
    sattn::plan::TileRequest request{gpu.blockM, gpu.blockN, gpu.warps,
                                     gpu.stages, gpu.rowsPerWarp};
    request.hopper = gpu.chip == "sm_90a";
    request.backward = gpu.backward;
    request.blockMax = kernel.getBlockMax();
    std::string error;
    auto config = sattn::plan::chooseTileConfig(
        kernel.getHeadDim(), planner->core().program(), request, error);
    if (mlir::succeeded(config)) {
      tiles = {config->blockM, config->blockN, config->planGathers()};
      label = "as compiled";
    } else {
      label = "--tile's default; the tile options are rejected: " + error;
    }
  }
  return planner->withTiles(kernel, tiles);
}

/// Appends the kernel's plan at the reference length to its summary.
/// Returns false with `error` when a --table file does not fit the kernel.
static bool printPlanSummary(sattn::KernelOp kernel,
                             const sattn::target::GPUOptions &gpu,
                             const sattn::plan::PlanOptions &given,
                             const TableFiles &tables, int64_t length,
                             llvm::raw_ostream &os, std::string &error) {
  // Dynamic masks cannot be planned ahead; say so in the summary instead of
  // printing the planner's diagnostic.
  // Other failures (a mask beyond the limits) are printed as they are.
  std::string why;
  mlir::ScopedDiagnosticHandler quiet(kernel.getContext(), [&](mlir::Diagnostic &d) {
    if (why.empty())
      why = d.str();
    return mlir::success();
  });
  // An estimated table is known only at run time: a preview with zeros
  // would show an empty mask.
  if (auto estimator = sattn::plan::readEstimator(kernel);
      mlir::succeeded(estimator) && *estimator) {
    const sattn::plan::EstimatorSpec &e = **estimator;
    os << "  plan:      built at run time from its compiled estimator (" << e.kind;
    if (e.isNsa())
      os << ": compressed blocks of " << e.compressBlock << " keys every " << e.compressStride
         << ", " << e.selectCount << " selection blocks of " << e.block << " per query ("
         << e.localBlocks << " local); the kernel attends the selected keys";
    else if (e.isStripe())
      os << ", anchor groups of " << e.group << ", units of " << e.step << " query blocks of "
         << e.block << ", theta " << llvm::format("%g", e.theta);
    else if (e.isLines())
      os << ", " << e.vertical << " columns and " << e.slash << " diagonals (forced "
         << e.forcedVertical << " and " << e.forcedSlash << ") from the last " << e.lastQ
         << " queries";
    else if (e.isGate())
      os << ", block " << e.block << ", hidden " << e.hidden
         << (e.threshold > 0 ? ", threshold " : ", top_ratio ")
         << llvm::format("%g", e.threshold > 0 ? e.threshold : e.topRatio);
    else if (e.topK > 0)
      os << " " << e.scorer << ", block " << e.block << ", top_k " << e.topK;
    else
      os << " " << e.scorer << ", block " << e.block << ", tau " << llvm::format("%g", e.tau);
    os << ", writes table '" << e.table << "')\n";
    if (e.hasQueryLogits())
      os << (exactEstimatorsOpt
                 ? "  logits:    of query rows in f64, in the reference's order "
                   "(--exact-estimators: tables equal to the reference's bit for bit)\n"
                 : "  logits:    of query rows on tensor cores (f32 sums; near ties may select "
                   "otherwise than the f64 reference; --exact-estimators for its tables)\n");
    return true;
  }
  std::string tilesFrom;
  auto planner = plannerForReport(kernel, gpu, given, tilesFrom);
  if (mlir::failed(planner)) {
    if (sattn::plan::hasDynamicPattern(kernel))
      os << "  plan:      none (dynamic patterns are planned from their "
            "estimator at run time)\n";
    else
      os << "  plan:      failed: " << why << "\n";
    return true;
  }
  const sattn::plan::PlanOptions &opts = planner->options();
  // Tables too large to preview as zeros: the summary says so and goes on.
  if (tables.describe(kernel) != "tables from --table" &&
      sattn::plan::declaredTableElements(kernel, 1, length) >
          sattn::plan::kMaxZeroTableElements) {
    os << "  plan:      not shown: its tables hold more than "
       << sattn::plan::kMaxZeroTableElements << " elements at L = " << length
       << " (give them with --table NAME=FILE or choose a smaller --length)\n";
    return true;
  }
  std::optional<sattn::MaskInputs> in = tables.inputs(kernel, length, length, error);
  if (!in)
    return false;
  auto start = std::chrono::steady_clock::now();
  auto plan = planner->plan(*in, error);
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
  if (mlir::failed(plan)) {
    os << "  plan:      failed: " << error << "\n";
    return true;
  }
  sattn::plan::PlanStats st = plan->stats();
  double visited = st.visitedTiles(), dense = st.denseTiles;
  os << "  plan:      L = " << length << ", " << opts.blockM << "x"
     << opts.blockN << " tiles (" << tilesFrom << ")"
     << (tables.describe(kernel).empty() ? "" : ", " + tables.describe(kernel))
     << ": visits " << st.visitedTiles() << " of " << st.denseTiles << " ("
     << llvm::format("%.2f", 100.0 * visited / dense) << "%), "
     << st.fullTiles << " full, " << st.partialTiles << " partial, "
     << st.gatherTiles << " gathered; " << plan->numClasses()
     << " head class(es); built in " << llvm::format("%.2f", ms) << " ms\n";
  os << "  estimate:  " << llvm::format("%.1f", visited > 0 ? dense / visited : 0.0)
     << "x fewer tiles than dense attention\n";
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  // --mlir-print-debuginfo and friends apply to --emit=mlir; tests use it
  // to check that every op carries its spec location.
  mlir::registerAsmPrinterCLOptions();
  // -mlir-timing and the IR printing options of the GPU pipeline (directory
  // mode), for profiling compile time.
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  sattn::setVersionPrinter("sattn-compile");
  cl::ParseCommandLineOptions(
      argc, argv, "sattn-compile: sparse-attention spec compiler\n");

  // Options are checked before the spec is read: a bad option is an input
  // error whatever the spec says.
  EmitKind emitKind = EmitKind::Summary;
  std::optional<ArtifactSet> artifacts;
  if (int rc = chooseOutput(emitKind, artifacts))
    return rc;

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

  // Kernels whose estimator is compiled read its table from here on; the
  // MLIR and spec outputs show the spec as written.
  if (emitKind != EmitKind::Mlir && emitKind != EmitKind::Spec) {
    mlir::PassManager pm(&context, mlir::ModuleOp::getOperationName());
    pm.addPass(sattn::createLowerEstimators());
    if (mlir::failed(pm.run(*compilation.module)))
      return ExitInternalError;
  }

  std::string tableError;
  std::optional<TableFiles> tables = TableFiles::parse(tableOpt, tableError);
  if (!tables ||
      !tables->checkNames(llvm::to_vector(compilation.module->getOps<sattn::KernelOp>()),
                          tableError)) {
    llvm::errs() << "sattn-compile: error: " << tableError << "\n";
    return ExitInputError;
  }

  sattn::plan::PlanOptions planOptions;
  if (!parseTile(tileOpt, planOptions)) {
    llvm::errs() << "sattn-compile: error: --tile expects BMxBN with sizes in "
                    "[1, 4096], got '"
                 << tileOpt << "'\n";
    return ExitInputError;
  }
  if (lengthOpt <= 0 || lqOpt < 0 || lkOpt < 0 ||
      lengthOpt > sattn::limits::kMaxLength || lqOpt > sattn::limits::kMaxLength ||
      lkOpt > sattn::limits::kMaxLength) {
    llvm::errs() << "sattn-compile: error: lengths must be between 1 and "
                 << sattn::limits::kMaxLength << "\n";
    return ExitInputError;
  }
  // How -o compiles: the target and the tile options (0: chosen).
  sattn::target::GPUOptions gpu;
  gpu.chip = targetOpt;
  gpu.optLevel = optLevelOpt;
  if (tileOpt.getNumOccurrences() > 0) {
    gpu.blockM = planOptions.blockM;
    gpu.blockN = planOptions.blockN;
  }
  gpu.warps = warpsOpt;
  gpu.stages = stagesOpt;
  gpu.rowsPerWarp = rowsPerWarpOpt;
  gpu.backward = backwardOpt;
  gpu.exactEstimators = exactEstimatorsOpt;
  if (backwardOpt)
    for (sattn::KernelOp kernel : compilation.module->getOps<sattn::KernelOp>())
      kernel.setReturnLse(true);
  if (emitKind == EmitKind::Artifacts) {
    DirectoryOptions options;
    options.dir = outputFilename;
    options.emit = *artifacts;
    options.gpu = gpu;
    options.optLevel = optLevelOpt;
    options.length = lengthOpt;
    options.head = headOpt;
    options.specFile = inputFilename;
    options.kernelSelected = !kernelName.empty();
    options.tables = &*tables;
    return writeArtifactDirectory(compilation, options);
  }

  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << "sattn-compile: error: " << errorMessage << "\n";
    return ExitInputError;
  }

  auto kernels = llvm::to_vector(compilation.module->getOps<sattn::KernelOp>());

  if (emitKind == EmitKind::Mlir) {
    compilation.module->print(output->os());
    output->os() << "\n";
  } else if (emitKind == EmitKind::MaskProgram) {
    for (sattn::KernelOp kernel : kernels) {
      auto evaluator = sattn::CompiledMask::compile(kernel);
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
      std::string tilesFrom;
      auto planner = plannerForReport(kernel, gpu, planOptions, tilesFrom);
      if (mlir::failed(planner))
        return ExitInputError;
      std::string error;
      std::optional<sattn::MaskInputs> inputs = tables->inputs(kernel, lq, lk, error);
      mlir::FailureOr<sattn::plan::TilePlan> plan = mlir::failure();
      if (inputs)
        plan = planner->plan(*inputs, error);
      if (mlir::failed(plan)) {
        llvm::errs() << "sattn-compile: error: " << error << "\n";
        return ExitInputError;
      }
      // With a picture, stdout gets the sizes and counts, not the grid (at
      // 128K tokens that is megabytes of text).
      bool png = !pngOpt.empty();
      output->os() << "kernel " << kernel.getSymName() << "\n"
                   << sattn::plan::renderTileMapText(*plan, 0, headOpt, /*grid=*/!png);
      if (png) {
        std::string path = pngOpt;
        if (kernels.size() > 1) {
          llvm::StringRef base(pngOpt);
          base.consume_back(".png");
          path = (base + "-" + kernel.getSymName() + ".png").str();
        }
        if (!sattn::plan::writeTileMapPng(*plan, 0, headOpt, kernel.getSymName(), path,
                                          error)) {
          llvm::errs() << "sattn-compile: error: " << error << "\n";
          return ExitInputError;
        }
        output->os() << "png: " << path << "\n";
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
      std::string error;
      for (sattn::KernelOp op : kernels)
        if (op.getSymName() == kernel->name &&
            !printPlanSummary(op, gpu, planOptions, *tables, lengthOpt, output->os(),
                              error)) {
          llvm::errs() << "sattn-compile: error: " << error << "\n";
          return ExitInputError;
        }
    }
  }
  output->keep();
  return ExitSuccess;
}
