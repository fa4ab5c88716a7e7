#include "tide/orchestrator/event_replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orchestrator_test_util.h"
#include "tide/orchestrator/store.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;
using tide::v1::EventKind;

TEST(EventReplayTest, TimingFieldsDoNotChangeAnEventsIdentity) {
  const json a = {{"tool_call_id", "call_0"}, {"name", "search"}, {"is_error", false}, {"ms", 101.5}};
  json b = a;
  b["ms"] = 3.25;
  b["started_ms"] = 17;
  b["wall_s"] = 0.5;
  EXPECT_EQ(EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", a),
            EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", b));
  // Everything else does: content, kind, agent, parent; nested "ms" too (only the top level
  // is timing).
  json c = a;
  c["is_error"] = true;
  EXPECT_NE(EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", a),
            EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", c));
  EXPECT_NE(EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", a),
            EventIdentity(EventKind::EVENT_KIND_MESSAGE, "r1", "coordinator", a));
  EXPECT_NE(EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r1", "coordinator", a),
            EventIdentity(EventKind::EVENT_KIND_TOOL_RESULT, "r2", "coordinator", a));
  // Field boundaries are not ambiguous: ("a|b", "") differs from ("a", "b").
  EXPECT_NE(EventIdentity(EventKind::EVENT_KIND_MESSAGE, "a|b", "", a),
            EventIdentity(EventKind::EVENT_KIND_MESSAGE, "a", "b", a));
  EXPECT_NE(EventIdentity(EventKind::EVENT_KIND_MESSAGE, "x", "", {{"items", 1}}),
            EventIdentity(EventKind::EVENT_KIND_MESSAGE, "x", "", {{"items", 2}}));
}

TEST(EventReplayTest, RepeatedEventsGetSuccessiveOccurrences) {
  EventKeys keys;
  const json m = {{"role", "system"}, {"content", "same"}};
  const std::string k0 = keys.Next(EventKind::EVENT_KIND_MESSAGE, "a", "", m);
  const std::string k1 = keys.Next(EventKind::EVENT_KIND_MESSAGE, "a", "", m);
  const std::string other = keys.Next(EventKind::EVENT_KIND_MESSAGE, "b", "", m);
  EXPECT_NE(k0, k1);
  EXPECT_THAT(k0, ::testing::EndsWith("#0"));
  EXPECT_THAT(k1, ::testing::EndsWith("#1"));
  EXPECT_THAT(other, ::testing::EndsWith("#0"));
}

TEST(EventReplayTest, StoredKeysAreWhatARerunComputesInAnyInterleaving) {
  testing::TempDir dir;
  Store::Options opts;
  opts.sync_writes = false;
  auto store = Store::Open(dir.path() + "/db", opts);
  ASSERT_TRUE(store.ok());
  struct E {
    EventKind kind;
    std::string agent;
    json payload;
  };
  // Two agents, each with a repeated message; stored in one interleaving...
  const std::vector<E> stored = {{EventKind::EVENT_KIND_RUN_STARTED, "", {{"request", {{"seed", 7}}}}},
                                 {EventKind::EVENT_KIND_MESSAGE, "a", {{"content", "x"}}},
                                 {EventKind::EVENT_KIND_MESSAGE, "b", {{"content", "x"}}},
                                 {EventKind::EVENT_KIND_MESSAGE, "a", {{"content", "x"}}},
                                 {EventKind::EVENT_KIND_TOOL_RESULT, "b", {{"name", "t"}, {"ms", 12.0}}}};
  for (size_t i = 0; i < stored.size(); ++i) {
    tide::v1::SwarmEvent ev;
    ev.set_run_id("r");
    ev.set_seq(i);
    ev.set_kind(stored[i].kind);
    ev.set_agent(stored[i].agent);
    ev.set_payload_json(stored[i].payload.dump());
    ASSERT_TRUE((*store)->AppendEvent("r", i, ev.SerializeAsString()).ok());
  }
  Result<std::unordered_set<std::string>> keys = StoredEventKeys(store->get(), "r");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), stored.size());
  // ...and emitted again in another one, with other timings: every key is found, and one
  // more message of "a" is new.
  EventKeys rerun;
  auto seen = [&](EventKind kind, const std::string& agent, const json& payload) {
    return keys->count(rerun.Next(kind, agent, "", payload)) > 0;
  };
  EXPECT_TRUE(seen(EventKind::EVENT_KIND_RUN_STARTED, "", {{"request", {{"seed", 7}}}}));
  EXPECT_TRUE(seen(EventKind::EVENT_KIND_MESSAGE, "b", {{"content", "x"}}));
  EXPECT_TRUE(seen(EventKind::EVENT_KIND_TOOL_RESULT, "b", {{"name", "t"}, {"ms", 99.0}}));
  EXPECT_TRUE(seen(EventKind::EVENT_KIND_MESSAGE, "a", {{"content", "x"}}));
  EXPECT_TRUE(seen(EventKind::EVENT_KIND_MESSAGE, "a", {{"content", "x"}}));
  EXPECT_FALSE(seen(EventKind::EVENT_KIND_MESSAGE, "a", {{"content", "x"}}));

  // A payload that is not JSON is data loss naming the event.
  tide::v1::SwarmEvent bad;
  bad.set_run_id("r");
  bad.set_seq(stored.size());
  bad.set_payload_json("{oops");
  ASSERT_TRUE((*store)->AppendEvent("r", stored.size(), bad.SerializeAsString()).ok());
  Result<std::unordered_set<std::string>> broken = StoredEventKeys(store->get(), "r");
  EXPECT_EQ(broken.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(broken.status().message(), ::testing::HasSubstr("event 5 of run r"));
}

}  // namespace
}  // namespace tide::orchestrator
