#include "tide/engine/lm_data.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

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

std::vector<LmWindow> PackWholeExamples(const std::vector<LmExample>& examples, int seq_len, int32_t separator,
                                        PackStats* stats) {
  PackStats local;
  PackStats& st = stats ? *stats : local;
  st = PackStats{};
  std::vector<LmWindow> windows;
  if (seq_len <= 0) return windows;
  const size_t capacity = static_cast<size_t>(seq_len) + 1;  // a window's inputs plus its last target
  const int32_t pad = separator >= 0 ? separator : 0;
  // Units: an example with its separator, or one window-sized piece of a longer one.
  struct Unit {
    std::vector<int32_t> tokens;
    std::vector<float> weights;
  };
  std::vector<Unit> units;
  for (const LmExample& ex : examples) {
    Unit u{ex.tokens, ex.weights};
    if (separator >= 0) {
      u.tokens.push_back(separator);
      u.weights.push_back(ex.weights.empty() ? 0.f : ex.weights.back());  // learn where an example ends
    }
    ++st.examples;
    st.tokens += u.tokens.size();
    if (u.tokens.size() <= capacity) {
      units.push_back(std::move(u));
      continue;
    }
    ++st.split_examples;
    // Pieces overlap by one token so that every target keeps its input, as in a stream.
    for (size_t start = 0; start + 1 < u.tokens.size(); start += static_cast<size_t>(seq_len)) {
      const size_t end = std::min(u.tokens.size(), start + capacity);
      units.push_back({{u.tokens.begin() + start, u.tokens.begin() + end}, {u.weights.begin() + start, u.weights.begin() + end}});
      units.back().weights.front() = 0.f;  // a piece's first token is an input only
    }
  }
  // Best fit decreasing: longest first, each into the open window it fills most tightly.
  std::vector<size_t> order(units.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return units[a].tokens.size() > units[b].tokens.size(); });
  struct Bin {
    std::vector<int32_t> tokens;
    std::vector<float> weights;
    std::vector<int32_t> units;  // sizes of the units in it, in order
  };
  std::vector<Bin> bins;
  std::multimap<size_t, size_t> by_room;  // room left -> bin
  for (size_t i : order) {
    Unit& u = units[i];
    auto it = by_room.lower_bound(u.tokens.size());
    size_t bin;
    if (it == by_room.end()) {
      bin = bins.size();
      bins.emplace_back();
    } else {
      bin = it->second;
      by_room.erase(it);
    }
    Bin& b = bins[bin];
    b.tokens.insert(b.tokens.end(), u.tokens.begin(), u.tokens.end());
    b.weights.insert(b.weights.end(), u.weights.begin(), u.weights.end());
    b.units.push_back(static_cast<int32_t>(u.tokens.size()));
    if (capacity - b.tokens.size() > 1) by_room.emplace(capacity - b.tokens.size(), bin);
  }
  for (Bin& b : bins) {
    st.padding += capacity - b.tokens.size();
    b.tokens.resize(capacity, pad);
    b.weights.resize(capacity, 0.f);
    LmWindow w;
    w.inputs.assign(b.tokens.begin(), b.tokens.end() - 1);
    w.targets.assign(b.tokens.begin() + 1, b.tokens.end());
    w.weights.assign(b.weights.begin() + 1, b.weights.end());
    // Segments over the inputs (the bin's first capacity − 1 tokens): the units, then the
    // padding; the last one loses the token that is only a target.
    w.segments = b.units;
    const auto used = static_cast<size_t>(std::accumulate(b.units.begin(), b.units.end(), 0));
    if (capacity > used) w.segments.push_back(static_cast<int32_t>(capacity - used));
    if (--w.segments.back() == 0) w.segments.pop_back();
    if (std::any_of(w.weights.begin(), w.weights.end(), [](float x) { return x != 0.f; })) windows.push_back(std::move(w));
  }
  return windows;
}

}  // namespace tide::engine
