#include "tide/engine/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tide/engine/bpe_trainer.h"
#include "tide/engine/pretokenizer.h"

namespace tide::engine {
namespace {

// A byte-level tokenizer with ids 0..255 for the bytes and one token per merge after them.
Result<Tokenizer> MakeTokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                                std::vector<AddedToken> added = {}) {
  BpeModelSpec spec;
  for (int b = 0; b < 256; ++b) spec.vocab.emplace_back(std::string(1, static_cast<char>(b)), b);
  TokenId next = 256;
  for (const auto& [l, r] : merges) {
    spec.vocab.emplace_back(l + r, next++);
    spec.merges.emplace_back(l, r);
  }
  for (AddedToken& a : added) {
    if (a.id < 0) a.id = next++;
  }
  return Tokenizer::Create(std::move(spec), std::move(added));
}

std::vector<std::string> Tokens(const Tokenizer& t, const std::vector<TokenId>& ids) {
  std::vector<std::string> out;
  for (TokenId id : ids) out.emplace_back(t.TokenBytes(id));
  return out;
}

// Pseudo-English with code and punctuation, deterministic.
std::vector<std::string> Corpus(int lines, uint32_t seed) {
  static const std::vector<std::string> kWords = {
      "the",   "of",     "and",    "to",       "in",    "is",     "that",  "tool",  "call",   "agent",
      "swarm", "result", "return", "function", "value", "engine", "token", "model", "expert", "router",
      "hello", "world",  "café",   "naïve",    "東京",  "x",      "y",     "42",    "3.14",   "(",
      ")",     "{",      "}",      ";",        ",",     ".",      "'s",    "don't"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < lines; ++i) {
    std::string line;
    const int n = 3 + static_cast<int>(rng() % 12);
    for (int w = 0; w < n; ++w) {
      if (w > 0) line += (rng() % 7 == 0) ? "  " : " ";
      line += kWords[rng() % kWords.size()];
    }
    line += (rng() % 3 == 0) ? "\n\n" : "\n";
    out.push_back(line);
  }
  return out;
}

const Tokenizer& Trained() {
  static const Tokenizer* t = [] {
    BpeTrainOptions options;
    options.vocab_size = 600;
    Result<Tokenizer> r = TrainBpe(Corpus(3000, 7), options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return new Tokenizer(std::move(r).value());
  }();
  return *t;
}

// Plain reference BPE: repeatedly merge the lowest-rank adjacent pair, leftmost first.
std::vector<TokenId> ReferenceEncode(const Tokenizer& t, std::string_view text) {
  std::vector<TokenId> out;
  for (std::string_view piece : PreTokenize(text)) {
    std::vector<std::string> parts;
    for (char c : piece) parts.emplace_back(1, c);
    while (parts.size() > 1) {
      size_t best = parts.size();
      size_t best_rank = SIZE_MAX;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        const TokenId l = *t.TokenToId(ByteLevelEncode(parts[i]));
        const TokenId r = *t.TokenToId(ByteLevelEncode(parts[i + 1]));
        auto it = std::find(t.merges().begin(), t.merges().end(), std::make_pair(l, r));
        const size_t rank = static_cast<size_t>(it - t.merges().begin());
        if (it != t.merges().end() && rank < best_rank) {
          best_rank = rank;
          best = i;
        }
      }
      if (best == parts.size()) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    for (const std::string& p : parts) out.push_back(*t.TokenToId(ByteLevelEncode(p)));
  }
  return out;
}

std::string RandomBytes(std::mt19937& rng) {
  static const std::vector<std::string> kFragments = {"<|im_start|>",
                                                      "<|im_end|>",
                                                      "<tool_call>",
                                                      "</tool_call>",
                                                      "<|endoftext|>",
                                                      "<think>",
                                                      "<|im_",
                                                      "the",
                                                      " tool",
                                                      "  ",
                                                      "\n",
                                                      "\t",
                                                      "é",
                                                      "東",
                                                      "\xff",
                                                      "\xc3",
                                                      "\x80\x80",
                                                      std::string(1, '\0'),
                                                      "'s",
                                                      "42"};
  std::string s;
  const int n = static_cast<int>(rng() % 40);
  for (int i = 0; i < n; ++i) {
    switch (rng() % 3) {
      case 0:
        s += kFragments[rng() % kFragments.size()];
        break;
      case 1:
        s.push_back(static_cast<char>(rng() % 256));
        break;
      default:
        s.push_back(static_cast<char>('a' + rng() % 26));
        break;
    }
  }
  return s;
}

TEST(TokenizerTest, ByteLevelAlphabet) {
  EXPECT_EQ(ByteLevelEncode(" "), "Ġ");
  EXPECT_EQ(ByteLevelEncode("\n"), "Ċ");
  EXPECT_EQ(ByteLevelEncode("\t"), "ĉ");
  EXPECT_EQ(ByteLevelEncode(" the"), "Ġthe");
  EXPECT_EQ(ByteLevelEncode("é"), "Ã©");
  EXPECT_EQ(ByteLevelEncode(std::string(1, '\0')), "Ā");
  EXPECT_EQ(ByteLevelEncode("\xad"), "Ń");  // the last of the 68 remapped bytes
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  Result<std::string> back = ByteLevelDecode(ByteLevelEncode(all));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, all);
  EXPECT_FALSE(ByteLevelDecode("東").ok());
  EXPECT_FALSE(ByteLevelDecode("\xff").ok());
  EXPECT_FALSE(ByteLevelDecode("ń").ok());  // U+0144, one past the alphabet
}

TEST(TokenizerTest, KnownMergesGiveExpectedTokens) {
  Result<Tokenizer> t = MakeTokenizer({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  using V = std::vector<std::string>;
  EXPECT_EQ(Tokens(*t, t->Encode("hello", false)), V{"hello"});
  EXPECT_EQ(Tokens(*t, t->Encode("hello world", false)), (V{"hello", " w", "or", "l", "d"}));
  EXPECT_EQ(Tokens(*t, t->Encode("hellhe", false)), (V{"hell", "he"}));
  // The second "h" takes the "e" (rank 0); the first stays alone.
  EXPECT_EQ(Tokens(*t, t->Encode("hhell", false)), (V{"h", "hell"}));
  EXPECT_EQ(t->Encode("", true), std::vector<TokenId>{});
  EXPECT_EQ(t->vocab_size(), 256 + 6);
}

TEST(TokenizerTest, EqualRanksMergeLeftmostFirst) {
  Result<Tokenizer> t = MakeTokenizer({{"a", "a"}});
  ASSERT_TRUE(t.ok());
  using V = std::vector<std::string>;
  EXPECT_EQ(Tokens(*t, t->Encode("aaa", false)), (V{"aa", "a"}));
  EXPECT_EQ(Tokens(*t, t->Encode("aaaaa", false)), (V{"aa", "aa", "a"}));
}

TEST(TokenizerTest, MatchesReferenceBpe) {
  const Tokenizer& t = Trained();
  std::mt19937 rng(11);
  std::vector<std::string> texts = Corpus(200, 99);
  for (int i = 0; i < 200; ++i) texts.push_back(RandomBytes(rng));
  for (const std::string& s : texts) EXPECT_EQ(t.Encode(s, false), ReferenceEncode(t, s)) << s;
}

TEST(TokenizerTest, RoundTripsAnyBytes) {
  const Tokenizer& t = Trained();
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = RandomBytes(rng);
    for (bool allow_special : {false, true}) {
      Result<std::string> back = t.Decode(t.Encode(s, allow_special));
      ASSERT_TRUE(back.ok());
      ASSERT_EQ(*back, s) << "allow_special=" << allow_special;
    }
  }
}

TEST(TokenizerTest, SpecialTokensOnlyWhenAllowed) {
  const Tokenizer& t = Trained();
  const SpecialTokenIds& sp = t.special_ids();
  ASSERT_GE(sp.im_start, 0);
  const std::string text = "<|im_start|>user\nhi<tool_call>{}</tool_call><|im_end|>";
  const std::vector<TokenId> with = t.Encode(text, true);
  EXPECT_EQ(with.front(), sp.im_start);
  EXPECT_EQ(with.back(), sp.im_end);
  EXPECT_NE(std::find(with.begin(), with.end(), sp.tool_call_start), with.end());
  EXPECT_NE(std::find(with.begin(), with.end(), sp.tool_call_end), with.end());
  const std::vector<TokenId> without = t.Encode(text, false);
  for (TokenId id : without) EXPECT_FALSE(t.IsAddedToken(id)) << id;
  EXPECT_EQ(*t.Decode(without), text);
  EXPECT_EQ(t.Encode("<|im_end|>", true), std::vector<TokenId>{sp.im_end});
  // Half a special token is ordinary text.
  for (TokenId id : t.Encode("<|im_", true)) EXPECT_FALSE(t.IsAddedToken(id));
}

TEST(TokenizerTest, AddedTokensMatchLongestFirst) {
  Result<Tokenizer> t = MakeTokenizer({}, {{-1, "<a>", true}, {-1, "<a><b>", false}, {-1, "<b>", true}});
  ASSERT_TRUE(t.ok());
  const TokenId a = *t->AddedTokenId("<a>"), ab = *t->AddedTokenId("<a><b>"), b = *t->AddedTokenId("<b>");
  EXPECT_EQ(t->Encode("<a><b><b><a>", true), (std::vector<TokenId>{ab, b, a}));
  // skip_special drops special tokens only.
  EXPECT_EQ(*t->Decode(std::vector<TokenId>{a, ab, 'x', b}, true), "<a><b>x");
}

TEST(TokenizerTest, DecodeRejectsUnknownIds) {
  const Tokenizer& t = Trained();
  Result<std::string> r = t.Decode(std::vector<TokenId>{65, t.vocab_size()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("position 1"), std::string::npos);
  EXPECT_FALSE(t.Decode(std::vector<TokenId>{-1}).ok());
}

TEST(TokenizerTest, IdsAndTokenStrings) {
  Result<Tokenizer> t = MakeTokenizer({{" ", "t"}, {"h", "e"}, {" t", "he"}}, DefaultAddedTokens());
  ASSERT_TRUE(t.ok());
  const TokenId the = *t->TokenToId("Ġthe");
  EXPECT_EQ(t->TokenBytes(the), " the");
  EXPECT_EQ(t->IdToToken(the), "Ġthe");
  EXPECT_EQ(t->Encode(" the", false), std::vector<TokenId>{the});
  EXPECT_EQ(t->TokenToId("<|im_end|>"), t->special_ids().im_end);
  EXPECT_EQ(t->IdToToken(t->special_ids().im_end), "<|im_end|>");
  EXPECT_FALSE(t->TokenToId("Ġnope").has_value());
  EXPECT_EQ(t->IdToToken(100000), "");
  EXPECT_EQ(t->special_ids().think_end, t->vocab_size() - 1);
  EXPECT_EQ(t->merges().size(), 3u);
}

TEST(TokenizerTest, CreateRejectsBadModels) {
  BpeModelSpec missing_byte;
  for (int b = 0; b < 255; ++b) missing_byte.vocab.emplace_back(std::string(1, static_cast<char>(b)), b);
  Result<Tokenizer> r = Tokenizer::Create(missing_byte, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("byte 255"), std::string::npos) << r.status().message();

  EXPECT_FALSE(MakeTokenizer({{"a", "zz"}}).ok());  // "zz" is not a token
  Result<Tokenizer> dup = MakeTokenizer({}, {{-1, "<x>", true}, {-1, "<x>", true}});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("added_tokens"), std::string::npos);
  EXPECT_FALSE(MakeTokenizer({}, {{65, "<x>", true}}).ok());  // id 65 is the byte "A"

  BpeModelSpec merge_without_result;
  for (int b = 0; b < 256; ++b) merge_without_result.vocab.emplace_back(std::string(1, static_cast<char>(b)), b);
  merge_without_result.merges.emplace_back("a", "b");
  r = Tokenizer::Create(merge_without_result, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.merges[0]"), std::string::npos) << r.status().message();
}

TEST(TokenizerTest, LongPiecesAndLongText) {
  const Tokenizer& t = Trained();
  const std::string long_word(200000, 'e');
  EXPECT_EQ(*t.Decode(t.Encode(long_word, false)), long_word);
  std::string text;
  for (const std::string& line : Corpus(5000, 3)) text += line;
  const std::vector<TokenId> ids = t.Encode(text, true);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(*t.Decode(ids), text);
  EXPECT_EQ(t.CountTokens(text, true), ids.size());
}

TEST(TokenizerTest, ConcurrentEncodingAgrees) {
  const Tokenizer& t = Trained();
  const std::vector<std::string> texts = Corpus(400, 5);
  std::vector<std::vector<TokenId>> expected;
  for (const std::string& s : texts) expected.push_back(ReferenceEncode(t, s));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      Tokenizer copy = t;  // copies share the cache
      for (int rep = 0; rep < 3; ++rep) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (copy.Encode(texts[(i + k * 37) % texts.size()], false) != expected[(i + k * 37) % texts.size()]) {
            ++mismatches[k];
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace tide::engine
