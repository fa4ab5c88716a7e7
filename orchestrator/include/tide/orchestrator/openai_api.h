// The OpenAI wire format of Tide's HTTP server (openai_server.h), apart from the network:
// request bodies of /v1/chat/completions and /v1/completions parsed and checked into engine
// requests, and the response, stream-chunk and error bodies built from engine results.
// Field names and defaults follow the OpenAI API reference; unsupported options that
// change results (n > 1, echo, best_of) are errors rather than silently ignored.
//
// parallel_tool_calls (chat, default true): with true every <tool_call> block of the turn
// becomes a `tool_calls` entry (distinct ids); with false the turn ends after its first
// </tool_call> (the engine stops there; any text after it is dropped) and at most one call
// comes back. With tool_choice "required" or a function's name, true lets the constrained
// decoder open another schema-checked call after each one ("\n<tool_call>\n", or stop):
// one or more calls; false gives exactly one.
//
// Extension (like vLLM's extra fields): "return_router_choices": true on either endpoint
// adds to the choice (and to each stream chunk's choice) a `router_choices` object, the
// routing-replay contract of tide/engine/inference_engine.h in JSON:
//   {"prompt_token_ids": [...],      the prompt as the engine ran it
//    "prompt": [[ids], ...],          experts of prompt rows 0 .. P-2
//    "token_ids": [...],              the generated tokens
//    "tokens": [[ids], ...],          per generated token: the experts of the row that sampled it
//    "stop_token_id": id | null,      the stop token that ended the turn (not in the output)
//    "stop": [ids] | null}            the row that sampled it
// Each [ids] is layer-major: num_moe_layers * top_k expert ids. prompt ++ tokens ++ [stop]
// routes prompt_token_ids ++ token_ids ++ [stop_token_id] without its last token. Stream
// chunks carry what is new in that chunk: "prompt_token_ids"/"prompt" once (in the first
// chunk with output), "token_ids"/"tokens" for the chunk's tokens, and
// "stop_token_id"/"stop" in the chunk of the engine's last update when a stop token ended
// the turn; concatenated over the stream they are the non-streaming object.
//
// Errors: InvalidArgument whose message starts with the offending parameter ("top_p: ...");
// ErrorBody turns any Status into {"error": {"message", "type", "param", "code"}} and
// HttpStatusFor gives its HTTP status.
// Thread safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
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
  bool parallel_tool_calls = true;     // chat: see the top of this file
  bool return_router_choices = false;  // also sets params.return_router_choices
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

// The assistant turn as the response reports it: ParseAssistantOutput of `text`, cut after
// the first </tool_call> when parallel_tool_calls is false.
engine::ParsedAssistantOutput ParseTurn(const ApiRequest& request, std::string_view text);

// The `router_choices` object (see the top of this file). `whole`: every key (a
// non-streaming choice); otherwise (a stream chunk) the prompt keys only when prompt_rows
// is not empty and the stop keys only when stop_token_id >= 0.
nlohmann::json RouterChoicesJson(std::span<const int32_t> prompt_ids, const std::vector<std::vector<int32_t>>& prompt_rows,
                                 const std::vector<engine::GeneratedToken>& tokens, int32_t stop_token_id,
                                 const std::vector<int32_t>& stop_row, bool whole);

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
