//===- RuntimeValidateTest.cpp - launches checked without a GPU ------------===//
//
// Each launch validation error of libsattn_runtime from a real call, a
// successful validation with fake (aligned, non-null) device pointers, a
// launch on this GPU-less machine (the missing driver is reported, nothing
// crashes), the name of every status and the C++ wrapper. Manifests and
// loading are in RuntimeTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

using namespace runtime_test;

namespace {

//===----------------------------------------------------------------------===//
// Launch validation
//===----------------------------------------------------------------------===//

class RuntimeValidate : public LaunchFixture {};

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
