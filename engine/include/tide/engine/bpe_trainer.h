// Training a byte-level BPE tokenizer (tokenizer.h) from text.
//
// The vocabulary starts as the 256 bytes (id = byte value). Text is split on the added
// tokens (they are never learned from: chat-rendered data keeps its ChatML markers out of
// the merges), pre-tokenized by PreTokenize, and the pieces are counted. Training then
// repeats: take the most frequent adjacent pair of tokens over all pieces (weighted by
// piece counts), make it a merge, and replace it in every piece that holds it. Pair counts
// are updated incrementally, touching only the pieces that contain the merged pair, with
// a max-heap of pairs whose stale entries are refreshed when they reach the top (the
// method of Hugging Face `tokenizers`). When two merges produce the same bytes, the token
// is reused, as `tokenizers` does. Added tokens take the ids after the last merge, in
// the order given.
//
// Determinism: ties between equally frequent pairs go to the smaller (left id, right id),
// and nothing depends on hash order or on the order in which texts were added, so the
// same multiset of texts always gives the same merges.
//
// Cost: counting is linear in the text; training is about the number of piece
// occurrences of the merged pairs: about a second for 10 MB of text and 8k tokens on one
// core.
// Memory is proportional to the number of distinct pieces, not to the text.
//
// Thread safety: a BpeTrainer is not synchronized; use one per thread. Train() is const
// and may be called more than once.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {

struct BpeTrainOptions {
  // Total size of the vocabulary to reach: 256 byte tokens + merged tokens + added tokens.
  // Training stops earlier when no pair occurs min_pair_count times.
  int vocab_size = 8192;
  std::vector<AddedToken> added_tokens = DefaultAddedTokens();  // ids are (re)assigned
  int64_t min_pair_count = 2;
};

struct BpeTrainStats {
  int64_t bytes = 0;   // bytes of text added, added-token text included
  int64_t pieces = 0;  // pre-tokenized pieces
  int64_t unique_pieces = 0;
  int64_t added_token_occurrences = 0;
  // Tokens of all added text under the learned merges (each piece as training left it,
  // plus one per added-token occurrence); bytes / tokens is the compression.
  int64_t tokens = 0;
  int merges = 0;
  int vocab_size = 0;
  double seconds = 0;  // wall time of Train()

  double bytes_per_token() const { return tokens > 0 ? static_cast<double>(bytes) / tokens : 0.0; }
};

class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainOptions options = {});

  // Counts the pieces of `text` (split on added tokens, then pre-tokenized).
  void Add(std::string_view text);

  // Learns the merges and builds the tokenizer. INVALID_ARGUMENT if vocab_size leaves no
  // room for the 256 bytes and the added tokens, or the added tokens are empty or repeated.
  // Fills *stats when given.
  Result<Tokenizer> Train(BpeTrainStats* stats = nullptr) const;

  int64_t bytes_added() const { return bytes_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void CountPieces(std::string_view text);

  BpeTrainOptions options_;
  std::vector<std::string> match_order_;  // added-token contents, longest first
  std::array<bool, 256> added_first_{};   // first bytes of added tokens
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> piece_counts_;
  int64_t bytes_ = 0;
  int64_t pieces_ = 0;
  int64_t added_occurrences_ = 0;
};

// One-call form: a BpeTrainer fed every text in order.
Result<Tokenizer> TrainBpe(const std::vector<std::string>& texts, const BpeTrainOptions& options,
                           BpeTrainStats* stats = nullptr);

}  // namespace tide::engine
