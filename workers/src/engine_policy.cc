#include "tide/workers/engine_policy.h"

#include <functional>
#include <utility>

#include "tide/engine/chat_template.h"

namespace tide::workers {

EnginePolicy::EnginePolicy(engine::InferenceEngine* engine, Options options)
    : engine_(engine), options_(std::move(options)) {}

Result<std::shared_ptr<engine::TokenConstraint>> EnginePolicy::ToolCallConstraint(const std::vector<ToolSpec>& tools) {
  const engine::Tokenizer& tokenizer = engine_->tokenizer();
  const auto open = tokenizer.AddedTokenId("<tool_call>");
  const auto close = tokenizer.AddedTokenId("</tool_call>");
  if (!open || !close) return std::shared_ptr<engine::TokenConstraint>();
  std::vector<std::pair<std::string, nlohmann::json>> offered;
  for (const ToolSpec& t : tools) offered.emplace_back(t.name, t.parameters);
  engine::JsonConstraintOptions options;
  options.ignore_unsupported_keywords = true;  // minimum, pattern, …: checked by the tool registry instead
  TIDE_ASSIGN_OR_RETURN(engine::JsonSchemaMatcher matcher,
                        engine::JsonSchemaMatcher::Create(engine::ToolCallSchema(offered), options));
  std::shared_ptr<const engine::TokenTrie> trie;
  {
    std::lock_guard<std::mutex> lock(trie_mu_);
    if (trie_ == nullptr) trie_ = engine::TokenTrie::FromTokenizer(tokenizer);
    trie = trie_;
  }
  TIDE_ASSIGN_OR_RETURN(engine::TokenConstraint c, engine::TokenConstraint::Create(std::move(matcher), trie, {*close}));
  return std::make_shared<engine::TokenConstraint>(std::move(c));
}

Result<PolicyResponse> EnginePolicy::Generate(const PolicyRequest& request) {
  if (request.messages == nullptr) return InvalidArgument("EnginePolicy: no messages");
  const nlohmann::json tools =
      request.tools != nullptr && !request.tools->empty() ? ToJson(*request.tools) : nlohmann::json();
  engine::ChatTemplateOptions template_options;
  template_options.add_generation_prompt = true;
  template_options.enable_thinking = options_.enable_thinking;
  TIDE_ASSIGN_OR_RETURN(const std::string prompt, engine::RenderChat(ToJson(*request.messages), tools, template_options));
  const engine::Tokenizer& tokenizer = engine_->tokenizer();
  engine::GenerateRequest gen;
  gen.prompt = tokenizer.Encode(prompt, /*allow_special=*/true);
  gen.params.sampling.temperature = options_.temperature;
  gen.params.sampling.top_p = options_.top_p;
  gen.params.max_tokens = options_.max_tokens;
  gen.params.seed = options_.seed ^ (std::hash<std::string>{}(request.agent) * 0x9E3779B97F4A7C15ULL) ^
                    (static_cast<uint64_t>(request.messages->size()) << 32);
  for (const char* stop : {"<|im_end|>", "<|endoftext|>"}) {
    if (auto id = tokenizer.AddedTokenId(stop)) gen.params.stop_token_ids.push_back(*id);
  }
  gen.params.return_router_choices = options_.return_router_choices;
  if (options_.constrain_tool_calls && request.tools != nullptr && !request.tools->empty()) {
    // A schema the matcher cannot take leaves the calls unconstrained (the registry still
    // checks their arguments).
    Result<std::shared_ptr<engine::TokenConstraint>> constraint = ToolCallConstraint(*request.tools);
    if (constraint.ok() && *constraint != nullptr) {
      gen.constraint = std::move(*constraint);
      gen.constraint_trigger = {*tokenizer.AddedTokenId("<tool_call>")};
    }
  }
  std::vector<int32_t> prompt_ids = options_.on_generation ? gen.prompt : std::vector<int32_t>();
  TIDE_ASSIGN_OR_RETURN(engine::GenerationResult result, engine_->Generate(std::move(gen), request.cancelled));
  if (result.finish_reason == engine::FinishReason::kCancelled) return Cancelled("generation cancelled");
  if (options_.on_generation) options_.on_generation({request.agent, std::move(prompt_ids), result});
  const engine::ParsedAssistantOutput parsed = engine::ParseAssistantOutput(result.text);
  PolicyResponse response;
  response.message.role = "assistant";
  response.message.content = parsed.content;
  for (size_t i = 0; i < parsed.tool_calls.size(); ++i) {
    response.message.tool_calls.push_back(
        {"call_" + std::to_string(request.messages->size()) + "_" + std::to_string(i), parsed.tool_calls[i].name,
         parsed.tool_calls[i].arguments});
  }
  response.usage.prompt_tokens = result.prompt_tokens;
  response.usage.completion_tokens = result.completion_tokens;
  return response;
}

}  // namespace tide::workers
