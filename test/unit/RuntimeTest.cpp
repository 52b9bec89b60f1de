//===- RuntimeTest.cpp - libsattn_runtime without a GPU -------------------===//
//
// Every status of the C API is produced by a real call. This file: malformed
// manifests (JSON syntax with exact byte offsets, missing keys, wrong types,
// inconsistent values) and loading; RuntimeValidateTest.cpp: each launch
// validation error, a successful validation with fake (aligned, non-null)
// device pointers, and a launch on this GPU-less machine, which must report
// the missing driver instead of crashing. The driver-facing half of the
// launch is covered by test/Runtime/fake-driver-launch.test with a fake
// libcuda.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

#include <cstddef>

using namespace runtime_test;

namespace {

// The ctypes binding (python/sattn/runtime.py) mirrors these layouts.
static_assert(sizeof(sattn_tensor) == 80, "sattn_tensor layout changed");
static_assert(offsetof(sattn_tensor, shape) == 16, "sattn_tensor layout changed");
static_assert(offsetof(sattn_tensor, strides) == 48, "sattn_tensor layout changed");
static_assert(sizeof(sattn_plan) == 64, "sattn_plan layout changed");

//===----------------------------------------------------------------------===//
// Manifests
//===----------------------------------------------------------------------===//

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
  expectManifestError(table(R"(["h/0"])"), {"\"h/0\" has no positive group size"});
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

} // namespace
