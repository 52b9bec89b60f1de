//===- TileMap.h - pictures of tile plans ---------------------*- C++ -*-===//
//
// Renders the plan of one (batch, head) as a grid with one cell per (query
// tile, KV tile): FULL, PARTIAL, gathered (FULL or PARTIAL) or not visited.
// The text form is for tests and terminals; the picture (PNG) is for people:
// a title with the kernel and its numbers, axes in tokens and a legend.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PLAN_TILEMAP_H
#define SATTN_PLAN_TILEMAP_H

#include "sattn/Plan/TilePlanner.h"

#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace sattn::plan {

enum class TileState : uint8_t {
  Empty = 0,
  Partial = 1,
  Full = 2,
  GatherPartial = 3,
  GatherFull = 4
};

/// numQueryTiles x ceil(lk / blockN) states, row-major. A KV tile holding
/// gathered keys shows the gather, PARTIAL over FULL.
std::vector<TileState> tileStates(const TilePlan &plan, int64_t b, int64_t h);

/// How many cells of a map are in each state.
struct TileCounts {
  int64_t full = 0, partial = 0, gatheredFull = 0, gatheredPartial = 0, empty = 0;
  int64_t visited() const { return full + partial + gatheredFull + gatheredPartial; }
  int64_t cells() const { return visited() + empty; }
};
TileCounts countTiles(const std::vector<TileState> &states);

/// A header line with the plan's sizes, one line per query tile ('#' FULL,
/// '+' PARTIAL, 'G'/'g' gathered FULL/PARTIAL, '.' not visited) unless
/// `grid` is false, and a footer with the counts.
std::string renderTileMapText(const TilePlan &plan, int64_t b, int64_t h,
                              bool grid = true);

/// Palette entries of a tile-map picture: the first five are the TileStates.
enum class TileMapColor : uint8_t {
  Empty = 0, Partial, Full, GatherPartial, GatherFull, Ink, Frame, Count
};

/// A tile map as a picture: palette indices (TileMapColor), row-major, and
/// where the map itself lies in it. The map has one scale along both axes
/// (a BM x BN tile keeps its shape); a pixel shared by several tiles shows
/// the most demanding of their states.
struct TileMapImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
  int64_t mapX = 0, mapY = 0, mapWidth = 0, mapHeight = 0;
  double pixelsPerToken = 1;
};

/// Draws the map of (b, h), its longer side maxSide / 2 to maxSide pixels
/// (shorter sequences are enlarged to maxSide / 2), with a title
/// naming `kernel` (may be empty), the head, lengths, tile sizes and tile
/// counts, key positions along the top-to-bottom x axis and query rows
/// along the y axis in tokens, and a legend of the colours.
TileMapImage renderTileMapImage(const TilePlan &plan, int64_t b, int64_t h,
                                llvm::StringRef kernel, int64_t maxSide = 1024);

/// The bytes of a palette PNG of `image`.
std::vector<uint8_t> encodeTileMapPng(const TileMapImage &image);

/// renderTileMapImage, written to `path` as a PNG. Returns false and sets
/// `error` on an empty plan or an I/O failure.
bool writeTileMapPng(const TilePlan &plan, int64_t b, int64_t h,
                     llvm::StringRef kernel, const std::string &path,
                     std::string &error, int64_t maxSide = 1024);

} // namespace sattn::plan

#endif // SATTN_PLAN_TILEMAP_H
