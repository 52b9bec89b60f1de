//===- TileMap.cpp - pictures of tile plans -------------------------------===//
//
// The cells of a tile map (which state each (query tile, KV tile) is in)
// and the text rendering; the picture is TileMapImage.cpp.
//
//===----------------------------------------------------------------------===//

#include "sattn/Plan/TileMap.h"

#include "llvm/Support/raw_ostream.h"

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

TileCounts sattn::plan::countTiles(const std::vector<TileState> &states) {
  TileCounts c;
  for (TileState s : states) {
    switch (s) {
    case TileState::Empty: ++c.empty; break;
    case TileState::Partial: ++c.partial; break;
    case TileState::Full: ++c.full; break;
    case TileState::GatherPartial: ++c.gatheredPartial; break;
    case TileState::GatherFull: ++c.gatheredFull; break;
    }
  }
  return c;
}

std::string sattn::plan::renderTileMapText(const TilePlan &plan, int64_t b,
                                           int64_t h, bool grid) {
  static const char glyph[] = {'.', '+', '#', 'g', 'G'};
  int64_t nk = ceilDiv(plan.lk, plan.blockN);
  auto states = tileStates(plan, b, h);
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "tilemap Lq=" << plan.lq << " Lk=" << plan.lk << " BM=" << plan.blockM
     << " BN=" << plan.blockN << " b=" << b << " h=" << h << "\n";
  for (int64_t m = 0; grid && m < plan.numQueryTiles; ++m) {
    for (int64_t t = 0; t < nk; ++t)
      os << glyph[(int)states[m * nk + t]];
    os << "\n";
  }
  TileCounts c = countTiles(states);
  os << "full " << c.full << ", partial " << c.partial << ", gathered-full "
     << c.gatheredFull << ", gathered-partial " << c.gatheredPartial
     << ", empty " << c.empty << "\n";
  return out;
}
