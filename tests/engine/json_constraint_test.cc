#include "tide/engine/json_constraint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tide/engine/bpe_trainer.h"
#include "tide/engine/chat_template.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {
namespace {

using json = nlohmann::json;

// Bytes as a JSON string literal (invalid UTF-8 replaced), for failure messages.
std::string Show(const std::string& bytes) { return json(bytes).dump(-1, ' ', false, json::error_handler_t::replace); }

JsonSchemaMatcher Make(const json& schema) {
  auto m = JsonSchemaMatcher::Create(schema);
  EXPECT_TRUE(m.ok()) << m.status().ToString() << " for " << schema.dump();
  if (!m.ok()) return JsonSchemaMatcher::Create(json::object()).value();
  return std::move(m).value();
}

// Index of the first byte the matcher rejects, or -1; *complete: Complete() at the end.
// Also checks that a rejected byte leaves the state alone (the rest of the text is
// fed again after the rejection).
int FirstReject(JsonSchemaMatcher m, std::string_view text, bool* complete = nullptr) {
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

int64_t CodePoints(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool TypeIs(const std::string& t, const json& v) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

bool Valid(const json& s, const json& v, std::string* why, const std::string& path = "$") {
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
bool ParseStrict(const std::string& text, json* out, std::string* why) {
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

struct Case {
  std::string name;
  json schema;
  std::string text;
  int reject_at;  // -1: all accepted
  bool complete;  // Complete() after the accepted bytes (a top-level number may be complete and rejected later)
};

// Position of the n-th occurrence (from 0) of `needle` in `text`, plus `offset`.
int At(const std::string& text, const std::string& needle, int offset = 0, int nth = 0) {
  size_t p = text.find(needle);
  for (int i = 0; i < nth; ++i) p = text.find(needle, p + 1);
  return static_cast<int>(p) + offset;
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  const json tool_call = ToolCallSchema({{"get_weather", kWeather}, {"search", kSearch}});
  auto add = [&](std::string name, json schema, std::string text, int reject_at, bool complete) {
    c.push_back({std::move(name), std::move(schema), std::move(text), reject_at, complete});
  };
  std::string t;
  add("weather ok", kWeather, R"({"location": "Paris", "unit": "celsius"})", -1, true);
  add("weather reordered, compact", kWeather, R"({"days":3,"unit":"fahrenheit","location":"Oslo"})", -1, true);
  t = R"({"location": "Paris"})";
  add("missing required key at }", kWeather, t, At(t, "}"), false);
  t = R"({"location": "Paris", "unit": "kelvin"})";
  add("wrong enum", kWeather, t, At(t, "kelvin"), false);
  t = R"({"location": 5, "unit": "celsius"})";
  add("wrong type", kWeather, t, At(t, "5"), false);
  t = R"({"location": "x", "unit": "celsius", "extra": 1})";
  add("extra key", kWeather, t, At(t, "extra"), false);
  t = R"({"location": "a", "location": "b", "unit": "celsius"})";
  add("duplicate key", kWeather, t, At(t, "location", 0, 1), false);
  t = R"({"unit": "celsius", "days": 1.5, "location": "x"})";
  add("integer vs number", kWeather, t, At(t, "."), false);
  t = R"({"unit": "celsius", "days": 01})";
  add("leading zero", kWeather, t, At(t, "01", 1), false);
  add("not yet complete", kWeather, R"({"location": "x", "unit": "celsius")", -1, false);

  t = R"({"name": "search", "arguments": {"query": "x"}})";
  add("anyOf by name", tool_call, t, -1, true);
  t = R"({"name": "search", "arguments": {"unit": "celsius", "location": "x"}})";
  add("anyOf: other tool's key", tool_call, t, At(t, "unit"), false);
  t = R"({"name": "lookup", "arguments": {}})";
  add("anyOf: unknown name", tool_call, t, At(t, "lookup"), false);
  t = R"({"arguments": {"query": "x"}, "name": "get_weather"})";
  add("anyOf: arguments first pick the branch", tool_call, t, At(t, "get_weather"), false);
  t = R"({"arguments": {"unit": "celsius", "location": "Rome"}, "name": "get_weather"})";
  add("anyOf: arguments first ok", tool_call, t, -1, true);
  t = "\n{\"name\": \"search\", \"arguments\": {\"query\": \"q\", \"limit\": 10}}\n";
  add("tool call with newlines", tool_call, t, -1, true);

  add("nested arrays of objects", kItems, R"([{"id": 1, "tags": ["a", "b"]}, {"id": -2}])", -1, true);
  add("minItems", kItems, "[]", 1, false);
  t = R"([{"id": 1, "tags": ["a", "b", "c"]}])";
  add("maxItems", kItems, t, At(t, ",", 0, 2), false);
  t = R"([{"tags": []}])";
  add("nested required", kItems, t, At(t, "}"), false);

  const json number = {{"type", "number"}};
  add("number", number, "-0.5e+10", -1, true);
  add("number 0", number, "0", -1, true);
  add("number incomplete", number, "-1.", -1, false);
  add("number exponent digits", number, "1e100", 4, true);
  add("number leading zero", number, "01", 1, true);
  add("number cap", number, std::string(24, '7'), -1, true);
  add("number over cap", number, std::string(25, '7'), 24, true);
  add("number cap needs a complete end", number, std::string(23, '7') + ".", 23, true);
  const json integer = {{"type", "integer"}};
  add("integer cap", integer, "-" + std::string(18, '9'), -1, true);
  add("integer over cap", integer, std::string(20, '9'), 19, true);
  add("integer exponent", integer, "1e3", 1, true);
  const json int_or_null = {{"type", json::array({"integer", "null"})}};
  add("type list null", int_or_null, "null", -1, true);
  add("type list int", int_or_null, "12", -1, true);
  add("type list float", int_or_null, "1.5", 1, true);
  add("type list bool", int_or_null, "true", 0, false);
  add("const", {{"const", 42}}, "42", -1, true);
  add("const prefix", {{"const", 42}}, "4", -1, false);
  add("const wrong", {{"const", 42}}, "43", 1, false);
  add("const longer", {{"const", 42}}, "420", 2, true);
  add("enum numbers prefix", {{"enum", {1, 12}}}, "1", -1, true);
  add("enum numbers long", {{"enum", {1, 12}}}, "12", -1, true);
  add("boolean", {{"type", "boolean"}}, "false", -1, true);
  add("boolean typo", {{"type", "boolean"}}, "trux", 3, false);

  const json str = {{"type", "string"}};
  add("escapes", str, R"("a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00")", -1, true);
  add("bad escape", str, R"("\x")", 2, false);
  add("lone low surrogate", str, R"("\ude00")", 4, false);
  add("high surrogate unpaired", str, R"("\ud83d")", 7, false);
  add("high surrogate + non-low", str, R"("\ud83d\u0041")", 9, false);
  add("raw control char", str, "\"a\x01\"", 2, false);
  add("utf8 2-byte", str, "\"caf\xC3\xA9\"", -1, true);
  add("utf8 4-byte", str, "\"\xF0\x9F\x98\x80\"", -1, true);
  add("utf8 bad continuation", str, "\"\xC3\x28\"", 2, false);
  add("utf8 overlong", str, "\"\xC0\xAF\"", 1, false);
  add("utf8 encoded surrogate", str, "\"\xED\xA0\x80\"", 2, false);
  add("utf8 above U+10FFFF", str, "\"\xF4\x90\x80\x80\"", 2, false);
  add("utf8 truncated", str, "\"\xE2\x82\"", 3, false);
  const json short_str = {{"type", "string"}, {"maxLength", 3}};
  add("maxLength", short_str, R"("abcd")", 4, false);
  add("maxLength counts escapes and code points", short_str, "\"\\u00e9\xF0\x9F\x98\x80\\n\"", -1, true);
  add("minLength", json({{"type", "string"}, {"minLength", 2}}), R"("a")", 2, false);

  const json obj = {{"type", "object"}};
  add("one whitespace", obj, "{ }", -1, true);
  add("two whitespace", obj, "{  }", 2, false);
  add("surrounding newlines", obj, "\n{}\n", -1, true);
  add("two trailing newlines", obj, "{}\n\n", 3, true);
  add("typed object has no free keys", obj, R"({"a": 1})", 1, false);
  add("trailing comma", json::object(), R"({"a": 1,})", At(R"({"a": 1,})", "}"), false);

  const json any = json::object();
  add("any value", any, R"({"a": [1, {"b": null}, "x", true, -2.5], "c\"d": {}})", -1, true);
  t = R"({"a": 1, "a": 2})";
  add("any: duplicate key", any, t, At(t, "\"", 0, 3), false);
  add("any: control char in key", any, "{\"a\x01", 3, false);
  const json map = {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}};
  add("additionalProperties schema", map, R"({"x": 1, "y": 2})", -1, true);
  t = R"({"x": "s"})";
  add("additionalProperties schema type", map, t, At(t, "\"s"), false);
  const json quoted = json::parse(R"({"properties": {"a\"b": {"type": "null"}, "line\nbreak": {}},
                                      "required": ["a\"b"]})");
  add("escaped property names", quoted, R"({"a\"b": null, "line\nbreak": 1})", -1, true);
  add("escaped property name missing", quoted, R"({"line\nbreak": 1})", At(R"({"line\nbreak": 1})", "}"), false);
  return c;
}

TEST(JsonSchemaMatcherTest, CasesByteByByte) {
  for (const Case& c : Cases()) {
    bool complete = false;
    const int at = FirstReject(Make(c.schema), c.text, &complete);
    EXPECT_EQ(at, c.reject_at) << c.name << ": " << c.text;
    EXPECT_EQ(complete, c.complete) << c.name << ": " << c.text;
    if (c.reject_at < 0 && c.complete) {
      json v;
      std::string why;
      ASSERT_TRUE(ParseStrict(c.text, &v, &why)) << c.name << ": " << why;
      EXPECT_TRUE(Valid(c.schema, v, &why)) << c.name << ": " << why;
    }
  }
}

TEST(JsonSchemaMatcherTest, CanAcceptAndAcceptBytesAreAllOrNothing) {
  JsonSchemaMatcher m = Make(kWeather);
  EXPECT_TRUE(m.CanAccept(R"({"location")"));
  EXPECT_FALSE(m.CanAccept(R"({"locatio")" "x"));
  EXPECT_FALSE(m.AcceptBytes(R"({"unit": "kelvin")"));
  EXPECT_TRUE(m.AcceptBytes(R"({"unit": "celsius", )"));  // nothing of the failed call stuck
  EXPECT_FALSE(m.Complete());
  JsonSchemaMatcher copy = m;
  EXPECT_TRUE(copy.AcceptBytes(R"("location": "x"})"));
  EXPECT_TRUE(copy.Complete());
  EXPECT_FALSE(m.Complete());  // copies are independent
  m.Reset();
  EXPECT_TRUE(m.CanAccept("{"));
  EXPECT_FALSE(m.CanAccept("["));
}

TEST(JsonSchemaMatcherTest, AlternativesAreDroppedAndMerged) {
  JsonSchemaMatcher m = Make(ToolCallSchema({{"a", kWeather}, {"b", kSearch}, {"c", nullptr}}));
  EXPECT_EQ(m.alternatives(), 1);
  ASSERT_TRUE(m.AcceptBytes("{"));
  EXPECT_EQ(m.alternatives(), 3);
  ASSERT_TRUE(m.AcceptBytes(R"("name": "b")"));
  EXPECT_EQ(m.alternatives(), 1);
  JsonSchemaMatcher op = Make(json::parse(R"({"type": "array", "items": {"anyOf": [{"const": "x"},
      {"type": "string"}, {"type": "integer"}]}})"));
  ASSERT_TRUE(op.AcceptBytes(R"(["x)"));
  EXPECT_EQ(op.alternatives(), 2);  // the const and the string branch
  ASSERT_TRUE(op.AcceptBytes(R"(")"));
  EXPECT_EQ(op.alternatives(), 1);  // both ended the same way
  ASSERT_TRUE(op.AcceptBytes(R"(, "y", 3])"));
  EXPECT_TRUE(op.Complete());
}

TEST(JsonSchemaMatcherTest, BrokenSchemasNameThePath) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::parse(R"({"type": "strin"})"), "$.type: unknown type \"strin\""},
      {json::parse(R"({"type": "object", "properties": {"a": {"type": ["string", 3]}}})"),
       "$.properties.a.type[1]"},
      {json::parse(R"({"type": []})"), "$.type"},
      {json::parse(R"({"type": "object", "required": "a"})"), "$.required: must be an array of strings"},
      {json::parse(R"({"type": "object", "required": [1]})"), "$.required[0]: must be a string"},
      {json::parse(R"({"type": "object", "properties": {"a": {}}, "required": ["a", "b"]})"),
       "$.required[1]: \"b\" is not in properties and additionalProperties is false"},
      {json::parse(R"({"anyOf": []})"), "$.anyOf: must be a non-empty array"},
      {json::parse(R"({"anyOf": [{"type": "string"}, {"type": "bogus"}]})"), "$.anyOf[1].type"},
      {json::parse(R"({"oneOf": [{"properties": {"x": {"enum": [{"a": 1}]}}}]})"),
       "$.oneOf[0].properties.x.enum[0]: only scalar values"},
      {json::parse(R"({"type": "object", "anyOf": [{"required": ["a"]}]})"), "$.type: not supported beside anyOf"},
      {json::parse(R"({"type": "integer", "minimum": 0})"), "$.minimum: keyword not supported"},
      {json::parse(R"({"properties": {"p": {"$ref": "#/x"}}})"), "$.properties.p.$ref"},
      {json::parse(R"({"type": "string", "enum": [1, 2]})"), "$.enum: no value matches"},
      {json::parse(R"({"type": "array", "items": [{"type": "string"}]})"), "$.items: the array (tuple) form"},
      {json::parse(R"({"type": "string", "minLength": 3, "maxLength": 2})"), "$: minLength is greater"},
      {json::parse(R"({"type": "array", "maxItems": -1})"), "$.maxItems: must be a non-negative integer"},
      {json::parse(R"({"properties": {"x": {"additionalProperties": 3}}})"), "$.properties.x.additionalProperties"},
      {json::parse(R"({"properties": {"x": false}})"), "$.properties.x: the schema false"},
      {json(5), "$: a schema must be an object or a boolean"},
  };
  for (const auto& [schema, message] : cases) {
    auto m = JsonSchemaMatcher::Create(schema);
    ASSERT_FALSE(m.ok()) << schema.dump();
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find(message), std::string::npos)
        << schema.dump() << " -> " << m.status().message() << " (wanted " << message << ")";
  }
  JsonConstraintOptions lenient;
  lenient.ignore_unsupported_keywords = true;
  EXPECT_TRUE(JsonSchemaMatcher::Create(json::parse(R"({"type": "integer", "minimum": 0})"), lenient).ok());
  json deep = {{"type", "string"}};
  for (int i = 0; i < 30; ++i) deep = {{"type", "array"}, {"items", deep}};
  EXPECT_NE(JsonSchemaMatcher::Create(deep).status().message().find("deeper than 24"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Tools and vocabularies for decoding

const std::vector<std::pair<std::string, json>>& Tools() {
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
std::string Word(std::mt19937& rng) {
  static const char kC[] = "bcdfghklmnprstvwz";
  static const char kV[] = "aeiou";
  auto skewed = [&](size_t n) {
    return std::min<size_t>(n - 1, static_cast<size_t>(n * std::pow(rng() / 4294967296.0, 2.0)));
  };
  std::string w;
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < n; ++i) {
    w += kC[skewed(sizeof(kC) - 1)];
    w += kV[skewed(sizeof(kV) - 1)];
    if (rng() % 3 == 0) w += kC[skewed(sizeof(kC) - 1)];
  }
  return w;
}

// Tool calls as the chat template writes them, with varied argument values.
std::vector<std::string> JsonCorpus(int docs, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int d = 0; d < docs; ++d) {
    json args = json::object();
    const auto& [name, params] = Tools()[rng() % Tools().size()];
    for (const auto& [key, sub] : params["properties"].items()) {
      if (rng() % 3 == 0) continue;
      const std::string type =
          sub.contains("type") && sub["type"].is_string() ? sub["type"].get<std::string>() : "string";
      if (sub.contains("enum")) {
        args[key] = sub["enum"][rng() % sub["enum"].size()];
      } else if (type == "integer") {
        args[key] = static_cast<int>(rng() % 2000) - 100;
      } else if (type == "number") {
        args[key] = static_cast<double>(rng() % 10000) / 8.0;
      } else if (type == "array") {
        args[key] = json::array({Word(rng), Word(rng)});
      } else if (type == "object") {
        args[key] = {{Word(rng), Word(rng)}};
      } else {
        args[key] = Word(rng) + " " + Word(rng) + (rng() % 4 == 0 ? ", " + Word(rng) + "." : "");
      }
    }
    out.push_back("<tool_call>\n" + TemplateJson({{"name", name}, {"arguments", args}}) + "\n</tool_call>");
  }
  return out;
}

const Tokenizer& Vocab(int size) {
  static std::map<int, Tokenizer>* cache = new std::map<int, Tokenizer>();
  auto it = cache->find(size);
  if (it == cache->end()) {
    BpeTrainOptions options;
    options.vocab_size = size;
    BpeTrainStats stats;
    auto tok = TrainBpe(JsonCorpus(size <= 1024 ? 1500 : 6000, 7), options, &stats);
    EXPECT_TRUE(tok.ok()) << tok.status().ToString();
    std::cout << "[ vocab    ] trained " << stats.vocab_size << " tokens (" << stats.merges << " merges) in "
              << stats.seconds << " s\n";
    it = cache->emplace(size, std::move(tok).value()).first;
  }
  return it->second;
}

bool AllIn(std::string_view bytes, std::string_view set) {
  return !bytes.empty() && bytes.find_first_not_of(set) == std::string_view::npos;
}

struct DecodeStats {
  int steps = 0;
  int empty_masks = 0;    // before Complete(): must stay 0
  int end_mismatch = 0;   // mask[end] != Complete(): must stay 0
  double mask_seconds = 0;
  std::vector<double> times;  // per step, seconds
  double Percentile(double p) {
    if (times.empty()) return 0;
    std::sort(times.begin(), times.end());
    return times[std::min(times.size() - 1, static_cast<size_t>(p * static_cast<double>(times.size())))];
  }
};

// The random policy: uniform among allowed tokens; past `close_after` bytes, uniform among
// allowed tokens made only of closing bytes ("}] and the end token) when there are any.
// Returns the text before the end token; "" and a failure on a broken invariant.
// Per token: made only of closing bytes, or the end token.
std::vector<uint8_t> Closers(const std::vector<std::string>& bytes, int32_t end) {
  std::vector<uint8_t> closer(bytes.size());
  for (size_t id = 0; id < bytes.size(); ++id) closer[id] = AllIn(bytes[id], "\"}]") || id == static_cast<size_t>(end);
  return closer;
}

// Sum of n 0/1 bytes (a & b when b is given), eight at a time (fast enough in debug builds).
int CountOnes(const uint8_t* a, const uint8_t* b, size_t n) {
  int total = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y = ~uint64_t{0};
    std::memcpy(&x, a + i, 8);
    if (b) std::memcpy(&y, b + i, 8);
    total += static_cast<int>(((x & y) * 0x0101010101010101ull) >> 56);
  }
  for (; i < n; ++i) total += a[i] & (b ? b[i] : 1);
  return total;
}

std::string Decode(TokenConstraint& c, const std::vector<std::string>& bytes, const std::vector<uint8_t>& closer,
                   int32_t end, std::mt19937& rng, size_t close_after, DecodeStats* stats,
                   bool brute_force_check = false) {
  std::string out;
  std::vector<uint8_t> mask;
  for (int step = 0; step < 5000; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    c.AllowedTokens(&mask);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats->mask_seconds += seconds;
    stats->times.push_back(seconds);
    ++stats->steps;
    const bool complete = c.Complete();
    if (mask[end] != complete) ++stats->end_mismatch;
    if (brute_force_check) {
      for (int32_t id = 0; id < static_cast<int32_t>(mask.size()); ++id) {
        if (id == end) continue;
        const bool expect = !bytes[id].empty() && c.matcher().CanAccept(bytes[id]);
        if (mask[id] != expect) {
          ADD_FAILURE() << "mask[" << id << "] " << json(bytes[id]).dump() << " = " << int(mask[id]) << " after "
                        << Show(out);
          return "";
        }
      }
    }
    // Count, draw, then find the drawn one (no per-token vector work: debug builds).
    const uint8_t* m = mask.data();
    const int allowed = CountOnes(m, nullptr, mask.size());
    const int preferred = CountOnes(m, closer.data(), mask.size());
    if (allowed == 0) {
      if (!complete) ++stats->empty_masks;
      return out;
    }
    const bool close = out.size() > close_after && preferred > 0;
    int k = static_cast<int>(rng() % static_cast<uint32_t>(close ? preferred : allowed));
    int32_t id = 0;
    for (;; ++id) {
      if (m[id] && (!close || closer[id]) && k-- == 0) break;
    }
    const Status st = c.Accept(id);
    if (!st.ok()) {
      ADD_FAILURE() << st.ToString();
      return "";
    }
    if (id == end) return out;
    out += bytes[id];
  }
  ADD_FAILURE() << "no end after 5000 tokens";
  return out;
}

std::vector<std::string> TokenBytes(const Tokenizer& tok) {
  std::vector<std::string> bytes(tok.vocab_size());
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.IsAddedToken(id)) bytes[id] = std::string(tok.TokenBytes(id));
  }
  return bytes;
}

// Random byte-level walks: at every step some byte must be acceptable until the value is
// complete (the termination guarantee), the hints must be exact in their direction, and
// every finished text must parse (strictly, no duplicate keys) and match the schema.
TEST(JsonSchemaMatcherTest, RandomByteWalksAlwaysFinishValid) {
  const std::vector<json> schemas = {
      json::object(),
      ToolCallSchema(Tools()),
      kItems,
      json::parse(R"({"type": "string", "minLength": 1, "maxLength": 5})"),
      json::parse(R"({"type": "object", "additionalProperties": {"type": ["integer", "boolean"]},
                      "properties": {"k": {"enum": ["a", "ab", 1, 12, null]}}})"),
      json::parse(R"({"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "null"}, "minItems": 2}]})"),
  };
  int walks = 0;
  for (size_t si = 0; si < schemas.size(); ++si) {
    const JsonSchemaMatcher start = Make(schemas[si]);
    for (int run = 0; run < 25; ++run) {
      std::mt19937 rng(static_cast<uint32_t>(100 * si + run));
      JsonSchemaMatcher m = start, next = start;
      std::string out;
      std::vector<uint8_t> allowed, preferred;
      for (;;) {
        allowed.clear();
        preferred.clear();
        const JsonSchemaMatcher::Hints hints = m.GetHints();
        for (int b = 0; b < 256; ++b) {
          if (!m.AcceptTo(static_cast<uint8_t>(b), &next)) continue;
          ASSERT_TRUE(hints.MayAccept(static_cast<uint8_t>(b))) << b << " after " << json(out).dump();
          allowed.push_back(static_cast<uint8_t>(b));
          if (b == '"' || b == '}' || b == ']') preferred.push_back(static_cast<uint8_t>(b));
        }
        if (hints.plain_run > 0) {
          std::string plain;
          for (int i = 0; i < std::min(hints.plain_run, 6); ++i) plain += "a~ !"[rng() % 4];
          ASSERT_TRUE(m.CanAccept(plain)) << json(out).dump();
          for (int b = 0xC2; b <= 0xF4; ++b) ASSERT_TRUE(m.CanAccept(std::string(1, static_cast<char>(b))));
        }
        if (m.Complete() && (allowed.empty() || out.size() > 40 || rng() % 8 == 0)) break;
        ASSERT_FALSE(allowed.empty()) << "stuck after " << Show(out);
        const auto& pool = out.size() > 40 && !preferred.empty() ? preferred : allowed;
        const uint8_t b = pool[rng() % pool.size()];
        ASSERT_TRUE(m.Accept(b));
        out += static_cast<char>(b);
        ASSERT_LT(out.size(), 3000u) << si << " " << Show(out.substr(0, 300));
      }
      json v;
      std::string why;
      ASSERT_TRUE(ParseStrict(out, &v, &why)) << why << ": " << Show(out);
      ASSERT_TRUE(Valid(schemas[si], v, &why)) << why;
      ++walks;
    }
  }
  EXPECT_EQ(walks, 150);
}

// ---------------------------------------------------------------------------------------
// TokenConstraint

TEST(JsonTokenConstraintTest, AcceptsTokensAndEndToken) {
  // Vocabulary: all single bytes, a few fragments, two special tokens.
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.emplace_back(1, static_cast<char>(b));
  for (const char* f : {"{\"", "\": ", "\", \"", "\"}", "name", "location", "unit", "celsius"}) vocab.push_back(f);
  const int32_t tool_end = static_cast<int32_t>(vocab.size());
  vocab.emplace_back(kToolCallEnd);
  const int32_t im_end = static_cast<int32_t>(vocab.size());
  vocab.emplace_back(kImEnd);
  auto id = [&](std::string_view s) {
    return static_cast<int32_t>(std::find(vocab.begin(), vocab.end(), s) - vocab.begin());
  };

  auto made = TokenConstraint::Create(Make(kWeather), vocab, {tool_end, im_end}, {tool_end});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  TokenConstraint c = std::move(made).value();
  std::vector<uint8_t> mask;
  c.AllowedTokens(&mask);
  ASSERT_EQ(mask.size(), vocab.size());
  EXPECT_EQ(mask[id("{\"")], 1);
  EXPECT_EQ(mask[id("{")], 1);
  EXPECT_EQ(mask[id("\n")], 1);
  EXPECT_EQ(mask[id("name")], 0);
  EXPECT_EQ(mask[tool_end], 0);
  EXPECT_EQ(mask[im_end], 0);
  EXPECT_EQ(c.Accept(id("name")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Accept(tool_end).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Accept(im_end).code(), StatusCode::kInvalidArgument);  // special: never JSON text
  EXPECT_EQ(c.Accept(-1).code(), StatusCode::kInvalidArgument);
  for (const char* piece : {"{\"", "unit", "\": ", "\"", "celsius", "\", \"", "location", "\": ", "\"", "<", "\"}"}) {
    ASSERT_TRUE(c.Accept(id(piece)).ok()) << piece;
  }
  EXPECT_TRUE(c.Complete());
  c.AllowedTokens(&mask);
  EXPECT_EQ(mask[tool_end], 1);
  EXPECT_EQ(mask[im_end], 0);
  EXPECT_EQ(mask[id("\n")], 1);
  EXPECT_EQ(mask[id("}")], 0);
  std::vector<float> logits(vocab.size() + 2, 0.f);
  c.MaskLogits(logits);
  EXPECT_EQ(logits[tool_end], 0.f);
  EXPECT_TRUE(std::isinf(logits[id("}")]));
  EXPECT_TRUE(std::isinf(logits[vocab.size() + 1]));
  ASSERT_TRUE(c.Accept(tool_end).ok());
  EXPECT_TRUE(c.finished());
  c.AllowedTokens(&mask);
  EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), 0);
  EXPECT_EQ(c.Accept(id("\n")).code(), StatusCode::kFailedPrecondition);

  EXPECT_EQ(TokenConstraint::Create(Make(kWeather), vocab, {}, {9999}).status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonTokenConstraintTest, ToolCallSchemaShape) {
  const json s = ToolCallSchema({{"f", kSearch}, {"g", nullptr}});
  ASSERT_EQ(s["anyOf"].size(), 2u);
  EXPECT_EQ(s["anyOf"][0]["properties"]["name"], json({{"const", "f"}}));
  EXPECT_EQ(s["anyOf"][0]["properties"]["arguments"], kSearch);
  EXPECT_EQ(s["anyOf"][0]["required"], json::array({"name", "arguments"}));
  EXPECT_EQ(s["anyOf"][0]["additionalProperties"], false);
  EXPECT_EQ(s["anyOf"][1]["properties"]["arguments"], json::parse(R"({"type": "object", "properties": {}})"));
  JsonSchemaMatcher m = Make(s);
  EXPECT_EQ(FirstReject(m, R"({"name": "g", "arguments": {}})"), -1);
  EXPECT_EQ(FirstReject(m, R"({"name": "g", "arguments": {"x)"), 28);
}

// Matches the mask against CanAccept token by token on states from random decodes (the
// trie walk, the hints and the plain-run shortcut must agree with the matcher).
TEST(JsonTokenConstraintTest, MaskEqualsBruteForce) {
  const Tokenizer& tok = Vocab(1024);
  const auto trie = TokenTrie::FromTokenizer(tok);
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  DecodeStats stats;
  for (int run = 0; run < 12; ++run) {
    std::mt19937 rng(1000 + run);
    const auto& [name, params] = Tools()[run % Tools().size()];
    auto c = TokenConstraint::Create(Make(ToolCallSchema({{name, params}})), trie, {end});
    ASSERT_TRUE(c.ok());
    Decode(*c, bytes, closer, end, rng, 60, &stats, /*brute_force_check=*/true);
  }
  // A string with a small maxLength left: the plain-run shortcut must respect it.
  auto c = TokenConstraint::Create(Make({{"type", "string"}, {"maxLength", 3}}), trie, {end});
  ASSERT_TRUE(c.ok());
  std::mt19937 rng(5);
  Decode(*c, bytes, closer, end, rng, 0, &stats, true);
  EXPECT_EQ(stats.empty_masks, 0);
  EXPECT_EQ(stats.end_mismatch, 0);
}

// The issue's acceptance test: 1,000 prompts, each offering 1-3 of the tools, decoded
// with a random policy over a byte-level BPE vocabulary; every body must parse and match
// the chosen tool's schema, and the mask is never empty before the value is complete.
TEST(JsonTokenConstraintTest, ThousandRandomToolCallsAreValid) {
  const Tokenizer& tok = Vocab(1024);
  const auto trie = TokenTrie::FromTokenizer(tok);
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  ASSERT_GE(end, 0);
  DecodeStats stats;
  size_t total_bytes = 0, max_bytes = 0;
  std::map<std::string, int> by_tool;
  std::map<std::string, JsonSchemaMatcher> matchers;  // compiled once per offered tool list
  const auto t0 = std::chrono::steady_clock::now();
  for (int seed = 0; seed < 1000; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<std::string, json>> offered;
    std::vector<size_t> order(Tools().size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    const size_t k = 1 + rng() % 3;
    for (size_t i = 0; i < k; ++i) offered.push_back(Tools()[order[i]]);
    std::string key;
    for (const auto& t : offered) key += t.first + ",";
    auto compiled = matchers.find(key);
    if (compiled == matchers.end()) compiled = matchers.emplace(key, Make(ToolCallSchema(offered))).first;
    auto c = TokenConstraint::Create(compiled->second, trie, {end});
    ASSERT_TRUE(c.ok());
    const std::string out = Decode(*c, bytes, closer, end, rng, 200, &stats);
    ASSERT_TRUE(c->finished()) << "seed " << seed;
    total_bytes += out.size();
    max_bytes = std::max(max_bytes, out.size());
    json v;
    std::string why;
    ASSERT_TRUE(ParseStrict(out, &v, &why)) << "seed " << seed << ": " << why << "\n" << out;
    ASSERT_TRUE(v.is_object() && v.size() == 2 && v.contains("name") && v.contains("arguments")) << out;
    const auto tool = std::find_if(offered.begin(), offered.end(), [&](const auto& t) { return v["name"] == t.first; });
    ASSERT_NE(tool, offered.end()) << out;
    ASSERT_TRUE(Valid(tool->second, v["arguments"], &why)) << "seed " << seed << ": " << why << "\n" << out;
    ++by_tool[tool->first];
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(stats.empty_masks, 0);
  EXPECT_EQ(stats.end_mismatch, 0);
  EXPECT_EQ(by_tool.size(), Tools().size());
  std::cout << "[ decode   ] 1000 tool calls, " << stats.steps << " steps, mean " << total_bytes / 1000
            << " bytes (max " << max_bytes << "), " << tok.vocab_size() << "-token vocab, mask "
            << 1e6 * stats.mask_seconds / stats.steps << " us/step, total " << seconds << " s\n";
}

// Speed of one decode step on a 4096-token vocabulary (printed, not asserted).
TEST(JsonTokenConstraintTest, MaskTimeOn4096Vocab) {
  const Tokenizer& tok = Vocab(4096);
  const auto t0 = std::chrono::steady_clock::now();
  const auto trie = TokenTrie::FromTokenizer(tok);
  const double build_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<std::string> bytes = TokenBytes(tok);
  const std::vector<uint8_t> closer = Closers(bytes, tok.special_ids().tool_call_end);
  const int32_t end = tok.special_ids().tool_call_end;
  DecodeStats stats;
  for (int run = 0; run < 20; ++run) {
    std::mt19937 rng(run);
    auto c = TokenConstraint::Create(Make(ToolCallSchema(Tools())), trie, {end});
    ASSERT_TRUE(c.ok());
    Decode(*c, bytes, closer, end, rng, 120, &stats);
  }
  EXPECT_EQ(stats.empty_masks, 0);
  // For scale: the naive mask (every token through CanAccept) on the first state.
  JsonSchemaMatcher m = Make(ToolCallSchema(Tools()));
  ASSERT_TRUE(m.AcceptBytes(R"({"name": "search", "arguments": {"query": "ab)"));
  const auto t1 = std::chrono::steady_clock::now();
  int allowed = 0;
  for (const std::string& b : bytes) allowed += !b.empty() && m.CanAccept(b);
  const double naive_us = 1e6 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::cout << "[ mask     ] vocab " << tok.vocab_size() << ", trie " << trie->num_nodes() << " nodes (built in "
            << build_ms << " ms), " << stats.steps << " steps: " << 1e6 * stats.mask_seconds / stats.steps
            << " us/step mean, " << 1e6 * stats.Percentile(0.5) << " median, " << 1e6 * stats.Percentile(0.99)
            << " p99; naive CanAccept per token: " << naive_us << " us (" << allowed << " allowed)\n";
}

}  // namespace
}  // namespace tide::engine
