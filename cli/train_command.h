// `tide train lm` and `tide generate`: language-model training on JSONL and sampling from
// a trained model folder (config.json, model.safetensors, tokenizer.json).
#pragma once

#include <cstdint>
#include <string>

namespace tide::cli {

struct TrainLmArgs {
  std::string config_path;     // the JSON recipe (see configs/train/tiny-lm.json)
  std::string data_path;       // empty: the recipe's "data"
  std::string eval_data_path;  // empty: the recipe's "eval_data", else the data's tail
  std::string out_dir;
  bool json = false;
};

// `tide train lm` and `tide train sft` (the same trainer; SFT data is chat JSONL from
// `tide gen`, learned on assistant tokens only): trains per the recipe, writing the model,
// tokenizer and checkpoints to out_dir; resumes a run found there. Returns the exit code.
int RunTrainLm(const TrainLmArgs& args);

struct GenerateArgs {
  std::string model_dir;
  std::string prompt;
  bool chat = false;  // wrap the prompt as a user turn of the chat template
  int max_tokens = 64;
  float temperature = 0.f;
  int top_k = 0;
  float top_p = 1.f;
  uint64_t seed = 0;
};
int RunGenerate(const GenerateArgs& args);

}  // namespace tide::cli
