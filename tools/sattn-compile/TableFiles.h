//===- TableFiles.h - runtime tables given to sattn-compile ----*- C++ -*-===//
//
// `--table NAME=FILE` gives the planner real contents for a runtime table,
// so that the summary's plan and the tile maps of a mask that reads tables
// (document ids, block tables, vertical-slash columns) show what a call with
// those tables visits instead of the all-zero tables used otherwise. FILE is
// a NumPy .npy array of integers or booleans with the declared shape, or
// text: the values in row-major order separated by spaces, commas, brackets
// or newlines. Shapes are checked against the kernel's declaration for
// batch 1 and the key length planned, as libsattn_runtime checks them.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TOOLS_SATTN_COMPILE_TABLEFILES_H
#define SATTN_TOOLS_SATTN_COMPILE_TABLEFILES_H

#include "sattn/Core/MaskInputs.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "llvm/ADT/ArrayRef.h"

#include <map>
#include <optional>
#include <string>

namespace sattn::tool {

class TableFiles {
public:
  /// Parses NAME=FILE items (files are read when a kernel's inputs are
  /// built: their shape depends on the kernel and the lengths).
  static std::optional<TableFiles> parse(llvm::ArrayRef<std::string> items,
                                         std::string &error);

  bool empty() const { return files.empty(); }

  /// Fails naming a table no kernel of `kernels` declares.
  bool checkNames(llvm::ArrayRef<KernelOp> kernels, std::string &error) const;

  /// The planner's inputs for `kernel` at (lq, lk), batch 1: the given
  /// tables read and checked, every other declared table all zero.
  std::optional<MaskInputs> inputs(KernelOp kernel, int64_t lq, int64_t lk,
                                   std::string &error) const;

  /// How inputs() fills the tables of `kernel`, for the summary: "" (no
  /// tables), "tables all zero", "tables from --table" or "tables from
  /// --table, others zero".
  std::string describe(KernelOp kernel) const;

private:
  std::map<std::string, std::string> files; // table name -> file
};

} // namespace sattn::tool

#endif // SATTN_TOOLS_SATTN_COMPILE_TABLEFILES_H
