// Schema compilation (JsonSchemaMatcher::Create), TokenTrie, TokenConstraint and
// ToolCallSchema; the matcher itself is json_constraint_matcher.cc.
//
// A compiled schema is a graph of nodes (anyOf nodes hold their flattened leaf branches;
// the "any value" node refers to itself). Every node accepts at least one value (broken
// or unsatisfiable schemas are errors), which the matcher's guarantee relies on.
//
// AllowedTokens walks the vocabulary trie depth first with the matcher state after each
// prefix (one reused scratch matcher per depth), pruning a subtree as soon as its edge
// byte is rejected. Two shortcuts keep string contents cheap: a byte the matcher's hints
// rule out is skipped without stepping, and inside a string a subtree made only of plain
// bytes (printable ASCII other than '"' and '\\') no deeper than the string's remaining
// length is marked whole.
#include "tide/engine/json_constraint.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "tide/engine/tokenizer.h"

namespace tide::engine {
namespace {

using json = nlohmann::json;
using namespace json_constraint_detail;  // NOLINT: Schema, Node, ByteSet, type bits

constexpr int kMaxSchemaDepth = 24;

bool IsPlain(uint8_t c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

std::string Printable(std::string_view bytes) {
  return nlohmann::json(std::string(bytes)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------
// Compilation

const char* const kUnsupported[] = {
    "minimum",   "maximum",         "exclusiveMinimum",  "exclusiveMaximum",     "multipleOf",
    "pattern",   "patternProperties", "propertyNames",   "$ref",                 "allOf",
    "not",       "if",              "then",              "else",                 "prefixItems",
    "contains",  "minContains",     "maxContains",       "uniqueItems",          "minProperties",
    "maxProperties", "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties",
    "unevaluatedItems", "additionalItems", "$dynamicRef", "$recursiveRef"};

// Keywords that constrain the value itself and so cannot stand beside anyOf/oneOf.
const char* const kStructural[] = {"type",     "properties", "required",  "additionalProperties",
                                   "enum",     "const",      "items",     "minItems",
                                   "maxItems", "minLength",  "maxLength"};

Status Err(const std::string& path, const std::string& message) { return InvalidArgument(path + ": " + message); }

uint8_t TypeBitOf(const std::string& name) {
  if (name == "object") return kTObject;
  if (name == "array") return kTArray;
  if (name == "string") return kTString;
  if (name == "number") return kTNumber;
  if (name == "integer") return kTInteger;
  if (name == "boolean") return kTBoolean;
  if (name == "null") return kTNull;
  return 0;
}

// Code points of valid UTF-8 (the bytes that are not continuation bytes).
int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The text between the quotes of dump(); nullopt-like empty flag on invalid UTF-8.
bool DumpString(const std::string& s, std::string* out) {
  try {
    std::string d = json(s).dump();
    *out = d.substr(1, d.size() - 2);
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

class Compiler {
 public:
  Compiler(const JsonConstraintOptions& options, Schema* schema) : options_(options), s_(schema) {
    s_->literals = {"false", "true", "null"};
  }

  Result<int32_t> Compile(const json& j, const std::string& path, int depth) {
    if (j.is_boolean()) {
      if (j.get<bool>()) return AnyNode();
      return Err(path, "the schema false accepts no value");
    }
    if (!j.is_object()) return Err(path, "a schema must be an object or a boolean, got " + Short(j));
    if (depth > kMaxSchemaDepth) return Err(path, "schema nested deeper than 24 levels");
    if (!options_.ignore_unsupported_keywords) {
      for (const char* k : kUnsupported) {
        auto it = j.find(k);
        if (it == j.end()) continue;
        if (std::string_view(k) == "uniqueItems" && *it == false) continue;
        return Err(path + "." + k, "keyword not supported by constrained decoding");
      }
    }
    const bool any_of = j.contains("anyOf"), one_of = j.contains("oneOf");
    if (any_of || one_of) return CompileAlternatives(j, path, depth, any_of, one_of);

    Node node;
    bool typed = false;
    if (auto it = j.find("type"); it != j.end()) {
      typed = true;
      node.types = 0;
      const std::string p = path + ".type";
      auto add = [&](const json& name, const std::string& at) -> Status {
        if (!name.is_string()) return Err(at, "must be a type name, got " + Short(name));
        const uint8_t bit = TypeBitOf(name.get<std::string>());
        if (bit == 0) return Err(at, "unknown type " + Short(name));
        node.types |= bit;
        return Status::Ok();
      };
      if (it->is_string()) {
        TIDE_RETURN_IF_ERROR(add(*it, p));
      } else if (it->is_array() && !it->empty()) {
        for (size_t i = 0; i < it->size(); ++i) TIDE_RETURN_IF_ERROR(add((*it)[i], p + "[" + std::to_string(i) + "]"));
      } else {
        return Err(p, "must be a type name or a non-empty array of them");
      }
    }
    TIDE_RETURN_IF_ERROR(Count(j, "minLength", path, &node.min_len));
    TIDE_RETURN_IF_ERROR(Count(j, "maxLength", path, &node.max_len));
    if (node.min_len > node.max_len) return Err(path, "minLength is greater than maxLength");
    TIDE_RETURN_IF_ERROR(Count(j, "minItems", path, &node.min_items));
    TIDE_RETURN_IF_ERROR(Count(j, "maxItems", path, &node.max_items));
    if (node.min_items > node.max_items) return Err(path, "minItems is greater than maxItems");

    if (j.contains("enum") || j.contains("const")) {
      TIDE_RETURN_IF_ERROR(CompileEnum(j, path, &node));
      return Add(std::move(node));
    }
    if (node.types & kTObject) TIDE_RETURN_IF_ERROR(CompileObject(j, path, depth, typed, &node));
    if (node.types & kTArray) {
      if (auto it = j.find("items"); it != j.end()) {
        if (it->is_array()) return Err(path + ".items", "the array (tuple) form is not supported");
        TIDE_ASSIGN_OR_RETURN(node.items, Compile(*it, path + ".items", depth + 1));
      } else {
        node.items = AnyNode();
      }
    }
    return Add(std::move(node));
  }

 private:
  static std::string Short(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return s;
  }

  int32_t Add(Node node) {
    s_->nodes.push_back(std::move(node));
    return static_cast<int32_t>(s_->nodes.size() - 1);
  }

  // Any JSON value: every type, free-form objects and arrays of any values.
  int32_t AnyNode() {
    if (any_ < 0) {
      any_ = Add(Node{});
      s_->nodes[any_].additional = any_;
      s_->nodes[any_].items = any_;
    }
    return any_;
  }

  static Status Count(const json& j, const char* key, const std::string& path, int32_t* out) {
    auto it = j.find(key);
    if (it == j.end()) return Status::Ok();
    if (it->is_number_unsigned()) {
      *out = static_cast<int32_t>(std::min<uint64_t>(it->get<uint64_t>(), INT32_MAX));
      return Status::Ok();
    }
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return Err(path + "." + key, "must be a non-negative integer, got " + Short(*it));
    }
    *out = static_cast<int32_t>(std::min<int64_t>(it->get<int64_t>(), INT32_MAX));
    return Status::Ok();
  }

  Result<int32_t> CompileAlternatives(const json& j, const std::string& path, int depth, bool any_of, bool one_of) {
    if (any_of && one_of) return Err(path, "anyOf together with oneOf is not supported");
    const std::string kw = any_of ? "anyOf" : "oneOf";
    for (const char* k : kStructural) {
      if (j.contains(k)) return Err(path + "." + k, "not supported beside " + kw);
    }
    const json& alts = j[kw];
    if (!alts.is_array() || alts.empty()) return Err(path + "." + kw, "must be a non-empty array of schemas");
    std::vector<int32_t> leaves;
    for (size_t i = 0; i < alts.size(); ++i) {
      TIDE_ASSIGN_OR_RETURN(int32_t n, Compile(alts[i], path + "." + kw + "[" + std::to_string(i) + "]", depth + 1));
      const std::vector<int32_t> sub = s_->nodes[n].leaves.empty() ? std::vector<int32_t>{n} : s_->nodes[n].leaves;
      for (int32_t l : sub) {
        if (std::find(leaves.begin(), leaves.end(), l) == leaves.end()) leaves.push_back(l);
      }
    }
    if (leaves.size() == 1) return leaves[0];
    Node node;
    node.leaves = std::move(leaves);
    return Add(std::move(node));
  }

  Status CompileEnum(const json& j, const std::string& path, Node* node) {
    std::vector<std::pair<json, std::string>> values;  // value, its path
    auto enum_it = j.find("enum");
    auto const_it = j.find("const");
    if (enum_it != j.end()) {
      if (!enum_it->is_array() || enum_it->empty()) return Err(path + ".enum", "must be a non-empty array");
      for (size_t i = 0; i < enum_it->size(); ++i) {
        values.emplace_back((*enum_it)[i], path + ".enum[" + std::to_string(i) + "]");
      }
    }
    if (const_it != j.end()) {
      if (enum_it == j.end()) {
        values.emplace_back(*const_it, path + ".const");
      } else {
        std::erase_if(values, [&](const auto& v) { return v.first != *const_it; });
      }
    }
    std::vector<std::string> texts;
    for (const auto& [v, at] : values) {
      if (v.is_object() || v.is_array()) return Err(at, "only scalar values are supported, got " + Short(v));
      if (!Fits(v, *node)) continue;
      std::string text;
      if (v.is_string()) {
        if (!DumpString(v.get<std::string>(), &text)) return Err(at, "string is not valid UTF-8");
        text = "\"" + text + "\"";
      } else {
        text = v.dump();
      }
      texts.push_back(std::move(text));
    }
    if (texts.empty()) {
      return Err(path + (enum_it != j.end() ? ".enum" : ".const"),
                 "no value matches the schema's type and length limits");
    }
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    node->lit_begin = static_cast<int32_t>(s_->literals.size());
    for (std::string& t : texts) s_->literals.push_back(std::move(t));
    node->lit_end = static_cast<int32_t>(s_->literals.size());
    return Status::Ok();
  }

  static bool Fits(const json& v, const Node& node) {
    if (v.is_string()) {
      const int64_t n = CodePoints(v.get<std::string>());
      return (node.types & kTString) && n >= node.min_len && n <= node.max_len;
    }
    if (v.is_boolean()) return node.types & kTBoolean;
    if (v.is_null()) return node.types & kTNull;
    if (v.is_number_integer()) return node.types & (kTInteger | kTNumber);
    return node.types & kTNumber;  // float: written with '.' or 'e', never an integer token
  }

  Status CompileObject(const json& j, const std::string& path, int depth, bool typed, Node* node) {
    std::vector<std::pair<std::string, int32_t>> props;  // dumped name, node
    std::vector<std::string> raw_names;
    if (auto it = j.find("properties"); it != j.end()) {
      if (!it->is_object()) return Err(path + ".properties", "must be an object of schemas");
      for (const auto& [name, sub] : it->items()) {
        const std::string at = path + ".properties." + name;
        std::string text;
        if (!DumpString(name, &text)) return Err(at, "property name is not valid UTF-8");
        TIDE_ASSIGN_OR_RETURN(int32_t n, Compile(sub, at, depth + 1));
        props.emplace_back(std::move(text), n);
        raw_names.push_back(name);
      }
    }
    if (auto it = j.find("additionalProperties"); it != j.end()) {
      if (it->is_boolean()) {
        node->additional = it->get<bool>() ? AnyNode() : -1;
      } else if (it->is_object()) {
        TIDE_ASSIGN_OR_RETURN(node->additional, Compile(*it, path + ".additionalProperties", depth + 1));
      } else {
        return Err(path + ".additionalProperties", "must be a boolean or a schema");
      }
    } else {
      const bool mentions_object = typed || j.contains("properties") || j.contains("required");
      node->additional = mentions_object ? -1 : AnyNode();
    }
    std::vector<std::string> required;
    if (auto it = j.find("required"); it != j.end()) {
      if (!it->is_array()) return Err(path + ".required", "must be an array of strings");
      for (size_t i = 0; i < it->size(); ++i) {
        const std::string at = path + ".required[" + std::to_string(i) + "]";
        const json& r = (*it)[i];
        if (!r.is_string()) return Err(at, "must be a string, got " + Short(r));
        const std::string name = r.get<std::string>();
        std::string text;
        if (!DumpString(name, &text)) return Err(at, "not valid UTF-8");
        if (std::find(raw_names.begin(), raw_names.end(), name) == raw_names.end()) {
          if (node->additional < 0) {
            return Err(at, "\"" + text + "\" is not in properties and additionalProperties is false");
          }
          props.emplace_back(text, node->additional);
          raw_names.push_back(name);
        }
        required.push_back(std::move(text));
      }
    }
    if (props.size() > 64) return Err(path + ".properties", "more than 64 properties");
    std::sort(props.begin(), props.end());
    for (auto& [text, n] : props) {
      if (std::find(required.begin(), required.end(), text) != required.end()) {
        node->required |= uint64_t{1} << node->names.size();
      }
      node->names.push_back(text);
      node->prop_nodes.push_back(n);
    }
    return Status::Ok();
  }

  const JsonConstraintOptions& options_;
  Schema* s_;
  int32_t any_ = -1;
};

void ComputeFirstBytes(Schema* s) {
  s->first.assign(s->nodes.size(), ByteSet{});
  for (size_t i = 0; i < s->nodes.size(); ++i) {
    const Node& n = s->nodes[i];
    ByteSet& f = s->first[i];
    if (!n.leaves.empty()) continue;
    if (n.lit_begin >= 0) {
      for (int32_t l = n.lit_begin; l < n.lit_end; ++l) f.Add(static_cast<uint8_t>(s->literals[l][0]));
      continue;
    }
    if (n.types & kTObject) f.Add('{');
    if (n.types & kTArray) f.Add('[');
    if (n.types & kTString) f.Add('"');
    if (n.types & (kTNumber | kTInteger)) f.Add("-0123456789");
    if (n.types & kTBoolean) f.Add("tf");
    if (n.types & kTNull) f.Add('n');
  }
  for (size_t i = 0; i < s->nodes.size(); ++i) {
    for (int32_t leaf : s->nodes[i].leaves) s->first[i].Or(s->first[leaf]);
  }
}

}  // namespace

Result<JsonSchemaMatcher> JsonSchemaMatcher::Create(const nlohmann::json& schema,
                                                     const JsonConstraintOptions& options) {
  auto compiled = std::make_shared<Schema>();
  Compiler compiler(options, compiled.get());
  TIDE_ASSIGN_OR_RETURN(compiled->root, compiler.Compile(schema, "$", 0));
  ComputeFirstBytes(compiled.get());
  return JsonSchemaMatcher(std::move(compiled));
}

// ---------------------------------------------------------------------------------------
// TokenTrie

std::shared_ptr<const TokenTrie> TokenTrie::Build(const std::vector<std::string>& token_bytes,
                                                  std::span<const int32_t> excluded) {
  auto trie = std::shared_ptr<TokenTrie>(new TokenTrie());
  trie->vocab_size_ = static_cast<int>(token_bytes.size());
  trie->tokens_ = token_bytes;
  for (int32_t id : excluded) {
    if (id >= 0 && id < trie->vocab_size_) trie->tokens_[id].clear();
  }
  std::vector<std::pair<std::string_view, int32_t>> sorted;
  for (int32_t id = 0; id < trie->vocab_size_; ++id) {
    if (!trie->tokens_[id].empty()) sorted.emplace_back(trie->tokens_[id], id);
  }
  std::sort(sorted.begin(), sorted.end());
  trie->order_.reserve(sorted.size());
  for (const auto& [bytes, id] : sorted) trie->order_.push_back(id);
  trie->BuildNode(sorted, 0, sorted.size(), 0, false);
  return trie;
}

std::shared_ptr<const TokenTrie> TokenTrie::FromTokenizer(const Tokenizer& tokenizer) {
  std::vector<std::string> bytes(static_cast<size_t>(std::max(tokenizer.vocab_size(), 0)));
  std::vector<int32_t> excluded;
  for (int32_t id = 0; id < static_cast<int32_t>(bytes.size()); ++id) {
    if (tokenizer.IsAddedToken(id)) {
      excluded.push_back(id);
    } else {
      bytes[id] = std::string(tokenizer.TokenBytes(id));
    }
  }
  return Build(bytes, excluded);
}

int32_t TokenTrie::BuildNode(const std::vector<std::pair<std::string_view, int32_t>>& sorted, size_t lo, size_t hi,
                             size_t depth, bool edge_plain) {
  const int32_t idx = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back();
  max_depth_ = std::max(max_depth_, static_cast<int>(depth));
  size_t i = lo;
  while (i < hi && sorted[i].first.size() == depth) ++i;
  nodes_[idx].own_begin = static_cast<int32_t>(lo);
  nodes_[idx].own_end = static_cast<int32_t>(i);
  nodes_[idx].sub_end = static_cast<int32_t>(hi);
  std::vector<std::pair<size_t, size_t>> groups;
  for (size_t j = i; j < hi;) {
    const char b = sorted[j].first[depth];
    size_t k = j + 1;
    while (k < hi && sorted[k].first[depth] == b) ++k;
    groups.emplace_back(j, k);
    j = k;
  }
  const int32_t eb = static_cast<int32_t>(edges_.size());
  edges_.resize(edges_.size() + groups.size());
  nodes_[idx].edge_begin = eb;
  nodes_[idx].edge_end = eb + static_cast<int32_t>(groups.size());
  bool all_plain = true;
  int32_t height = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const uint8_t b = static_cast<uint8_t>(sorted[groups[g].first].first[depth]);
    const int32_t child = BuildNode(sorted, groups[g].first, groups[g].second, depth + 1, IsPlain(b));
    edges_[eb + g] = Edge{b, child};
    const int32_t cp = nodes_[child].plain_len;
    if (cp < 0) {
      all_plain = false;
    } else {
      height = std::max(height, cp);
    }
  }
  nodes_[idx].plain_len = edge_plain && all_plain ? 1 + height : -1;
  return idx;
}

// ---------------------------------------------------------------------------------------
// TokenConstraint

TokenConstraint::TokenConstraint(JsonSchemaMatcher matcher, std::shared_ptr<const TokenTrie> trie,
                                 std::vector<int32_t> end_tokens)
    : matcher_(std::move(matcher)), trie_(std::move(trie)), end_tokens_(std::move(end_tokens)) {
  vocab_size_ = trie_->vocab_size();
  scratch_.assign(static_cast<size_t>(trie_->max_token_bytes()) + 1, matcher_);
}

Result<TokenConstraint> TokenConstraint::Create(JsonSchemaMatcher matcher, std::shared_ptr<const TokenTrie> trie,
                                                std::vector<int32_t> end_tokens) {
  if (trie == nullptr) return InvalidArgument("TokenConstraint: no vocabulary trie");
  for (int32_t id : end_tokens) {
    if (id < 0 || id >= trie->vocab_size()) {
      return InvalidArgument("TokenConstraint: end token " + std::to_string(id) + " is outside the vocabulary of " +
                             std::to_string(trie->vocab_size()));
    }
  }
  std::sort(end_tokens.begin(), end_tokens.end());
  end_tokens.erase(std::unique(end_tokens.begin(), end_tokens.end()), end_tokens.end());
  return TokenConstraint(std::move(matcher), std::move(trie), std::move(end_tokens));
}

Result<TokenConstraint> TokenConstraint::Create(JsonSchemaMatcher matcher, const std::vector<std::string>& token_bytes,
                                                const std::vector<int32_t>& special_tokens,
                                                std::vector<int32_t> end_tokens) {
  return Create(std::move(matcher), TokenTrie::Build(token_bytes, special_tokens), std::move(end_tokens));
}

bool TokenConstraint::IsEnd(int32_t token) const {
  return std::binary_search(end_tokens_.begin(), end_tokens_.end(), token);
}

void TokenConstraint::Walk(int32_t node_index, const JsonSchemaMatcher& state, int depth, uint8_t* mask) const {
  const TokenTrie& t = *trie_;
  const TokenTrie::Node& node = t.nodes_[node_index];
  const JsonSchemaMatcher::Hints hints = state.GetHints();
  auto mark = [&](int32_t begin, int32_t end) {
    for (int32_t i = begin; i < end; ++i) mask[t.order_[i]] = 1;
  };
  for (int32_t e = node.edge_begin; e < node.edge_end; ++e) {
    const uint8_t b = t.edges_[e].byte;
    if (!hints.MayAccept(b)) continue;
    const TokenTrie::Node& child = t.nodes_[t.edges_[e].child];
    const bool leaf = child.edge_begin == child.edge_end;
    if (hints.plain_run > 0) {
      if (child.plain_len > 0 && child.plain_len <= hints.plain_run) {
        mark(child.own_begin, child.sub_end);
        continue;
      }
      if (leaf && b >= 0xC2 && b <= 0xF4) {  // a lone UTF-8 lead byte
        mark(child.own_begin, child.own_end);
        continue;
      }
    }
    JsonSchemaMatcher& next = scratch_[depth];
    if (!state.AcceptTo(b, &next)) continue;
    mark(child.own_begin, child.own_end);
    if (!leaf) Walk(t.edges_[e].child, next, depth + 1, mask);
  }
}

void TokenConstraint::AllowedTokens(std::vector<uint8_t>* mask) const {
  mask->assign(static_cast<size_t>(vocab_size_), 0);
  if (finished_) return;
  Walk(0, matcher_, 0, mask->data());
  const uint8_t complete = matcher_.Complete() ? 1 : 0;
  for (int32_t id : end_tokens_) (*mask)[id] = complete;
}

void TokenConstraint::MaskLogits(std::span<float> logits) const {
  thread_local std::vector<uint8_t> mask;
  AllowedTokens(&mask);
  const float ninf = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (i >= mask.size() || !mask[i]) logits[i] = ninf;
  }
}

Status TokenConstraint::Accept(int32_t token) {
  if (finished_) return FailedPrecondition("TokenConstraint: the JSON value has already ended");
  if (token < 0 || token >= vocab_size_) {
    return InvalidArgument("TokenConstraint: token " + std::to_string(token) + " is outside the vocabulary");
  }
  if (IsEnd(token)) {
    if (!matcher_.Complete()) {
      return InvalidArgument("TokenConstraint: end token " + std::to_string(token) +
                             " before the JSON value is complete");
    }
    finished_ = true;
    return Status::Ok();
  }
  const std::string& bytes = trie_->tokens_[token];
  if (bytes.empty()) {
    return InvalidArgument("TokenConstraint: token " + std::to_string(token) + " is special or empty");
  }
  if (!matcher_.AcceptBytes(bytes)) {
    return InvalidArgument("TokenConstraint: token " + std::to_string(token) + " " + Printable(bytes) +
                           " cannot continue the JSON value");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// ToolCallSchema

nlohmann::json ToolCallSchema(const std::vector<std::pair<std::string, nlohmann::json>>& tools) {
  nlohmann::json alternatives = nlohmann::json::array();
  for (const auto& [name, params] : tools) {
    nlohmann::json p = params.is_null() ? nlohmann::json{{"type", "object"}, {"properties", nlohmann::json::object()}}
                                        : params;
    alternatives.push_back({{"type", "object"},
                            {"properties", {{"name", {{"const", name}}}, {"arguments", std::move(p)}}},
                            {"required", nlohmann::json::array({"name", "arguments"})},
                            {"additionalProperties", false}});
  }
  return {{"anyOf", std::move(alternatives)}};
}

}  // namespace tide::engine
