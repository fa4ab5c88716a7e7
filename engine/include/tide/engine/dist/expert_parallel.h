// Expert parallelism (EP): the routed experts of each MoE layer split over the `ep` ranks
// of a Communicator group. Expert e is owned by rank e / (num_experts / ep). Each rank
// holds the routed (token, slot) rows of its own share of the tokens; a layer
//   1. sorts its rows by expert (as the single-rank forward does) and sends each row's
//      input to the owner of its expert, with the per-expert row counts (two all-to-alls:
//      float rows and int32 metadata);
//   2. on the owner, regroups what arrived by expert (source rank, then token order, which
//      is the single-rank order when the shares are contiguous token ranges) and runs its
//      experts with the grouped GEMMs of model_moe.cc;
//   3. sends the outputs back (all-to-all) and combines them on the source rank, weighted
//      by the gating weights, each token's experts in the single-rank order.
// Every expert sees exactly the rows, in the order, it sees in a single-rank forward, so
// the results match it (bit for bit on CPU; the tests allow 1e-6).
//
// ForwardExpertParallelRank runs one rank's share of a whole Model forward with the MoE
// layers' experts distributed this way (backend-independent: what each GPU's process
// would call with an NCCL communicator). ForwardExpertParallel runs `ep` ranks as threads
// on the local backend and returns the logits. The non-MoE parts (attention, norms, the
// router, shared experts, the head) are computed redundantly by every rank over all
// tokens; only the routed experts are split.
//
// Ownership: ExpertParallelMoe borrows the Communicator (it must outlive it); weights and
// buffers are the caller's. Stats are the caller's and only added to.
// Failure: Status results; InvalidArgument for num_experts % ep != 0 or a bad input, the
// communicator's errors otherwise. A rank that fails aborts the communicator group, so
// its peers fail (Aborted) instead of waiting.
// Thread safety: an ExpertParallelMoe is one rank's and used by that rank's thread only.
// Its calls are collectives (communicator.h). ForwardExpertParallel only reads the
// Model (as Model::Forward without kept activations) and may run concurrently with such
// forwards.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tide/core/status.h"
#include "tide/engine/dist/communicator.h"
#include "tide/engine/model.h"

namespace tide::engine::dist {

// What one rank did in the MoE layers of one or more forwards (added to; sized on first use).
struct RankExpertLoad {
  // rows[layer][expert]: routed (token, slot) rows this rank ran through `expert` — zero
  // for experts it does not own; empty for dense layers.
  std::vector<std::vector<int64_t>> rows;
  // sent[layer][rank]: rows this rank dispatched to `rank` (itself included).
  std::vector<std::vector<int64_t>> sent;
};

struct ExpertParallelStats {
  std::vector<RankExpertLoad> ranks;  // [rank]
  // Rows per expert summed over ranks: the single-rank forward's ExpertLoad.
  ExpertLoad Total() const;
};

class ExpertParallelMoe {
 public:
  // InvalidArgument unless num_experts > 0 and num_experts % comm->size() == 0.
  static Result<ExpertParallelMoe> Create(const ModelConfig& config, Communicator* comm);

  int ep() const { return comm_->size(); }
  int experts_per_rank() const { return experts_per_rank_; }
  int first_expert() const { return comm_->rank() * experts_per_rank_; }  // this rank's first
  int OwnerOf(int expert) const { return expert / experts_per_rank_; }

  // Collective (every rank calls it for the same layer). The routed experts of layer lw for
  // this rank's `tokens` tokens: x [tokens, hidden], ids and weights [tokens, k] (ids in
  // [0, num_experts), distinct per token). out [tokens, hidden] is overwritten with
  // Σ_j weights_j · expert_{ids_j}(x) (shared experts not included). rows_per_expert
  // ([num_experts]) and sent_to ([ep]), when given, are added to. Only this rank's experts
  // of lw are read. InvalidArgument for an id out of range (on every rank).
  Status RoutedForward(const LayerWeights& lw, int tokens, const float* x, const int32_t* ids, const float* weights,
                       float* out, std::span<int64_t> rows_per_expert = {}, std::span<int64_t> sent_to = {});

 private:
  ExpertParallelMoe(const ModelConfig& config, Communicator* comm, int experts_per_rank)
      : config_(config), comm_(comm), experts_per_rank_(experts_per_rank) {}

  ModelConfig config_;
  Communicator* comm_;
  int experts_per_rank_;
};

// This rank's part of Model::Forward(tokens) (no cache) with the routed experts of every
// MoE layer split over comm's ranks; rank r's token share is [r·T/ep, (r+1)·T/ep). Every
// rank calls it with the same tokens and returns the full logits [T, vocab]. load, when
// given, gets this rank's statistics. Errors as Model::Forward (alike on every rank),
// InvalidArgument for num_experts % ep != 0, and the communicator's.
Result<Tensor> ForwardExpertParallelRank(Model& model, std::span<const int32_t> tokens, Communicator* comm,
                                         RankExpertLoad* load = nullptr);

// Runs `ep` ranks as threads on a LocalCommunicatorGroup (the calling thread is rank 0)
// and returns rank 0's logits. stats, when given, gets every rank's load (stats->ranks
// sized to ep on first use). InvalidArgument for ep < 1, num_experts % ep != 0 (with MoE
// layers) or stats sized for another ep.
Result<Tensor> ForwardExpertParallel(Model& model, std::span<const int32_t> tokens, int ep,
                                     ExpertParallelStats* stats = nullptr);

}  // namespace tide::engine::dist
