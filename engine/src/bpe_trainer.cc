#include "tide/engine/bpe_trainer.h"

#include <algorithm>
#include <chrono>
#include <queue>

#include "text_chunks.h"
#include "tide/engine/pretokenizer.h"

namespace tide::engine {
namespace {

uint64_t PairKey(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
TokenId PairLeft(uint64_t key) { return static_cast<TokenId>(key >> 32); }
TokenId PairRight(uint64_t key) { return static_cast<TokenId>(key & 0xFFFFFFFFu); }

struct Piece {
  std::vector<TokenId> symbols;
  int64_t count;
};

struct PairInfo {
  int64_t count = 0;
  std::vector<int32_t> pieces;  // pieces that held the pair at some point (may be stale)
};

// Heap entry: most frequent first; among equal counts the smaller (left, right) first.
struct HeapEntry {
  int64_t count;
  uint64_t key;
  bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : key > o.key; }
};

class MergeLearner {
 public:
  MergeLearner(std::vector<Piece> pieces, int64_t min_count) : pieces_(std::move(pieces)), min_count_(min_count) {
    for (int b = 0; b < 256; ++b) {
      tokens_.emplace_back(1, static_cast<char>(b));
      token_ids_.emplace(tokens_.back(), b);
    }
    for (int32_t p = 0; p < static_cast<int32_t>(pieces_.size()); ++p) {
      const std::vector<TokenId>& s = pieces_[p].symbols;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        PairInfo& info = pairs_[PairKey(s[i], s[i + 1])];
        info.count += pieces_[p].count;
        if (info.pieces.empty() || info.pieces.back() != p) info.pieces.push_back(p);
      }
    }
    std::vector<HeapEntry> entries;
    entries.reserve(pairs_.size());
    for (const auto& [key, info] : pairs_) entries.push_back({info.count, key});
    heap_ = std::priority_queue<HeapEntry>(std::less<HeapEntry>{}, std::move(entries));
  }

  // Learns merges until the vocabulary holds `max_tokens` tokens or no pair is frequent
  // enough.
  void Run(size_t max_tokens) {
    while (tokens_.size() < max_tokens && !heap_.empty()) {
      const HeapEntry top = heap_.top();
      heap_.pop();
      auto it = pairs_.find(top.key);
      const int64_t current = it == pairs_.end() ? 0 : it->second.count;
      if (current != top.count) {  // stale: counts only fall, so re-queue the true count
        if (current > 0) heap_.push({current, top.key});
        continue;
      }
      if (current < min_count_) break;
      std::vector<int32_t> holders = std::move(it->second.pieces);
      pairs_.erase(it);
      std::sort(holders.begin(), holders.end());
      holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
      Merge(top.key, holders);
    }
  }

  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<std::pair<TokenId, TokenId>>& merges() const { return merges_; }
  int64_t TokenCount() const {
    int64_t n = 0;
    for (const Piece& p : pieces_) n += p.count * static_cast<int64_t>(p.symbols.size());
    return n;
  }

 private:
  void Merge(uint64_t key, const std::vector<int32_t>& holders) {
    const TokenId left = PairLeft(key);
    const TokenId right = PairRight(key);
    std::string bytes = tokens_[left] + tokens_[right];
    TokenId merged;
    if (auto found = token_ids_.find(bytes); found != token_ids_.end()) {
      merged = found->second;  // the same bytes reached by another merge earlier
    } else {
      merged = static_cast<TokenId>(tokens_.size());
      token_ids_.emplace(bytes, merged);
      tokens_.push_back(std::move(bytes));
    }
    merges_.emplace_back(left, right);
    merging_ = key;

    new_pairs_.clear();
    for (int32_t p : holders) {
      std::vector<TokenId>& s = pieces_[p].symbols;
      const int64_t count = pieces_[p].count;
      size_t out = 0;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          if (out > 0) {
            Change(PairKey(s[out - 1], left), -count, p);
            Change(PairKey(s[out - 1], merged), count, p);
          }
          if (i + 2 < s.size()) {
            Change(PairKey(right, s[i + 2]), -count, p);
            Change(PairKey(merged, s[i + 2]), count, p);
          }
          s[out++] = merged;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      s.resize(out);
    }
    std::sort(new_pairs_.begin(), new_pairs_.end());
    new_pairs_.erase(std::unique(new_pairs_.begin(), new_pairs_.end()), new_pairs_.end());
    for (uint64_t k : new_pairs_) {
      auto it = pairs_.find(k);
      if (it != pairs_.end() && it->second.count > 0) heap_.push({it->second.count, k});
    }
  }

  // Adds `delta` to a pair's count. The merged pair itself is gone from every piece, so
  // changes to it (from overlapping runs such as "a a a") are dropped.
  void Change(uint64_t key, int64_t delta, int32_t piece) {
    if (key == merging_) return;
    PairInfo& info = pairs_[key];
    info.count += delta;
    if (delta > 0) {
      if (info.pieces.empty() || info.pieces.back() != piece) info.pieces.push_back(piece);
      new_pairs_.push_back(key);
    } else if (info.count <= 0) {
      pairs_.erase(key);
    }
  }

  std::vector<Piece> pieces_;
  int64_t min_count_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, TokenId> token_ids_;
  std::vector<std::pair<TokenId, TokenId>> merges_;
  std::unordered_map<uint64_t, PairInfo> pairs_;
  std::priority_queue<HeapEntry> heap_;
  std::vector<uint64_t> new_pairs_;
  uint64_t merging_ = 0;  // the pair being merged
};

}  // namespace

BpeTrainer::BpeTrainer(BpeTrainOptions options) : options_(std::move(options)) {
  for (const AddedToken& a : options_.added_tokens) {
    if (a.content.empty()) continue;
    match_order_.push_back(a.content);
    added_first_[static_cast<unsigned char>(a.content[0])] = true;
  }
  std::stable_sort(match_order_.begin(), match_order_.end(),
                   [](const std::string& x, const std::string& y) { return x.size() > y.size(); });
}

void BpeTrainer::Add(std::string_view text) {
  bytes_ += static_cast<int64_t>(text.size());
  size_t segment = 0;
  for (size_t i = 0; i < text.size();) {
    const std::string* match = nullptr;
    if (added_first_[static_cast<unsigned char>(text[i])]) {
      const std::string_view rest = text.substr(i);
      for (const std::string& a : match_order_) {
        if (rest.starts_with(a)) {
          match = &a;
          break;
        }
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    CountPieces(text.substr(segment, i - segment));
    ++added_occurrences_;
    i += match->size();
    segment = i;
  }
  CountPieces(text.substr(segment));
}

void BpeTrainer::CountPieces(std::string_view text) {
  internal::ForEachPreTokenChunk(text, 16 << 10, [this](std::string_view chunk) {
    for (std::string_view piece : PreTokenize(chunk)) {
      ++pieces_;
      if (auto it = piece_counts_.find(piece); it != piece_counts_.end()) {
        ++it->second;
      } else {
        piece_counts_.emplace(std::string(piece), 1);
      }
    }
  });
}

Result<Tokenizer> BpeTrainer::Train(BpeTrainStats* stats) const {
  const auto start = std::chrono::steady_clock::now();
  const size_t reserved = 256 + options_.added_tokens.size();
  if (options_.vocab_size < 0 || static_cast<size_t>(options_.vocab_size) < reserved) {
    return InvalidArgument("vocab_size " + std::to_string(options_.vocab_size) +
                           " leaves no room for the 256 bytes and " + std::to_string(options_.added_tokens.size()) +
                           " added tokens");
  }

  // Pieces in byte order, so that the learner sees the same input whatever the hash order.
  std::vector<std::pair<std::string_view, int64_t>> sorted(piece_counts_.begin(), piece_counts_.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Piece> pieces;
  pieces.reserve(sorted.size());
  for (const auto& [bytes, count] : sorted) {
    Piece p{std::vector<TokenId>(bytes.size()), count};
    for (size_t i = 0; i < bytes.size(); ++i) p.symbols[i] = static_cast<unsigned char>(bytes[i]);
    pieces.push_back(std::move(p));
  }
  MergeLearner learner(std::move(pieces), std::max<int64_t>(options_.min_pair_count, 1));
  learner.Run(static_cast<size_t>(options_.vocab_size) - options_.added_tokens.size());

  BpeModelSpec spec;
  const std::vector<std::string>& tokens = learner.tokens();
  spec.vocab.reserve(tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) spec.vocab.emplace_back(tokens[id], static_cast<TokenId>(id));
  spec.merges.reserve(learner.merges().size());
  for (const auto& [l, r] : learner.merges()) spec.merges.emplace_back(tokens[l], tokens[r]);
  std::vector<AddedToken> added = options_.added_tokens;
  for (size_t i = 0; i < added.size(); ++i) added[i].id = static_cast<TokenId>(tokens.size() + i);
  Result<Tokenizer> tokenizer = Tokenizer::Create(std::move(spec), std::move(added));
  if (!tokenizer.ok()) return tokenizer.status().WithContext("bpe training");

  if (stats != nullptr) {
    stats->bytes = bytes_;
    stats->pieces = pieces_;
    stats->unique_pieces = static_cast<int64_t>(piece_counts_.size());
    stats->added_token_occurrences = added_occurrences_;
    stats->tokens = learner.TokenCount() + added_occurrences_;
    stats->merges = static_cast<int>(learner.merges().size());
    stats->vocab_size = tokenizer->vocab_size();
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return tokenizer;
}

Result<Tokenizer> TrainBpe(const std::vector<std::string>& texts, const BpeTrainOptions& options,
                           BpeTrainStats* stats) {
  BpeTrainer trainer(options);
  for (const std::string& t : texts) trainer.Add(t);
  return trainer.Train(stats);
}

}  // namespace tide::engine
