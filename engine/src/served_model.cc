#include "tide/engine/served_model.h"

#include <filesystem>

#include "tide/engine/checkpoint.h"
#include "tide/engine/tokenizer_json.h"

namespace tide::engine {

Result<std::unique_ptr<ServedModel>> ServedModel::Open(const std::string& dir, const InferenceEngine::Options& options) {
  std::unique_ptr<ServedModel> served(new ServedModel());
  const std::filesystem::path path(dir);
  served->id_ = path.filename().string();
  if (served->id_.empty()) served->id_ = path.parent_path().filename().string();
  TIDE_ASSIGN_OR_RETURN(ModelWeights weights, LoadModel(dir));
  served->weights_ = std::make_unique<ModelWeights>(std::move(weights));
  TIDE_ASSIGN_OR_RETURN(Tokenizer tokenizer, LoadTokenizerJson((path / "tokenizer.json").string()));
  served->tokenizer_ = std::make_unique<Tokenizer>(std::move(tokenizer));
  TIDE_ASSIGN_OR_RETURN(Model model, Model::Create(served->weights_.get()));
  served->model_ = std::make_unique<Model>(std::move(model));
  TIDE_ASSIGN_OR_RETURN(served->engine_, InferenceEngine::Create(served->model_.get(), served->tokenizer_.get(), options));
  return served;
}

// Members go in reverse order of declaration: the engine (and its scheduler) first, the
// weights it reads last.
ServedModel::~ServedModel() = default;

}  // namespace tide::engine
