// The OpenAI wire format of Tide's HTTP server (openai_server.h), apart from the network:
// request bodies of /v1/chat/completions and /v1/completions parsed and checked into engine
// requests, and the response, stream-chunk and error bodies built from engine results.
// Field names and defaults follow the OpenAI API reference; unsupported options that
// change results (n > 1, echo, best_of) are errors rather than silently ignored.
//
// Errors: InvalidArgument whose message starts with the offending parameter ("top_p: ...");
// ErrorBody turns any Status into {"error": {"message", "type", "param", "code"}} and
// HttpStatusFor gives its HTTP status.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tide/core/status.h"
#include "tide/engine/chat_template.h"
#include "tide/engine/inference_engine.h"

namespace tide::orchestrator {

struct ApiRequest {
  bool chat = true;
  std::string model;
  nlohmann::json messages;  // chat: validated by the chat template when rendered
  nlohmann::json tools;     // chat: null or an array
  std::string tool_choice = "auto";  // "auto", "none", "required", or a function's name
  std::string prompt;       // completions
  engine::GenerationParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  // chat_template_kwargs.enable_thinking; false adds an empty <think> block to the prompt.
  // True by default: Tide's trainer renders turns without one, so prompts match training.
  bool enable_thinking = true;
};

// `model_name`: the one model served; another name is an error (param "model").
Result<ApiRequest> ParseChatRequest(const nlohmann::json& body, const std::string& model_name);
Result<ApiRequest> ParseCompletionRequest(const nlohmann::json& body, const std::string& model_name);

// The prompt text for the engine: the rendered chat (generation prompt added), or the
// completion prompt as it is.
Result<std::string> PromptText(const ApiRequest& request);

// Non-streaming bodies.
nlohmann::json ChatResponse(const ApiRequest& request, const std::string& id, int64_t created,
                            const engine::GenerationResult& result, const engine::Tokenizer& tokenizer);
nlohmann::json CompletionResponse(const ApiRequest& request, const std::string& id, int64_t created,
                                  const engine::GenerationResult& result, const engine::Tokenizer& tokenizer);

// finish_reason as OpenAI names it ("tool_calls" when the turn called tools).
std::string FinishReasonFor(engine::FinishReason reason, bool called_tools);
// The logprobs object of a chat choice ({"content": [...]}) or a completion choice.
nlohmann::json ChatLogprobs(const std::vector<engine::GeneratedToken>& tokens, const engine::Tokenizer& tokenizer);
nlohmann::json CompletionLogprobs(const std::vector<engine::GeneratedToken>& tokens,
                                  const engine::Tokenizer& tokenizer);
nlohmann::json UsageJson(const engine::GenerationResult& result);

nlohmann::json ErrorBody(const Status& status);
int HttpStatusFor(const Status& status);

}  // namespace tide::orchestrator
