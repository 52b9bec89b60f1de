//===- TensorMapsTest.cpp - the geometry of the sm_90a tensor maps --------===//
//
// libsattn_runtime encodes three TMA tensor maps per launch of a "wgmma"
// kernel; the driver accepts or refuses them without saying why, and a
// wrong dimension or stride makes the kernel read the wrong rows. The
// geometry (lib/Runtime/TensorMaps.cpp, compiled into this binary since the
// library exports only its C API) is checked here value by value for a GQA
// launch with strided layouts, and every refusal with its status and
// message.
//
//===----------------------------------------------------------------------===//

#include "TensorMaps.h"

#include "CudaDriver.h"
#include "sattn/runtime.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace sattn::rt;

namespace {

constexpr int64_t B = 2, H = 8, KVH = 2, LQ = 100, LK = 300, D = 128;

void *at(uintptr_t address) { return reinterpret_cast<void *>(address); }

std::vector<uint64_t> dims(const TensorMapGeometry &g) {
  return {g.dims[0], g.dims[1], g.dims[2], g.dims[3]};
}
std::vector<uint64_t> strides(const TensorMapGeometry &g) {
  return {g.strides[0], g.strides[1], g.strides[2]};
}
std::vector<uint32_t> box(const TensorMapGeometry &g) {
  return {g.box[0], g.box[1], g.box[2], g.box[3]};
}

/// GQA (8 query heads on 2 KV heads), 128 x 64 tiles. Q is a (B, Lq, H, D)
/// buffer viewed as (B, H, Lq, D); K is contiguous; V's rows are padded to
/// 136 elements.
class TensorMaps : public ::testing::Test {
protected:
  void SetUp() override {
    manifest.blockM = 128;
    manifest.blockN = 64;
    q = sattn::runtime::tensor(at(0x100000), SATTN_DTYPE_BF16, {B, H, LQ, D},
                               {LQ * H * D, D, H * D, 1});
    k = sattn::runtime::tensor(at(0x200000), SATTN_DTYPE_BF16, {B, KVH, LK, D});
    v = sattn::runtime::tensor(at(0x300000), SATTN_DTYPE_BF16, {B, KVH, LK, D},
                               {KVH * LK * 136, LK * 136, 136, 1});
    args.q = &q;
    args.k = &k;
    args.v = &v;
  }

  /// `t`'s map fails with `want` and exactly `text` (plus the common suffix).
  void refused(const char *name, const sattn_tensor &t, sattn_status want,
               const std::string &text, int64_t rows = 64) {
    TensorMapGeometry g;
    g.dims[0] = 12345; // must stay untouched
    std::string message;
    EXPECT_EQ(tensorMapGeometry(name, t, rows, g, message), want) << message;
    EXPECT_EQ(message, text + " (the TMA tensor map of a \"wgmma\" kernel)");
    EXPECT_EQ(g.dims[0], 12345u);
  }

  Manifest manifest;
  sattn_tensor q, k, v;
  LaunchArgs args;
};

TEST_F(TensorMaps, GqaLaunchWithStridedLayouts) {
  TensorMapGeometry maps[3];
  std::string message;
  ASSERT_EQ(launchTensorMaps(manifest, args, maps, message), SATTN_OK) << message;
  // Q: {D, Lq, H, B}; byte strides of a row (H * D), a head (D) and a batch
  // (Lq * H * D) elements; boxes of block_m rows.
  EXPECT_EQ(maps[0].address, at(0x100000));
  EXPECT_EQ(dims(maps[0]), (std::vector<uint64_t>{D, LQ, H, B}));
  EXPECT_EQ(strides(maps[0]), (std::vector<uint64_t>{2 * H * D, 2 * D, 2 * LQ * H * D}));
  EXPECT_EQ(box(maps[0]), (std::vector<uint32_t>{64, 128, 1, 1}));
  // K: {D, Lk, KV_H, B}, contiguous; boxes of block_n rows.
  EXPECT_EQ(maps[1].address, at(0x200000));
  EXPECT_EQ(dims(maps[1]), (std::vector<uint64_t>{D, LK, KVH, B}));
  EXPECT_EQ(strides(maps[1]), (std::vector<uint64_t>{2 * D, 2 * LK * D, 2 * KVH * LK * D}));
  EXPECT_EQ(box(maps[1]), (std::vector<uint32_t>{64, 64, 1, 1}));
  // V: rows of 136 elements = 272 bytes.
  EXPECT_EQ(maps[2].address, at(0x300000));
  EXPECT_EQ(dims(maps[2]), (std::vector<uint64_t>{D, LK, KVH, B}));
  EXPECT_EQ(strides(maps[2]), (std::vector<uint64_t>{272, 272 * LK, 272 * LK * KVH}));
  EXPECT_EQ(box(maps[2]), (std::vector<uint32_t>{64, 64, 1, 1}));
  for (const TensorMapGeometry &g : maps) {
    EXPECT_EQ(g.dataType, cuda::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16);
    for (uint32_t s : g.elementStrides)
      EXPECT_EQ(s, 1u);
  }
}

TEST_F(TensorMaps, F16MapsAndTheBoxRowsOfTheManifest) {
  q.dtype = k.dtype = v.dtype = SATTN_DTYPE_F16;
  manifest.blockM = 64;
  manifest.blockN = 256;
  TensorMapGeometry maps[3];
  std::string message;
  ASSERT_EQ(launchTensorMaps(manifest, args, maps, message), SATTN_OK) << message;
  EXPECT_EQ(maps[0].dataType, cuda::CU_TENSOR_MAP_DATA_TYPE_FLOAT16);
  EXPECT_EQ(maps[0].box[1], 64u);
  EXPECT_EQ(maps[1].box[1], 256u);
  EXPECT_EQ(maps[2].box[1], 256u);
}

TEST_F(TensorMaps, ExtentsOfOneGetAStrideTheDriverTakes) {
  // One batch and one KV head whose strides are 0 and 7 (never stepped
  // over): the map gets the span of the dimensions inside instead.
  sattn_tensor one = sattn::runtime::tensor(at(0x200000), SATTN_DTYPE_BF16, {1, 1, LK, D},
                                            {0, 7, D, 1});
  TensorMapGeometry g;
  std::string message;
  ASSERT_EQ(tensorMapGeometry("k", one, 64, g, message), SATTN_OK) << message;
  EXPECT_EQ(dims(g), (std::vector<uint64_t>{D, LK, 1, 1}));
  EXPECT_EQ(strides(g), (std::vector<uint64_t>{2 * D, 2 * D * LK, 2 * D * LK}));
  // One query row (decoding) with a row stride of 3 elements.
  sattn_tensor row = sattn::runtime::tensor(at(0x100000), SATTN_DTYPE_BF16, {B, H, 1, D},
                                            {H * D, D, 3, 1});
  ASSERT_EQ(tensorMapGeometry("q", row, 128, g, message), SATTN_OK) << message;
  EXPECT_EQ(dims(g), (std::vector<uint64_t>{D, 1, H, B}));
  EXPECT_EQ(strides(g), (std::vector<uint64_t>{2 * D, 2 * D, 2 * H * D}));
  // A head_dim that is not a whole number of 16 bytes still gets a
  // multiple of 16 where it is substituted.
  sattn_tensor narrow = sattn::runtime::tensor(at(0x100000), SATTN_DTYPE_BF16, {1, 1, 1, 12});
  ASSERT_EQ(tensorMapGeometry("q", narrow, 64, g, message), SATTN_OK) << message;
  EXPECT_EQ(strides(g), (std::vector<uint64_t>{32, 32, 32}));
}

TEST_F(TensorMaps, MisalignedPointersAreRefused) {
  q.data = at(0x100008);
  refused("q", q, SATTN_ERROR_ALIGNMENT, "q data pointer 0x100008 is not 16-byte aligned");
  TensorMapGeometry maps[3];
  std::string message;
  EXPECT_EQ(launchTensorMaps(manifest, args, maps, message), SATTN_ERROR_ALIGNMENT);
  EXPECT_NE(message.find("q data pointer 0x100008"), std::string::npos) << message;
}

TEST_F(TensorMaps, StridesNotMultiplesOf16BytesAreRefused) {
  k.strides[2] = D + 4; // 264 bytes
  refused("k", k, SATTN_ERROR_ALIGNMENT,
          "k dimension 2 (L) has stride 132 elements = 264 bytes, not a multiple of 16");
  k.strides[2] = D;
  k.strides[0] = KVH * LK * D + 1;
  refused("k", k, SATTN_ERROR_ALIGNMENT,
          "k dimension 0 (batch) has stride 76801 elements = 153602 bytes, not a multiple of 16");
}

TEST_F(TensorMaps, ZeroStridesAreRefused) {
  v.strides[0] = 0;
  refused("v", v, SATTN_ERROR_STRIDE,
          "v dimension 0 (batch) has stride 0 with extent 2; TMA cannot broadcast, pass a "
          "tensor that holds every batch (e.g. expand(...).contiguous())");
  v.strides[0] = KVH * LK * 136;
  v.strides[1] = 0;
  refused("v", v, SATTN_ERROR_STRIDE,
          "v dimension 1 (heads) has stride 0 with extent 2; TMA cannot broadcast, pass a "
          "tensor that holds every head (e.g. expand(...).contiguous())");
  TensorMapGeometry maps[3];
  std::string message;
  EXPECT_EQ(launchTensorMaps(manifest, args, maps, message), SATTN_ERROR_STRIDE);
  EXPECT_EQ(message.rfind("v dimension 1 (heads) has stride 0", 0), 0u) << message;
}

TEST_F(TensorMaps, OtherStridesAndShapesTheDriverRefuses) {
  sattn_tensor t = q;
  t.strides[0] = int64_t(1) << 39;
  refused("q", t, SATTN_ERROR_STRIDE,
          "q dimension 0 (batch) has stride 549755813888 elements = 1099511627776 bytes; a "
          "tensor map's strides stay below 2^40 bytes");
  t = q;
  t.strides[1] = -D;
  refused("q", t, SATTN_ERROR_STRIDE, "q dimension 1 (heads) has a negative stride (-128)");
  t = q;
  t.strides[3] = 2;
  refused("q", t, SATTN_ERROR_STRIDE,
          "q dimension 3 (head_dim) has stride 2, expected 1 (rows must be contiguous)");
  t = k;
  t.shape[2] = 0;
  refused("k", t, SATTN_ERROR_SHAPE,
          "k dimension 2 (L) is 0; a tensor map's dimensions are 1 to 2^32");
  t.shape[2] = (int64_t(1) << 32) + 1;
  refused("k", t, SATTN_ERROR_SHAPE,
          "k dimension 2 (L) is 4294967297; a tensor map's dimensions are 1 to 2^32");
  t = k;
  t.rank = 3;
  refused("k", t, SATTN_ERROR_SHAPE,
          "k has rank 3, expected 4 (batch, heads, L, head_dim)");
  t = k;
  t.dtype = SATTN_DTYPE_F32;
  refused("k", t, SATTN_ERROR_DTYPE, "k has dtype f32, expected bf16 or f16");
  refused("k", k, SATTN_ERROR_INVALID_ARGUMENT,
          "boxes of 257 rows for k; a TMA box has 1 to 256 rows", 257);
  refused("k", k, SATTN_ERROR_INVALID_ARGUMENT,
          "boxes of 0 rows for k; a TMA box has 1 to 256 rows", 0);
}

TEST_F(TensorMaps, MissingTensorsAreNullPointers) {
  args.v = nullptr;
  TensorMapGeometry maps[3];
  std::string message;
  EXPECT_EQ(launchTensorMaps(manifest, args, maps, message), SATTN_ERROR_NULL_POINTER);
  EXPECT_EQ(message, "v is NULL (a tensor descriptor is required)");
}

} // namespace
