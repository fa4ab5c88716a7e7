#include "tide/env/research_tools.h"

#include <gtest/gtest.h>

#include "tide/workers/json_schema.h"
#include "tide/workers/tool_registry.h"

namespace tide::env {
namespace {

std::shared_ptr<const IndexedCorpus> MakeCorpus(uint64_t seed) {
  SeededRandom rng(seed);
  return std::make_shared<const IndexedCorpus>(GenerateCorpus(rng, CorpusOptions{}));
}

TEST(ResearchToolsTest, SearchFindsTheProfileFirstForAnExactName) {
  auto corpus = MakeCorpus(12);
  auto search = MakeSearchTool(corpus);
  for (int t : corpus->corpus.task_entities) {
    const std::string& name = corpus->corpus.entities[static_cast<size_t>(t)].name;
    Result<std::string> out = search->Call({{"query", name}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    nlohmann::json hits = nlohmann::json::parse(*out);
    ASSERT_TRUE(hits.is_array());
    ASSERT_FALSE(hits.empty());
    EXPECT_LE(hits.size(), static_cast<size_t>(kSearchDefaultLimit));
    EXPECT_EQ(hits[0]["title"], name);
    const Document* d = corpus->corpus.FindDocument(hits[0]["doc_id"].get<std::string>());
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->is_profile);
    EXPECT_FALSE(hits[0]["snippet"].get<std::string>().empty());
  }
}

TEST(ResearchToolsTest, SearchLimitAndSchema) {
  auto corpus = MakeCorpus(1);
  auto search = MakeSearchTool(corpus);
  const nlohmann::json& schema = search->spec().parameters;
  EXPECT_TRUE(workers::ValidateJsonSchema(schema, {{"query", "x"}, {"limit", 20}}).ok());
  EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"query", "x"}, {"limit", 21}}).ok());
  EXPECT_FALSE(workers::ValidateJsonSchema(schema, {{"limit", 3}}).ok());
  Result<std::string> out = search->Call({{"query", "company"}, {"limit", 3}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(nlohmann::json::parse(*out).size(), 3u);
  EXPECT_EQ(search->Call({{"query", "company"}, {"limit", 0}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*search->Call({{"query", "qqqqzzzz"}}), "[]");
}

TEST(ResearchToolsTest, OpenReturnsTheDocumentOrNotFound) {
  auto corpus = MakeCorpus(2);
  auto open = MakeOpenTool(corpus);
  const Document& d = corpus->corpus.documents[3];
  Result<std::string> out = open->Call({{"doc_id", d.doc_id}});
  ASSERT_TRUE(out.ok());
  nlohmann::json j = nlohmann::json::parse(*out);
  EXPECT_EQ(j["title"], d.title);
  EXPECT_EQ(j["text"], d.text);
  Result<std::string> missing = open->Call({{"doc_id", "doc-9999"}});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("doc-9999"), std::string::npos);
}

TEST(ResearchToolsTest, RegistryTurnsUnknownIdIntoAnErrorObservation) {
  auto corpus = MakeCorpus(2);
  workers::ToolRegistry registry;
  ASSERT_TRUE(registry.Add(MakeSearchTool(corpus)).ok());
  ASSERT_TRUE(registry.Add(MakeOpenTool(corpus)).ok());
  workers::ToolObservation obs = registry.Invoke({"c1", "open", R"({"doc_id":"nope"})"});
  EXPECT_TRUE(obs.is_error);
  EXPECT_NE(obs.content.find("nope"), std::string::npos);
}

TEST(ResearchToolsTest, SnippetCentresOnTheQuery) {
  std::string text(300, 'a');
  text += " Needle here. ";
  text += std::string(300, 'b');
  std::string s = Snippet(text, "needle");
  EXPECT_NE(s.find("Needle"), std::string::npos);
  EXPECT_EQ(s.substr(0, 3), "...");
  EXPECT_LE(s.size(), 210u);
  EXPECT_EQ(Snippet("Short text.", "zzz"), "Short text.");
}

}  // namespace
}  // namespace tide::env
