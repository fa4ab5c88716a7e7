#include "tide/engine/bpe_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "tide/engine/pretokenizer.h"

namespace tide::engine {
namespace {

using MergeList = std::vector<std::pair<std::string, std::string>>;

// Words built from syllables with a skewed distribution, so that the vocabulary keeps
// growing with more merges; deterministic for a seed.
std::vector<std::string> Corpus(int lines, uint32_t seed) {
  static const std::vector<std::string> kSyllables = {
      "ka",  "to", "ri",  "men", "ex",   "pert", "rou", "ter", "swa", "rm", "ag", "ent", "tool", "ing", "un",
      "der", "st", "and", "pro", "cess", "é",    "中",  "42",  "7",   "th", "e",  "qu",  "ick",  "br",  "own"};
  std::mt19937 rng(seed);
  auto skewed = [&](size_t n) {
    return std::min<size_t>(n - 1, static_cast<size_t>(n * std::pow(rng() / 4294967296.0, 2.0)));
  };
  std::vector<std::string> out;
  for (int i = 0; i < lines; ++i) {
    std::string line;
    const int words = 4 + static_cast<int>(rng() % 10);
    for (int w = 0; w < words; ++w) {
      if (w > 0) line += rng() % 9 == 0 ? ", " : " ";
      const int syllables = 1 + static_cast<int>(rng() % 3);
      for (int s = 0; s < syllables; ++s) line += kSyllables[skewed(kSyllables.size())];
    }
    out.push_back(line + ".\n");
  }
  return out;
}

MergeList MergeBytes(const Tokenizer& t) {
  MergeList out;
  for (const auto& [l, r] : t.merges()) out.emplace_back(t.TokenBytes(l), t.TokenBytes(r));
  return out;
}

// Training the slow way: recount every pair from scratch before each merge.
MergeList NaiveTrain(const std::vector<std::string>& texts, size_t max_tokens, int64_t min_count) {
  std::map<std::string, int64_t> piece_counts;
  for (const std::string& t : texts) {
    for (std::string_view p : PreTokenize(t)) ++piece_counts[std::string(p)];
  }
  std::vector<std::pair<std::vector<TokenId>, int64_t>> pieces;
  for (const auto& [bytes, count] : piece_counts) {
    std::vector<TokenId> s;
    for (unsigned char c : bytes) s.push_back(c);
    pieces.emplace_back(std::move(s), count);
  }
  std::vector<std::string> tokens;
  std::map<std::string, TokenId> ids;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(1, static_cast<char>(b));
    ids[tokens.back()] = b;
  }
  MergeList merges;
  while (tokens.size() < max_tokens) {
    std::map<std::pair<TokenId, TokenId>, int64_t> counts;
    for (const auto& [s, count] : pieces) {
      for (size_t i = 0; i + 1 < s.size(); ++i) counts[{s[i], s[i + 1]}] += count;
    }
    std::pair<TokenId, TokenId> best{-1, -1};
    int64_t best_count = 0;
    for (const auto& [pair, count] : counts) {
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count < min_count) break;
    const std::string bytes = tokens[best.first] + tokens[best.second];
    TokenId merged;
    if (auto it = ids.find(bytes); it != ids.end()) {
      merged = it->second;
    } else {
      merged = static_cast<TokenId>(tokens.size());
      tokens.push_back(bytes);
      ids[bytes] = merged;
    }
    merges.emplace_back(tokens[best.first], tokens[best.second]);
    for (auto& [s, count] : pieces) {
      std::vector<TokenId> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          out.push_back(merged);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
    }
  }
  return merges;
}

double BytesPerToken(const Tokenizer& t, const std::vector<std::string>& texts) {
  size_t bytes = 0, tokens = 0;
  for (const std::string& s : texts) {
    bytes += s.size();
    tokens += t.Encode(s, true).size();
  }
  return static_cast<double>(bytes) / static_cast<double>(tokens);
}

BpeTrainOptions Options(int vocab_size, std::vector<AddedToken> added = {}) {
  BpeTrainOptions o;
  o.vocab_size = vocab_size;
  o.added_tokens = std::move(added);
  return o;
}

TEST(BpeTrainerTest, IncrementalCountsMatchRecounting) {
  const std::vector<std::string> texts = Corpus(400, 1);
  Result<Tokenizer> t = TrainBpe(texts, Options(256 + 300));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(MergeBytes(*t), NaiveTrain(texts, 256 + 300, 2));
}

TEST(BpeTrainerTest, FirstMergeIsTheMostFrequentPair) {
  const std::vector<std::string> texts = {"aaa bab ab", "ab ab xy", "xy"};
  // Pairs over pieces: (a,b) x4, (a,a) x2, (x,y) x2, (' ',a) x2, (' ',b) x1, (b,a) x1, (' ',x) x1.
  Result<Tokenizer> t = TrainBpe(texts, Options(256 + 2));
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(MergeBytes(*t).size(), 2u);
  EXPECT_EQ(MergeBytes(*t)[0], std::make_pair(std::string("a"), std::string("b")));
  // Then three pairs tie at 2: (' ', "ab"), (a,a) and (x,y); the smallest left id wins
  // (' ' is 32, 'a' 97, 'x' 120).
  EXPECT_EQ(MergeBytes(*t)[1], std::make_pair(std::string(" "), std::string("ab")));
}

TEST(BpeTrainerTest, DeterministicWhateverTheOrder) {
  std::vector<std::string> texts = Corpus(500, 2);
  Result<Tokenizer> a = TrainBpe(texts, Options(700));
  Result<Tokenizer> b = TrainBpe(texts, Options(700));
  std::reverse(texts.begin(), texts.end());
  Result<Tokenizer> c = TrainBpe(texts, Options(700));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(MergeBytes(*a), MergeBytes(*b));
  EXPECT_EQ(MergeBytes(*a), MergeBytes(*c));
  EXPECT_EQ(a->Vocab(), c->Vocab());
}

TEST(BpeTrainerTest, CompressionImprovesWithVocab) {
  const std::vector<std::string> train = Corpus(3000, 3);
  const std::vector<std::string> held_out = Corpus(300, 4);
  double previous = 1.0;
  for (int vocab : {300, 600, 1200}) {
    Result<Tokenizer> t = TrainBpe(train, Options(vocab));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->vocab_size(), vocab);
    const double ratio = BytesPerToken(*t, held_out);
    EXPECT_GT(ratio, previous) << "vocab " << vocab;
    previous = ratio;
  }
  EXPECT_GT(previous, 3.0);
}

TEST(BpeTrainerTest, StatsCountTheTrainingTokens) {
  std::vector<std::string> texts = Corpus(800, 5);
  texts.push_back("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");
  BpeTrainer trainer(Options(500, DefaultAddedTokens()));
  for (const std::string& s : texts) trainer.Add(s);
  BpeTrainStats stats;
  Result<Tokenizer> t = trainer.Train(&stats);
  ASSERT_TRUE(t.ok());
  size_t bytes = 0, tokens = 0;
  for (const std::string& s : texts) {
    bytes += s.size();
    tokens += t->Encode(s, true).size();
  }
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(bytes));
  EXPECT_EQ(stats.tokens, static_cast<int64_t>(tokens));
  EXPECT_EQ(stats.added_token_occurrences, 3);
  EXPECT_EQ(stats.vocab_size, 500);
  EXPECT_EQ(stats.merges, 500 - 256 - 9);
  EXPECT_GT(stats.bytes_per_token(), 2.0);
  EXPECT_GE(stats.seconds, 0.0);
}

TEST(BpeTrainerTest, AddedTokensAreAppendedAndNeverLearned) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("<|im_start|>user\nhi there<|im_end|>\n<tool_call>{}</tool_call>");
  Result<Tokenizer> t = TrainBpe(texts, Options(300, DefaultAddedTokens()));
  ASSERT_TRUE(t.ok());
  const std::vector<AddedToken>& added = t->added_tokens();
  ASSERT_EQ(added.size(), 9u);
  for (size_t i = 0; i < added.size(); ++i) {
    EXPECT_EQ(added[i].id, t->vocab_size() - 9 + static_cast<TokenId>(i));
    EXPECT_EQ(added[i].content, DefaultAddedTokens()[i].content);
  }
  // "<" and "|" occur only inside added tokens, so no merge involves them.
  for (const auto& [bytes, id] : t->Vocab()) {
    if (bytes.size() < 2) continue;
    EXPECT_EQ(bytes.find('<'), std::string::npos) << bytes;
    EXPECT_EQ(bytes.find('|'), std::string::npos) << bytes;
  }
  EXPECT_GT(t->merges().size(), 5u);
  EXPECT_EQ(t->special_ids().im_start, added[1].id);
}

TEST(BpeTrainerTest, StopsWhenPairsAreRare) {
  Result<Tokenizer> t = TrainBpe({"ab ab ab cd"}, Options(1000));
  ASSERT_TRUE(t.ok());
  // (a,b) x3, then (' ', "ab") x2; nothing else occurs twice.
  EXPECT_EQ(MergeBytes(*t), (MergeList{{"a", "b"}, {" ", "ab"}}));
  EXPECT_EQ(t->vocab_size(), 258);
}

TEST(BpeTrainerTest, RejectsTooSmallVocab) {
  Result<Tokenizer> t = TrainBpe({"abc"}, Options(260, DefaultAddedTokens()));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("vocab_size 260"), std::string::npos);
  EXPECT_TRUE(TrainBpe({}, Options(256)).ok());
}

}  // namespace
}  // namespace tide::engine
