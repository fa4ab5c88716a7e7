// The sentence templates of the research world's profile documents: several phrasings per
// attribute. "{name}" stands for the organisation's name and "{v}" for the value. The
// generator renders them; a reader (the oracle) matches them against a document's text.
//
// Guarantees every template keeps: exactly one "{v}", text before and after it, and no
// two templates of different attributes share the words right before "{v}", so a
// sentence matches only the templates of its own attribute.
//
// Immutable static data and pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tide::env {

// The templates of `attribute` (a ResearchAttributes() name); empty for an unknown one.
const std::vector<std::string>& ProfileTemplates(std::string_view attribute);

// Sentences that state nothing checkable (the generator mixes them into profiles).
const std::vector<std::string>& ProfileFillerSentences();

// Replaces "{name}" with `name` and "{v}" with `value`.
std::string RenderTemplate(std::string_view tmpl, std::string_view name, std::string_view value);

}  // namespace tide::env
