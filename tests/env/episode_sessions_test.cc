// EpisodeSessions: Reset/Step/Verify/Close over real worlds (research/wide), the oracle
// solving an episode through Step alone (a Gym loop), malformed actions as error
// observations, the LRU cap dropping the least recently used episode, and concurrent steps.
#include "tide/env/episode_sessions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "tide/env/oracle.h"

namespace tide::env {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

TaskParams Wide(uint64_t seed, int items = 4) {
  TaskParams p;
  p.family = "wide";
  p.seed = seed;
  p.items = items;
  return p;
}

// Plays `policy` on one episode through the sessions only: the messages an agent would
// see, each tool call run by Step, until it answers; returns the verdict.
Result<EpisodeSessions::Scored> PlayEpisode(EpisodeSessions& sessions, const EpisodeSessions::Started& ep,
                                            workers::Policy* policy, int max_turns = 20) {
  std::vector<workers::Message> messages = {workers::Message::User(ep.prompt)};
  for (int turn = 0; turn < max_turns; ++turn) {
    workers::PolicyRequest req;
    req.messages = &messages;
    req.tools = &ep.tools;
    req.agent = "player";
    TIDE_ASSIGN_OR_RETURN(workers::PolicyResponse resp, policy->Generate(req));
    messages.push_back(resp.message);
    if (resp.message.tool_calls.empty()) return sessions.Verify(ep.id, resp.message.content);
    for (const auto& call : resp.message.tool_calls) {
      TIDE_ASSIGN_OR_RETURN(EpisodeSessions::StepResult step, sessions.Step(ep.id, call));
      messages.push_back(workers::Message::Tool(call.id, step.observation));
    }
  }
  return DeadlineExceeded("the policy did not answer in " + std::to_string(max_turns) + " turns");
}

TEST(ApplyTaskKnobsTest, SetsKnownKnobsAndNamesBadOnes) {
  TaskParams p;
  ASSERT_TRUE(ApplyTaskKnobs(json{{"items", 5}, {"columns", 2}, {"distractors", 0}, {"hops", 3}, {"failure_rate", 0.25}}, &p).ok());
  EXPECT_EQ(p.items, 5);
  EXPECT_EQ(p.hops, 3);
  EXPECT_EQ(p.failure_rate, 0.25);
  EXPECT_EQ(p.columns, 2);
  EXPECT_EQ(p.distractors, 0);
  EXPECT_TRUE(ApplyTaskKnobs(json(), &p).ok());  // no knobs

  Status s = ApplyTaskKnobs(json{{"itemz", 5}}, &p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"itemz\""));
  EXPECT_THAT(s.message(), HasSubstr("known: items"));
  s = ApplyTaskKnobs(json{{"items", "five"}}, &p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"items\" must be an integer"));
  s = ApplyTaskKnobs(json{{"items", 2.5}}, &p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = ApplyTaskKnobs(json{{"failure_rate", "high"}}, &p);
  EXPECT_THAT(s.message(), HasSubstr("\"failure_rate\" must be a number"));
  s = ApplyTaskKnobs(json::array({1}), &p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("JSON object"));
  s = ApplyTaskKnobs(json{{"items", 1LL << 40}}, &p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.items, 5);  // failed knobs change nothing they name
}

TEST(EpisodeSessionsTest, ResetDescribesTheTaskAndIsDeterministic) {
  EpisodeSessions sessions;
  auto a = sessions.Reset("research", Wide(11));
  auto b = sessions.Reset("research", Wide(11));
  auto c = sessions.Reset("research", Wide(12));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok() && c.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->world, "research");
  EXPECT_EQ(a->family, "wide");
  EXPECT_EQ(a->prompt, b->prompt);
  EXPECT_EQ(a->public_task, b->public_task);
  EXPECT_NE(a->prompt, c->prompt);
  std::vector<std::string> names;
  for (const auto& t : a->tools) names.push_back(t.name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"search", "open"}));
  EXPECT_EQ(sessions.size(), 3u);

  // The default family is filled in.
  auto d = sessions.Reset("research", TaskParams{});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->family, FindWorld("research").value()->task_families().front());
}

TEST(EpisodeSessionsTest, BadResetsNameTheProblem) {
  EpisodeSessions sessions;
  auto r = sessions.Reset("atlantis", Wide(1));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("known: research"));
  TaskParams p = Wide(1);
  p.family = "no-such-family";
  r = sessions.Reset("research", p);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("no-such-family"));
  r = sessions.Reset("research", Wide(1, 0));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sessions.size(), 0u);
}

TEST(EpisodeSessionsTest, TheOracleSolvesAnEpisodeThroughStepAlone) {
  EpisodeSessions sessions;
  OraclePolicy oracle;
  for (uint64_t seed : {3u, 4u, 5u}) {
    auto ep = sessions.Reset("research", Wide(seed, 5));
    ASSERT_TRUE(ep.ok()) << ep.status().ToString();
    auto scored = PlayEpisode(sessions, *ep, &oracle);
    ASSERT_TRUE(scored.ok()) << scored.status().ToString();
    EXPECT_EQ(scored->verdict.reward, 1.0) << scored->verdict.details.dump();
    EXPECT_TRUE(scored->verdict.success);
    EXPECT_GE(scored->steps, 10);  // five searches and five opens at least
    EXPECT_EQ(scored->error_steps, 0);
  }
}

TEST(EpisodeSessionsTest, MalformedActionsAreErrorObservations) {
  EpisodeSessions sessions;
  auto ep = sessions.Reset("research", Wide(2));
  ASSERT_TRUE(ep.ok());
  struct Case {
    workers::ToolCall call;
    std::string expect;
  } cases[] = {
      {{"c1", "teleport", "{}"}, "unknown tool \"teleport\""},
      {{"c2", "search", "{\"query\": "}, "not valid JSON"},
      {{"c3", "search", "{\"query\": 7}"}, "invalid arguments for search"},
      {{"c4", "search", "[1, 2]"}, "invalid arguments for search"},
      {{"c5", "open", "{}"}, "invalid arguments for open"},
  };
  int step = 0;
  for (const auto& c : cases) {
    auto r = sessions.Step(ep->id, c.call);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->is_error) << c.call.name << " " << c.call.arguments;
    EXPECT_THAT(r->observation, HasSubstr(c.expect));
    EXPECT_EQ(r->step, ++step);
  }
  auto ok = sessions.Step(ep->id, {"c6", "search", R"({"query": "company"})"});
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->is_error) << ok->observation;
  EXPECT_TRUE(json::parse(ok->observation, nullptr, false).is_array()) << ok->observation;

  auto wrong = sessions.Verify(ep->id, "I could not find anything.");
  ASSERT_TRUE(wrong.ok());
  EXPECT_LT(wrong->verdict.reward, 1.0);
  EXPECT_FALSE(wrong->verdict.success);
  EXPECT_EQ(wrong->steps, 6);
  EXPECT_EQ(wrong->error_steps, 5);
}

TEST(EpisodeSessionsTest, UnknownEpisodesAreNotFound) {
  EpisodeSessions sessions;
  auto s = sessions.Step("ep-nope", {"c1", "search", "{}"});
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr("ep-nope"));
  EXPECT_EQ(sessions.Verify("ep-nope", "x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sessions.Close("ep-nope").code(), StatusCode::kNotFound);
}

TEST(EpisodeSessionsTest, TheCapDropsTheLeastRecentlyUsedEpisode) {
  EpisodeSessions sessions(2);
  auto a = sessions.Reset("research", Wide(1));
  auto b = sessions.Reset("research", Wide(2));
  ASSERT_TRUE(a.ok() && b.ok());
  // Touch a: b becomes the least recently used.
  ASSERT_TRUE(sessions.Step(a->id, {"c1", "search", R"({"query": "x"})"}).ok());
  auto c = sessions.Reset("research", Wide(3));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions.expired(), 1u);
  auto gone = sessions.Verify(b->id, "x");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr("expired"));
  EXPECT_TRUE(sessions.Verify(a->id, "x").ok());
  EXPECT_TRUE(sessions.Verify(c->id, "x").ok());

  // Many resets never grow the table past the cap.
  for (uint64_t seed = 10; seed < 30; ++seed) ASSERT_TRUE(sessions.Reset("research", Wide(seed, 1)).ok());
  EXPECT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions.expired(), 21u);

  // Close frees a slot at once.
  auto d = sessions.Reset("research", Wide(40, 1));
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(sessions.Close(d->id).ok());
  EXPECT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions.Step(d->id, {"c1", "search", "{}"}).status().code(), StatusCode::kNotFound);
}

TEST(EpisodeSessionsTest, ConcurrentStepsOnOneEpisodeAreNumberedOnce) {
  EpisodeSessions sessions;
  auto ep = sessions.Reset("research", Wide(9));
  ASSERT_TRUE(ep.ok());
  constexpr int kThreads = 4, kSteps = 25;
  std::vector<std::vector<int>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        auto r = sessions.Step(ep->id, {"c", "search", R"({"query": "company"})"});
        if (r.ok() && !r->is_error) seen[t].push_back(r->step);
        // Resets on other threads churn the table at the same time.
        if (i % 5 == 0) (void)sessions.Reset("research", Wide(100 + static_cast<uint64_t>(t), 1));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int> all;
  for (const auto& v : seen) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kSteps));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kSteps);
}

}  // namespace
}  // namespace tide::env
