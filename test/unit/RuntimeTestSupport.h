//===- RuntimeTestSupport.h - helpers of the runtime tests ------*- C++ -*-===//
//
// Manifests built member by member, loading helpers, the expected-error
// check and a valid launch to vary that RuntimeTest.cpp (manifests,
// loading), RuntimeValidateTest.cpp (launch validation, statuses, the C++
// wrapper), RuntimeHopperTest.cpp (sm_90a kernels) and RuntimeBackwardTest.cpp
// (the backward pass) share.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_RUNTIMETESTSUPPORT_H
#define SATTN_TEST_UNIT_RUNTIMETESTSUPPORT_H

#include "sattn/runtime.h"
#include "sattn/runtime.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace runtime_test {

/// A valid manifest whose members can be replaced or removed one at a time.
class ManifestBuilder {
public:
  ManifestBuilder() {
    fields = {
        {"format", "\"sattn.kernel-manifest/1\""},
        {"name", "\"streaming\""},
        {"entry", "\"sattn_streaming\""},
        {"dtype", "\"bf16\""},
        {"head_dim", "128"},
        {"heads", "32"},
        {"kv_heads", "8"},
        {"scale", "0.0883883"},
        {"return_lse", "false"},
        {"target", "\"sm_90a\""},
        {"min_compute_capability", "90"},
        {"block_m", "64"},
        {"block_n", "64"},
        {"warps", "4"},
        {"stages", "2"},
        {"threads", "128"},
        {"shared_bytes", "73728"},
        {"tables", R"([{"name": "doc", "element": "i32", "dims": ["b", "k"]},
                       {"name": "blocks", "element": "i1", "dims": ["h", "q/64", "k / 64"]}])"},
        {"mask_program", R"({"format": "sattn.mask-program/1", "nodes": [], "note": "\u00e9\ud83d\ude00"})"},
    };
  }
  ManifestBuilder &set(const std::string &key, const std::string &rawJson) {
    for (auto &f : fields)
      if (f.first == key) {
        f.second = rawJson;
        return *this;
      }
    fields.emplace_back(key, rawJson);
    return *this;
  }
  ManifestBuilder &erase(const std::string &key) {
    for (size_t i = 0; i < fields.size(); ++i)
      if (fields[i].first == key)
        fields.erase(fields.begin() + i);
    return *this;
  }
  std::string str() const {
    std::string out = "{";
    for (size_t i = 0; i < fields.size(); ++i)
      out += (i ? ",\n  \"" : "\n  \"") + fields[i].first + "\": " + fields[i].second;
    return out + "\n}\n";
  }

  std::vector<std::pair<std::string, std::string>> fields;
};

const char kPtx[] = "//\n.version 8.0\n.target sm_90a\n.address_size 64\n"
                    ".visible .entry sattn_streaming()\n{\n  ret;\n}\n";

struct KernelDeleter {
  void operator()(sattn_kernel *k) const { sattn_kernel_destroy(k); }
};
using KernelPtr = std::unique_ptr<sattn_kernel, KernelDeleter>;

inline sattn_status load(const std::string &json, KernelPtr &out) {
  sattn_kernel *k = nullptr;
  sattn_status status = sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k);
  out.reset(k);
  return status;
}

inline KernelPtr loadOrDie(const std::string &json) {
  KernelPtr k;
  sattn_status status = load(json, k);
  EXPECT_EQ(status, SATTN_OK) << sattn_last_error();
  return k;
}

/// Loading `json` fails with SATTN_ERROR_MANIFEST and a message containing
/// every one of `needles`.
inline void expectManifestError(const std::string &json, std::vector<std::string> needles) {
  KernelPtr k;
  EXPECT_EQ(load(json, k), SATTN_ERROR_MANIFEST) << json;
  EXPECT_EQ(k, nullptr);
  std::string message = sattn_last_error();
  for (const std::string &needle : needles)
    EXPECT_NE(message.find(needle), std::string::npos)
        << "message \"" << message << "\" lacks \"" << needle << "\" for\n"
        << json;
}

inline std::string byteAt(const std::string &text, const std::string &marker, size_t delta = 0) {
  size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << marker;
  return "at byte " + std::to_string(at + delta);
}

/// A valid launch of the builder's kernel with fake, aligned device
/// pointers: B = 2, H = 32, KV_H = 8, Lq = 100, Lk = 130, D = 128
/// (RuntimeValidateTest.cpp, RuntimeHopperTest.cpp).
class LaunchFixture : public ::testing::Test {
protected:
  static constexpr int64_t B = 2, H = 32, KVH = 8, LQ = 100, LK = 130, D = 128;

  void SetUp() override {
    kernel = loadOrDie(ManifestBuilder().str());
    lseKernel = loadOrDie(ManifestBuilder().set("return_lse", "true").str());
    q = sattn::runtime::tensor(fake(1), SATTN_DTYPE_BF16, {B, H, LQ, D});
    k = sattn::runtime::tensor(fake(2), SATTN_DTYPE_BF16, {B, KVH, LK, D});
    v = sattn::runtime::tensor(fake(3), SATTN_DTYPE_BF16, {B, KVH, LK, D});
    o = sattn::runtime::tensor(fake(4), SATTN_DTYPE_BF16, {B, H, LQ, D});
    lse = sattn::runtime::tensor(fake(5), SATTN_DTYPE_F32, {B, H, LQ});
    tables = {sattn::runtime::tensor(fake(6), SATTN_DTYPE_I64, {B, LK}),
              sattn::runtime::tensor(fake(7), SATTN_DTYPE_I64, {H, 3, 3})};
    plan = sattn_plan{static_cast<const int64_t *>(fake(8)), 10,
                      static_cast<const int64_t *>(fake(9)), 1,
                      static_cast<const int64_t *>(fake(10)), 2, 64, 64};
  }

  static void *fake(uintptr_t i) { return reinterpret_cast<void *>(i << 32); }
  static void *offset(void *p, uintptr_t bytes) {
    return reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(p) + bytes);
  }

  sattn_status validate(const sattn_kernel *kern, const sattn_tensor *lsePtr = nullptr) {
    return sattn_validate(kern, &q, &k, &v, &o, lsePtr, &plan, tables.data(),
                          static_cast<int32_t>(tables.size()));
  }
  sattn_status validate() { return validate(kernel.get()); }
  sattn_status validateLse() { return validate(lseKernel.get(), &lse); }

  /// The status is `want` and the message contains every needle.
  void expect(sattn_status got, sattn_status want, std::vector<std::string> needles) {
    EXPECT_EQ(got, want) << sattn_status_string(got) << ": " << sattn_last_error();
    std::string message = sattn_last_error();
    EXPECT_FALSE(message.empty());
    for (const std::string &n : needles)
      EXPECT_NE(message.find(n), std::string::npos)
          << "message \"" << message << "\" lacks \"" << n << "\"";
  }

  KernelPtr kernel, lseKernel;
  sattn_tensor q, k, v, o, lse;
  std::vector<sattn_tensor> tables;
  sattn_plan plan;
};

} // namespace runtime_test

#endif // SATTN_TEST_UNIT_RUNTIMETESTSUPPORT_H
