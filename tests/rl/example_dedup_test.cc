// Normalization for duplicate detection: call ids, argument key order and surrounding
// whitespace do not make two examples differ; any change of content, role, tool or call
// structure does.
#include "tide/rl/example_dedup.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tide::rl {
namespace {

using nlohmann::json;

json Conversation(const std::string& id, const std::string& args, const std::string& answer) {
  return json::array({
      {{"role", "system"}, {"content", "You are a researcher."}},
      {{"role", "user"}, {"content", "Find Acme's founding year."}},
      {{"role", "assistant"},
       {"content", ""},
       {"tool_calls", json::array({{{"id", id}, {"type", "function"}, {"function", {{"name", "search"}, {"arguments", args}}}}})}},
      {{"role", "tool"}, {"tool_call_id", id}, {"content", "[{\"doc_id\": \"d1\"}]"}},
      {{"role", "assistant"}, {"content", answer}},
  });
}

TEST(ExampleDedupTest, IdsKeyOrderAndWhitespaceDoNotMatter) {
  const json a = Conversation("call_1_1", R"({"query": "Acme", "k": 5})", "1999");
  const json b = Conversation("xyz-42", R"({"k":5,"query":"Acme"})", "  1999\n");
  EXPECT_EQ(NormalizeMessages(a), NormalizeMessages(b));
  EXPECT_EQ(MessagesFingerprint(a), MessagesFingerprint(b));
  // The normal form labels calls by order of appearance.
  const json n = NormalizeMessages(a);
  EXPECT_EQ(n[2]["tool_calls"][0]["id"], "c0");
  EXPECT_EQ(n[3]["tool_call_id"], "c0");
  EXPECT_EQ(n[2]["tool_calls"][0]["arguments"], R"({"k":5,"query":"Acme"})");
}

TEST(ExampleDedupTest, ContentAndStructureDoMatter) {
  const json base = Conversation("c", R"({"query": "Acme"})", "1999");
  const Fingerprint f = MessagesFingerprint(base);
  EXPECT_FALSE(MessagesFingerprint(Conversation("c", R"({"query": "Acme"})", "2000")) == f);
  EXPECT_FALSE(MessagesFingerprint(Conversation("c", R"({"query": "Acne"})", "1999")) == f);
  json renamed = base;
  renamed[2]["tool_calls"][0]["function"]["name"] = "lookup";
  EXPECT_FALSE(MessagesFingerprint(renamed) == f);
  json role = base;
  role[1]["role"] = "system";
  EXPECT_FALSE(MessagesFingerprint(role) == f);
  json shorter = base;
  shorter.erase(shorter.size() - 1);
  EXPECT_FALSE(MessagesFingerprint(shorter) == f);
  // Which call a tool message answers is structure: swapping answers of two calls differs.
  json two = json::array({{{"role", "user"}, {"content", "q"}},
                          {{"role", "assistant"},
                           {"tool_calls", json::array({{{"id", "a"}, {"type", "function"}, {"function", {{"name", "s"}, {"arguments", "{}"}}}},
                                                       {{"id", "b"}, {"type", "function"}, {"function", {{"name", "s"}, {"arguments", "{}"}}}}})}},
                          {{"role", "tool"}, {"tool_call_id", "a"}, {"content", "x"}},
                          {{"role", "tool"}, {"tool_call_id", "b"}, {"content", "y"}}});
  json swapped = two;
  swapped[2]["tool_call_id"] = "b";
  swapped[3]["tool_call_id"] = "a";
  EXPECT_FALSE(MessagesFingerprint(two) == MessagesFingerprint(swapped));
}

TEST(ExampleDedupTest, FingerprintsAreStableAndSpread) {
  const Fingerprint empty = FingerprintOf("");
  EXPECT_EQ(empty, FingerprintOf(""));
  EXPECT_FALSE(FingerprintOf("a") == FingerprintOf("b"));
  EXPECT_FALSE(FingerprintOf("ab") == FingerprintOf("ba"));
  ExampleDeduper d;
  for (int i = 0; i < 20000; ++i) EXPECT_TRUE(d.Insert(FingerprintOf("example " + std::to_string(i))));
  EXPECT_EQ(d.size(), 20000u);
  EXPECT_FALSE(d.Insert(FingerprintOf("example 123")));
  EXPECT_TRUE(d.Contains(FingerprintOf("example 0")));
  // Combining is order-sensitive.
  const Fingerprint x = FingerprintOf("x"), y = FingerprintOf("y");
  EXPECT_FALSE(Combine(Combine({}, x), y) == Combine(Combine({}, y), x));
}

TEST(ExampleDedupTest, OddInputIsKeptNotCrashedOn) {
  EXPECT_EQ(NormalizeMessages(json("text")), json::array());
  const json odd = json::array({1, {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({1})}}});
  const json n = NormalizeMessages(odd);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0], 1);
  EXPECT_EQ(n[1]["tool_calls"][0]["name"], "");
}

}  // namespace
}  // namespace tide::rl
