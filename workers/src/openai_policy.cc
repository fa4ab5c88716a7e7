// OpenAiPolicy (openai_policy.h): request building, the retry loop with jittered
// exponential backoff, and the in-flight cap.
#include "tide/workers/openai_policy.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

namespace tide::workers {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

bool Retryable(int status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

bool IsCancelled(const PolicyRequest& r) { return r.cancelled != nullptr && r.cancelled->load(); }

// Sleeps `wait` in short slices; false when the request was cancelled meanwhile.
bool Wait(const PolicyRequest& r, std::chrono::milliseconds wait) {
  const auto until = Clock::now() + wait;
  while (Clock::now() < until) {
    if (IsCancelled(r)) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(20), until - Clock::now()));
  }
  return !IsCancelled(r);
}

// The server's error message: OpenAI's {"error":{"message"}}, else the body's start.
std::string ErrorMessage(const HttpResponse& res) {
  const json j = json::parse(res.body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return res.body.substr(0, 300);
}

std::chrono::milliseconds RetryAfter(const std::string& header) {
  if (header.empty()) return std::chrono::milliseconds(-1);
  char* end = nullptr;
  const double seconds = std::strtod(header.c_str(), &end);
  if (end == header.c_str() || seconds < 0 || seconds > 3600) return std::chrono::milliseconds(-1);
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

OpenAiPolicy::Options OpenAiPolicy::WithApiKeyFromEnvironment(Options options, const std::string& api_key_env) {
  if (const char* key = std::getenv(api_key_env.c_str())) options.api_key = key;
  return options;
}

Result<std::unique_ptr<OpenAiPolicy>> OpenAiPolicy::Create(Options options) {
  auto url = ParseUrl(options.base_url);
  if (!url.ok()) return InvalidArgument("base_url: " + url.status().message());
  if (options.model.empty()) return InvalidArgument("model: must not be empty");
  if (options.max_concurrency <= 0) return InvalidArgument("max_concurrency: must be positive");
  if (options.max_retries < 0) return InvalidArgument("max_retries: must not be negative");
  if (options.request_timeout.count() <= 0) return InvalidArgument("request_timeout: must be positive");
  if (options.max_tokens <= 0) return InvalidArgument("max_tokens: must be positive");
  return std::unique_ptr<OpenAiPolicy>(new OpenAiPolicy(std::move(options), *url));
}

OpenAiPolicy::OpenAiPolicy(Options options, Url url) : options_(std::move(options)), url_(std::move(url)) {}

OpenAiPolicy::Stats OpenAiPolicy::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Result<HttpResponse> OpenAiPolicy::Attempt(const std::string& body) {
  {
    std::unique_lock lock(mu_);
    slot_free_.wait(lock, [&] { return in_flight_ < options_.max_concurrency; });
    ++in_flight_;
    ++stats_.attempts;
    stats_.max_in_flight = std::max(stats_.max_in_flight, in_flight_);
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (!options_.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  auto res = HttpRequest(url_, "POST", "/chat/completions", headers, body, options_.request_timeout);
  {
    std::lock_guard lock(mu_);
    --in_flight_;
  }
  slot_free_.notify_one();
  return res;
}

Result<PolicyResponse> OpenAiPolicy::Generate(const PolicyRequest& request) {
  if (request.messages == nullptr) return InvalidArgument("policy request without messages");
  json body = {{"model", options_.model},
               {"messages", ToJson(*request.messages)},
               {"temperature", options_.temperature},
               {"top_p", options_.top_p},
               {"max_tokens", options_.max_tokens}};
  if (request.tools != nullptr && !request.tools->empty()) body["tools"] = ToJson(*request.tools);
  if (options_.seed.has_value()) body["seed"] = *options_.seed;
  if (!request.agent.empty()) body["user"] = request.agent;
  const std::string payload = body.dump();
  {
    std::lock_guard lock(mu_);
    ++stats_.requests;
  }

  thread_local std::mt19937_64 rng(std::random_device{}());
  Status last = Unavailable("no attempt made");
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (IsCancelled(request)) return Cancelled("the run was cancelled");
    if (attempt > 0) {
      std::lock_guard lock(mu_);
      ++stats_.retries;
    }
    auto res = Attempt(payload);
    std::chrono::milliseconds retry_after(-1);
    if (res.ok() && res->status == 200) {
      const json j = json::parse(res->body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return Internal("the server's response is not a JSON object");
      if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
          !j["choices"][0].is_object() || !j["choices"][0].contains("message")) {
        return Internal("the server's response has no choices[0].message");
      }
      TIDE_ASSIGN_OR_RETURN(Message message, MessageFromJson(j["choices"][0]["message"]));
      message.role = "assistant";
      PolicyResponse out;
      out.message = std::move(message);
      if (j.contains("usage") && j["usage"].is_object()) {
        auto usage = UsageFromJson(j["usage"]);
        if (usage.ok()) out.usage = *usage;
      }
      return out;
    }
    if (res.ok()) {
      const std::string what = "HTTP " + std::to_string(res->status) + " from " + url_.host + ": " + ErrorMessage(*res);
      if (!Retryable(res->status)) {
        if (res->status == 400 || res->status == 404 || res->status == 422) return InvalidArgument(what);
        if (res->status == 401 || res->status == 403) return Status(StatusCode::kPermissionDenied, what);
        return Internal(what);
      }
      last = Unavailable(what);
      retry_after = RetryAfter(res->retry_after);
    } else {
      last = res.status();  // Unavailable (network) or DeadlineExceeded (attempt timed out): retried
    }
    if (attempt == options_.max_retries) break;
    std::chrono::milliseconds wait = retry_after;
    if (wait.count() < 0) {
      const double base = std::min<double>(static_cast<double>(options_.max_backoff.count()),
                                           static_cast<double>(options_.initial_backoff.count()) * (1 << std::min(attempt, 20)));
      wait = std::chrono::milliseconds(static_cast<int64_t>(base * std::uniform_real_distribution<double>(0.5, 1.0)(rng)));
    }
    if (!Wait(request, wait)) return Cancelled("the run was cancelled");
  }
  return Status(last.code(), last.message() + " (after " + std::to_string(options_.max_retries + 1) + " attempts)");
}

}  // namespace tide::workers
