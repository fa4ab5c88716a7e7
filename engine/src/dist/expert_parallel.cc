// Expert parallelism over a Communicator: the distributed routed experts of one MoE layer
// (ExpertParallelMoe), the hook that runs them inside Model::Forward on each rank's thread,
// and the local-backend driver. Contract in dist/expert_parallel.h.
#include "tide/engine/dist/expert_parallel.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../model_internal.h"

namespace tide::engine::dist {

using model_internal::LayerActs;
using model_internal::RoutedActs;
using std::ptrdiff_t;

Result<ExpertParallelMoe> ExpertParallelMoe::Create(const ModelConfig& config, Communicator* comm) {
  if (comm == nullptr) return InvalidArgument("ExpertParallelMoe: null communicator");
  const int ep = comm->size();
  if (config.num_experts <= 0 || config.num_experts % ep != 0) {
    return InvalidArgument("expert parallelism: " + std::to_string(config.num_experts) +
                           " experts cannot be split evenly over " + std::to_string(ep) + " ranks");
  }
  return ExpertParallelMoe(config, comm, config.num_experts / ep);
}

Status ExpertParallelMoe::RoutedForward(const LayerWeights& lw, int tokens, const float* x, const int32_t* ids,
                                        const float* weights, float* out, std::span<int64_t> rows_per_expert,
                                        std::span<int64_t> sent_to) {
  const int num_e = config_.num_experts, k = config_.num_experts_per_tok, hidden = config_.hidden_size;
  const int ep = comm_->size(), epr = experts_per_rank_;
  std::string bad;
  if (tokens < 0) bad = "negative token count";
  for (ptrdiff_t i = 0; bad.empty() && i < static_cast<ptrdiff_t>(tokens) * k; ++i) {
    if (ids[i] < 0 || ids[i] >= num_e) bad = "expert id " + std::to_string(ids[i]) + " out of range";
  }
  if (bad.empty() && ((!rows_per_expert.empty() && static_cast<int>(rows_per_expert.size()) != num_e) ||
                      (!sent_to.empty() && static_cast<int>(sent_to.size()) != ep))) {
    bad = "statistics of the wrong size";
  }
  // This rank's rows sorted by expert, as the single-rank forward sorts them: the rows for
  // rank d (experts d·epr .. (d+1)·epr − 1) are one contiguous block.
  RoutedActs local;
  std::vector<int32_t> counts(num_e, 0);  // rows per expert: the metadata each owner gets
  if (bad.empty()) {
    model_internal::SortByExpert(num_e, k, tokens, ids, &local);
    for (int e = 0; e < num_e; ++e) counts[e] = local.rows(e);
  }
  // Round 1 (int32 metadata): every owner learns how many rows of each of its experts
  // come from each rank. A bad call here (row width 0) fails this round on every rank.
  std::vector<int64_t> meta_send(ep, epr), meta_got;
  std::vector<int32_t> meta;
  const Status meta_status = comm_->AllToAllV(std::span<const int32_t>(counts), meta_send, bad.empty() ? 1 : 0,
                                              &meta, &meta_got);
  if (!bad.empty()) return InvalidArgument("ExpertParallelMoe on rank " + std::to_string(comm_->rank()) + ": " + bad);
  TIDE_RETURN_IF_ERROR(meta_status);

  // Round 2 (float rows): dispatch each row's input to its expert's owner.
  const size_t rows = local.tokens.size();
  std::vector<float> xs(rows * hidden);
  for (size_t i = 0; i < rows; ++i) {
    std::copy_n(x + static_cast<ptrdiff_t>(local.tokens[i]) * hidden, hidden, xs.data() + i * hidden);
  }
  std::vector<int64_t> send_rows(ep);
  for (int d = 0; d < ep; ++d) send_rows[d] = local.offsets[(d + 1) * epr] - local.offsets[d * epr];
  std::vector<float> xr;
  std::vector<int64_t> recv_rows;
  TIDE_RETURN_IF_ERROR(comm_->AllToAllV(std::span<const float>(xs), send_rows, hidden, &xr, &recv_rows));

  // Regroup what arrived (source-major, expert-major within a source) by expert: source
  // rank order, then each source's token order — the single-rank order of each expert.
  std::vector<int64_t> src0(ep + 1, 0);
  for (int s = 0; s < ep; ++s) {
    int64_t sum = 0;
    for (int j = 0; j < epr; ++j) sum += meta[static_cast<size_t>(s) * epr + j];
    if (sum != recv_rows[s]) {
      return Internal("ExpertParallelMoe: rank " + std::to_string(s) + " announced " + std::to_string(sum) +
                      " rows and sent " + std::to_string(recv_rows[s]));
    }
    src0[s + 1] = src0[s] + recv_rows[s];
  }
  std::vector<int32_t> offsets(epr + 1, 0);
  std::vector<int64_t> perm;  // perm[sorted row] = received row
  perm.reserve(static_cast<size_t>(src0[ep]));
  for (int j = 0; j < epr; ++j) {
    for (int s = 0; s < ep; ++s) {
      int64_t r = src0[s];
      for (int jj = 0; jj < j; ++jj) r += meta[static_cast<size_t>(s) * epr + jj];
      for (int32_t i = 0; i < meta[static_cast<size_t>(s) * epr + j]; ++i) perm.push_back(r + i);
    }
    offsets[j + 1] = static_cast<int32_t>(perm.size());
  }
  const size_t owned_rows = perm.size();
  std::vector<float> xsorted(owned_rows * hidden), ysorted(xsorted.size());
  for (size_t i = 0; i < owned_rows; ++i) {
    std::copy_n(xr.data() + perm[i] * hidden, hidden, xsorted.data() + i * hidden);
  }
  model_internal::SwiGluActs mlp;
  model_internal::RoutedExpertsRows(config_, lw, first_expert(), offsets, xsorted.data(), &mlp, ysorted.data());
  // Round 3 (float rows): the outputs go back in the order their rows arrived.
  std::vector<float> yr(xsorted.size());
  for (size_t i = 0; i < owned_rows; ++i) {
    std::copy_n(ysorted.data() + i * hidden, hidden, yr.data() + perm[i] * hidden);
  }
  std::vector<float> yback;
  std::vector<int64_t> back_rows;
  TIDE_RETURN_IF_ERROR(comm_->AllToAllV(std::span<const float>(yr), recv_rows, hidden, &yback, &back_rows));
  if (back_rows != send_rows) return Internal("ExpertParallelMoe: outputs came back in other counts than sent");

  std::fill(out, out + static_cast<ptrdiff_t>(tokens) * hidden, 0.f);
  model_internal::CombineRoutedRows(k, hidden, local.tokens, local.slots, weights, yback.data(), out);
  if (!rows_per_expert.empty()) {
    for (int j = 0; j < epr; ++j) rows_per_expert[first_expert() + j] += offsets[j + 1] - offsets[j];
  }
  if (!sent_to.empty()) {
    for (int d = 0; d < ep; ++d) sent_to[d] += send_rows[d];
  }
  return Status::Ok();
}

ExpertLoad ExpertParallelStats::Total() const {
  ExpertLoad total;
  for (const RankExpertLoad& r : ranks) {
    if (total.tokens.size() < r.rows.size()) total.tokens.resize(r.rows.size());
    for (size_t l = 0; l < r.rows.size(); ++l) {
      if (total.tokens[l].size() < r.rows[l].size()) total.tokens[l].resize(r.rows[l].size(), 0);
      for (size_t e = 0; e < r.rows[l].size(); ++e) total.tokens[l][e] += r.rows[l][e];
    }
  }
  return total;
}

namespace {

// MoeForward's hook on one rank's thread: runs the routed experts of this rank's token
// share through ExpertParallelMoe, then gathers every rank's combined rows so that all
// ranks continue with the full MoE output. The first failure aborts the group and is kept;
// later layers then do nothing (every peer fails too).
class ExpertParallelRunner final : public model_internal::RoutedExpertsRunner {
 public:
  ExpertParallelRunner(const ModelWeights& w, ExpertParallelMoe* moe, Communicator* comm, RankExpertLoad* load)
      : w_(w), moe_(moe), comm_(comm), load_(load) {}

  void Run(const ModelConfig& c, const LayerWeights& lw, int tokens, const LayerActs& la, float* out) override {
    if (!status_.ok()) return;
    status_ = RunLayer(c, lw, tokens, la, out);
    if (!status_.ok()) comm_->Abort();
  }

  const Status& status() const { return status_; }

 private:
  Status RunLayer(const ModelConfig& c, const LayerWeights& lw, int tokens, const LayerActs& la, float* out) {
    size_t layer = 0;
    while (layer < w_.layers.size() && &w_.layers[layer] != &lw) ++layer;
    if (layer == w_.layers.size()) return Internal("expert parallelism: a MoE layer of other weights");
    const int hidden = c.hidden_size, k = c.num_experts_per_tok, ep = comm_->size(), rank = comm_->rank();
    const int64_t t0 = static_cast<int64_t>(tokens) * rank / ep, t1 = static_cast<int64_t>(tokens) * (rank + 1) / ep;
    std::vector<float> part(static_cast<size_t>((t1 - t0) * hidden));
    std::span<int64_t> rows, sent;
    if (load_ != nullptr) {
      rows = load_->rows[layer];
      sent = load_->sent[layer];
    }
    TIDE_RETURN_IF_ERROR(moe_->RoutedForward(lw, static_cast<int>(t1 - t0), la.x2.data() + t0 * hidden,
                                             la.ids.data() + t0 * k, la.weights.data() + t0 * k, part.data(), rows,
                                             sent));
    // All-gather of the combined rows: this rank's share to every rank, received in rank
    // (= token) order.
    std::vector<float> send;
    send.reserve(part.size() * ep);
    for (int d = 0; d < ep; ++d) send.insert(send.end(), part.begin(), part.end());
    const std::vector<int64_t> send_rows(ep, t1 - t0);
    std::vector<float> all;
    std::vector<int64_t> got;
    TIDE_RETURN_IF_ERROR(comm_->AllToAllV(std::span<const float>(send), send_rows, hidden, &all, &got));
    if (all.size() != static_cast<size_t>(tokens) * hidden) {
      return Internal("expert parallelism: gathered " + std::to_string(all.size() / hidden) + " rows, expected " +
                      std::to_string(tokens));
    }
    std::copy(all.begin(), all.end(), out);
    return Status::Ok();
  }

  const ModelWeights& w_;
  ExpertParallelMoe* moe_;
  Communicator* comm_;
  RankExpertLoad* load_;
  Status status_;
};

// Sizes an empty load for the model; false when it is sized for another shape.
bool FitLoad(const ModelConfig& c, int ep, RankExpertLoad* load) {
  const size_t layers = static_cast<size_t>(c.num_hidden_layers);
  if (load->rows.empty()) load->rows.resize(layers);
  if (load->sent.empty()) load->sent.resize(layers);
  if (load->rows.size() != layers || load->sent.size() != layers) return false;
  for (size_t l = 0; l < layers; ++l) {
    const bool moe = c.IsMoeLayer(static_cast<int>(l));
    const size_t want_rows = moe ? static_cast<size_t>(c.num_experts) : 0;
    const size_t want_sent = moe ? static_cast<size_t>(ep) : 0;
    if (load->rows[l].empty()) load->rows[l].assign(want_rows, 0);
    if (load->sent[l].empty()) load->sent[l].assign(want_sent, 0);
    if (load->rows[l].size() != want_rows || load->sent[l].size() != want_sent) return false;
  }
  return true;
}

// FNV-1a over what every rank must agree on; non-negative (−1 marks a bad rank).
int64_t Fingerprint(const ModelConfig& c, std::span<const int32_t> tokens) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(tokens.size());
  for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
  mix(static_cast<uint64_t>(c.num_experts));
  mix(static_cast<uint64_t>(c.num_hidden_layers));
  mix(static_cast<uint64_t>(c.hidden_size));
  return static_cast<int64_t>(h >> 1);
}

}  // namespace

Result<Tensor> ForwardExpertParallelRank(Model& model, std::span<const int32_t> tokens, Communicator* comm,
                                         RankExpertLoad* load) {
  if (comm == nullptr) return InvalidArgument("ForwardExpertParallelRank: null communicator");
  const ModelConfig& c = model.config();
  const bool has_moe = model_internal::NumMoeLayers(c) > 0;
  std::optional<ExpertParallelMoe> moe;
  Status local = Status::Ok();
  if (has_moe) {
    auto created = ExpertParallelMoe::Create(c, comm);
    if (created.ok()) {
      moe.emplace(std::move(*created));
    } else {
      local = created.status();
    }
  }
  if (local.ok() && load != nullptr && !FitLoad(c, comm->size(), load)) {
    local = InvalidArgument("ForwardExpertParallelRank: load statistics sized for another model or ep");
  }
  // Agree before the first MoE layer: same tokens and model on every rank, no bad rank.
  const int n = comm->size();
  std::vector<int64_t> mine(n, local.ok() ? Fingerprint(c, tokens) : -1), theirs(n);
  TIDE_RETURN_IF_ERROR(comm->AllToAll(mine, theirs));
  if (!local.ok()) return local;
  for (int s = 0; s < n; ++s) {
    if (theirs[s] == -1) return InvalidArgument("expert parallelism: rank " + std::to_string(s) + " refused the call");
    if (theirs[s] != mine[0]) {
      return InvalidArgument("expert parallelism: rank " + std::to_string(s) + " has other tokens or another model");
    }
  }
  if (!has_moe) return model.Forward(tokens);
  ExpertParallelRunner runner(model.weights(), &*moe, comm, load);
  Result<Tensor> logits = [&] {
    model_internal::ScopedRoutedExpertsRunner scoped(&runner);
    return model.Forward(tokens);
  }();
  TIDE_RETURN_IF_ERROR(runner.status());
  return logits;
}

Result<Tensor> ForwardExpertParallel(Model& model, std::span<const int32_t> tokens, int ep,
                                     ExpertParallelStats* stats) {
  if (ep < 1) return InvalidArgument("ForwardExpertParallel: ep " + std::to_string(ep) + " < 1");
  const ModelConfig& c = model.config();
  if (model_internal::NumMoeLayers(c) > 0 && (c.num_experts <= 0 || c.num_experts % ep != 0)) {
    return InvalidArgument("expert parallelism: " + std::to_string(c.num_experts) +
                           " experts cannot be split evenly over " + std::to_string(ep) + " ranks");
  }
  if (stats != nullptr) {
    if (stats->ranks.empty()) stats->ranks.resize(ep);
    if (static_cast<int>(stats->ranks.size()) != ep) {
      return InvalidArgument("ForwardExpertParallel: stats hold " + std::to_string(stats->ranks.size()) +
                             " ranks, ep is " + std::to_string(ep));
    }
  }
  TIDE_ASSIGN_OR_RETURN(LocalCommunicatorGroup group, LocalCommunicatorGroup::Create(ep));
  std::vector<std::optional<Result<Tensor>>> results(ep);
  auto run_rank = [&](int r) {
    results[r].emplace(ForwardExpertParallelRank(model, tokens, group.communicator(r),
                                                 stats != nullptr ? &stats->ranks[r] : nullptr));
  };
  std::vector<std::thread> threads;
  threads.reserve(ep - 1);
  for (int r = 1; r < ep; ++r) threads.emplace_back(run_rank, r);
  run_rank(0);
  for (std::thread& t : threads) t.join();
  // The root cause rather than the Aborted it caused elsewhere.
  for (int r = 0; r < ep; ++r) {
    const Status& s = results[r]->status();
    if (!s.ok() && s.code() != StatusCode::kAborted) return s;
  }
  for (int r = 1; r < ep; ++r) TIDE_RETURN_IF_ERROR(results[r]->status());
  return std::move(*results[0]);
}

}  // namespace tide::engine::dist
