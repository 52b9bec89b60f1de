//===- TileMap.cpp - pictures of tile plans -------------------------------===//
//
// Text and PNG renderings of a plan. The PNG writer is self-contained
// (palette image, zlib from LLVM when available, stored deflate blocks
// otherwise) so that sattn-compile needs no image library.
//
//===----------------------------------------------------------------------===//

#include "sattn/Plan/TileMap.h"

#include "llvm/Support/CRC.h"
#include "llvm/Support/Compression.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <fstream>

using namespace sattn::plan;

std::vector<TileState> sattn::plan::tileStates(const TilePlan &plan,
                                               int64_t b, int64_t h) {
  int64_t nk = ceilDiv(plan.lk, plan.blockN);
  std::vector<TileState> states(plan.numQueryTiles * nk, TileState::Empty);
  // A cell shows its most demanding visit: gathers over ranges, and a
  // PARTIAL gather over a FULL one.
  auto weight = [](TileState s) {
    static const int w[] = {0, 1, 2, 4, 3};
    return w[(int)s];
  };
  auto mark = [&](int64_t m, int64_t t, TileState s) {
    TileState &cell = states[m * nk + t];
    if (weight(s) > weight(cell))
      cell = s;
  };
  for (int64_t m = 0; m < plan.numQueryTiles; ++m)
    for (const Segment &s : plan.segments(b, h, m)) {
      if (s.kind == Segment::Range) {
        for (int64_t t = s.lo; t < s.hi; ++t)
          mark(m, t, s.full ? TileState::Full : TileState::Partial);
        continue;
      }
      int64_t n = s.numKeys(plan.blockN, plan.lk);
      for (int64_t j = 0; j < n; ++j)
        mark(m, plan.gatheredKey(b, h, s, j) / plan.blockN,
             s.full ? TileState::GatherFull : TileState::GatherPartial);
    }
  return states;
}

std::string sattn::plan::renderTileMapText(const TilePlan &plan, int64_t b,
                                           int64_t h) {
  static const char glyph[] = {'.', '+', '#', 'g', 'G'};
  int64_t nk = ceilDiv(plan.lk, plan.blockN);
  auto states = tileStates(plan, b, h);
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "tilemap Lq=" << plan.lq << " Lk=" << plan.lk << " BM=" << plan.blockM
     << " BN=" << plan.blockN << " b=" << b << " h=" << h << "\n";
  int64_t counts[5] = {0, 0, 0, 0, 0};
  for (int64_t m = 0; m < plan.numQueryTiles; ++m) {
    for (int64_t t = 0; t < nk; ++t) {
      TileState s = states[m * nk + t];
      ++counts[(int)s];
      os << glyph[(int)s];
    }
    os << "\n";
  }
  os << "full " << counts[2] << ", partial " << counts[1]
     << ", gathered-full " << counts[4] << ", gathered-partial " << counts[3]
     << ", empty " << counts[0] << "\n";
  return out;
}

namespace {
void putBE32(std::vector<uint8_t> &out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(uint8_t(v >> s));
}

void chunk(std::vector<uint8_t> &png, const char type[4],
           const std::vector<uint8_t> &data) {
  putBE32(png, data.size());
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  putBE32(png, llvm::crc32(body));
}

/// zlib stream of `raw`: compressed when LLVM has zlib, stored otherwise.
std::vector<uint8_t> zlibStream(const std::vector<uint8_t> &raw) {
  if (llvm::compression::zlib::isAvailable()) {
    llvm::SmallVector<uint8_t, 0> packed;
    llvm::compression::zlib::compress(raw, packed);
    return std::vector<uint8_t>(packed.begin(), packed.end());
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    size_t len = std::min<size_t>(65535, raw.size() - pos);
    bool last = pos + len == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(len & 0xff);
    z.push_back(len >> 8);
    z.push_back(~len & 0xff);
    z.push_back((~len >> 8) & 0xff);
    z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + len);
    pos += len;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  putBE32(z, (b << 16) | a);
  return z;
}
} // namespace

bool sattn::plan::writeTileMapPng(const TilePlan &plan, int64_t b, int64_t h,
                                  const std::string &path, std::string &error,
                                  int64_t maxSide) {
  int64_t nq = plan.numQueryTiles, nk = ceilDiv(plan.lk, plan.blockN);
  auto states = tileStates(plan, b, h);
  int64_t side = std::max<int64_t>({nq, nk, 1});
  int64_t reduce = ceilDiv(side, maxSide);            // tiles per pixel
  int64_t scale = std::max<int64_t>(1, maxSide / 2 / side); // pixels per tile
  int64_t width = ceilDiv(nk, reduce) * scale;
  int64_t height = ceilDiv(nq, reduce) * scale;
  if (width == 0 || height == 0) {
    error = "the plan has no tiles to draw";
    return false;
  }
  // Rank used when several tiles share a pixel: any visit beats empty,
  // partial work beats full.
  auto rank = [](TileState s) {
    static const int r[] = {0, 4, 2, 3, 1};
    return r[(int)s];
  };
  std::vector<uint8_t> raw;
  raw.reserve((width + 1) * height);
  for (int64_t y = 0; y < height; ++y) {
    raw.push_back(0); // filter: none
    int64_t m0 = (y / scale) * reduce;
    for (int64_t x = 0; x < width; ++x) {
      int64_t t0 = (x / scale) * reduce;
      TileState best = TileState::Empty;
      for (int64_t m = m0; m < std::min(nq, m0 + reduce); ++m)
        for (int64_t t = t0; t < std::min(nk, t0 + reduce); ++t)
          if (rank(states[m * nk + t]) > rank(best))
            best = states[m * nk + t];
      raw.push_back((uint8_t)best);
    }
  }
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  putBE32(ihdr, width);
  putBE32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0}); // 8-bit palette
  chunk(png, "IHDR", ihdr);
  chunk(png, "PLTE",
        {255, 255, 255,   // empty
         242, 142, 43,    // partial: orange
         31, 78, 121,     // full: dark blue
         140, 200, 110,   // gathered partial: light green
         40, 130, 60});   // gathered full: green
  chunk(png, "IDAT", zlibStream(raw));
  chunk(png, "IEND", {});
  std::ofstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot open '" + path + "' for writing";
    return false;
  }
  file.write(reinterpret_cast<const char *>(png.data()), png.size());
  if (!file) {
    error = "cannot write '" + path + "'";
    return false;
  }
  return true;
}
