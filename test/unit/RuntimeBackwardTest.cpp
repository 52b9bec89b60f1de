//===- RuntimeBackwardTest.cpp - the backward pass checked without a GPU ---===//
//
// The "backward" manifest record (accepted with the ABI's parameter list,
// refused with a precise message otherwise) and every validation error of
// sattn_validate_backward / sattn_launch_backward from real calls, with
// fake aligned device pointers, as RuntimeValidateTest.cpp does for the
// forward. The launch itself (memsets, parameters) is checked against the
// fake driver in test/Runtime/fake-driver-backward.test.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestSupport.h"

#include "sattn/Core/KernelAbi.h"

using namespace runtime_test;

namespace {

/// The backward parameter list of the builder's kernel (tables doc, blocks),
/// as JSON, with `edit` applied to the names first.
template <typename Edit> std::string backwardParams(Edit edit) {
  std::vector<std::string> names = sattn::abi::backwardParamNames({"doc", "blocks"});
  edit(names);
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", \"" : "\"") + names[i] + "\"";
  return out + "]";
}
std::string backwardParams() {
  return backwardParams([](std::vector<std::string> &) {});
}

std::string backwardRecord(const std::string &params = backwardParams(),
                           const std::string &threads = "256") {
  return R"({"entry": "sattn_streaming_bwd", "threads": )" + threads +
         R"(, "warps": 8, "stages": 1, "shared_bytes": 209408, "params": )" + params + "}";
}

ManifestBuilder withBackward() {
  ManifestBuilder b;
  b.set("return_lse", "true").set("backward", backwardRecord());
  return b;
}

//===----------------------------------------------------------------------===//
// The manifest record
//===----------------------------------------------------------------------===//

TEST(RuntimeBackwardManifest, ARecordWithTheAbiParametersLoads) {
  KernelPtr k = loadOrDie(withBackward().str());
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(sattn_kernel_has_backward(k.get()), 1);
  EXPECT_EQ(sattn_kernel_has_backward(loadOrDie(ManifestBuilder().str()).get()), 0);
  EXPECT_EQ(sattn_kernel_has_backward(nullptr), 0);
  // Unknown keys inside the record are ignored, like the kernel's own.
  std::string extra = backwardRecord();
  extra.insert(1, R"("registers": 255, )");
  EXPECT_NE(loadOrDie(withBackward().set("backward", extra).str()), nullptr);
}

TEST(RuntimeBackwardManifest, AParameterListOtherThanTheAbiIsRefused) {
  std::string dropped = backwardParams([](auto &names) { names.pop_back(); });
  expectManifestError(withBackward().set("backward", backwardRecord(dropped)).str(),
                      {"key \"params\" of backward differs from this runtime's backward kernel "
                       "ABI (docs/KERNEL_ABI.md, \"Backward kernel\"): parameter 34 is "
                       "nothing, expected table_blocks"});
  std::string swapped = backwardParams([](auto &names) { std::swap(names[6], names[7]); });
  expectManifestError(withBackward().set("backward", backwardRecord(swapped)).str(),
                      {"parameter 6 is d_k, expected d_q"});
  // The forward's list is not the backward's.
  std::string forward = R"(["q", "k", "v", "o", "lse", "q_sb"])";
  expectManifestError(withBackward().set("backward", backwardRecord(forward)).str(),
                      {"parameter 5 is q_sb, expected d_o"});
  std::string extra = backwardParams([](auto &names) { names.push_back("tma_q"); });
  expectManifestError(withBackward().set("backward", backwardRecord(extra)).str(),
                      {"parameter 35 is tma_q, expected nothing"});
  std::string number = backwardParams([](auto &names) { names[0] = "q\", 7, \"x"; });
  expectManifestError(withBackward().set("backward", backwardRecord(number)).str(),
                      {"parameter 1 is a non-string, expected k"});
}

TEST(RuntimeBackwardManifest, MalformedRecordsNameTheKey) {
  expectManifestError(withBackward().set("backward", "[]").str(),
                      {"manifest: \"backward\" must be an object, found an array"});
  std::string noParams = R"({"entry": "e", "threads": 256, "warps": 8, "stages": 1,
                             "shared_bytes": 0})";
  expectManifestError(withBackward().set("backward", noParams).str(),
                      {"missing key \"params\" of backward"});
  expectManifestError(withBackward().set("backward", backwardRecord(backwardParams(), "128")).str(),
                      {"key \"threads\" of backward is 128, expected 32 * warps = 256"});
  expectManifestError(
      withBackward().set("backward", backwardRecord(backwardParams(), "2048")).str(),
      {"key \"threads\" of backward is 2048, expected a value in [1, 1024]"});
  std::string badEntry = backwardRecord();
  badEntry.replace(badEntry.find("sattn_streaming_bwd"), 19, "2bwd");
  expectManifestError(withBackward().set("backward", badEntry).str(),
                      {"key \"entry\" of backward must be an identifier"});
  // The backward reads the forward's LSE.
  expectManifestError(withBackward().set("return_lse", "false").str(),
                      {"\"return_lse\" is false", "reads the forward's LSE"});
}

//===----------------------------------------------------------------------===//
// Validation
//===----------------------------------------------------------------------===//

/// A valid backward call of the builder's kernel: the forward's fixture plus
/// dO (bf16, like O) and the f32 gradients.
class RuntimeBackward : public LaunchFixture {
protected:
  void SetUp() override {
    LaunchFixture::SetUp();
    bwdKernel = loadOrDie(withBackward().str());
    dO = sattn::runtime::tensor(fake(11), SATTN_DTYPE_BF16, {B, H, LQ, D});
    dQ = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, LQ, D});
    dK = sattn::runtime::tensor(fake(13), SATTN_DTYPE_F32, {B, KVH, LK, D});
    dV = sattn::runtime::tensor(fake(14), SATTN_DTYPE_F32, {B, KVH, LK, D});
  }

  sattn_status check(const sattn_kernel *kern, const sattn_tensor *lsePtr) {
    return sattn_validate_backward(kern, &q, &k, &v, &o, lsePtr, &dO, &dQ, &dK, &dV, &plan,
                                   tables.data(), static_cast<int32_t>(tables.size()));
  }
  sattn_status check() { return check(bwdKernel.get(), &lse); }

  KernelPtr bwdKernel;
  sattn_tensor dO, dQ, dK, dV;
};

TEST_F(RuntimeBackward, ValidCallPasses) {
  EXPECT_EQ(check(), SATTN_OK) << sattn_last_error();
  EXPECT_STREQ(sattn_last_error(), "");
  // The C++ wrapper says the same.
  sattn::runtime::Kernel wrapped(loadOrDie(withBackward().str()).release());
  EXPECT_TRUE(wrapped.hasBackward());
  EXPECT_NO_THROW(wrapped.validateBackward(q, k, v, o, lse, dO, dQ, dK, dV, plan, tables));
  dQ.dtype = SATTN_DTYPE_BF16;
  try {
    wrapped.validateBackward(q, k, v, o, lse, dO, dQ, dK, dV, plan, tables);
    ADD_FAILURE() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_DTYPE);
  }
}

TEST_F(RuntimeBackward, AKernelWithoutBackwardIsRefused) {
  const char *why = "kernel 'streaming' was compiled without a backward pass "
                    "(sattn-compile --backward)";
  expect(check(lseKernel.get(), &lse), SATTN_ERROR_INVALID_ARGUMENT, {why});
  expect(sattn_launch_backward(lseKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &plan,
                               tables.data(), 2, nullptr),
         SATTN_ERROR_INVALID_ARGUMENT, {why});
  expect(check(nullptr, &lse), SATTN_ERROR_INVALID_ARGUMENT,
         {"sattn_validate_backward: kernel is NULL"});
  expect(sattn_launch_backward(nullptr, &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &plan,
                               tables.data(), 2, nullptr),
         SATTN_ERROR_INVALID_ARGUMENT, {"sattn_launch_backward: kernel is NULL"});
}

TEST_F(RuntimeBackward, LseAndEveryDescriptorAreRequired) {
  expect(check(bwdKernel.get(), nullptr), SATTN_ERROR_NULL_POINTER,
         {"lse is NULL; the backward pass of kernel 'streaming' needs the forward's "
          "log-sum-exp"});
  const char *names[] = {"d_o", "d_q", "d_k", "d_v"};
  sattn_tensor *grads[] = {&dO, &dQ, &dK, &dV};
  for (int i = 0; i < 4; ++i) {
    const sattn_tensor *args[4] = {&dO, &dQ, &dK, &dV};
    args[i] = nullptr;
    expect(sattn_validate_backward(bwdKernel.get(), &q, &k, &v, &o, &lse, args[0], args[1],
                                   args[2], args[3], &plan, tables.data(), 2),
           SATTN_ERROR_NULL_POINTER,
           {std::string(names[i]) + " is NULL (a tensor descriptor is required)"});
    void *saved = grads[i]->data;
    grads[i]->data = nullptr;
    expect(check(), SATTN_ERROR_NULL_POINTER,
           {std::string(names[i]) + " has no data (NULL pointer)"});
    grads[i]->data = saved;
  }
  lse.data = nullptr;
  expect(check(), SATTN_ERROR_NULL_POINTER, {"lse has no data"});
}

TEST_F(RuntimeBackward, TheForwardsChecksComeFirst) {
  q.dtype = SATTN_DTYPE_F16;
  dQ.dtype = SATTN_DTYPE_BF16;
  expect(check(), SATTN_ERROR_DTYPE, {"q has dtype f16, expected bf16"});
  q.dtype = SATTN_DTYPE_BF16;
  dQ.dtype = SATTN_DTYPE_F32;
  plan.num_query_tiles = 3;
  expect(check(), SATTN_ERROR_PLAN, {"plan has num_query_tiles = 3"});
  plan.num_query_tiles = 2;
  tables.pop_back();
  expect(check(), SATTN_ERROR_TABLE, {"reads 2 runtime table(s)"});
}

TEST_F(RuntimeBackward, Dtypes) {
  dO.dtype = SATTN_DTYPE_F32;
  expect(check(), SATTN_ERROR_DTYPE,
         {"d_o has dtype f32, expected bf16 (the dtype of kernel 'streaming')"});
  dO.dtype = SATTN_DTYPE_BF16;
  dQ.dtype = SATTN_DTYPE_BF16;
  expect(check(), SATTN_ERROR_DTYPE, {"d_q has dtype bf16, expected f32 (gradients are float32)"});
  dQ.dtype = SATTN_DTYPE_F32;
  dV.dtype = static_cast<sattn_dtype>(9);
  expect(check(), SATTN_ERROR_DTYPE, {"d_v has an invalid dtype value 9"});
}

TEST_F(RuntimeBackward, Shapes) {
  dO.rank = 3;
  expect(check(), SATTN_ERROR_SHAPE, {"d_o has rank 3, expected 4 (batch, heads, Lq, head_dim)"});
  dO.rank = 4;
  dO.shape[2] = LQ + 1;
  expect(check(), SATTN_ERROR_SHAPE,
         {"d_o dimension 2 (Lq) is 101, expected 100 (q's shape; d_o has o's shape)"});
  dO.shape[2] = LQ;
  dQ.shape[1] = KVH;
  expect(check(), SATTN_ERROR_SHAPE, {"d_q dimension 1 (heads) is 8, expected 32 (q's shape)"});
  dQ.shape[1] = H;
  dK.shape[2] = LQ;
  expect(check(), SATTN_ERROR_SHAPE, {"d_k dimension 2 (Lk) is 100, expected 130 (k's shape)"});
  dK.shape[2] = LK;
  dV.shape[1] = H;  // gradients of K and V have the KV heads: the kernel sums the groups
  expect(check(), SATTN_ERROR_SHAPE, {"d_v dimension 1 (kv_heads) is 32, expected 8 (v's shape)"});
}

TEST_F(RuntimeBackward, GradientsAreContiguousAndDOFollowsOsRules) {
  // dO may have any strides o may have: a (B, Lq, H, D) buffer is fine.
  dO = sattn::runtime::tensor(fake(11), SATTN_DTYPE_BF16, {B, H, LQ, D},
                              {LQ * H * D, D, H * D, 1});
  EXPECT_EQ(check(), SATTN_OK) << sattn_last_error();
  dO.strides[3] = 2;
  expect(check(), SATTN_ERROR_STRIDE, {"d_o dimension 3 has stride 2, expected 1"});
  dO.strides[3] = 1;
  // The gradients must be exactly row-major.
  dQ = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, LQ, D},
                              {LQ * H * D, D, H * D, 1});
  expect(check(), SATTN_ERROR_STRIDE,
         {"d_q dimension 2 (Lq) has stride 4096, expected 128: the backward kernel writes d_q "
          "row-major contiguous"});
  dQ = sattn::runtime::tensor(fake(12), SATTN_DTYPE_F32, {B, H, LQ, D});
  dK.strides[0] = 0;  // an output must not alias
  expect(check(), SATTN_ERROR_STRIDE, {"d_k dimension 0 has stride 0 with extent 2"});
  dK = sattn::runtime::tensor(fake(13), SATTN_DTYPE_F32, {B, KVH, LK, D});
  dV.strides[0] += 4;
  expect(check(), SATTN_ERROR_STRIDE, {"d_v dimension 0 (batch) has stride 133124, expected "
                                       "133120"});
  dV = sattn::runtime::tensor(fake(14), SATTN_DTYPE_F32, {B, KVH, LK, D});
  // Extents of 1 may have any stride.
  dQ.shape[0] = dK.shape[0] = dV.shape[0] = dO.shape[0] = 1;
  q.shape[0] = k.shape[0] = v.shape[0] = o.shape[0] = lse.shape[0] = 1;
  tables[0].shape[0] = 1;
  dQ.strides[0] = 7;
  EXPECT_EQ(check(), SATTN_OK) << sattn_last_error();
}

TEST_F(RuntimeBackward, Alignment) {
  dO.data = offset(dO.data, 8);
  expect(check(), SATTN_ERROR_ALIGNMENT, {"d_o data pointer", "is not 16-byte aligned"});
  dO.data = fake(11);
  dO.strides[2] = D + 4;  // 132 bf16 elements = 264 bytes
  dO.strides[1] = LQ * (D + 4);
  dO.strides[0] = H * LQ * (D + 4);
  expect(check(), SATTN_ERROR_ALIGNMENT, {"d_o dimension 2 (Lq) has stride 132 elements"});
  dO = sattn::runtime::tensor(fake(11), SATTN_DTYPE_BF16, {B, H, LQ, D});
  dV.data = offset(dV.data, 4);
  expect(check(), SATTN_ERROR_ALIGNMENT, {"d_v data pointer", "is not 16-byte aligned"});
}

TEST_F(RuntimeBackward, LaunchValidatesBeforeTouchingTheDriver) {
  dK.shape[3] = 64;
  expect(sattn_launch_backward(bwdKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &plan,
                               tables.data(), 2, nullptr),
         SATTN_ERROR_SHAPE, {"d_k dimension 3 (head_dim) is 64, expected 128"});
  // A valid call on this GPU-less machine reports the missing driver.
  dK.shape[3] = D;
  sattn_status status = sattn_launch_backward(bwdKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ,
                                              &dK, &dV, &plan, tables.data(), 2, nullptr);
  EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
      << sattn_status_string(status) << ": " << sattn_last_error();
  // An empty batch validates and returns without the driver.
  for (sattn_tensor *t : {&q, &k, &v, &o, &dO, &dQ, &dK, &dV, &lse})
    t->shape[0] = 0;
  tables[0].shape[0] = 0;
  EXPECT_EQ(sattn_launch_backward(bwdKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV,
                                  &plan, tables.data(), 2, nullptr),
            SATTN_OK)
      << sattn_last_error();
}

TEST_F(RuntimeBackward, TheDeterministicFormTakesInt64SumsAndTheirScales) {
  sattn_tensor scales = sattn::runtime::tensor(fake(15), SATTN_DTYPE_F32, {2});
  auto checkFixed = [&](const sattn_tensor *s) {
    return sattn_validate_backward_deterministic(bwdKernel.get(), &q, &k, &v, &o, &lse, &dO,
                                                 &dQ, &dK, &dV, s, &plan, tables.data(), 2);
  };
  // float32 dK and dV are the other form's.
  expect(checkFixed(&scales), SATTN_ERROR_DTYPE,
         {"d_k has dtype f32, expected i64 (the deterministic backward's fixed-point sums)"});
  dK.dtype = dV.dtype = SATTN_DTYPE_I64;
  EXPECT_EQ(checkFixed(&scales), SATTN_OK) << sattn_last_error();
  // ... and int64 ones are not the float32 form's; dQ stays float32.
  expect(check(), SATTN_ERROR_DTYPE, {"d_k has dtype i64, expected f32 (gradients are float32)"});
  dQ.dtype = SATTN_DTYPE_I64;
  expect(checkFixed(&scales), SATTN_ERROR_DTYPE, {"d_q has dtype i64, expected f32"});
  dQ.dtype = SATTN_DTYPE_F32;
  // The scales: a float32 pair in device memory, consecutive.
  expect(checkFixed(nullptr), SATTN_ERROR_NULL_POINTER, {"dkv_scales is NULL"});
  expect(sattn_launch_backward_deterministic(bwdKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ,
                                             &dK, &dV, nullptr, &plan, tables.data(), 2,
                                             nullptr),
         SATTN_ERROR_NULL_POINTER, {"dkv_scales is NULL"});
  scales.dtype = SATTN_DTYPE_BF16;
  expect(checkFixed(&scales), SATTN_ERROR_DTYPE,
         {"dkv_scales has dtype bf16, expected f32 (the scales of dK and dV)"});
  scales.dtype = SATTN_DTYPE_F32;
  scales.shape[0] = 3;
  expect(checkFixed(&scales), SATTN_ERROR_SHAPE, {"dkv_scales dimension 0 (scale) is 3, expected 2"});
  scales.shape[0] = 2;
  scales.strides[0] = 2;
  expect(checkFixed(&scales), SATTN_ERROR_STRIDE, {"dkv_scales has stride 2, expected 1"});
  scales.strides[0] = 1;
  scales.data = nullptr;
  expect(checkFixed(&scales), SATTN_ERROR_NULL_POINTER, {"dkv_scales has no data"});
  scales.data = offset(fake(15), 2);
  expect(checkFixed(&scales), SATTN_ERROR_ALIGNMENT, {"dkv_scales data pointer"});
  scales.data = fake(15);
  expect(sattn_validate_backward_deterministic(lseKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ,
                                               &dK, &dV, &scales, &plan, tables.data(), 2),
         SATTN_ERROR_INVALID_ARGUMENT, {"was compiled without a backward pass"});
  // The C++ wrapper throws the runtime's status.
  sattn::runtime::Kernel wrapped(loadOrDie(withBackward().str()).release());
  scales.dtype = SATTN_DTYPE_I64;
  try {
    wrapped.launchBackwardDeterministic(q, k, v, o, lse, dO, dQ, dK, dV, scales, plan, tables);
    ADD_FAILURE() << "no exception";
  } catch (const sattn::runtime::Error &e) {
    EXPECT_EQ(e.status(), SATTN_ERROR_DTYPE);
  }
  scales.dtype = SATTN_DTYPE_F32;
  // A valid call on this GPU-less machine reports the missing driver.
  sattn_status status = sattn_launch_backward_deterministic(
      bwdKernel.get(), &q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV, &scales, &plan, tables.data(),
      2, nullptr);
  EXPECT_TRUE(status == SATTN_ERROR_NO_DRIVER || status == SATTN_ERROR_NO_DEVICE)
      << sattn_status_string(status) << ": " << sattn_last_error();
}

} // namespace
