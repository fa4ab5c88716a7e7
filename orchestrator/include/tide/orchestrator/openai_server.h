// OpenAiServer: the OpenAI-compatible HTTP server (Boost.Beast) over an InferenceEngine —
// the server half of "point any OpenAI client at Tide". Endpoints:
//   POST /v1/chat/completions   messages, tools, tool_choice, parallel_tool_calls, stream
//                               (SSE chunks ending `data: [DONE]`), logprobs/top_logprobs,
//                               stop, seed, …; <tool_call> blocks come back as OpenAI
//                               `tool_calls`
//   POST /v1/completions        prompt, max_tokens, stream, logprobs, stop, …
//                               (both: the extension return_router_choices, openai_api.h)
//   GET  /v1/models, /health, /metrics (Prometheus text: the engine's counters, among them
//                               tide_engine_expert_tokens_total{layer, expert}, then the
//                               text of OpenAiServerOptions::extra_metrics, e.g. the
//                               orchestrator's run metrics, run_metrics.h)
// Without an engine it is a metrics server: /health and /metrics as above, /v1/models an
// empty list, and the generation endpoints a 503 in the OpenAI error shape.
// Bad input gets the OpenAI error shape {"error": {"message", "type", "param", "code"}}
// with HTTP 400 (404 for an unknown path); a bad request never affects anyone else's.
// Each connection is served on its own thread (HTTP/1.1 keep-alive); a streaming client
// that disconnects cancels its generation.
// Ownership: borrows the engine (it must outlive the server). Thread safety: Shutdown may
// be called from any thread; it closes the listener and every connection and joins them.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "tide/core/status.h"
#include "tide/engine/inference_engine.h"

namespace tide::orchestrator {

struct OpenAiServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0 picks a free port (see port())
  std::string model_name = "tide";
  // Called on every GET /metrics (on that connection's thread; must be thread-safe); its
  // text is appended to the engine's. An error answers the scrape with HTTP 500 naming it.
  std::function<Result<std::string>()> extra_metrics;
};

class OpenAiServer {
 public:
  // UNAVAILABLE when the address cannot be bound. `engine` may be null (no model served).
  static Result<std::unique_ptr<OpenAiServer>> Start(engine::InferenceEngine* engine, const OpenAiServerOptions& options);
  ~OpenAiServer();
  OpenAiServer(const OpenAiServer&) = delete;
  OpenAiServer& operator=(const OpenAiServer&) = delete;

  int port() const;
  void Shutdown();

  struct Impl;

 private:
  explicit OpenAiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide::orchestrator
