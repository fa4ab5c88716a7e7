#include "tide/env/api_catalog.h"

#include <set>

#include <gtest/gtest.h>

#include "tide/workers/json_schema.h"

namespace tide::env {
namespace {

using nlohmann::json;

TEST(ApiCatalogTest, CategoriesAreWellFormed) {
  ASSERT_GE(ApiCategories().size(), 8u);
  std::set<std::string> owners;
  for (const ApiCategory& c : ApiCategories()) {
    EXPECT_TRUE(owners.insert(c.owner).second) << c.owner;
    ASSERT_EQ(c.domains.size(), 4u) << c.name;
    for (const ApiDomain& d : c.domains) {
      EXPECT_EQ(d.category, c.name);
      EXPECT_EQ(d.noun.find(' '), std::string::npos) << "nouns are one word: " << d.noun;
      EXPECT_FALSE(d.actions.empty()) << d.noun;
      for (const ApiAction& a : d.actions) {
        EXPECT_EQ(a.verb.find(' '), std::string::npos);
        for (const std::string& s : a.from) {
          EXPECT_NE(std::find(d.statuses.begin(), d.statuses.end(), s), d.statuses.end()) << d.noun << " " << s;
        }
        EXPECT_NE(std::find(d.statuses.begin(), d.statuses.end(), a.to), d.statuses.end()) << d.noun << " " << a.to;
      }
      EXPECT_FALSE(d.IsTerminal(d.statuses.front())) << "a new " << d.noun << " can move on";
      int required = 0;
      for (const ApiField& f : d.fields) {
        required += f.required;
        if (f.type == ApiFieldType::kEnum) {
          EXPECT_GE(f.values.size(), 2u) << f.name;
        }
        if (f.type == ApiFieldType::kInteger || f.type == ApiFieldType::kNumber) {
          EXPECT_LT(f.min, f.max) << f.name;
        }
        EXPECT_NE(f.name, "status");
        EXPECT_NE(f.name, "id");
      }
      EXPECT_GE(required, 2) << d.noun;
    }
  }
}

TEST(ApiCatalogTest, SuiteToolsFollowTheNamingConventions) {
  SeededRandom rng(3);
  ApiSuite suite = GenerateApiSuite(rng);
  ASSERT_EQ(suite.domains.size(), 3u);
  std::vector<ApiToolDef> tools = ApiSuiteTools(suite);
  std::set<std::string> names;
  for (const ApiToolDef& t : tools) EXPECT_TRUE(names.insert(t.spec.name).second) << t.spec.name;
  EXPECT_TRUE(names.count("find_" + suite.owner + "s"));
  EXPECT_TRUE(names.count("get_" + suite.owner));
  for (const ApiDomain& d : suite.domains) {
    for (const std::string& op : {"list_" + d.plural(), "get_" + d.noun, "create_" + d.noun, "update_" + d.noun,
                                  "delete_" + d.noun}) {
      EXPECT_TRUE(names.count(op)) << op;
    }
    for (const ApiAction& a : d.actions) EXPECT_TRUE(names.count(a.verb + "_" + d.noun));
    // Every required field of the pool survives; at least two optional ones too.
    int optional = 0;
    for (const ApiField& f : d.fields) optional += !f.required;
    EXPECT_GE(optional, 2);
  }
}

TEST(ApiCatalogTest, SchemasAcceptGoodArgumentsAndRejectBadOnes) {
  SeededRandom rng(11);
  ApiSuite suite = GenerateApiSuite(rng);
  const ApiDomain& d = suite.domains[0];
  for (const ApiToolDef& t : ApiSuiteTools(suite)) {
    const json& schema = t.spec.parameters;
    EXPECT_EQ(schema["type"], "object") << t.spec.name;
    EXPECT_FALSE(schema["additionalProperties"].get<bool>()) << t.spec.name;
    EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"no_such_argument", 1}}).ok()) << t.spec.name;
    if (t.domain != 0) continue;
    json good;
    switch (t.kind) {
      case ApiToolKind::kList:
        good = {{"status", d.statuses[0]}, {"page", 1}, {"page_size", suite.max_page_size}};
        EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"status", "no-such-status"}}).ok());
        EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"page_size", suite.max_page_size + 1}}).ok());
        EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"page", 0}}).ok());
        break;
      case ApiToolKind::kCreate: {
        good = {{d.owner_key(), "X-1"}};
        for (const ApiField& f : d.fields) {
          if (!f.required) continue;
          if (f.type == ApiFieldType::kEnum) good[f.name] = f.values[0];
          if (f.type == ApiFieldType::kString) good[f.name] = "x";
          if (f.type == ApiFieldType::kDate) good[f.name] = "2025-01-31";
          if (f.type == ApiFieldType::kInteger) good[f.name] = static_cast<int64_t>(f.min);
          if (f.type == ApiFieldType::kNumber) good[f.name] = f.max;
        }
        json missing = good;
        missing.erase(d.owner_key());
        EXPECT_FALSE(workers::ValidateJsonSchema(schema, missing).ok());
        for (const ApiField& f : d.fields) {
          if (!f.required) continue;
          json bad = good;
          if (f.type == ApiFieldType::kEnum) bad[f.name] = "not-a-value";
          if (f.type == ApiFieldType::kInteger || f.type == ApiFieldType::kNumber) bad[f.name] = f.max + 1;
          if (f.type == ApiFieldType::kString || f.type == ApiFieldType::kDate) bad[f.name] = 42;
          EXPECT_FALSE(workers::ValidateJsonSchema(schema, bad).ok()) << f.name;
        }
        break;
      }
      default:
        good = {{d.id_key(), d.id_prefix + "-1001"}};
        EXPECT_FALSE(workers::ValidateJsonSchema(schema, json::object()).ok()) << t.spec.name << " needs an id";
        break;
    }
    if (t.kind == ApiToolKind::kUpdate) good["notes"] = "x";
    if (t.kind == ApiToolKind::kUpdate && !d.FindField("notes")) good.erase("notes");
    Status s = workers::ValidateJsonSchema(schema, good);
    EXPECT_TRUE(s.ok()) << t.spec.name << ": " << s.ToString() << " " << good.dump();
  }
}

// The world's promise: at least 1,000 distinct tool specs over seeds.
TEST(ApiCatalogTest, AtLeastAThousandDistinctToolSpecsOverSeeds) {
  std::set<std::string> specs, names;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    SeededRandom rng(seed);
    for (const ApiToolDef& t : ApiSuiteTools(GenerateApiSuite(rng))) {
      specs.insert(t.spec.name + "\n" + t.spec.parameters.dump());
      names.insert(t.spec.name);
    }
  }
  EXPECT_GE(specs.size(), 1000u);
  EXPECT_GE(names.size(), 250u);
}

TEST(ApiCatalogTest, SameSeedSameSuite) {
  SeededRandom a(42), b(42), c(43);
  std::vector<ApiToolDef> ta = ApiSuiteTools(GenerateApiSuite(a)), tb = ApiSuiteTools(GenerateApiSuite(b));
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].spec.name, tb[i].spec.name);
    EXPECT_EQ(ta[i].spec.parameters, tb[i].spec.parameters);
  }
}

}  // namespace
}  // namespace tide::env
