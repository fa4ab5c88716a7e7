// `tide train lm` and `tide generate`: language-model training on JSONL and sampling from
// a trained model folder (config.json, model.safetensors, tokenizer.json).
#pragma once

#include <cstdint>
#include <string>

namespace tide::cli {

// Trains per the JSON recipe at config_path (see configs/train/tiny-lm.json) on
// data_path, writing the model, tokenizer and checkpoints to out_dir; resumes a run found
// there. Returns the process exit code.
int RunTrainLm(const std::string& config_path, const std::string& data_path, const std::string& out_dir, bool json);

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
