// Tokenizer: byte-level BPE, as Hugging Face `tokenizers` runs a GPT-2 style model
// (ByteLevel pre-tokenizer and decoder, BPE model, added tokens).
//
// Encoding goes in three stages. (1) When special tokens are allowed, the text is split
// on added tokens (ChatML and tool-call markers), matched as whole strings, leftmost
// first and longest first at one position; each match becomes its single id. (2) The
// text between them is pre-tokenized by PreTokenize (pretokenizer.h): merges never cross
// a piece boundary. (3) Each piece starts as one token per byte and merges are applied
// lowest rank first, leftmost first among equal ranks (the HF BPE order).
//
// Tokens are held as raw bytes. Hugging Face files spell them in the GPT-2 byte-to-unicode
// alphabet (space is "Ġ", newline "Ċ"); ByteLevelEncode/ByteLevelDecode convert, and
// IdToToken/TokenToId use that spelling so ids and strings agree with `tokenizers`.
// On ASCII text the ids equal those of `tokenizers` for the same tokenizer.json; on other
// text they can differ where PreTokenize groups bytes differently from the Unicode regex
// (see pretokenizer.h), and always decode back to the same bytes.
//
// Guarantees: every one of the 256 bytes is a token, so for ANY byte string s (invalid
// UTF-8, NUL bytes and the text of special tokens included) Decode(Encode(s, a)) == s for
// both values of a. With allow_special == false no added token id is ever produced: text
// such as "<|im_end|>" in a user message is spelled out in ordinary tokens. Cost: linear
// in the text for the splitting stages, O(n log n) in a piece's length for BPE, and
// pieces of up to 64 bytes are served from a cache after their first encoding.
//
// Thread safety: a Tokenizer is immutable after construction except for its piece cache,
// which is internally synchronized; all const methods may be called from many threads at
// once. Copies share the vocabulary and the cache (cheap to copy).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tide/core/status.h"

namespace tide::engine {

using TokenId = int32_t;

// The contents of the tokens that Tide's chat format (chat_template.h) relies on.
inline constexpr std::string_view kEndOfText = "<|endoftext|>";
inline constexpr std::string_view kImStart = "<|im_start|>";
inline constexpr std::string_view kImEnd = "<|im_end|>";
inline constexpr std::string_view kToolCallStart = "<tool_call>";
inline constexpr std::string_view kToolCallEnd = "</tool_call>";
inline constexpr std::string_view kToolResponseStart = "<tool_response>";
inline constexpr std::string_view kToolResponseEnd = "</tool_response>";
inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";

// A token matched as a whole string before BPE (HF "added_tokens").
struct AddedToken {
  TokenId id = -1;  // -1: not yet assigned (training assigns ids after the merges)
  std::string content;
  bool special = true;  // HF "special": Decode(..., skip_special = true) leaves it out

  friend bool operator==(const AddedToken&, const AddedToken&) = default;
};

// The nine tokens above, in that order, ids unassigned. As in Qwen, the control tokens
// (<|endoftext|>, <|im_start|>, <|im_end|>) are special and the tag tokens are not, so
// decoding with skip_special keeps tool-call and think markup readable.
std::vector<AddedToken> DefaultAddedTokens();

// Ids of the tokens above in one tokenizer; -1 where the tokenizer lacks one.
struct SpecialTokenIds {
  TokenId end_of_text = -1;
  TokenId im_start = -1;
  TokenId im_end = -1;
  TokenId tool_call_start = -1;
  TokenId tool_call_end = -1;
  TokenId tool_response_start = -1;
  TokenId tool_response_end = -1;
  TokenId think_start = -1;
  TokenId think_end = -1;
};

// GPT-2's byte <-> unicode mapping (HF ByteLevel): printable Latin-1 bytes map to
// themselves, the other 68 to U+0100..U+0143. Encode never fails; Decode fails when a
// character is outside the 256-character alphabet or the text is not UTF-8.
std::string ByteLevelEncode(std::string_view bytes);
Result<std::string> ByteLevelDecode(std::string_view text);

// A BPE model as Hugging Face stores it, tokens given as raw bytes.
struct BpeModelSpec {
  std::vector<std::pair<std::string, TokenId>> vocab;       // token bytes -> id
  std::vector<std::pair<std::string, std::string>> merges;  // rank order; both sides in vocab
  bool ignore_merges = false;                               // HF: a piece that is itself a token is emitted whole
};

class Tokenizer {
 public:
  // Validates and indexes a model: ids are >= 0 and unique, token bytes unique and
  // non-empty, all 256 single bytes present, every merge's parts and result in the vocab
  // (a repeated merge keeps its first rank), added tokens non-empty and unique; an added
  // token may share the id of a vocab token only if the bytes are equal (GPT-2's
  // <|endoftext|>). INVALID_ARGUMENT naming the entry otherwise.
  static Result<Tokenizer> Create(BpeModelSpec model, std::vector<AddedToken> added_tokens);

  // Token ids of `text`; see the top of this file.
  std::vector<TokenId> Encode(std::string_view text, bool allow_special) const;
  // Appends to *out instead of returning (no reallocation of a reused vector).
  void EncodeTo(std::string_view text, bool allow_special, std::vector<TokenId>* out) const;
  // The number of tokens Encode would return.
  size_t CountTokens(std::string_view text, bool allow_special) const;

  // The bytes the ids stand for, concatenated. Added tokens give their content unless
  // skip_special and the token is special. OUT_OF_RANGE naming the position if an id is
  // not a token.
  Result<std::string> Decode(std::span<const TokenId> ids, bool skip_special = false) const;

  // One past the largest id (vocab and added tokens together), as HF get_vocab_size().
  int vocab_size() const;
  bool IsToken(TokenId id) const;
  // The raw bytes of a token (an added token's content); empty if `id` is not a token.
  std::string_view TokenBytes(TokenId id) const;
  // HF spelling: an added token's content, else the byte-level spelling of the token's
  // bytes; nullopt / empty string when there is no such token.
  std::string IdToToken(TokenId id) const;
  std::optional<TokenId> TokenToId(std::string_view token) const;

  // Id of the added token with this content.
  std::optional<TokenId> AddedTokenId(std::string_view content) const;
  bool IsAddedToken(TokenId id) const;
  const SpecialTokenIds& special_ids() const;

  // The model as given to Create, ordered for saving: vocab by id, merges by rank (as
  // token ids), added tokens by id.
  std::vector<std::pair<std::string, TokenId>> Vocab() const;
  const std::vector<std::pair<TokenId, TokenId>>& merges() const;
  const std::vector<AddedToken>& added_tokens() const;
  bool ignore_merges() const;

 private:
  struct Model;
  struct Cache;
  Tokenizer(std::shared_ptr<const Model> model, std::shared_ptr<Cache> cache);

  void EncodeOrdinary(std::string_view text, std::vector<TokenId>* out) const;
  void EncodePiece(std::string_view piece, std::vector<TokenId>* out) const;

  std::shared_ptr<const Model> model_;
  std::shared_ptr<Cache> cache_;
};

// A tokenizer with one token per byte (ids 0..255, no merges) and DefaultAddedTokens() after
// them: what tests, benchmarks and byte-level models use when no trained vocabulary matters.
Tokenizer ByteLevelTokenizer();

}  // namespace tide::engine
