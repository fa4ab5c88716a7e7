#include "tide/engine/pretokenizer.h"

#include <array>
#include <cstdint>

namespace tide::engine {
namespace {

enum class ByteClass : uint8_t { kLetter, kDigit, kSpace, kOther };

constexpr std::array<ByteClass, 256> MakeClassTable() {
  std::array<ByteClass, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) {
      t[c] = ByteClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      t[c] = ByteClass::kDigit;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
      t[c] = ByteClass::kSpace;
    } else {
      t[c] = ByteClass::kOther;
    }
  }
  return t;
}

constexpr std::array<ByteClass, 256> kClass = MakeClassTable();

ByteClass ClassAt(std::string_view s, size_t i) { return kClass[static_cast<uint8_t>(s[i])]; }

// Length of the contraction at s[i] ('s 't 're 've 'm 'll 'd), or 0.
size_t ContractionLength(std::string_view s, size_t i) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < s.size()) {
    const char b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// End of the run of bytes of class `c` starting at i.
size_t RunEnd(std::string_view s, size_t i, ByteClass c) {
  while (i < s.size() && ClassAt(s, i) == c) ++i;
  return i;
}

// End of the piece that starts at `begin` (< s.size()); always > begin.
size_t PieceEnd(std::string_view s, size_t begin) {
  if (const size_t n = ContractionLength(s, begin); n > 0) return begin + n;

  // " ?X+" for letters, digits and other: an optional single ASCII space, then a run.
  size_t i = begin;
  if (s[i] == ' ' && i + 1 < s.size() && ClassAt(s, i + 1) != ByteClass::kSpace) ++i;
  const ByteClass c = ClassAt(s, i);
  if (c != ByteClass::kSpace) return RunEnd(s, i, c);

  // Whitespace: "\s+(?!\S)" keeps the last whitespace byte for the word that follows (it
  // joins that word only if it is ' '; otherwise it becomes a piece of its own). "\s+"
  // takes a whole run that ends the text, or a single byte right before a non-space.
  const size_t end = RunEnd(s, begin, ByteClass::kSpace);
  if (end == s.size() || end - begin == 1) return end;
  return end - 1;
}

}  // namespace

std::vector<std::string_view> PreTokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = PieceEnd(text, begin);
    pieces.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return pieces;
}

size_t CountPreTokens(std::string_view text) {
  size_t count = 0;
  for (size_t begin = 0; begin < text.size(); begin = PieceEnd(text, begin)) ++count;
  return count;
}

}  // namespace tide::engine
