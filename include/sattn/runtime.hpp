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
//   auto plan = sattn::runtime::HostPlan::build(kernel, batch, lq, lk).upload();
//   kernel.launch(q, k, v, o, nullptr, plan.get(), {}, stream);  // sattn_tensor's
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

/// Move-only ownership of one C API object, released with `Destroy`.
template <typename T, void (*Destroy)(T *)> class Owned {
public:
  Owned() noexcept = default;
  explicit Owned(T *object) noexcept : object_(object) {}
  Owned(Owned &&other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  Owned &operator=(Owned &&other) noexcept {
    if (this != &other) {
      Destroy(object_);
      object_ = std::exchange(other.object_, nullptr);
    }
    return *this;
  }
  Owned(const Owned &) = delete;
  Owned &operator=(const Owned &) = delete;
  ~Owned() { Destroy(object_); }

  explicit operator bool() const noexcept { return object_ != nullptr; }
  const T *handle() const noexcept { return object_; }
  /// Gives up ownership (the caller destroys the object).
  T *release() noexcept { return std::exchange(object_, nullptr); }

private:
  T *object_ = nullptr;
};

/// Owns one loaded kernel. Move-only; an empty (moved-from or
/// default-constructed) Kernel throws INVALID_ARGUMENT from launch().
class Kernel : public Owned<sattn_kernel, sattn_kernel_destroy> {
public:
  /// Takes ownership of a kernel from the C API.
  using Owned::Owned;

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

  const sattn_kernel *get() const noexcept { return handle(); }

  std::string name() const {
    const char *n = sattn_kernel_name(handle());
    return n ? n : "";
  }
  sattn_dtype dtype() const { return sattn_kernel_dtype(handle()); }
  int64_t heads() const { return sattn_kernel_heads(handle()); }
  int64_t kvHeads() const { return sattn_kernel_kv_heads(handle()); }
  int64_t headDim() const { return sattn_kernel_head_dim(handle()); }
  int64_t blockM() const { return sattn_kernel_block_m(handle()); }
  int64_t blockN() const { return sattn_kernel_block_n(handle()); }
  bool returnsLse() const { return sattn_kernel_returns_lse(handle()) != 0; }

  std::vector<std::string> tableNames() const {
    std::vector<std::string> names;
    for (int32_t i = 0; i < sattn_kernel_num_tables(handle()); ++i)
      names.emplace_back(sattn_kernel_table_name(handle(), i));
    return names;
  }
  /// The shape table `i` must have for `batch` and key length `lk`.
  std::vector<int64_t> tableShape(int32_t i, int64_t batch, int64_t lk) const {
    int64_t shape[4];
    int32_t rank = sattn_kernel_table_shape(handle(), i, batch, lk, shape);
    if (rank < 0)
      throw Error(SATTN_ERROR_TABLE, "kernel '" + name() + "' has no table " +
                                         std::to_string(i));
    return std::vector<int64_t>(shape, shape + rank);
  }

  /// Checks a launch without running it (no driver needed).
  void validate(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
                const sattn_tensor &o, const sattn_tensor *lse, const sattn_plan &plan,
                const std::vector<sattn_tensor> &tables = {}) const {
    check(sattn_validate(handle(), &q, &k, &v, &o, lse, &plan, tables.data(),
                         static_cast<int32_t>(tables.size())));
  }
  /// Validates, then launches asynchronously on `stream` (a CUstream or
  /// cudaStream_t; nullptr for the default stream) in the current context.
  void launch(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
              const sattn_tensor &o, const sattn_tensor *lse, const sattn_plan &plan,
              const std::vector<sattn_tensor> &tables = {}, void *stream = nullptr) const {
    check(sattn_launch(handle(), &q, &k, &v, &o, lse, &plan, tables.data(),
                       static_cast<int32_t>(tables.size()), stream));
  }
  /// Whether the kernel writes block maxima (`block_max = true`).
  bool hasBlockMax() const { return sattn_kernel_has_block_max(handle()) != 0; }
  /// Validates, then launches a block_max kernel on `stream`: launch's
  /// arguments plus rowMax (f32 (B, H, N, Lq) scratch) and blockMax (f32
  /// (B, H, T, N), written); runtime.h, "Block maxima".
  void launchBlockMax(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
                      const sattn_tensor &o, const sattn_tensor *lse,
                      const sattn_tensor &rowMax, const sattn_tensor &blockMax,
                      const sattn_plan &plan, const std::vector<sattn_tensor> &tables = {},
                      void *stream = nullptr) const {
    check(sattn_launch_block_max(handle(), &q, &k, &v, &o, lse, &rowMax, &blockMax, &plan,
                                 tables.data(), static_cast<int32_t>(tables.size()), stream));
  }
  /// Whether the kernel has a backward pass (sattn-compile --backward).
  bool hasBackward() const { return sattn_kernel_has_backward(handle()) != 0; }
  /// Checks a backward launch without running it (no driver needed).
  void validateBackward(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
                        const sattn_tensor &o, const sattn_tensor &lse, const sattn_tensor &dO,
                        const sattn_tensor &dQ, const sattn_tensor &dK, const sattn_tensor &dV,
                        const sattn_plan &plan,
                        const std::vector<sattn_tensor> &tables = {}) const {
    check(sattn_validate_backward(handle(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &plan,
                                  tables.data(), static_cast<int32_t>(tables.size())));
  }
  /// Zeroes dQ, dK, dV (f32, contiguous) and launches the backward kernel
  /// on `stream`, over the forward's plan and tables.
  void launchBackward(const sattn_tensor &q, const sattn_tensor &k, const sattn_tensor &v,
                      const sattn_tensor &o, const sattn_tensor &lse, const sattn_tensor &dO,
                      const sattn_tensor &dQ, const sattn_tensor &dK, const sattn_tensor &dV,
                      const sattn_plan &plan, const std::vector<sattn_tensor> &tables = {},
                      void *stream = nullptr) const {
    check(sattn_launch_backward(handle(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &plan,
                                tables.data(), static_cast<int32_t>(tables.size()), stream));
  }
  /// The deterministic backward (runtime.h): dK and dV as int64 fixed-point
  /// sums at the device float32 pair `dkvScales`; divide them by the scales.
  void launchBackwardDeterministic(const sattn_tensor &q, const sattn_tensor &k,
                                   const sattn_tensor &v, const sattn_tensor &o,
                                   const sattn_tensor &lse, const sattn_tensor &dO,
                                   const sattn_tensor &dQ, const sattn_tensor &dK,
                                   const sattn_tensor &dV, const sattn_tensor &dkvScales,
                                   const sattn_plan &plan,
                                   const std::vector<sattn_tensor> &tables = {},
                                   void *stream = nullptr) const {
    check(sattn_launch_backward_deterministic(handle(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK,
                                              &dV, &dkvScales, &plan, tables.data(),
                                              static_cast<int32_t>(tables.size()), stream));
  }
  /// Bytes of device workspace buildDevicePlan needs (docs/DEVICE_PLANS.md).
  size_t devicePlanWorkspace(int64_t batch, int64_t lq, int64_t lk) const {
    size_t bytes = 0;
    check(sattn_device_plan_workspace(handle(), batch, lq, lk, &bytes));
    return bytes;
  }
  /// Builds the plan on the GPU, on `stream`, in `workspace` (device memory,
  /// 256-byte aligned); `tables`: device int64 tensors in manifest order.
  sattn_plan buildDevicePlan(int64_t batch, int64_t lq, int64_t lk,
                             const std::vector<sattn_tensor> &tables, void *workspace,
                             size_t workspaceBytes, void *stream = nullptr) const {
    sattn_plan plan;
    check(sattn_device_plan_build(handle(), batch, lq, lk, tables.data(),
                                  static_cast<int32_t>(tables.size()), workspace,
                                  workspaceBytes, stream, &plan));
    return plan;
  }
  /// The plan buildDevicePlan writes, with its buffer pointers as byte
  /// offsets into the workspace (sattn_device_plan_layout): to launch later
  /// from a workspace built earlier without building again.
  sattn_plan devicePlanLayout(int64_t batch, int64_t lq, int64_t lk) const {
    sattn_plan plan;
    check(sattn_device_plan_layout(handle(), batch, lq, lk, &plan));
    return plan;
  }
};

/// A tile plan in device memory (sattn_plan_upload); get() is what launch()
/// takes.
class DevicePlan : public Owned<sattn_device_plan, sattn_device_plan_destroy> {
public:
  using Owned::Owned;
  const sattn_plan &get() const {
    const sattn_plan *p = sattn_device_plan_get(handle());
    if (!p)
      throw Error(SATTN_ERROR_INVALID_ARGUMENT, "sattn::runtime::DevicePlan is empty");
    return *p;
  }
};

/// A tile plan built on the host by the runtime (sattn_plan_build) from the
/// kernel's mask program, for one (batch, Lq, Lk) and table contents.
class HostPlan : public Owned<sattn_host_plan, sattn_host_plan_destroy> {
public:
  using Owned::Owned;
  /// `tables`: host int64 contiguous tensors in manifest order.
  static HostPlan build(const Kernel &kernel, int64_t batch, int64_t lq, int64_t lk,
                        const std::vector<sattn_tensor> &tables = {}) {
    sattn_host_plan *p = nullptr;
    check(sattn_plan_build(kernel.get(), batch, lq, lk, tables.data(),
                           static_cast<int32_t>(tables.size()), &p));
    return HostPlan(p);
  }
  /// Host pointers to the buffers and the counts (valid while this lives).
  sattn_plan view() const {
    sattn_plan v;
    sattn_host_plan_view(handle(), &v);
    return v;
  }
  int64_t visitedTiles() const { return stats().first; }
  int64_t denseTiles() const { return stats().second; }
  /// Copies the plan to the current CUDA context's device.
  DevicePlan upload() const {
    sattn_device_plan *p = nullptr;
    check(sattn_plan_upload(handle(), &p));
    return DevicePlan(p);
  }

private:
  std::pair<int64_t, int64_t> stats() const {
    std::pair<int64_t, int64_t> s;
    sattn_host_plan_stats(handle(), &s.first, &s.second);
    return s;
  }
};

} // namespace sattn::runtime

#endif // SATTN_RUNTIME_HPP
