//===- BitmapFont.h - text for tile-map pictures --------------*- C++ -*-===//
//
// A 5x7 pixel font of the characters tile-map titles, legends and axis
// labels use (letters are drawn upper case), so that sattn-compile writes
// labelled PNGs with no font or image library.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_PLAN_BITMAPFONT_H
#define SATTN_LIB_PLAN_BITMAPFONT_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <vector>

namespace sattn::plan::font {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7;

/// Pixels one character advances at `scale` (glyph plus one column).
inline int advance(int scale) { return (kGlyphWidth + 1) * scale; }
/// Pixels `text` spans at `scale`.
inline int textWidth(llvm::StringRef text, int scale) {
  return text.empty() ? 0 : int(text.size()) * advance(scale) - scale;
}

/// Draws `text` with its top-left corner at (x, y) into a `width`-wide
/// row-major image of palette indices, each glyph pixel a `scale` x `scale`
/// block of `color`; pixels outside the image are skipped.
void drawText(std::vector<uint8_t> &image, int64_t width, int64_t x, int64_t y,
              llvm::StringRef text, int scale, uint8_t color);

} // namespace sattn::plan::font

#endif // SATTN_LIB_PLAN_BITMAPFONT_H
