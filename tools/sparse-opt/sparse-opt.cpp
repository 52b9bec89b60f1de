//===- sparse-opt.cpp - mlir-opt with the sattn dialects and passes -------===//
//
// The compiler developer's driver: parses mask/sattn IR, runs any sattn or
// upstream pass, prints the result. Invalid IR produces diagnostics and a
// non-zero exit status, never a crash.
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"
#include "sattn/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  sattn::registerAllDialects(registry);
  sattn::registerAllPasses();
  sattn::setVersionPrinter("sparse-opt");
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "sattn sparse-attention optimizer driver\n", registry));
}
