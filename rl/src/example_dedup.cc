#include "tide/rl/example_dedup.h"

#include <map>

namespace tide::rl {

using nlohmann::json;

namespace {

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// Arguments as the model wrote them are text; parse and re-serialize so that key order and
// spacing do not make two identical calls differ. Text that is not JSON is kept trimmed.
std::string CanonicalArguments(const json& arguments) {
  if (!arguments.is_string()) return arguments.dump();
  json parsed = json::parse(arguments.get<std::string>(), nullptr, false);
  if (parsed.is_discarded()) return Trim(arguments.get<std::string>());
  return parsed.dump();  // nlohmann's objects are key-sorted
}

}  // namespace

json NormalizeMessages(const json& messages) {
  json out = json::array();
  if (!messages.is_array()) return out;
  std::map<std::string, std::string> ids;  // original call id -> "c<k>"
  auto id_of = [&ids](const std::string& id) {
    auto [it, added] = ids.try_emplace(id, "c" + std::to_string(ids.size()));
    return it->second;
  };
  for (const auto& m : messages) {
    if (!m.is_object()) {
      out.push_back(m);
      continue;
    }
    json n = json::object();
    n["role"] = m.value("role", "");
    if (m.contains("content") && m["content"].is_string()) {
      n["content"] = Trim(m["content"].get<std::string>());
    } else if (m.contains("content") && !m["content"].is_null()) {
      n["content"] = m["content"];
    }
    if (m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
      json calls = json::array();
      for (const auto& c : m["tool_calls"]) {
        const json fn = c.is_object() ? c.value("function", json::object()) : json::object();
        calls.push_back({{"id", id_of(c.is_object() ? c.value("id", "") : "")},
                         {"name", fn.is_object() ? fn.value("name", "") : ""},
                         {"arguments", CanonicalArguments(fn.is_object() && fn.contains("arguments") ? fn["arguments"] : json(""))}});
      }
      n["tool_calls"] = std::move(calls);
    }
    if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) n["tool_call_id"] = id_of(m["tool_call_id"].get<std::string>());
    if (m.contains("name") && m["name"].is_string() && !m["name"].get<std::string>().empty()) n["name"] = m["name"];
    out.push_back(std::move(n));
  }
  return out;
}

Fingerprint FingerprintOf(const std::string& bytes) {
  // Two FNV-1a streams with different offset bases; the second also mixes the position, so
  // the two are not trivially correlated.
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  constexpr uint64_t kPrime = 0x100000001b3ull;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    a = (a ^ c) * kPrime;
    b = (b ^ (c + (i & 0xff) * 257)) * kPrime;
  }
  a ^= bytes.size();
  b = (b ^ (bytes.size() * 0x9e3779b97f4a7c15ull)) * kPrime;
  return {a, b};
}

Fingerprint MessagesFingerprint(const json& messages) { return FingerprintOf(NormalizeMessages(messages).dump()); }

Fingerprint Combine(const Fingerprint& acc, const Fingerprint& next) {
  constexpr uint64_t kPrime = 0x100000001b3ull;
  return {(acc.a ^ next.a) * kPrime + 0x9e3779b97f4a7c15ull, (acc.b * 31 + next.b) * kPrime};
}

}  // namespace tide::rl
