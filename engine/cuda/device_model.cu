// DeviceModel (device_model.h): the MoE transformer's forward with weights, activations and
// the paged KV cache resident on the GPU. A forward uploads only its small per-row metadata
// (token ids, positions, KV slots, block tables), queues every layer's kernels on one
// stream with no host wait in between (the routing stays on the device: router top-k,
// the expert sort and the grouped expert products read it there), and copies the logits
// back once. The greedy decode loop goes further: the argmax and the step's bookkeeping run
// on the device too, so a whole step is a fixed sequence of launches that is captured once
// into a CUDA graph and replayed.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "device_model.h"
#include "model_kernels.h"

namespace tide::engine::cuda_internal {

namespace {

using Bytes = DeviceBuffer<unsigned char>;

template <typename T>
Status Put(const T* src, std::size_t count, cudaStream_t stream, const char* name,
           DeviceBuffer<T>* dst) {
  return Upload(src, count, stream, name, dst);
}

Status PutBytes(const void* src, std::size_t bytes, cudaStream_t stream, const char* name,
                Bytes* dst) {
  return Upload(static_cast<const unsigned char*>(src), bytes, stream, name, dst);
}

// Copies host data into an existing device buffer (growing it first when too small).
template <typename T>
Status Refill(const std::vector<T>& src, cudaStream_t stream, const char* name,
              DeviceBuffer<T>* dst) {
  if (src.empty()) return Status::Ok();
  if (dst->size() < src.size()) TIDE_RETURN_IF_ERROR(dst->Allocate(src.size(), name));
  TIDE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst->get(), src.data(), src.size() * sizeof(T),
                                            cudaMemcpyHostToDevice, stream),
                            std::string("cudaMemcpyAsync(") + name + ")");
  return Status::Ok();
}

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph() { Reset(); }
  void Reset() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }
  cudaGraph_t* graph() { return &graph_; }
  cudaGraphExec_t* exec() { return &exec_; }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e_ != nullptr) cudaEventDestroy(e_);
  }
  Status Create() {
    TIDE_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e_), "cudaEventCreate");
    return Status::Ok();
  }
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace

struct LayerDev {
  DeviceBuffer<float> in_norm, post_norm, q_norm, k_norm, router, bias;
  Bytes qkv, o, gate, up, down, shared_gate, shared_up, shared_down;
};

struct DeviceModel::Impl {
  DeviceModelSpec s;
  Stream stream;
  std::vector<LayerDev> layers;
  Bytes embed, lm_head;
  DeviceBuffer<float> norm, inv_freq, k_pool, v_pool;
  // Activations, sized for max_rows rows.
  DeviceBuffer<float> h, qkv, q, attn, h_mid, gu, y, shared_h, shared_out, logits;
  DeviceBuffer<float> topk_w;
  DeviceBuffer<std::int32_t> topk_ids, offsets, row_token, pair_row, active, num_active;
  // Per-forward metadata.
  DeviceBuffer<std::int32_t> ids, positions, row_seq, row_in_seq, tables, last_rows;
  DeviceBuffer<std::int32_t> dense_meta;  // {0, rows, 0, m, 0 (active), 1 (num_active)}
  DeviceBuffer<std::int64_t> kv_slot;
  DeviceBuffer<AttnSeqInfo> infos;
  DeviceBuffer<std::int32_t> history;
  DeviceBuffer<int> step;
  DeviceBuffer<unsigned long long> argmax_keys;
  std::int64_t weight_bytes = 0;

  int qd() const { return s.heads * s.head_dim; }
  int kvd() const { return s.kv_heads * s.head_dim; }
  std::int64_t pool_rows() const { return static_cast<std::int64_t>(s.num_blocks) * s.block_size; }

  template <typename W>
  const W* As(const Bytes& b) const {
    return reinterpret_cast<const W*>(b.get());
  }

  // Queues the decoder layers and the head for `rows` rows whose metadata is on the device;
  // m head rows (every row when all_rows, else last_rows).
  template <typename W>
  Status Queue(int rows, int num_seqs, int max_seq_rows, int m, bool all_rows);
  Status QueueAny(int rows, int num_seqs, int max_seq_rows, int m, bool all_rows) {
    return s.bf16 ? Queue<__nv_bfloat16>(rows, num_seqs, max_seq_rows, m, all_rows)
                  : Queue<float>(rows, num_seqs, max_seq_rows, m, all_rows);
  }
};

#define TIDE_LAUNCH(call, name) TIDE_CUDA_RETURN_IF_ERROR((call), std::string(name) + " launch")

template <typename W>
Status DeviceModel::Impl::Queue(int rows, int num_seqs, int max_seq_rows, int m, bool all_rows) {
  (void)num_seqs;
  cudaStream_t st = stream.get();
  const int hidden = s.hidden, k = s.top_k;
  const int* dense_rows = dense_meta.get();      // {0, rows}
  const int* head_rows = dense_meta.get() + 2;   // {0, m}
  const int* one_active = dense_meta.get() + 4;  // {0}
  const int* one_count = dense_meta.get() + 5;   // {1}
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim)));
  const std::int64_t block_stride = static_cast<std::int64_t>(s.block_size) * kvd();
  TIDE_LAUNCH(LaunchEmbed<W>(ids.get(), As<W>(embed), h.get(), rows, hidden, st), "Embed");
  for (int l = 0; l < s.layers; ++l) {
    const LayerDev& L = layers[l];
    float* kp = k_pool.get() + l * pool_rows() * kvd();
    float* vp = v_pool.get() + l * pool_rows() * kvd();
    TIDE_LAUNCH(LaunchExpertGemv<W>(h.get(), nullptr, dense_rows, one_active, one_count, 1, rows,
                                    As<W>(L.qkv), nullptr, nullptr, L.in_norm.get(), s.eps,
                                    qkv.get(), qd() + 2 * kvd(), hidden, false, st),
                "qkv");
    TIDE_LAUNCH(LaunchQkNormRopeStore(qkv.get(), positions.get(), kv_slot.get(), L.q_norm.get(),
                                      L.k_norm.get(), inv_freq.get(), q.get(), kp, vp, rows,
                                      s.heads, s.kv_heads, s.head_dim, s.eps, st),
                "QkNormRopeStore");
    TIDE_LAUNCH(LaunchPagedAttention(q.get(), attn.get(), row_seq.get(), row_in_seq.get(),
                                     infos.get(), tables.get(), kp, vp, block_stride,
                                     s.block_size, rows, s.heads, s.kv_heads, s.head_dim, scale, st),
                "PagedAttention");
    TIDE_LAUNCH(LaunchExpertGemv<W>(attn.get(), nullptr, dense_rows, one_active, one_count, 1,
                                    rows, As<W>(L.o), nullptr, h.get(), nullptr, 0.f, h_mid.get(),
                                    hidden, qd(), false, st),
                "o_proj");
    // post_attention_layernorm is applied by each consumer of h_mid as it loads its rows.
    const float* post = L.post_norm.get();
    if (s.moe_layer[l]) {
      const int pairs = rows * k;
      const int grid_experts = std::min(s.experts, pairs);
      TIDE_LAUNCH(LaunchRouterTopK(h_mid.get(), post, s.eps, L.router.get(), s.use_bias ? L.bias.get() : nullptr,
                                   rows, hidden, s.experts, k, s.softmax, s.normalise,
                                   s.routed_scale, topk_ids.get(), topk_w.get(), st),
                  "RouterTopK");
      TIDE_LAUNCH(LaunchSortByExpert(topk_ids.get(), rows, k, s.experts, offsets.get(),
                                     row_token.get(), pair_row.get(), active.get(),
                                     num_active.get(), st),
                  "SortByExpert");
      TIDE_LAUNCH(LaunchExpertGemv<W>(h_mid.get(), row_token.get(), offsets.get(), active.get(),
                                      num_active.get(), grid_experts, rows, As<W>(L.gate),
                                      As<W>(L.up), nullptr, post, s.eps, gu.get(), s.moe_inter,
                                      hidden, true, st),
                  "experts gate/up");
      TIDE_LAUNCH(LaunchExpertGemv<W>(gu.get(), nullptr, offsets.get(), active.get(),
                                      num_active.get(), grid_experts, rows, As<W>(L.down), nullptr,
                                      nullptr, nullptr, 0.f, y.get(), hidden, s.moe_inter, false,
                                      st),
                  "experts down");
      const float* extra = nullptr;
      if (s.shared_inter > 0) {
        TIDE_LAUNCH(LaunchExpertGemv<W>(h_mid.get(), nullptr, dense_rows, one_active, one_count, 1,
                                        rows, As<W>(L.shared_gate), As<W>(L.shared_up), nullptr,
                                        post, s.eps, shared_h.get(), s.shared_inter, hidden, true,
                                        st),
                    "shared gate/up");
        TIDE_LAUNCH(LaunchExpertGemv<W>(shared_h.get(), nullptr, dense_rows, one_active, one_count,
                                        1, rows, As<W>(L.shared_down), nullptr, nullptr, nullptr,
                                        0.f, shared_out.get(), hidden, s.shared_inter, false, st),
                    "shared down");
        extra = shared_out.get();
      }
      TIDE_LAUNCH(LaunchCombine(h_mid.get(), extra, y.get(), pair_row.get(), topk_w.get(), rows, k,
                                hidden, h.get(), st),
                  "Combine");
    } else {
      TIDE_LAUNCH(LaunchExpertGemv<W>(h_mid.get(), nullptr, dense_rows, one_active, one_count, 1,
                                      rows, As<W>(L.gate), As<W>(L.up), nullptr, post, s.eps,
                                      gu.get(), s.inter, hidden, true, st),
                  "dense gate/up");
      TIDE_LAUNCH(LaunchExpertGemv<W>(gu.get(), nullptr, dense_rows, one_active, one_count, 1, rows,
                                      As<W>(L.down), nullptr, h_mid.get(), nullptr, 0.f, h.get(),
                                      hidden, s.inter, false, st),
                  "dense down");
    }
  }
  (void)max_seq_rows;
  // The final norm on the head's rows as they load (each sequence's last row, or all).
  TIDE_LAUNCH(LaunchExpertGemv<W>(h.get(), all_rows ? nullptr : last_rows.get(), head_rows,
                                  one_active, one_count, 1, m, As<W>(lm_head), nullptr, nullptr,
                                  norm.get(), s.eps, logits.get(), s.vocab, hidden, false, st),
              "lm_head");
  return Status::Ok();
}

DeviceModel::DeviceModel() : impl_(std::make_unique<Impl>()) {}
DeviceModel::~DeviceModel() {
  if (impl_ != nullptr && impl_->stream.get() != nullptr) cudaStreamSynchronize(impl_->stream.get());
}

std::int64_t DeviceModel::weight_bytes() const { return impl_->weight_bytes; }

Status DeviceModel::Create(const DeviceModelSpec& spec, const HostWeights& w,
                           std::unique_ptr<DeviceModel>* out) {
  TIDE_RETURN_IF_ERROR(RequireDevice());
  std::unique_ptr<DeviceModel> model(new DeviceModel());
  Impl& m = *model->impl_;
  m.s = spec;
  const DeviceModelSpec& s = m.s;
  TIDE_RETURN_IF_ERROR(m.stream.Create());
  cudaStream_t st = m.stream.get();
  const std::size_t es = s.bf16 ? 2 : 4;
  const std::size_t hid = static_cast<std::size_t>(s.hidden);
  const int qd = m.qd(), kvd = m.kvd();
  TIDE_CUDA_RETURN_IF_ERROR(PrepareExpertGemv(std::max({s.hidden, s.moe_inter, s.inter,
                                                         s.shared_inter, qd})),
                            "cudaFuncSetAttribute(expert GEMV shared memory)");
  auto put = [&](const void* src, std::size_t elems, const char* name, Bytes* dst) {
    m.weight_bytes += static_cast<std::int64_t>(elems * es);
    return PutBytes(src, elems * es, st, name, dst);
  };
  TIDE_RETURN_IF_ERROR(put(w.embed, static_cast<std::size_t>(s.vocab) * hid, "embed", &m.embed));
  TIDE_RETURN_IF_ERROR(put(w.lm_head, static_cast<std::size_t>(s.vocab) * hid, "lm_head", &m.lm_head));
  TIDE_RETURN_IF_ERROR(Put(w.norm, hid, st, "norm", &m.norm));
  m.layers.resize(s.layers);
  for (int l = 0; l < s.layers; ++l) {
    const HostLayer& hl = w.layers[l];
    LayerDev& L = m.layers[l];
    TIDE_RETURN_IF_ERROR(Put(hl.in_norm, hid, st, "input_layernorm", &L.in_norm));
    TIDE_RETURN_IF_ERROR(Put(hl.post_norm, hid, st, "post_attention_layernorm", &L.post_norm));
    TIDE_RETURN_IF_ERROR(Put(hl.q_norm, s.head_dim, st, "q_norm", &L.q_norm));
    TIDE_RETURN_IF_ERROR(Put(hl.k_norm, s.head_dim, st, "k_norm", &L.k_norm));
    TIDE_RETURN_IF_ERROR(put(hl.qkv, static_cast<std::size_t>(qd + 2 * kvd) * hid, "qkv", &L.qkv));
    TIDE_RETURN_IF_ERROR(put(hl.o, hid * qd, "o_proj", &L.o));
    if (s.moe_layer[l]) {
      const std::size_t ew = static_cast<std::size_t>(s.experts) * s.moe_inter * hid;
      TIDE_RETURN_IF_ERROR(Put(hl.router, static_cast<std::size_t>(s.experts) * hid, st, "router", &L.router));
      if (s.use_bias) TIDE_RETURN_IF_ERROR(Put(hl.bias, s.experts, st, "expert bias", &L.bias));
      TIDE_RETURN_IF_ERROR(put(hl.gate, ew, "experts gate", &L.gate));
      TIDE_RETURN_IF_ERROR(put(hl.up, ew, "experts up", &L.up));
      TIDE_RETURN_IF_ERROR(put(hl.down, ew, "experts down", &L.down));
      if (s.shared_inter > 0) {
        const std::size_t sw = static_cast<std::size_t>(s.shared_inter) * hid;
        TIDE_RETURN_IF_ERROR(put(hl.shared_gate, sw, "shared gate", &L.shared_gate));
        TIDE_RETURN_IF_ERROR(put(hl.shared_up, sw, "shared up", &L.shared_up));
        TIDE_RETURN_IF_ERROR(put(hl.shared_down, sw, "shared down", &L.shared_down));
      }
    } else {
      const std::size_t dw = static_cast<std::size_t>(s.inter) * hid;
      TIDE_RETURN_IF_ERROR(put(hl.gate, dw, "dense gate", &L.gate));
      TIDE_RETURN_IF_ERROR(put(hl.up, dw, "dense up", &L.up));
      TIDE_RETURN_IF_ERROR(put(hl.down, dw, "dense down", &L.down));
    }
    // Each layer's copies are queued from pageable memory; waiting here keeps the host's
    // peak at one layer's packed copy when the caller packs layer by layer.
  }
  // The same f32 expression as RopeAngle (engine/src/rope.cc), on the host.
  std::vector<float> inv_freq(s.head_dim / 2);
  for (int i = 0; i < s.head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(s.head_dim);
    inv_freq[i] = 1.0f / std::pow(s.rope_theta, exponent);
  }
  TIDE_RETURN_IF_ERROR(Put(inv_freq.data(), inv_freq.size(), st, "inv_freq", &m.inv_freq));
  const std::size_t pool = static_cast<std::size_t>(s.layers) * m.pool_rows() * kvd;
  TIDE_RETURN_IF_ERROR(m.k_pool.Allocate(pool, "k pool"));
  TIDE_RETURN_IF_ERROR(m.v_pool.Allocate(pool, "v pool"));

  const std::size_t rows = static_cast<std::size_t>(s.max_rows);
  const std::size_t pairs = rows * s.top_k;
  const int inter_max = std::max(s.moe_inter, s.inter);
  TIDE_RETURN_IF_ERROR(m.h.Allocate(rows * hid, "h"));
  TIDE_RETURN_IF_ERROR(m.qkv.Allocate(rows * (qd + 2 * kvd), "qkv"));
  TIDE_RETURN_IF_ERROR(m.q.Allocate(rows * qd, "q"));
  TIDE_RETURN_IF_ERROR(m.attn.Allocate(rows * qd, "attn"));
  TIDE_RETURN_IF_ERROR(m.h_mid.Allocate(rows * hid, "h_mid"));
  TIDE_RETURN_IF_ERROR(m.gu.Allocate(std::max(pairs, rows) * inter_max, "gate*up"));
  TIDE_RETURN_IF_ERROR(m.y.Allocate(std::max<std::size_t>(pairs, 1) * hid, "expert out"));
  if (s.shared_inter > 0) {
    TIDE_RETURN_IF_ERROR(m.shared_h.Allocate(rows * s.shared_inter, "shared gate*up"));
    TIDE_RETURN_IF_ERROR(m.shared_out.Allocate(rows * hid, "shared out"));
  }
  TIDE_RETURN_IF_ERROR(m.logits.Allocate(rows * s.vocab, "logits"));
  TIDE_RETURN_IF_ERROR(m.topk_w.Allocate(std::max<std::size_t>(pairs, 1), "topk weights"));
  TIDE_RETURN_IF_ERROR(m.topk_ids.Allocate(std::max<std::size_t>(pairs, 1), "topk ids"));
  TIDE_RETURN_IF_ERROR(m.offsets.Allocate(s.experts + 1, "expert offsets"));
  TIDE_RETURN_IF_ERROR(m.row_token.Allocate(std::max<std::size_t>(pairs, 1), "row token"));
  TIDE_RETURN_IF_ERROR(m.pair_row.Allocate(std::max<std::size_t>(pairs, 1), "pair row"));
  TIDE_RETURN_IF_ERROR(m.active.Allocate(std::max(s.experts, 1), "active experts"));
  TIDE_RETURN_IF_ERROR(m.num_active.Allocate(1, "active count"));
  TIDE_RETURN_IF_ERROR(m.ids.Allocate(rows, "ids"));
  TIDE_RETURN_IF_ERROR(m.positions.Allocate(rows, "positions"));
  TIDE_RETURN_IF_ERROR(m.row_seq.Allocate(rows, "row seq"));
  TIDE_RETURN_IF_ERROR(m.row_in_seq.Allocate(rows, "row in seq"));
  TIDE_RETURN_IF_ERROR(m.kv_slot.Allocate(rows, "kv slot"));
  TIDE_RETURN_IF_ERROR(m.last_rows.Allocate(s.max_seqs, "last rows"));
  TIDE_RETURN_IF_ERROR(m.infos.Allocate(s.max_seqs, "seq infos"));
  TIDE_RETURN_IF_ERROR(m.dense_meta.Allocate(6, "dense meta"));
  TIDE_RETURN_IF_ERROR(m.step.Allocate(1, "step"));
  TIDE_RETURN_IF_ERROR(Synchronize(st, "weight upload"));
  *out = std::move(model);
  return Status::Ok();
}

Status DeviceModel::Forward(const DeviceSeq* seqs, int n, bool all_rows, float* logits_host) {
  Impl& m = *impl_;
  const DeviceModelSpec& s = m.s;
  cudaStream_t st = m.stream.get();
  std::vector<std::int32_t> ids, positions, row_seq, row_in_seq, tables, last_rows;
  std::vector<std::int64_t> kv_slot;
  std::vector<AttnSeqInfo> infos;
  int max_seq_rows = 0;
  for (int i = 0; i < n; ++i) {
    const DeviceSeq& q = seqs[i];
    infos.push_back({q.past, static_cast<int>(tables.size())});
    tables.insert(tables.end(), q.table, q.table + q.table_len);
    for (int t = 0; t < q.tokens; ++t) {
      const int p = q.past + t;
      ids.push_back(q.ids[t]);
      positions.push_back(p);
      row_seq.push_back(i);
      row_in_seq.push_back(t);
      kv_slot.push_back(static_cast<std::int64_t>(q.table[p / s.block_size]) * s.block_size +
                        p % s.block_size);
    }
    last_rows.push_back(static_cast<std::int32_t>(ids.size()) - 1);
    max_seq_rows = std::max(max_seq_rows, q.tokens);
  }
  const int rows = static_cast<int>(ids.size());
  const int head = all_rows ? rows : n;
  const std::vector<std::int32_t> meta = {0, rows, 0, head, 0, 1};
  TIDE_RETURN_IF_ERROR(Refill(ids, st, "ids", &m.ids));
  TIDE_RETURN_IF_ERROR(Refill(positions, st, "positions", &m.positions));
  TIDE_RETURN_IF_ERROR(Refill(row_seq, st, "row seq", &m.row_seq));
  TIDE_RETURN_IF_ERROR(Refill(row_in_seq, st, "row in seq", &m.row_in_seq));
  TIDE_RETURN_IF_ERROR(Refill(kv_slot, st, "kv slot", &m.kv_slot));
  TIDE_RETURN_IF_ERROR(Refill(tables, st, "block tables", &m.tables));
  TIDE_RETURN_IF_ERROR(Refill(last_rows, st, "last rows", &m.last_rows));
  TIDE_RETURN_IF_ERROR(Refill(infos, st, "seq infos", &m.infos));
  TIDE_RETURN_IF_ERROR(Refill(meta, st, "dense meta", &m.dense_meta));
  TIDE_RETURN_IF_ERROR(m.QueueAny(rows, n, max_seq_rows, head, all_rows));
  TIDE_RETURN_IF_ERROR(Download(m.logits, static_cast<std::size_t>(head) * s.vocab, st, "logits",
                                logits_host));
  return Synchronize(st, "model forward");
}

Status DeviceModel::DecodeGreedy(int batch, const std::int32_t* first_tokens, const int* pasts,
                                 const std::int32_t* tables, int table_stride, int steps,
                                 bool use_graph, std::int32_t* tokens_host, double* seconds) {
  Impl& m = *impl_;
  const DeviceModelSpec& s = m.s;
  cudaStream_t st = m.stream.get();
  std::vector<std::int32_t> ids(first_tokens, first_tokens + batch), positions(batch),
      row_seq(batch), row_in_seq(batch, 0), table_vec(tables, tables + static_cast<std::size_t>(batch) * table_stride);
  std::vector<std::int64_t> kv_slot(batch);
  std::vector<AttnSeqInfo> infos(batch);
  for (int i = 0; i < batch; ++i) {
    positions[i] = pasts[i];
    row_seq[i] = i;
    infos[i] = {pasts[i], i * table_stride};
    kv_slot[i] = static_cast<std::int64_t>(tables[i * table_stride + pasts[i] / s.block_size]) *
                     s.block_size + pasts[i] % s.block_size;
  }
  const std::vector<std::int32_t> meta = {0, batch, 0, batch, 0, 1};
  const std::vector<int> zero = {0};
  TIDE_RETURN_IF_ERROR(Refill(ids, st, "ids", &m.ids));
  TIDE_RETURN_IF_ERROR(Refill(positions, st, "positions", &m.positions));
  TIDE_RETURN_IF_ERROR(Refill(row_seq, st, "row seq", &m.row_seq));
  TIDE_RETURN_IF_ERROR(Refill(row_in_seq, st, "row in seq", &m.row_in_seq));
  TIDE_RETURN_IF_ERROR(Refill(kv_slot, st, "kv slot", &m.kv_slot));
  TIDE_RETURN_IF_ERROR(Refill(table_vec, st, "block tables", &m.tables));
  TIDE_RETURN_IF_ERROR(Refill(infos, st, "seq infos", &m.infos));
  TIDE_RETURN_IF_ERROR(Refill(meta, st, "dense meta", &m.dense_meta));
  TIDE_RETURN_IF_ERROR(Refill(zero, st, "step", &m.step));
  const std::vector<unsigned long long> no_keys(batch, 0ull);
  TIDE_RETURN_IF_ERROR(Refill(no_keys, st, "argmax keys", &m.argmax_keys));
  if (m.history.size() < static_cast<std::size_t>(steps) * batch) {
    TIDE_RETURN_IF_ERROR(m.history.Allocate(static_cast<std::size_t>(steps) * batch, "history"));
  }
  auto queue_step = [&]() -> Status {
    TIDE_RETURN_IF_ERROR(m.QueueAny(batch, batch, 1, batch, true));
    TIDE_LAUNCH(LaunchArgmax(m.logits.get(), batch, s.vocab, m.argmax_keys.get(), st), "Argmax");
    TIDE_LAUNCH(LaunchAdvanceDecode(batch, m.argmax_keys.get(), m.ids.get(), m.history.get(),
                                    m.positions.get(), m.infos.get(), m.kv_slot.get(),
                                    m.tables.get(), s.block_size, m.step.get(), st),
                "AdvanceDecode");
    return Status::Ok();
  };
  Graph graph;
  if (use_graph) {
    TIDE_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal),
                              "cudaStreamBeginCapture");
    const Status queued = queue_step();
    const cudaError_t end = cudaStreamEndCapture(st, graph.graph());
    TIDE_RETURN_IF_ERROR(queued);
    TIDE_CUDA_RETURN_IF_ERROR(end, "cudaStreamEndCapture");
    TIDE_CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(graph.exec(), *graph.graph(), 0),
                              "cudaGraphInstantiate");
    TIDE_CUDA_RETURN_IF_ERROR(cudaGraphUpload(*graph.exec(), st), "cudaGraphUpload");
  }
  Event start, stop;
  TIDE_RETURN_IF_ERROR(start.Create());
  TIDE_RETURN_IF_ERROR(stop.Create());
  TIDE_CUDA_RETURN_IF_ERROR(cudaEventRecord(start.get(), st), "cudaEventRecord");
  for (int i = 0; i < steps; ++i) {
    if (use_graph) {
      TIDE_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(*graph.exec(), st), "cudaGraphLaunch");
    } else {
      TIDE_RETURN_IF_ERROR(queue_step());
    }
  }
  TIDE_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop.get(), st), "cudaEventRecord");
  TIDE_RETURN_IF_ERROR(Synchronize(st, "decode steps"));
  if (seconds != nullptr) {
    float ms = 0.f;
    TIDE_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start.get(), stop.get()),
                              "cudaEventElapsedTime");
    *seconds = ms / 1e3;
  }
  TIDE_RETURN_IF_ERROR(Download(m.history, static_cast<std::size_t>(steps) * batch, st, "tokens",
                                tokens_host));
  return Synchronize(st, "decode tokens");
}

}  // namespace tide::engine::cuda_internal

namespace tide::engine {

Result<double> CudaCopyBandwidth(int64_t bytes, int reps) {
  using namespace cuda_internal;
  if (bytes <= 0 || reps <= 0) return InvalidArgument("CudaCopyBandwidth: bytes and reps must be positive");
  TIDE_RETURN_IF_ERROR(RequireDevice());
  Stream stream;
  TIDE_RETURN_IF_ERROR(stream.Create());
  DeviceBuffer<unsigned char> a, b;
  TIDE_RETURN_IF_ERROR(a.Allocate(static_cast<std::size_t>(bytes), "copy source"));
  TIDE_RETURN_IF_ERROR(b.Allocate(static_cast<std::size_t>(bytes), "copy destination"));
  // Not zeros: fill the source with a pattern first.
  TIDE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(a.get(), 0x5a, a.bytes(), stream.get()), "cudaMemsetAsync");
  Event start, stop;
  TIDE_RETURN_IF_ERROR(start.Create());
  TIDE_RETURN_IF_ERROR(stop.Create());
  std::vector<double> seconds;
  for (int i = 0; i <= reps; ++i) {
    TIDE_CUDA_RETURN_IF_ERROR(cudaEventRecord(start.get(), stream.get()), "cudaEventRecord");
    TIDE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(b.get(), a.get(), a.bytes(), cudaMemcpyDeviceToDevice,
                                              stream.get()),
                              "cudaMemcpyAsync(device to device)");
    TIDE_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop.get(), stream.get()), "cudaEventRecord");
    TIDE_RETURN_IF_ERROR(Synchronize(stream.get(), "copy"));
    float ms = 0.f;
    TIDE_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start.get(), stop.get()), "cudaEventElapsedTime");
    if (i > 0) seconds.push_back(ms / 1e3);  // the first is the warm-up
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * static_cast<double>(bytes) / seconds[seconds.size() / 2];
}

}  // namespace tide::engine
