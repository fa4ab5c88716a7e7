// Grammar-constrained decoding of JSON: every <tool_call> body the model writes can be
// forced to be one JSON value that matches the tool's JSON Schema.
//
// JsonSchemaMatcher reads one JSON value byte by byte and accepts a byte only if the text
// so far can still be completed into a value that matches the schema. TokenConstraint
// lifts that to a tokenizer's vocabulary: before each decode step it gives the mask of
// tokens whose bytes the matcher can accept (and the end tokens once the value is
// complete), walking a byte trie of the vocabulary so that a step costs about the number
// of trie nodes whose prefix the matcher accepts, not vocab x token length.
// ToolCallSchema builds the schema of a tool-call body ({"name": ..., "arguments": ...})
// from the tools offered in a request.
//
// Supported schema subset (anything else: see "Keywords" below):
//   type            a name or a non-empty list of names (object, array, string, number,
//                   integer, boolean, null); absent: any type.
//   properties, required, additionalProperties (false, true or a schema).
//                   additionalProperties DEFAULTS TO FALSE whenever the schema mentions
//                   objects ("type" includes "object", or "properties"/"required" is
//                   present), so the model cannot invent keys; a schema that says nothing
//                   about objects (e.g. {}) accepts any object. Write
//                   "additionalProperties": true (or a schema) for free-form maps. A
//                   required key that is not in "properties" is an error when additional
//                   properties are not allowed; otherwise it is required with the
//                   additionalProperties schema. At most 64 named properties per object.
//   enum, const     of scalars (strings, numbers, booleans, null). The value must be
//                   written exactly as nlohmann::json::dump() writes the enum entry
//                   ("celsius", 3, 2.5, true; no alternative escapes or number spellings).
//                   Entries that do not match "type"/"minLength"/"maxLength" are dropped;
//                   both keywords together mean the entries in both.
//   items (one schema), minItems, maxItems, minLength, maxLength (in code points).
//   anyOf, oneOf    alternatives are tracked in parallel and dropped as they fail; oneOf
//                   is treated as anyOf (the value matches at least one branch; for the
//                   usual discriminated branches, e.g. distinct "const" names, that is
//                   the same thing). Only annotation keywords may stand beside them.
//   true / {}       any JSON value (containers nest at most ~60 deep).
// Keywords: annotations (title, description, default, examples, format, $schema, $id,
// $comment, $defs, definitions, deprecated, readOnly, writeOnly, and any unknown key) are
// ignored. Assertions the matcher cannot enforce (minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, multipleOf, pattern, patternProperties, propertyNames, $ref, allOf,
// not, if/then/else, prefixItems, contains, uniqueItems: true, minProperties,
// maxProperties, dependentRequired, dependentSchemas, dependencies, unevaluated*) are
// INVALID_ARGUMENT, unless JsonConstraintOptions::ignore_unsupported_keywords, in which
// case they are ignored (the output then matches the schema without them; validate it
// afterwards, e.g. with tide::workers::ValidateJsonSchema). Broken schemas are
// INVALID_ARGUMENT naming the schema path, e.g. `$.properties.unit.type: unknown type
// "strin"`. Schemas nest at most 24 levels.
//
// Accepted text: RFC 8259 JSON with these limits, chosen so that decoding always can and
// eventually must end: at most ONE whitespace byte (space, \t, \n, \r) between tokens and
// before/after the value; numbers at most 24 bytes (integers 19, so that they parse as
// 64-bit integers) with at most 2 exponent digits; object keys written as nlohmann::json::dump() writes them
// (free-form keys may use only the \" and \\ escapes, no control characters); string
// values may use every JSON escape (\uXXXX surrogates must pair) and any valid UTF-8.
// No duplicate keys; every required key before `}`. Guarantee: a byte is accepted only if
// some completion still exists, so a decoder that only ever picks allowed tokens can
// always finish. Strings, arrays and free-form objects without limits can still go on
// for as long as the model likes: keep a token budget.
//
// Thread safety: a JsonSchemaMatcher is a value (cheap to copy: a shared immutable
// compiled schema plus a small frame stack); use one per sequence. TokenTrie is immutable
// and may be shared by many threads. TokenConstraint is not synchronized (AllowedTokens
// reuses internal scratch buffers although it is const): one per sequence.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::engine {

class Tokenizer;

// Internals, in the header only so that a matcher is a cheap value type; not an API.
namespace json_constraint_detail {

enum TypeBit : uint8_t {
  kTObject = 1,
  kTArray = 2,
  kTString = 4,
  kTNumber = 8,
  kTInteger = 16,
  kTBoolean = 32,
  kTNull = 64,
  kTAll = 127,
};

// One schema node. Leaves of anyOf nodes are never anyOf nodes themselves.
struct Node {
  uint8_t types = kTAll;
  std::vector<int32_t> leaves;             // non-empty: an anyOf node (leaves are not anyOf)
  int32_t lit_begin = -1, lit_end = -1;    // enum/const: the value is one of these literals
  std::vector<std::string> names;          // property keys as dump() writes them, unquoted, sorted
  std::vector<int32_t> prop_nodes;         // parallel to names
  uint64_t required = 0;                   // bit i: names[i] is required
  int32_t additional = -1;                 // schema of other keys; -1: none allowed
  int32_t items = -1;
  int32_t min_items = 0, max_items = INT32_MAX;
  int32_t min_len = 0, max_len = INT32_MAX;
};

// A set of byte values.
struct ByteSet {
  std::array<uint64_t, 4> w{};
  void Add(uint8_t c) { w[c >> 6] |= uint64_t{1} << (c & 63); }
  void Add(std::string_view s) {
    for (unsigned char c : s) Add(c);
  }
  void AddRange(int lo, int hi) {
    for (int c = lo; c <= hi; ++c) Add(static_cast<uint8_t>(c));
  }
  void Or(const ByteSet& o) {
    for (int i = 0; i < 4; ++i) w[i] |= o.w[i];
  }
};

// A compiled schema (json_constraint.cc), immutable once built.
struct Schema {
  std::vector<Node> nodes;
  std::vector<std::string> literals;  // [0, 2): false, true; [2, 3): null; then enum ranges
  std::vector<ByteSet> first;         // per node: the bytes a value of it can start with
  int32_t root = 0;
};

// One level of a parse stack. A trivial type (no padding, always value-initialized as
// Frame{}) so that stacks are copied with memcpy.
struct Frame {
  int32_t node;   // schema node
  int32_t count;  // items / characters / bytes read / extra keys, by mode
  int32_t a;      // mode-specific (candidate range begin, value node, \u value)
  int32_t b;      // mode-specific (candidate range end)
  uint8_t mode;
  uint8_t phase;
  uint8_t ws;   // whitespace bytes in the current gap (at most 1)
  uint8_t aux;  // UTF-8 / escape progress
  int32_t unused;
  uint64_t bits;  // seen properties / key hash
  friend bool operator==(const Frame&, const Frame&) = default;
};

// Parallel parses ("threads", one per live anyOf alternative), stored flat so that a
// copy is a few memcpys and reuses the destination's buffers.
struct State {
  std::vector<Frame> frames;         // every thread's stack, bottom first, concatenated
  std::vector<uint64_t> keys;        // hashes of free-form keys seen, per thread, concatenated
  std::vector<uint32_t> frame_ends;  // per thread: end of its frames
  std::vector<uint32_t> key_ends;    // per thread: end of its keys
};
}  // namespace json_constraint_detail

struct JsonConstraintOptions {
  // Ignore assertion keywords the matcher cannot enforce instead of failing.
  bool ignore_unsupported_keywords = false;
};

class JsonSchemaMatcher {
 public:
  // Compiles `schema`; INVALID_ARGUMENT naming the schema path when it is broken or uses
  // an unsupported keyword (see the top of this file).
  static Result<JsonSchemaMatcher> Create(const nlohmann::json& schema, const JsonConstraintOptions& options = {});

  // Advances by one byte. False (state unchanged) when no valid value continues this way.
  bool Accept(uint8_t byte);
  // All of `bytes` or none of them.
  bool AcceptBytes(std::string_view bytes);
  // Whether AcceptBytes(bytes) would succeed; the state is unchanged.
  bool CanAccept(std::string_view bytes) const;
  // The state after `byte` written to *next (reusing its buffers); false when rejected,
  // and then *next is unspecified. `next` must not be this.
  bool AcceptTo(uint8_t byte, JsonSchemaMatcher* next) const;
  // A whole valid value has been read (trailing whitespace allowed). The value may still
  // go on (a number at top level, one more whitespace byte).
  bool Complete() const;
  // Back to the state before the first byte.
  void Reset();

  // Walking hints for TokenConstraint, both exact in the direction stated.
  //  may_accept: a byte whose bit is clear is rejected (a set bit proves nothing).
  //  plain_run: any sequence of up to plain_run "plain" bytes (printable ASCII other than
  //  '"' and '\\') is accepted, and so is any single UTF-8 lead byte when plain_run > 0
  //  (0 when nothing is known; INT32_MAX for no limit).
  struct Hints {
    std::array<uint64_t, 4> may_accept{};
    int32_t plain_run = 0;
    bool MayAccept(uint8_t byte) const { return (may_accept[byte >> 6] >> (byte & 63)) & 1; }
  };
  Hints GetHints() const;

  // Live alternatives (parallel parses of anyOf branches); 1 for a schema without anyOf.
  int alternatives() const { return static_cast<int>(state_.frame_ends.size()); }

 private:
  explicit JsonSchemaMatcher(std::shared_ptr<const json_constraint_detail::Schema> schema);

  std::shared_ptr<const json_constraint_detail::Schema> schema_;
  json_constraint_detail::State state_;
};

// A byte trie over a vocabulary (token id -> bytes), built once per tokenizer.
class TokenTrie {
 public:
  // `token_bytes[id]` is token id's bytes; ids in `excluded` (special tokens such as
  // <tool_call> and <|im_end|>) and empty strings are never matched as JSON text.
  static std::shared_ptr<const TokenTrie> Build(const std::vector<std::string>& token_bytes,
                                                std::span<const int32_t> excluded = {});
  // Every token of `tokenizer` except its added tokens.
  static std::shared_ptr<const TokenTrie> FromTokenizer(const Tokenizer& tokenizer);

  int vocab_size() const { return vocab_size_; }
  size_t num_nodes() const { return nodes_.size(); }
  int max_token_bytes() const { return max_depth_; }

 private:
  friend class TokenConstraint;
  struct Edge {
    uint8_t byte;
    int32_t child;
  };
  struct Node {
    int32_t edge_begin = 0, edge_end = 0;  // into edges_
    int32_t own_begin = 0, own_end = 0;    // into order_: tokens that end here
    int32_t sub_end = 0;                   // order_[own_begin, sub_end): tokens in the subtree
    int32_t plain_len = -1;                // edge into this node and everything below plain: 1 + height
  };
  int32_t BuildNode(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t lo, size_t hi,
                    size_t depth, bool edge_plain);

  int vocab_size_ = 0;
  int max_depth_ = 0;
  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<Edge> edges_;
  std::vector<int32_t> order_;  // token ids in trie (sorted byte) order
  std::vector<std::string> tokens_;  // by id; empty for excluded tokens
};

class TokenConstraint {
 public:
  // `end_tokens` (e.g. </tool_call>) are allowed exactly when the value is Complete() and
  // are never read as JSON text. INVALID_ARGUMENT if an end token is outside the vocab.
  static Result<TokenConstraint> Create(JsonSchemaMatcher matcher, std::shared_ptr<const TokenTrie> trie,
                                        std::vector<int32_t> end_tokens);
  // Convenience: builds the trie from `token_bytes` (index = token id), leaving out
  // `special_tokens`.
  static Result<TokenConstraint> Create(JsonSchemaMatcher matcher, const std::vector<std::string>& token_bytes,
                                        const std::vector<int32_t>& special_tokens,
                                        std::vector<int32_t> end_tokens);

  // mask->size() becomes vocab_size(); (*mask)[id] = 1 iff token id may come next. All
  // zero after an end token was accepted.
  void AllowedTokens(std::vector<uint8_t>* mask) const;
  // Sets the logits of disallowed tokens to -infinity (ids at or past vocab_size() are
  // disallowed too).
  void MaskLogits(std::span<float> logits) const;
  // Advances by one token: OK if it was allowed; INVALID_ARGUMENT (state unchanged)
  // otherwise; FAILED_PRECONDITION after the end token.
  Status Accept(int32_t token);

  bool Complete() const { return matcher_.Complete(); }
  bool finished() const { return finished_; }  // an end token was accepted
  const JsonSchemaMatcher& matcher() const { return matcher_; }
  int vocab_size() const { return vocab_size_; }

 private:
  TokenConstraint(JsonSchemaMatcher matcher, std::shared_ptr<const TokenTrie> trie, std::vector<int32_t> end_tokens);
  void Walk(int32_t node, const JsonSchemaMatcher& state, int depth, uint8_t* mask) const;
  bool IsEnd(int32_t token) const;

  JsonSchemaMatcher matcher_;
  std::shared_ptr<const TokenTrie> trie_;
  std::vector<int32_t> end_tokens_;
  int vocab_size_ = 0;
  bool finished_ = false;
  mutable std::vector<JsonSchemaMatcher> scratch_;  // one per trie depth
};

// The schema of a tool-call body for the given (name, parameters schema) pairs:
// {"anyOf": [{"type": "object", "properties": {"name": {"const": NAME}, "arguments":
// PARAMS}, "required": ["name", "arguments"], "additionalProperties": false}, ...]}.
// A null PARAMS stands for {"type": "object", "properties": {}} (no arguments). An empty
// tool list gives {"anyOf": []}, which JsonSchemaMatcher::Create rejects.
nlohmann::json ToolCallSchema(const std::vector<std::pair<std::string, nlohmann::json>>& tools);

}  // namespace tide::engine
