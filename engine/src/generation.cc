// The request side of inference_engine.h: finish-reason names, UpdateQueue, Generate (Submit
// and wait), assembling a GenerationResult from updates, and the routing-replay input.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "tide/engine/inference_engine.h"

namespace tide::engine {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

void AppendUpdate(const GenerationUpdate& u, GenerationResult* r) {
  r->tokens.insert(r->tokens.end(), u.tokens.begin(), u.tokens.end());
  r->text += u.text;
  r->prompt_tokens = u.prompt_tokens;
  r->cached_tokens = u.cached_tokens;
  r->completion_tokens = u.completion_tokens;
  if (!u.prompt_router_choices.empty()) r->prompt_router_choices = u.prompt_router_choices;
  if (u.finished) {
    r->finish_reason = u.finish_reason;
    r->stop_token_id = u.stop_token_id;
    r->stop_router_choices = u.stop_router_choices;
  }
}

Result<ReplayInput> MakeReplayInput(const ModelConfig& c, std::span<const int32_t> prompt, const GenerationResult& r) {
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  std::vector<const std::vector<int32_t>*> rows;
  for (const auto& p : r.prompt_router_choices) rows.push_back(&p);
  for (const GeneratedToken& t : r.tokens) {
    seq.push_back(t.id);
    rows.push_back(&t.router_choices);
  }
  if (r.stop_token_id >= 0) {
    seq.push_back(r.stop_token_id);
    rows.push_back(&r.stop_router_choices);
  }
  if (seq.size() < 2) return InvalidArgument("result: nothing was generated");
  if (rows.size() != seq.size() - 1) {
    return InvalidArgument("result: router choices for " + std::to_string(rows.size()) + " rows, the sequence has " +
                           std::to_string(seq.size() - 1) + " input rows (generated without return_router_choices?)");
  }
  std::vector<int> moe;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    if (c.IsMoeLayer(l)) moe.push_back(l);
  }
  const int k = c.num_experts_per_tok;
  const size_t width = moe.size() * static_cast<size_t>(k);
  ReplayInput out;
  out.inputs.assign(seq.begin(), seq.end() - 1);
  out.targets.assign(seq.begin() + 1, seq.end());
  out.routing.top_k = k;
  out.routing.tokens = static_cast<int>(rows.size());
  out.routing.experts.resize(c.num_hidden_layers);
  for (size_t m = 0; m < moe.size(); ++m) out.routing.experts[moe[m]].reserve(rows.size() * k);
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<int32_t>& row = *rows[i];
    if (row.size() != width) {
      return InvalidArgument("result: row " + std::to_string(i) + " has " + std::to_string(row.size()) +
                             " expert ids, the model needs " + std::to_string(width));
    }
    for (size_t m = 0; m < moe.size(); ++m) {
      auto& dst = out.routing.experts[moe[m]];
      dst.insert(dst.end(), row.begin() + static_cast<std::ptrdiff_t>(m * k),
                 row.begin() + static_cast<std::ptrdiff_t>((m + 1) * k));
    }
  }
  return out;
}

struct UpdateQueue::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<GenerationUpdate> updates;
};

UpdateQueue::UpdateQueue() : state_(std::make_shared<State>()) {}

std::function<void(const GenerationUpdate&)> UpdateQueue::Callback() const {
  return [state = state_](const GenerationUpdate& u) {
    std::lock_guard lock(state->mu);
    state->updates.push_back(u);
    state->cv.notify_all();
  };
}

std::optional<GenerationUpdate> UpdateQueue::Pop(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, timeout, [&] { return !state_->updates.empty(); })) return std::nullopt;
  GenerationUpdate u = std::move(state_->updates.front());
  state_->updates.pop_front();
  return u;
}

Result<GenerationResult> InferenceEngine::Generate(GenerateRequest request, const std::atomic<bool>* cancelled) {
  const UpdateQueue queue;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  TIDE_ASSIGN_OR_RETURN(const uint64_t id, Submit(std::move(request), queue.Callback()));
  GenerationResult r;
  bool cancel_sent = false;
  while (true) {
    if (!cancel_sent && cancelled != nullptr && cancelled->load()) {
      Cancel(id);
      cancel_sent = true;
    }
    std::optional<GenerationUpdate> u = queue.Pop(std::chrono::milliseconds(10));
    if (!u) continue;
    const double now = std::chrono::duration<double>(Clock::now() - start).count();
    if (r.tokens.empty() && !u->tokens.empty()) r.ttft_s = now;
    AppendUpdate(*u, &r);
    if (u->finished) {
      if (!u->error.ok()) return u->error;
      r.total_s = now;
      return r;
    }
  }
}

}  // namespace tide::engine
