//===- RuntimeTest.cpp - libsattn_runtime without a GPU -------------------===//
//
// Every status of the C API is produced by a real call: malformed manifests
// (JSON syntax with exact byte offsets, missing keys, wrong types,
// inconsistent values), each launch validation error, a successful
// validation with fake (aligned, non-null) device pointers, and a launch on
// this GPU-less machine, which must report the missing driver instead of
// crashing. The driver-facing half of the launch is covered by
// test/Runtime/fake-driver-launch.test with a fake libcuda.
//
//===----------------------------------------------------------------------===//

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

namespace {

// The ctypes binding (python/sattn/runtime.py) mirrors these layouts.
static_assert(sizeof(sattn_tensor) == 80, "sattn_tensor layout changed");
static_assert(offsetof(sattn_tensor, shape) == 16, "sattn_tensor layout changed");
static_assert(offsetof(sattn_tensor, strides) == 48, "sattn_tensor layout changed");
static_assert(sizeof(sattn_plan) == 64, "sattn_plan layout changed");

//===----------------------------------------------------------------------===//
// Manifests
//===----------------------------------------------------------------------===//

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

sattn_status load(const std::string &json, KernelPtr &out) {
  sattn_kernel *k = nullptr;
  sattn_status status = sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx - 1, &k);
  out.reset(k);
  return status;
}

KernelPtr loadOrDie(const std::string &json) {
  KernelPtr k;
  sattn_status status = load(json, k);
  EXPECT_EQ(status, SATTN_OK) << sattn_last_error();
  return k;
}

/// Loading `json` fails with SATTN_ERROR_MANIFEST and a message containing
/// every one of `needles`.
void expectManifestError(const std::string &json, std::vector<std::string> needles) {
  KernelPtr k;
  EXPECT_EQ(load(json, k), SATTN_ERROR_MANIFEST) << json;
  EXPECT_EQ(k, nullptr);
  std::string message = sattn_last_error();
  for (const std::string &needle : needles)
    EXPECT_NE(message.find(needle), std::string::npos)
        << "message \"" << message << "\" lacks \"" << needle << "\" for\n"
        << json;
}

std::string byteAt(const std::string &text, const std::string &marker, size_t delta = 0) {
  size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << marker;
  return "at byte " + std::to_string(at + delta);
}

TEST(RuntimeManifest, ValidManifestExposesItsFacts) {
  KernelPtr k = loadOrDie(ManifestBuilder().str());
  ASSERT_NE(k, nullptr);
  EXPECT_STREQ(sattn_last_error(), "");
  EXPECT_STREQ(sattn_kernel_name(k.get()), "streaming");
  EXPECT_EQ(sattn_kernel_heads(k.get()), 32);
  EXPECT_EQ(sattn_kernel_kv_heads(k.get()), 8);
  EXPECT_EQ(sattn_kernel_head_dim(k.get()), 128);
  EXPECT_EQ(sattn_kernel_dtype(k.get()), SATTN_DTYPE_BF16);
  EXPECT_EQ(sattn_kernel_returns_lse(k.get()), 0);
  EXPECT_EQ(sattn_kernel_block_m(k.get()), 64);
  EXPECT_EQ(sattn_kernel_block_n(k.get()), 64);
  ASSERT_EQ(sattn_kernel_num_tables(k.get()), 2);
  EXPECT_STREQ(sattn_kernel_table_name(k.get(), 0), "doc");
  EXPECT_STREQ(sattn_kernel_table_name(k.get(), 1), "blocks");
  EXPECT_EQ(sattn_kernel_table_name(k.get(), 2), nullptr);
  EXPECT_EQ(sattn_kernel_table_name(k.get(), -1), nullptr);

  int64_t shape[4] = {-1, -1, -1, -1};
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 0, 3, 130, shape), 2);
  EXPECT_EQ(shape[0], 3);
  EXPECT_EQ(shape[1], 130);
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 1, 3, 130, shape), 3);
  EXPECT_EQ(shape[0], 32);
  EXPECT_EQ(shape[1], 3); // ceil(130 / 64)
  EXPECT_EQ(shape[2], 3);
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 1, 3, 128, shape), 3);
  EXPECT_EQ(shape[1], 2); // exact division
  // Lengths and batches that no launch can have are refused, not turned
  // into negative extents.
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 1, 3, -5, shape), -1);
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 0, 0, 128, shape), -1);
  EXPECT_EQ(sattn_kernel_table_shape(k.get(), 2, 3, 130, shape), -1);
}

TEST(RuntimeManifest, GettersTolerateNull) {
  EXPECT_EQ(sattn_kernel_name(nullptr), nullptr);
  EXPECT_EQ(sattn_kernel_heads(nullptr), 0);
  EXPECT_EQ(sattn_kernel_num_tables(nullptr), 0);
  EXPECT_EQ(sattn_kernel_table_name(nullptr, 0), nullptr);
  int64_t shape[4];
  EXPECT_EQ(sattn_kernel_table_shape(nullptr, 0, 1, 1, shape), -1);
  sattn_kernel_destroy(nullptr);
}

TEST(RuntimeManifest, F16LseAndIntegerDims) {
  KernelPtr k = loadOrDie(ManifestBuilder()
                              .set("dtype", "\"f16\"")
                              .set("return_lse", "true")
                              .set("tables", R"([{"name": "t", "element": "i64", "dims": [4, "16", "q"]}])")
                              .set("compiler_note", R"({"registers": 128, "spills": [0.5, -1e3, null]})")
                              .erase("mask_program")
                              .str());
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(sattn_kernel_dtype(k.get()), SATTN_DTYPE_F16);
  EXPECT_EQ(sattn_kernel_returns_lse(k.get()), 1);
  int64_t shape[4];
  ASSERT_EQ(sattn_kernel_table_shape(k.get(), 0, 2, 77, shape), 3);
  EXPECT_EQ(shape[0], 4);
  EXPECT_EQ(shape[1], 16);
  EXPECT_EQ(shape[2], 77); // "q" spans key positions (queries are absolute)
}

TEST(RuntimeManifest, InvalidJsonReportsTheByteOffset) {
  struct Case {
    std::string text, marker;
    size_t delta;
    std::string what;
  };
  const std::vector<Case> cases = {
      {"{\"format\": }", "}", 0, "expected a value"},
      {"{\"a\": 1,}", "}", 0, "expected a string key"},
      {"{'a': 1}", "'", 0, "expected a string key"},
      {"{\"a\" 1}", " 1", 1, "expected ':'"},
      {"{\"a\": [1 2]}", " 2", 1, "expected ',' or ']'"},
      {"{\"a\": 1 \"b\": 2}", " \"b", 1, "expected ',' or '}'"},
      {"{\"a\": 012}", "012", 1, "leading zeros"},
      {"{\"a\": NaN}", "NaN", 0, "expected a value"},
      {"{\"a\": -}", "-}", 1, "expected a digit"},
      {"{\"a\": 1.}", ".}", 1, "expected a digit after '.'"},
      {"{\"a\": 1e+}", "+}", 1, "exponent"},
      {"{\"a\": 1e999}", "1e999", 0, "out of the range"},
      {"{\"a\": tru}", "tru", 0, "expected a value"},
      {"{\"a\": \"x\ty\"}", "\t", 0, "control character"},
      {"{\"a\": \"\\x\"}", "\\x", 0, "invalid escape"},
      {"{\"a\": \"\\u12G4\"}", "G", 0, "hex digits"},
      {"{\"a\": \"\\udc00\"}", "\\udc00", 0, "unpaired low surrogate"},
      {"{\"a\": \"\\ud800x\"}", "\\ud800", 0, "high surrogate"},
      {"{\"a\": \"\xff\"}", "\xff", 0, "invalid UTF-8"},
      {"{\"a\": \"\xc0\xaf\"}", "\xc0", 0, "invalid UTF-8"},
      {"{\"a\": \"\xed\xa0\x80\"}", "\xed", 0, "invalid UTF-8 sequence"},
      {"{\"a\": \"\xe2\x82\"}", "\xe2", 0, "truncated UTF-8"},
      {"{\"a\": \"abc", "\"abc", 0, "unterminated string"},
      {"{\"a\": 1, \"a\": 2}", "\"a\": 2", 0, "duplicate key \"a\""},
      {"{} x", "x", 0, "after the top-level value"},
      {"{}{}", "{}", 2, "after the top-level value"},
      {"", "", 0, "found the end of the input"},
      {"   ", "   ", 3, "found the end of the input"},
      {"{\"a\": [1, 2", "2", 1, "found the end of the input"},
      {"\xef\xbb\xbf{}", "\xef", 0, "byte order mark"},
      {"// comment\n{}", "/", 0, "expected a value"},
  };
  for (const Case &c : cases)
    expectManifestError(c.text, {"manifest: invalid JSON " +
                                     byteAt(c.text, c.marker, c.delta) + ": ",
                                 c.what});
}

TEST(RuntimeManifest, NestingIsBoundedWithoutExhaustingTheStack) {
  std::string deep(200000, '[');
  expectManifestError(deep, {"invalid JSON at byte 64:", "nested deeper than 64"});
  std::string objects;
  for (int i = 0; i < 100000; ++i)
    objects += "{\"a\":";
  expectManifestError(objects, {"nested deeper than 64"});
  // 64 levels are fine (the manifest itself is level 1).
  std::string ok = std::string(63, '[') + std::string(63, ']');
  KernelPtr k = loadOrDie(ManifestBuilder().set("mask_program", ok).str());
  EXPECT_NE(k, nullptr);
  expectManifestError(ManifestBuilder().set("mask_program", "[" + ok + "]").str(),
                      {"nested deeper than 64"});
}

TEST(RuntimeManifest, TheDocumentMustBeAnObject) {
  expectManifestError("[1, 2]", {"the document must be an object, found an array"});
  expectManifestError("\"x\"", {"must be an object, found a string"});
}

TEST(RuntimeManifest, EveryRequiredKeyIsRequired) {
  for (const char *key :
       {"format", "name", "entry", "dtype", "head_dim", "heads", "kv_heads", "scale",
        "return_lse", "target", "min_compute_capability", "block_m", "block_n", "warps",
        "stages", "threads", "shared_bytes", "tables"})
    expectManifestError(ManifestBuilder().erase(key).str(),
                        {std::string("missing key \"") + key + "\""});
  // mask_program is opaque to the runtime and optional.
  EXPECT_NE(loadOrDie(ManifestBuilder().erase("mask_program").str()), nullptr);
}

TEST(RuntimeManifest, WrongTypesNameKeyAndOffset) {
  ManifestBuilder b;
  std::string text = b.set("head_dim", "\"128\"").str();
  expectManifestError(text, {"key \"head_dim\" must be a number, found a string",
                             byteAt(text, "\"128\"")});
  text = ManifestBuilder().set("head_dim", "128.0").str();
  expectManifestError(text, {"\"head_dim\" must be an integer", byteAt(text, "128.0")});
  text = ManifestBuilder().set("heads", "3.2e1").str();
  expectManifestError(text, {"\"heads\" must be an integer"});
  expectManifestError(ManifestBuilder().set("return_lse", "1").str(),
                      {"\"return_lse\" must be a boolean, found a number"});
  expectManifestError(ManifestBuilder().set("tables", "{}").str(),
                      {"\"tables\" must be an array, found an object"});
  expectManifestError(ManifestBuilder().set("scale", "\"0.1\"").str(),
                      {"\"scale\" must be a number"});
  expectManifestError(ManifestBuilder().set("name", "null").str(),
                      {"\"name\" must be a string, found null"});
  expectManifestError(ManifestBuilder().set("tables", "[7]").str(),
                      {"tables[0] must be an object, found a number"});
}

TEST(RuntimeManifest, InconsistentValuesAreRejected) {
  expectManifestError(ManifestBuilder().set("format", "\"sattn.kernel-manifest/2\"").str(),
                      {"\"format\" is \"sattn.kernel-manifest/2\"",
                       "expected \"sattn.kernel-manifest/1\""});
  expectManifestError(ManifestBuilder().set("kv_heads", "6").str(),
                      {"\"kv_heads\" (6) does not divide heads (32)"});
  expectManifestError(ManifestBuilder().set("scale", "-1").str(),
                      {"\"scale\" is -1.000000, expected a positive finite number"});
  expectManifestError(ManifestBuilder().set("scale", "0").str(),
                      {"\"scale\" is 0.000000, expected a positive finite number"});
  expectManifestError(ManifestBuilder().set("kv_heads", "0").str(),
                      {"\"kv_heads\"", "is 0, expected a value in [1, 65535]"});
  expectManifestError(ManifestBuilder().set("heads", "-32").str(), {"\"heads\"", "is -32"});
  expectManifestError(ManifestBuilder().set("heads", "70000").set("kv_heads", "1").str(),
                      {"\"heads\"", "65535"});
  expectManifestError(ManifestBuilder().set("head_dim", "99999999999999999999").str(),
                      {"\"head_dim\" is out of the int64 range"});
  expectManifestError(ManifestBuilder().set("dtype", "\"f32\"").str(),
                      {"\"dtype\" is \"f32\", expected \"bf16\" or \"f16\""});
  expectManifestError(ManifestBuilder().set("threads", "100").str(),
                      {"\"threads\" is 100, expected 32 * warps = 128"});
  expectManifestError(ManifestBuilder().set("warps", "0").str(), {"\"warps\"", "is 0"});
  expectManifestError(ManifestBuilder().set("block_m", "0").str(), {"\"block_m\"", "is 0"});
  expectManifestError(ManifestBuilder().set("shared_bytes", "-1").str(),
                      {"\"shared_bytes\"", "is -1"});
  expectManifestError(ManifestBuilder().set("target", "\"gfx90a\"").str(),
                      {"\"target\" is \"gfx90a\"", "expected sm_NN"});
  for (const char *target : {"\"sm_\"", "\"sm_09\"", "\"sm_90ab\"", "\"sm_9x0\""})
    expectManifestError(ManifestBuilder().set("target", target).str(), {"expected sm_NN"});
  for (const char *target : {"\"sm_80\"", "\"sm_90a\"", "\"sm_100f\""})
    EXPECT_NE(loadOrDie(ManifestBuilder().set("target", target).str()), nullptr) << target;
  expectManifestError(ManifestBuilder().set("min_compute_capability", "0").str(),
                      {"\"min_compute_capability\"", "is 0"});
  expectManifestError(ManifestBuilder().set("name", "\"1abc\"").str(),
                      {"\"name\" must be an identifier"});
  expectManifestError(ManifestBuilder().set("entry", "\"sattn-x\"").str(),
                      {"\"entry\" must be an identifier"});
}

TEST(RuntimeManifest, BadTableDimensions) {
  auto table = [](const std::string &dims) {
    return ManifestBuilder()
        .set("tables", R"([{"name": "t", "element": "i32", "dims": )" + dims + "}]")
        .str();
  };
  expectManifestError(table(R"(["b", "x"])"),
                      {"dimension 1 of table \"t\" is \"x\"", "expected \"b\", \"h\""});
  expectManifestError(table(R"(["q/0"])"), {"\"q/0\" has no positive block size"});
  expectManifestError(table(R"(["k/"])"), {"dimension 0 of table \"t\" is \"k/\""});
  expectManifestError(table(R"(["k/abc"])"), {"\"k/abc\" has no positive block size"});
  expectManifestError(table(R"(["k/-4"])"), {"\"k/-4\" has no positive block size"});
  expectManifestError(table(R"(["0"])"), {"is \"0\""});
  expectManifestError(table(R"(["-3"])"), {"is \"-3\""});
  expectManifestError(table(R"(["07"])"), {"is \"07\""});
  expectManifestError(table(R"([-3])"), {"is not a positive integer"});
  expectManifestError(table(R"([2.5])"), {"is not a positive integer"});
  expectManifestError(table(R"([{"b": 1}])"), {"is an object"});
  expectManifestError(table(R"(["b", "h", "q", "k", 3])"),
                      {"has 5 dimensions; at most 4 are supported"});
  std::string text = table(R"(["b", "x"])");
  expectManifestError(text, {byteAt(text, "\"x\"")});

  expectManifestError(
      ManifestBuilder()
          .set("tables", R"([{"name": "t", "element": "i32", "dims": ["b"]},
                             {"name": "t", "element": "i32", "dims": ["h"]}])")
          .str(),
      {"repeats the table name \"t\""});
  expectManifestError(
      ManifestBuilder().set("tables", R"([{"name": "t", "element": "f32", "dims": []}])").str(),
      {"\"element\" of tables[0] is \"f32\""});
  expectManifestError(
      ManifestBuilder().set("tables", R"([{"name": "t", "element": "i32"}])").str(),
      {"missing key \"dims\" of tables[0]"});
  expectManifestError(
      ManifestBuilder().set("tables", R"([{"element": "i32", "dims": []}])").str(),
      {"missing key \"name\" of tables[0]"});
  expectManifestError(
      ManifestBuilder().set("tables", R"([{"name": "a b", "element": "i32", "dims": []}])").str(),
      {"\"name\" of tables[0] must be an identifier"});
  // A rank-0 table (one value) is allowed.
  EXPECT_NE(loadOrDie(ManifestBuilder()
                          .set("tables", R"([{"name": "t", "element": "i64", "dims": []}])")
                          .str()),
            nullptr);
}

TEST(RuntimeLoad, InvalidArguments) {
  sattn_kernel *k = reinterpret_cast<sattn_kernel *>(0x1);
  std::string json = ManifestBuilder().str();
  EXPECT_EQ(sattn_kernel_load(json.c_str(), kPtx, sizeof kPtx, nullptr),
            SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("out is NULL"), std::string::npos);
  EXPECT_EQ(sattn_kernel_load(nullptr, kPtx, sizeof kPtx, &k), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(k, nullptr);
  EXPECT_NE(std::string(sattn_last_error()).find("manifest_json is NULL"), std::string::npos);
  EXPECT_EQ(sattn_kernel_load(json.c_str(), nullptr, 10, &k), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sattn_kernel_load(json.c_str(), kPtx, 0, &k), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(sattn_last_error()).find("NULL or empty"), std::string::npos);
  EXPECT_EQ(sattn_kernel_load_file(nullptr, &k), SATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(sattn_kernel_load_file("x.json", nullptr), SATTN_ERROR_INVALID_ARGUMENT);
}

/// A scratch directory removed at the end of the test.
class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/sattn-runtime-test-XXXXXX";
    path = mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() { (void)!std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string &name, const std::string &data) const {
    std::string file = path + "/" + name;
    FILE *f = std::fopen(file.c_str(), "wb");
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
    return file;
  }
  std::string path;
};

TEST(RuntimeLoad, FromFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  sattn_kernel *k = nullptr;
  std::string missing = dir.path + "/absent.json";
  EXPECT_EQ(sattn_kernel_load_file(missing.c_str(), &k), SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("cannot open '" + missing + "'"),
            std::string::npos);

  std::string manifest = dir.write("streaming.json", ManifestBuilder().str());
  EXPECT_EQ(sattn_kernel_load_file(manifest.c_str(), &k), SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("neither '" + dir.path + "/streaming.cubin'"),
            std::string::npos);

  dir.write("streaming.ptx", kPtx);
  ASSERT_EQ(sattn_kernel_load_file(manifest.c_str(), &k), SATTN_OK) << sattn_last_error();
  EXPECT_STREQ(sattn_kernel_name(k), "streaming");
  sattn_kernel_destroy(k);

  dir.write("streaming.cubin", std::string("\x7f" "ELF\x02\x01\x01", 7));
  ASSERT_EQ(sattn_kernel_load_file(manifest.c_str(), &k), SATTN_OK) << sattn_last_error();
  sattn_kernel_destroy(k);

  std::string bad = dir.write("bad.json", "{\"format\": 1,}");
  dir.write("bad.ptx", kPtx);
  EXPECT_EQ(sattn_kernel_load_file(bad.c_str(), &k), SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("at byte 13"), std::string::npos);

  std::string nul = dir.write("nul.json", std::string("{}\0{}", 5));
  dir.write("nul.ptx", kPtx);
  EXPECT_EQ(sattn_kernel_load_file(nul.c_str(), &k), SATTN_ERROR_MANIFEST);
  EXPECT_NE(std::string(sattn_last_error()).find("NUL byte"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Launch validation
//===----------------------------------------------------------------------===//

/// A valid launch of the builder's kernel with fake, aligned device
/// pointers: B = 2, H = 32, KV_H = 8, Lq = 100, Lk = 130, D = 128.
class RuntimeValidate : public ::testing::Test {
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

TEST_F(RuntimeValidate, ValidLaunchPasses) {
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  EXPECT_STREQ(sattn_last_error(), "");
  EXPECT_EQ(validateLse(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeValidate, SuccessClearsThePreviousError) {
  q.dtype = SATTN_DTYPE_F16;
  EXPECT_NE(validate(), SATTN_OK);
  EXPECT_STRNE(sattn_last_error(), "");
  q.dtype = SATTN_DTYPE_BF16;
  EXPECT_EQ(validate(), SATTN_OK);
  EXPECT_STREQ(sattn_last_error(), "");
}

TEST_F(RuntimeValidate, NullKernelIsAnInvalidArgument) {
  expect(validate(nullptr), SATTN_ERROR_INVALID_ARGUMENT, {"kernel is NULL"});
}

TEST_F(RuntimeValidate, MissingDescriptors) {
  expect(sattn_validate(kernel.get(), nullptr, &k, &v, &o, nullptr, &plan, tables.data(), 2),
         SATTN_ERROR_NULL_POINTER, {"q is NULL"});
  expect(sattn_validate(kernel.get(), &q, nullptr, &v, &o, nullptr, &plan, tables.data(), 2),
         SATTN_ERROR_NULL_POINTER, {"k is NULL"});
  expect(sattn_validate(kernel.get(), &q, &k, nullptr, &o, nullptr, &plan, tables.data(), 2),
         SATTN_ERROR_NULL_POINTER, {"v is NULL"});
  expect(sattn_validate(kernel.get(), &q, &k, &v, nullptr, nullptr, &plan, tables.data(), 2),
         SATTN_ERROR_NULL_POINTER, {"o is NULL"});
  expect(sattn_validate(kernel.get(), &q, &k, &v, &o, nullptr, nullptr, tables.data(), 2),
         SATTN_ERROR_PLAN, {"plan is NULL"});
  expect(sattn_validate(kernel.get(), &q, &k, &v, &o, nullptr, &plan, nullptr, 2),
         SATTN_ERROR_TABLE, {"tables is NULL but num_tables = 2"});
  expect(sattn_validate(kernel.get(), &q, &k, &v, &o, nullptr, &plan, tables.data(), -1),
         SATTN_ERROR_TABLE, {"num_tables is negative"});
}

TEST_F(RuntimeValidate, NullDataPointers) {
  for (sattn_tensor *t : {&q, &k, &v, &o}) {
    void *saved = t->data;
    t->data = nullptr;
    std::string name = t == &q ? "q" : t == &k ? "k" : t == &v ? "v" : "o";
    expect(validate(), SATTN_ERROR_NULL_POINTER, {name + " has no data (NULL pointer)"});
    t->data = saved;
  }
  lse.data = nullptr;
  expect(validateLse(), SATTN_ERROR_NULL_POINTER, {"lse has no data"});
  tables[1].data = nullptr;
  expect(validate(), SATTN_ERROR_NULL_POINTER, {"table 1 (\"blocks\") has no data"});
}

TEST_F(RuntimeValidate, Dtypes) {
  q.dtype = SATTN_DTYPE_F16;
  expect(validate(), SATTN_ERROR_DTYPE, {"q has dtype f16, expected bf16", "'streaming'"});
  q.dtype = SATTN_DTYPE_BF16;
  v.dtype = SATTN_DTYPE_F32;
  expect(validate(), SATTN_ERROR_DTYPE, {"v has dtype f32, expected bf16"});
  v.dtype = SATTN_DTYPE_BF16;
  o.dtype = static_cast<sattn_dtype>(42);
  expect(validate(), SATTN_ERROR_DTYPE, {"o has an invalid dtype value 42"});
  o.dtype = SATTN_DTYPE_BF16;
  k.dtype = SATTN_DTYPE_I64;
  expect(validate(), SATTN_ERROR_DTYPE, {"k has dtype i64"});
  k.dtype = SATTN_DTYPE_BF16;
  lse.dtype = SATTN_DTYPE_BF16;
  expect(validateLse(), SATTN_ERROR_DTYPE, {"lse has dtype bf16, expected f32"});
  lse.dtype = SATTN_DTYPE_F32;
  tables[0].dtype = SATTN_DTYPE_F32;
  expect(validate(), SATTN_ERROR_DTYPE, {"table 0 (\"doc\") has dtype f32, expected i64"});
}

TEST_F(RuntimeValidate, Ranks) {
  q.rank = 3;
  expect(validate(), SATTN_ERROR_SHAPE,
         {"q has rank 3, expected 4 (batch, heads, Lq, head_dim)"});
  q.rank = 4;
  k.rank = 9;
  expect(validate(), SATTN_ERROR_SHAPE, {"k has rank 9, expected 4"});
  k.rank = 4;
  lse.rank = 4;
  expect(validateLse(), SATTN_ERROR_SHAPE, {"lse has rank 4, expected 3 (batch, heads, Lq)"});
  lse.rank = 3;
  tables[0].rank = 3;
  expect(validate(), SATTN_ERROR_TABLE, {"table 0 (\"doc\") has rank 3, expected 2"});
  // Ranks beyond the descriptor's 4 extents are refused before any extent
  // is read (rank 5 once read past shape[4], rank 2^30 crashed).
  tables[0].rank = 5;
  expect(validate(), SATTN_ERROR_TABLE, {"rank 5"});
  tables[0].rank = 1 << 30;
  expect(validate(), SATTN_ERROR_TABLE, {"rank 1073741824"});
  tables[0].rank = 2;
}

TEST_F(RuntimeValidate, NegativeExtent) {
  v.shape[2] = -5;
  expect(validate(), SATTN_ERROR_SHAPE, {"v dimension 2 (Lk) is negative (-5)"});
}

TEST_F(RuntimeValidate, HeadDim) {
  q.shape[3] = 64;
  expect(validate(), SATTN_ERROR_SHAPE,
         {"q dimension 3 (head_dim) is 64, expected 128 (the kernel's head_dim)"});
  q.shape[3] = D;
  v.shape[3] = 256;
  expect(validate(), SATTN_ERROR_SHAPE, {"v dimension 3 (head_dim) is 256, expected 128"});
}

TEST_F(RuntimeValidate, HeadsAndKvHeads) {
  q.shape[1] = 16;
  expect(validate(), SATTN_ERROR_SHAPE,
         {"q dimension 1 (heads) is 16, expected 32 (the kernel's heads)"});
  q.shape[1] = H;
  o.shape[1] = 8;
  expect(validate(), SATTN_ERROR_SHAPE, {"o dimension 1 (heads) is 8, expected 32"});
  o.shape[1] = H;
  k.shape[1] = 32;
  expect(validate(), SATTN_ERROR_SHAPE,
         {"k dimension 1 (kv_heads) is 32, expected 8 (the kernel's kv_heads)"});
  k.shape[1] = KVH;
  v.shape[1] = 4;
  expect(validate(), SATTN_ERROR_SHAPE, {"v dimension 1 (kv_heads) is 4, expected 8"});
}

TEST_F(RuntimeValidate, BatchMustAgree) {
  k.shape[0] = 3;
  expect(validate(), SATTN_ERROR_SHAPE, {"k dimension 0 (batch) is 3, expected 2 (q's batch)"});
  k.shape[0] = B;
  o.shape[0] = 1;
  expect(validate(), SATTN_ERROR_SHAPE, {"o dimension 0 (batch) is 1, expected 2"});
  o.shape[0] = B;
  lse.shape[0] = 4;
  expect(validateLse(), SATTN_ERROR_SHAPE, {"lse dimension 0 (batch) is 4, expected 2"});
}

TEST_F(RuntimeValidate, SequenceLengths) {
  v.shape[2] = LK - 1;
  expect(validate(), SATTN_ERROR_SHAPE, {"v dimension 2 (Lk) is 129, expected 130 (k's Lk)"});
  v.shape[2] = LK;
  q.shape[2] = o.shape[2] = LK + 1;
  expect(validate(), SATTN_ERROR_SHAPE, {"q dimension 2 (Lq) is 131, expected at most k's Lk = 130"});
  q.shape[2] = LQ;
  o.shape[2] = LQ + 1;
  expect(validate(), SATTN_ERROR_SHAPE, {"o dimension 2 (Lq) is 101, expected 100"});
}

TEST_F(RuntimeValidate, Lse) {
  expect(validate(lseKernel.get(), nullptr), SATTN_ERROR_NULL_POINTER,
         {"lse is NULL but kernel 'streaming' was compiled with return_lse"});
  expect(validate(kernel.get(), &lse), SATTN_ERROR_INVALID_ARGUMENT,
         {"lse was given but kernel 'streaming' was compiled without return_lse"});
  lse.shape[1] = 8;
  expect(validateLse(), SATTN_ERROR_SHAPE, {"lse dimension 1 (heads) is 8, expected 32"});
  lse.shape[1] = H;
  lse.shape[2] = 99;
  expect(validateLse(), SATTN_ERROR_SHAPE, {"lse dimension 2 (Lq) is 99, expected 100"});
  lse.shape[2] = LQ;
  lse.strides[2] = 2;
  lse.strides[1] = 2 * LQ;
  lse.strides[0] = 2 * LQ * H;
  expect(validateLse(), SATTN_ERROR_STRIDE, {"lse dimension 2 has stride 2, expected 1"});
}

TEST_F(RuntimeValidate, Strides) {
  q.strides[0] = -q.strides[0];
  expect(validate(), SATTN_ERROR_STRIDE, {"q has a negative stride", "dimension 0"});
  q.strides[0] = -q.strides[0];
  k.strides[3] = 2;
  expect(validate(), SATTN_ERROR_STRIDE,
         {"k dimension 3 has stride 2, expected 1 (the last dimension must be contiguous)"});
  k.strides[3] = 1;
  o.strides[1] = 0;
  expect(validate(), SATTN_ERROR_STRIDE,
         {"o dimension 1 has stride 0 with extent 32", "must not alias"});
  o.strides[1] = LQ * D;
  q.strides[0] = int64_t(1) << 61;
  expect(validate(), SATTN_ERROR_STRIDE, {"q's shape and strides address more bytes"});
}

TEST_F(RuntimeValidate, ThirtyTwoBitOffsetsWithinASlice) {
  // The kernel's offsets inside one (batch, head) are 32-bit; the batch and
  // head offsets are 64-bit, so huge batch strides are fine.
  q.strides[0] = o.strides[0] = int64_t(1) << 40;
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  // Rows spanning more than 2^31 - 1 elements are not.
  q.strides[2] = int64_t(1) << 25; // 99 rows * 2^25 > 2^31
  expect(validate(), SATTN_ERROR_STRIDE,
         {"q's rows span", "32-bit offsets reach at most 2^31 - 1"});
  q.strides[2] = D;
  k.shape[2] = v.shape[2] = int64_t(1) << 30;
  expect(validate(), SATTN_ERROR_SHAPE,
         {"k dimension 2 (Lk) is 1073741824", "at most 2^30 - 1"});
}

TEST_F(RuntimeValidate, PermissiveLayoutsThatAreSafe) {
  // Inputs may broadcast (stride 0), e.g. K/V shared across the batch.
  k.strides[0] = 0;
  v.strides[0] = 0;
  // Extents of 1 may carry any stride (PyTorch's unsqueeze does that).
  q.shape[3] = o.shape[3] = D;
  // A (B, Lq, H, D) buffer viewed as (B, H, Lq, D).
  q.strides[1] = D;
  q.strides[2] = H * D;
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();

  KernelPtr one = loadOrDie(ManifestBuilder().set("heads", "1").set("kv_heads", "1").str());
  q.shape[1] = o.shape[1] = k.shape[1] = v.shape[1] = 1;
  q.strides[1] = 3; // odd, but never used
  tables[1].shape[0] = 1;
  EXPECT_EQ(validate(one.get()), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeValidate, Alignment) {
  q.data = offset(q.data, 2);
  expect(validate(), SATTN_ERROR_ALIGNMENT, {"q data pointer", "is not 16-byte aligned"});
  q.data = fake(1);
  k.strides[2] = 132; // 264 bytes
  k.strides[1] = 132 * LK;
  k.strides[0] = 132 * LK * KVH;
  expect(validate(), SATTN_ERROR_ALIGNMENT,
         {"k dimension 2 (Lk) has stride 132 elements = 264 bytes, not a multiple of 16"});
  k = sattn::runtime::tensor(fake(2), SATTN_DTYPE_BF16, {B, KVH, LK, D});
  o.strides[0] += 4;
  expect(validate(), SATTN_ERROR_ALIGNMENT, {"o dimension 0 (batch) has stride"});
  o = sattn::runtime::tensor(fake(4), SATTN_DTYPE_BF16, {B, H, LQ, D});
  lse.data = offset(lse.data, 2);
  expect(validateLse(), SATTN_ERROR_ALIGNMENT, {"lse data pointer", "4-byte aligned"});
  lse.data = offset(lse.data, 2); // 4-byte aligned is enough for LSE
  EXPECT_EQ(validateLse(), SATTN_OK) << sattn_last_error();
  tables[0].data = offset(tables[0].data, 4);
  expect(validate(), SATTN_ERROR_ALIGNMENT, {"table 0 (\"doc\") data pointer", "8-byte"});
  tables[0].data = fake(6);
  plan.offsets = static_cast<const int64_t *>(offset(fake(9), 4));
  expect(validate(), SATTN_ERROR_ALIGNMENT, {"plan.offsets pointer", "8-byte"});
}

TEST_F(RuntimeValidate, Tables) {
  std::vector<sattn_tensor> one = {tables[0]};
  expect(sattn_validate(kernel.get(), &q, &k, &v, &o, nullptr, &plan, one.data(), 1),
         SATTN_ERROR_TABLE, {"kernel 'streaming' reads 2 runtime table(s) (doc, blocks), got 1"});
  tables[0].shape[1] = LK - 1;
  expect(validate(), SATTN_ERROR_TABLE,
         {"table 0 (\"doc\") dimension 1 (\"k\") is 129, expected 130"});
  tables[0] = sattn::runtime::tensor(fake(6), SATTN_DTYPE_I64, {B, LK});
  tables[1].shape[1] = 2;
  expect(validate(), SATTN_ERROR_TABLE,
         {"table 1 (\"blocks\") dimension 1 (\"q/64\") is 2, expected 3"});
  tables[1] = sattn::runtime::tensor(fake(7), SATTN_DTYPE_I64, {H, 3, 3});
  tables[1].strides[0] = 10;
  expect(validate(), SATTN_ERROR_TABLE,
         {"table 1 (\"blocks\") is not contiguous: dimension 0 has stride 10, expected 9"});
  tables[1] = sattn::runtime::tensor(fake(7), SATTN_DTYPE_I64, {H, 3, 3}, {9, 1, 3});
  expect(validate(), SATTN_ERROR_TABLE, {"dimension 2 has stride 3, expected 1"});
}

TEST_F(RuntimeValidate, Plan) {
  plan.block_m = 128;
  expect(validate(), SATTN_ERROR_PLAN,
         {"plan was built for tiles of 128 x 64", "uses block_m x block_n = 64 x 64"});
  plan.block_m = 64;
  plan.block_n = 32;
  expect(validate(), SATTN_ERROR_PLAN, {"tiles of 64 x 32"});
  plan.block_n = 64;
  plan.num_query_tiles = 1;
  expect(validate(), SATTN_ERROR_PLAN,
         {"num_query_tiles = 1, expected ceil(Lq / block_m) = ceil(100 / 64) = 2"});
  plan.num_query_tiles = 2;
  plan.num_classes = 0;
  expect(validate(), SATTN_ERROR_PLAN, {"num_classes = 0, expected >= 1"});
  plan.num_classes = 1;
  plan.num_segments = -1;
  expect(validate(), SATTN_ERROR_PLAN, {"num_segments = -1"});
  plan.num_segments = 10;
  plan.segments = nullptr;
  expect(validate(), SATTN_ERROR_PLAN, {"plan.segments is NULL but num_segments = 10"});
  plan.num_segments = 0; // an all-masked plan has no segments to point at
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  plan.offsets = nullptr;
  expect(validate(), SATTN_ERROR_PLAN, {"plan.offsets is NULL"});
  plan.offsets = static_cast<const int64_t *>(fake(9));
  plan.class_index = nullptr;
  expect(validate(), SATTN_ERROR_PLAN, {"plan.class_index is NULL"});
}

TEST_F(RuntimeValidate, GridLimits) {
  int64_t batch = 70000;
  for (sattn_tensor *t : {&q, &k, &v, &o})
    t->shape[0] = batch;
  tables[0].shape[0] = batch;
  expect(validate(), SATTN_ERROR_SHAPE, {"batch is 70000, at most 65535"});
}

TEST_F(RuntimeValidate, EmptyProblemsNeedNoData) {
  q.shape[2] = o.shape[2] = 0;
  q.data = o.data = nullptr;
  plan.num_query_tiles = 0;
  EXPECT_EQ(validate(), SATTN_OK) << sattn_last_error();
  // Nothing to compute: the launch succeeds without the driver.
  EXPECT_EQ(sattn_launch(kernel.get(), &q, &k, &v, &o, nullptr, &plan, tables.data(), 2,
                         nullptr),
            SATTN_OK)
      << sattn_last_error();
}

TEST_F(RuntimeValidate, LaunchValidatesBeforeTouchingTheDriver) {
  q.shape[3] = 64;
  expect(sattn_launch(kernel.get(), &q, &k, &v, &o, nullptr, &plan, tables.data(), 2, nullptr),
         SATTN_ERROR_SHAPE, {"q dimension 3 (head_dim)"});
  expect(sattn_launch(nullptr, &q, &k, &v, &o, nullptr, &plan, tables.data(), 2, nullptr),
         SATTN_ERROR_INVALID_ARGUMENT, {"kernel is NULL"});
}

TEST_F(RuntimeValidate, LaunchWithoutAGpuReportsTheMissingDriver) {
  // This machine has no GPU. Without libcuda the answer is NO_DRIVER; a
  // machine with the driver but no device answers NO_DEVICE. Either way
  // the call returns, with a message, twice (the outcome is cached).
  for (int attempt = 0; attempt < 2; ++attempt) {
    sattn_status status = sattn_launch(kernel.get(), &q, &k, &v, &o, nullptr, &plan,
                                       tables.data(), 2, nullptr);
    EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
        << sattn_status_string(status) << ": " << sattn_last_error();
    std::string message = sattn_last_error();
    if (status == SATTN_ERROR_NO_DRIVER)
      EXPECT_NE(message.find("could not be opened"), std::string::npos) << message;
    EXPECT_FALSE(message.empty());
  }
}

TEST_F(RuntimeValidate, LastErrorIsPerThread) {
  q.shape[3] = 64;
  ASSERT_EQ(validate(), SATTN_ERROR_SHAPE);
  std::string mine = sattn_last_error();
  std::string theirs = "unset";
  std::thread([&] {
    theirs = sattn_last_error();
    k.shape[0] = 5; // a different failure on another thread
    sattn_validate(kernel.get(), &q, &k, &v, &o, nullptr, &plan, tables.data(), 2);
  }).join();
  EXPECT_EQ(theirs, "");
  EXPECT_EQ(std::string(sattn_last_error()), mine);
}

TEST(RuntimeStatus, EveryStatusHasAName) {
  const std::pair<sattn_status, const char *> names[] = {
      {SATTN_OK, "SATTN_OK"},
      {SATTN_ERROR_INVALID_ARGUMENT, "SATTN_ERROR_INVALID_ARGUMENT"},
      {SATTN_ERROR_MANIFEST, "SATTN_ERROR_MANIFEST"},
      {SATTN_ERROR_NO_DRIVER, "SATTN_ERROR_NO_DRIVER"},
      {SATTN_ERROR_NO_DEVICE, "SATTN_ERROR_NO_DEVICE"},
      {SATTN_ERROR_COMPUTE_CAPABILITY, "SATTN_ERROR_COMPUTE_CAPABILITY"},
      {SATTN_ERROR_MODULE_LOAD, "SATTN_ERROR_MODULE_LOAD"},
      {SATTN_ERROR_NULL_POINTER, "SATTN_ERROR_NULL_POINTER"},
      {SATTN_ERROR_DTYPE, "SATTN_ERROR_DTYPE"},
      {SATTN_ERROR_SHAPE, "SATTN_ERROR_SHAPE"},
      {SATTN_ERROR_STRIDE, "SATTN_ERROR_STRIDE"},
      {SATTN_ERROR_ALIGNMENT, "SATTN_ERROR_ALIGNMENT"},
      {SATTN_ERROR_TABLE, "SATTN_ERROR_TABLE"},
      {SATTN_ERROR_PLAN, "SATTN_ERROR_PLAN"},
      {SATTN_ERROR_LAUNCH, "SATTN_ERROR_LAUNCH"},
      {SATTN_ERROR_OUT_OF_MEMORY, "SATTN_ERROR_OUT_OF_MEMORY"},
  };
  for (const auto &[status, name] : names)
    EXPECT_STREQ(sattn_status_string(status), name);
  EXPECT_STREQ(sattn_status_string(static_cast<sattn_status>(99)), "SATTN_ERROR_UNKNOWN");
}

//===----------------------------------------------------------------------===//
// C++ wrapper
//===----------------------------------------------------------------------===//

TEST(RuntimeCpp, ErrorsThrowWithStatusAndMessage) {
  try {
    sattn::runtime::Kernel::fromMemory("{\"format\": 1,}", kPtx, sizeof kPtx);
    FAIL() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_MANIFEST);
    EXPECT_STREQ(e.statusName(), "SATTN_ERROR_MANIFEST");
    EXPECT_NE(std::string(e.what()).find("at byte 13"), std::string::npos) << e.what();
  }
  try {
    sattn::runtime::Kernel::fromFile("/nonexistent/k.json");
    FAIL() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_MANIFEST);
  }
}

TEST(RuntimeCpp, KernelIsMoveOnlyAndValidates) {
  static_assert(!std::is_copy_constructible_v<sattn::runtime::Kernel>);
  static_assert(std::is_nothrow_move_constructible_v<sattn::runtime::Kernel>);
  auto a = sattn::runtime::Kernel::fromMemory(ManifestBuilder().str(), kPtx, sizeof kPtx);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.name(), "streaming");
  EXPECT_EQ(a.headDim(), 128);
  EXPECT_EQ(a.tableNames(), (std::vector<std::string>{"doc", "blocks"}));
  EXPECT_EQ(a.tableShape(1, 2, 130), (std::vector<int64_t>{32, 3, 3}));
  EXPECT_THROW(a.tableShape(5, 2, 130), sattn::runtime::Error);

  sattn::runtime::Kernel b = std::move(a);
  EXPECT_FALSE(a);
  ASSERT_TRUE(b);

  auto q = sattn::runtime::tensor(reinterpret_cast<void *>(0x10000), SATTN_DTYPE_BF16,
                                  {1, 32, 64, 128});
  EXPECT_EQ(q.strides[0], 32 * 64 * 128);
  EXPECT_EQ(q.strides[2], 128);
  EXPECT_EQ(q.strides[3], 1);
  auto kv = sattn::runtime::tensor(reinterpret_cast<void *>(0x20000), SATTN_DTYPE_BF16,
                                   {1, 8, 64, 128});
  std::vector<sattn_tensor> tables = {
      sattn::runtime::tensor(reinterpret_cast<void *>(0x30000), SATTN_DTYPE_I64, {1, 64}),
      sattn::runtime::tensor(reinterpret_cast<void *>(0x40000), SATTN_DTYPE_I64, {32, 1, 1})};
  sattn_plan plan{reinterpret_cast<const int64_t *>(0x50000), 1,
                  reinterpret_cast<const int64_t *>(0x60000), 1,
                  reinterpret_cast<const int64_t *>(0x70000), 1, 64, 64};
  EXPECT_NO_THROW(b.validate(q, kv, kv, q, nullptr, plan, tables));
  q.shape[3] = 64;
  try {
    b.validate(q, kv, kv, q, nullptr, plan, tables);
    FAIL() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_SHAPE);
    EXPECT_NE(std::string(e.what()).find("head_dim"), std::string::npos);
  }
  try {
    a.launch(q, kv, kv, q, nullptr, plan, tables);
    FAIL() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_INVALID_ARGUMENT);
  }
  EXPECT_THROW(sattn::runtime::tensor(nullptr, SATTN_DTYPE_F32, {1, 2, 3, 4, 5}),
               sattn::runtime::Error);
  EXPECT_THROW(sattn::runtime::tensor(nullptr, SATTN_DTYPE_F32, {1, 2}, {1}),
               sattn::runtime::Error);
}

} // namespace
