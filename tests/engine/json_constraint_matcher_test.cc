// JsonSchemaMatcher byte by byte: accepted documents, the exact byte where invalid ones are
// refused, alternatives, broken schemas naming their path, and random walks that always
// end in a valid value.
#include "tide/engine/json_constraint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "json_constraint_test_util.h"

namespace tide::engine {
namespace {

using namespace json_test;

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


}  // namespace
}  // namespace tide::engine
