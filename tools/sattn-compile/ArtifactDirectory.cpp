//===- ArtifactDirectory.cpp - sattn-compile's directory mode -------------===//
//
// Kernels are compiled one at a time (each on a module holding only that
// kernel) so that compile time, IR dumps and failures are per kernel. A
// failure sattn-plan-tiles reports ("sattn-plan-tiles: ...") comes from the
// kernel's configuration or the tile options (exit 1); any other pipeline
// or ptxas failure on a checked spec is the compiler's fault (exit 2).
//
//===----------------------------------------------------------------------===//

#include "ArtifactDirectory.h"
#include "TableFiles.h"

#include "sattn/Artifacts/CHeader.h"
#include "sattn/Artifacts/ManifestWriter.h"
#include "sattn/Plan/TileMap.h"
#include "sattn/Plan/TilePlanner.h"
#include "sattn/Spec/Summary.h"
#include "sattn/Version.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;
using namespace sattn;
using namespace sattn::tool;

OwningOpRef<ModuleOp> sattn::tool::moduleWithKernel(ModuleOp module,
                                                   llvm::StringRef name) {
  OwningOpRef<ModuleOp> copy(module.clone());
  for (KernelOp k :
       llvm::make_early_inc_range(copy->getOps<KernelOp>()))
    if (k.getSymName() != name)
      k.erase();
  return copy;
}

std::optional<ArtifactSet>
sattn::tool::parseArtifactList(llvm::StringRef list, std::string &error) {
  ArtifactSet set;
  if (list == "ptx") {
    set.ptx = set.cubin = set.manifest = true;
    return set;
  }
  llvm::SmallVector<llvm::StringRef> items;
  list.split(items, ',');
  for (llvm::StringRef item : items) {
    bool *flag = llvm::StringSwitch<bool *>(item.trim())
                     .Case("ptx", &set.ptx)
                     .Case("cubin", &set.cubin)
                     .Case("header", &set.header)
                     .Case("manifest", &set.manifest)
                     .Case("mlir", &set.mlir)
                     .Case("tilemap", &set.tilemap)
                     .Default(nullptr);
    if (!flag) {
      error = ("unknown --emit item '" + item.trim() +
               "' (expected a comma list of ptx, cubin, header, manifest, "
               "mlir, tilemap)")
                  .str();
      return std::nullopt;
    }
    *flag = true;
  }
  return set;
}

namespace {

/// The two halves of the GPU pipeline (each printed as
/// `builtin.module(...)`) as one textual pipeline: what
/// `sparse-opt --pass-pipeline=...` runs on NAME.00.spec.mlir to reproduce
/// every later stage and the PTX.
std::string replayablePipeline(llvm::ArrayRef<std::string> halves) {
  std::string joined;
  for (llvm::StringRef half : halves) {
    half = half.trim();
    if (half.consume_front("builtin.module(") && half.consume_back(")"))
      joined += (joined.empty() ? "" : ",") + half.str();
  }
  return "builtin.module(" + joined + ")";
}

/// Writes the whole module to BASE.NN.STAGE.mlir after every pass.
class StageDumper : public PassInstrumentation {
public:
  StageDumper(std::string base, unsigned &counter, bool &failed)
      : base(std::move(base)), counter(counter), failed(failed) {}

  void runAfterPass(Pass *pass, Operation *op) override {
    llvm::StringRef stage = pass->getArgument();
    if (stage.empty()) // the adaptors that run nested pass managers
      return;
    while (Operation *parent = op->getParentOp())
      op = parent;
    std::string path = llvm::formatv("{0}.{1:d2}.{2}.mlir", base, counter++, stage);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (ec) {
      llvm::errs() << "sattn-compile: error: cannot write '" << path
                   << "': " << ec.message() << "\n";
      failed = true;
      return;
    }
    op->print(os);
    os << "\n";
  }

private:
  std::string base;
  unsigned &counter;
  bool &failed;
};

/// What the summary shows for one kernel.
struct KernelReport {
  std::string name, dtype, heads, tile, files;
  int64_t headDim = 0, warps = 0, stages = 0, sharedBytes = 0;
  int64_t visited = 0, dense = 0;
  /// The mask reads runtime tables: the plan at compile time (all-zero
  /// tables) says nothing about the tiles a real call visits.
  bool readsTables = false;
  std::optional<target::PtxasFunctionInfo> ptxas;
  double ptxMs = 0, ptxasMs = 0;
};

double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

bool writeFile(const std::string &path, llvm::StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (!ec)
    os << bytes;
  if (!ec && os.has_error())
    ec = os.error();
  if (ec) {
    llvm::errs() << "sattn-compile: error: cannot write '" << path
                 << "': " << ec.message() << "\n";
    return false;
  }
  return true;
}

/// `file:line:col: error: message`, the form of the spec's diagnostics.
void printDiagnostic(Location loc, llvm::StringRef message) {
  if (auto fileLoc = loc->findInstanceOf<FileLineColLoc>())
    llvm::errs() << fileLoc.getFilename().getValue() << ":" << fileLoc.getLine()
                 << ":" << fileLoc.getColumn() << ": ";
  else
    llvm::errs() << "sattn-compile: ";
  llvm::errs() << "error: " << message << "\n";
}

/// Prints rows as left-aligned columns two spaces apart.
void printTable(const std::vector<std::vector<std::string>> &rows,
                llvm::raw_ostream &os) {
  std::vector<size_t> width;
  for (const auto &row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      width.resize(std::max(width.size(), row.size()));
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto &row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += row[i] + std::string(i + 1 < row.size() ? width[i] - row[i].size() + 2 : 0, ' ');
    os << llvm::StringRef(line).rtrim() << "\n";
  }
}

class DirectoryWriter {
public:
  DirectoryWriter(const spec::SpecCompilation &compilation,
                  const DirectoryOptions &options)
      : compilation(compilation), options(options), dir(options.dir) {
    // `-o out/` names the same directory as `-o out`.
    while (dir.size() > 1 && dir.back() == '/')
      dir.pop_back();
  }

  int run();

private:
  int compileKernel(KernelOp kernel, const plan::TilePlanner &planner,
                    KernelReport &report);
  int writeTileMap(KernelOp kernel, const plan::TilePlan &plan);
  std::string specText(llvm::StringRef name) const;

  const spec::SpecCompilation &compilation;
  const DirectoryOptions &options;
  std::string dir;
  std::optional<std::string> ptxas;
  bool notedNoPtxas = false;
};

std::string DirectoryWriter::specText(llvm::StringRef name) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (compilation.ast)
    for (const auto &k : compilation.ast->kernels)
      if (k->name == name)
        spec::printKernelSpec(*k, os);
  return text;
}

int DirectoryWriter::writeTileMap(KernelOp kernel, const plan::TilePlan &plan) {
  std::string base = dir + "/" + kernel.getSymName().str();
  std::string text = "kernel " + kernel.getSymName().str() + " at L = " +
                     std::to_string(options.length) + ", head " +
                     std::to_string(options.head) + "\n" +
                     plan::renderTileMapText(plan, 0, options.head);
  if (!writeFile(base + ".tilemap.txt", text))
    return ExitInputError;
  std::string error;
  if (!plan::writeTileMapPng(plan, 0, options.head, kernel.getSymName(),
                             base + ".tilemap.png",
                             error)) {
    llvm::errs() << "sattn-compile: error: " << error << "\n";
    return ExitInputError;
  }
  return ExitSuccess;
}

int DirectoryWriter::compileKernel(KernelOp kernel,
                                   const plan::TilePlanner &planner,
                                   KernelReport &report) {
  MLIRContext *ctx = kernel.getContext();
  std::string name = kernel.getSymName().str();
  std::string base = dir + "/" + name;
  OwningOpRef<ModuleOp> single =
      moduleWithKernel(kernel->getParentOfType<ModuleOp>(), name);

  // The IR of every stage: the spec's module first, then after each pass.
  unsigned stage = 0;
  bool dumpFailed = false;
  if (options.emit.mlir) {
    std::string path = llvm::formatv("{0}.{1:d2}.spec.mlir", base, stage++);
    std::string text;
    llvm::raw_string_ostream os(text);
    single->print(os);
    if (!writeFile(path, text + "\n"))
      return ExitInputError;
  }
  // -mlir-timing, -mlir-print-ir-after-all & co. apply to both halves. With
  // the stages, the pipeline of each half is kept to write NAME.pipeline.
  std::vector<std::string> halves;
  target::PassManagerHook hook = [&](PassManager &pm) {
    (void)applyPassManagerCLOptions(pm);
    applyDefaultTimingPassManagerCLOptions(pm);
    if (options.emit.mlir) {
      pm.addInstrumentation(
          std::make_unique<StageDumper>(base, stage, dumpFailed));
      std::string text;
      llvm::raw_string_ostream os(text);
      pm.printAsTextualPipeline(os);
      halves.push_back(text);
    }
  };

  bool unsupported = false;
  ScopedDiagnosticHandler watch(ctx, [&](Diagnostic &diag) {
    if (diag.getSeverity() != DiagnosticSeverity::Error)
      return success();
    std::string message = diag.str();
    unsupported |= llvm::StringRef(message).starts_with("sattn-plan-tiles:");
    printDiagnostic(diag.getLocation(), message);
    return success();
  });
  auto start = std::chrono::steady_clock::now();
  auto compiled = target::compileKernelsToPTX(*single, options.gpu, hook);
  report.ptxMs = millisecondsSince(start);
  if (dumpFailed)
    return ExitInputError;
  if (failed(compiled) || compiled->size() != 1) {
    if (unsupported)
      return ExitInputError;
    llvm::errs() << "sattn-compile: internal error: the GPU pipeline failed "
                    "on kernel '"
                 << name << "'\n";
    return ExitInternalError;
  }
  const target::CompiledKernel &ck = compiled->front();
  const target::LaunchInfo &launch = ck.launch;

  std::string cubin;
  if (options.emit.cubin && !ptxas && !notedNoPtxas) {
    llvm::errs() << "sattn-compile: note: ptxas not found (PATH, "
                    "/usr/local/cuda/bin): no .cubin written; the driver "
                    "JIT-compiles the PTX at load\n";
    notedNoPtxas = true;
  }
  if (options.emit.cubin && ptxas) {
    target::PtxasOptions ptxasOptions;
    ptxasOptions.ptxasPath = ptxas;
    ptxasOptions.optLevel = options.optLevel;
    ptxasOptions.keepCubin = true;
    auto ptxasStart = std::chrono::steady_clock::now();
    target::PtxasReport ran =
        target::runPtxas(ck.ptx, options.gpu.chip, ptxasOptions);
    report.ptxasMs = millisecondsSince(ptxasStart);
    if (!ran.succeeded) {
      std::string log = base + ".ptxas.log";
      writeFile(base + ".ptx", ck.ptx);
      writeFile(log, ran.log);
      llvm::errs() << "sattn-compile: internal error: ptxas failed on the "
                      "PTX of kernel '"
                   << name << "' (" << base << ".ptx; log: " << log << ")\n";
      return ExitInternalError;
    }
    for (const target::PtxasFunctionInfo &f : ran.functions)
      if (f.name == launch.entryName)
        report.ptxas = f;
    cubin = std::move(ran.cubin);
  }

  ManifestBuildInfo build;
  build.optLevel = options.optLevel;
  build.compileMs = (int64_t)(report.ptxMs + 0.5);
  build.compiler = sattn::toolIdentity("sattn-compile");
  if (report.ptxas) {
    build.registers = report.ptxas->registers;
    build.spillStoreBytes = report.ptxas->spillStoreBytes;
    build.spillLoadBytes = report.ptxas->spillLoadBytes;
  }
  FailureOr<std::string> manifest =
      writeManifest(kernel, planner.core().program(), launch,
                    options.gpu.chip, build);
  if (failed(manifest))
    return ExitInternalError;

  llvm::SmallVector<std::string> written;
  auto write = [&](bool wanted, llvm::StringRef ext, llvm::StringRef bytes) {
    if (!wanted)
      return true;
    written.push_back(ext.str());
    return writeFile(base + "." + ext.str(), bytes);
  };
  if (!write(options.emit.ptx, "ptx", ck.ptx) ||
      !write(!cubin.empty(), "cubin", cubin) ||
      !write(options.emit.manifest, "json", *manifest))
    return ExitInputError;

  if (options.emit.header) {
    CHeaderContents header;
    header.name = name;
    header.manifest = *manifest;
    header.image = cubin.empty() ? llvm::StringRef(ck.ptx) : cubin;
    header.imageKind = cubin.empty() ? "PTX" : "cubin";
    header.spec = specText(name);
    std::string heads = std::to_string(kernel.getHeads()) + " (" +
                        std::to_string(kernel.getKvHeads()) + " KV heads)";
    header.facts = {
        {"spec file", options.specFile},
        {"dtype", kernel.getDtype().isBF16() ? "bf16" : "f16"},
        {"head_dim", std::to_string(kernel.getHeadDim())},
        {"heads", heads},
        {"tile", llvm::formatv("{0}x{1}, {2} warps, {3} stages, {4} B shared",
                               launch.blockM, launch.blockN, launch.warps,
                               launch.stages, launch.dynamicSharedMemoryBytes)},
        {"target", options.gpu.chip + ", -O" + std::to_string(options.optLevel)},
        {"compiler", sattn::toolIdentity("sattn-compile")}};
    std::string text;
    llvm::raw_string_ostream os(text);
    writeCHeader(header, os);
    if (!write(true, "h", text))
      return ExitInputError;
  }

  // The plan at the reference length, with the kernel's own tile sizes.
  auto tiled = planner.withTiles(
      kernel, {launch.blockM, launch.blockN,
               launch.planGathers});
  if (failed(tiled))
    return ExitInternalError; // the pipeline planned with them
  report.readsTables = !planner.core().program().tables.empty() &&
                       !(options.tables &&
                         options.tables->describe(kernel) == "tables from --table");
  // The report gives no tile counts for tables unknown here, so such a plan
  // is built only for a tile map (and then bounded by zeroTableInputs).
  FailureOr<plan::TilePlan> plan = failure();
  if (!report.readsTables || options.emit.tilemap) {
    std::string error;
    std::optional<MaskInputs> inputs =
        options.tables
            ? options.tables->inputs(kernel, options.length, options.length, error)
            : plan::zeroTableInputs(kernel, options.length, options.length, error);
    if (inputs)
      plan = tiled->plan(*inputs, error);
    if (failed(plan)) {
      llvm::errs() << "sattn-compile: error: kernel '" << name << "': " << error
                   << "\n";
      return ExitInputError;
    }
    plan::PlanStats st = plan->stats();
    report.visited = st.visitedTiles();
    report.dense = st.denseTiles;
  }
  if (options.emit.tilemap) {
    if (int rc = writeTileMap(kernel, *plan))
      return rc;
    written.push_back("tilemap.{txt,png}");
  }
  if (options.emit.mlir) {
    written.push_back(llvm::formatv("00..{0:d2}.*.mlir", stage - 1));
    if (!writeFile(base + ".pipeline", replayablePipeline(halves) + "\n"))
      return ExitInputError;
    written.push_back("pipeline");
  }

  report.name = name;
  report.dtype = kernel.getDtype().isBF16() ? "bf16" : "f16";
  report.headDim = kernel.getHeadDim();
  report.heads = std::to_string(kernel.getHeads()) + "/" +
                 std::to_string(kernel.getKvHeads());
  report.tile = std::to_string(launch.blockM) + "x" + std::to_string(launch.blockN);
  report.warps = launch.warps;
  report.stages = launch.stages;
  report.sharedBytes = launch.dynamicSharedMemoryBytes;
  report.files = name + ".{" + llvm::join(written, ",") + "}";
  return ExitSuccess;
}

int DirectoryWriter::run() {
  if (llvm::sys::fs::exists(dir) && !llvm::sys::fs::is_directory(dir)) {
    llvm::errs() << "sattn-compile: error: -o '" << dir
                 << "' is a file; artifacts go into a directory\n";
    return ExitInputError;
  }
  if (auto ec = llvm::sys::fs::create_directories(dir)) {
    llvm::errs() << "sattn-compile: error: cannot create '" << dir
                 << "': " << ec.message() << "\n";
    return ExitInputError;
  }
  if (options.emit.cubin)
    ptxas = target::findPtxas();

  // A kernel that combines several dynamic patterns has no estimator.
  // Each kernel's mask is compiled once, here; its program serves the
  // manifest and the reference plan.
  ModuleOp module = *compilation.module;
  llvm::SmallVector<KernelOp> kernels;
  std::vector<plan::TilePlanner> planners;
  std::vector<std::string> notes;
  for (KernelOp k : module.getOps<KernelOp>()) {
    std::string why;
    ScopedDiagnosticHandler quiet(k.getContext(), [&](Diagnostic &d) {
      if (why.empty())
        why = d.str();
      return success();
    });
    if (auto planner = plan::TilePlanner::build(k); succeeded(planner)) {
      kernels.push_back(k);
      planners.push_back(std::move(*planner));
      continue;
    }
    // A static mask the planner refuses (beyond its limits) is an error,
    // not a kernel to skip.
    if (!plan::hasDynamicPattern(k)) {
      llvm::errs() << "sattn-compile: error: kernel '" << k.getSymName()
                   << "': " << why << "\n";
      return ExitInputError;
    }
    // Every dynamic pattern compiles alone (sattn-lower-estimators); a
    // kernel whose mask combines several has no single estimator.
    if (options.kernelSelected) {
      llvm::errs() << "sattn-compile: error: kernel '" << k.getSymName()
                   << "' combines more than one dynamic pattern: sattn compiles one "
                      "estimator per kernel, so it has no GPU kernel\n";
      return ExitInputError;
    }
    notes.push_back(k.getSymName().str() +
                    ": skipped (more than one dynamic pattern: sattn compiles one estimator "
                    "per kernel)");
  }
  for (const std::string &note : notes)
    llvm::outs() << note << "\n";
  if (kernels.empty()) {
    llvm::errs() << "sattn-compile: error: no kernel to compile (every "
                    "kernel of the spec combines more than one dynamic pattern; "
                    "sattn compiles one estimator per kernel)\n";
    return ExitInputError;
  }
  if (options.head < 0) {
    llvm::errs() << "sattn-compile: error: --head must not be negative\n";
    return ExitInputError;
  }
  for (KernelOp k : kernels)
    if (options.emit.tilemap && options.head >= (int64_t)k.getHeads()) {
      llvm::errs() << "sattn-compile: error: --head " << options.head
                   << " is out of range: kernel " << k.getSymName() << " has "
                   << k.getHeads() << " heads\n";
      return ExitInputError;
    }

  auto start = std::chrono::steady_clock::now();
  std::vector<KernelReport> reports(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i)
    if (int rc = compileKernel(kernels[i], planners[i], reports[i]))
      return rc;
  double totalMs = millisecondsSince(start);

  std::string lengthColumn = "tiles at L=" + std::to_string(options.length);
  std::vector<std::vector<std::string>> rows = {
      {"kernel", "dtype", "D", "H/KV", "tile", "warps", "stages", "shared",
       lengthColumn, "speedup", "regs", "spill", "PTX ms", "ptxas ms"}};
  for (const KernelReport &r : reports) {
    double fraction = r.dense ? 100.0 * r.visited / r.dense : 0.0;
    std::string regs = "-", spill = "-", ptxasMs = "-";
    if (r.ptxas) {
      regs = std::to_string(r.ptxas->registers);
      spill = std::to_string(r.ptxas->spillStoreBytes) + "/" +
              std::to_string(r.ptxas->spillLoadBytes);
      ptxasMs = llvm::formatv("{0:f0}", r.ptxasMs);
    }
    rows.push_back(
        {r.name, r.dtype, std::to_string(r.headDim), r.heads, r.tile,
         std::to_string(r.warps), std::to_string(r.stages),
         llvm::formatv("{0:f1}K", r.sharedBytes / 1024.0),
         r.readsTables
             ? std::string("from tables")
             : std::string(llvm::formatv("{0}/{1} ({2:f2}%)", r.visited,
                                         r.dense, fraction)),
         r.readsTables ? std::string("-")
                       : std::string(llvm::formatv(
                             "{0:f1}x",
                             r.visited ? (double)r.dense / r.visited : 0.0)),
         regs, spill, llvm::formatv("{0:f0}", r.ptxMs), ptxasMs});
  }
  printTable(rows, llvm::outs());
  llvm::outs() << "compiled " << reports.size() << " kernel(s) for "
               << options.gpu.chip << " -O" << options.optLevel << " in "
               << llvm::format("%.2f", totalMs / 1000) << " s; speedup = "
               << "dense tiles / visited tiles (masks that read tables: known at "
               << "run time); spill = store/load bytes\n";
  for (const KernelReport &r : reports)
    llvm::outs() << "  " << dir << "/" << r.files << "\n";
  return ExitSuccess;
}

} // namespace

int sattn::tool::writeArtifactDirectory(
    const spec::SpecCompilation &compilation, const DirectoryOptions &options) {
  return DirectoryWriter(compilation, options).run();
}
