#include "tide/engine/checkpoint.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tide/core/json_config.h"
#include "tide/engine/safetensors.h"

namespace tide::engine {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(TIDE_SOURCE_DIR) + "/tests/data/qwen3_moe_tiny";
const std::string kRemovedName = "model.layers.1.mlp.experts.3.up_proj.weight";

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "tide_checkpoint_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A folder with the fixture's f32 config.json and, as model.safetensors, the fixture's
  // tensors passed through `edit` (which may drop, reshape or add entries).
  std::string EditedFixture(const std::string& name,
                            const std::function<void(std::vector<SafetensorsTensor>&)>& edit) {
    const fs::path out = dir_ / name;
    fs::create_directories(out);
    fs::copy_file(kFixture + "/f32/config.json", out / "config.json");
    std::vector<SafetensorsTensor> tensors;
    for (const SafetensorsEntry& e : fixture_->tensors()) {
      tensors.push_back({e.name, e.dtype, e.shape, nullptr, fixture_->Raw(e.name)->data()});
    }
    edit(tensors);
    EXPECT_TRUE(WriteSafetensors((out / "model.safetensors").string(), tensors, {{"format", "pt"}}).ok());
    return out.string();
  }

  static void ExpectBitEqual(ModelWeights& a, ModelWeights& b) {
    std::vector<NamedTensor> pa = NamedParameters(a), pb = NamedParameters(b);
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      ASSERT_EQ(pa[i].name, pb[i].name);
      ASSERT_EQ(pa[i].tensor->shape, pb[i].tensor->shape) << pa[i].name;
      ASSERT_EQ(pa[i].tensor->data.size(), pb[i].tensor->data.size()) << pa[i].name;
      for (size_t j = 0; j < pa[i].tensor->data.size(); ++j) {
        ASSERT_EQ(std::bit_cast<uint32_t>(pa[i].tensor->data[j]), std::bit_cast<uint32_t>(pb[i].tensor->data[j]))
            << pa[i].name << "[" << j << "]";
      }
    }
  }

  static void SetUpTestSuite() {
    fixture_ = new SafetensorsFile(SafetensorsFile::Open(kFixture + "/f32/model.safetensors").value());
  }
  static void TearDownTestSuite() {
    delete fixture_;
    fixture_ = nullptr;
  }

  static SafetensorsFile* fixture_;
  fs::path dir_;
};

SafetensorsFile* CheckpointTest::fixture_ = nullptr;

TEST_F(CheckpointTest, LoadsTheTransformersFixtureInF32) {
  Result<ModelWeights> w = LoadModel(kFixture + "/f32");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->config.num_experts, 8);
  ASSERT_EQ(w->layers.size(), 2u);
  EXPECT_EQ(w->layers[1].experts.size(), 8u);
  std::vector<NamedTensor> params = NamedParameters(*w);
  EXPECT_EQ(params.size(), fixture_->tensors().size());
  for (const NamedTensor& p : params) {
    SCOPED_TRACE(p.name);
    const SafetensorsEntry* e = fixture_->Find(p.name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->shape, p.tensor->shape);
    EXPECT_EQ(*fixture_->ReadF32(p.name), p.tensor->data);
    bool any_nonzero = false;
    for (float v : p.tensor->data) any_nonzero = any_nonzero || v != 0.f;
    EXPECT_TRUE(any_nonzero);
  }
}

TEST_F(CheckpointTest, Bf16FixtureEqualsF32RoundedToBf16) {
  Result<ModelWeights> f32 = LoadModel(kFixture + "/f32");
  Result<ModelWeights> bf16 = LoadModel(kFixture + "/bf16");
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  ASSERT_TRUE(bf16.ok()) << bf16.status().ToString();
  EXPECT_EQ(bf16->config.torch_dtype, "bfloat16");
  std::vector<NamedTensor> a = NamedParameters(*f32), b = NamedParameters(*bf16);
  ASSERT_EQ(a.size(), b.size());
  size_t checked = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].name, b[i].name);
    for (size_t j = 0; j < a[i].tensor->data.size(); ++j) {
      ASSERT_EQ(b[i].tensor->data[j], Bf16ToF32(F32ToBf16(a[i].tensor->data[j]))) << a[i].name << "[" << j << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<size_t>(f32->config.NumParameters()));
}

TEST_F(CheckpointTest, SaveThenLoadIsBitExactInF32) {
  Result<ModelWeights> fixture = LoadModel(kFixture + "/f32");
  ASSERT_TRUE(fixture.ok());
  const std::string out = (dir_ / "resaved").string();
  ASSERT_TRUE(SaveModel(*fixture, out, Dtype::kF32).ok());
  Result<ModelWeights> back = LoadModel(out);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->config, fixture->config);
  ExpectBitEqual(*fixture, *back);
  Result<nlohmann::json> config = LoadJsonFile(out + "/config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ((*config)["model_type"], "qwen3_moe");
  Result<SafetensorsFile> file = SafetensorsFile::Open(out + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->metadata().at("format"), "pt");
}

TEST_F(CheckpointTest, ExtensionsAndTiedEmbeddingsRoundTrip) {
  ModelConfig c;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.num_experts = 6;
  c.num_experts_per_tok = 2;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.use_expert_bias = true;
  c.n_shared_experts = 1;
  c.first_k_dense_replace = 1;
  c.routed_scaling_factor = 2.5f;
  c.tie_word_embeddings = true;
  ASSERT_TRUE(ValidateModelConfig(c, "test").ok());
  ModelWeights w = ModelWeights::Allocate(c);
  w.InitRandom(5);
  for (float& v : w.layers[2].expert_bias.data) v = 0.0123f;
  const std::string f32_dir = (dir_ / "f32").string();
  ASSERT_TRUE(SaveModel(w, f32_dir, Dtype::kF32).ok());
  Result<ModelWeights> back = LoadModel(f32_dir);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->config, c);
  ExpectBitEqual(w, *back);
  Result<SafetensorsFile> file = SafetensorsFile::Open(f32_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->Find("lm_head.weight"), nullptr);
  EXPECT_NE(file->Find("model.layers.1.mlp.shared_experts.up_proj.weight"), nullptr);
  EXPECT_NE(file->Find("model.layers.0.mlp.gate_proj.weight"), nullptr);

  // bf16: matrices rounded, the expert bias kept exact in f32.
  const std::string bf16_dir = (dir_ / "bf16").string();
  ASSERT_TRUE(SaveModel(w, bf16_dir, Dtype::kBF16).ok());
  back = LoadModel(bf16_dir);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->config.torch_dtype, "bfloat16");
  EXPECT_EQ(back->layers[2].expert_bias.data, w.layers[2].expert_bias.data);
  const std::vector<float>& q = w.layers[1].q_proj.data;
  for (size_t i = 0; i < q.size(); ++i) EXPECT_EQ(back->layers[1].q_proj.data[i], Bf16ToF32(F32ToBf16(q[i])));
  file = SafetensorsFile::Open(bf16_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->Find("model.layers.2.mlp.gate.e_score_correction_bias")->dtype, Dtype::kF32);
  EXPECT_EQ(file->Find("model.embed_tokens.weight")->dtype, Dtype::kBF16);
}

TEST_F(CheckpointTest, MissingTensorIsNamed) {
  const std::string dir = EditedFixture("missing", [](std::vector<SafetensorsTensor>& t) {
    std::erase_if(t, [](const SafetensorsTensor& x) { return x.name == kRemovedName; });
  });
  Result<ModelWeights> w = LoadModel(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find("\"" + kRemovedName + "\" is missing (expected shape [32, 64])"),
            std::string::npos)
      << w.status().message();
}

TEST_F(CheckpointTest, WrongShapeIsNamedWithBothShapes) {
  const std::string dir = EditedFixture("shape", [](std::vector<SafetensorsTensor>& t) {
    for (auto& x : t) {
      if (x.name == kRemovedName) x.shape = {64, 32};
    }
  });
  Result<ModelWeights> w = LoadModel(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("tensor \"" + kRemovedName + "\": expected shape [32, 64], found [64, 32]"),
            std::string::npos)
      << w.status().message();
}

TEST_F(CheckpointTest, UnexpectedTensorsAreRejectedExceptInvFreq) {
  static const float kValues[4] = {1, 2, 3, 4};
  std::string dir = EditedFixture("harmless", [](std::vector<SafetensorsTensor>& t) {
    t.push_back({"model.rotary_emb.inv_freq", Dtype::kF32, {4}, kValues, nullptr});
  });
  EXPECT_TRUE(LoadModel(dir).ok());
  dir = EditedFixture("unexpected", [](std::vector<SafetensorsTensor>& t) {
    t.push_back({"model.layers.0.mlp.experts.8.up_proj.weight", Dtype::kF32, {4}, kValues, nullptr});
  });
  Result<ModelWeights> w = LoadModel(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("\"model.layers.0.mlp.experts.8.up_proj.weight\""), std::string::npos)
      << w.status().message();
}

TEST_F(CheckpointTest, TiedEmbeddingsAcceptAnEqualLmHeadOnly) {
  auto tie = [&](const std::string& dir) {
    Result<nlohmann::json> j = LoadJsonFile(dir + "/config.json");
    (*j)["tie_word_embeddings"] = true;
    std::ofstream(dir + "/config.json") << j->dump();
  };
  // The fixture's lm_head differs from its embeddings.
  std::string dir = EditedFixture("tied_differs", [](std::vector<SafetensorsTensor>&) {});
  tie(dir);
  Result<ModelWeights> w = LoadModel(dir);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("lm_head.weight"), std::string::npos);
  dir = EditedFixture("tied_equal", [](std::vector<SafetensorsTensor>& t) {
    const void* embed = nullptr;
    for (auto& x : t) {
      if (x.name == "model.embed_tokens.weight") embed = x.raw;
    }
    for (auto& x : t) {
      if (x.name == "lm_head.weight") x.raw = embed;
    }
  });
  tie(dir);
  w = LoadModel(dir);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE(w->lm_head.data.empty());
}

TEST_F(CheckpointTest, LoadsShardedCheckpoints) {
  const fs::path out = dir_ / "sharded";
  fs::create_directories(out);
  fs::copy_file(kFixture + "/f32/config.json", out / "config.json");
  std::vector<SafetensorsTensor> shard[2];
  nlohmann::json weight_map = nlohmann::json::object();
  for (const SafetensorsEntry& e : fixture_->tensors()) {
    const int s = e.name.find("layers.1.") != std::string::npos ? 1 : 0;
    shard[s].push_back({e.name, e.dtype, e.shape, nullptr, fixture_->Raw(e.name)->data()});
    weight_map[e.name] = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  for (int s = 0; s < 2; ++s) {
    const std::string name = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
    ASSERT_TRUE(WriteSafetensors((out / name).string(), shard[s], {{"format", "pt"}}).ok());
  }
  auto write_index = [&](const nlohmann::json& map) {
    std::ofstream(out / "model.safetensors.index.json") << nlohmann::json{{"metadata", {}}, {"weight_map", map}}.dump();
  };
  write_index(weight_map);
  Result<ModelWeights> sharded = LoadModel(out.string());
  ASSERT_TRUE(sharded.ok()) << sharded.status().ToString();
  Result<ModelWeights> single = LoadModel(kFixture + "/f32");
  ASSERT_TRUE(single.ok());
  ExpectBitEqual(*sharded, *single);

  nlohmann::json wrong = weight_map;
  wrong["model.norm.weight"] = "model-00002-of-00002.safetensors";  // it lives in shard 1
  write_index(wrong);
  Result<ModelWeights> w = LoadModel(out.string());
  EXPECT_EQ(w.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(w.status().message().find("\"model.norm.weight\""), std::string::npos);

  wrong = weight_map;
  wrong["model.norm.weight"] = "../elsewhere.safetensors";
  write_index(wrong);
  EXPECT_EQ(LoadModel(out.string()).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, MissingFilesAndBadWeights) {
  EXPECT_EQ(LoadModel((dir_ / "nothing").string()).status().code(), StatusCode::kNotFound);
  const fs::path only_config = dir_ / "only_config";
  fs::create_directories(only_config);
  fs::copy_file(kFixture + "/f32/config.json", only_config / "config.json");
  Result<ModelWeights> w = LoadModel(only_config.string());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find("model.safetensors"), std::string::npos);

  Result<ModelWeights> fixture = LoadModel(kFixture + "/f32");
  ASSERT_TRUE(fixture.ok());
  ModelWeights bad = *fixture;
  bad.layers[0].o_proj.Resize({16, 64});
  Status st = SaveModel(bad, (dir_ / "bad").string(), Dtype::kF32);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("\"model.layers.0.self_attn.o_proj.weight\": expected shape [64, 64], found [16, 64]"),
            std::string::npos)
      << st.message();
  EXPECT_FALSE(fs::exists(dir_ / "bad" / "model.safetensors"));
  bad = *fixture;
  bad.layers[1].experts.pop_back();
  EXPECT_EQ(SaveModel(bad, (dir_ / "bad").string(), Dtype::kF32).code(), StatusCode::kInvalidArgument);
  bad = *fixture;
  bad.config.num_key_value_heads = 3;
  EXPECT_EQ(SaveModel(bad, (dir_ / "bad").string(), Dtype::kF32).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tide::engine
