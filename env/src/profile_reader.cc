#include "tide/env/profile_reader.h"

#include "tide/env/cell_values.h"
#include "tide/env/profile_templates.h"
#include "tide/env/research_schema.h"

namespace tide::env {
namespace {

constexpr size_t kMaxValueLength = 80;

std::string_view TrimView(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The text between the first occurrence of `before` and the nearest following `after`,
// on one line and at most kMaxValueLength long.
std::optional<std::string> Between(std::string_view text, std::string_view before, std::string_view after) {
  size_t pos = 0;
  while ((pos = text.find(before, pos)) != std::string_view::npos) {
    size_t start = pos + before.size();
    size_t end = text.find(after, start);
    if (end != std::string_view::npos && end - start <= kMaxValueLength) {
      std::string_view value = TrimView(text.substr(start, end - start));
      if (!value.empty() && value.find('\n') == std::string_view::npos) return std::string(value);
    }
    pos = start;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ReadAttributeText(std::string_view text, std::string_view entity,
                                             std::string_view attribute) {
  return ReadTemplatedText(text, entity, ProfileTemplates(attribute));
}

std::optional<std::string> ReadTemplatedText(std::string_view text, std::string_view entity,
                                             const std::vector<std::string>& templates) {
  for (const std::string& tmpl : templates) {
    std::string sentence = RenderTemplate(tmpl, entity, "{v}");
    size_t slot = sentence.find("{v}");
    if (slot == std::string::npos) continue;
    std::string_view s = sentence;
    std::optional<std::string> v = Between(text, s.substr(0, slot), s.substr(slot + 3));
    if (v) return v;
  }
  return std::nullopt;
}

nlohmann::json ReadAttribute(std::string_view text, std::string_view entity, std::string_view attribute) {
  const AttributeInfo* info = FindResearchAttribute(attribute);
  if (info == nullptr) return nlohmann::json();
  std::optional<std::string> raw = ReadAttributeText(text, entity, attribute);
  if (!raw) return nlohmann::json();
  return CellFromText(info->type, *raw);
}

}  // namespace tide::env
