//===- TileMap.h - pictures of tile plans ---------------------*- C++ -*-===//
//
// Renders the plan of one (batch, head) as a grid with one cell per (query
// tile, KV tile): FULL, PARTIAL, gathered (FULL or PARTIAL) or not visited.
// The text form is for tests and terminals, the PNG for documentation.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_PLAN_TILEMAP_H
#define SATTN_PLAN_TILEMAP_H

#include "sattn/Plan/TilePlan.h"

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

/// One line per query tile: '#' FULL, '+' PARTIAL, 'G'/'g' gathered
/// FULL/PARTIAL, '.' not visited; a header line with the plan's sizes and a
/// footer with the counts.
std::string renderTileMapText(const TilePlan &plan, int64_t b, int64_t h);

/// Writes a palette PNG of the tile map to `path`. Large maps are reduced
/// to at most `maxSide` pixels per side (a pixel shows the most demanding
/// state of its tiles). Returns false and sets `error` on I/O failure.
bool writeTileMapPng(const TilePlan &plan, int64_t b, int64_t h,
                     const std::string &path, std::string &error,
                     int64_t maxSide = 1024);

} // namespace sattn::plan

#endif // SATTN_PLAN_TILEMAP_H
