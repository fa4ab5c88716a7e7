#include "tide/engine/model_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "tide/core/json_config.h"

namespace tide::engine {

namespace {

constexpr int kIntMin = std::numeric_limits<int>::min();
constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr int kMaxLayers = 1 << 16;

// Parameter count of `c`, in T (int64_t for callers, long double to check for overflow).
template <typename T>
T CountParameters(const ModelConfig& c, bool active_only) {
  const T hidden = c.hidden_size;
  const T attention = hidden * c.q_dim() * 2 + hidden * c.kv_dim() * 2 + T(2) * c.head_dim + T(2) * hidden;
  const T swiglu_per_width = T(3) * hidden;
  // Embeddings (a token reads one row, unless the matrix is also the LM head), final norm.
  T total = (active_only && !c.tie_word_embeddings ? hidden : T(c.vocab_size) * hidden) + hidden;
  if (!c.tie_word_embeddings) total += T(c.vocab_size) * hidden;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    total += attention;
    if (!c.IsMoeLayer(i)) {
      total += swiglu_per_width * c.intermediate_size;
      continue;
    }
    const int routed = active_only ? c.num_experts_per_tok : c.num_experts;
    total += T(c.num_experts) * hidden;  // router
    if (c.use_expert_bias) total += c.num_experts;
    total += T(routed) * swiglu_per_width * c.moe_intermediate_size;
    total += T(c.n_shared_experts) * swiglu_per_width * c.moe_intermediate_size;
  }
  return total;
}

// A float as the shortest decimal that reads back as the same float, held in a double so
// that the JSON says 1e-06 rather than 9.999999974752427e-07.
double ShortestDouble(float f) {
  if (!std::isfinite(f)) return f;
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

// Shortest round-trip text of a number, for error messages.
template <typename T>
std::string Str(T v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Reads a field that is an integer or a list of integers (HF allows a list for
// eos_token_id); a list gives its first element.
Status ReadTokenId(const nlohmann::json& obj, ConfigReader& r, const std::string& field, int* out) {
  if (!obj.contains(field)) return Status::Ok();
  const nlohmann::json& v = obj.at(field);
  if (!v.is_array()) return r.Int(field, out, false, kIntMin, kIntMax);
  if (v.empty()) return r.Error(field, "must be an integer or a non-empty list of integers, got []");
  for (const auto& e : v) {
    if (!e.is_number_integer()) return r.Error(field, "must be an integer or a list of integers, got " + v.dump());
  }
  *out = v[0].get<int>();
  return Status::Ok();
}

Status ReadLayerList(const nlohmann::json& obj, ConfigReader& r, const std::string& field,
                     std::vector<int>* out) {
  if (!obj.contains(field)) return Status::Ok();
  const nlohmann::json& v = obj.at(field);
  if (!v.is_array()) return r.Error(field, "must be a list of layer indices, got " + v.dump());
  out->clear();
  for (const auto& e : v) {
    if (!e.is_number_integer()) return r.Error(field, "must be a list of layer indices, got " + v.dump());
    out->push_back(e.get<int>());
  }
  return Status::Ok();
}

// RoPE: `rope_theta` at the top level (transformers 4) or in `rope_parameters`
// (transformers 5); only the default (unscaled) rope type is implemented.
Status ReadRope(const nlohmann::json& obj, ConfigReader& r, ModelConfig* c) {
  double theta = c->rope_theta;
  const bool top = r.Has("rope_theta");
  TIDE_RETURN_IF_ERROR(r.Double("rope_theta", &theta, false, -HUGE_VAL, HUGE_VAL));
  for (const char* field : {"rope_parameters", "rope_scaling"}) {
    if (!obj.contains(field)) continue;
    TIDE_ASSIGN_OR_RETURN(ConfigReader sub, r.Object(field));
    std::string type = "default";
    const char* type_field = sub.Has("rope_type") ? "rope_type" : "type";
    TIDE_RETURN_IF_ERROR(sub.String(type_field, &type, false));
    if (type != "default") {
      return sub.Error(type_field, "RoPE scaling \"" + type + "\" is not supported (only \"default\")");
    }
    if (sub.Has("rope_theta")) {
      double inner = 0;
      TIDE_RETURN_IF_ERROR(sub.Double("rope_theta", &inner, true, -HUGE_VAL, HUGE_VAL));
      if (top && inner != theta) {
        return sub.Error("rope_theta", "must equal rope_theta (" + Str(theta) + "), got " + Str(inner));
      }
      theta = inner;
    }
  }
  c->rope_theta = static_cast<float>(theta);
  return Status::Ok();
}

Status ReadExperts(ConfigReader& r, ModelConfig* c) {
  const bool has_new = r.Has("num_local_experts");
  int legacy = 0, local = 0;
  TIDE_RETURN_IF_ERROR(r.Int("num_experts", &legacy, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("num_local_experts", &local, false, kIntMin, kIntMax));
  if (has_new && r.Has("num_experts") && local != legacy) {
    return r.Error("num_local_experts", "must equal num_experts (" + std::to_string(legacy) + "), got " +
                                            std::to_string(local));
  }
  c->num_experts = has_new ? local : legacy;
  TIDE_RETURN_IF_ERROR(r.Int("num_experts_per_tok", &c->num_experts_per_tok, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Bool("norm_topk_prob", &c->norm_topk_prob, false));
  TIDE_RETURN_IF_ERROR(r.Int("decoder_sparse_step", &c->decoder_sparse_step, false, kIntMin, kIntMax));
  double coef = c->router_aux_loss_coef;
  TIDE_RETURN_IF_ERROR(r.Double("router_aux_loss_coef", &coef, false, -HUGE_VAL, HUGE_VAL));
  c->router_aux_loss_coef = static_cast<float>(coef);

  // DeepSeek-V3 / Kimi K2 extensions.
  std::string scoring = "softmax";
  TIDE_RETURN_IF_ERROR(r.String("scoring_func", &scoring, false, {"softmax", "sigmoid"}));
  c->scoring_func = scoring == "sigmoid" ? ScoringFunc::kSigmoid : ScoringFunc::kSoftmax;
  std::string topk_method = "greedy";
  TIDE_RETURN_IF_ERROR(r.String("topk_method", &topk_method, false, {"greedy", "noaux_tc"}));
  c->use_expert_bias = topk_method == "noaux_tc";
  if (r.Has("use_expert_bias")) {
    bool bias = false;
    TIDE_RETURN_IF_ERROR(r.Bool("use_expert_bias", &bias, true));
    if (r.Has("topk_method") && bias != c->use_expert_bias) {
      return r.Error("use_expert_bias", std::string("must agree with topk_method \"") + topk_method + "\", got " +
                                            (bias ? "true" : "false"));
    }
    c->use_expert_bias = bias;
  }
  int n_group = 1;
  TIDE_RETURN_IF_ERROR(r.Int("n_group", &n_group, false, kIntMin, kIntMax));
  if (n_group > 1) {
    return r.Error("n_group", "group-limited routing is not supported: must be 1, got " + std::to_string(n_group));
  }
  TIDE_RETURN_IF_ERROR(r.Int("n_shared_experts", &c->n_shared_experts, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("first_k_dense_replace", &c->first_k_dense_replace, false, kIntMin, kIntMax));
  double scale = c->routed_scaling_factor;
  TIDE_RETURN_IF_ERROR(r.Double("routed_scaling_factor", &scale, false, -HUGE_VAL, HUGE_VAL));
  c->routed_scaling_factor = static_cast<float>(scale);
  return Status::Ok();
}

// Fields whose other values would change the architecture into one Tide does not run.
Status CheckUnsupported(ConfigReader& r) {
  std::string s;
  TIDE_RETURN_IF_ERROR(r.String("model_type", &s, false, {"qwen3_moe", "qwen3"}));
  TIDE_RETURN_IF_ERROR(r.String("hidden_act", &s, false, {"silu"}));
  for (const char* field : {"attention_bias", "use_sliding_window"}) {
    bool on = false;
    TIDE_RETURN_IF_ERROR(r.Bool(field, &on, false));
    if (on) return r.Error(field, "is not supported: must be false, got true");
  }
  return Status::Ok();
}

}  // namespace

bool ModelConfig::IsMoeLayer(int layer) const {
  if (num_experts <= 0 || decoder_sparse_step <= 0 || layer < first_k_dense_replace) return false;
  for (int dense : mlp_only_layers) {
    if (dense == layer) return false;
  }
  return (layer + 1) % decoder_sparse_step == 0;
}

int64_t ModelConfig::NumParameters() const { return CountParameters<int64_t>(*this, false); }
int64_t ModelConfig::NumActiveParameters() const { return CountParameters<int64_t>(*this, true); }

Result<ModelConfig> ModelConfigFromJson(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) {
    return InvalidArgument(source + ": a model config must be a JSON object, got " + std::string(j.type_name()));
  }
  // HF writes absent values as null ("bos_token_id": null); treat them as absent.
  nlohmann::json obj = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_null()) obj[it.key()] = *it;
  }
  ConfigReader r(obj, source);
  ModelConfig c;
  TIDE_RETURN_IF_ERROR(CheckUnsupported(r));
  TIDE_RETURN_IF_ERROR(r.Int("vocab_size", &c.vocab_size, true, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("hidden_size", &c.hidden_size, true, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("intermediate_size", &c.intermediate_size, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("moe_intermediate_size", &c.moe_intermediate_size, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("num_hidden_layers", &c.num_hidden_layers, true, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("num_attention_heads", &c.num_attention_heads, true, kIntMin, kIntMax));
  c.num_key_value_heads = c.num_attention_heads;
  TIDE_RETURN_IF_ERROR(r.Int("num_key_value_heads", &c.num_key_value_heads, false, kIntMin, kIntMax));
  TIDE_RETURN_IF_ERROR(r.Int("head_dim", &c.head_dim, false, kIntMin, kIntMax));
  if (c.head_dim == 0 && c.num_attention_heads > 0) {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return r.Error("head_dim", "is required when hidden_size (" + std::to_string(c.hidden_size) +
                                     ") is not a multiple of num_attention_heads (" +
                                     std::to_string(c.num_attention_heads) + ")");
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  TIDE_RETURN_IF_ERROR(r.Int("max_position_embeddings", &c.max_position_embeddings, false, kIntMin, kIntMax));
  double eps = c.rms_norm_eps;
  TIDE_RETURN_IF_ERROR(r.Double("rms_norm_eps", &eps, false, -HUGE_VAL, HUGE_VAL));
  c.rms_norm_eps = static_cast<float>(eps);
  TIDE_RETURN_IF_ERROR(ReadRope(obj, r, &c));
  TIDE_RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c.tie_word_embeddings, false));
  TIDE_RETURN_IF_ERROR(ReadExperts(r, &c));
  TIDE_RETURN_IF_ERROR(ReadLayerList(obj, r, "mlp_only_layers", &c.mlp_only_layers));
  TIDE_RETURN_IF_ERROR(ReadTokenId(obj, r, "bos_token_id", &c.bos_token_id));
  TIDE_RETURN_IF_ERROR(ReadTokenId(obj, r, "eos_token_id", &c.eos_token_id));
  // transformers 5 writes `dtype`, earlier versions `torch_dtype`; the newer one wins.
  TIDE_RETURN_IF_ERROR(r.String("torch_dtype", &c.torch_dtype, false));
  TIDE_RETURN_IF_ERROR(r.String("dtype", &c.torch_dtype, false));
  TIDE_RETURN_IF_ERROR(ValidateModelConfig(c, source));
  return c;
}

Result<ModelConfig> LoadModelConfig(const std::string& path) {
  TIDE_ASSIGN_OR_RETURN(nlohmann::json j, LoadJsonFile(path));
  return ModelConfigFromJson(j, path);
}

nlohmann::json ModelConfigToJson(const ModelConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  j["architectures"] = nlohmann::json::array({"Qwen3MoeForCausalLM"});
  j["model_type"] = "qwen3_moe";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["use_sliding_window"] = false;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = ShortestDouble(c.rms_norm_eps);
  j["rope_theta"] = ShortestDouble(c.rope_theta);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["num_experts"] = c.num_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["decoder_sparse_step"] = c.decoder_sparse_step;
  j["mlp_only_layers"] = c.mlp_only_layers;
  j["router_aux_loss_coef"] = ShortestDouble(c.router_aux_loss_coef);
  j["bos_token_id"] = c.bos_token_id >= 0 ? nlohmann::json(c.bos_token_id) : nlohmann::json();
  j["eos_token_id"] = c.eos_token_id >= 0 ? nlohmann::json(c.eos_token_id) : nlohmann::json();
  j["torch_dtype"] = c.torch_dtype;
  j["dtype"] = c.torch_dtype;
  const ModelConfig defaults;
  if (c.scoring_func != defaults.scoring_func) j["scoring_func"] = "sigmoid";
  if (c.use_expert_bias != defaults.use_expert_bias) j["topk_method"] = "noaux_tc";
  if (c.n_shared_experts != defaults.n_shared_experts) j["n_shared_experts"] = c.n_shared_experts;
  if (c.first_k_dense_replace != defaults.first_k_dense_replace) {
    j["first_k_dense_replace"] = c.first_k_dense_replace;
  }
  if (c.routed_scaling_factor != defaults.routed_scaling_factor) {
    j["routed_scaling_factor"] = ShortestDouble(c.routed_scaling_factor);
  }
  return j;
}

Status ValidateModelConfig(const ModelConfig& c, const std::string& source) {
  auto error = [&](const std::string& field, const std::string& what) {
    return InvalidArgument(source + ": field \"" + field + "\": " + what);
  };
  auto got = [](auto v) { return ", got " + Str(v); };
  const std::pair<const char*, int> positive[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
      {"decoder_sparse_step", c.decoder_sparse_step},
  };
  for (const auto& [field, value] : positive) {
    if (value <= 0) return error(field, "must be positive" + got(value));
  }
  if (c.num_hidden_layers > kMaxLayers) {
    return error("num_hidden_layers", "must be at most " + Str(kMaxLayers) + got(c.num_hidden_layers));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return error("num_key_value_heads",
                 "must divide num_attention_heads (" + std::to_string(c.num_attention_heads) + ")" + got(c.num_key_value_heads));
  }
  if (c.head_dim % 2 != 0) return error("head_dim", "must be even (RoPE rotates pairs)" + got(c.head_dim));
  if (int64_t{c.num_attention_heads} * c.head_dim > kIntMax) {
    return error("head_dim", "num_attention_heads * head_dim must fit in an int" + got(c.head_dim));
  }
  if (!(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0)) {
    return error("rms_norm_eps", "must be a positive number" + got(c.rms_norm_eps));
  }
  if (!(std::isfinite(c.rope_theta) && c.rope_theta > 0)) {
    return error("rope_theta", "must be a positive number" + got(c.rope_theta));
  }
  if (!(std::isfinite(c.router_aux_loss_coef) && c.router_aux_loss_coef >= 0)) {
    return error("router_aux_loss_coef", "must be a non-negative number" + got(c.router_aux_loss_coef));
  }
  if (c.num_experts < 0) return error("num_experts", "must be >= 0" + got(c.num_experts));
  if (c.num_experts > 0) {
    if (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.num_experts) {
      return error("num_experts_per_tok",
                   "must be in [1, num_experts (" + std::to_string(c.num_experts) + ")]" + got(c.num_experts_per_tok));
    }
    if (c.moe_intermediate_size <= 0) {
      return error("moe_intermediate_size", "must be positive when num_experts > 0" + got(c.moe_intermediate_size));
    }
  }
  if (c.n_shared_experts < 0) return error("n_shared_experts", "must be >= 0" + got(c.n_shared_experts));
  if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers) {
    return error("first_k_dense_replace", "must be in [0, num_hidden_layers (" +
                                              std::to_string(c.num_hidden_layers) + ")]" + got(c.first_k_dense_replace));
  }
  if (!(std::isfinite(c.routed_scaling_factor) && c.routed_scaling_factor > 0)) {
    return error("routed_scaling_factor", "must be a positive number" + got(c.routed_scaling_factor));
  }
  std::set<int> seen;
  for (int layer : c.mlp_only_layers) {
    if (layer < 0 || layer >= c.num_hidden_layers) {
      return error("mlp_only_layers", "layer indices must be in [0, num_hidden_layers (" +
                                          std::to_string(c.num_hidden_layers) + "))" + got(layer));
    }
    if (!seen.insert(layer).second) return error("mlp_only_layers", "lists layer " + std::to_string(layer) + " twice");
  }
  bool any_dense = false;
  for (int i = 0; i < c.num_hidden_layers; ++i) any_dense = any_dense || !c.IsMoeLayer(i);
  if (any_dense && c.intermediate_size <= 0) {
    return error("intermediate_size", "must be positive (the model has dense layers)" + got(c.intermediate_size));
  }
  for (const auto& [field, id] : {std::pair<const char*, int>{"bos_token_id", c.bos_token_id},
                                  std::pair<const char*, int>{"eos_token_id", c.eos_token_id}}) {
    if (id < -1 || id >= c.vocab_size) {
      return error(field, "must be a token id in [0, vocab_size (" + std::to_string(c.vocab_size) + ")) or absent" + got(id));
    }
  }
  if (c.torch_dtype != "float32" && c.torch_dtype != "bfloat16" && c.torch_dtype != "float16") {
    return error("torch_dtype", "must be one of \"float32\", \"bfloat16\", \"float16\", got \"" + c.torch_dtype + "\"");
  }
  if (CountParameters<long double>(c, false) > 1e15L) {
    return error("num_hidden_layers", "the model would have more than 10^15 parameters");
  }
  return Status::Ok();
}

}  // namespace tide::engine
