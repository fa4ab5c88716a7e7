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
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "tide/engine/json_constraint.h"
#include "tide/engine/text_stream.h"

namespace tide::engine {
namespace {

struct Sequence {
  uint64_t id = 0;
  GenerationParams params;
  std::shared_ptr<TokenConstraint> constraint;
  std::shared_ptr<const TokenConstraint> constraint_initial;  // with a repeat or a trigger: the state at Submit
  std::vector<int32_t> constraint_repeat;
  std::vector<int32_t> constraint_trigger;
  bool dormant = false;       // a lazy constraint waiting for its trigger
  int repeat_pos = -1;        // >= 0: between constrained values, the next repeat token's index
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

bool EndsWith(const std::vector<int32_t>& tokens, const std::vector<int32_t>& tail) {
  return tokens.size() >= tail.size() && std::equal(tail.begin(), tail.end(), tokens.end() - static_cast<std::ptrdiff_t>(tail.size()));
}

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

struct InferenceEngine::Impl {
  Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  Options options;
  std::unique_ptr<KvBlockPool> pool;
  int max_context = 0;
  // Router choices of every position of every block: [block][slot][moe layer][k], written
  // with the block's K/V, so a block shared from the prefix cache brings its routing along.
  std::vector<int> moe_layers;  // indices of the MoE layers
  int top_k = 0;
  std::vector<int32_t> block_routing;
  size_t row_width() const { return moe_layers.size() * static_cast<size_t>(top_k); }
  int32_t* RoutingRow(int32_t block, int slot) {
    return block_routing.data() + (static_cast<size_t>(block) * pool->block_size() + slot) * row_width();
  }

  mutable std::mutex mu;
  std::condition_variable wake;
  // Held by the loop through each step's work (not its wait for work), and by
  // UpdateWeights: weights change only between steps.
  std::mutex step_mu;
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
  void Sample(Sequence* s, std::span<const float> logits, std::span<const int32_t> routing);
  void MaskToRepeat(Sequence* s) const;
  void StoreRouting(const Sequence* s, int rows, int batch_row0, const RouterChoices& rec);
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

void InferenceEngine::Impl::StoreRouting(const Sequence* s, int rows, int batch_row0, const RouterChoices& rec) {
  const int bs = pool->block_size(), k = top_k;
  for (int r = 0; r < rows; ++r) {
    const int pos = s->computed + r;
    int32_t* dst = RoutingRow(s->blocks[pos / bs], pos % bs);
    for (size_t m = 0; m < moe_layers.size(); ++m) {
      const int32_t* src = rec.experts[moe_layers[m]].data() + static_cast<size_t>(batch_row0 + r) * k;
      std::copy_n(src, k, dst + m * k);
    }
  }
}

// Between constrained values only the repeat's next token may come (or, at its start, a
// stop token ending the request).
void InferenceEngine::Impl::MaskToRepeat(Sequence* s) const {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float>& x = s->masked;
  std::vector<int32_t> allowed = {s->constraint_repeat[s->repeat_pos]};
  if (s->repeat_pos == 0) allowed.insert(allowed.end(), s->params.stop_token_ids.begin(), s->params.stop_token_ids.end());
  std::vector<float> keep;
  for (int32_t id : allowed) keep.push_back(id >= 0 && id < static_cast<int32_t>(x.size()) ? x[id] : -inf);
  std::fill(x.begin(), x.end(), -inf);
  for (size_t i = 0; i < allowed.size(); ++i) {
    if (allowed[i] >= 0 && allowed[i] < static_cast<int32_t>(x.size())) x[allowed[i]] = keep[i];
  }
}

void InferenceEngine::Impl::Sample(Sequence* s, std::span<const float> row, std::span<const int32_t> routing) {
  // A model's vocabulary may be padded past the tokenizer's: never sample a non-token.
  std::span<const float> logits = row.first(std::min(row.size(), static_cast<size_t>(tokenizer->vocab_size())));
  if (s->constraint != nullptr && !s->dormant) {
    s->masked.assign(logits.begin(), logits.end());
    if (s->repeat_pos >= 0) {
      MaskToRepeat(s);
    } else {
      s->constraint->MaskLogits(s->masked);
    }
    logits = s->masked;
  }
  const bool routed = s->params.return_router_choices;
  if (routed && s->completion_tokens == 0) {  // the prompt's rows, from the blocks now holding them
    const int bs = pool->block_size();
    for (int pos = 0; pos + 1 < s->prompt_len; ++pos) {
      const int32_t* r = RoutingRow(s->blocks[pos / bs], pos % bs);
      s->pending.prompt_router_choices.emplace_back(r, r + row_width());
    }
  }
  const SampledToken st = SampleToken(logits, s->params.sampling, s->rng);
  GeneratedToken g{st.id, st.logprob, {}, {}, s->constraint != nullptr && !s->dormant};
  if (routed) g.router_choices.assign(routing.begin(), routing.end());
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
  const auto& stop_ids = s->params.stop_token_ids;
  const bool is_stop = std::find(stop_ids.begin(), stop_ids.end(), g.id) != stop_ids.end();
  if (s->constraint != nullptr && s->repeat_pos < 0 && !s->dormant && !s->constraint->Accept(g.id).ok()) {
    s->pending.error = Internal("the constraint refused the token it allowed");
    Finish(s, FinishReason::kError);
    return;
  }
  if (is_stop) {
    s->pending.stop_token_id = g.id;  // the stop token is not part of the output
    if (routed) s->pending.stop_router_choices = std::move(g.router_choices);
    Finish(s, FinishReason::kStop);
    return;
  }
  if (s->repeat_pos >= 0 && ++s->repeat_pos == static_cast<int>(s->constraint_repeat.size())) {
    s->constraint = std::make_shared<TokenConstraint>(*s->constraint_initial);  // the next value
    s->repeat_pos = -1;
  }
  s->tokens.push_back(g.id);
  s->pending.tokens.push_back(std::move(g));
  bool stopped = false;
  s->pending.text += s->stream->Add(s->tokens.back(), &stopped);
  const auto& final_ids = s->params.final_token_ids;
  stopped = stopped || std::find(final_ids.begin(), final_ids.end(), s->tokens.back()) != final_ids.end();
  if (s->dormant) {
    s->dormant = !EndsWith(s->tokens, s->constraint_trigger);
  } else if (s->constraint != nullptr && s->repeat_pos < 0 && s->constraint->finished()) {
    if (!s->constraint_trigger.empty()) {  // free again until the next trigger
      s->constraint = std::make_shared<TokenConstraint>(*s->constraint_initial);
      s->dormant = true;
    } else if (s->constraint_repeat.empty()) {
      stopped = true;
    } else {
      s->repeat_pos = 0;  // another value may follow
    }
  }
  if (stopped) {
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
  std::lock_guard step_lock(step_mu);
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
    RouterChoices routing;
    ForwardOptions fo;
    fo.record_routing = &routing;
    fo.expert_load = &stats.expert_tokens;
    Result<Tensor> logits = model->ForwardPaged(batch, pool.get(), fo);
    ++stats.steps;
    int batch_row = 0;
    std::vector<int32_t> last_row(row_width());
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence* s = plan[i].s;
      if (!logits.ok()) {
        s->pending.error = logits.status();
        Finish(s, FinishReason::kError);
        continue;
      }
      const int rows = plan[i].rows;
      stats.forward_rows += rows;
      StoreRouting(s, rows, batch_row, routing);
      const int last = s->computed + rows - 1;  // copied before PublishFull may swap its block
      std::copy_n(RoutingRow(s->blocks[last / bs], last % bs), row_width(), last_row.data());
      batch_row += rows;
      s->computed += rows;
      PublishFull(s);
      if (s->computed == static_cast<int>(s->tokens.size())) {
        const int vocab = static_cast<int>(logits->shape[1]);
        Sample(s, std::span<const float>(logits->data).subspan(i * static_cast<size_t>(vocab), vocab), last_row);
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

Result<WeightUpdateReport> InferenceEngine::UpdateWeights(const std::function<Status(Model&)>& update) {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard step_lock(impl_->step_mu);
  const auto paused = std::chrono::steady_clock::now();
  Status s = update(*impl_->model);
  // Even a failed update may have written some weights: the cache goes either way.
  WeightUpdateReport report;
  report.prefix_blocks_dropped = impl_->pool->UnpublishAll();
  TIDE_RETURN_IF_ERROR(s.WithContext("updating the engine's weights"));
  const auto end = std::chrono::steady_clock::now();
  report.wait_s = std::chrono::duration<double>(paused - start).count();
  report.update_s = std::chrono::duration<double>(end - paused).count();
  return report;
}

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
  const ModelConfig& mc = model->config();
  impl->top_k = mc.num_experts_per_tok;
  impl->stats.expert_tokens.tokens.resize(mc.num_hidden_layers);
  for (int l = 0; l < mc.num_hidden_layers; ++l) {
    if (!mc.IsMoeLayer(l)) continue;
    impl->moe_layers.push_back(l);
    impl->stats.expert_tokens.tokens[l].assign(mc.num_experts, 0);
  }
  impl->published_stats = impl->stats;
  const int blocks = options.kv_blocks > 0 ? options.kv_blocks
                                           : 2 * options.max_running * ((512 + options.block_size - 1) / options.block_size);
  const ModelConfig& c = model->config();
  TIDE_ASSIGN_OR_RETURN(impl->pool,
                        KvBlockPool::Create({blocks, options.block_size, c.num_hidden_layers, c.kv_dim(), options.prefix_cache}));
  impl->block_routing.assign(static_cast<size_t>(blocks) * options.block_size * impl->row_width(), -1);
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
  if (!request.constraint_repeat.empty()) {
    if (request.constraint == nullptr) return InvalidArgument("constraint_repeat: needs a constraint");
    for (int32_t t : request.constraint_repeat) {
      if (t < 0 || t >= m.tokenizer->vocab_size()) {
        return InvalidArgument("constraint_repeat: token " + std::to_string(t) + " is outside the vocabulary");
      }
    }
  }
  if (!request.constraint_trigger.empty()) {
    if (request.constraint == nullptr) return InvalidArgument("constraint_trigger: needs a constraint");
    if (!request.constraint_repeat.empty()) return InvalidArgument("constraint_trigger: not with constraint_repeat");
    for (int32_t t : request.constraint_trigger) {
      if (t < 0 || t >= m.tokenizer->vocab_size()) {
        return InvalidArgument("constraint_trigger: token " + std::to_string(t) + " is outside the vocabulary");
      }
    }
  }
  auto s = std::make_unique<Sequence>();
  s->params = p;
  s->constraint = std::move(request.constraint);
  s->constraint_repeat = std::move(request.constraint_repeat);
  s->constraint_trigger = std::move(request.constraint_trigger);
  if (!s->constraint_repeat.empty() || !s->constraint_trigger.empty()) {
    s->constraint_initial = std::make_shared<const TokenConstraint>(*s->constraint);
  }
  s->dormant = !s->constraint_trigger.empty() && !EndsWith(request.prompt, s->constraint_trigger);
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

InferenceEngine::Stats InferenceEngine::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->published_stats;
}

int InferenceEngine::max_context() const { return impl_->max_context; }
const Tokenizer& InferenceEngine::tokenizer() const { return *impl_->tokenizer; }
const ModelConfig& InferenceEngine::model_config() const { return impl_->model->config(); }

}  // namespace tide::engine
