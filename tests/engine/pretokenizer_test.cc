#include "tide/engine/pretokenizer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tide::engine {
namespace {

std::vector<std::string> Pieces(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view p : PreTokenize(text)) out.emplace_back(p);
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizerTest, KnownSplits) {
  EXPECT_EQ(Pieces("Hello world's 123 test"), (V{"Hello", " world", "'s", " 123", " test"}));
  EXPECT_EQ(Pieces(""), V{});
  EXPECT_EQ(Pieces("a"), V{"a"});
  EXPECT_EQ(Pieces(" "), V{" "});
  EXPECT_EQ(Pieces("abc123def"), (V{"abc", "123", "def"}));
  EXPECT_EQ(Pieces("x = f(y);"), (V{"x", " =", " f", "(", "y", ");"}));
  EXPECT_EQ(Pieces("Hello, world!"), (V{"Hello", ",", " world", "!"}));
}

TEST(PreTokenizerTest, Contractions) {
  EXPECT_EQ(Pieces("I'm you're we've he'll she'd don't it's"),
            (V{"I", "'m", " you", "'re", " we", "'ve", " he", "'ll", " she", "'d", " don", "'t",
               " it", "'s"}));
  // Case-sensitive, as in GPT-2; an apostrophe not starting a contraction is "other".
  EXPECT_EQ(Pieces("IT'S"), (V{"IT", "'", "S"}));
  EXPECT_EQ(Pieces("'hello'"), (V{"'", "hello", "'"}));
  EXPECT_EQ(Pieces(" 's"), (V{" '", "s"}));
  EXPECT_EQ(Pieces("x!'s"), (V{"x", "!'", "s"}));
  EXPECT_EQ(Pieces("'"), V{"'"});
  EXPECT_EQ(Pieces("'l"), (V{"'", "l"}));
}

TEST(PreTokenizerTest, WhitespaceGivesItsLastSpaceToTheNextWord) {
  EXPECT_EQ(Pieces("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Pieces("a b"), (V{"a", " b"}));
  EXPECT_EQ(Pieces("a  "), (V{"a", "  "}));
  EXPECT_EQ(Pieces("   "), V{"   "});
  EXPECT_EQ(Pieces("a\nb"), (V{"a", "\n", "b"}));
  EXPECT_EQ(Pieces("a\n\nb"), (V{"a", "\n", "\n", "b"}));
  EXPECT_EQ(Pieces("a \n b"), (V{"a", " \n", " b"}));
  EXPECT_EQ(Pieces("a\t\t 1"), (V{"a", "\t\t", " 1"}));
  EXPECT_EQ(Pieces("  !!"), (V{" ", " !!"}));
  EXPECT_EQ(Pieces("end.\n"), (V{"end", ".", "\n"}));
}

TEST(PreTokenizerTest, Utf8WordsStayWhole) {
  EXPECT_EQ(Pieces("caf\xC3\xA9 na\xC3\xAFve"), (V{"caf\xC3\xA9", " na\xC3\xAFve"}));
  EXPECT_EQ(Pieces("\xE4\xBD\xA0\xE5\xA5\xBD, world"),
            (V{"\xE4\xBD\xA0\xE5\xA5\xBD", ",", " world"}));
  EXPECT_EQ(Pieces("x\xF0\x9F\x98\x80!"), (V{"x\xF0\x9F\x98\x80", "!"}));
}

TEST(PreTokenizerTest, CountMatchesPieces) {
  EXPECT_EQ(CountPreTokens(""), 0u);
  EXPECT_EQ(CountPreTokens("Hello world's 123 test"), 5u);
  EXPECT_EQ(CountPreTokens("a   b"), 3u);
}

// Any byte string, NULs and invalid UTF-8 included, splits into non-empty pieces that
// concatenate back to it, and the count agrees.
TEST(PreTokenizerTest, RoundTripsRandomBytes) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  // Half the strings from a small alphabet that exercises the rules densely.
  const std::string alphabet = "ab Z09 \t\n\r'srevmld.,!\xC3\xA9\x80\xFF";
  std::uniform_int_distribution<int> len(0, 200), byte(0, 255);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text(static_cast<size_t>(len(rng)), '\0');
    for (char& c : text) {
      c = iter % 2 == 0 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)];
    }
    const std::vector<std::string_view> pieces = PreTokenize(text);
    std::string joined;
    const char* expected_start = text.data();
    for (std::string_view p : pieces) {
      ASSERT_FALSE(p.empty());
      ASSERT_EQ(p.data(), expected_start) << "pieces must be contiguous slices of the input";
      expected_start += p.size();
      joined += p;
    }
    ASSERT_EQ(joined, text);
    ASSERT_EQ(CountPreTokens(text), pieces.size());
  }
}

}  // namespace
}  // namespace tide::engine
