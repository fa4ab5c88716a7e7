// EnginePolicy on a real (tiny) model: a model fine-tuned in the test on one tool-calling
// turn answers that conversation through the policy with the tool call, parsed into the
// OpenAI shape; generation is reproducible and reports its token usage.
#include "tide/workers/engine_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tide/engine/chat_template.h"
#include "tide/engine/model.h"
#include "tide/engine/optimizer.h"

namespace tide::workers {
namespace {


engine::ModelConfig Config() {
  engine::ModelConfig c;
  c.vocab_size = 272;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.num_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 1024;
  return c;
}

TEST(EnginePolicyTest, FineTunedModelCallsTheToolThroughThePolicy) {
  const engine::Tokenizer tok = engine::ByteLevelTokenizer();
  engine::ModelWeights w = engine::ModelWeights::Allocate(Config());
  w.InitRandom(4);
  auto model = engine::Model::Create(&w);
  ASSERT_TRUE(model.ok());

  const std::vector<Message> context = {Message::User("Find tide.")};
  // No tool list in the prompt (it would make this test's training slow): parsing the
  // model's <tool_call> block does not depend on it.
  const std::vector<ToolSpec> tools;
  // One SFT example: the prompt as the policy renders it, then the assistant's tool call.
  engine::ChatTemplateOptions to;
  to.add_generation_prompt = true;
  to.enable_thinking = true;
  const std::string prompt = engine::RenderChat(ToJson(context), ToJson(tools), to).value();
  const std::string answer = "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"tide\"}}\n</tool_call><|im_end|>";
  std::vector<int32_t> ids = tok.Encode(prompt, true);
  const size_t prompt_len = ids.size();
  tok.EncodeTo(answer, true, &ids);
  std::vector<int32_t> inputs(ids.begin(), ids.end() - 1), targets(ids.begin() + 1, ids.end());
  std::vector<float> weights(inputs.size(), 0.f);
  for (size_t t = prompt_len - 1; t < weights.size(); ++t) weights[t] = 1.f;
  engine::OptimizerConfig oc;
  oc.kind = engine::OptimizerKind::kAdamW;
  oc.lr = 1e-2f;
  oc.weight_decay = 0.f;
  engine::Optimizer opt(oc, &w);
  float loss = 0;
  for (int step = 0; step < 150; ++step) {
    engine::Gradients g = model->ZeroGradients();
    loss = model->LossAndGrad(inputs, targets, weights, &g).value();
    ASSERT_TRUE(opt.Step(g).ok());
  }
  ASSERT_LT(loss, 0.05f) << "the tiny model did not memorise the turn";

  auto engine = engine::InferenceEngine::Create(&*model, &tok, {});
  ASSERT_TRUE(engine.ok());
  EnginePolicy::Options po;
  po.temperature = 0.f;
  po.max_tokens = 80;
  EnginePolicy policy(engine->get(), po);
  PolicyRequest req;
  req.messages = &context;
  req.tools = &tools;
  req.agent = "researcher-1";
  auto r = policy.Generate(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->message.role, "assistant");
  ASSERT_EQ(r->message.tool_calls.size(), 1u) << "content: " << r->message.content;
  EXPECT_EQ(r->message.tool_calls[0].name, "search");
  EXPECT_EQ(nlohmann::json::parse(r->message.tool_calls[0].arguments), nlohmann::json({{"query", "tide"}}));
  EXPECT_EQ(r->message.content, "");
  EXPECT_EQ(r->usage.prompt_tokens, static_cast<int64_t>(prompt_len));
  EXPECT_GT(r->usage.completion_tokens, 10);
  // Same agent, same context: the same answer (sampling too, through the derived seed).
  po.temperature = 1.f;
  EnginePolicy sampling(engine->get(), po);
  auto a = sampling.Generate(req), b = sampling.Generate(req);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ToJson(a->message), ToJson(b->message));
}

}  // namespace
}  // namespace tide::workers
