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
#include "TilePlanTestSupport.h"

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/ExecutionEngine/CpuAttention.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <random>

using namespace sattn;
using namespace sattn::plan;
using namespace sattn::cpu_attention_test;
using sattn::tile_plan_test::allDialects;
using sattn::tile_plan_test::compileSpecFile;
using sattn::tile_plan_test::exampleSpecFiles;
using sattn::tile_plan_test::randomTable;
using sattn::tile_plan_test::staticEvaluator;

namespace {

TEST(CpuAttention, EveryStaticExampleSpecMatchesReference) {
  std::vector<std::string> files = exampleSpecFiles();
  ASSERT_FALSE(files.empty()) << "no examples under the source root's examples/";

  mlir::MLIRContext context(allDialects());
  std::mt19937 rng(2024);
  int staticKernels = 0, dynamicKernels = 0;
  for (const std::string &file : files) {
    SCOPED_TRACE(file);
    mlir::OwningOpRef<mlir::ModuleOp> module = compileSpecFile(file, context);
    ASSERT_TRUE(module);

    for (KernelOp kernel : module->getOps<KernelOp>()) {
      SCOPED_TRACE(kernel.getSymName().str());
      // Dynamic patterns have no static semantics: skipped, silently.
      mlir::FailureOr<CompiledMask> eval = staticEvaluator(kernel);
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

      Shape shape = shapeOf(copy, /*batch=*/2, /*lq=*/40, /*lk=*/57);
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
