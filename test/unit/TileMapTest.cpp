//===- TileMapTest.cpp - text and PNG tile maps ---------------------------===//
//
// The text map of a small plan is checked cell by cell; the PNG is checked
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

TEST(TileMap, PngIsWellFormed) {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  TilePlan p = planFor(context, "%m = mask.causal", 1000, 1000, PlanOptions{64, 64});
  std::string path = ::testing::TempDir() + "/sattn-tilemap-test.png";
  std::string error;
  ASSERT_TRUE(writeTileMapPng(p, 0, 0, path, error)) << error;
  std::ifstream file(path, std::ios::binary);
  std::vector<uint8_t> png((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  ASSERT_GT(png.size(), 33u);
  const uint8_t signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(signature, signature + 8, png.begin()));
  auto be32 = [&](size_t at) {
    return (uint32_t(png[at]) << 24) | (uint32_t(png[at + 1]) << 16) |
           (uint32_t(png[at + 2]) << 8) | uint32_t(png[at + 3]);
  };
  // 16 x 16 tiles drawn at 32 pixels each.
  EXPECT_EQ(be32(16), 512u);
  EXPECT_EQ(be32(20), 512u);
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
  EXPECT_FALSE(writeTileMapPng(p, 0, 0, "/nonexistent-dir/x.png", error));
  EXPECT_NE(error.find("cannot open"), std::string::npos);
}

} // namespace
