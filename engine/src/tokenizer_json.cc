#include "tide/engine/tokenizer_json.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tide::engine {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  Status Error(std::string_view field, std::string_view what) const {
    return InvalidArgument(source_ + ": " + std::string(field) + ": " + std::string(what));
  }
  Status Unsupported(std::string_view field, std::string_view what) const {
    return Unimplemented(source_ + ": " + std::string(field) + ": " + std::string(what));
  }

  // A field that may be absent or null; nullptr then.
  static const json* Optional(const json& object, const char* key) {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }

  // A component (normalizer, decoder, ...) must be absent/null or of type `type` (only
  // absent/null when `type` is nullptr).
  Status CheckComponent(const json& root, const char* key, const char* type) const {
    const json* c = Optional(root, key);
    if (c == nullptr) return Status::Ok();
    if (!c->is_object()) return Error(key, "must be an object or null");
    const json* t = Optional(*c, "type");
    if (t == nullptr || !t->is_string()) return Error(std::string(key) + ".type", "missing or not a string");
    if (type == nullptr || t->get<std::string>() != type) {
      return Unsupported(std::string(key) + ".type",
                         "\"" + t->get<std::string>() + "\" is not supported" +
                             (type ? std::string(" (only ") + type + ")" : std::string(" (only null)")));
    }
    return Status::Ok();
  }

  Status CheckPreTokenizer(const json& root) const {
    TIDE_RETURN_IF_ERROR(CheckComponent(root, "pre_tokenizer", "ByteLevel"));
    const json* p = Optional(root, "pre_tokenizer");
    if (p == nullptr) return Unsupported("pre_tokenizer", "must be ByteLevel (null is not supported)");
    if (const json* a = Optional(*p, "add_prefix_space"); a != nullptr && (!a->is_boolean() || a->get<bool>())) {
      return Unsupported("pre_tokenizer.add_prefix_space", "must be false");
    }
    if (const json* r = Optional(*p, "use_regex"); r != nullptr && (!r->is_boolean() || !r->get<bool>())) {
      return Unsupported("pre_tokenizer.use_regex", "must be true (the GPT-2 split)");
    }
    return Status::Ok();
  }

  Status CheckModelOptions(const json& model) const {
    if (const json* t = Optional(model, "type"); t != nullptr && (!t->is_string() || t->get<std::string>() != "BPE")) {
      return Unsupported("model.type", t->dump() + " is not supported (only \"BPE\")");
    }
    if (const json* d = Optional(model, "dropout"); d != nullptr && !(d->is_number() && d->get<double>() == 0.0)) {
      return Unsupported("model.dropout", "BPE dropout is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json* v = Optional(model, key);
      if (v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
        return Unsupported(std::string("model.") + key, "must be empty or null");
      }
    }
    if (const json* b = Optional(model, "byte_fallback"); b != nullptr && (!b->is_boolean() || b->get<bool>())) {
      return Unsupported("model.byte_fallback", "must be false");
    }
    return Status::Ok();
  }

  Result<TokenId> Id(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) return Error(field, "must be an integer, got " + v.dump());
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id > INT32_MAX) return Error(field, "id " + std::to_string(id) + " is out of range");
    return static_cast<TokenId>(id);
  }

  Result<std::string> Bytes(const std::string& token, const std::string& field) const {
    Result<std::string> bytes = ByteLevelDecode(token);
    if (!bytes.ok()) return Error(field, "token \"" + token + "\": " + bytes.status().message());
    return bytes;
  }

  Status ReadVocab(const json& model, BpeModelSpec* spec) const {
    const json* vocab = Optional(model, "vocab");
    if (vocab == nullptr || !vocab->is_object()) return Error("model.vocab", "missing or not an object");
    spec->vocab.reserve(vocab->size());
    for (const auto& [token, id_json] : vocab->items()) {
      TIDE_ASSIGN_OR_RETURN(TokenId id, Id(id_json, "model.vocab[\"" + token + "\"]"));
      TIDE_ASSIGN_OR_RETURN(std::string bytes, Bytes(token, "model.vocab"));
      spec->vocab.emplace_back(std::move(bytes), id);
    }
    return Status::Ok();
  }

  Status ReadMerges(const json& model, BpeModelSpec* spec) const {
    const json* merges = Optional(model, "merges");
    if (merges == nullptr) return Status::Ok();
    if (!merges->is_array()) return Error("model.merges", "must be an array");
    spec->merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const json& m = (*merges)[i];
      const std::string field = "model.merges[" + std::to_string(i) + "]";
      std::string left, right;
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          return Error(field, "\"" + s + "\" is not two tokens separated by one space");
        }
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        return Error(field, "must be \"a b\" or [\"a\", \"b\"], got " + m.dump());
      }
      TIDE_ASSIGN_OR_RETURN(std::string l, Bytes(left, field));
      TIDE_ASSIGN_OR_RETURN(std::string r, Bytes(right, field));
      spec->merges.emplace_back(std::move(l), std::move(r));
    }
    return Status::Ok();
  }

  Result<std::vector<AddedToken>> ReadAddedTokens(const json& root) const {
    std::vector<AddedToken> out;
    const json* added = Optional(root, "added_tokens");
    if (added == nullptr) return out;
    if (!added->is_array()) return Error("added_tokens", "must be an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json& a = (*added)[i];
      const std::string field = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object()) return Error(field, "must be an object");
      const json* id = Optional(a, "id");
      if (id == nullptr) return Error(field + ".id", "missing");
      AddedToken token;
      TIDE_ASSIGN_OR_RETURN(token.id, Id(*id, field + ".id"));
      const json* content = Optional(a, "content");
      if (content == nullptr || !content->is_string() || content->get_ref<const std::string&>().empty()) {
        return Error(field + ".content", "missing, empty or not a string");
      }
      token.content = content->get<std::string>();
      token.special = false;
      if (const json* s = Optional(a, "special")) {
        if (!s->is_boolean()) return Error(field + ".special", "must be a boolean");
        token.special = s->get<bool>();
      }
      out.push_back(std::move(token));
    }
    return out;
  }

 private:
  std::string source_;
};

ordered_json ByteLevelComponent(bool add_prefix_space, bool trim_offsets) {
  return ordered_json{{"type", "ByteLevel"},
                      {"add_prefix_space", add_prefix_space},
                      {"trim_offsets", trim_offsets},
                      {"use_regex", true}};
}

}  // namespace

Result<Tokenizer> TokenizerFromJson(const json& j, std::string_view source) {
  Reader r(source);
  if (!j.is_object()) return r.Error("(root)", "must be a JSON object");
  TIDE_RETURN_IF_ERROR(r.CheckComponent(j, "normalizer", nullptr));
  TIDE_RETURN_IF_ERROR(r.CheckPreTokenizer(j));
  TIDE_RETURN_IF_ERROR(r.CheckComponent(j, "decoder", "ByteLevel"));
  const json* model = Reader::Optional(j, "model");
  if (model == nullptr || !model->is_object()) return r.Error("model", "missing or not an object");
  TIDE_RETURN_IF_ERROR(r.CheckModelOptions(*model));
  BpeModelSpec spec;
  if (const json* im = Reader::Optional(*model, "ignore_merges")) {
    if (!im->is_boolean()) return r.Error("model.ignore_merges", "must be a boolean");
    spec.ignore_merges = im->get<bool>();
  }
  TIDE_RETURN_IF_ERROR(r.ReadVocab(*model, &spec));
  TIDE_RETURN_IF_ERROR(r.ReadMerges(*model, &spec));
  TIDE_ASSIGN_OR_RETURN(std::vector<AddedToken> added, r.ReadAddedTokens(j));
  Result<Tokenizer> tokenizer = Tokenizer::Create(std::move(spec), std::move(added));
  if (!tokenizer.ok()) return tokenizer.status().WithContext(source);
  return tokenizer;
}

Result<Tokenizer> ParseTokenizerJson(std::string_view text, std::string_view source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return InvalidArgument(std::string(source) + ": not valid JSON: " + e.what());
  }
  return TokenizerFromJson(j, source);
}

Result<Tokenizer> LoadTokenizerJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open tokenizer file");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError(path + ": read failed");
  return ParseTokenizerJson(buf.str(), path);
}

Result<std::string> TokenizerToJsonText(const Tokenizer& tokenizer) {
  ordered_json added = ordered_json::array();
  for (const AddedToken& a : tokenizer.added_tokens()) {
    added.push_back(ordered_json{{"id", a.id},
                                 {"content", a.content},
                                 {"single_word", false},
                                 {"lstrip", false},
                                 {"rstrip", false},
                                 {"normalized", false},
                                 {"special", a.special}});
  }
  ordered_json vocab = ordered_json::object();
  for (const auto& [bytes, id] : tokenizer.Vocab()) vocab[ByteLevelEncode(bytes)] = id;
  ordered_json merges = ordered_json::array();
  for (const auto& [l, r] : tokenizer.merges()) {
    merges.push_back(ByteLevelEncode(tokenizer.TokenBytes(l)) + " " + ByteLevelEncode(tokenizer.TokenBytes(r)));
  }
  ordered_json model{{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", nullptr},
                     {"continuing_subword_prefix", ""},
                     {"end_of_word_suffix", ""},
                     {"fuse_unk", false},
                     {"byte_fallback", false},
                     {"ignore_merges", tokenizer.ignore_merges()},
                     {"vocab", std::move(vocab)},
                     {"merges", std::move(merges)}};
  ordered_json root{{"version", "1.0"},
                    {"truncation", nullptr},
                    {"padding", nullptr},
                    {"added_tokens", std::move(added)},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", ByteLevelComponent(false, true)},
                    {"post_processor", ByteLevelComponent(true, false)},
                    {"decoder", ByteLevelComponent(true, true)},
                    {"model", std::move(model)}};
  try {
    return root.dump(2);
  } catch (const ordered_json::type_error& e) {
    return InvalidArgument(std::string("tokenizer.json: an added token is not valid UTF-8: ") + e.what());
  }
}

Status SaveTokenizerJson(const Tokenizer& tokenizer, const std::string& path) {
  TIDE_ASSIGN_OR_RETURN(std::string text, TokenizerToJsonText(tokenizer));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError(tmp + ": cannot open for writing");
    out << text << "\n";
    out.flush();
    if (!out) return IoError(tmp + ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return IoError(path + ": cannot rename " + tmp + " into place");
  }
  return Status::Ok();
}

}  // namespace tide::engine
