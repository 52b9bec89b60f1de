//===- Ptxas.cpp - run ptxas on generated PTX -----------------------------===//
//
// ptxas is the check that matters for generated kernels: it rejects PTX
// the NVPTX backend should not have produced, and its `-v` report shows
// registers and spills, which decide whether a tile configuration is
// viable. It is optional (CI machines may lack CUDA), so a missing ptxas is
// a report, not an error.
//
//===----------------------------------------------------------------------===//

#include "sattn/Target/PTX.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace sattn::target;

std::optional<std::string> sattn::target::findPtxas() {
  // SATTN_PTXAS names the ptxas to use; set but empty (or not executable)
  // means none, which is how tests take the no-CUDA path on a CUDA machine.
  if (const char *forced = std::getenv("SATTN_PTXAS")) {
    if (*forced && llvm::sys::fs::can_execute(forced))
      return std::string(forced);
    return std::nullopt;
  }
  if (llvm::ErrorOr<std::string> onPath = llvm::sys::findProgramByName("ptxas"))
    return *onPath;
  for (const char *dir : {"/usr/local/cuda/bin"}) {
    std::string candidate = std::string(dir) + "/ptxas";
    if (llvm::sys::fs::can_execute(candidate))
      return candidate;
  }
  return std::nullopt;
}

static int64_t toInt(llvm::StringRef s) {
  int64_t v = 0;
  (void)s.getAsInteger(10, v);
  return v;
}

std::vector<PtxasFunctionInfo>
sattn::target::parsePtxasLog(llvm::StringRef log) {
  // ptxas info    : Compiling entry function 'NAME' for 'sm_90'
  // ptxas info    : Function properties for NAME
  //     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
  // ptxas info    : Used 14 registers, used 1 barriers, 1 bytes smem
  llvm::Regex entry("Compiling entry function '([^']+)'");
  llvm::Regex properties("Function properties for ([^ ]+)");
  llvm::Regex frame("([0-9]+) bytes stack frame, ([0-9]+) bytes spill "
                    "stores, ([0-9]+) bytes spill loads");
  llvm::Regex used("Used ([0-9]+) registers");
  llvm::Regex barriers("used ([0-9]+) barriers");
  llvm::Regex smem("([0-9]+) bytes smem");

  std::vector<PtxasFunctionInfo> functions;
  PtxasFunctionInfo *current = nullptr;
  auto select = [&](llvm::StringRef name) {
    for (PtxasFunctionInfo &f : functions)
      if (f.name == name)
        return current = &f;
    functions.push_back(PtxasFunctionInfo{name.str()});
    return current = &functions.back();
  };
  llvm::SmallVector<llvm::StringRef> lines;
  log.split(lines, '\n');
  for (llvm::StringRef line : lines) {
    llvm::SmallVector<llvm::StringRef> m;
    if (entry.match(line, &m)) {
      select(m[1]);
    } else if (properties.match(line, &m)) {
      select(m[1].trim());
    } else if (current && frame.match(line, &m)) {
      current->stackFrameBytes = toInt(m[1]);
      current->spillStoreBytes = toInt(m[2]);
      current->spillLoadBytes = toInt(m[3]);
    } else if (current && used.match(line, &m)) {
      current->registers = toInt(m[1]);
      if (barriers.match(line, &m))
        current->barriers = toInt(m[1]);
      if (smem.match(line, &m))
        current->sharedMemoryBytes = toInt(m[1]);
    }
  }
  return functions;
}

PtxasReport sattn::target::runPtxas(llvm::StringRef ptx, llvm::StringRef arch,
                                    const PtxasOptions &options) {
  PtxasReport report;
  std::optional<std::string> ptxas =
      options.ptxasPath ? options.ptxasPath : findPtxas();
  if (!ptxas) {
    report.log = "ptxas not found (looked on PATH and in /usr/local/cuda/bin)";
    return report;
  }
  report.available = true;
  report.ptxasPath = *ptxas;

  llvm::SmallString<128> input, output, logPath;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("sattn", "ptx", fd, input)) {
    report.log = "cannot create a temporary file for the PTX";
    return report;
  }
  llvm::FileRemover removeInput(input);
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << ptx;
  }
  if (llvm::sys::fs::createTemporaryFile("sattn", "cubin", output) ||
      llvm::sys::fs::createTemporaryFile("sattn", "log", logPath)) {
    report.log = "cannot create temporary files for ptxas";
    return report;
  }
  llvm::FileRemover removeOutput(output), removeLog(logPath);

  std::string archFlag = ("-arch=" + arch).str();
  llvm::SmallVector<llvm::StringRef> args = {*ptxas, archFlag, "-v",
                                             input,  "-o",     output};
  std::string optFlag;
  if (options.optLevel) {
    optFlag = "-O" + std::to_string(*options.optLevel);
    args.push_back(optFlag);
  }
  std::optional<llvm::StringRef> redirects[] = {
      std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  std::string error;
  int status = llvm::sys::ExecuteAndWait(*ptxas, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/0,
                                         /*MemoryLimit=*/0, &error);
  if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
    report.log = (*buffer)->getBuffer().str();
  if (!error.empty())
    report.log += error;
  report.succeeded = status == 0;
  report.functions = parsePtxasLog(report.log);
  if (report.succeeded && options.keepCubin) {
    auto cubin = llvm::MemoryBuffer::getFile(output, /*IsText=*/false,
                                             /*RequiresNullTerminator=*/false);
    if (!cubin) {
      report.succeeded = false;
      report.log += "cannot read the cubin ptxas wrote";
    } else {
      report.cubin = (*cubin)->getBuffer().str();
    }
  }
  return report;
}
