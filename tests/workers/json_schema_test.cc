#include "tide/workers/json_schema.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide::workers {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;

Status V(const json& schema, const json& value) { return ValidateJsonSchema(schema, value); }
Status V(const char* schema, const char* value) { return ValidateJsonSchema(json::parse(schema), json::parse(value)); }

TEST(JsonSchemaTest, BasicTypes) {
  struct Case {
    const char* type;
    const char* good;
    const char* bad;
  };
  const Case cases[] = {
      {"object", R"({})", R"([])"},        {"array", R"([1])", R"({})"},     {"string", R"("s")", R"(1)"},
      {"boolean", R"(false)", R"(0)"},     {"null", R"(null)", R"(false)"},  {"number", R"(1.5)", R"("1.5")"},
      {"integer", R"(-7)", R"(7.5)"},
  };
  for (const Case& c : cases) {
    const json schema = {{"type", c.type}};
    EXPECT_TRUE(V(schema, json::parse(c.good)).ok()) << c.type << " " << c.good;
    Status s = V(schema, json::parse(c.bad));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.type << " " << c.bad;
    EXPECT_THAT(s.message(), HasSubstr("expected " + std::string(c.type))) << s.message();
  }
}

TEST(JsonSchemaTest, IntegerVersusNumber) {
  const json integer = {{"type", "integer"}};
  const json number = {{"type", "number"}};
  EXPECT_TRUE(V(integer, json(3)).ok());
  EXPECT_TRUE(V(integer, json::parse("3.0")).ok());  // 3.0 is an integer in JSON Schema
  EXPECT_TRUE(V(integer, json(18446744073709551615ull)).ok());
  EXPECT_FALSE(V(integer, json(3.5)).ok());
  EXPECT_FALSE(V(integer, json("3")).ok());
  EXPECT_TRUE(V(number, json(3)).ok());
  EXPECT_TRUE(V(number, json(3.5)).ok());
  EXPECT_FALSE(V(number, json(true)).ok());
  EXPECT_EQ(V(integer, json(3.5)).message(), "$: expected integer, got 3.5");
}

TEST(JsonSchemaTest, TypeUnion) {
  const json schema = {{"type", {"string", "null"}}};
  EXPECT_TRUE(V(schema, json("x")).ok());
  EXPECT_TRUE(V(schema, json(nullptr)).ok());
  Status s = V(schema, json(1));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("expected string or null"));
}

TEST(JsonSchemaTest, EmptyAndBooleanSchemas) {
  EXPECT_TRUE(V(json::object(), json({{"anything", 1}})).ok());
  EXPECT_TRUE(V(json(true), json(1)).ok());
  EXPECT_FALSE(V(json(false), json(1)).ok());
}

TEST(JsonSchemaTest, RequiredProperties) {
  const char* schema = R"({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},
                           "required":["a","b"]})";
  EXPECT_TRUE(V(schema, R"({"a":1,"b":2})").ok());
  Status s = V(schema, R"({"a":1})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "$: missing required property \"b\"");
}

TEST(JsonSchemaTest, PropertyTypesAreChecked) {
  const char* schema = R"({"type":"object","properties":{"a":{"type":"number"}}})";
  Status s = V(schema, R"({"a":"one"})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "$.a: expected number, got \"one\"");
  // Properties not listed are allowed by default.
  EXPECT_TRUE(V(schema, R"({"a":1,"extra":true})").ok());
}

TEST(JsonSchemaTest, AdditionalPropertiesFalse) {
  const char* schema = R"({"type":"object","properties":{"q":{"type":"string"}},"additionalProperties":false})";
  EXPECT_TRUE(V(schema, R"({"q":"x"})").ok());
  Status s = V(schema, R"({"q":"x","limit":3})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unexpected property \"limit\""));
}

TEST(JsonSchemaTest, AdditionalPropertiesSchema) {
  const char* schema = R"({"type":"object","additionalProperties":{"type":"integer"}})";
  EXPECT_TRUE(V(schema, R"({"x":1,"y":2})").ok());
  Status s = V(schema, R"({"x":1,"y":"two"})");
  EXPECT_EQ(s.message(), "$.y: expected integer, got \"two\"");
}

TEST(JsonSchemaTest, Enum) {
  const char* schema = R"({"type":"string","enum":["asc","desc"]})";
  EXPECT_TRUE(V(schema, R"("asc")").ok());
  Status s = V(schema, R"("up")");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("must be one of"));
  EXPECT_THAT(s.message(), HasSubstr("\"up\""));
  // Mixed-type enums compare values exactly.
  EXPECT_TRUE(V(R"({"enum":[1,"one",null]})", "null").ok());
  EXPECT_FALSE(V(R"({"enum":[1,"one",null]})", R"("1")").ok());
}

TEST(JsonSchemaTest, Const) {
  EXPECT_TRUE(V(R"({"const":"function"})", R"("function")").ok());
  Status s = V(R"({"const":"function"})", R"("tool")");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("must be \"function\""));
}

TEST(JsonSchemaTest, NestedPathsNameTheMismatch) {
  const char* schema = R"({
    "type":"object",
    "properties":{"items":{"type":"array","items":{
      "type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}})";
  EXPECT_TRUE(V(schema, R"({"items":[{"name":"a"},{"name":"b"},{"name":"c"}]})").ok());
  Status s = V(schema, R"({"items":[{"name":"a"},{"name":"b"},{"name":3}]})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "$.items[2].name: expected string, got 3");
  Status missing = V(schema, R"({"items":[{"name":"a"},{}]})");
  EXPECT_EQ(missing.message(), "$.items[1]: missing required property \"name\"");
}

TEST(JsonSchemaTest, MinimumAndMaximum) {
  const char* schema = R"({"type":"number","minimum":0,"maximum":10})";
  EXPECT_TRUE(V(schema, "0").ok());
  EXPECT_TRUE(V(schema, "10").ok());
  EXPECT_TRUE(V(schema, "5.5").ok());
  Status lo = V(schema, "-1");
  EXPECT_EQ(lo.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(lo.message(), HasSubstr(">= 0"));
  Status hi = V(schema, "10.5");
  EXPECT_THAT(hi.message(), HasSubstr("<= 10"));
  // Bounds do not apply to non-numbers.
  EXPECT_TRUE(V(R"({"minimum":5})", R"("abc")").ok());
}

TEST(JsonSchemaTest, StringLength) {
  const char* schema = R"({"type":"string","minLength":2,"maxLength":4})";
  EXPECT_TRUE(V(schema, R"("ab")").ok());
  EXPECT_TRUE(V(schema, R"("abcd")").ok());
  EXPECT_THAT(V(schema, R"("a")").message(), HasSubstr("at least 2"));
  EXPECT_THAT(V(schema, R"("abcde")").message(), HasSubstr("at most 4"));
}

TEST(JsonSchemaTest, ArrayItemCounts) {
  const char* schema = R"({"type":"array","minItems":1,"maxItems":2,"items":{"type":"integer"}})";
  EXPECT_TRUE(V(schema, "[1]").ok());
  EXPECT_TRUE(V(schema, "[1,2]").ok());
  EXPECT_THAT(V(schema, "[]").message(), HasSubstr("at least 1 items"));
  Status s = V(schema, "[1,2,3]");
  EXPECT_EQ(s.message(), "$: must have at most 2 items, got 3");
  EXPECT_EQ(V(schema, R"([1,"x"])").message(), "$[1]: expected integer, got \"x\"");
}

TEST(JsonSchemaTest, CountsWrittenAsSignedIntegersApply) {
  // Schemas built in C++ hold signed integers ({"maxItems", n} with an int n); they must
  // constrain exactly like the unsigned values a parser produces.
  const int two = 2;
  const json array_schema = {{"type", "array"}, {"minItems", 1}, {"maxItems", two}};
  ASSERT_TRUE(array_schema["maxItems"].is_number_integer());
  EXPECT_TRUE(V(array_schema, json::parse("[1,2]")).ok());
  EXPECT_EQ(V(array_schema, json::parse("[1,2,3]")).message(), "$: must have at most 2 items, got 3");
  EXPECT_FALSE(V(array_schema, json::array()).ok());
  const json string_schema = {{"type", "string"}, {"minLength", 1}, {"maxLength", int64_t{3}}};
  EXPECT_TRUE(V(string_schema, json("abc")).ok());
  EXPECT_FALSE(V(string_schema, json("")).ok());
  EXPECT_FALSE(V(string_schema, json("abcd")).ok());
}

TEST(JsonSchemaTest, AnyOf) {
  const char* schema = R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})";
  EXPECT_TRUE(V(schema, R"("x")").ok());
  EXPECT_TRUE(V(schema, "4").ok());
  Status s = V(schema, "-4");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(V(schema, "true").ok());
}

TEST(JsonSchemaTest, OneOf) {
  const char* schema = R"({"oneOf":[{"type":"integer"},{"type":"number"}]})";
  EXPECT_TRUE(V(schema, "1.5").ok());  // number only
  Status both = V(schema, "2");        // integer and number
  EXPECT_FALSE(both.ok());
  EXPECT_THAT(both.message(), HasSubstr("more than one"));
  EXPECT_FALSE(V(schema, R"("s")").ok());
}

TEST(JsonSchemaTest, AllOf) {
  const char* schema = R"({"allOf":[{"type":"integer"},{"minimum":3}]})";
  EXPECT_TRUE(V(schema, "3").ok());
  EXPECT_FALSE(V(schema, "2").ok());
  EXPECT_FALSE(V(schema, "3.5").ok());
}

TEST(JsonSchemaTest, UnknownKeywordsAreIgnored) {
  const char* schema = R"({"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
                           "description":"args","strict":true,"title":"T",
                           "properties":{"a":{"type":"string","description":"the a","format":"uri"}}})";
  EXPECT_TRUE(V(schema, R"({"a":"not a uri but fine"})").ok());
  EXPECT_FALSE(V(schema, R"({"a":1})").ok());
}

TEST(JsonSchemaTest, MessagesStartWithThePath) {
  Status s = V(R"({"type":"object"})", "[]");
  EXPECT_THAT(s.message(), StartsWith("$: "));
}

}  // namespace
}  // namespace tide::workers
