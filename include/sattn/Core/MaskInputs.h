//===- MaskInputs.h - runtime inputs of a mask ----------------*- C++ -*-===//
//
// Lengths, batch and table contents a mask is evaluated or planned for. Kept
// apart from the program because one program serves many inputs; plain
// C++17 so that the runtime and the compiler share it.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_MASKINPUTS_H
#define SATTN_CORE_MASKINPUTS_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sattn {

/// Contents of one runtime table, row-major. Bool tables hold 0/1. The
/// elements are owned (`values`) or borrowed from the caller (`borrowed`):
/// libsattn_runtime plans straight from the caller's tensors, since copying
/// a per-head block table (8 MiB at 32K tokens) cost more than planning it.
/// Readers go through data() and size().
struct TableData {
  std::vector<int64_t> shape;
  std::vector<int64_t> values;
  /// When non-null, the table's `borrowedSize` elements, valid while the
  /// inputs are in use; `values` is then ignored.
  const int64_t *borrowed = nullptr;
  std::size_t borrowedSize = 0;

  const int64_t *data() const { return borrowed ? borrowed : values.data(); }
  std::size_t size() const { return borrowed ? borrowedSize : values.size(); }
};

/// Runtime inputs a mask may depend on. Positions are absolute: the query
/// at row i of a length-lq query block has position q = i + (lk - lq), so
/// every position lies in [0, lk).
struct MaskInputs {
  int64_t batch = 1;
  int64_t lq = 0;
  int64_t lk = 0;
  std::map<std::string, TableData, std::less<>> tables;
};

} // namespace sattn

#endif // SATTN_CORE_MASKINPUTS_H
