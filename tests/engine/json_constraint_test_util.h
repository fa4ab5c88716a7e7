// Helpers shared by the JSON-schema constraint tests (json_constraint_matcher_test.cc,
// json_constraint_test.cc): a small validator of their own (the engine tests do not link
// the workers library), strict parsing, and the tool schemas they decode.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/engine/json_constraint.h"

namespace tide::engine::json_test {

using json = nlohmann::json;


// Bytes as a JSON string literal (invalid UTF-8 replaced), for failure messages.
inline std::string Show(const std::string& bytes) { return json(bytes).dump(-1, ' ', false, json::error_handler_t::replace); }

inline JsonSchemaMatcher Make(const json& schema) {
  auto m = JsonSchemaMatcher::Create(schema);
  EXPECT_TRUE(m.ok()) << m.status().ToString() << " for " << schema.dump();
  if (!m.ok()) return JsonSchemaMatcher::Create(json::object()).value();
  return std::move(m).value();
}

// Index of the first byte the matcher rejects, or -1; *complete: Complete() at the end.
// Also checks that a rejected byte leaves the state alone (the rest of the text is
// fed again after the rejection).
inline int FirstReject(JsonSchemaMatcher m, std::string_view text, bool* complete = nullptr) {
  for (size_t i = 0; i < text.size(); ++i) {
    const JsonSchemaMatcher before = m;
    if (!m.Accept(static_cast<uint8_t>(text[i]))) {
      EXPECT_EQ(m.Complete(), before.Complete());
      EXPECT_EQ(m.CanAccept(text.substr(0, i)), before.CanAccept(text.substr(0, i)));
      if (complete) *complete = m.Complete();
      return static_cast<int>(i);
    }
  }
  if (complete) *complete = m.Complete();
  return -1;
}

// ---------------------------------------------------------------------------------------
// A small validator for the schema subset, written independently of the matcher (the
// engine tests do not link tide_workers). additionalProperties defaults as documented:
// false when the schema mentions objects.

inline int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool TypeIs(const std::string& t, const json& v) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

inline bool Valid(const json& s, const json& v, std::string* why, const std::string& path = "$") {
  auto fail = [&](const std::string& m) {
    *why = path + ": " + m + " (value " + v.dump() + ")";
    return false;
  };
  if (s.is_boolean()) return s.get<bool>() || fail("false schema");
  for (const char* kw : {"anyOf", "oneOf"}) {
    if (!s.contains(kw)) continue;
    int matched = 0;
    for (const json& alt : s[kw]) {
      std::string w;
      matched += Valid(alt, v, &w, path);
    }
    if (std::string(kw) == "anyOf" ? matched == 0 : matched != 1) return fail(std::string(kw) + " failed");
    return true;
  }
  if (s.contains("type")) {
    const json types = s["type"].is_array() ? s["type"] : json::array({s["type"]});
    bool ok = false;
    for (const json& t : types) ok = ok || TypeIs(t.get<std::string>(), v);
    if (!ok) return fail("wrong type");
  }
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
    return fail("not in enum");
  }
  if (s.contains("const") && v != s["const"]) return fail("not the const");
  if (v.is_object()) {
    const json props = s.value("properties", json::object());
    for (const json& r : s.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) return fail("missing required " + r.dump());
    }
    const bool mentions = s.contains("type") || s.contains("properties") || s.contains("required");
    const json addl = s.contains("additionalProperties") ? s["additionalProperties"] : json(!mentions);
    for (const auto& [k, x] : v.items()) {
      if (props.contains(k)) {
        if (!Valid(props[k], x, why, path + "." + k)) return false;
      } else if (addl == false) {
        return fail("extra key " + k);
      } else if (!Valid(addl, x, why, path + "." + k)) {
        return false;
      }
    }
  }
  if (v.is_array()) {
    const json items = s.value("items", json(true));
    for (size_t i = 0; i < v.size(); ++i) {
      if (!Valid(items, v[i], why, path + "[" + std::to_string(i) + "]")) return false;
    }
    if (static_cast<int64_t>(v.size()) < s.value("minItems", int64_t{0})) return fail("too few items");
    if (static_cast<int64_t>(v.size()) > s.value("maxItems", INT64_MAX)) return fail("too many items");
  }
  if (v.is_string()) {
    const int64_t n = CodePoints(v.get<std::string>());
    if (n < s.value("minLength", int64_t{0}) || n > s.value("maxLength", INT64_MAX)) return fail("bad length");
  }
  return true;
}

// Parses `text`; false on a syntax error or a duplicate key (which json::parse would
// silently merge).
inline bool ParseStrict(const std::string& text, json* out, std::string* why) {
  std::vector<std::set<std::string>> keys;
  bool duplicate = false;
  json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second) duplicate = true;
    return true;
  };
  try {
    *out = json::parse(text, cb);
  } catch (const json::exception& e) {
    *why = e.what();
    return false;
  }
  if (duplicate) *why = "duplicate key";
  return !duplicate;
}

// ---------------------------------------------------------------------------------------
// Matcher: byte-level cases

const json kWeather = json::parse(R"({"type": "object", "properties": {
    "location": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer"}}, "required": ["location", "unit"]})");

const json kSearch = json::parse(R"({"type": "object", "properties": {
    "query": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["query"]})");

const json kItems = json::parse(R"({"type": "array", "minItems": 1, "items": {"type": "object",
    "properties": {"id": {"type": "integer"},
                   "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
    "required": ["id"]}})");

inline const std::vector<std::pair<std::string, json>>& Tools() {
  static const auto* tools = new std::vector<std::pair<std::string, json>>{
      {"get_weather", json::parse(R"({"type": "object", "properties": {
          "location": {"type": "string", "maxLength": 40},
          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
          "days": {"type": "integer"}}, "required": ["location", "unit"]})")},
      {"search", json::parse(R"({"type": "object", "properties": {
          "query": {"type": "string"},
          "filters": {"type": "object", "properties": {"lang": {"enum": ["en", "de", "fr"]},
              "max_results": {"type": "integer"}, "safe": {"type": "boolean"}}, "required": ["lang"]},
          "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3}},
          "required": ["query", "filters"]})")},
      {"create_event", json::parse(R"({"type": "object", "properties": {
          "title": {"type": "string", "minLength": 1},
          "attendees": {"type": "array", "maxItems": 4, "items": {"type": "object", "properties": {
              "name": {"type": "string"}, "email": {"type": ["string", "null"]}}, "required": ["name"]}},
          "priority": {"enum": [1, 2, 3]}, "duration": {"type": "number"}, "confirmed": {"const": true}},
          "required": ["title", "attendees", "priority"]})")},
      {"run_code", json::parse(R"({"type": "object", "properties": {
          "language": {"type": "string", "enum": ["python", "bash"]}, "code": {"type": "string"},
          "timeout": {"type": ["integer", "null"]},
          "env": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 8}}},
          "required": ["language", "code"]})")},
      {"list_files", json::parse(R"({"type": "object", "properties": {}})")},
      {"calc", json::parse(R"({"type": "object", "properties": {
          "op": {"anyOf": [{"const": "add"}, {"const": "mul"}, {"type": "string", "enum": ["pow"]}]},
          "args": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 4},
          "meta": {}}, "required": ["op", "args"]})")},
  };
  return *tools;
}

// Words from consonant-vowel syllables, skewed so that the vocabulary keeps growing.

}  // namespace tide::engine::json_test
