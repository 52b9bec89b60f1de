//===- KernelVerifierTest.cpp - sattn.kernel configuration rules ----------===//
//
// Builds kernels from IR text and checks that the verifier accepts valid
// configurations and rejects each invalid one with its own message.
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/LLVM.h"

#include <gtest/gtest.h>

namespace {

/// Parses `ir`; returns "" on success, the first diagnostic otherwise.
std::string parseAndVerify(llvm::StringRef ir) {
  mlir::DialectRegistry registry;
  sattn::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  std::string message;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (message.empty())
      message = d.str();
    return mlir::success();
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(ir, &context);
  if (!module && message.empty())
    message = "parse failed without a diagnostic";
  return message;
}

std::string kernel(llvm::StringRef config, llvm::StringRef body = "") {
  return ("sattn.kernel @k(" + config + ") {\n" + body +
          "  %c = mask.causal\n  sattn.yield %c\n}\n")
      .str();
}

TEST(KernelVerifier, AcceptsValidConfigurations) {
  for (const char *cfg :
       {"dtype = bf16, head_dim = 128, heads = 32, kv_heads = 8, scale = 0.1",
        "dtype = f16, head_dim = 64, heads = 16, kv_heads = 1, scale = 1.0",
        "dtype = bf16, head_dim = 256, heads = 4, kv_heads = 4, scale = 2.0"})
    EXPECT_EQ(parseAndVerify(kernel(cfg)), "") << cfg;
}

TEST(KernelVerifier, RejectsEachBadParameter) {
  struct Case {
    const char *config;
    const char *message;
  } cases[] = {
      {"dtype = f32, head_dim = 128, heads = 4, kv_heads = 4, scale = 0.1",
       "dtype must be bf16 or f16"},
      {"dtype = bf16, head_dim = 96, heads = 4, kv_heads = 4, scale = 0.1",
       "head_dim must be 64, 128 or 256"},
      {"dtype = bf16, head_dim = 128, heads = 6, kv_heads = 4, scale = 0.1",
       "must be a multiple of kv_heads"},
      {"dtype = bf16, head_dim = 128, heads = 0, kv_heads = 4, scale = 0.1",
       "heads must be between 1 and 4096"},
      {"dtype = bf16, head_dim = 128, heads = 4, kv_heads = 4, scale = -1.0",
       "scale must be positive"},
  };
  for (const Case &c : cases) {
    std::string got = parseAndVerify(kernel(c.config));
    EXPECT_NE(got.find(c.message), std::string::npos)
        << c.config << " gave: " << got;
  }
}

TEST(KernelVerifier, PerHeadAssignmentMustCoverEveryHead) {
  std::string ir =
      "sattn.kernel @k(dtype = bf16, head_dim = 64, heads = 4, kv_heads = 4, "
      "scale = 0.1) {\n  %c = mask.causal\n  %f = mask.full\n"
      "  %p = mask.per_head %c, %f assign [0, 1, 0]\n  sattn.yield %p\n}\n";
  EXPECT_NE(parseAndVerify(ir).find("assigns 3 heads but the kernel has 4"),
            std::string::npos);
}

} // namespace
