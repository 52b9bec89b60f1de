//===- RuntimeBlockMaxTest.cpp - block_max kernels in libsattn_runtime ----===//
//
// A manifest with "block_max": true (docs/KERNEL_ABI.md, "Block maxima")
// loads only as the portable kernel over Range-only plans, and its launches
// take row_max (B, H, N, Lq) and block_max (B, H, T, N), both f32 and
// row-major contiguous; a plain launch is refused with the entry point to
// use, and a kernel without block maxima refuses the outputs. Checked
// through sattn_validate_block_max and the C++ wrapper, without a GPU.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

using namespace runtime_test;

namespace {

/// The builder's kernel compiled with block_max: an mma_sync kernel with
/// Range-only plans and the two outputs after its tables in "params".
ManifestBuilder withBlockMax() {
  ManifestBuilder b;
  b.set("block_max", "true").set("kernel", "\"mma_sync\"").set("plan_gathers", "false");
  return b;
}

TEST(RuntimeBlockMaxManifest, OnlyThePortableKernelOverRangePlansWritesThem) {
  EXPECT_EQ(sattn_kernel_has_block_max(loadOrDie(withBlockMax().str()).get()), 1);
  EXPECT_EQ(sattn_kernel_has_block_max(loadOrDie(ManifestBuilder().str()).get()), 0);
  EXPECT_EQ(sattn_kernel_has_block_max(nullptr), 0);
  expectManifestError(withBlockMax().set("plan_gathers", "true").str(),
                      {"\"block_max\"", "\"plan_gathers\": false"});
  expectManifestError(withBlockMax().erase("plan_gathers").str(), {"\"block_max\""});
  expectManifestError(withBlockMax().set("block_max", "1").str(), {"\"block_max\""});
}

class RuntimeBlockMax : public LaunchFixture {
protected:
  void SetUp() override {
    LaunchFixture::SetUp();
    bmKernel = loadOrDie(withBlockMax().str());
    // Lk = 130: 3 KV tiles of 64; the plan's 2 query tiles.
    rowMax = sattn::runtime::tensor(fake(11), SATTN_DTYPE_F32, {B, H, 3, LQ});
    blockMax = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, 2, 3});
  }
  sattn_status check(const sattn_kernel *kern, const sattn_tensor *rows,
                     const sattn_tensor *blocks) {
    return sattn_validate_block_max(kern, &q, &k, &v, &o, nullptr, rows, blocks, &plan,
                                    tables.data(), static_cast<int32_t>(tables.size()));
  }
  sattn_status check() { return check(bmKernel.get(), &rowMax, &blockMax); }

  KernelPtr bmKernel;
  sattn_tensor rowMax, blockMax;
};

TEST_F(RuntimeBlockMax, ValidCallPassesAndPlainLaunchesAreRefused) {
  EXPECT_EQ(check(), SATTN_OK) << sattn_last_error();
  expect(validate(bmKernel.get()), SATTN_ERROR_NULL_POINTER,
         {"row_max is NULL", "compiled with block_max", "sattn_launch_block_max"});
  expect(check(kernel.get(), &rowMax, &blockMax), SATTN_ERROR_INVALID_ARGUMENT,
         {"row_max was given but kernel 'streaming' was compiled without block_max"});
  expect(check(bmKernel.get(), &rowMax, nullptr), SATTN_ERROR_NULL_POINTER,
         {"block_max is NULL"});
}

TEST_F(RuntimeBlockMax, OutputsAreFloat32InTheShapesOfThePlan) {
  blockMax.dtype = SATTN_DTYPE_BF16;
  expect(check(), SATTN_ERROR_DTYPE, {"block_max has dtype bf16, expected f32"});
  blockMax.dtype = SATTN_DTYPE_F32;
  rowMax = sattn::runtime::tensor(fake(11), SATTN_DTYPE_F32, {B, H, LQ, 3});
  expect(check(), SATTN_ERROR_SHAPE,
         {"row_max dimension 2 (KV tiles) is 100, expected 3 (ceil(Lk / block_n)"});
  rowMax = sattn::runtime::tensor(fake(11), SATTN_DTYPE_F32, {B, H, 3, LQ});
  blockMax = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, 3, 3});
  expect(check(), SATTN_ERROR_SHAPE,
         {"block_max dimension 2 (query tiles) is 3, expected 2 (the plan's num_query_tiles)"});
  blockMax = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, 2, 3});
  // Row-major contiguous: the kernel takes no strides for them.
  rowMax.strides[2] = LQ + 4;
  rowMax.strides[1] = 3 * (LQ + 4);
  rowMax.strides[0] = H * 3 * (LQ + 4);
  expect(check(), SATTN_ERROR_STRIDE, {"row_max dimension 2 (KV tiles) has stride 104, expected 100"});
  rowMax = sattn::runtime::tensor(fake(11), SATTN_DTYPE_F32, {B, H, 3, LQ});
  blockMax.data = offset(fake(12), 2);
  expect(check(), SATTN_ERROR_ALIGNMENT, {"block_max data pointer"});
  blockMax.data = nullptr;
  expect(check(), SATTN_ERROR_NULL_POINTER, {"block_max has no data"});
  blockMax.data = fake(12);
  EXPECT_EQ(check(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeBlockMax, TheWrapperThrowsTheRuntimesStatus) {
  sattn::runtime::Kernel wrapped(loadOrDie(withBlockMax().str()).release());
  EXPECT_TRUE(wrapped.hasBlockMax());
  blockMax.dtype = SATTN_DTYPE_F16;
  try {
    wrapped.launchBlockMax(q, k, v, o, nullptr, rowMax, blockMax, plan, tables);
    ADD_FAILURE() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_DTYPE);
  }
  blockMax.dtype = SATTN_DTYPE_F32;
  // A valid call on this GPU-less machine reports the missing driver.
  sattn_status status = sattn_launch_block_max(bmKernel.get(), &q, &k, &v, &o, nullptr, &rowMax,
                                               &blockMax, &plan, tables.data(), 2, nullptr);
  EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
      << sattn_status_string(status) << ": " << sattn_last_error();
}

} // namespace
