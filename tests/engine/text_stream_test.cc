#include "tide/engine/text_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tide::engine {
namespace {

// Byte-level tokens 0..255, a few merges, and the default special tokens.
Tokenizer MakeTokenizer() {
  BpeModelSpec spec;
  for (int b = 0; b < 256; ++b) spec.vocab.emplace_back(std::string(1, static_cast<char>(b)), b);
  spec.vocab.emplace_back("ST", 256);
  spec.merges.emplace_back("S", "T");
  std::vector<AddedToken> added = DefaultAddedTokens();
  TokenId next = 257;
  for (AddedToken& a : added) a.id = next++;
  return Tokenizer::Create(std::move(spec), std::move(added)).value();
}

std::vector<int32_t> Bytes(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

// Feeds the tokens; returns the concatenated deltas, checking every delta is whole UTF-8.
std::string Stream(TextStream* ts, const std::vector<int32_t>& ids, bool* stopped) {
  std::string out;
  for (int32_t id : ids) {
    const std::string delta = ts->Add(id, stopped);
    EXPECT_EQ(IncompleteUtf8Tail(delta), 0u) << "delta ends inside a character";
    out += delta;
    if (*stopped) break;
  }
  return out;
}

TEST(TextStreamTest, ReleasesWholeUtf8CharactersOnly) {
  const Tokenizer tok = MakeTokenizer();
  TextStream ts(&tok, {});
  bool stopped = false;
  EXPECT_EQ(ts.Add(0xE6, &stopped), "");  // 東 = E6 9D B1
  EXPECT_EQ(ts.Add(0x9D, &stopped), "");
  EXPECT_EQ(ts.Add(0xB1, &stopped), "東");
  EXPECT_EQ(Stream(&ts, Bytes("café!"), &stopped), "café!");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(ts.released(), "東café!");
}

TEST(TextStreamTest, StopStringEndsTheTextBeforeIt) {
  const Tokenizer tok = MakeTokenizer();
  TextStream ts(&tok, {"STOP", "\n\n"});
  bool stopped = false;
  // A tail that may begin "STOP" is held back; once it cannot, it is released.
  EXPECT_EQ(ts.Add('a', &stopped), "a");
  EXPECT_EQ(ts.Add('S', &stopped), "");
  EXPECT_EQ(ts.Add(256, &stopped), "S");  // the merged token "ST": "SST", the tail "ST" held
  EXPECT_EQ(ts.Add('A', &stopped), "STA");
  const std::string rest = Stream(&ts, Bytes("xySTOPzz"), &stopped);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(rest, "xy");
  EXPECT_EQ(ts.released(), "aSSTAxy");
  EXPECT_EQ(ts.Add('q', &stopped), "");
  EXPECT_EQ(ts.Flush(), "");
}

TEST(TextStreamTest, FlushReleasesAHeldPrefixAndSpecialTokensAreSkipped) {
  const Tokenizer tok = MakeTokenizer();
  const int32_t im_end = *tok.AddedTokenId("<|im_end|>");
  TextStream ts(&tok, {"STOP"});
  bool stopped = false;
  EXPECT_EQ(Stream(&ts, Bytes("okST"), &stopped), "ok");
  EXPECT_EQ(ts.Add(im_end, &stopped), "");
  EXPECT_EQ(ts.Add(*tok.AddedTokenId("<tool_call>"), &stopped), "ST<tool_call>");  // not special: kept
  EXPECT_EQ(ts.Flush(), "");
  TextStream keep(&tok, {}, /*skip_special=*/false);
  EXPECT_EQ(keep.Add(im_end, &stopped), "<|im_end|>");
}

TEST(TextStreamTest, EarliestStopWinsAcrossOneToken) {
  const Tokenizer tok = MakeTokenizer();
  TextStream ts(&tok, {"ab", "b"});
  bool stopped = false;
  EXPECT_EQ(Stream(&ts, Bytes("xab"), &stopped), "x");
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace tide::engine
