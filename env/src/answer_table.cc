#include "tide/env/answer_table.h"

#include <optional>
#include <vector>

#include "tide/env/cell_values.h"

namespace tide::env {
namespace {

// Bounds the work on pathological text full of brackets.
constexpr int kMaxCandidates = 256;

// Rows from parsed JSON, or a reason it is not a table.
Result<nlohmann::json> AsTable(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json* rows = &j;
  if (j.is_object()) {
    auto it = j.find("rows");
    if (it != j.end() && it->is_array()) {
      rows = &*it;
    } else if (FindField(j, key) != nullptr) {
      return nlohmann::json::array({j});
    } else {
      return InvalidArgument("the JSON object is neither a row nor {\"rows\": [...]}");
    }
  }
  if (!rows->is_array()) return InvalidArgument("the JSON is not an array of rows");
  for (const nlohmann::json& r : *rows) {
    if (!r.is_object()) return InvalidArgument("a table row is not a JSON object: " + r.dump().substr(0, 60));
  }
  return *rows;
}

// The bodies of ``` fenced blocks; `json_only` keeps those tagged json.
std::vector<std::string_view> FencedBlocks(std::string_view text, bool json_only) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while ((pos = text.find("```", pos)) != std::string_view::npos) {
    size_t line_end = text.find('\n', pos);
    if (line_end == std::string_view::npos) break;
    std::string tag = NormalizeText(text.substr(pos + 3, line_end - pos - 3));
    size_t close = text.find("```", line_end + 1);
    if (close == std::string_view::npos) close = text.size();
    if (!json_only || tag == "json") out.push_back(text.substr(line_end + 1, close - line_end - 1));
    pos = close + 3;
    if (pos >= text.size()) break;
  }
  return out;
}

// End (one past) of the balanced JSON value starting at `begin` ('[' or '{'), or npos.
size_t BalancedEnd(std::string_view text, size_t begin) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = begin; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

const nlohmann::json* FindField(const nlohmann::json& row, std::string_view name) {
  if (!row.is_object()) return nullptr;
  auto it = row.find(std::string(name));
  if (it != row.end()) return &*it;
  std::string want = NormalizeText(name);
  for (auto f = row.begin(); f != row.end(); ++f) {
    if (NormalizeText(f.key()) == want) return &f.value();
  }
  return nullptr;
}

Result<nlohmann::json> ExtractJsonTable(std::string_view text, std::string_view key) {
  std::optional<Status> first_error;
  for (bool json_only : {true, false}) {
    for (std::string_view block : FencedBlocks(text, json_only)) {
      nlohmann::json j = nlohmann::json::parse(block.begin(), block.end(), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) {
        if (!first_error) first_error = InvalidArgument("the ```json block is not valid JSON");
        continue;
      }
      Result<nlohmann::json> t = AsTable(j, key);
      if (t.ok()) return t;
      if (!first_error) first_error = t.status();
    }
  }
  int attempts = 0;
  for (size_t i = 0; i < text.size() && attempts < kMaxCandidates; ++i) {
    if (text[i] != '[' && text[i] != '{') continue;
    ++attempts;
    size_t end = BalancedEnd(text, i);
    if (end == std::string_view::npos) {
      if (!first_error) first_error = InvalidArgument("the answer's JSON is not closed");
      break;
    }
    std::string_view candidate = text.substr(i, end - i);
    nlohmann::json j = nlohmann::json::parse(candidate.begin(), candidate.end(), nullptr, false);
    if (!j.is_discarded()) {
      Result<nlohmann::json> t = AsTable(j, key);
      if (t.ok()) return t;
      if (!first_error) first_error = t.status();
      i = end - 1;  // skip this whole value
    } else if (!first_error) {
      first_error = InvalidArgument("the answer's JSON does not parse");
    }
  }
  if (first_error) return *first_error;
  return InvalidArgument("no JSON table found in the answer");
}

}  // namespace tide::env
