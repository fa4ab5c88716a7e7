// ProfileReader: reads an attribute's value out of a profile document's text the way a
// careful reader would, by recognising the world's sentence phrasings
// (profile_templates.h). It sees only the text it is given; whatever that text says is
// what it reports (so a tool that returns altered text yields altered values).
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::env {

// The value text as written (e.g. "12,500", "March 4, 2011"), or nullopt when no sentence
// of `text` states `attribute` for `entity`.
std::optional<std::string> ReadAttributeText(std::string_view text, std::string_view entity,
                                             std::string_view attribute);

// As ReadAttributeText, with the templates given ("{name}" and "{v}" placeholders): the
// value of the first template whose sentence `text` holds for `entity`.
std::optional<std::string> ReadTemplatedText(std::string_view text, std::string_view entity,
                                             const std::vector<std::string>& templates);

// The typed cell (see CellFromText): null when not found or not parseable.
nlohmann::json ReadAttribute(std::string_view text, std::string_view entity, std::string_view attribute);

}  // namespace tide::env
