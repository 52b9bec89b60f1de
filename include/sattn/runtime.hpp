//===- sattn/runtime.hpp - C++ wrapper of libsattn_runtime ------*- C++ -*-===//
//
// Header-only RAII layer over the C API of sattn/runtime.h, for C++ programs
// that embed compiled sattn kernels. It adds no dependency beyond the C++17
// standard library and libsattn_runtime itself.
//
// Error style: every failing call throws sattn::runtime::Error, which carries
// the sattn_status and the runtime's message (what() is the message). The
// runtime already validates everything and reports it precisely, so C++
// callers get one exception type to catch instead of statuses to thread
// through. Code built without exceptions should use the C API directly.
//
//   auto kernel = sattn::runtime::Kernel::fromFile("out/streaming.json");
//   kernel.launch(q, k, v, o, nullptr, plan, {}, stream);  // sattn_tensor's
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_RUNTIME_HPP
#define SATTN_RUNTIME_HPP

#include "sattn/runtime.h"

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sattn::runtime {

/// A failed runtime call: the status and the runtime's message.
class Error : public std::runtime_error {
public:
  Error(sattn_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  sattn_status status() const noexcept { return status_; }
  const char *statusName() const noexcept { return sattn_status_string(status_); }

private:
  sattn_status status_;
};

/// Throws Error with this thread's last runtime message unless `status` is OK.
inline void check(sattn_status status) {
  if (status != SATTN_OK)
    throw Error(status, sattn_last_error());
}

/// A tensor descriptor; `strides` default to the contiguous row-major ones.
/// Throws Error(SATTN_ERROR_INVALID_ARGUMENT) for rank > 4 or mismatched
/// stride counts (the runtime validates everything else).
inline sattn_tensor tensor(void *data, sattn_dtype dtype,
                           std::initializer_list<int64_t> shape,
                           std::initializer_list<int64_t> strides = {}) {
  if (shape.size() > 4)
    throw Error(SATTN_ERROR_INVALID_ARGUMENT, "sattn::runtime::tensor: rank " +
                                                  std::to_string(shape.size()) +
                                                  " > 4");
  if (strides.size() != 0 && strides.size() != shape.size())
    throw Error(SATTN_ERROR_INVALID_ARGUMENT,
                "sattn::runtime::tensor: " + std::to_string(shape.size()) +
                    " extents but " + std::to_string(strides.size()) + " strides");
  sattn_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t extent : shape)
    t.shape[i++] = extent;
  if (strides.size() != 0) {
    i = 0;
    for (int64_t stride : strides)
      t.strides[i++] = stride;
  } else {
    int64_t stride = 1;
    for (int d = t.rank - 1; d >= 0; --d) {
      t.strides[d] = stride;
      stride *= t.shape[d];
    }
  }
  return t;
}

/// Owns one loaded kernel. Move-only; an empty (moved-from or
/// default-constructed) Kernel throws INVALID_ARGUMENT from launch().
class Kernel {
public:
  Kernel() noexcept = default;
  /// Takes ownership of a kernel from the C API.
  explicit Kernel(sattn_kernel *kernel) noexcept : kernel_(kernel) {}
  Kernel(Kernel &&other) noexcept : kernel_(std::exchange(other.kernel_, nullptr)) {}
  Kernel &operator=(Kernel &&other) noexcept {
    if (this != &other) {
      sattn_kernel_destroy(kernel_);
      kernel_ = std::exchange(other.kernel_, nullptr);
    }
    return *this;
  }
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;
  ~Kernel() { sattn_kernel_destroy(kernel_); }

  /// NAME.json with NAME.cubin and/or NAME.ptx beside it.
  static Kernel fromFile(const std::string &manifestPath) {
    sattn_kernel *k = nullptr;
    check(sattn_kernel_load_file(manifestPath.c_str(), &k));
    return Kernel(k);
  }
  /// A manifest and a PTX or cubin image in memory (e.g. embedded by the
  /// header sattn-compile generates). Both are copied.
  static Kernel fromMemory(const std::string &manifestJson, const void *image,
                           size_t imageSize) {
    sattn_kernel *k = nullptr;
    check(sattn_kernel_load(manifestJson.c_str(), image, imageSize, &k));
    return Kernel(k);
  }

  explicit operator bool() const noexcept { return kernel_ != nullptr; }
  const sattn_kernel *get() const noexcept { return kernel_; }
  sattn_kernel *release() noexcept { return std::exchange(kernel_, nullptr); }

  std::string name() const {
    const char *n = sattn_kernel_name(kernel_);
    return n ? n : "";
  }
  sattn_dtype dtype() const { return sattn_kernel_dtype(kernel_); }
  int64_t heads() const { return sattn_kernel_heads(kernel_); }
  int64_t kvHeads() const { return sattn_kernel_kv_heads(kernel_); }
  int64_t headDim() const { return sattn_kernel_head_dim(kernel_); }
  int64_t blockM() const { return sattn_kernel_block_m(kernel_); }
  int64_t blockN() const { return sattn_kernel_block_n(kernel_); }
  bool returnsLse() const { return sattn_kernel_returns_lse(kernel_) != 0; }

  std::vector<std::string> tableNames() const {
    std::vector<std::string> names;
    for (int32_t i = 0; i < sattn_kernel_num_tables(kernel_); ++i)
      names.emplace_back(sattn_kernel_table_name(kernel_, i));
    return names;
  }
  /// The shape table `i` must have for `batch` and key length `lk`.
  std::vector<int64_t> tableShape(int32_t i, int64_t batch, int64_t lk) const {
    int64_t shape[4];
    int32_t rank = sattn_kernel_table_shape(kernel_, i, batch, lk, shape);
    if (rank < 0)
      throw Error(SATTN_ERROR_TABLE, "kernel '" + name() + "' has no table " +
                                         std::to_string(i));
    return std::vector<int64_t>(shape, shape + rank);
  }

  /// Checks a launch without running it (no driver needed).
  void validate(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
                const sattn_tensor &o, const sattn_tensor *lse, const sattn_plan &plan,
                const std::vector<sattn_tensor> &tables = {}) const {
    check(sattn_validate(kernel_, &q, &k, &v, &o, lse, &plan, tables.data(),
                         static_cast<int32_t>(tables.size())));
  }
  /// Validates, then launches asynchronously on `stream` (a CUstream or
  /// cudaStream_t; nullptr for the default stream) in the current context.
  void launch(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
              const sattn_tensor &o, const sattn_tensor *lse, const sattn_plan &plan,
              const std::vector<sattn_tensor> &tables = {}, void *stream = nullptr) const {
    check(sattn_launch(kernel_, &q, &k, &v, &o, lse, &plan, tables.data(),
                       static_cast<int32_t>(tables.size()), stream));
  }

private:
  sattn_kernel *kernel_ = nullptr;
};

} // namespace sattn::runtime

#endif // SATTN_RUNTIME_HPP
