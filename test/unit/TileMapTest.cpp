//===- TileMapTest.cpp - text and PNG tile maps ---------------------------===//
//
// The text map of a small plan is checked cell by cell; the picture for the
// map's placement and colours, a legend, a title and axis labels; the PNG
// for a valid signature, header size and chunk CRCs.
//
//===----------------------------------------------------------------------===//

#include "sattn/InitAll.h"
#include "sattn/Plan/TileMap.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CRC.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

using namespace sattn;
using namespace sattn::plan;

namespace {

TilePlan planFor(mlir::MLIRContext &context, const char *body, int64_t lq,
                 int64_t lk, PlanOptions opts) {
  std::string text = std::string("sattn.kernel @k(dtype = bf16, head_dim = 64, "
                                 "heads = 1, kv_heads = 1, scale = 0.125) {\n") +
                     body + "\nsattn.yield %m\n}\n";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  EXPECT_TRUE(module);
  auto kernel = *module->getOps<KernelOp>().begin();
  auto planner = TilePlanner::build(kernel, opts);
  EXPECT_TRUE(mlir::succeeded(planner));
  MaskInputs in;
  in.lq = lq;
  in.lk = lk;
  std::string error;
  auto plan = planner->plan(in, error);
  EXPECT_TRUE(mlir::succeeded(plan)) << error;
  return std::move(*plan);
}

TEST(TileMap, TextShowsFullPartialGatheredAndEmptyTiles) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  // Sink of one tile plus a window of 16 keys, causal, 8x8 tiles.
  TilePlan p = planFor(context,
                       "%c = mask.causal\n%s = mask.sink 8\n%w = mask.window 16\n"
                       "%u = mask.union %s, %w\n%m = mask.intersect %c, %u",
                       48, 48, PlanOptions{8, 8});
  EXPECT_EQ(renderTileMapText(p, 0, 0),
            "tilemap Lq=48 Lk=48 BM=8 BN=8 b=0 h=0\n"
            "+.....\n"  // diagonal only
            "#+....\n"  // sink tile full
            "##+...\n"  // window of 16 keys covers tile 1 for every row
            "#+#+..\n"  // from here on: window edge, full middle, diagonal
            "#.+#+.\n"
            "#..+#+\n"
            "full 9, partial 9, gathered-full 0, gathered-partial 0, empty 18\n");

  // Stride-4 keys gathered. Query tile 7 (q 56..63) keeps keys 1, 5, .., 61:
  // the first 8 (1..29, KV tiles 0..3) fill one FULL gathered tile, the
  // rest share a PARTIAL one with the diagonal keys.
  TilePlan g = planFor(context,
                       "%c = mask.causal\n%s = mask.strided stride 4 offset "
                       "affine_map<(h) -> (1)>\n%m = mask.intersect %c, %s",
                       64, 64, PlanOptions{8, 8});
  std::string text = renderTileMapText(g, 0, 0);
  EXPECT_NE(text.find("\nGGGGgggg\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('#'), std::string::npos) << text;
  EXPECT_EQ(text.find('+'), std::string::npos) << text;
}

/// The picture of a causal plan at L = 1000 with 64 x 64 tiles.
class TileMapPicture : public ::testing::Test {
protected:
  static mlir::DialectRegistry registryWithAll() {
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }
  mlir::MLIRContext context{registryWithAll()};
  TilePlan p = planFor(context, "%m = mask.causal", 1000, 1000, PlanOptions{64, 64});
  TileMapImage img = renderTileMapImage(p, 0, 0, "k");
};

TEST_F(TileMapPicture, HasTheMapTitleAxesAndLegend) {
  // 1000 x 1000 tokens at one pixel each (16 x 16 tiles of 64), inside a
  // larger picture.
  EXPECT_EQ(img.mapWidth, 1000);
  EXPECT_EQ(img.mapHeight, 1000);
  EXPECT_EQ(img.pixelsPerToken, 1.0);
  ASSERT_EQ(img.pixels.size(), size_t(img.width * img.height));
  EXPECT_GT(img.mapX, 0);
  EXPECT_GT(img.mapY, 0);
  EXPECT_GT(img.width, img.mapX + img.mapWidth + 100); // the legend
  EXPECT_GT(img.height, img.mapY + img.mapHeight + 20); // the key axis
  auto at = [&](int64_t x, int64_t y) { return TileMapColor(img.pixels[y * img.width + x]); };
  auto tile = [&](int64_t m, int64_t t) {
    return at(img.mapX + t * 64 + 32, img.mapY + m * 64 + 32);
  };
  EXPECT_EQ(tile(0, 0), TileMapColor::Partial);
  EXPECT_EQ(tile(15, 0), TileMapColor::Full);
  EXPECT_EQ(tile(0, 15), TileMapColor::Empty);
  // Outside the map: every state in the legend, text in the title above the
  // map and in the tick labels below and left of it.
  auto countOutside = [&](TileMapColor c, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
    int64_t n = 0;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x)
        n += at(x, y) == c;
    return n;
  };
  int64_t right = img.mapX + img.mapWidth + 2;
  for (TileMapColor c : {TileMapColor::Full, TileMapColor::Partial, TileMapColor::GatherFull,
                         TileMapColor::GatherPartial})
    EXPECT_GT(countOutside(c, right, 0, img.width, img.height), 0) << int(c);
  EXPECT_GT(countOutside(TileMapColor::Ink, 0, 0, img.width, img.mapY - 2), 0);
  EXPECT_GT(countOutside(TileMapColor::Ink, 0, img.mapY + img.mapHeight + 2, img.width,
                         img.height), 0);
  EXPECT_GT(countOutside(TileMapColor::Ink, 0, img.mapY, img.mapX - 2, img.height), 0);
  EXPECT_EQ(countOutside(TileMapColor::Ink, img.mapX, img.mapY, img.mapX + img.mapWidth,
                         img.mapY + img.mapHeight), 0);
}

TEST_F(TileMapPicture, PngIsWellFormed) {
  std::string path = ::testing::TempDir() + "/sattn-tilemap-test.png";
  std::string error;
  ASSERT_TRUE(writeTileMapPng(p, 0, 0, "k", path, error)) << error;
  std::ifstream file(path, std::ios::binary);
  std::vector<uint8_t> png((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  EXPECT_EQ(png, encodeTileMapPng(img));
  ASSERT_GT(png.size(), 33u);
  const uint8_t signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(signature, signature + 8, png.begin()));
  auto be32 = [&](size_t at) {
    return (uint32_t(png[at]) << 24) | (uint32_t(png[at + 1]) << 16) |
           (uint32_t(png[at + 2]) << 8) | uint32_t(png[at + 3]);
  };
  EXPECT_EQ(be32(16), uint32_t(img.width));
  EXPECT_EQ(be32(20), uint32_t(img.height));
  // Every chunk's CRC matches.
  size_t pos = 8;
  int chunks = 0;
  while (pos + 12 <= png.size()) {
    uint32_t len = be32(pos);
    ASSERT_LE(pos + 12 + len, png.size());
    llvm::ArrayRef<uint8_t> body(png.data() + pos + 4, len + 4);
    EXPECT_EQ(be32(pos + 8 + len), llvm::crc32(body));
    pos += 12 + len;
    ++chunks;
  }
  EXPECT_EQ(pos, png.size());
  EXPECT_EQ(chunks, 4); // IHDR PLTE IDAT IEND
  EXPECT_FALSE(writeTileMapPng(p, 0, 0, "k", "/nonexistent-dir/x.png", error));
  EXPECT_NE(error.find("cannot open"), std::string::npos);
}

} // namespace
