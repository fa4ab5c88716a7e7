#include "tide/rl/gen_policy.h"

#include <filesystem>

#include "tide/engine/checkpoint.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/tokenizer_json.h"
#include "tide/env/oracle.h"
#include "tide/workers/engine_policy.h"
#include "tide/workers/openai_policy.h"

namespace tide::rl {

struct GenPolicy::EngineParts {
  std::unique_ptr<engine::ModelWeights> weights;
  std::unique_ptr<engine::Tokenizer> tokenizer;
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<engine::InferenceEngine> engine;
};

GenPolicy::~GenPolicy() {
  policy_.reset();  // before the engine it decodes on
  engine_.reset();
}

Result<std::unique_ptr<GenPolicy>> GenPolicy::Create(const GenPolicyOptions& o) {
  std::unique_ptr<GenPolicy> g(new GenPolicy());
  g->name_ = o.policy;
  if (o.policy == "oracle") {
    g->policy_ = std::make_shared<env::OraclePolicy>();
    return g;
  }
  if (o.temperature < 0) return InvalidArgument("--temperature must be >= 0, got " + std::to_string(o.temperature));
  if (o.max_tokens < 1) return InvalidArgument("--max-tokens must be >= 1, got " + std::to_string(o.max_tokens));
  if (o.policy == "engine") {
    if (o.model_dir.empty()) return InvalidArgument("--policy engine needs --model-dir DIR (a model folder to load)");
    auto parts = std::make_unique<EngineParts>();
    TIDE_ASSIGN_OR_RETURN(engine::ModelWeights w, engine::LoadModel(o.model_dir));
    parts->weights = std::make_unique<engine::ModelWeights>(std::move(w));
    TIDE_ASSIGN_OR_RETURN(engine::Tokenizer t,
                          engine::LoadTokenizerJson((std::filesystem::path(o.model_dir) / "tokenizer.json").string()));
    parts->tokenizer = std::make_unique<engine::Tokenizer>(std::move(t));
    TIDE_ASSIGN_OR_RETURN(engine::Model m, engine::Model::Create(parts->weights.get()));
    parts->model = std::make_unique<engine::Model>(std::move(m));
    engine::InferenceEngine::Options eo;
    eo.max_running = o.max_running;
    TIDE_ASSIGN_OR_RETURN(parts->engine, engine::InferenceEngine::Create(parts->model.get(), parts->tokenizer.get(), eo));
    workers::EnginePolicy::Options po;
    po.temperature = o.temperature;
    po.max_tokens = o.max_tokens;
    g->policy_ = std::make_shared<workers::EnginePolicy>(parts->engine.get(), po);
    g->engine_ = std::move(parts);
    return g;
  }
  if (o.policy == "openai") {
    if (o.base_url.empty()) return InvalidArgument("--policy openai needs --base-url (e.g. http://127.0.0.1:8000/v1)");
    if (o.model.empty()) return InvalidArgument("--policy openai needs --model (the server's model name)");
    workers::OpenAiPolicy::Options po;
    po.base_url = o.base_url;
    po.model = o.model;
    po.temperature = o.temperature;
    po.max_tokens = o.max_tokens;
    po = workers::OpenAiPolicy::WithApiKeyFromEnvironment(po, o.api_key_env);
    TIDE_ASSIGN_OR_RETURN(std::unique_ptr<workers::OpenAiPolicy> p, workers::OpenAiPolicy::Create(po));
    g->policy_ = std::move(p);
    return g;
  }
  return InvalidArgument("unknown --policy \"" + o.policy + "\" (known: oracle, engine, openai)");
}

}  // namespace tide::rl
