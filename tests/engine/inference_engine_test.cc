// InferenceEngine: continuous batching gives each request the tokens it gets alone,
// prefix sharing changes nothing but the work, preemption under a tiny KV budget loses no
// request, and stop strings, stop tokens, max_tokens, log-probs, cancellation and bad
// input behave as inference_engine.h says.
#include "tide/engine/inference_engine.h"

#include "tide/engine/json_constraint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace tide::engine {
namespace {


ModelWeights Weights() {
  ModelConfig c;
  c.vocab_size = 272;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 256;
  ModelWeights w = ModelWeights::Allocate(c);
  w.InitRandom(3);
  return w;
}

class InferenceEngineTest : public ::testing::Test {
 protected:
  InferenceEngineTest() : tokenizer_(ByteLevelTokenizer()), model_(Model::Create(Weights()).value()) {}

  std::unique_ptr<InferenceEngine> Engine(InferenceEngine::Options o) {
    auto e = InferenceEngine::Create(&model_, &tokenizer_, o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }

  // Requests sharing a 40-token prefix (a system prompt), each with its own tail and seed.
  std::vector<GenerateRequest> Requests(int count, int max_tokens) {
    std::mt19937 rng(9);
    std::vector<int32_t> prefix(40);
    for (auto& t : prefix) t = static_cast<int32_t>(rng() % 256);
    std::vector<GenerateRequest> out;
    for (int i = 0; i < count; ++i) {
      GenerateRequest r;
      r.prompt = prefix;
      for (int j = 0; j < 3 + i % 5; ++j) r.prompt.push_back(static_cast<int32_t>(rng() % 256));
      r.params.sampling.temperature = 0.9f;
      r.params.seed = 100 + i;
      r.params.max_tokens = max_tokens;
      r.params.top_logprobs = 2;
      out.push_back(std::move(r));
    }
    return out;
  }

  // Submits every request at once and waits for all.
  std::vector<GenerationResult> RunTogether(InferenceEngine* e, const std::vector<GenerateRequest>& reqs) {
    std::mutex mu;
    std::condition_variable cv;
    std::map<uint64_t, GenerationResult> results;
    std::map<uint64_t, size_t> index;
    size_t finished = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      std::lock_guard lock(mu);
      auto id = e->Submit(reqs[i], [&](const GenerationUpdate& u) {
        std::lock_guard l(mu);
        GenerationResult& r = results[u.request_id];
        r.tokens.insert(r.tokens.end(), u.tokens.begin(), u.tokens.end());
        r.text += u.text;
        r.cached_tokens = u.cached_tokens;
        if (u.finished) {
          r.finish_reason = u.finish_reason;
          ++finished;
          cv.notify_all();
        }
      });
      EXPECT_TRUE(id.ok());
      index[*id] = i;
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished == reqs.size(); });
    std::vector<GenerationResult> out(reqs.size());
    for (auto& [id, r] : results) out[index[id]] = std::move(r);
    return out;
  }

  static std::vector<int32_t> Ids(const GenerationResult& r) {
    std::vector<int32_t> ids;
    for (const auto& t : r.tokens) ids.push_back(t.id);
    return ids;
  }

  Tokenizer tokenizer_;
  Model model_;
};

TEST_F(InferenceEngineTest, BatchedEqualsOneAtATimeAndPrefixSharingChangesNothing) {
  const auto reqs = Requests(12, 24);
  InferenceEngine::Options shared;
  shared.block_size = 8;
  auto batched = Engine(shared);
  const auto together = RunTogether(batched.get(), reqs);
  const auto stats = batched->stats();
  EXPECT_GT(stats.cached_tokens, 0) << "the shared 40-token prefix should come from the cache";

  InferenceEngine::Options alone;
  alone.block_size = 8;
  alone.prefix_cache = false;
  auto sequential = Engine(alone);
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto r = sequential->Generate(reqs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->cached_tokens, 0);
    ASSERT_EQ(Ids(*r), Ids(together[i])) << "request " << i;
    EXPECT_EQ(r->text, together[i].text);
    for (size_t t = 0; t < r->tokens.size(); ++t) {
      EXPECT_NEAR(r->tokens[t].logprob, together[i].tokens[t].logprob, 1e-4);
      ASSERT_EQ(r->tokens[t].top.size(), 2u);
      EXPECT_GE(r->tokens[t].top[0].second, r->tokens[t].top[1].second);
    }
    EXPECT_EQ(r->finish_reason, FinishReason::kLength);
    EXPECT_EQ(r->completion_tokens, 24);
  }
}

TEST_F(InferenceEngineTest, PreemptionUnderATinyKvBudgetLosesNoRequest) {
  const auto reqs = Requests(10, 30);
  InferenceEngine::Options roomy;
  roomy.block_size = 4;
  auto reference = Engine(roomy);
  const auto want = RunTogether(reference.get(), reqs);
  InferenceEngine::Options tiny = roomy;
  tiny.kv_blocks = 24;  // one request needs up to 19 blocks; ten at once need far more
  auto cramped = Engine(tiny);
  const auto got = RunTogether(cramped.get(), reqs);
  EXPECT_GT(cramped->stats().preemptions, 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(got[i].finish_reason, FinishReason::kLength) << i;
    EXPECT_EQ(Ids(got[i]), Ids(want[i])) << "request " << i;
  }
  EXPECT_EQ(cramped->stats().kv.used, 0) << "every block released at the end";
}

TEST_F(InferenceEngineTest, StopStringsStopTokensAndCancellation) {
  auto e = Engine({});
  GenerateRequest r = Requests(1, 40)[0];
  r.params.sampling.temperature = 0.f;
  auto free_run = e->Generate(r);
  ASSERT_TRUE(free_run.ok());
  ASSERT_GE(free_run->tokens.size(), 10u);
  // Stop at the text of tokens 5..6: the output is what came before.
  const std::string full = free_run->text;
  GenerateRequest stopping = r;
  const std::string stop = *tokenizer_.Decode(std::vector<int32_t>{free_run->tokens[5].id, free_run->tokens[6].id});
  stopping.params.stop = {stop};
  auto stopped = e->Generate(stopping);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->text, full.substr(0, full.find(stop)));
  // A stop token: excluded from the output.
  GenerateRequest by_token = r;
  by_token.params.stop_token_ids = {free_run->tokens[3].id};
  auto token_stopped = e->Generate(by_token);
  ASSERT_TRUE(token_stopped.ok());
  EXPECT_EQ(token_stopped->finish_reason, FinishReason::kStop);
  EXPECT_LE(token_stopped->tokens.size(), 3u);
  // Cancellation ends a long request and frees its blocks: cancelled from its own first
  // update (so it is surely running), it ends cancelled within a step or two.
  GenerateRequest long_run = r;
  long_run.params.max_tokens = 200;
  std::mutex mu;
  std::condition_variable cv;
  FinishReason reason = FinishReason::kNone;
  int tokens = 0;
  auto submitted = e->Submit(long_run, [&](const GenerationUpdate& u) {
    std::lock_guard lock(mu);
    if (tokens == 0) e->Cancel(u.request_id);
    tokens += static_cast<int>(u.tokens.size());
    if (u.finished) {
      reason = u.finish_reason;
      cv.notify_all();
    }
  });
  ASSERT_TRUE(submitted.ok());
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return reason != FinishReason::kNone; });
  }
  EXPECT_EQ(reason, FinishReason::kCancelled);
  EXPECT_LT(tokens, 10);
  EXPECT_EQ(e->stats().kv.used, 0);
}

// Tool-call bodies under the JSON-schema constraint: a random model still writes a valid
// call (name, enum, integer, boolean, all required keys) and stops at </tool_call>.
TEST_F(InferenceEngineTest, ConstrainedToolCallsAreSchemaValid) {
  auto e = Engine({});
  const nlohmann::json params = nlohmann::json::parse(R"({"type": "object", "properties": {
      "city": {"enum": ["Paris", "Oslo"]}, "days": {"type": "integer"}, "ok": {"type": "boolean"}},
      "required": ["city", "days", "ok"]})");
  const nlohmann::json schema = ToolCallSchema({{"plan_trip", params}, {"noop", nlohmann::json()}});
  const auto trie = TokenTrie::FromTokenizer(tokenizer_);
  const int32_t end = *tokenizer_.AddedTokenId("</tool_call>");
  for (int i = 0; i < 20; ++i) {
    GenerateRequest r = Requests(1, 200)[0];
    r.params.seed = 1000 + i;
    r.params.sampling.temperature = 1.f;
    auto matcher = JsonSchemaMatcher::Create(schema);
    ASSERT_TRUE(matcher.ok()) << matcher.status().ToString();
    auto constraint = TokenConstraint::Create(std::move(*matcher), trie, {end});
    ASSERT_TRUE(constraint.ok());
    r.constraint = std::make_shared<TokenConstraint>(std::move(*constraint));
    auto out = e->Generate(r);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->finish_reason, FinishReason::kStop) << out->text;
    ASSERT_EQ(out->tokens.back().id, end);
    const std::string body = out->text.substr(0, out->text.rfind("</tool_call>"));
    const nlohmann::json call = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(call.is_discarded()) << body;
    ASSERT_TRUE(call["name"] == "plan_trip" || call["name"] == "noop") << body;
    if (call["name"] == "plan_trip") {
      const nlohmann::json& a = call["arguments"];
      EXPECT_TRUE(a["city"] == "Paris" || a["city"] == "Oslo") << body;
      EXPECT_TRUE(a["days"].is_number_integer()) << body;
      EXPECT_TRUE(a["ok"].is_boolean()) << body;
      EXPECT_EQ(a.size(), 3u) << body;
    }
  }
}

TEST_F(InferenceEngineTest, BadRequestsNameTheField) {
  auto e = Engine({});
  auto code_and = [&](GenerateRequest r, const std::string& field) {
    auto s = e->Submit(std::move(r), [](const GenerationUpdate&) {});
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(field), std::string::npos) << s.status().message();
  };
  GenerateRequest ok = Requests(1, 4)[0];
  code_and(GenerateRequest{}, "prompt");
  GenerateRequest r = ok;
  r.prompt[0] = 999;
  code_and(r, "prompt");
  r = ok;
  r.prompt.assign(300, 1);
  code_and(r, "prompt");
  r = ok;
  r.params.sampling.top_p = 0.f;
  code_and(r, "top_p");
  r = ok;
  r.params.sampling.temperature = -1.f;
  code_and(r, "temperature");
  r = ok;
  r.params.max_tokens = 0;
  code_and(r, "max_tokens");
  r = ok;
  r.params.top_logprobs = 21;
  code_and(r, "top_logprobs");
  // The engine still serves after bad requests.
  auto fine = e->Generate(ok);
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->completion_tokens, 4);
}

}  // namespace
}  // namespace tide::engine
