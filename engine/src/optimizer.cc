#include "tide/engine/optimizer.h"

#include "tide/engine/thread_pool.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "tide/engine/kernels/gemm.h"
#include "tide/engine/safetensors.h"

namespace tide::engine {
namespace {

constexpr float kNsA = 3.4445f, kNsB = -4.7750f, kNsC = 2.0315f;

bool Decays(const NamedTensor& p) {
  return p.kind == NamedTensor::Kind::kMatrix || p.kind == NamedTensor::Kind::kEmbedding ||
         p.kind == NamedTensor::Kind::kLmHead || p.kind == NamedTensor::Kind::kRouter;
}

const char* KindName(OptimizerKind k) { return k == OptimizerKind::kMuon ? "muon" : "adamw"; }

}  // namespace

bool UsesMuon(const NamedTensor& p) { return p.kind == NamedTensor::Kind::kMatrix && p.tensor->shape.size() == 2; }

void NewtonSchulz5(const float* g, int rows, int cols, int steps, float* out) {
  // Work on the wide orientation (r <= c) so X·Xᵀ is the small r×r Gram matrix.
  const bool transpose = rows > cols;
  const int r = transpose ? cols : rows, c = transpose ? rows : cols;
  std::vector<float> x(static_cast<size_t>(r) * c), a(static_cast<size_t>(r) * r), b(a.size()), next(x.size());
  double norm2 = 0;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      const float v = g[static_cast<size_t>(i) * cols + j];
      norm2 += static_cast<double>(v) * v;
      if (transpose) x[static_cast<size_t>(j) * c + i] = v;
      else x[static_cast<size_t>(i) * c + j] = v;
    }
  }
  const float inv = static_cast<float>(1.0 / (std::sqrt(norm2) + 1e-7));
  for (float& v : x) v *= inv;
  for (int s = 0; s < steps; ++s) {
    // A = X·Xᵀ; B = b·A + c·A·A; X = a·X + B·X
    Gemm(Trans::kNo, Trans::kYes, r, r, c, 1.f, x.data(), c, x.data(), c, 0.f, a.data(), r);
    Gemm(Trans::kNo, Trans::kNo, r, r, r, kNsC, a.data(), r, a.data(), r, 0.f, b.data(), r);
    for (size_t i = 0; i < a.size(); ++i) b[i] += kNsB * a[i];
    next = x;
    Gemm(Trans::kNo, Trans::kNo, r, c, r, 1.f, b.data(), r, x.data(), c, kNsA, next.data(), c);
    x.swap(next);
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      out[static_cast<size_t>(i) * cols + j] = transpose ? x[static_cast<size_t>(j) * c + i] : x[static_cast<size_t>(i) * c + j];
    }
  }
}

Optimizer::Optimizer(OptimizerConfig config, ModelWeights* weights) : config_(config), weights_(weights) {
  for (NamedTensor& p : NamedParameters(*weights_)) {
    if (p.kind == NamedTensor::Kind::kBias) continue;  // moved by the bias-update rule
    Slot s;
    s.param = p;
    s.muon = config_.kind == OptimizerKind::kMuon && UsesMuon(p);
    s.m.assign(p.tensor->data.size(), 0.f);
    if (!s.muon) s.v.assign(p.tensor->data.size(), 0.f);
    slots_.push_back(std::move(s));
  }
}

double Optimizer::ClipGradNorm(ModelWeights& grads, double max_norm) {
  double sum = 0;
  std::vector<NamedTensor> params = NamedParameters(grads);
  for (const NamedTensor& p : params) {
    for (float g : p.tensor->data) sum += static_cast<double>(g) * g;
  }
  const double norm = std::sqrt(sum);
  if (!std::isfinite(norm) || norm <= max_norm || max_norm <= 0) return norm;
  const float scale = static_cast<float>(max_norm / (norm + 1e-12));
  for (NamedTensor& p : params) {
    for (float& g : p.tensor->data) g *= scale;
  }
  return norm;
}

Status Optimizer::Step(ModelWeights& grads, float lr_scale) {
  std::vector<NamedTensor> gparams = NamedParameters(grads);
  std::map<std::string, Tensor*> by_name;
  for (NamedTensor& g : gparams) by_name[g.name] = g.tensor;
  // Every gradient is checked before any weight moves.
  std::vector<const Tensor*> grad_of(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto it = by_name.find(slots_[i].param.name);
    if (it == by_name.end() || it->second->data.size() != slots_[i].param.tensor->data.size()) {
      return InvalidArgument("gradient for " + slots_[i].param.name + " is missing or has the wrong size");
    }
    grad_of[i] = it->second;
  }
  ++step_;
  const float lr = config_.lr * lr_scale;
  const double bc1 = 1.0 - std::pow(static_cast<double>(config_.beta1), static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(config_.beta2), static_cast<double>(step_));
  auto update = [&](size_t index, std::vector<float>& direction) {
    Slot& s = slots_[index];
    const std::vector<float>& g = grad_of[index]->data;
    std::vector<float>& w = s.param.tensor->data;
    const float decay = Decays(s.param) ? lr * config_.weight_decay : 0.f;
    if (s.muon) {
      const int rows = static_cast<int>(s.param.tensor->shape[0]), cols = static_cast<int>(s.param.tensor->shape[1]);
      direction.resize(g.size());
      for (size_t i = 0; i < g.size(); ++i) {
        s.m[i] = config_.momentum * s.m[i] + g[i];
        direction[i] = config_.nesterov ? g[i] + config_.momentum * s.m[i] : s.m[i];
      }
      NewtonSchulz5(direction.data(), rows, cols, config_.ns_steps, direction.data());
      const float scale = config_.muon_rms_scale * std::sqrt(static_cast<float>(std::max(rows, cols)));
      for (size_t i = 0; i < w.size(); ++i) w[i] -= lr * scale * direction[i] + decay * w[i];
    } else {
      for (size_t i = 0; i < w.size(); ++i) {
        s.m[i] = config_.beta1 * s.m[i] + (1 - config_.beta1) * g[i];
        s.v[i] = config_.beta2 * s.v[i] + (1 - config_.beta2) * g[i] * g[i];
        const double mhat = s.m[i] / bc1, vhat = s.v[i] / bc2;
        w[i] -= static_cast<float>(lr * mhat / (std::sqrt(vhat) + config_.eps)) + decay * w[i];
      }
    }
  };
  // Slots are independent: deal them to per-thread bins by estimated cost, largest first
  // (a Newton–Schulz iteration costs about 2r²c + 2r³ + 2r²c flops with r = min side),
  // so the many small expert matrices run side by side instead of each GEMM alone. GEMMs
  // inside a bin run on its thread (nested ParallelFor runs inline); results do not depend
  // on the split.
  ThreadPool& pool = ThreadPool::Default();
  const int threads = pool.size();
  std::vector<double> cost(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    const double n = static_cast<double>(s.param.tensor->data.size());
    if (s.muon) {
      const double r = static_cast<double>(std::min(s.param.tensor->shape[0], s.param.tensor->shape[1]));
      cost[i] = config_.ns_steps * (4.0 * r * n + 2.0 * r * r * r);
    } else {
      cost[i] = 20.0 * n;
    }
  }
  std::vector<size_t> order(slots_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<std::vector<size_t>> bins(threads);
  std::vector<double> load(threads, 0.0);
  for (size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    bins[lightest].push_back(i);
    load[lightest] += cost[i];
  }
  pool.ParallelFor(threads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> direction;
    for (int64_t b = begin; b < end; ++b) {
      for (size_t i : bins[b]) update(i, direction);
    }
  });
  return Status::Ok();
}

bool Optimizer::ApplyQkClip(int layer, float max_logit) {
  if (!config_.qk_clip || layer < 0 || layer >= static_cast<int>(weights_->layers.size())) return false;
  if (!(max_logit > config_.qk_clip_tau)) return false;
  const float s = std::sqrt(config_.qk_clip_tau / max_logit);
  for (float& v : weights_->layers[layer].q_norm.data) v *= s;
  for (float& v : weights_->layers[layer].k_norm.data) v *= s;
  return true;
}

Status Optimizer::Save(const std::string& path) const {
  std::vector<SafetensorsTensor> tensors;
  for (const Slot& s : slots_) {
    const std::vector<int64_t>& shape = s.param.tensor->shape;
    tensors.push_back({s.param.name + (s.muon ? ".momentum" : ".m"), Dtype::kF32, shape, s.m.data(), nullptr});
    if (!s.muon) tensors.push_back({s.param.name + ".v", Dtype::kF32, shape, s.v.data(), nullptr});
  }
  return WriteSafetensors(path, tensors, {{"step", std::to_string(step_)}, {"kind", KindName(config_.kind)}});
}

Status Optimizer::Load(const std::string& path) {
  TIDE_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  auto kind = file.metadata().find("kind");
  if (kind == file.metadata().end() || kind->second != KindName(config_.kind)) {
    return InvalidArgument(path + ": optimizer state is not for " + KindName(config_.kind));
  }
  auto step = file.metadata().find("step");
  if (step == file.metadata().end()) return DataLoss(path + ": optimizer state has no step");
  // Read everything first, so a bad file leaves the current state untouched.
  std::vector<std::vector<float>> m(slots_.size()), v(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    const std::string mname = s.param.name + (s.muon ? ".momentum" : ".m");
    TIDE_ASSIGN_OR_RETURN(m[i], file.ReadF32(mname));
    if (m[i].size() != s.m.size()) return InvalidArgument(path + ": " + mname + " has the wrong size");
    if (!s.muon) {
      TIDE_ASSIGN_OR_RETURN(v[i], file.ReadF32(s.param.name + ".v"));
      if (v[i].size() != s.v.size()) return InvalidArgument(path + ": " + s.param.name + ".v has the wrong size");
    }
  }
  int64_t saved_step = 0;
  const std::string& text = step->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), saved_step);
  if (ec != std::errc() || end != text.data() + text.size() || saved_step < 0) {
    return DataLoss(path + ": optimizer step \"" + text + "\" is not a count");
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].m = std::move(m[i]);
    if (!slots_[i].muon) slots_[i].v = std::move(v[i]);
  }
  step_ = saved_step;
  return Status::Ok();
}

}  // namespace tide::engine
