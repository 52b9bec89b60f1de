//===- MaskTablesTestSupport.h - kernels and random tables for mask tests -*- C++ -*-===//
//
// The kernel text around a mask body and random contents for every table a
// kernel declares, shared by the tests that compare a rewritten or analysed
// mask with the original pair by pair (ExpandMasksTest.cpp,
// MaskSeparationTest.cpp): both need tables whose shapes follow the table
// dims and whose values repeat (documents) or mix 0 and 1 (bool tables).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_MASKTABLESTESTSUPPORT_H
#define SATTN_TEST_UNIT_MASKTABLESTESTSUPPORT_H

#include "sattn/Core/MaskInputs.h"

#include "Mask/IR/MaskOps.h"

#include "mlir/IR/BuiltinOps.h"

#include <random>
#include <string>

namespace sattn::masktest {

/// A kernel around `body` (IR without terminator that defines `%m`), which
/// it yields.
inline std::string kernelText(const std::string &body, int64_t heads, int64_t kvHeads) {
  return "sattn.kernel @k(dtype = bf16, head_dim = 64, heads = " + std::to_string(heads) +
         ", kv_heads = " + std::to_string(kvHeads) + ", scale = 0.125) {\n" + body +
         "\n  sattn.yield %m\n}\n";
}

/// Fills every table `module` declares, for `inputs`' batch and Lk and
/// `heads` heads: bool tables with 0 / 1, integer tables with ids drawn
/// from [minId, maxId] (a small range, so that documents repeat).
inline void fillRandomTables(mlir::ModuleOp module, MaskInputs &inputs, int64_t heads,
                             int64_t minId, int64_t maxId, std::mt19937 &rng) {
  module.walk([&](mask::TableOp table) {
    TableData data;
    int64_t count = 1;
    for (mlir::Attribute attr : table.getDims()) {
      mask::TableDim dim;
      mask::parseTableDim(mlir::cast<mlir::StringAttr>(attr).getValue(), dim);
      int64_t extent = 0;
      switch (dim.kind) {
      case mask::TableDim::Batch:
        extent = inputs.batch;
        break;
      case mask::TableDim::Head:
        extent = dim.blocksOf(heads);
        break;
      case mask::TableDim::QueryPos:
      case mask::TableDim::KeyPos:
        extent = (inputs.lk + dim.blockSize - 1) / dim.blockSize;
        break;
      case mask::TableDim::Literal:
        extent = dim.extent;
        break;
      }
      data.shape.push_back(extent);
      count *= extent;
    }
    bool isBool = table.getElementType().isInteger(1);
    std::uniform_int_distribution<int64_t> value(isBool ? 0 : minId, isBool ? 1 : maxId);
    for (int64_t i = 0; i < count; ++i)
      data.values.push_back(value(rng));
    inputs.tables[table.getSymName().str()] = std::move(data);
  });
}

} // namespace sattn::masktest

#endif // SATTN_TEST_UNIT_MASKTABLESTESTSUPPORT_H
