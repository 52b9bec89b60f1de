//===- sattn-mask-grid.cpp - reference keep() grids for other evaluators --===//
//
// Test utility. Reads sattn IR, compiles the mask of every kernel with the
// C++ reference evaluator, fills each declared table with random values and
// prints one JSON document per kernel (one per line): the mask program, the
// tables and the keep bit of every (b, h, row, k). Evaluators written in
// other languages (python/sattn/mask_program.py) are checked against it.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/InitAll.h"
#include "sattn/Plan/TilePlanner.h"

#include "Mask/IR/MaskOps.h"
#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <random>

using namespace mlir;
using namespace sattn;

static llvm::cl::opt<std::string> input(llvm::cl::Positional,
                                        llvm::cl::desc("<input.mlir>"),
                                        llvm::cl::Required);
static llvm::cl::opt<int64_t> lqOpt("lq", llvm::cl::init(37));
static llvm::cl::opt<int64_t> lkOpt("lk", llvm::cl::init(50));
static llvm::cl::opt<int64_t> batchOpt("batch", llvm::cl::init(2));
static llvm::cl::opt<unsigned> seedOpt("seed", llvm::cl::init(1));

int main(int argc, char **argv) {
  llvm::cl::ParseCommandLineOptions(argc, argv, "sattn reference keep grids\n");
  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sources;
  auto module = parseSourceFile<ModuleOp>(input, sources, &context);
  if (!module)
    return 1;
  std::mt19937 rng(seedOpt);
  int status = 0;
  module->walk([&](KernelOp kernel) {
    auto evaluator = CompiledMask::compile(kernel);
    if (failed(evaluator)) {
      status = 1;
      return;
    }
    MaskInputs in;
    in.batch = batchOpt;
    in.lq = lqOpt;
    in.lk = lkOpt;
    llvm::json::Object tables;
    for (auto &[name, shape] :
         plan::declaredTableShapes(kernel, in.batch, in.lk)) {
      TableData data{shape, {}};
      int64_t n = 1;
      for (int64_t e : shape)
        n *= e;
      bool isBool = cast<mask::TableOp>(SymbolTable::lookupSymbolIn(kernel, name))
                        .getElementType()
                        .isInteger(1);
      for (int64_t i = 0; i < n; ++i)
        data.values.push_back(isBool ? rng() % 3 == 0 : int64_t(rng() % 5) - 1);
      tables[name] = llvm::json::Object{
          {"shape", llvm::json::Array(ArrayRef<int64_t>(data.shape))},
          {"values", llvm::json::Array(ArrayRef<int64_t>(data.values))}};
      in.tables[name] = std::move(data);
    }
    std::string bits;
    for (int64_t b = 0; b < in.batch; ++b)
      for (int64_t h = 0; h < evaluator->heads(); ++h)
        for (int64_t i = 0; i < in.lq; ++i)
          for (int64_t k = 0; k < in.lk; ++k)
            bits.push_back(
                evaluator->keep(in, b, h, i + in.lk - in.lq, k) ? '1' : '0');
    llvm::json::Object doc{
        {"kernel", kernel.getSymName()},
        {"program", llvm::json::parse(evaluator->toJSON()).get()},
        {"batch", in.batch},
        {"lq", in.lq},
        {"lk", in.lk},
        {"tables", std::move(tables)},
        {"keep", bits}};
    llvm::outs() << llvm::json::Value(std::move(doc)) << "\n";
  });
  return status;
}
