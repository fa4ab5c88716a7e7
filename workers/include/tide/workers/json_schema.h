// A JSON Schema validator for tool arguments: the subset tool specs use in practice
// (type incl. unions, properties, required, additionalProperties, enum, const, items,
// minItems/maxItems, minimum/maximum, minLength/maxLength, anyOf/oneOf). Unknown keywords
// ("$schema", "description", "strict", ...) are ignored, as OpenAI does.
#pragma once

#include <nlohmann/json.hpp>

#include "tide/core/status.h"

namespace tide::workers {

// OK when `value` matches `schema`; otherwise INVALID_ARGUMENT whose message names the
// JSON path of the first mismatch, e.g. `$.items[2].name: expected string, got 3`.
Status ValidateJsonSchema(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace tide::workers
