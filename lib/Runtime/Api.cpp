//===- Api.cpp - the C API of libsattn_runtime ----------------------------===//
//
// Thin C entry points over Kernel, Manifest and Validate. Each one catches
// every C++ exception (std::bad_alloc becomes SATTN_ERROR_OUT_OF_MEMORY) so
// that none crosses the C boundary, and records its outcome in the
// thread-local last-error message.
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
#include "Kernel.h"
#include "LastError.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

using namespace sattn::rt;

namespace {

sattn_status create(const char *manifestJson, std::vector<Image> images,
                    sattn_kernel **out) {
  auto kernel = std::make_unique<sattn_kernel>();
  std::string error;
  if (!parseManifest(manifestJson, kernel->manifest, error))
    return fail(SATTN_ERROR_MANIFEST, error);
  kernel->images = std::move(images);
  *out = kernel.release();
  return succeed();
}

/// Reads a whole file; false with `error` set when it cannot be opened or read.
bool readFile(const std::string &path, std::string &data, std::string &error) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  data.clear();
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
    data.append(buffer, n);
  bool ok = !std::ferror(f);
  std::fclose(f);
  if (!ok)
    error = "cannot read '" + path + "'";
  return ok;
}

} // namespace

extern "C" {

sattn_status sattn_kernel_load(const char *manifest_json, const void *image,
                               size_t image_size, sattn_kernel **out) {
  return guarded([&] {
    if (!out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_kernel_load: out is NULL");
    *out = nullptr;
    if (!manifest_json)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_kernel_load: manifest_json is NULL");
    if (!image || image_size == 0)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_kernel_load: the image (PTX or cubin) is NULL or empty");
    std::vector<Image> images;
    images.push_back(Image::fromBytes(image, image_size));
    return create(manifest_json, std::move(images), out);
  });
}

sattn_status sattn_kernel_load_file(const char *manifest_path, sattn_kernel **out) {
  return guarded([&] {
    if (!out)
      return fail(SATTN_ERROR_INVALID_ARGUMENT, "sattn_kernel_load_file: out is NULL");
    *out = nullptr;
    if (!manifest_path)
      return fail(SATTN_ERROR_INVALID_ARGUMENT,
                  "sattn_kernel_load_file: manifest_path is NULL");
    std::string path = manifest_path, text, error;
    if (!readFile(path, text, error))
      return fail(SATTN_ERROR_MANIFEST, "manifest: " + error);
    if (std::memchr(text.data(), '\0', text.size()))
      return fail(SATTN_ERROR_MANIFEST, "manifest: '" + path + "' contains a NUL byte");
    std::string base = path;
    if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0)
      base.resize(base.size() - 5);
    std::vector<Image> images;
    for (const char *extension : {".cubin", ".ptx"}) {
      std::string bytes, ignored;
      if (readFile(base + extension, bytes, ignored) && !bytes.empty())
        images.push_back(Image::fromBytes(bytes.data(), bytes.size()));
    }
    if (images.empty())
      return fail(SATTN_ERROR_MANIFEST, "manifest: neither '" + base + ".cubin' nor '" +
                                            base + ".ptx' exists (or both are empty)");
    return create(text.c_str(), std::move(images), out);
  });
}

void sattn_kernel_destroy(sattn_kernel *kernel) {
  try {
    delete kernel;
  } catch (...) {
  }
}

const char *sattn_kernel_name(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.name.c_str() : nullptr;
}
int64_t sattn_kernel_heads(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.heads : 0;
}
int64_t sattn_kernel_kv_heads(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.kvHeads : 0;
}
int64_t sattn_kernel_head_dim(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.headDim : 0;
}
int32_t sattn_kernel_num_tables(const sattn_kernel *kernel) {
  return kernel ? static_cast<int32_t>(kernel->manifest.tables.size()) : 0;
}
const char *sattn_kernel_table_name(const sattn_kernel *kernel, int32_t i) {
  if (!kernel || i < 0 || i >= sattn_kernel_num_tables(kernel))
    return nullptr;
  return kernel->manifest.tables[i].name.c_str();
}
sattn_dtype sattn_kernel_dtype(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.dtype : SATTN_DTYPE_BF16;
}
int32_t sattn_kernel_returns_lse(const sattn_kernel *kernel) {
  return kernel && kernel->manifest.returnLse ? 1 : 0;
}
int64_t sattn_kernel_block_m(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.blockM : 0;
}
int64_t sattn_kernel_block_n(const sattn_kernel *kernel) {
  return kernel ? kernel->manifest.blockN : 0;
}
int32_t sattn_kernel_table_shape(const sattn_kernel *kernel, int32_t i, int64_t batch,
                                 int64_t lk, int64_t shape[4]) {
  if (!kernel || !shape || i < 0 || i >= sattn_kernel_num_tables(kernel) ||
      batch < 1 || lk < 0)
    return -1;
  const TableSpec &table = kernel->manifest.tables[i];
  for (size_t d = 0; d < table.dims.size(); ++d)
    shape[d] = table.dims[d].extent(batch, kernel->manifest.heads, lk);
  return static_cast<int32_t>(table.dims.size());
}

namespace {

/// sattn_validate and its block-max form (`caller` names the entry in
/// messages; `args.rowMax` and `args.blockMax` say which form).
sattn_status validateCall(const char *caller, const sattn_kernel *kernel,
                          const LaunchArgs &args) {
  if (!kernel)
    return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(caller) + ": kernel is NULL");
  LaunchShape shape;
  std::string message;
  return finish(validateLaunch(kernel->manifest, args, shape, message), message);
}

/// sattn_launch and its block-max form.
sattn_status launchCall(const char *caller, const sattn_kernel *kernel, const LaunchArgs &args,
                        void *stream) {
  if (!kernel)
    return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(caller) + ": kernel is NULL");
  std::string message;
  return finish(kernel->launch(args, stream, message), message);
}

} // namespace

sattn_status sattn_validate(const sattn_kernel *kernel, const sattn_tensor *q,
                            const sattn_tensor *k, const sattn_tensor *v,
                            const sattn_tensor *o, const sattn_tensor *lse,
                            const sattn_plan *plan, const sattn_tensor *tables,
                            int32_t num_tables) {
  return guarded([&] {
    return validateCall("sattn_validate", kernel,
                        LaunchArgs{q, k, v, o, lse, plan, tables, num_tables});
  });
}

sattn_status sattn_launch(const sattn_kernel *kernel, const sattn_tensor *q,
                          const sattn_tensor *k, const sattn_tensor *v,
                          const sattn_tensor *o, const sattn_tensor *lse,
                          const sattn_plan *plan, const sattn_tensor *tables,
                          int32_t num_tables, void *stream) {
  return guarded([&] {
    return launchCall("sattn_launch", kernel,
                      LaunchArgs{q, k, v, o, lse, plan, tables, num_tables}, stream);
  });
}

int32_t sattn_kernel_has_block_max(const sattn_kernel *kernel) {
  return kernel && kernel->manifest.blockMax ? 1 : 0;
}

sattn_status sattn_validate_block_max(const sattn_kernel *kernel, const sattn_tensor *q,
                                      const sattn_tensor *k, const sattn_tensor *v,
                                      const sattn_tensor *o, const sattn_tensor *lse,
                                      const sattn_tensor *row_max,
                                      const sattn_tensor *block_max, const sattn_plan *plan,
                                      const sattn_tensor *tables, int32_t num_tables) {
  return guarded([&] {
    return validateCall("sattn_validate_block_max", kernel,
                        LaunchArgs{q, k, v, o, lse, plan, tables, num_tables, row_max,
                                   block_max});
  });
}

sattn_status sattn_launch_block_max(const sattn_kernel *kernel, const sattn_tensor *q,
                                    const sattn_tensor *k, const sattn_tensor *v,
                                    const sattn_tensor *o, const sattn_tensor *lse,
                                    const sattn_tensor *row_max, const sattn_tensor *block_max,
                                    const sattn_plan *plan, const sattn_tensor *tables,
                                    int32_t num_tables, void *stream) {
  return guarded([&] {
    return launchCall("sattn_launch_block_max", kernel,
                      LaunchArgs{q, k, v, o, lse, plan, tables, num_tables, row_max,
                                 block_max},
                      stream);
  });
}

int32_t sattn_kernel_has_backward(const sattn_kernel *kernel) {
  return kernel && kernel->manifest.hasBackward() ? 1 : 0;
}

namespace {

/// sattn_validate_backward and its deterministic form (`caller` names the
/// entry in messages; `args.dkvScales` says which form).
sattn_status validateBackwardCall(const char *caller, const sattn_kernel *kernel,
                                  const BackwardArgs &args) {
  if (!kernel)
    return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(caller) + ": kernel is NULL");
  if (!kernel->manifest.hasBackward())
    return fail(SATTN_ERROR_INVALID_ARGUMENT, noBackwardMessage(kernel->manifest));
  LaunchShape shape;
  std::string message;
  return finish(validateBackward(kernel->manifest, args, shape, message), message);
}

/// sattn_launch_backward and its deterministic form.
sattn_status launchBackwardCall(const char *caller, const sattn_kernel *kernel,
                                const BackwardArgs &args, void *stream) {
  if (!kernel)
    return fail(SATTN_ERROR_INVALID_ARGUMENT, std::string(caller) + ": kernel is NULL");
  std::string message;
  return finish(kernel->launchBackward(args, stream, message), message);
}

constexpr const char *kNoScales = "dkv_scales is NULL (a tensor descriptor is required: the "
                                  "deterministic backward's scales)";

} // namespace

sattn_status sattn_validate_backward(const sattn_kernel *kernel, const sattn_tensor *q,
                                     const sattn_tensor *k, const sattn_tensor *v,
                                     const sattn_tensor *o, const sattn_tensor *lse,
                                     const sattn_tensor *d_o, const sattn_tensor *d_q,
                                     const sattn_tensor *d_k, const sattn_tensor *d_v,
                                     const sattn_plan *plan, const sattn_tensor *tables,
                                     int32_t num_tables) {
  return guarded([&] {
    return validateBackwardCall(
        "sattn_validate_backward", kernel,
        BackwardArgs{{q, k, v, o, lse, plan, tables, num_tables}, d_o, d_q, d_k, d_v});
  });
}

sattn_status sattn_launch_backward(const sattn_kernel *kernel, const sattn_tensor *q,
                                   const sattn_tensor *k, const sattn_tensor *v,
                                   const sattn_tensor *o, const sattn_tensor *lse,
                                   const sattn_tensor *d_o, const sattn_tensor *d_q,
                                   const sattn_tensor *d_k, const sattn_tensor *d_v,
                                   const sattn_plan *plan, const sattn_tensor *tables,
                                   int32_t num_tables, void *stream) {
  return guarded([&] {
    return launchBackwardCall(
        "sattn_launch_backward", kernel,
        BackwardArgs{{q, k, v, o, lse, plan, tables, num_tables}, d_o, d_q, d_k, d_v}, stream);
  });
}

sattn_status sattn_validate_backward_deterministic(
    const sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k,
    const sattn_tensor *v, const sattn_tensor *o, const sattn_tensor *lse,
    const sattn_tensor *d_o, const sattn_tensor *d_q, const sattn_tensor *d_k,
    const sattn_tensor *d_v, const sattn_tensor *dkv_scales, const sattn_plan *plan,
    const sattn_tensor *tables, int32_t num_tables) {
  return guarded([&] {
    if (kernel && kernel->manifest.hasBackward() && !dkv_scales)
      return fail(SATTN_ERROR_NULL_POINTER, kNoScales);
    return validateBackwardCall("sattn_validate_backward_deterministic", kernel,
                                BackwardArgs{{q, k, v, o, lse, plan, tables, num_tables},
                                             d_o, d_q, d_k, d_v, dkv_scales});
  });
}

sattn_status sattn_launch_backward_deterministic(
    const sattn_kernel *kernel, const sattn_tensor *q, const sattn_tensor *k,
    const sattn_tensor *v, const sattn_tensor *o, const sattn_tensor *lse,
    const sattn_tensor *d_o, const sattn_tensor *d_q, const sattn_tensor *d_k,
    const sattn_tensor *d_v, const sattn_tensor *dkv_scales, const sattn_plan *plan,
    const sattn_tensor *tables, int32_t num_tables, void *stream) {
  return guarded([&] {
    if (kernel && !dkv_scales)
      return fail(SATTN_ERROR_NULL_POINTER, kNoScales);
    return launchBackwardCall("sattn_launch_backward_deterministic", kernel,
                              BackwardArgs{{q, k, v, o, lse, plan, tables, num_tables}, d_o,
                                           d_q, d_k, d_v, dkv_scales},
                              stream);
  });
}

const char *sattn_last_error(void) { return lastError(); }

const char *sattn_status_string(sattn_status status) {
  // The caller may pass any int (enumCode says why it is read so).
  switch (enumCode(status)) {
  case SATTN_OK:
    return "SATTN_OK";
  case SATTN_ERROR_INVALID_ARGUMENT:
    return "SATTN_ERROR_INVALID_ARGUMENT";
  case SATTN_ERROR_MANIFEST:
    return "SATTN_ERROR_MANIFEST";
  case SATTN_ERROR_NO_DRIVER:
    return "SATTN_ERROR_NO_DRIVER";
  case SATTN_ERROR_NO_DEVICE:
    return "SATTN_ERROR_NO_DEVICE";
  case SATTN_ERROR_COMPUTE_CAPABILITY:
    return "SATTN_ERROR_COMPUTE_CAPABILITY";
  case SATTN_ERROR_MODULE_LOAD:
    return "SATTN_ERROR_MODULE_LOAD";
  case SATTN_ERROR_NULL_POINTER:
    return "SATTN_ERROR_NULL_POINTER";
  case SATTN_ERROR_DTYPE:
    return "SATTN_ERROR_DTYPE";
  case SATTN_ERROR_SHAPE:
    return "SATTN_ERROR_SHAPE";
  case SATTN_ERROR_STRIDE:
    return "SATTN_ERROR_STRIDE";
  case SATTN_ERROR_ALIGNMENT:
    return "SATTN_ERROR_ALIGNMENT";
  case SATTN_ERROR_TABLE:
    return "SATTN_ERROR_TABLE";
  case SATTN_ERROR_PLAN:
    return "SATTN_ERROR_PLAN";
  case SATTN_ERROR_LAUNCH:
    return "SATTN_ERROR_LAUNCH";
  case SATTN_ERROR_OUT_OF_MEMORY:
    return "SATTN_ERROR_OUT_OF_MEMORY";
  }
  return "SATTN_ERROR_UNKNOWN";
}

} // extern "C"
