// InferenceEngine (inference_engine.h): the scheduler loop. Each step: admit waiting
// requests (taking cached prefix blocks), plan a batch under the token budget (decode rows
// first, oldest sequences first, then prompt chunks), allocate blocks (preempting the newest
// sequence when none is left), run one paged forward, sample, stream, publish full blocks.
#include "tide/engine/inference_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "tide/engine/json_constraint.h"
#include "tide/engine/text_stream.h"

namespace tide::engine {
namespace {

using Clock = std::chrono::steady_clock;

struct Sequence {
  uint64_t id = 0;
  GenerationParams params;
  std::shared_ptr<TokenConstraint> constraint;
  std::vector<float> masked;  // the constrained row's scratch
  std::function<void(const GenerationUpdate&)> on_update;
  std::vector<int32_t> tokens;  // prompt, then generated tokens: the whole context
  int prompt_len = 0;
  int computed = 0;             // positions whose K/V are in `blocks`
  std::vector<int32_t> blocks;  // block table
  int published = 0;            // leading blocks published to the prefix cache
  std::mt19937_64 rng;
  std::unique_ptr<TextStream> stream;
  int cached_tokens = -1;       // prompt tokens taken from the prefix cache (-1 before admission)
  bool counting_cached = false; // until the prompt's first computed token
  int completion_tokens = 0;
  bool cancelled = false;
  GenerationUpdate pending;     // what the next callback will carry
};

// Log-softmax of a temperature-scaled row: log p(i) = (x_i − max) / t − log Σ exp(...).
struct LogSoftmax {
  double max = 0, t = 1, log_z = 0;
  LogSoftmax(std::span<const float> row, float temperature) : t(temperature > 0 ? temperature : 1.0) {
    max = *std::max_element(row.begin(), row.end());
    double z = 0;
    for (float v : row) z += std::exp((v - max) / t);
    log_z = std::log(z);
  }
  float operator()(float x) const { return static_cast<float>((x - max) / t - log_z); }
};

}  // namespace

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

struct InferenceEngine::Impl {
  Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  Options options;
  std::unique_ptr<KvBlockPool> pool;
  int max_context = 0;

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  uint64_t next_id = 1;
  std::deque<std::unique_ptr<Sequence>> incoming;  // submitted, not yet seen by the loop
  std::vector<uint64_t> cancels;
  Stats published_stats;  // copied out by stats()

  // Owned by the loop thread.
  std::deque<std::unique_ptr<Sequence>> waiting;
  std::vector<std::unique_ptr<Sequence>> running;  // admission order
  Stats stats;
  std::thread loop;

  void Run();
  bool Step();
  void Admit(Sequence* s);
  void ExtendFromCache(Sequence* s);
  void ReleaseBlocks(Sequence* s);
  void Preempt(size_t index);
  void Finish(Sequence* s, FinishReason reason);
  void Sample(Sequence* s, std::span<const float> logits);
  void PublishFull(Sequence* s);
};

void InferenceEngine::Impl::ReleaseBlocks(Sequence* s) {
  for (int32_t b : s->blocks) pool->Release(b);
  s->blocks.clear();
  s->computed = 0;
  s->published = 0;
}

void InferenceEngine::Impl::ExtendFromCache(Sequence* s) {
  // Only while every block so far is full and published: then the next full block of the
  // context may already be cached. At least one token is left to compute (its logits give
  // the next token).
  const int bs = pool->block_size();
  const int usable = static_cast<int>(s->tokens.size()) - 1;
  while (s->computed == static_cast<int>(s->blocks.size()) * bs && s->published == static_cast<int>(s->blocks.size()) &&
         s->computed + bs <= usable) {
    const int parent = s->blocks.empty() ? -1 : s->blocks.back();
    const int b = pool->Lookup(parent, std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(s->computed), bs));
    if (b < 0) break;
    s->blocks.push_back(b);
    s->computed += bs;
    s->published += 1;
    if (s->counting_cached) {
      s->cached_tokens += bs;
      stats.cached_tokens += bs;
    }
  }
}

void InferenceEngine::Impl::Admit(Sequence* s) {
  if (s->cached_tokens < 0) {
    s->cached_tokens = 0;
    s->counting_cached = true;
    stats.prompt_tokens += s->prompt_len;
  }
  ExtendFromCache(s);
}

void InferenceEngine::Impl::Preempt(size_t index) {
  std::unique_ptr<Sequence> s = std::move(running[index]);
  running.erase(running.begin() + static_cast<std::ptrdiff_t>(index));
  ReleaseBlocks(s.get());
  ++stats.preemptions;
  waiting.push_front(std::move(s));
}

void InferenceEngine::Impl::Finish(Sequence* s, FinishReason reason) {
  if (reason != FinishReason::kStop || !s->stream->stopped()) s->pending.text += s->stream->Flush();
  s->pending.finished = true;
  s->pending.finish_reason = reason;
  ReleaseBlocks(s);
}

void InferenceEngine::Impl::PublishFull(Sequence* s) {
  const int bs = pool->block_size();
  while ((s->published + 1) * bs <= s->computed) {
    const int i = s->published;
    const int parent = i == 0 ? -1 : s->blocks[i - 1];
    const int got = pool->Publish(s->blocks[i], parent,
                                  std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(i) * bs, bs));
    if (got != s->blocks[i]) {  // an identical block exists: share it, free ours
      pool->Release(s->blocks[i]);
      s->blocks[i] = got;
    }
    ++s->published;
  }
}

void InferenceEngine::Impl::Sample(Sequence* s, std::span<const float> row) {
  // A model's vocabulary may be padded past the tokenizer's: never sample a non-token.
  std::span<const float> logits = row.first(std::min(row.size(), static_cast<size_t>(tokenizer->vocab_size())));
  if (s->constraint != nullptr) {
    s->masked.assign(logits.begin(), logits.end());
    s->constraint->MaskLogits(s->masked);
    logits = s->masked;
  }
  const SampledToken st = SampleToken(logits, s->params.sampling, s->rng);
  GeneratedToken g{st.id, st.logprob, {}};
  if (s->params.top_logprobs > 0) {
    const LogSoftmax lp(logits, s->params.sampling.temperature);
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    const size_t k = std::min<size_t>(static_cast<size_t>(s->params.top_logprobs), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (size_t i = 0; i < k; ++i) g.top.emplace_back(ids[i], lp(logits[ids[i]]));
  }
  ++s->completion_tokens;
  ++stats.generated_tokens;
  if (s->constraint != nullptr && !s->constraint->Accept(g.id).ok()) {
    s->pending.error = Internal("the constraint refused the token it allowed");
    Finish(s, FinishReason::kError);
    return;
  }
  const auto& stop_ids = s->params.stop_token_ids;
  if (std::find(stop_ids.begin(), stop_ids.end(), g.id) != stop_ids.end()) {
    Finish(s, FinishReason::kStop);  // the stop token is not part of the output
    return;
  }
  s->tokens.push_back(g.id);
  s->pending.tokens.push_back(std::move(g));
  bool stopped = false;
  s->pending.text += s->stream->Add(s->tokens.back(), &stopped);
  if (stopped || (s->constraint != nullptr && s->constraint->finished())) {
    Finish(s, FinishReason::kStop);
  } else if (s->completion_tokens >= s->params.max_tokens || static_cast<int>(s->tokens.size()) >= max_context) {
    Finish(s, FinishReason::kLength);
  }
}

bool InferenceEngine::Impl::Step() {
  std::vector<uint64_t> cancel_ids;
  {
    std::unique_lock lock(mu);
    wake.wait(lock, [&] { return stopping || !incoming.empty() || !cancels.empty() || !running.empty() || !waiting.empty(); });
    if (stopping) {
      for (auto& s : incoming) waiting.push_back(std::move(s));
      incoming.clear();
      for (auto& s : waiting) s->cancelled = true;
      for (auto& s : running) s->cancelled = true;
    }
    for (auto& s : incoming) waiting.push_back(std::move(s));
    incoming.clear();
    cancel_ids.swap(cancels);
  }
  for (uint64_t id : cancel_ids) {
    for (auto& s : waiting) s->cancelled = s->cancelled || s->id == id;
    for (auto& s : running) s->cancelled = s->cancelled || s->id == id;
  }
  std::vector<std::unique_ptr<Sequence>> done;
  auto retire_cancelled = [&](auto& list) {
    for (auto it = list.begin(); it != list.end();) {
      if ((*it)->cancelled) {
        Finish(it->get(), FinishReason::kCancelled);
        done.push_back(std::move(*it));
        it = list.erase(it);
      } else {
        ++it;
      }
    }
  };
  retire_cancelled(waiting);
  retire_cancelled(running);

  // Admission: FIFO, while there is room.
  while (!waiting.empty() && static_cast<int>(running.size()) < options.max_running) {
    Admit(waiting.front().get());
    running.push_back(std::move(waiting.front()));
    waiting.pop_front();
  }

  // Plan: decode rows (one token each) first, then prompt chunks, oldest sequences first.
  struct Item {
    Sequence* s;
    int rows;
  };
  std::vector<Item> plan;
  int budget = options.max_step_tokens;
  const int bs = pool->block_size();
  // Full blocks this step computes, by (parent block, tokens): a prompt whose next block is
  // one of them waits a step and then takes it from the cache instead of computing it again.
  std::vector<std::pair<int, std::span<const int32_t>>> in_flight;
  auto in_flight_has = [&](int parent, std::span<const int32_t> toks) {
    for (const auto& [p, t] : in_flight) {
      if (p == parent && std::equal(t.begin(), t.end(), toks.begin(), toks.end())) return true;
    }
    return false;
  };
  for (int pass = 0; pass < 2 && budget > 0; ++pass) {
    for (size_t i = 0; i < running.size() && budget > 0; ++i) {
      Sequence* s = running[i].get();
      const int uncomputed = static_cast<int>(s->tokens.size()) - s->computed;
      const bool decode = uncomputed == 1;
      if (uncomputed <= 0 || decode != (pass == 0)) continue;
      if (!decode) {
        ExtendFromCache(s);
        if (options.prefix_cache && s->computed == static_cast<int>(s->blocks.size()) * bs &&
            s->computed + bs <= static_cast<int>(s->tokens.size()) &&
            in_flight_has(s->blocks.empty() ? -1 : s->blocks.back(),
                          std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(s->computed), bs))) {
          continue;
        }
      }
      const int rows = std::min(static_cast<int>(s->tokens.size()) - s->computed, budget);
      // Blocks for the new positions; preempt the newest other sequence when none is left.
      const int need = (s->computed + rows + bs - 1) / bs;
      bool ok = true;
      while (static_cast<int>(s->blocks.size()) < need) {
        const int b = pool->Allocate();
        if (b >= 0) {
          s->blocks.push_back(b);
          continue;
        }
        size_t victim = running.size() - 1;
        if (running[victim].get() == s) {
          ok = false;  // this is the newest: it waits for the others
          break;
        }
        for (auto it = plan.begin(); it != plan.end();) {
          it = it->s == running[victim].get() ? plan.erase(it) : it + 1;
        }
        Preempt(victim);
      }
      if (!ok) {
        if (i == 0 && plan.empty()) {  // alone and still too big: cannot happen for an admitted request
          Finish(s, FinishReason::kError);
          s->pending.error = ResourceExhausted("the KV cache cannot hold this request");
        }
        break;
      }
      plan.push_back({s, rows});
      budget -= rows;
      s->counting_cached = false;
      // The full blocks this chunk completes; the first one's parent is known now, the
      // later ones' are blocks of this same chunk (keyed by their ids: no one else has them).
      if (options.prefix_cache && s->computed % bs == 0) {
        const int first = s->computed / bs;
        for (int blk = first; (blk + 1) * bs <= s->computed + rows; ++blk) {
          in_flight.emplace_back(blk == 0 ? -1 : s->blocks[blk - 1],
                                 std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(blk) * bs, bs));
        }
      }
    }
  }

  stats.kv_peak_used = std::max(stats.kv_peak_used, pool->num_blocks() - pool->available());
  if (!plan.empty()) {
    std::vector<PagedSequenceInput> batch;
    for (const Item& it : plan) {
      Sequence* s = it.s;
      batch.push_back({std::span<const int32_t>(s->tokens).subspan(static_cast<size_t>(s->computed), it.rows),
                       s->computed, s->blocks});
    }
    Result<Tensor> logits = model->ForwardPaged(batch, pool.get());
    ++stats.steps;
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence* s = plan[i].s;
      if (!logits.ok()) {
        s->pending.error = logits.status();
        Finish(s, FinishReason::kError);
        continue;
      }
      s->computed += plan[i].rows;
      PublishFull(s);
      if (s->computed == static_cast<int>(s->tokens.size())) {
        const int vocab = static_cast<int>(logits->shape[1]);
        Sample(s, std::span<const float>(logits->data).subspan(i * static_cast<size_t>(vocab), vocab));
      }
    }
  }

  // Deliver updates, retire finished sequences.
  std::vector<std::pair<Sequence*, GenerationUpdate>> out;
  for (auto it = running.begin(); it != running.end();) {
    Sequence* s = it->get();
    if (!s->pending.tokens.empty() || s->pending.finished) {
      s->pending.request_id = s->id;
      s->pending.prompt_tokens = s->prompt_len;
      s->pending.cached_tokens = std::max(0, s->cached_tokens);
      s->pending.completion_tokens = s->completion_tokens;
      out.emplace_back(s, std::move(s->pending));
      s->pending = GenerationUpdate{};
    }
    if (out.size() > 0 && out.back().first == s && out.back().second.finished) {
      done.push_back(std::move(*it));
      it = running.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& s : done) {
    if (s->pending.finished) {  // cancelled or failed before running
      s->pending.request_id = s->id;
      s->pending.prompt_tokens = s->prompt_len;
      s->pending.cached_tokens = std::max(0, s->cached_tokens);
      s->pending.completion_tokens = s->completion_tokens;
      out.emplace_back(s.get(), std::move(s->pending));
    }
  }
  {
    std::lock_guard lock(mu);
    stats.running = static_cast<int>(running.size());
    stats.waiting = static_cast<int>(waiting.size()) + static_cast<int>(incoming.size());
    stats.kv = pool->stats();
    published_stats = stats;
  }
  for (auto& [s, update] : out) s->on_update(update);
  std::lock_guard lock(mu);
  return !(stopping && running.empty() && waiting.empty() && incoming.empty());
}

void InferenceEngine::Impl::Run() {
  while (Step()) {
  }
}

InferenceEngine::InferenceEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InferenceEngine::~InferenceEngine() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->loop.joinable()) impl_->loop.join();
}

Result<std::unique_ptr<InferenceEngine>> InferenceEngine::Create(Model* model, const Tokenizer* tokenizer,
                                                                 const Options& options) {
  if (model == nullptr || tokenizer == nullptr) return InvalidArgument("InferenceEngine: null model or tokenizer");
  if (options.max_running < 1 || options.max_step_tokens < 1 || options.block_size < 1 || options.kv_blocks < 0) {
    return InvalidArgument("InferenceEngine: max_running, max_step_tokens and block_size must be >= 1");
  }
  if (tokenizer->vocab_size() > model->config().vocab_size) {
    return InvalidArgument("InferenceEngine: the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                           " tokens, the model " + std::to_string(model->config().vocab_size));
  }
  auto impl = std::make_unique<Impl>();
  impl->model = model;
  impl->tokenizer = tokenizer;
  impl->options = options;
  impl->max_context = model->config().max_position_embeddings;
  const int blocks = options.kv_blocks > 0 ? options.kv_blocks
                                           : 2 * options.max_running * ((512 + options.block_size - 1) / options.block_size);
  const ModelConfig& c = model->config();
  TIDE_ASSIGN_OR_RETURN(impl->pool,
                        KvBlockPool::Create({blocks, options.block_size, c.num_hidden_layers, c.kv_dim(), options.prefix_cache}));
  Impl* raw = impl.get();
  impl->loop = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<InferenceEngine>(new InferenceEngine(std::move(impl)));
}

Result<uint64_t> InferenceEngine::Submit(GenerateRequest request, std::function<void(const GenerationUpdate&)> on_update) {
  Impl& m = *impl_;
  const GenerationParams& p = request.params;
  const int vocab = m.model->config().vocab_size;
  if (request.prompt.empty()) return InvalidArgument("prompt: must not be empty");
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab) {
      return InvalidArgument("prompt: token " + std::to_string(request.prompt[i]) + " at index " + std::to_string(i) +
                             " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  if (p.max_tokens < 1) return InvalidArgument("max_tokens: must be >= 1, got " + std::to_string(p.max_tokens));
  if (!(p.sampling.temperature >= 0.f) || !std::isfinite(p.sampling.temperature)) {
    return InvalidArgument("temperature: must be >= 0");
  }
  if (!(p.sampling.top_p > 0.f && p.sampling.top_p <= 1.f)) return InvalidArgument("top_p: must be in (0, 1]");
  if (p.sampling.top_k < 0) return InvalidArgument("top_k: must be >= 0");
  if (p.top_logprobs < 0 || p.top_logprobs > 20) return InvalidArgument("top_logprobs: must be in [0, 20]");
  const int64_t context = static_cast<int64_t>(request.prompt.size()) + 1;
  if (context > m.max_context) {
    return InvalidArgument("prompt: " + std::to_string(request.prompt.size()) + " tokens leave no room in the " +
                           std::to_string(m.max_context) + "-token context");
  }
  const int64_t most = std::min<int64_t>(static_cast<int64_t>(request.prompt.size()) + p.max_tokens, m.max_context);
  if ((most + m.pool->block_size() - 1) / m.pool->block_size() > m.pool->num_blocks()) {
    return InvalidArgument("max_tokens: prompt + max_tokens needs more KV blocks than the engine has (" +
                           std::to_string(m.pool->num_blocks()) + " of " + std::to_string(m.pool->block_size()) +
                           " tokens)");
  }
  if (!on_update) return InvalidArgument("on_update: a callback is required");
  auto s = std::make_unique<Sequence>();
  s->params = p;
  s->constraint = std::move(request.constraint);
  if (s->constraint != nullptr && s->constraint->vocab_size() > m.tokenizer->vocab_size()) {
    return InvalidArgument("constraint: built for a vocabulary of " + std::to_string(s->constraint->vocab_size()) +
                           " tokens, the tokenizer has " + std::to_string(m.tokenizer->vocab_size()));
  }
  s->on_update = std::move(on_update);
  s->prompt_len = static_cast<int>(request.prompt.size());
  s->tokens = std::move(request.prompt);
  s->rng.seed(p.seed);
  s->stream = std::make_unique<TextStream>(m.tokenizer, p.stop);
  uint64_t id;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) return Unavailable("the inference engine is shutting down");
    if (static_cast<int>(m.incoming.size()) + m.published_stats.waiting >= m.options.max_waiting) {
      return ResourceExhausted("the request queue is full (" + std::to_string(m.options.max_waiting) + ")");
    }
    id = m.next_id++;
    s->id = id;
    m.incoming.push_back(std::move(s));
  }
  m.wake.notify_all();
  return id;
}

void InferenceEngine::Cancel(uint64_t request_id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->cancels.push_back(request_id);
  }
  impl_->wake.notify_all();
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
    r.tokens.insert(r.tokens.end(), u->tokens.begin(), u->tokens.end());
    r.text += u->text;
    r.prompt_tokens = u->prompt_tokens;
    r.cached_tokens = u->cached_tokens;
    r.completion_tokens = u->completion_tokens;
    if (u->finished) {
      if (!u->error.ok()) return u->error;
      r.finish_reason = u->finish_reason;
      r.total_s = now;
      return r;
    }
  }
}

InferenceEngine::Stats InferenceEngine::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->published_stats;
}

int InferenceEngine::max_context() const { return impl_->max_context; }
const Tokenizer& InferenceEngine::tokenizer() const { return *impl_->tokenizer; }
const ModelConfig& InferenceEngine::model_config() const { return impl_->model->config(); }

}  // namespace tide::engine
