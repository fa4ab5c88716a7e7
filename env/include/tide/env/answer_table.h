// Finding the table in an answer: agents write prose around their JSON, so the table is
// taken from the first ```json block that holds one (then any ``` block), else from the
// first balanced JSON array or object in the text. A table is an array of row objects; an
// object {"rows": [...]} and a single row object (one with the key field) are accepted too.
// Also: looking up a row's field by name, forgiving case and spacing.
//
// Pure functions; thread-safe; never throw (malformed JSON is an error status).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::env {

// The rows (a JSON array of objects). INVALID_ARGUMENT with the reason when no table is
// found: no JSON at all, JSON that does not parse, or JSON that is not a table.
Result<nlohmann::json> ExtractJsonTable(std::string_view text, std::string_view key = "entity");

// The value of field `name` in `row`: the exact key, else a key equal after NormalizeText.
// nullptr when absent (or when `row` is not an object).
const nlohmann::json* FindField(const nlohmann::json& row, std::string_view name);

}  // namespace tide::env
