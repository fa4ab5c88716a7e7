#include "tide/orchestrator/call_journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "orchestrator_test_util.h"
#include "tide/orchestrator/store.h"
#include "tide/workers/agent.h"
#include "tide/workers/tool_registry.h"

namespace tide::orchestrator {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;
using testing::ScriptedPolicy;
using testing::TempDir;
using workers::Message;

// A tool that counts its executions and remembers the idempotency key each one ran under.
// "boom" throws; "fail" returns an error; anything else echoes.
class CountingTool : public workers::Tool {
 public:
  CountingTool() {
    spec_.name = "echo";
    spec_.parameters = {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}, {"required", {"text"}}};
  }
  const workers::ToolSpec& spec() const override { return spec_; }
  Result<std::string> Call(const json& arguments) override {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.push_back(CurrentIdempotencyKey());
    const std::string text = arguments["text"];
    if (text == "boom") throw std::runtime_error("kaboom");
    if (text == "fail") return Unavailable("backend down for " + text);
    return "echo " + text + " #" + std::to_string(keys_.size());
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(keys_.size());
  }
  std::vector<std::string> keys() const {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }

 private:
  workers::ToolSpec spec_;
  mutable std::mutex mu_;
  std::vector<std::string> keys_;
};

// Turn 1 calls echo with each of `texts` (in one message), turn 2 answers with what the tool
// said. Counts its calls; the reply text carries the call number, so a policy asked again
// instead of replayed would answer differently.
class EchoPolicy : public workers::Policy {
 public:
  explicit EchoPolicy(std::vector<std::string> texts) : texts_(std::move(texts)) {}
  std::string name() const override { return "echo-policy"; }
  Result<workers::PolicyResponse> Generate(const workers::PolicyRequest& request) override {
    const int n = ++calls_;
    workers::PolicyResponse r;
    r.usage.prompt_tokens = 10 * n;
    r.usage.completion_tokens = n;
    if (request.messages->back().role != "tool") {
      std::vector<workers::ToolCall> calls;
      for (size_t i = 0; i < texts_.size(); ++i) {
        calls.push_back({"call_" + std::to_string(i), "echo", json{{"text", texts_[i]}}.dump()});
      }
      r.message = Message::Assistant("", calls);
      return r;
    }
    std::string answer = "call " + std::to_string(n) + ":";
    for (const auto& m : *request.messages) {
      if (m.role == "tool") answer += " [" + m.content + "]";
    }
    r.message = Message::Assistant(answer);
    return r;
  }
  int calls() const { return calls_.load(); }

 private:
  std::vector<std::string> texts_;
  std::atomic<int> calls_{0};
};

// Fails the Put (or Get) of the first key starting with `prefix`; passes the rest through.
class FaultyBackend : public JournalBackend {
 public:
  FaultyBackend(std::unique_ptr<JournalBackend> inner, std::string fail_put, std::string fail_get = "")
      : inner_(std::move(inner)), fail_put_(std::move(fail_put)), fail_get_(std::move(fail_get)) {}
  Result<std::string> Get(const std::string& key) override {
    if (!fail_get_.empty() && key.rfind(fail_get_, 0) == 0) return Internal("injected read error for " + key);
    return inner_->Get(key);
  }
  Status Put(const std::string& key, std::string_view value) override {
    if (!fail_put_.empty() && key.rfind(fail_put_, 0) == 0) {
      fail_put_.clear();  // once
      return Internal("injected write error for " + key);
    }
    return inner_->Put(key, value);
  }
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix) override {
    return inner_->Scan(prefix);
  }

 private:
  std::unique_ptr<JournalBackend> inner_;
  std::string fail_put_, fail_get_;
};

class CallJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Store::Options opts;
    opts.sync_writes = false;
    auto store = Store::Open(dir_.path() + "/db", opts);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::unique_ptr<CallJournal> Journal(bool replay, std::unique_ptr<JournalBackend> backend = nullptr) {
    if (!backend) backend = MakeStoreJournalBackend(store_.get(), "run-1");
    return std::make_unique<CallJournal>("run-1", std::move(backend), &cancelled_, replay);
  }

  // One agent through the journal: the outcome and its whole context.
  struct Ran {
    workers::AgentOutcome outcome;
    std::vector<Message> context;
  };
  Ran RunAgent(CallJournal* journal, workers::Policy* policy, const std::string& task = "the task",
               const std::string& agent = "worker") {
    JournalScope scope(journal, agent, policy);
    workers::ToolRegistry tools;
    EXPECT_TRUE(tools.Add(scope.Wrap(tool_)).ok());
    workers::Agent a({agent, 10, &cancelled_}, scope.policy(), &tools, nullptr);
    Ran r;
    r.outcome = a.Run({Message::System("sys"), Message::User(task)});
    r.context = a.context();
    return r;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::atomic<bool> cancelled_{false};
  std::shared_ptr<CountingTool> tool_ = std::make_shared<CountingTool>();
};

TEST_F(CallJournalTest, AReplayAnswersEveryCallFromTheJournal) {
  EchoPolicy policy({"a", "b"});
  auto first = Journal(false);
  Ran original = RunAgent(first.get(), &policy);
  ASSERT_EQ(original.outcome.end, workers::AgentEnd::kFinished) << original.outcome.error.ToString();
  EXPECT_EQ(original.outcome.result, "call 2: [echo a #1] [echo b #2]");
  EXPECT_EQ(policy.calls(), 2);
  EXPECT_EQ(tool_->calls(), 2);
  EXPECT_EQ(first->stats().policy_executed, 2);
  EXPECT_EQ(first->stats().tool_executed, 2);
  // The tool ran under "<run>/<agent>/<step>/<hash>/<index>", step 0 being the first reply.
  ASSERT_EQ(tool_->keys().size(), 2u);
  EXPECT_THAT(tool_->keys()[0], StartsWith("run-1/worker/0/"));
  EXPECT_THAT(tool_->keys()[0], ::testing::EndsWith("/0"));
  EXPECT_THAT(tool_->keys()[1], ::testing::EndsWith("/1"));
  EXPECT_EQ(CurrentIdempotencyKey(), "");  // only set while a journaled call runs

  // A new process: the same agent again, answered from the journal alone.
  auto replay = Journal(true);
  Ran again = RunAgent(replay.get(), &policy);
  EXPECT_EQ(policy.calls(), 2);
  EXPECT_EQ(tool_->calls(), 2);
  EXPECT_EQ(again.outcome.result, original.outcome.result);
  EXPECT_EQ(again.outcome.usage.prompt_tokens, original.outcome.usage.prompt_tokens);
  EXPECT_EQ(again.outcome.usage.completion_tokens, original.outcome.usage.completion_tokens);
  EXPECT_EQ(workers::ToJson(again.context), workers::ToJson(original.context));
  EXPECT_EQ(replay->stats().policy_replayed, 2);
  EXPECT_EQ(replay->stats().tool_replayed, 2);
  EXPECT_EQ(replay->stats().policy_executed + replay->stats().tool_executed, 0);
  EXPECT_TRUE(replay->failure().ok());

  Result<JournalSummary> summary = SummarizeJournal(MakeStoreJournalBackend(store_.get(), "run-1").get());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->policy_calls, 2);
  EXPECT_EQ(summary->tool_calls, 2);
  EXPECT_EQ(summary->unfinished_tools, 0);
}

TEST_F(CallJournalTest, AFreshRunNeverReadsTheJournal) {
  // Entries under the same keys exist, but a fresh run does not look: it asks.
  EchoPolicy policy({"a"});
  auto first = Journal(false);
  RunAgent(first.get(), &policy);
  auto second = Journal(false, std::make_unique<FaultyBackend>(MakeStoreJournalBackend(store_.get(), "run-1"), "",
                                                               /*fail_get=*/"p/"));
  Ran r = RunAgent(second.get(), &policy);
  EXPECT_EQ(r.outcome.end, workers::AgentEnd::kFinished);
  EXPECT_EQ(policy.calls(), 4);
  EXPECT_TRUE(second->failure().ok());
}

TEST_F(CallJournalTest, ErrorsAndExceptionsAreJournaledAndReplayed) {
  EchoPolicy policy({"fail", "boom", "ok"});
  auto first = Journal(false);
  Ran original = RunAgent(first.get(), &policy);
  ASSERT_EQ(original.outcome.end, workers::AgentEnd::kFinished);
  EXPECT_THAT(original.outcome.result, HasSubstr("[error: backend down for fail]"));
  EXPECT_THAT(original.outcome.result, HasSubstr("[error: tool echo failed: kaboom]"));
  EXPECT_EQ(tool_->calls(), 3);

  auto replay = Journal(true);
  Ran again = RunAgent(replay.get(), &policy);
  EXPECT_EQ(tool_->calls(), 3);
  EXPECT_EQ(again.outcome.result, original.outcome.result);
  EXPECT_EQ(replay->stats().tool_replayed, 3);

  // A policy error is an answer too: a replay fails the agent the same way.
  ScriptedPolicy broken([](const workers::PolicyRequest&) -> Result<workers::PolicyResponse> {
    return ResourceExhausted("rate limited for good");
  });
  auto j1 = Journal(false);
  Ran failed = RunAgent(j1.get(), &broken, "another task");
  EXPECT_EQ(failed.outcome.end, workers::AgentEnd::kFailed);
  int asked = 0;
  ScriptedPolicy healthy([&](const workers::PolicyRequest&) -> Result<workers::PolicyResponse> {
    ++asked;
    return testing::Reply(Message::Assistant("fine"));
  });
  auto j2 = Journal(true);
  Ran replayed = RunAgent(j2.get(), &healthy, "another task");
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(replayed.outcome.end, workers::AgentEnd::kFailed);
  EXPECT_EQ(replayed.outcome.error.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(replayed.outcome.error.message(), HasSubstr("rate limited for good"));
}

TEST_F(CallJournalTest, ACallCutShortByACrashRunsAgainUnderTheSameKey) {
  // The write of the first tool result fails, as if the process died right after the tool
  // ran: the intent is journaled, the result is not.
  EchoPolicy policy({"a", "b"});
  auto first = Journal(false, std::make_unique<FaultyBackend>(MakeStoreJournalBackend(store_.get(), "run-1"), "t/"));
  Ran cut = RunAgent(first.get(), &policy);
  EXPECT_NE(cut.outcome.end, workers::AgentEnd::kFinished);
  EXPECT_TRUE(cancelled_.load());  // a journal failure stops the run
  EXPECT_EQ(first->failure().code(), StatusCode::kInternal);
  EXPECT_THAT(first->failure().message(), HasSubstr("injected write error for t/worker/0/"));
  ASSERT_EQ(tool_->calls(), 1);
  const std::string key = tool_->keys()[0];

  Result<JournalSummary> summary = SummarizeJournal(MakeStoreJournalBackend(store_.get(), "run-1").get());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->unfinished_tools, 1);

  cancelled_ = false;
  auto replay = Journal(true);
  Ran resumed = RunAgent(replay.get(), &policy);
  ASSERT_EQ(resumed.outcome.end, workers::AgentEnd::kFinished) << resumed.outcome.error.ToString();
  EXPECT_EQ(policy.calls(), 2);  // turn 1 replayed, turn 2 asked
  ASSERT_EQ(tool_->calls(), 3);  // "a" again (it never got journaled), then "b"
  EXPECT_EQ(tool_->keys()[1], key);
  EXPECT_EQ(replay->stats().tool_reexecuted, 1);
  Result<std::string> entry = MakeStoreJournalBackend(store_.get(), "run-1")->Get("t/" + key.substr(6));
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(json::parse(*entry)["attempts"], 2);
}

TEST_F(CallJournalTest, ReadAndWriteFailuresStopTheRunNamingTheKey) {
  EchoPolicy policy({"a"});
  auto first = Journal(false, std::make_unique<FaultyBackend>(MakeStoreJournalBackend(store_.get(), "run-1"), "p/"));
  Ran r = RunAgent(first.get(), &policy);
  EXPECT_EQ(r.outcome.end, workers::AgentEnd::kCancelled);  // the flag was up when the step failed
  EXPECT_THAT(r.outcome.error.ToString(), HasSubstr("injected write error for p/worker/0/"));
  EXPECT_THAT(first->failure().message(), HasSubstr("journal of run run-1"));
  EXPECT_EQ(tool_->calls(), 0);

  cancelled_ = false;
  auto reader = Journal(true, std::make_unique<FaultyBackend>(MakeStoreJournalBackend(store_.get(), "run-1"), "",
                                                              /*fail_get=*/"p/"));
  Ran r2 = RunAgent(reader.get(), &policy);
  EXPECT_NE(r2.outcome.end, workers::AgentEnd::kFinished);
  EXPECT_THAT(reader->failure().message(), HasSubstr("injected read error for p/worker/0/"));
  EXPECT_TRUE(cancelled_.load());
}

TEST_F(CallJournalTest, ACorruptEntryIsDataLossNamingIt) {
  EchoPolicy policy({"a"});
  auto first = Journal(false);
  RunAgent(first.get(), &policy);
  auto backend = MakeStoreJournalBackend(store_.get(), "run-1");
  auto entries = backend->Scan("p/");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  ASSERT_TRUE(backend->Put(entries->front().first, "{not json").ok());
  auto replay = Journal(true);
  Ran r = RunAgent(replay.get(), &policy);
  EXPECT_NE(r.outcome.end, workers::AgentEnd::kFinished);
  EXPECT_EQ(replay->failure().code(), StatusCode::kDataLoss);
  EXPECT_THAT(replay->failure().message(), HasSubstr(entries->front().first));
}

TEST_F(CallJournalTest, NothingIsJournaledOnceTheRunIsStopping) {
  EchoPolicy policy({"a"});
  auto journal = Journal(false);
  JournalScope scope(journal.get(), "worker", &policy);
  std::vector<Message> context = {Message::System("sys"), Message::User("t")};
  std::vector<workers::ToolSpec> specs = {tool_->spec()};
  ASSERT_TRUE(scope.policy()->Generate({&context, &specs, "worker", &cancelled_}).ok());
  cancelled_ = true;  // e.g. the deadline passed while the tool ran
  auto tool = scope.Wrap(tool_);
  ASSERT_TRUE(tool->Call({{"text", "a"}}).ok());
  auto results = MakeStoreJournalBackend(store_.get(), "run-1")->Scan("t/");
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(results->empty());
  EXPECT_TRUE(journal->failure().ok());
}

TEST_F(CallJournalTest, KeysTellApartAgentsAndTasksThatShareANameOrAStep) {
  EchoPolicy policy({"a"});
  auto journal = Journal(false);
  RunAgent(journal.get(), &policy, "task one", "worker");
  RunAgent(journal.get(), &policy, "task two", "worker");
  RunAgent(journal.get(), &policy, "task one", "other");
  auto entries = MakeStoreJournalBackend(store_.get(), "run-1")->Scan("p/");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 6u);  // 3 agents x 2 steps, none overwritten
  // The runs of one journal do not see another run's entries.
  auto other = MakeStoreJournalBackend(store_.get(), "run-2")->Scan("");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST_F(CallJournalTest, WithoutAJournalTheScopeIsAPassThrough) {
  EchoPolicy policy({"a"});
  JournalScope scope(nullptr, "worker", &policy);
  EXPECT_EQ(scope.policy(), &policy);
  std::shared_ptr<workers::Tool> t = tool_;
  EXPECT_EQ(scope.Wrap(t), t);
}

TEST(StableHashTest, IsFnv1a64) {
  EXPECT_EQ(StableHash(""), "cbf29ce484222325");
  EXPECT_EQ(StableHash("a"), "af63dc4c8601ec8c");
  EXPECT_NE(StableHash("ab"), StableHash("ba"));
}

}  // namespace
}  // namespace tide::orchestrator
