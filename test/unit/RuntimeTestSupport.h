//===- RuntimeTestSupport.h - helpers of the runtime tests ------*- C++ -*-===//
//
// Manifests built member by member, loading helpers and the expected-error
// check that RuntimeTest.cpp (manifests, loading) and RuntimeValidateTest.cpp
// (launch validation, statuses, the C++ wrapper) share.
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

} // namespace runtime_test

#endif // SATTN_TEST_UNIT_RUNTIMETESTSUPPORT_H
