// `tide train rl --config R [--model DIR] --out DIR`: GRPO on swarms, colocated — the model
// folder is served by an in-process engine, swarms of the recipe's world and family run
// on it through the orchestrator, and the engine's weights are trained in place
// (rl/swarm_rl.h). Writes out/ (config.json, model.safetensors, tokenizer.json: a model
// folder `tide serve` and `tide eval` open), out/checkpoint/ (resume after a kill),
// out/curves.csv (one row per step) and out/curves.png.
// Exit codes: 0 done, 2 a bad recipe or flag (the message names the field), 1 otherwise.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace tide::cli {

struct TrainRlArgs {
  std::string config_path;
  std::string model_dir;  // empty: the recipe's "model"
  std::string out_dir;
  int stop_after_step = 0;
  bool json = false;
};

// Adds `rl` under `train`, filling `args` when parsed.
CLI::App* AddTrainRlCommand(CLI::App& train, TrainRlArgs* args);

int RunTrainRlCommand(const TrainRlArgs& args);

}  // namespace tide::cli
