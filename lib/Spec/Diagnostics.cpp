//===- Diagnostics.cpp - spec-file error reporting ------------------------===//
//
// Implements the single diagnostic format of the spec compiler. Line and
// column come from llvm::SourceMgr; the message, the echoed source line and
// the caret are printed here so that every diagnostic has its caret, even on
// lines with non-ASCII text or binary junk.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace sattn::spec;

SpecDiagnostics::SpecDiagnostics(llvm::SourceMgr &sourceMgr,
                                 llvm::raw_ostream &os)
    : sourceMgr(sourceMgr), os(os), mainBuffer(sourceMgr.getMainFileID()) {}

/// Length of the UTF-8 sequence starting at `text[i]`, or 0 when the bytes
/// there are not valid UTF-8.
static size_t getUtf8Length(llvm::StringRef text, size_t i) {
  auto byte = [&](size_t j) { return static_cast<unsigned char>(text[j]); };
  unsigned char lead = byte(i);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xe  ? 3
                  : (lead >> 3) == 0x1e ? 4
                                        : 0;
  if (length == 0 || i + length > text.size())
    return 0;
  for (size_t j = i + 1; j < i + length; ++j)
    if ((byte(j) >> 6) != 0x2)
      return 0;
  return length;
}

void SpecDiagnostics::print(llvm::SMLoc loc, bool isError,
                            const llvm::Twine &message) {
  // A location outside the buffer would have no line to show; fall back to
  // the start so every diagnostic keeps the file:line:col form.
  if (!loc.isValid() || sourceMgr.FindBufferContainingLoc(loc) != mainBuffer)
    loc = getBufferStart();
  auto [line, column] = sourceMgr.getLineAndColumn(loc, mainBuffer);

  bool colors = os.has_colors();
  if (colors)
    os.changeColor(llvm::raw_ostream::SAVEDCOLOR, /*Bold=*/true);
  os << getFilename() << ':' << line << ':' << column << ": ";
  if (colors)
    os.changeColor(isError ? llvm::raw_ostream::RED : llvm::raw_ostream::BLACK,
                   /*Bold=*/true);
  os << (isError ? "error: " : "note: ");
  if (colors)
    os.changeColor(llvm::raw_ostream::SAVEDCOLOR, /*Bold=*/true);
  os << message << '\n';
  if (colors)
    os.resetColor();

  // Echo the source line and put a caret under the column. llvm::SourceMgr
  // omits the caret on lines with non-ASCII text and echoes control bytes
  // raw; here valid UTF-8 is echoed as is (one caret column per character),
  // tabs are kept in both lines so they align, and every other
  // non-printable byte is shown as '?' so a binary file cannot emit terminal
  // control sequences.
  const char *bufferStart = getBufferStart().getPointer();
  const char *bufferEnd = getBufferEnd().getPointer();
  const char *lineStart = loc.getPointer();
  while (lineStart != bufferStart && lineStart[-1] != '\n')
    --lineStart;
  const char *lineEnd = loc.getPointer();
  while (lineEnd != bufferEnd && *lineEnd != '\n' && *lineEnd != '\r')
    ++lineEnd;
  llvm::StringRef text(lineStart, lineEnd - lineStart);
  size_t caretOffset = loc.getPointer() - lineStart;

  std::string echoed, caret;
  for (size_t i = 0; i < text.size();) {
    bool beforeCaret = i < caretOffset;
    char c = text[i];
    size_t length = getUtf8Length(text, i);
    if (c == '\t') {
      echoed += '\t';
      if (beforeCaret)
        caret += '\t';
      ++i;
    } else if (length > 1 || (length == 1 && llvm::isPrint(c))) {
      echoed.append(text.data() + i, length);
      if (beforeCaret)
        caret += ' ';
      i += length;
    } else {
      echoed += '?';
      if (beforeCaret)
        caret += ' ';
      ++i;
    }
  }
  os << echoed << '\n';
  if (colors)
    os.changeColor(llvm::raw_ostream::GREEN, /*Bold=*/true);
  os << caret << '^';
  if (colors)
    os.resetColor();
  os << '\n';
}

void SpecDiagnostics::error(llvm::SMLoc loc, const llvm::Twine &message) {
  ++numErrors;
  print(loc, /*isError=*/true, message);
}

void SpecDiagnostics::note(llvm::SMLoc loc, const llvm::Twine &message) {
  print(loc, /*isError=*/false, message);
}

llvm::StringRef SpecDiagnostics::getFilename() const {
  return sourceMgr.getMemoryBuffer(mainBuffer)->getBufferIdentifier();
}

std::pair<unsigned, unsigned>
SpecDiagnostics::getLineAndColumn(llvm::SMLoc loc) const {
  if (!loc.isValid() || sourceMgr.FindBufferContainingLoc(loc) != mainBuffer)
    return {1, 1};
  return sourceMgr.getLineAndColumn(loc, mainBuffer);
}

llvm::SMLoc SpecDiagnostics::getLoc(unsigned line, unsigned column) const {
  return sourceMgr.FindLocForLineAndColumn(mainBuffer, line, column);
}

llvm::SMLoc SpecDiagnostics::getBufferStart() const {
  return llvm::SMLoc::getFromPointer(
      sourceMgr.getMemoryBuffer(mainBuffer)->getBufferStart());
}

llvm::SMLoc SpecDiagnostics::getBufferEnd() const {
  return llvm::SMLoc::getFromPointer(
      sourceMgr.getMemoryBuffer(mainBuffer)->getBufferEnd());
}

llvm::StringRef
sattn::spec::findClosestName(llvm::StringRef name,
                             llvm::ArrayRef<llvm::StringRef> candidates) {
  // Allow roughly one edit per three characters: "casual" -> "causal",
  // "kv_head" -> "kv_heads", but not "x" -> "h".
  unsigned limit = std::max<unsigned>(1, name.size() / 3);
  llvm::StringRef best;
  unsigned bestDistance = limit + 1;
  for (llvm::StringRef candidate : candidates) {
    unsigned distance =
        name.edit_distance(candidate, /*AllowReplacements=*/true,
                           /*MaxEditDistance=*/limit);
    if (distance < bestDistance && distance < candidate.size()) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

std::string
sattn::spec::didYouMean(llvm::StringRef name,
                        llvm::ArrayRef<llvm::StringRef> candidates) {
  llvm::StringRef best = findClosestName(name, candidates);
  if (best.empty())
    return "";
  return ("; did you mean '" + best + "'?").str();
}
