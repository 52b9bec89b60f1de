//===- TableFiles.cpp - runtime tables given to sattn-compile -------------===//
//
// Reads .npy files (little-endian bool/int8..int64/uint8..uint64, C order;
// format versions 1-3) and text files of integers into the row-major int64
// values the planner takes. Every failure names the option, the file and
// what was expected.
//
//===----------------------------------------------------------------------===//

#include "TableFiles.h"

#include "sattn/Plan/TilePlanner.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstring>

using namespace sattn;
using namespace sattn::tool;

namespace {

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A NumPy array's shape and values; false with `error` when it is not a
/// C-order array of little-endian integers or booleans.
bool readNpy(llvm::StringRef bytes, std::vector<int64_t> &shape,
             std::vector<int64_t> &values, std::string &error) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY")) {
    error = "not a .npy file";
    return false;
  }
  unsigned major = (uint8_t)bytes[6];
  size_t headerLength, start;
  if (major == 1) {
    headerLength = (uint8_t)bytes[8] | (uint8_t)bytes[9] << 8;
    start = 10;
  } else {
    if (bytes.size() < 12) {
      error = "truncated .npy header";
      return false;
    }
    headerLength = (uint32_t)(uint8_t)bytes[8] | (uint32_t)(uint8_t)bytes[9] << 8 |
                   (uint32_t)(uint8_t)bytes[10] << 16 | (uint32_t)(uint8_t)bytes[11] << 24;
    start = 12;
  }
  if (start + headerLength > bytes.size()) {
    error = "truncated .npy header";
    return false;
  }
  llvm::StringRef header = bytes.substr(start, headerLength);
  auto field = [&](llvm::StringRef key) {
    size_t at = header.find(("'" + key + "':").str());
    return at == llvm::StringRef::npos ? llvm::StringRef()
                                       : header.substr(at + key.size() + 3).ltrim();
  };
  llvm::StringRef descr = field("descr");
  if (!descr.consume_front("'")) {
    error = "the .npy header has no dtype";
    return false;
  }
  descr = descr.take_until([](char c) { return c == '\''; });
  if (field("fortran_order").starts_with("True")) {
    error = "the array is in Fortran order; save it in C order";
    return false;
  }
  llvm::StringRef dims = field("shape");
  if (!dims.consume_front("(")) {
    error = "the .npy header has no shape";
    return false;
  }
  dims = dims.take_until([](char c) { return c == ')'; });
  llvm::SmallVector<llvm::StringRef> parts;
  dims.split(parts, ',', -1, /*KeepEmpty=*/false);
  shape.clear();
  for (llvm::StringRef p : parts) {
    int64_t extent;
    if (p.trim().empty())
      continue;
    if (p.trim().getAsInteger(10, extent)) {
      error = "bad shape in the .npy header";
      return false;
    }
    shape.push_back(extent);
  }
  char kind = descr.size() == 3 ? descr[1] : 0;
  unsigned size = descr.size() == 3 ? unsigned(descr[2] - '0') : 0;
  bool littleOrByte = !descr.empty() && (descr[0] == '<' || descr[0] == '|');
  if (!littleOrByte || (kind != 'b' && kind != 'i' && kind != 'u') ||
      (size != 1 && size != 2 && size != 4 && size != 8)) {
    error = "dtype '" + descr.str() + "' is not a little-endian integer or bool type";
    return false;
  }
  int64_t count = 1;
  for (int64_t e : shape)
    count *= e;
  llvm::StringRef data = bytes.substr(start + headerLength);
  if (data.size() < size_t(count) * size) {
    error = "the file holds fewer values than its shape " + shapeText(shape) + " needs";
    return false;
  }
  values.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    uint64_t raw = 0;
    std::memcpy(&raw, data.data() + i * size, size); // little-endian host
    if (kind == 'i' && size < 8 && (raw >> (8 * size - 1)) & 1)
      raw |= ~uint64_t(0) << (8 * size); // sign-extend
    values[i] = static_cast<int64_t>(raw);
  }
  return true;
}

/// Integers separated by spaces, commas, brackets or newlines.
bool readText(llvm::StringRef text, std::vector<int64_t> &values, std::string &error) {
  llvm::SmallVector<llvm::StringRef> tokens;
  llvm::SplitString(text, tokens, " \t\r\n,[]");
  values.clear();
  for (llvm::StringRef t : tokens) {
    int64_t v;
    if (t == "True" || t == "true")
      v = 1;
    else if (t == "False" || t == "false")
      v = 0;
    else if (t.getAsInteger(10, v)) {
      error = "'" + t.str() + "' is not an integer";
      return false;
    }
    values.push_back(v);
  }
  return true;
}

} // namespace

std::optional<TableFiles> TableFiles::parse(llvm::ArrayRef<std::string> items,
                                            std::string &error) {
  TableFiles result;
  for (llvm::StringRef item : items) {
    auto [name, file] = item.split('=');
    if (name.empty() || file.empty()) {
      error = "--table expects NAME=FILE, got '" + item.str() + "'";
      return std::nullopt;
    }
    result.files[name.str()] = file.str();
  }
  return result;
}

bool TableFiles::checkNames(llvm::ArrayRef<KernelOp> kernels, std::string &error) const {
  for (const auto &entry : files) {
    const std::string &name = entry.first;
    bool declared = llvm::any_of(kernels, [&](KernelOp k) {
      return llvm::any_of(plan::declaredTableShapes(k, 1, 1),
                          [&](const auto &t) { return t.first == name; });
    });
    if (!declared) {
      error = "--table " + name + "=" + entry.second +
              ": no kernel of the spec declares a table '" + name + "'";
      return false;
    }
  }
  return true;
}

std::optional<MaskInputs> TableFiles::inputs(KernelOp kernel, int64_t lq, int64_t lk,
                                             std::string &error) const {
  std::optional<MaskInputs> zeros = plan::zeroTableInputs(kernel, lq, lk, error);
  if (!zeros)
    return std::nullopt;
  MaskInputs &in = *zeros;
  for (auto &[name, data] : in.tables) {
    auto it = files.find(name);
    if (it == files.end())
      continue;
    std::string where = "--table " + name + "=" + it->second + ": ";
    auto buffer = llvm::MemoryBuffer::getFile(it->second);
    if (!buffer) {
      error = where + buffer.getError().message();
      return std::nullopt;
    }
    llvm::StringRef bytes = (*buffer)->getBuffer();
    std::vector<int64_t> shape, values;
    bool npy = bytes.starts_with("\x93NUMPY");
    if (!(npy ? readNpy(bytes, shape, values, error) : readText(bytes, values, error))) {
      error = where + error;
      return std::nullopt;
    }
    if (npy && shape != data.shape) {
      error = where + "the array has shape " + shapeText(shape) + ", table '" + name +
              "' of kernel " + kernel.getSymName().str() + " needs " + shapeText(data.shape) +
              " at batch 1, Lk = " + std::to_string(lk);
      return std::nullopt;
    }
    if (values.size() != data.values.size()) {
      error = where + "the file holds " + std::to_string(values.size()) + " values, table '" +
              name + "' of kernel " + kernel.getSymName().str() + " needs " +
              std::to_string(data.values.size()) + " (shape " + shapeText(data.shape) +
              " at batch 1, Lk = " + std::to_string(lk) + ")";
      return std::nullopt;
    }
    data.values = std::move(values);
  }
  return zeros;
}

std::string TableFiles::describe(KernelOp kernel) const {
  auto declared = plan::declaredTableShapes(kernel, 1, 1);
  if (declared.empty())
    return "";
  size_t given = llvm::count_if(declared, [&](const auto &t) { return files.count(t.first); });
  if (given == 0)
    return "tables all zero";
  return given == declared.size() ? "tables from --table" : "tables from --table, others zero";
}
