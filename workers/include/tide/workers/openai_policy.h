// OpenAiPolicy: the Policy on any OpenAI-compatible chat completions server (OpenAI,
// vLLM, SGLang, llama.cpp's server, Tide's own `tide serve` /v1). Each Generate is one
// POST {base_url}/chat/completions with the agent's messages and tools in OpenAI's shape;
// the first choice's message (content and tool_calls) and the usage come back.
//
// Failures: 429, 500, 502, 503, 504, dropped connections and timed-out attempts are
// retried up to max_retries times, waiting min(max_backoff, initial_backoff * 2^attempt)
// scaled by a uniform random factor in [0.5, 1] (jitter, so a swarm's agents do not retry
// in lockstep), or the server's Retry-After seconds when it sends them. Other HTTP errors
// fail at once with the server's error message (OpenAI's {"error":{"message"}} shape when
// present). A response without choices is Internal. Cancellation (PolicyRequest::cancelled)
// is checked before each attempt and during waits: CANCELLED.
// Concurrency: at most max_concurrency requests are in flight at once over all callers
// (the others wait their turn), so a 100-agent swarm does not open 100 connections to a
// rate-limited endpoint. Thread safety: Generate may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "tide/workers/http_client.h"
#include "tide/workers/policy.h"

namespace tide::workers {

class OpenAiPolicy : public Policy {
 public:
  struct Options {
    std::string base_url;  // e.g. "https://api.openai.com/v1", "http://127.0.0.1:8000/v1"
    std::string model;
    std::string api_key;   // sent as "Authorization: Bearer …" when not empty
    float temperature = 0.7f;
    float top_p = 1.f;
    int max_tokens = 512;
    std::optional<uint64_t> seed;  // sent when set (servers that support it sample reproducibly)
    int max_concurrency = 16;
    int max_retries = 5;
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{20000};
    std::chrono::milliseconds request_timeout{120000};  // one attempt, connect to last byte
  };
  // Options with api_key taken from the environment variable `api_key_env` (e.g.
  // "OPENAI_API_KEY"); empty when unset.
  static Options WithApiKeyFromEnvironment(Options options, const std::string& api_key_env);

  // InvalidArgument naming the field for a bad base_url, an empty model or a non-positive
  // limit.
  static Result<std::unique_ptr<OpenAiPolicy>> Create(Options options);

  std::string name() const override { return "openai"; }
  Result<PolicyResponse> Generate(const PolicyRequest& request) override;

  struct Stats {
    int64_t requests = 0, attempts = 0, retries = 0;
    int max_in_flight = 0;  // the most requests in flight at once
  };
  Stats stats() const;

 private:
  OpenAiPolicy(Options options, Url url);
  Result<HttpResponse> Attempt(const std::string& body);

  Options options_;
  Url url_;
  mutable std::mutex mu_;
  std::condition_variable slot_free_;
  int in_flight_ = 0;
  Stats stats_;
};

}  // namespace tide::workers
