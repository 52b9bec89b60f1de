//===- MaskProgramTypesTest.cpp - the mask program verifier's typing rules -===//
//
// A mask program read from a manifest is checked before anything evaluates
// or plans it. Beyond indices and ranges, its predicate instructions must be
// well typed: the evaluator and the planner's interval analysis read the
// same registers under the same widths, and an ill-typed program (found by
// sattn-runtime-fuzz: a select whose condition was a 64-bit register) made
// them disagree, so that the planner skipped pairs the evaluator kept.
// Each rule is checked here on a program the compiler wrote, edited by hand.
//
//===----------------------------------------------------------------------===//

#include "sattn/Analysis/CompiledMask.h"
#include "sattn/Core/MaskProgram.h"
#include "sattn/InitAll.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <functional>

namespace {

/// A predicate that uses every typing rule: a lookup of an integer table
/// (index result), sign extension, arithmetic, a comparison (i1), a select
/// on it and a bool table.
constexpr const char *kKernel = R"mlir(
sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 2, kv_heads = 2, scale = 0.125) {
  mask.table @span : i32 ["h"]
  mask.table @open : i1 ["k"]
  %m = mask.predicate(%b, %h, %q, %k) {
    %s = mask.lookup @span[%h] : index
    %o = mask.lookup @open[%k] : i1
    %d = arith.subi %q, %k : index
    %n = arith.index_cast %d : index to i32
    %w = arith.index_cast %n : i32 to index
    %lt = arith.cmpi ult, %w, %s : index
    %c7 = arith.constant 7 : index
    %x = arith.select %lt, %w, %c7 : index
    %z = arith.constant 0 : index
    %ge = arith.cmpi sge, %x, %z : index
    %r = arith.ori %ge, %o : i1
    mask.yield %r
  }
  sattn.yield %m
}
)mlir";

class MaskProgramTypes : public ::testing::Test {
protected:
  void SetUp() override {
    mlir::DialectRegistry registry;
    sattn::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(kKernel, &context);
    ASSERT_TRUE(module);
    auto kernel = *module->getOps<sattn::KernelOp>().begin();
    auto evaluator = sattn::CompiledMask::compile(kernel);
    ASSERT_TRUE(mlir::succeeded(evaluator));
    auto parsed = llvm::json::parse(evaluator->toJSON());
    ASSERT_TRUE(bool(parsed));
    program = std::move(*parsed);
  }

  /// Instruction `i` of the predicate, to edit.
  llvm::json::Object &inst(size_t i) {
    return *(*program.getAsObject()->getArray("program"))[i].getAsObject();
  }
  /// The index of the first instruction with opcode `op`.
  size_t find(llvm::StringRef op) {
    auto &insts = *program.getAsObject()->getArray("program");
    for (size_t i = 0; i < insts.size(); ++i)
      if (insts[i].getAsObject()->getString("op") == op)
        return i;
    ADD_FAILURE() << "no " << op.str() << " instruction";
    return 0;
  }
  /// Parses the (edited) program; returns the error, "" when it loads.
  std::string load() {
    std::string text;
    llvm::raw_string_ostream(text) << program;
    sattn::MaskProgram out;
    std::string error;
    return sattn::parseMaskProgram(text, out, error) ? "" : error;
  }

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  llvm::json::Value program = nullptr;
};

TEST_F(MaskProgramTypes, CompiledProgramIsWellTyped) { EXPECT_EQ(load(), ""); }

TEST_F(MaskProgramTypes, EachRuleIsEnforced) {
  struct Case {
    const char *what;
    std::function<void()> edit;
    const char *expected;
  };
  const Case cases[] = {
      {"select on a 64-bit condition (the fuzzer's finding)",
       [&] { inst(find("select"))["a"] = inst(find("select"))["b"]; },
       "has a condition of 64 bits, expected i1"},
      {"select declared with a wide condition",
       [&] { inst(find("select"))["operand_width"] = 64; },
       "expected i1"},
      {"select between widths",
       [&] { inst(find("select"))["c"] = inst(find("select"))["a"]; },
       "selects between values of 64 and 1 bits"},
      {"comparison of an i1 with an index",
       [&] { inst(find("ult"))["a"] = inst(find("ult"))["a"].getAsInteger().value() - 1; },
       "reads values of 32 and 64 bits"},
      {"comparison giving 64 bits",
       [&] { inst(find("ult"))["width"] = 64; },
       "gives a 64-bit result from 64-bit operands"},
      {"arithmetic changing width",
       [&] { inst(find("sub"))["width"] = 32; },
       "gives a 32-bit result from 64-bit operands"},
      {"sign extension from the wrong width",
       [&] { inst(find("sext"))["operand_width"] = 16; },
       "reads a 64-bit value declared as 16 bits"},
      {"constant wider than its type",
       [&] {
         size_t c = find("const");
         inst(c)["width"] = 1;
       },
       "does not fit in 1 bits"},
      {"integer table read as i32",
       [&] { inst(find("lookup"))["width"] = 32; },
       "lookups give i1 for bool tables, index otherwise"},
  };
  llvm::json::Value pristine = program;
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    program = pristine;
    c.edit();
    std::string error = load();
    EXPECT_NE(error.find(c.expected), std::string::npos) << error;
  }
  // The predicate must yield a boolean.
  program = pristine;
  auto &node = *(*program.getAsObject()->getArray("nodes"))[0].getAsObject();
  (*node.getArray("param"))[1] = 2; // register q, an index
  EXPECT_NE(load().find("yields a value that is not a boolean"), std::string::npos)
      << load();
}

} // namespace
