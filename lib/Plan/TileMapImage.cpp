//===- TileMapImage.cpp - tile maps as labelled pictures ------------------===//
//
// Lays out a tile map for people: a title (kernel, head, lengths, tile
// sizes; the tiles this head visits), the map framed, ticks in tokens along
// both axes (keys across, query rows down; power-of-two steps, 1K = 1024),
// and a legend of the colours. Text comes from BitmapFont; the PNG encoder
// is self-contained (palette image, zlib from LLVM when available, stored
// deflate blocks otherwise) so that sattn-compile needs no image library.
//
//===----------------------------------------------------------------------===//

#include "BitmapFont.h"

#include "sattn/Plan/TileMap.h"

#include "llvm/Support/CRC.h"
#include "llvm/Support/Compression.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <fstream>

using namespace sattn::plan;

namespace {

constexpr int kTextScale = 2;               // font pixels per glyph pixel
constexpr int kLine = 7 * kTextScale + 8;   // text line height
constexpr int kPad = 16, kTick = 6, kGap = 6;
constexpr int kSwatch = 7 * kTextScale;

uint8_t ink(TileMapColor c) { return static_cast<uint8_t>(c); }

/// Tokens as axis labels: 1024 multiples as K, 2^20 multiples as M.
std::string tokenLabel(int64_t t) {
  if (t > 0 && t % (int64_t(1) << 20) == 0)
    return std::to_string(t >> 20) + "M";
  if (t > 0 && t % 1024 == 0)
    return std::to_string(t / 1024) + "K";
  return std::to_string(t);
}

/// The smallest power-of-two tick step (in tokens) that puts ticks at least
/// `spacing` pixels apart.
int64_t tickStep(int64_t extent, double pixelsPerToken, int spacing) {
  int64_t step = 1;
  while (step < extent && step * pixelsPerToken < spacing)
    step *= 2;
  return step;
}

struct Canvas {
  int64_t width, height;
  std::vector<uint8_t> &pixels;

  void fill(int64_t x0, int64_t y0, int64_t w, int64_t h, uint8_t color) {
    for (int64_t y = std::max<int64_t>(0, y0); y < std::min(height, y0 + h); ++y)
      for (int64_t x = std::max<int64_t>(0, x0); x < std::min(width, x0 + w); ++x)
        pixels[y * width + x] = color;
  }
  void frame(int64_t x0, int64_t y0, int64_t w, int64_t h, uint8_t color) {
    fill(x0, y0, w, 1, color);
    fill(x0, y0 + h - 1, w, 1, color);
    fill(x0, y0, 1, h, color);
    fill(x0 + w - 1, y0, 1, h, color);
  }
  void text(int64_t x, int64_t y, llvm::StringRef s) {
    font::drawText(pixels, width, x, y, s, kTextScale, ink(TileMapColor::Ink));
  }
};

std::string titleLine(llvm::StringRef kernel, const TilePlan &plan, int64_t b,
                      int64_t h) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (!kernel.empty())
    os << kernel << ": ";
  os << "head " << h;
  if (b)
    os << " of batch " << b;
  os << ", Lq " << plan.lq << ", Lk " << plan.lk << ", " << plan.blockM << "x"
     << plan.blockN << " tiles";
  return s;
}

std::string countsLine(const TileCounts &c) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "visits " << c.visited() << " of " << c.cells() << " tiles ("
     << llvm::format("%.2f", c.cells() ? 100.0 * c.visited() / c.cells() : 0.0)
     << "%): " << c.full << " full, " << c.partial << " partial, "
     << c.gatheredFull + c.gatheredPartial << " gathered";
  return s;
}

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

TileMapImage sattn::plan::renderTileMapImage(const TilePlan &plan, int64_t b,
                                             int64_t h, llvm::StringRef kernel,
                                             int64_t maxSide) {
  TileMapImage img;
  int64_t nq = plan.numQueryTiles, nk = ceilDiv(plan.lk, plan.blockN);
  if (nq == 0 || nk == 0)
    return img;
  auto states = tileStates(plan, b, h);
  // The same scale along both axes, so that a tile of BM x BN tokens has
  // that shape: the longer side gets between maxSide / 2 and maxSide pixels.
  int64_t longest = std::max(plan.lq, plan.lk);
  int64_t side = std::clamp<int64_t>(longest, maxSide / 2, maxSide);
  img.pixelsPerToken = double(side) / double(longest);
  img.mapWidth = std::max<int64_t>(1, std::llround(plan.lk * img.pixelsPerToken));
  img.mapHeight = std::max<int64_t>(1, std::llround(plan.lq * img.pixelsPerToken));
  // Layout: title (two lines) and the y axis caption above the map, tick
  // labels left of and below it, the x caption under those, the legend right.
  static const std::pair<TileMapColor, const char *> legend[] = {
      {TileMapColor::Full, "full"},
      {TileMapColor::Partial, "partial (masked)"},
      {TileMapColor::GatherFull, "gathered full"},
      {TileMapColor::GatherPartial, "gathered partial"},
      {TileMapColor::Empty, "skipped"}};
  std::string title = titleLine(kernel, plan, b, h);
  std::string counts = countsLine(countTiles(states));
  int yLabelWidth = font::textWidth(tokenLabel(plan.lq), kTextScale);
  int legendWidth = 0;
  for (const auto &entry : legend)
    legendWidth = std::max(legendWidth, font::textWidth(entry.second, kTextScale));
  img.mapX = kPad + std::max(yLabelWidth, font::textWidth("query row", kTextScale)) + kTick + kGap;
  img.mapY = kPad + 3 * kLine + kGap;
  int64_t legendX = img.mapX + img.mapWidth + 3 * kGap;
  img.width = std::max<int64_t>(
      {legendX + kSwatch + kGap + legendWidth + kPad,
       kPad + font::textWidth(title, kTextScale) + kPad,
       kPad + font::textWidth(counts, kTextScale) + kPad});
  img.height = std::max<int64_t>(img.mapY + img.mapHeight + kTick + kGap + 2 * kLine + kPad,
                                 img.mapY + 5 * kLine + kPad);
  img.pixels.assign(img.width * img.height, ink(TileMapColor::Empty));
  Canvas canvas{img.width, img.height, img.pixels};

  // The map: each tile covers the pixels its tokens fall on (at least one);
  // a pixel shared by several tiles shows the most demanding state among
  // them (any visit beats skipped, partial work beats full).
  static const int rank[] = {0, 4, 2, 3, 1};
  std::vector<uint8_t> cell(img.mapWidth * img.mapHeight, uint8_t(TileState::Empty));
  auto span = [&](int64_t first, int64_t size, int64_t limit, int64_t extent) {
    int64_t lo = std::min<int64_t>(extent - 1, int64_t(first * size * img.pixelsPerToken));
    int64_t hi = int64_t(std::ceil(std::min(limit, (first + 1) * size) * img.pixelsPerToken));
    return std::make_pair(lo, std::clamp<int64_t>(hi, lo + 1, extent));
  };
  for (int64_t m = 0; m < nq; ++m) {
    auto [y0, y1] = span(m, plan.blockM, plan.lq, img.mapHeight);
    for (int64_t t = 0; t < nk; ++t) {
      TileState s = states[m * nk + t];
      if (s == TileState::Empty)
        continue;
      auto [x0, x1] = span(t, plan.blockN, plan.lk, img.mapWidth);
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t x = x0; x < x1; ++x) {
          uint8_t &c = cell[y * img.mapWidth + x];
          if (rank[int(s)] > rank[c])
            c = uint8_t(s);
        }
    }
  }
  for (int64_t y = 0; y < img.mapHeight; ++y)
    std::copy_n(cell.begin() + y * img.mapWidth, img.mapWidth,
                img.pixels.begin() + (img.mapY + y) * img.width + img.mapX);
  canvas.frame(img.mapX - 1, img.mapY - 1, img.mapWidth + 2, img.mapHeight + 2,
               ink(TileMapColor::Frame));

  canvas.text(kPad, kPad, title);
  canvas.text(kPad, kPad + kLine, counts);

  // Axes in tokens: keys across (labels below), query rows down (left).
  double xPerToken = img.pixelsPerToken, yPerToken = img.pixelsPerToken;
  // Room for the widest label a step could produce (plain digits).
  int keyLabel = font::textWidth(std::to_string(plan.lk), kTextScale);
  int64_t below = img.mapY + img.mapHeight + 1;
  for (int64_t t = 0, step = tickStep(plan.lk, xPerToken, keyLabel + 6 * kGap); t <= plan.lk; t += step) {
    int64_t x = img.mapX + int64_t(t * xPerToken);
    canvas.fill(x, below, 1, kTick, ink(TileMapColor::Ink));
    std::string label = tokenLabel(t);
    canvas.text(x - font::textWidth(label, kTextScale) / 2, below + kTick + kGap / 2, label);
  }
  const char *keyCaption = "key position";
  canvas.text(img.mapX + img.mapWidth / 2 - font::textWidth(keyCaption, kTextScale) / 2,
              below + kTick + kGap / 2 + kLine, keyCaption);
  int rowLabelHeight = 7 * kTextScale;
  for (int64_t i = 0, step = tickStep(plan.lq, yPerToken, 3 * kLine); i <= plan.lq;
       i += step) {
    int64_t y = img.mapY + int64_t(i * yPerToken);
    canvas.fill(img.mapX - 1 - kTick, y, kTick, 1, ink(TileMapColor::Ink));
    std::string label = tokenLabel(i);
    canvas.text(img.mapX - 1 - kTick - kGap / 2 - font::textWidth(label, kTextScale),
                y - rowLabelHeight / 2, label);
  }
  canvas.text(img.mapX - 1 - kTick - kGap / 2 - font::textWidth("query row", kTextScale),
              img.mapY - kLine - kGap, "query row");

  for (size_t i = 0; i < std::size(legend); ++i) {
    int64_t y = img.mapY + int64_t(i) * kLine;
    canvas.fill(legendX, y, kSwatch, kSwatch, ink(legend[i].first));
    canvas.frame(legendX, y, kSwatch, kSwatch, ink(TileMapColor::Frame));
    canvas.text(legendX + kSwatch + kGap, y, legend[i].second);
  }
  return img;
}

std::vector<uint8_t> sattn::plan::encodeTileMapPng(const TileMapImage &image) {
  std::vector<uint8_t> raw;
  raw.reserve((image.width + 1) * image.height);
  for (int64_t y = 0; y < image.height; ++y) {
    raw.push_back(0); // filter: none
    raw.insert(raw.end(), image.pixels.begin() + y * image.width,
               image.pixels.begin() + (y + 1) * image.width);
  }
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  putBE32(ihdr, image.width);
  putBE32(ihdr, image.height);
  ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0}); // 8-bit palette
  chunk(png, "IHDR", ihdr);
  chunk(png, "PLTE",
        {255, 255, 255,   // skipped: white
         242, 142, 43,    // partial: orange
         31, 78, 121,     // full: dark blue
         140, 200, 110,   // gathered partial: light green
         40, 130, 60,     // gathered full: green
         20, 20, 20,      // text and ticks
         150, 150, 150}); // frames
  chunk(png, "IDAT", zlibStream(raw));
  chunk(png, "IEND", {});
  return png;
}

bool sattn::plan::writeTileMapPng(const TilePlan &plan, int64_t b, int64_t h,
                                  llvm::StringRef kernel, const std::string &path,
                                  std::string &error, int64_t maxSide) {
  TileMapImage image = renderTileMapImage(plan, b, h, kernel, maxSide);
  if (image.mapWidth == 0 || image.mapHeight == 0) {
    error = "the plan has no tiles to draw";
    return false;
  }
  std::vector<uint8_t> png = encodeTileMapPng(image);
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
