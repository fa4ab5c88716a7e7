// ServedModel: a model folder (config.json, model.safetensors, tokenizer.json) loaded and
// ready to decode: its weights, tokenizer, Model and InferenceEngine owned together, so
// the pieces that borrow one another are built and destroyed in the right order (the
// engine first, the weights last). What `tide serve --model`, `tide bench swarm --policy
// engine` and evaluation open.
//
// Failure: Open returns the first error of loading (NOT_FOUND for a missing file,
// INVALID_ARGUMENT for a malformed one, naming the file). Thread safety: as
// InferenceEngine; the object is neither copyable nor movable (the Model and engine hold
// pointers into it).
#pragma once

#include <memory>
#include <string>

#include "tide/core/status.h"
#include "tide/engine/inference_engine.h"
#include "tide/engine/model.h"
#include "tide/engine/model_weights.h"
#include "tide/engine/tokenizer.h"

namespace tide::engine {

class ServedModel {
 public:
  static Result<std::unique_ptr<ServedModel>> Open(const std::string& dir, const InferenceEngine::Options& options = {});
  ~ServedModel();

  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  // The folder's name ("swarm-s" for models/swarm-s/), as the OpenAI API's model id.
  const std::string& id() const { return id_; }
  const ModelWeights& weights() const { return *weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  InferenceEngine* engine() const { return engine_.get(); }

 private:
  ServedModel() = default;

  std::string id_;
  std::unique_ptr<ModelWeights> weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<InferenceEngine> engine_;
};

}  // namespace tide::engine
