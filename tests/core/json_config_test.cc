#include "tide/core/json_config.h"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tide {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "tide_json_config_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

// ---------------------------------------------------------------- LoadJsonFile

TEST(JsonConfigTest, LoadsValidFile) {
  const std::string path = WriteTemp("good.json", R"({"max_subagents": 8, "name": "swarm", "nested": {"x": [1, 2]}})");
  Result<json> r = LoadJsonFile(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["max_subagents"], 8);
  EXPECT_EQ((*r)["name"], "swarm");
  EXPECT_EQ((*r)["nested"]["x"][1], 2);
  std::remove(path.c_str());
}

TEST(JsonConfigTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = testing::TempDir() + "tide_definitely_missing_config.json";
  Result<json> r = LoadJsonFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
}

TEST(JsonConfigTest, MalformedJsonIsInvalidArgumentNamingThePathAndPosition) {
  const std::string path = WriteTemp("bad.json", "{\n  \"a\": 1,\n  \"b\": \n}\n");
  Result<json> r = LoadJsonFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  EXPECT_THAT(r.status().message(), HasSubstr("line 4"));
  std::remove(path.c_str());
}

TEST(JsonConfigTest, EmptyFileIsInvalidArgument) {
  const std::string path = WriteTemp("empty.json", "");
  Result<json> r = LoadJsonFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  std::remove(path.c_str());
}

TEST(JsonConfigTest, FileThenReaderEndToEnd) {
  const std::string path = WriteTemp("swarm.json", R"({"max_subagents": 0})");
  Result<json> r = LoadJsonFile(path);
  ASSERT_TRUE(r.ok());
  ConfigReader reader(*r, path);
  int n = 4;
  Status s = reader.Int("max_subagents", &n, true, 1, 100);
  EXPECT_EQ(s.message(), path + ": field \"max_subagents\": must be an integer in [1, 100], got 0");
  EXPECT_EQ(n, 4);
  std::remove(path.c_str());
}

// ---------------------------------------------------------------- ConfigReader

TEST(ConfigReaderTest, ReadsEveryType) {
  const json j = {{"i", 5},        {"i64", int64_t{1} << 40}, {"u", 18446744073709551615ull},
                  {"d", 0.25},     {"b", true},               {"s", "gpu"},
                  {"whole", 7.0}};
  ConfigReader r(j, "cfg.json");
  int i = 0;
  int64_t i64 = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::string s;
  int whole = 0;
  ASSERT_TRUE(r.Int("i", &i, true, 0, 10).ok());
  ASSERT_TRUE(r.Int("i64", &i64, true, 0, int64_t{1} << 50).ok());
  ASSERT_TRUE(r.UInt64("u", &u, true).ok());
  ASSERT_TRUE(r.Double("d", &d, true, 0.0, 1.0).ok());
  ASSERT_TRUE(r.Bool("b", &b, true).ok());
  ASSERT_TRUE(r.String("s", &s, true, {"cpu", "gpu"}).ok());
  ASSERT_TRUE(r.Int("whole", &whole, true, 0, 10).ok());  // 7.0 is an integer
  EXPECT_EQ(i, 5);
  EXPECT_EQ(i64, int64_t{1} << 40);
  EXPECT_EQ(u, 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(d, 0.25);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "gpu");
  EXPECT_EQ(whole, 7);
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, AbsentOptionalFieldsLeaveDefaults) {
  const json j = json::object();
  ConfigReader r(j, "cfg.json");
  int i = 3;
  uint64_t u = 9;
  double d = 0.5;
  bool b = true;
  std::string s = "keep";
  EXPECT_TRUE(r.Int("i", &i, false, 0, 10).ok());
  EXPECT_TRUE(r.UInt64("u", &u, false).ok());
  EXPECT_TRUE(r.Double("d", &d, false, 0, 1).ok());
  EXPECT_TRUE(r.Bool("b", &b, false).ok());
  EXPECT_TRUE(r.String("s", &s, false, {"a"}).ok());
  EXPECT_EQ(i, 3);
  EXPECT_EQ(u, 9u);
  EXPECT_EQ(d, 0.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "keep");
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, WrongTypeNamesSourceAndField) {
  const json j = {{"max_subagents", "eight"}};
  ConfigReader r(j, "configs/swarm.json");
  int n = 4;
  Status s = r.Int("max_subagents", &n, true, 1, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("configs/swarm.json"));
  EXPECT_THAT(s.message(), HasSubstr("field \"max_subagents\""));
  EXPECT_THAT(s.message(), HasSubstr("\"eight\""));
  EXPECT_EQ(n, 4);
}

TEST(ConfigReaderTest, FractionalNumberIsNotAnInteger) {
  const json j = {{"max_subagents", 2.5}};
  ConfigReader r(j, "configs/swarm.json");
  int n = 4;
  Status s = r.Int("max_subagents", &n, true, 1, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("field \"max_subagents\""));
  EXPECT_EQ(n, 4);
}

TEST(ConfigReaderTest, OutOfRangeNamesTheRangeAndValue) {
  const json j = {{"max_subagents", 0}, {"big", 101}};
  ConfigReader r(j, "configs/swarm.json");
  int n = 4;
  Status s = r.Int("max_subagents", &n, true, 1, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "configs/swarm.json: field \"max_subagents\": must be an integer in [1, 100], got 0");
  EXPECT_EQ(n, 4);
  Status s2 = r.Int("big", &n, true, 1, 100);
  EXPECT_THAT(s2.message(), HasSubstr("field \"big\""));
  EXPECT_THAT(s2.message(), HasSubstr("got 101"));
  EXPECT_EQ(n, 4);
}

TEST(ConfigReaderTest, IntRangeBoundsAreInclusive) {
  const json j = {{"lo", 1}, {"hi", 100}};
  ConfigReader r(j, "c");
  int lo = 0, hi = 0;
  EXPECT_TRUE(r.Int("lo", &lo, true, 1, 100).ok());
  EXPECT_TRUE(r.Int("hi", &hi, true, 1, 100).ok());
  EXPECT_EQ(lo, 1);
  EXPECT_EQ(hi, 100);
}

TEST(ConfigReaderTest, IntOutsideIntRangeIsRejectedNotTruncated) {
  const json j = {{"n", int64_t{1} << 40}};
  ConfigReader r(j, "c");
  int n = 1;
  Status s = r.Int("n", &n, true, 0, 1000);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(n, 1);
}

TEST(ConfigReaderTest, DoubleOutOfRangeAndWrongType) {
  const json j = {{"temperature", 3.5}, {"top_p", "high"}, {"nan_like", nullptr}};
  ConfigReader r(j, "recipe.json");
  double t = 1.0, p = 1.0, x = 0.0;
  Status s = r.Double("temperature", &t, true, 0.0, 2.0);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("recipe.json: field \"temperature\""));
  EXPECT_THAT(s.message(), HasSubstr("3.5"));
  EXPECT_EQ(t, 1.0);
  Status s2 = r.Double("top_p", &p, true, 0.0, 1.0);
  EXPECT_THAT(s2.message(), HasSubstr("field \"top_p\""));
  EXPECT_THAT(s2.message(), HasSubstr("must be a number"));
  EXPECT_FALSE(r.Double("nan_like", &x, true, 0.0, 1.0).ok());
  // Integers are numbers too.
  const json k = {{"lr", 1}};
  ConfigReader rk(k, "recipe.json");
  double lr = 0;
  EXPECT_TRUE(rk.Double("lr", &lr, true, 0.0, 10.0).ok());
  EXPECT_EQ(lr, 1.0);
}

TEST(ConfigReaderTest, UInt64RejectsNegativeAndNonIntegers) {
  const json j = {{"seed", -1}, {"f", 1.5}, {"ok", 12}};
  ConfigReader r(j, "c.json");
  uint64_t v = 7;
  Status s = r.UInt64("seed", &v, true);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("c.json: field \"seed\""));
  EXPECT_EQ(v, 7u);
  EXPECT_FALSE(r.UInt64("f", &v, true).ok());
  EXPECT_EQ(v, 7u);
  EXPECT_TRUE(r.UInt64("ok", &v, true).ok());
  EXPECT_EQ(v, 12u);
}

TEST(ConfigReaderTest, BoolRejectsNonBooleans) {
  const json j = {{"resume", 1}, {"flag", "true"}};
  ConfigReader r(j, "c.json");
  bool b = false;
  Status s = r.Bool("resume", &b, true);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("field \"resume\""));
  EXPECT_FALSE(r.Bool("flag", &b, true).ok());
  EXPECT_FALSE(b);
}

TEST(ConfigReaderTest, MissingRequiredFieldNamesIt) {
  const json j = json::object();
  ConfigReader r(j, "configs/swarm.json");
  int n = 4;
  Status s = r.Int("max_subagents", &n, true, 1, 100);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("configs/swarm.json: field \"max_subagents\""));
  EXPECT_THAT(s.message(), HasSubstr("required"));
  std::string model;
  Status s2 = r.String("model", &model, true);
  EXPECT_THAT(s2.message(), HasSubstr("field \"model\""));
  EXPECT_THAT(s2.message(), HasSubstr("required"));
  bool b = false;
  EXPECT_THAT(r.Bool("b", &b, true).message(), HasSubstr("required"));
  double d = 0;
  EXPECT_THAT(r.Double("d", &d, true, 0, 1).message(), HasSubstr("required"));
  uint64_t u = 0;
  EXPECT_THAT(r.UInt64("u", &u, true).message(), HasSubstr("required"));
}

TEST(ConfigReaderTest, StringNotInAllowedSetListsChoices) {
  const json j = {{"device", "tpu"}, {"n", 3}};
  ConfigReader r(j, "engine.json");
  std::string device = "cpu";
  Status s = r.String("device", &device, true, {"cpu", "cuda"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("engine.json: field \"device\""));
  EXPECT_THAT(s.message(), HasSubstr("\"cpu\""));
  EXPECT_THAT(s.message(), HasSubstr("\"cuda\""));
  EXPECT_THAT(s.message(), HasSubstr("\"tpu\""));
  EXPECT_EQ(device, "cpu");
  std::string n;
  Status s2 = r.String("n", &n, true);
  EXPECT_THAT(s2.message(), HasSubstr("field \"n\": must be a string"));
}

TEST(ConfigReaderTest, StringWithoutAllowedSetAcceptsAnything) {
  const json j = {{"model", "anything-goes"}};
  ConfigReader r(j, "c");
  std::string model;
  EXPECT_TRUE(r.String("model", &model, true).ok());
  EXPECT_EQ(model, "anything-goes");
}

TEST(ConfigReaderTest, FinishReportsUnknownField) {
  const json j = {{"max_subagents", 8}, {"max_subagnets", 9}};
  ConfigReader r(j, "configs/swarm.json");
  int n = 0;
  ASSERT_TRUE(r.Int("max_subagents", &n, true, 1, 100).ok());
  Status s = r.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("configs/swarm.json"));
  EXPECT_THAT(s.message(), HasSubstr("field \"max_subagnets\""));
  EXPECT_THAT(s.message(), HasSubstr("not a known field"));
}

TEST(ConfigReaderTest, FieldsReadButAbsentOrInvalidCountAsSeen) {
  const json j = {{"a", 1}};
  ConfigReader r(j, "c");
  std::string a;
  EXPECT_FALSE(r.String("a", &a, false).ok());  // read (wrongly typed), so not "unknown"
  int b = 0;
  EXPECT_TRUE(r.Int("b", &b, false, 0, 1).ok());
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, HasDoesNotMarkFieldsAsRead) {
  const json j = {{"a", 1}};
  ConfigReader r(j, "c");
  EXPECT_TRUE(r.Has("a"));
  EXPECT_FALSE(r.Has("b"));
  EXPECT_FALSE(r.Finish().ok());
}

TEST(ConfigReaderTest, FinishRejectsNonObject) {
  const json j = json::array({1, 2});
  ConfigReader r(j, "configs/swarm.json");
  Status s = r.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("configs/swarm.json"));
  EXPECT_THAT(s.message(), HasSubstr("must be a JSON object"));
  // Getters on a non-object find nothing; a required field is then missing.
  int n = 0;
  EXPECT_FALSE(r.Int("n", &n, true, 0, 1).ok());
  EXPECT_FALSE(r.Has("n"));
}

TEST(ConfigReaderTest, NestedObjectPrefixesFieldNames) {
  const json j = {{"engine", {{"threads", 0}, {"kv", {{"blocks", "many"}}}, {"typo", 1}}}};
  ConfigReader r(j, "configs/model.json");
  Result<ConfigReader> engine = r.Object("engine");
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  int threads = 1;
  Status s = engine->Int("threads", &threads, true, 1, 64);
  EXPECT_EQ(s.message(), "configs/model.json: field \"engine.threads\": must be an integer in [1, 64], got 0");

  Result<ConfigReader> kv = engine->Object("kv");
  ASSERT_TRUE(kv.ok());
  int blocks = 0;
  Status s2 = kv->Int("blocks", &blocks, true, 1, 1 << 20);
  EXPECT_THAT(s2.message(), HasSubstr("configs/model.json: field \"engine.kv.blocks\""));
  EXPECT_TRUE(kv->Finish().ok());

  Status unknown = engine->Finish();
  EXPECT_THAT(unknown.message(), HasSubstr("field \"engine.typo\": is not a known field"));
  // The root read "engine", so it is complete.
  EXPECT_TRUE(r.Finish().ok());
}

TEST(ConfigReaderTest, ObjectRequiresAnObject) {
  const json j = {{"engine", 3}};
  ConfigReader r(j, "configs/model.json");
  Result<ConfigReader> engine = r.Object("engine");
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("configs/model.json: field \"engine\""));
  Result<ConfigReader> missing = r.Object("absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("field \"absent\""));
}

TEST(ConfigReaderTest, ErrorFormatsSourceAndPrefixedField) {
  const json j = json::object();
  ConfigReader r(j, "request", "swarm");
  Status s = r.Error("budget", "must be positive");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "request: field \"swarm.budget\": must be positive");
  ConfigReader root(j, "request");
  EXPECT_EQ(root.Error("budget", "x").message(), "request: field \"budget\": x");
}

}  // namespace
}  // namespace tide
