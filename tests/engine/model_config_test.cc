#include "tide/engine/model_config.h"

#include <gtest/gtest.h>

#include <string>

#include "tide/core/json_config.h"
#include "tide/engine/model_weights.h"

namespace tide::engine {
namespace {

const std::string kFixture = std::string(TIDE_SOURCE_DIR) + "/tests/data/qwen3_moe_tiny";
const std::string kModels = std::string(TIDE_SOURCE_DIR) + "/configs/models";

// A valid config in the transformers-4 spelling.
nlohmann::json BaseJson() {
  return nlohmann::json::parse(R"({
    "model_type": "qwen3_moe", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
    "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "num_experts": 8, "num_experts_per_tok": 2, "torch_dtype": "float32"})");
}

int64_t CountAllocated(const ModelConfig& c) {
  ModelWeights w = ModelWeights::Allocate(c);
  int64_t n = 0;
  for (const NamedTensor& p : NamedParameters(w)) n += p.tensor->numel();
  return n;
}

TEST(ModelConfigTest, ParsesTransformers5FixtureSpellings) {
  for (const char* dtype : {"f32", "bf16"}) {
    SCOPED_TRACE(dtype);
    Result<ModelConfig> c = LoadModelConfig(kFixture + "/" + dtype + "/config.json");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->vocab_size, 320);
    EXPECT_EQ(c->hidden_size, 64);
    EXPECT_EQ(c->intermediate_size, 128);
    EXPECT_EQ(c->moe_intermediate_size, 32);
    EXPECT_EQ(c->num_hidden_layers, 2);
    EXPECT_EQ(c->num_attention_heads, 4);
    EXPECT_EQ(c->num_key_value_heads, 2);
    EXPECT_EQ(c->head_dim, 16);
    EXPECT_EQ(c->max_position_embeddings, 256);
    EXPECT_EQ(c->num_experts, 8);  // from num_local_experts
    EXPECT_EQ(c->num_experts_per_tok, 2);
    EXPECT_FLOAT_EQ(c->rope_theta, 10000.f);  // from rope_parameters.rope_theta
    EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
    EXPECT_TRUE(c->norm_topk_prob);
    EXPECT_FALSE(c->tie_word_embeddings);
    EXPECT_EQ(c->bos_token_id, -1);  // null
    EXPECT_EQ(c->eos_token_id, -1);
    EXPECT_EQ(c->torch_dtype, std::string(dtype) == "f32" ? "float32" : "bfloat16");  // from dtype
    EXPECT_EQ(c->scoring_func, ScoringFunc::kSoftmax);
    EXPECT_FALSE(c->use_expert_bias);
    EXPECT_TRUE(c->IsMoeLayer(0));
    EXPECT_TRUE(c->IsMoeLayer(1));
  }
}

TEST(ModelConfigTest, BothSpellingsGiveTheSameConfig) {
  Result<ModelConfig> old_style = ModelConfigFromJson(BaseJson(), "a.json");
  ASSERT_TRUE(old_style.ok()) << old_style.status().ToString();
  nlohmann::json j = BaseJson();
  j.erase("num_experts");
  j.erase("rope_theta");
  j.erase("torch_dtype");
  j["num_local_experts"] = 8;
  j["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}};
  j["dtype"] = "float32";
  Result<ModelConfig> new_style = ModelConfigFromJson(j, "b.json");
  ASSERT_TRUE(new_style.ok()) << new_style.status().ToString();
  EXPECT_EQ(*old_style, *new_style);
  // Both spellings at once are fine when they agree.
  j["num_experts"] = 8;
  j["rope_theta"] = 10000.0;
  EXPECT_TRUE(ModelConfigFromJson(j, "c.json").ok());
}

TEST(ModelConfigTest, DefaultsAndOptionalForms) {
  nlohmann::json j = BaseJson();
  j.erase("head_dim");
  j.erase("num_key_value_heads");
  j["eos_token_id"] = {7, 9};
  j["bos_token_id"] = nullptr;
  j["sliding_window"] = nullptr;
  j["some_future_field"] = {{"x", 1}};
  Result<ModelConfig> c = ModelConfigFromJson(j, "d.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim, 16);             // hidden / heads
  EXPECT_EQ(c->num_key_value_heads, 4);   // = heads
  EXPECT_EQ(c->eos_token_id, 7);          // first of the list
  EXPECT_EQ(c->bos_token_id, -1);
  j["use_expert_bias"] = true;
  j["scoring_func"] = "sigmoid";
  c = ModelConfigFromJson(j, "d.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->use_expert_bias);
  EXPECT_EQ(c->scoring_func, ScoringFunc::kSigmoid);
}

TEST(ModelConfigTest, RepoConfigsLoad) {
  Result<ModelConfig> tiny = LoadModelConfig(kModels + "/tiny.json");
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  EXPECT_EQ(tiny->num_experts, 8);
  EXPECT_EQ(tiny->NumParameters(), CountAllocated(*tiny));

  Result<ModelConfig> s = LoadModelConfig(kModels + "/swarm-s.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GE(s->num_experts, 16);
  EXPECT_EQ(s->num_experts_per_tok, 2);
  EXPECT_EQ(s->scoring_func, ScoringFunc::kSigmoid);
  EXPECT_TRUE(s->use_expert_bias);
  EXPECT_EQ(s->n_shared_experts, 1);
  EXPECT_FALSE(s->IsMoeLayer(0));
  EXPECT_TRUE(s->IsMoeLayer(1));
  EXPECT_GE(s->NumParameters(), 10'000'000);
  EXPECT_LE(s->NumParameters(), 30'000'000);
  EXPECT_LT(s->NumActiveParameters(), s->NumParameters());
  EXPECT_EQ(s->NumParameters(), 14'656'480);
  EXPECT_EQ(s->NumActiveParameters(), 2'811'040);
}

TEST(ModelConfigTest, IsMoeLayerFollowsQwen3AndDeepSeekRules) {
  ModelConfig c = *ModelConfigFromJson(BaseJson(), "x");
  c.num_hidden_layers = 8;
  c.decoder_sparse_step = 2;
  c.mlp_only_layers = {5};
  c.first_k_dense_replace = 2;
  // MoE iff (i+1) % 2 == 0, i != 5, i >= 2.
  const bool want[8] = {false, false, false, true, false, false, false, true};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(c.IsMoeLayer(i), want[i]) << i;
  c.num_experts = 0;
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(c.IsMoeLayer(i)) << i;
}

TEST(ModelConfigTest, ParameterCountsMatchAllocatedWeights) {
  ModelConfig c = *ModelConfigFromJson(BaseJson(), "x");
  c.num_hidden_layers = 4;
  c.n_shared_experts = 2;
  c.use_expert_bias = true;
  c.first_k_dense_replace = 1;
  c.mlp_only_layers = {2};
  c.tie_word_embeddings = true;
  ASSERT_TRUE(ValidateModelConfig(c, "x").ok());
  EXPECT_EQ(c.NumParameters(), CountAllocated(c));
  // Active: the same minus the unchosen routed experts of the 2 MoE layers.
  const int64_t per_expert = 3LL * c.hidden_size * c.moe_intermediate_size;
  EXPECT_EQ(c.NumActiveParameters(),
            c.NumParameters() - 2 * (c.num_experts - c.num_experts_per_tok) * per_expert);
}

struct BadField {
  const char* field;     // the field the error must name
  nlohmann::json patch;  // merged into BaseJson() (a null removes the field)
};

TEST(ModelConfigTest, RejectsEachInvalidFieldByName) {
  const BadField cases[] = {
      {"vocab_size", {{"vocab_size", 0}}},
      {"vocab_size", {{"vocab_size", "big"}}},
      {"hidden_size", {{"hidden_size", -64}}},
      {"num_hidden_layers", {{"num_hidden_layers", 0}}},
      {"num_attention_heads", {{"num_attention_heads", 0}}},
      {"num_key_value_heads", {{"num_key_value_heads", 3}}},
      {"head_dim", {{"head_dim", 15}}},
      {"max_position_embeddings", {{"max_position_embeddings", 0}}},
      {"rms_norm_eps", {{"rms_norm_eps", 0.0}}},
      {"rope_theta", {{"rope_theta", -1.0}}},
      {"num_experts", {{"num_experts", -2}}},
      {"num_experts_per_tok", {{"num_experts_per_tok", 9}}},
      {"num_experts_per_tok", {{"num_experts_per_tok", 0}}},
      {"moe_intermediate_size", {{"moe_intermediate_size", 0}}},
      {"intermediate_size", {{"intermediate_size", 0}, {"mlp_only_layers", nlohmann::json::array({0})}}},
      {"decoder_sparse_step", {{"decoder_sparse_step", 0}}},
      {"mlp_only_layers", {{"mlp_only_layers", nlohmann::json::array({2})}}},
      {"mlp_only_layers", {{"mlp_only_layers", nlohmann::json::array({1, 1})}}},
      {"mlp_only_layers", {{"mlp_only_layers", "0"}}},
      {"first_k_dense_replace", {{"first_k_dense_replace", 3}}},
      {"n_shared_experts", {{"n_shared_experts", -1}}},
      {"routed_scaling_factor", {{"routed_scaling_factor", 0.0}}},
      {"router_aux_loss_coef", {{"router_aux_loss_coef", -0.1}}},
      {"scoring_func", {{"scoring_func", "tanh"}}},
      {"topk_method", {{"topk_method", "group_limited_greedy"}}},
      {"use_expert_bias", {{"topk_method", "noaux_tc"}, {"use_expert_bias", false}}},
      {"n_group", {{"n_group", 8}}},
      {"hidden_act", {{"hidden_act", "gelu"}}},
      {"attention_bias", {{"attention_bias", true}}},
      {"use_sliding_window", {{"use_sliding_window", true}}},
      {"model_type", {{"model_type", "llama"}}},
      {"rope_parameters.rope_type", {{"rope_parameters", {{"rope_type", "yarn"}, {"factor", 4.0}}}}},
      {"rope_parameters.rope_theta", {{"rope_parameters", {{"rope_theta", 5000.0}}}}},
      {"num_local_experts", {{"num_local_experts", 4}}},
      {"torch_dtype", {{"torch_dtype", "int8"}}},
      {"torch_dtype", {{"dtype", "float64"}}},
      {"eos_token_id", {{"eos_token_id", 512}}},
      {"bos_token_id", {{"bos_token_id", -5}}},
      {"head_dim", {{"head_dim", nullptr}, {"hidden_size", 66}}},
      {"tie_word_embeddings", {{"tie_word_embeddings", "yes"}}},
  };
  for (const BadField& bad : cases) {
    nlohmann::json j = BaseJson();
    j.merge_patch(bad.patch);
    SCOPED_TRACE(bad.patch.dump());
    Result<ModelConfig> c = ModelConfigFromJson(j, "models/m.json");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("models/m.json: field \"" + std::string(bad.field) + "\""), std::string::npos)
        << c.status().message();
  }
  nlohmann::json missing = BaseJson();
  missing.erase("vocab_size");
  Result<ModelConfig> c = ModelConfigFromJson(missing, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("field \"vocab_size\": is required"), std::string::npos);
  EXPECT_FALSE(ModelConfigFromJson(nlohmann::json::array(), "m.json").ok());
}

TEST(ModelConfigTest, ErrorMessageFormat) {
  nlohmann::json j = BaseJson();
  j["num_key_value_heads"] = 3;
  Result<ModelConfig> c = ModelConfigFromJson(j, "configs/models/x.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "configs/models/x.json: field \"num_key_value_heads\": must divide num_attention_heads (4), got 3");
}

TEST(ModelConfigTest, MissingOrBrokenFile) {
  Result<ModelConfig> c = LoadModelConfig(kFixture + "/no_such_config.json");
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

TEST(ModelConfigTest, ToJsonRoundTrips) {
  ModelConfig c = *ModelConfigFromJson(BaseJson(), "x");
  nlohmann::json plain = ModelConfigToJson(c);
  EXPECT_EQ(plain["model_type"], "qwen3_moe");
  EXPECT_EQ(plain["architectures"], nlohmann::json::array({"Qwen3MoeForCausalLM"}));
  EXPECT_EQ(plain["torch_dtype"], "float32");
  EXPECT_EQ(plain["dtype"], "float32");
  EXPECT_EQ(plain["rope_theta"], 10000.0);
  EXPECT_EQ(plain["rms_norm_eps"].dump(), "1e-06");
  EXPECT_EQ(plain["num_experts"], 8);
  EXPECT_TRUE(plain["bos_token_id"].is_null());
  for (const char* ext : {"scoring_func", "topk_method", "n_shared_experts", "first_k_dense_replace",
                          "routed_scaling_factor"}) {
    EXPECT_FALSE(plain.contains(ext)) << ext;
  }
  Result<ModelConfig> back = ModelConfigFromJson(plain, "plain");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);

  c.num_hidden_layers = 6;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.use_expert_bias = true;
  c.n_shared_experts = 1;
  c.first_k_dense_replace = 1;
  c.routed_scaling_factor = 2.5f;
  c.decoder_sparse_step = 1;
  c.mlp_only_layers = {4};
  c.norm_topk_prob = false;
  c.tie_word_embeddings = true;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.rope_theta = 1e6f;
  c.rms_norm_eps = 1e-5f;
  c.router_aux_loss_coef = 0.01f;
  c.torch_dtype = "bfloat16";
  nlohmann::json ext = ModelConfigToJson(c);
  EXPECT_EQ(ext["scoring_func"], "sigmoid");
  EXPECT_EQ(ext["topk_method"], "noaux_tc");
  EXPECT_EQ(ext["routed_scaling_factor"], 2.5);
  back = ModelConfigFromJson(nlohmann::json::parse(ext.dump()), "ext");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);

  // The fixture's transformers-5 config survives a trip through Tide's spelling.
  Result<ModelConfig> fixture = LoadModelConfig(kFixture + "/f32/config.json");
  ASSERT_TRUE(fixture.ok());
  back = ModelConfigFromJson(ModelConfigToJson(*fixture), "fixture");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *fixture);
}

}  // namespace
}  // namespace tide::engine
