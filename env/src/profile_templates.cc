#include "tide/env/profile_templates.h"

#include <map>

namespace tide::env {

const std::vector<std::string>& ProfileTemplates(std::string_view attribute) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> kTemplates = {
      {"headquarters",
       {"{name} is headquartered in {v}.", "The company's head office is located in {v}.",
        "Its headquarters are in {v}, close to the city centre.", "{name} is based in {v}."}},
      {"founder",
       {"{name} was founded by {v}.", "The company's founder, {v}, still sits on its board.",
        "It was started by {v}, who served as its first chief executive."}},
      {"sector",
       {"{name} operates in the {v} sector.", "The company is active in {v}.",
        "Its main line of business is {v}."}},
      {"employees",
       {"{name} employs {v} people.", "The company has a workforce of {v} employees.",
        "Its headcount stands at {v}."}},
      {"revenue",
       {"{name} reported annual revenue of US${v} million.",
        "Its yearly revenue amounts to {v} million US dollars.",
        "The company's revenue was ${v} million in its last fiscal year."}},
      {"founded",
       {"{name} was founded on {v}.", "The company was established on {v}.",
        "It has been operating since {v}."}},
  };
  static const std::vector<std::string> kNone;
  auto it = kTemplates.find(attribute);
  return it == kTemplates.end() ? kNone : it->second;
}

const std::vector<std::string>& ProfileFillerSentences() {
  static const std::vector<std::string> kFiller = {
      "Analysts describe its outlook as stable.",
      "The company publishes an annual report each spring.",
      "It has offices in several countries.",
      "Its board meets four times a year.",
      "The company has won several industry awards.",
      "It sponsors a scholarship programme for engineering students.",
      "Its logo was redesigned a few years ago.",
      "The company keeps a small archive of its early products.",
  };
  return kFiller;
}

std::string RenderTemplate(std::string_view tmpl, std::string_view name, std::string_view value) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl.compare(i, 6, "{name}") == 0) {
      out.append(name);
      i += 6;
    } else if (tmpl.compare(i, 3, "{v}") == 0) {
      out.append(value);
      i += 3;
    } else {
      out.push_back(tmpl[i++]);
    }
  }
  return out;
}

}  // namespace tide::env
