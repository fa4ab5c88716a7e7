#include "tide/engine/lm_data.h"

#include <fstream>

#include "tide/engine/chat_template.h"

namespace tide::engine {

using nlohmann::json;

namespace {

void Append(const Tokenizer& tok, const std::string& text, float weight, LmExample* ex) {
  const std::vector<TokenId> ids = tok.Encode(text, /*allow_special=*/true);
  ex->tokens.insert(ex->tokens.end(), ids.begin(), ids.end());
  ex->weights.insert(ex->weights.end(), ids.size(), weight);
}

}  // namespace

Result<LmExample> EncodeRecord(const Tokenizer& tokenizer, const json& record) {
  if (!record.is_object()) return InvalidArgument("record must be a JSON object");
  LmExample ex;
  if (record.contains("text")) {
    if (!record["text"].is_string()) return InvalidArgument("field \"text\" must be a string");
    const std::vector<TokenId> ids = tokenizer.Encode(record["text"].get<std::string>(), /*allow_special=*/false);
    ex.tokens.assign(ids.begin(), ids.end());
    ex.weights.assign(ids.size(), 1.f);
    return ex;
  }
  if (!record.contains("messages") || !record["messages"].is_array() || record["messages"].empty()) {
    return InvalidArgument("record needs a string field \"text\" or a non-empty array \"messages\"");
  }
  const json& messages = record["messages"];
  const json tools = record.value("tools", json::array());
  if (!tools.is_array()) return InvalidArgument("field \"tools\" must be an array");
  // Render growing prefixes; each message's text is what its prefix adds. The template is
  // prefix-stable for ChatML, which is checked rather than assumed.
  std::string previous;
  for (size_t i = 0; i < messages.size(); ++i) {
    // Consecutive tool results share one user turn, so a group is rendered whole.
    const bool tool_group_continues = messages[i].value("role", "") == "tool" && i + 1 < messages.size() &&
                                      messages[i + 1].value("role", "") == "tool";
    if (tool_group_continues) continue;
    json prefix(json::value_t::array);
    for (size_t j = 0; j <= i; ++j) prefix.push_back(messages[j]);
    TIDE_ASSIGN_OR_RETURN(std::string rendered, RenderChat(prefix, tools));
    if (rendered.compare(0, previous.size(), previous) != 0) {
      return InvalidArgument("messages[" + std::to_string(i) + "]: the chat template is not prefix-stable here");
    }
    const std::string added = rendered.substr(previous.size());
    previous = std::move(rendered);
    const std::string role = messages[i].value("role", "");
    static const std::string kHeader = "<|im_start|>assistant\n";
    if (role == "assistant" && added.compare(0, kHeader.size(), kHeader) == 0) {
      Append(tokenizer, kHeader, 0.f, &ex);
      Append(tokenizer, added.substr(kHeader.size()), 1.f, &ex);
    } else {
      Append(tokenizer, added, 0.f, &ex);
    }
  }
  return ex;
}

Result<std::vector<LmExample>> LoadJsonlExamples(const Tokenizer& tokenizer, const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open data file");
  std::vector<LmExample> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json record = json::parse(line, nullptr, false);
    if (record.is_discarded()) return InvalidArgument(path + ":" + std::to_string(n) + ": not valid JSON");
    Result<LmExample> ex = EncodeRecord(tokenizer, record);
    if (!ex.ok()) return ex.status().WithContext(path + ":" + std::to_string(n));
    out.push_back(std::move(ex).value());
  }
  return out;
}

std::vector<LmWindow> PackWindows(const std::vector<LmExample>& examples, int seq_len, int32_t separator) {
  std::vector<int32_t> tokens;
  std::vector<float> weights;
  for (const LmExample& ex : examples) {
    tokens.insert(tokens.end(), ex.tokens.begin(), ex.tokens.end());
    weights.insert(weights.end(), ex.weights.begin(), ex.weights.end());
    if (separator >= 0) {
      tokens.push_back(separator);
      weights.push_back(ex.weights.empty() ? 0.f : ex.weights.back());  // learn where an example ends
    }
  }
  std::vector<LmWindow> windows;
  if (seq_len <= 0) return windows;
  for (size_t start = 0; start + static_cast<size_t>(seq_len) + 1 <= tokens.size(); start += static_cast<size_t>(seq_len)) {
    LmWindow w;
    w.inputs.assign(tokens.begin() + start, tokens.begin() + start + seq_len);
    w.targets.assign(tokens.begin() + start + 1, tokens.begin() + start + seq_len + 1);
    w.weights.assign(weights.begin() + start + 1, weights.begin() + start + seq_len + 1);
    bool any = false;
    for (float x : w.weights) any = any || x != 0.f;
    if (any) windows.push_back(std::move(w));
  }
  return windows;
}

}  // namespace tide::engine
