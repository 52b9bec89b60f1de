//===- CpuAttentionExamplesTest.cpp - every example kernel on the CPU ----===//
//
// Every static kernel of examples/*.sattn, compiled from its spec, lowered
// by convert-sattn-to-cpu, JIT-compiled and run over its tile plan with
// random tables (batch 2, Lq < Lk, padded strides) against the dense fp64
// reference (CpuAttentionTestSupport.h). Dynamic kernels have no static
// semantics and are counted, not run.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/ExecutionEngine/CpuAttention.h"
#include "sattn/InitAll.h"
#include "sattn/Spec/SpecCompiler.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::cpu_attention_test;

namespace {

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
