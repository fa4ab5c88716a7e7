#include "tide/core/utf8.h"

namespace tide {
namespace {

// The well-formed byte sequences of UTF-8 (Unicode Table 3-7): the lead byte fixes the
// length and the range of the second byte; later bytes are 80..BF.
struct Lead {
  int length;                     // 0: never starts a sequence
  unsigned char second_lo, second_hi;
};

Lead LeadOf(unsigned char c) {
  if (c < 0x80) return {1, 0, 0};
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (c >= 0xE1 && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};  // nothing past U+10FFFF
  return {0, 0, 0};
}

}  // namespace

std::string ValidUtf8(std::string_view s) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const Lead lead = LeadOf(byte(i));
    if (lead.length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    // The longest prefix of a well-formed sequence starting here.
    size_t good = 1;
    while (good < static_cast<size_t>(lead.length) && i + good < s.size()) {
      const unsigned char c = byte(i + good);
      const bool ok = good == 1 ? c >= lead.second_lo && c <= lead.second_hi : c >= 0x80 && c <= 0xBF;
      if (!ok) break;
      ++good;
    }
    if (good == static_cast<size_t>(lead.length)) {
      out.append(s.substr(i, good));
    } else {
      out += kReplacement;  // one for the whole broken prefix; the byte that broke it is read again
    }
    i += good;
  }
  return out;
}

}  // namespace tide
