// InferenceEngine: continuous batching gives each request the tokens it gets alone,
// prefix sharing changes nothing but the work, preemption under a tiny KV budget loses no
// request, and stop strings, stop tokens, max_tokens, log-probs, cancellation and bad
// input behave as inference_engine.h says; router choices replay the serving forward,
// expert loads add up, and a constraint may repeat (parallel tool calls).
#include "tide/engine/inference_engine.h"

#include "tide/engine/json_constraint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "model_test_util.h"

namespace tide::engine {
namespace {

// `dense_first`: a layer 0 with a dense MLP before the MoE layers (3 layers in all).
ModelWeights Weights(bool dense_first = false) { return testing::TinyServingWeights(3, 256, dense_first); }

class InferenceEngineTest : public ::testing::Test {
 protected:
  InferenceEngineTest()
      : tokenizer_(ByteLevelTokenizer()),
        model_(Model::Create(Weights()).value()),
        mixed_(Model::Create(Weights(true)).value()) {}

  std::unique_ptr<InferenceEngine> Engine(InferenceEngine::Options o, Model* model = nullptr) {
    auto e = InferenceEngine::Create(model != nullptr ? model : &model_, &tokenizer_, o);
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

  // Greedy argmax of each row of logits [rows, vocab], over the tokenizer's vocabulary.
  std::vector<int32_t> Argmax(const Tensor& logits) const {
    const int vocab = static_cast<int>(logits.shape[1]);
    std::vector<int32_t> out;
    for (int r = 0; r < static_cast<int>(logits.shape[0]); ++r) {
      const float* row = logits.data.data() + static_cast<size_t>(r) * vocab;
      out.push_back(static_cast<int32_t>(std::max_element(row, row + tokenizer_.vocab_size()) - row));
    }
    return out;
  }

  // log softmax(logits[row])[id] over the tokenizer's vocabulary.
  double LogProb(const Tensor& logits, size_t row, int32_t id) const {
    const float* x = logits.data.data() + row * static_cast<size_t>(logits.shape[1]);
    const float* end = x + tokenizer_.vocab_size();
    const double max = *std::max_element(x, end);
    double z = 0;
    for (const float* p = x; p != end; ++p) z += std::exp(*p - max);
    return x[id] - max - std::log(z);
  }

  Tokenizer tokenizer_;
  Model model_;
  Model mixed_;  // a dense layer, then two MoE layers
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

// Routing replay: the router choices served with each token, assembled over prompt +
// completion (+ stop token), make Model::Forward predict exactly the tokens the engine
// generated, also for prompts taken from the prefix cache and sequences preempted and
// recomputed under a tiny KV budget; a plain forward records the same ids.
TEST_F(InferenceEngineTest, RouterChoicesReplayTheServingForward) {
  auto reqs = Requests(8, 20);
  for (auto& r : reqs) {
    r.params.sampling.temperature = 0.f;
    r.params.return_router_choices = true;
  }
  // One request ends on a stop token: its routing comes as stop_router_choices.
  InferenceEngine::Options probe_options;
  probe_options.block_size = 4;
  auto probe = Engine(probe_options, &mixed_);
  auto free_run = probe->Generate(reqs[2]);
  ASSERT_TRUE(free_run.ok());
  reqs[2].params.stop_token_ids = {free_run->tokens[6].id};
  InferenceEngine::Options tiny = probe_options;
  tiny.kv_blocks = 26;  // preemptions, and prefix blocks shared between the requests
  auto e = Engine(tiny, &mixed_);
  const auto got = RunTogether(e.get(), reqs);
  EXPECT_GT(e->stats().preemptions, 0);
  EXPECT_GT(e->stats().cached_tokens, 0);
  // RunTogether keeps only tokens and text: run each again alone for the full results (the
  // prefix cache of the same engine now serves their prompts).
  int ties = 0, rows_checked = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto r = e->Generate(reqs[i]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(Ids(*r), Ids(got[i])) << i;
    const int prompt = static_cast<int>(reqs[i].prompt.size());
    ASSERT_EQ(r->prompt_router_choices.size(), static_cast<size_t>(prompt - 1));
    if (i == 2) {
      EXPECT_EQ(r->finish_reason, FinishReason::kStop);
      EXPECT_EQ(r->stop_token_id, reqs[2].params.stop_token_ids[0]);
      EXPECT_EQ(r->stop_router_choices.size(), 4u);  // 2 MoE layers (layer 0 is dense) x top-2
    } else {
      EXPECT_EQ(r->stop_token_id, -1);
      EXPECT_TRUE(r->stop_router_choices.empty());
    }
    auto replay = MakeReplayInput(mixed_.config(), reqs[i].prompt, *r);
    ASSERT_TRUE(replay.ok()) << replay.status().ToString();
    ASSERT_EQ(replay->routing.tokens, static_cast<int>(replay->inputs.size()));
    ForwardOptions forced;
    forced.forced_routing = &replay->routing;
    auto logits = mixed_.Forward(replay->inputs, nullptr, forced);
    ASSERT_TRUE(logits.ok()) << logits.status().ToString();
    const std::vector<int32_t> predicted = Argmax(*logits);
    for (size_t t = prompt - 1; t < predicted.size(); ++t) {
      EXPECT_EQ(predicted[t], replay->targets[t]) << "request " << i << " row " << t;
      // The served log-prob of each output token is the replayed row's (the stop token has none).
      const size_t out = t - (prompt - 1);
      if (out < r->tokens.size()) {
        EXPECT_NEAR(LogProb(*logits, t, replay->targets[t]), r->tokens[out].logprob, 2e-5) << "request " << i << " row " << t;
      }
    }
    // Without forcing, the model chooses the same experts (up to rare router-score ties).
    RouterChoices recorded;
    ForwardOptions record;
    record.record_routing = &recorded;
    ASSERT_TRUE(mixed_.Forward(replay->inputs, nullptr, record).ok());
    for (size_t l = 0; l < recorded.experts.size(); ++l) {
      ASSERT_EQ(recorded.experts[l].size(), replay->routing.experts[l].size());
      for (size_t j = 0; j < recorded.experts[l].size(); ++j) ties += recorded.experts[l][j] != replay->routing.experts[l][j];
      rows_checked += static_cast<int>(recorded.experts[l].size());
    }
  }
  EXPECT_LE(ties, rows_checked / 200) << "recorded and served routing disagree in " << ties << " of " << rows_checked;
  // Asked without router choices: none come, and replay says why.
  GenerateRequest plain = reqs[0];
  plain.params.return_router_choices = false;
  auto r = e->Generate(plain);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->prompt_router_choices.empty());
  EXPECT_TRUE(r->tokens[0].router_choices.empty());
  EXPECT_EQ(MakeReplayInput(mixed_.config(), plain.prompt, *r).status().code(), StatusCode::kInvalidArgument);
}

// Expert loads: per MoE layer the counts sum to rows x top_k, and they are exactly the
// router choices of the rows the engine fed.
TEST_F(InferenceEngineTest, ExpertLoadCountsEveryFedRow) {
  auto e = Engine({}, &mixed_);
  const auto before = e->stats();
  ASSERT_EQ(before.expert_tokens.tokens.size(), 3u);
  EXPECT_TRUE(before.expert_tokens.tokens[0].empty()) << "layer 0 is dense";
  EXPECT_EQ(before.expert_tokens.tokens[1], std::vector<int64_t>(4, 0));
  EXPECT_EQ(before.expert_tokens.tokens[2], std::vector<int64_t>(4, 0));
  GenerateRequest req = Requests(1, 15)[0];
  req.params.return_router_choices = true;
  auto r = e->Generate(req);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->finish_reason, FinishReason::kLength);
  const auto stats = e->stats();
  // The last token is never fed: prompt + 15 - 1 rows.
  EXPECT_EQ(stats.forward_rows, static_cast<int64_t>(req.prompt.size()) + 14);
  for (int l : {1, 2}) {
    int64_t sum = 0;
    for (int64_t n : stats.expert_tokens.tokens[l]) sum += n;
    EXPECT_EQ(sum, stats.forward_rows * 2) << "layer " << l;
  }
  // Rows are layer-major: MoE layer 1's two ids, then layer 2's.
  std::vector<std::vector<int64_t>> counted(3, std::vector<int64_t>(4, 0));
  auto count = [&](const std::vector<int32_t>& row) {
    ASSERT_EQ(row.size(), 4u);
    for (size_t j = 0; j < 4; ++j) ++counted[1 + j / 2][row[j]];
  };
  for (const auto& row : r->prompt_router_choices) count(row);
  for (const auto& t : r->tokens) count(t.router_choices);
  EXPECT_EQ(counted[1], stats.expert_tokens.tokens[1]);
  EXPECT_EQ(counted[2], stats.expert_tokens.tokens[2]);
}

// A constraint with a repeat: after each value the model may stop (a stop token) or open
// another value, as parallel tool calls do; every value is schema-valid. final_token_ids
// end a request after the token, which stays in the output.
TEST_F(InferenceEngineTest, ConstraintRepeatAndFinalTokens) {
  auto e = Engine({});
  const nlohmann::json schema =
      ToolCallSchema({{"pick", nlohmann::json::parse(R"({"type": "object", "properties": {"n": {"enum": [1, 2]}},
      "required": ["n"]})")}});
  const auto trie = TokenTrie::FromTokenizer(tokenizer_);
  const int32_t end = *tokenizer_.AddedTokenId("</tool_call>");
  const int32_t im_end = *tokenizer_.AddedTokenId("<|im_end|>");
  std::vector<int32_t> repeat;
  tokenizer_.EncodeTo("\n<tool_call>\n", true, &repeat);
  ASSERT_EQ(repeat.size(), 3u);
  int most = 0;
  for (int i = 0; i < 12; ++i) {
    GenerateRequest r = Requests(1, 400)[0];
    r.params.seed = 50 + i;
    r.params.sampling.temperature = 1.f;
    r.params.stop_token_ids = {im_end};
    r.constraint = std::make_shared<TokenConstraint>(
        TokenConstraint::Create(JsonSchemaMatcher::Create(schema).value(), trie, {end}).value());
    r.constraint_repeat = repeat;
    auto out = e->Generate(r);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    if (out->finish_reason == FinishReason::kLength) continue;
    ASSERT_EQ(out->finish_reason, FinishReason::kStop);
    EXPECT_EQ(out->stop_token_id, im_end);
    // body </tool_call> (\n<tool_call>\n body </tool_call>)*
    std::string text = "<tool_call>\n" + out->text;
    int values = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      if (values > 0) {
        ASSERT_EQ(text.compare(pos, 1, "\n"), 0) << text;
        ++pos;
      }
      ASSERT_EQ(text.compare(pos, 12, "<tool_call>\n"), 0) << text;
      const size_t close = text.find("</tool_call>", pos);
      ASSERT_NE(close, std::string::npos) << text;
      const auto call = nlohmann::json::parse(text.substr(pos + 12, close - pos - 12), nullptr, false);
      ASSERT_FALSE(call.is_discarded()) << text;
      EXPECT_EQ(call["name"], "pick");
      EXPECT_TRUE(call["arguments"]["n"] == 1 || call["arguments"]["n"] == 2) << text;
      ++values;
      pos = close + 12;
    }
    most = std::max(most, values);
  }
  EXPECT_GE(most, 2) << "some seed should open a second value";
  // final_token_ids: greedy output cut right after the chosen token.
  GenerateRequest g = Requests(1, 30)[0];
  g.params.sampling.temperature = 0.f;
  auto full = e->Generate(g);
  ASSERT_TRUE(full.ok());
  const int32_t mark = full->tokens[4].id;
  size_t first = 0;
  while (full->tokens[first].id != mark) ++first;
  g.params.final_token_ids = {mark};
  auto cut = e->Generate(g);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->finish_reason, FinishReason::kStop);
  ASSERT_EQ(cut->tokens.size(), first + 1);
  EXPECT_EQ(cut->tokens.back().id, mark);
  EXPECT_EQ(cut->stop_token_id, -1);
}

// A lazy constraint (constraint_trigger) leaves the model free until the trigger, then
// forces one valid value, then leaves it free again without stopping the request.
TEST_F(InferenceEngineTest, LazyConstraintAppliesOnlyAfterItsTrigger) {
  auto e = Engine({});
  const nlohmann::json params = nlohmann::json::parse(R"({"type": "object", "properties": {
      "city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"]})");
  const auto trie = TokenTrie::FromTokenizer(tokenizer_);
  const int32_t open = *tokenizer_.AddedTokenId("<tool_call>");
  const int32_t end = *tokenizer_.AddedTokenId("</tool_call>");
  auto lazy = [&](GenerateRequest r) {
    auto matcher = JsonSchemaMatcher::Create(ToolCallSchema({{"go", params}}));
    EXPECT_TRUE(matcher.ok());
    r.constraint = std::make_shared<TokenConstraint>(TokenConstraint::Create(std::move(*matcher), trie, {end}).value());
    r.constraint_trigger = {open};
    return r;
  };
  for (int i = 0; i < 10; ++i) {
    GenerateRequest r = Requests(1, 120)[0];
    r.params.seed = 2000 + i;
    r.params.sampling.temperature = 1.f;
    r.params.top_logprobs = 0;
    // Not triggered: exactly what the model writes unconstrained (when it never opens a call).
    auto free = e->Generate(r), waiting = e->Generate(lazy(r));
    ASSERT_TRUE(free.ok() && waiting.ok());
    const bool opened = std::any_of(free->tokens.begin(), free->tokens.end(), [&](const GeneratedToken& t) { return t.id == open; });
    if (!opened) {
      EXPECT_EQ(waiting->text, free->text);
      for (const GeneratedToken& t : waiting->tokens) EXPECT_FALSE(t.constrained);
    }
    // Triggered by the prompt's last token: one valid call, then free text to max_tokens.
    r.prompt.push_back(open);
    auto out = e->Generate(lazy(r));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->finish_reason, FinishReason::kLength) << "reaching the end token does not stop a lazy request";
    const size_t close = out->text.find("</tool_call>");
    ASSERT_NE(close, std::string::npos) << out->text;
    const nlohmann::json call = nlohmann::json::parse(out->text.substr(0, close), nullptr, false);
    ASSERT_FALSE(call.is_discarded()) << out->text;
    EXPECT_EQ(call["name"], "go");
    EXPECT_TRUE(call["arguments"]["city"] == "Paris" || call["arguments"]["city"] == "Oslo") << out->text;
    // The value and its end token were sampled under the mask; what follows was not.
    const auto end_at = std::find_if(out->tokens.begin(), out->tokens.end(), [&](const GeneratedToken& t) { return t.id == end; });
    ASSERT_NE(end_at, out->tokens.end());
    for (auto t = out->tokens.begin(); t != out->tokens.end(); ++t) {
      const bool opened_again = std::any_of(end_at + 1, t + 1, [&](const GeneratedToken& u) { return u.id == open; });
      if (t <= end_at) EXPECT_TRUE(t->constrained) << (t - out->tokens.begin());
      else if (!opened_again) EXPECT_FALSE(t->constrained) << (t - out->tokens.begin());
    }
  }
  GenerateRequest bad = Requests(1, 8)[0];
  bad.constraint_trigger = {open};
  EXPECT_NE(e->Submit(bad, [](const GenerationUpdate&) {}).status().message().find("constraint_trigger"), std::string::npos);
}

// Colocated RL: new weights reach a running engine without a restart, and the prefix
// cache the old weights computed is not reused.
TEST_F(InferenceEngineTest, UpdateWeightsServesTheNewWeightsWithoutTheStalePrefixCache) {
  Model model = Model::Create(Weights()).value();
  InferenceEngine::Options o;
  o.max_running = 4;
  auto engine = Engine(o, &model);
  GenerateRequest request = Requests(1, 8)[0];
  request.params.sampling.temperature = 0;
  request.params.top_logprobs = 0;
  GenerationResult before = engine->Generate(request).value();
  ASSERT_GT(engine->stats().kv.cached, 0);  // the prompt's full blocks are in the prefix cache

  constexpr uint64_t kNewSeed = 77;
  Result<WeightUpdateReport> report = engine->UpdateWeights([&](Model& m) {
    m.weights().InitRandom(kNewSeed);
    return Status::Ok();
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->prefix_blocks_dropped, 0);
  EXPECT_GE(report->update_s, 0);
  GenerationResult after = engine->Generate(request).value();
  EXPECT_EQ(after.cached_tokens, 0);

  // What an engine started on the new weights generates.
  Model fresh = Model::Create(Weights()).value();
  fresh.weights().InitRandom(kNewSeed);
  auto fresh_engine = Engine(o, &fresh);
  GenerationResult expected = fresh_engine->Generate(request).value();
  auto ids = [](const GenerationResult& r) {
    std::vector<int32_t> out;
    for (const GeneratedToken& t : r.tokens) out.push_back(t.id);
    return out;
  };
  EXPECT_EQ(ids(after), ids(expected));
  EXPECT_NE(ids(after), ids(before));

  // A failed update is the caller's error, named; the engine keeps serving.
  Result<WeightUpdateReport> failed = engine->UpdateWeights([](Model&) { return InvalidArgument("bad shard"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("bad shard"), std::string::npos);
  EXPECT_EQ(ids(engine->Generate(request).value()), ids(expected));
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
  r = ok;
  r.constraint_repeat = {10};  // without a constraint
  code_and(r, "constraint_repeat");
  // The engine still serves after bad requests.
  auto fine = e->Generate(ok);
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->completion_tokens, 4);
}

}  // namespace
}  // namespace tide::engine
