#include "tide/engine/tokenizer.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <unordered_map>

#include "text_chunks.h"
#include "tide/engine/pretokenizer.h"

namespace tide::engine {
namespace {

// Ids above this are rejected: vectors indexed by id are sized from the largest one.
constexpr TokenId kMaxTokenId = (1 << 21) - 1;
// Pieces up to this many bytes are cached after their first encoding.
constexpr size_t kMaxCachedPiece = 64;
// Long text is pre-tokenized this many bytes at a time (text_chunks.h).
constexpr size_t kPreTokenizeChunk = 16 << 10;

struct ByteLevelTables {
  std::array<uint16_t, 256> to_char{};   // byte -> code point
  std::array<int16_t, 0x144> to_byte{};  // code point -> byte, -1 if none
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables tables = [] {
    ByteLevelTables t;
    t.to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const int cp = printable ? b : 256 + extra++;
      t.to_char[b] = static_cast<uint16_t>(cp);
      t.to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

uint64_t PairKey(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

enum Kind : uint8_t { kNone = 0, kBpe = 1, kAdded = 2 };

std::string Quoted(std::string_view bytes) { return "\"" + ByteLevelEncode(bytes) + "\""; }

}  // namespace

std::vector<AddedToken> DefaultAddedTokens() {
  std::vector<AddedToken> out;
  for (std::string_view s : {kEndOfText, kImStart, kImEnd}) out.push_back({-1, std::string(s), true});
  for (std::string_view s :
       {kToolCallStart, kToolCallEnd, kToolResponseStart, kToolResponseEnd, kThinkStart, kThinkEnd}) {
    out.push_back({-1, std::string(s), false});
  }
  return out;
}

std::string ByteLevelEncode(std::string_view bytes) {
  const ByteLevelTables& t = Tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    const uint16_t cp = t.to_char[b];
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

Result<std::string> ByteLevelDecode(std::string_view text) {
  const ByteLevelTables& t = Tables();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c0 = static_cast<unsigned char>(text[i]);
    int cp = -1;
    if (c0 < 0x80) {
      cp = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((c0 & 0x1F) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
      if (cp < 0x80) cp = -1;  // overlong
      i += 2;
    }
    if (cp < 0 || cp >= static_cast<int>(t.to_byte.size()) || t.to_byte[cp] < 0) {
      return InvalidArgument("character at byte " + std::to_string(i) + " is outside the ByteLevel alphabet");
    }
    out.push_back(static_cast<char>(t.to_byte[cp]));
  }
  return out;
}

struct Tokenizer::Model {
  std::vector<std::string> bytes;  // by id; empty where there is no token
  std::vector<uint8_t> kind;       // Kind bits by id
  std::vector<uint8_t> special;    // 1 for added tokens marked special
  std::array<TokenId, 256> byte_ids{};
  StringMap<TokenId> bpe_ids;
  std::unordered_map<uint64_t, std::pair<int32_t, TokenId>> merge_map;  // pair -> (rank, result)
  std::vector<std::pair<TokenId, TokenId>> merges;
  std::vector<AddedToken> added;        // by id
  std::vector<AddedToken> match_order;  // longest first
  std::array<bool, 256> added_first{};
  StringMap<TokenId> added_ids;
  SpecialTokenIds special_ids;
  bool ignore_merges = false;

  const std::pair<int32_t, TokenId>* FindMerge(TokenId left, TokenId right) const {
    auto it = merge_map.find(PairKey(left, right));
    return it == merge_map.end() ? nullptr : &it->second;
  }
};

struct Tokenizer::Cache {
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxEntriesPerShard = 8192;
  struct Shard {
    std::mutex mu;
    StringMap<std::vector<TokenId>> map;
  };
  std::array<Shard, kShards> shards;

  Shard& ShardFor(std::string_view piece) { return shards[StringHash{}(piece) % kShards]; }
};

Tokenizer::Tokenizer(std::shared_ptr<const Model> model, std::shared_ptr<Cache> cache)
    : model_(std::move(model)), cache_(std::move(cache)) {}

Result<Tokenizer> Tokenizer::Create(BpeModelSpec spec, std::vector<AddedToken> added_tokens) {
  auto m = std::make_shared<Model>();
  m->ignore_merges = spec.ignore_merges;
  TokenId max_id = -1;
  for (const auto& [bytes, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedToken& a : added_tokens) max_id = std::max(max_id, a.id);
  if (max_id > kMaxTokenId) return InvalidArgument("token id " + std::to_string(max_id) + " is too large");
  m->bytes.resize(max_id + 1);
  m->kind.assign(max_id + 1, kNone);
  m->special.assign(max_id + 1, 0);

  m->bpe_ids.reserve(spec.vocab.size());
  for (auto& [bytes, id] : spec.vocab) {
    if (id < 0)
      return InvalidArgument("model.vocab: token " + Quoted(bytes) + " has negative id " + std::to_string(id));
    if (bytes.empty()) return InvalidArgument("model.vocab: id " + std::to_string(id) + " is an empty token");
    if (m->kind[id] != kNone) return InvalidArgument("model.vocab: id " + std::to_string(id) + " appears twice");
    if (!m->bpe_ids.emplace(bytes, id).second)
      return InvalidArgument("model.vocab: token " + Quoted(bytes) + " appears twice");
    m->kind[id] = kBpe;
    m->bytes[id] = std::move(bytes);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = m->bpe_ids.find(std::string(1, static_cast<char>(b)));
    if (it == m->bpe_ids.end()) {
      return InvalidArgument("model.vocab: byte " + std::to_string(b) + " (" +
                             Quoted(std::string(1, static_cast<char>(b))) +
                             ") is not a token; a byte-level BPE needs all 256");
    }
    m->byte_ids[b] = it->second;
  }

  m->merges.reserve(spec.merges.size());
  m->merge_map.reserve(spec.merges.size());
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [left, right] = spec.merges[r];
    const std::string where = "model.merges[" + std::to_string(r) + "] (" + Quoted(left) + " " + Quoted(right) + ")";
    auto l = m->bpe_ids.find(left);
    auto rt = m->bpe_ids.find(right);
    if (l == m->bpe_ids.end() || rt == m->bpe_ids.end()) return InvalidArgument(where + ": part is not in the vocab");
    auto result = m->bpe_ids.find(left + right);
    if (result == m->bpe_ids.end()) return InvalidArgument(where + ": merged token is not in the vocab");
    const auto rank = static_cast<int32_t>(m->merges.size());
    if (m->merge_map.emplace(PairKey(l->second, rt->second), std::make_pair(rank, result->second)).second) {
      m->merges.emplace_back(l->second, rt->second);
    }
  }

  for (AddedToken& a : added_tokens) {
    const std::string where = "added_tokens: token \"" + a.content + "\"";
    if (a.content.empty()) return InvalidArgument("added_tokens: token with id " + std::to_string(a.id) + " is empty");
    if (a.id < 0) return InvalidArgument(where + ": id " + std::to_string(a.id) + " is not assigned");
    if (m->kind[a.id] & kAdded) return InvalidArgument(where + ": id " + std::to_string(a.id) + " is taken");
    if ((m->kind[a.id] & kBpe) && m->bytes[a.id] != a.content) {
      return InvalidArgument(where + ": id " + std::to_string(a.id) + " is the vocab token " + Quoted(m->bytes[a.id]));
    }
    if (!m->added_ids.emplace(a.content, a.id).second) return InvalidArgument(where + " appears twice");
    m->kind[a.id] |= kAdded;
    m->special[a.id] = a.special ? 1 : 0;
    m->bytes[a.id] = a.content;
    m->added_first[static_cast<unsigned char>(a.content[0])] = true;
  }
  std::sort(added_tokens.begin(), added_tokens.end(),
            [](const AddedToken& x, const AddedToken& y) { return x.id < y.id; });
  m->added = added_tokens;
  m->match_order = std::move(added_tokens);
  std::stable_sort(m->match_order.begin(), m->match_order.end(),
                   [](const AddedToken& x, const AddedToken& y) { return x.content.size() > y.content.size(); });

  auto id_of = [&](std::string_view content) {
    auto it = m->added_ids.find(content);
    return it == m->added_ids.end() ? TokenId{-1} : it->second;
  };
  SpecialTokenIds& s = m->special_ids;
  s.end_of_text = id_of(kEndOfText);
  s.im_start = id_of(kImStart);
  s.im_end = id_of(kImEnd);
  s.tool_call_start = id_of(kToolCallStart);
  s.tool_call_end = id_of(kToolCallEnd);
  s.tool_response_start = id_of(kToolResponseStart);
  s.tool_response_end = id_of(kToolResponseEnd);
  s.think_start = id_of(kThinkStart);
  s.think_end = id_of(kThinkEnd);
  return Tokenizer(std::move(m), std::make_shared<Cache>());
}

std::vector<TokenId> Tokenizer::Encode(std::string_view text, bool allow_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  EncodeTo(text, allow_special, &out);
  return out;
}

size_t Tokenizer::CountTokens(std::string_view text, bool allow_special) const {
  return Encode(text, allow_special).size();
}

void Tokenizer::EncodeTo(std::string_view text, bool allow_special, std::vector<TokenId>* out) const {
  const Model& m = *model_;
  if (!allow_special || m.match_order.empty()) {
    EncodeOrdinary(text, out);
    return;
  }
  size_t segment = 0;
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* match = nullptr;
    if (m.added_first[static_cast<unsigned char>(text[i])]) {
      const std::string_view rest = text.substr(i);
      for (const AddedToken& a : m.match_order) {
        if (rest.starts_with(a.content)) {
          match = &a;
          break;
        }
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    EncodeOrdinary(text.substr(segment, i - segment), out);
    out->push_back(match->id);
    i += match->content.size();
    segment = i;
  }
  EncodeOrdinary(text.substr(segment), out);
}

void Tokenizer::EncodeOrdinary(std::string_view text, std::vector<TokenId>* out) const {
  internal::ForEachPreTokenChunk(text, kPreTokenizeChunk, [&](std::string_view chunk) {
    for (std::string_view piece : PreTokenize(chunk)) EncodePiece(piece, out);
  });
}

namespace {

// BPE on one piece, Hugging Face's order: the adjacent pair of lowest merge rank is merged
// first, the leftmost among equal ranks. Symbols form a linked list over byte positions;
// the queue holds candidate merges, and entries made stale by an earlier merge are skipped.
template <typename FindMerge>
void MergePiece(std::string_view piece, const std::array<TokenId, 256>& byte_ids, const FindMerge& find_merge,
                std::vector<TokenId>* out) {
  const int n = static_cast<int>(piece.size());
  struct Symbol {
    TokenId id;
    int prev;
    int next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int pos;
    TokenId result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Symbol> symbols(n);
  for (int i = 0; i < n; ++i)
    symbols[i] = {byte_ids[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
  std::vector<Candidate> heap_storage;
  heap_storage.reserve(n);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue(std::greater<>{},
                                                                               std::move(heap_storage));
  auto consider = [&](int pos) {
    const int next = symbols[pos].next;
    if (next < 0) return;
    if (const std::pair<int32_t, TokenId>* m = find_merge(symbols[pos].id, symbols[next].id)) {
      queue.push({m->first, pos, m->second});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& s = symbols[top.pos];
    if (!s.alive || s.next < 0) continue;
    Symbol& right = symbols[s.next];
    const std::pair<int32_t, TokenId>* m = find_merge(s.id, right.id);
    if (m == nullptr || m->second != top.result) continue;
    s.id = top.result;
    right.alive = false;
    s.next = right.next;
    if (s.next >= 0) symbols[s.next].prev = top.pos;
    if (s.prev >= 0) consider(s.prev);
    consider(top.pos);
  }
  for (int i = 0; i >= 0; i = symbols[i].next) out->push_back(symbols[i].id);
}

}  // namespace

void Tokenizer::EncodePiece(std::string_view piece, std::vector<TokenId>* out) const {
  const Model& m = *model_;
  if (piece.size() == 1) {
    out->push_back(m.byte_ids[static_cast<unsigned char>(piece[0])]);
    return;
  }
  if (m.ignore_merges) {
    if (auto it = m.bpe_ids.find(piece); it != m.bpe_ids.end()) {
      out->push_back(it->second);
      return;
    }
  }
  auto find_merge = [&m](TokenId l, TokenId r) { return m.FindMerge(l, r); };
  if (piece.size() > kMaxCachedPiece) {
    MergePiece(piece, m.byte_ids, find_merge, out);
    return;
  }
  Cache::Shard& shard = cache_->ShardFor(piece);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (auto it = shard.map.find(piece); it != shard.map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  MergePiece(piece, m.byte_ids, find_merge, out);
  std::vector<TokenId> ids(out->begin() + static_cast<std::ptrdiff_t>(start), out->end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= Cache::kMaxEntriesPerShard) shard.map.clear();
  shard.map.emplace(std::string(piece), std::move(ids));
}

Result<std::string> Tokenizer::Decode(std::span<const TokenId> ids, bool skip_special) const {
  const Model& m = *model_;
  std::string out;
  out.reserve(ids.size() * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    if (!IsToken(id)) {
      return Status(StatusCode::kOutOfRange,
                    "id " + std::to_string(id) + " at position " + std::to_string(i) + " is not a token");
    }
    if (skip_special && m.special[id]) continue;
    out += m.bytes[id];
  }
  return out;
}

int Tokenizer::vocab_size() const { return static_cast<int>(model_->bytes.size()); }

bool Tokenizer::IsToken(TokenId id) const { return id >= 0 && id < vocab_size() && model_->kind[id] != kNone; }

std::string_view Tokenizer::TokenBytes(TokenId id) const {
  return IsToken(id) ? std::string_view(model_->bytes[id]) : std::string_view();
}

std::string Tokenizer::IdToToken(TokenId id) const {
  if (!IsToken(id)) return "";
  if (model_->kind[id] & kAdded) return model_->bytes[id];
  return ByteLevelEncode(model_->bytes[id]);
}

std::optional<TokenId> Tokenizer::TokenToId(std::string_view token) const {
  if (auto id = AddedTokenId(token)) return id;
  Result<std::string> bytes = ByteLevelDecode(token);
  if (!bytes.ok()) return std::nullopt;
  auto it = model_->bpe_ids.find(*bytes);
  if (it == model_->bpe_ids.end()) return std::nullopt;
  return it->second;
}

std::optional<TokenId> Tokenizer::AddedTokenId(std::string_view content) const {
  auto it = model_->added_ids.find(content);
  if (it == model_->added_ids.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::IsAddedToken(TokenId id) const { return IsToken(id) && (model_->kind[id] & kAdded); }

const SpecialTokenIds& Tokenizer::special_ids() const { return model_->special_ids; }

std::vector<std::pair<std::string, TokenId>> Tokenizer::Vocab() const {
  std::vector<std::pair<std::string, TokenId>> out;
  out.reserve(model_->bpe_ids.size());
  for (TokenId id = 0; id < vocab_size(); ++id) {
    if (model_->kind[id] & kBpe) out.emplace_back(model_->bytes[id], id);
  }
  return out;
}

const std::vector<std::pair<TokenId, TokenId>>& Tokenizer::merges() const { return model_->merges; }

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return model_->added; }

bool Tokenizer::ignore_merges() const { return model_->ignore_merges; }

Tokenizer ByteLevelTokenizer() {
  BpeModelSpec spec;
  for (int b = 0; b < 256; ++b) spec.vocab.emplace_back(std::string(1, static_cast<char>(b)), b);
  std::vector<AddedToken> added = DefaultAddedTokens();
  TokenId next = 256;
  for (AddedToken& a : added) a.id = next++;
  Result<Tokenizer> t = Tokenizer::Create(std::move(spec), std::move(added));
  return std::move(t).value();  // a fixed, valid spec
}

}  // namespace tide::engine
